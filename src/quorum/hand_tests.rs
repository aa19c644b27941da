//! The quorum driven by hand: members stepped in a fixed order, with chosen messages lost,
//! to check one rule at a time (a learner never stands, a forwarded voter change waits
//! for the new voter, a removed leader steps down, what would make raft-rs panic is
//! dropped, a read of the commit index answers the leader's).

use std::collections::BTreeSet;

use bytes::Bytes;
use raft::eraftpb::Message;

use super::{disk, Quorum, QuorumConfig, QuorumError, QuorumLog, VoterChange};

/// Delivers every message the nodes send, in order, until none is left; returns the
/// records (not the changes of voters) each node committed meanwhile.
fn exchange(nodes: &mut [Quorum]) -> Vec<Vec<Bytes>> {
    exchange_where(nodes, |_| true)
}

/// `exchange`, losing the messages `keep` refuses.
fn exchange_where(nodes: &mut [Quorum], keep: fn(&Message) -> bool) -> Vec<Vec<Bytes>> {
    let mut committed = vec![Vec::new(); nodes.len()];
    loop {
        let mut sent = Vec::new();
        for (i, q) in nodes.iter_mut().enumerate() {
            let out = q.poll().unwrap();
            let records = out.committed.into_iter().filter(|c| c.voters.is_none());
            committed[i].extend(records.map(|c| c.data));
            sent.extend(out.messages);
        }
        if sent.is_empty() {
            return committed;
        }
        for message in sent.into_iter().filter(keep) {
            if let Some(q) = nodes.iter_mut().find(|q| q.id() == message.to) {
                q.step(message).unwrap();
            }
        }
    }
}

/// A member's config in the hand-driven tests below: `voters` from the config (none for
/// a dynamic quorum, whose log names them).
fn hand_config(id: u64, voters: &[u64], seed: u64) -> QuorumConfig {
    QuorumConfig {
        id,
        voters: voters.to_vec(),
        election_ticks: 10,
        heartbeat_ticks: 2,
        seed,
    }
}

/// Members 1..=n of a quorum of `voters` (one past them is no member yet), with node 1
/// elected.
fn elected(voters: &[u64], n: u64, seed: u64) -> Vec<Quorum> {
    let mut nodes: Vec<Quorum> = (1..=n)
        .map(|id| Quorum::open(&hand_config(id, voters, seed), QuorumLog::new(voters)).unwrap())
        .collect();
    nodes[0].campaign().unwrap();
    exchange(&mut nodes);
    assert!(nodes[0].is_leader());
    nodes
}

/// Members 1..=n of a dynamic quorum: node 1 its only voter (`shoal format
/// --standalone`) and elected, the others knowing no voter, made learners at once (as
/// once they registered).
fn dynamic(n: u64, seed: u64) -> Vec<Quorum> {
    let first = QuorumLog::first_voter(1).unwrap();
    let mut nodes = vec![Quorum::open_applied(&hand_config(1, &[], seed), first, 1).unwrap()];
    for id in 2..=n {
        nodes.push(Quorum::open(&hand_config(id, &[], seed), QuorumLog::new(&[])).unwrap());
    }
    assert_eq!(voters_of(&nodes[0]), vec![1]);
    nodes[0].campaign().unwrap();
    exchange(&mut nodes);
    assert!(nodes[0].is_leader());
    nodes[0].add_learners(&(2..=n).collect()).unwrap();
    nodes
}

#[test]
fn a_learner_gets_the_log_and_a_snapshot_proposes_through_a_voter_and_never_stands() {
    let mut nodes = elected(&[1, 2, 3], 4, 5);
    nodes[0].propose(b"before".to_vec()).unwrap();
    let committed = exchange(&mut nodes);
    assert!(
        committed[3].is_empty(),
        "no learner yet: node 4 gets nothing"
    );
    // The leader's log is cut to a snapshot: the learner must be sent it.
    let applied = nodes[0].commit_index();
    nodes[0].compact(applied, b"image".to_vec()).unwrap();
    // Node 4 knows no leader: it proposes through a follower, which forwards it.
    let proposal = nodes[3].propose_to(2, Vec::new(), b"registered".to_vec());
    nodes[1].step(proposal).unwrap();
    let committed = exchange(&mut nodes);
    assert_eq!(committed[0], vec![Bytes::from_static(b"registered")]);
    // Every node makes it a learner, as each does from its image.
    for q in &mut nodes {
        q.add_learners(&BTreeSet::from([4])).unwrap();
    }
    for _ in 0..4 {
        nodes[0].tick();
    }
    // It restores the snapshot (what it covers is not committed again) and takes the
    // entries after it.
    let committed = exchange(&mut nodes);
    assert_eq!(committed[3], vec![Bytes::from_static(b"registered")]);
    assert_eq!(nodes[3].leader(), Some(1));
    assert_eq!(nodes[3].log().snapshot_ref().get_metadata().index, applied);
    nodes[0].propose(b"after".to_vec()).unwrap();
    let committed = exchange(&mut nodes);
    assert_eq!(committed[3], vec![Bytes::from_static(b"after")]);
    // Cut off from the leader, the learner never stands for election.
    for _ in 0..100 {
        nodes[3].tick();
    }
    let out = nodes[3].poll().unwrap();
    assert!(
        out.messages.is_empty(),
        "a learner asked for votes: {:?}",
        out.messages
    );
    assert_eq!(nodes[3].state_name(), "observer");
}

/// Ticks every node `n` times, delivering what they send after each tick (but what
/// `keep` refuses).
fn run_ticks_where(nodes: &mut [Quorum], n: usize, keep: fn(&Message) -> bool) -> Vec<Vec<Bytes>> {
    let mut committed = vec![Vec::new(); nodes.len()];
    for _ in 0..n {
        for q in nodes.iter_mut() {
            q.tick();
        }
        for (all, more) in committed.iter_mut().zip(exchange_where(nodes, keep)) {
            all.extend(more);
        }
    }
    committed
}

fn run_ticks(nodes: &mut [Quorum], n: usize) -> Vec<Vec<Bytes>> {
    run_ticks_where(nodes, n, |_| true)
}

fn voters_of(q: &Quorum) -> Vec<u64> {
    q.voters().into_iter().collect()
}

#[test]
fn a_dynamic_quorum_grows_from_one_voter_and_its_leader_can_remove_itself() {
    let mut nodes = dynamic(3, 9);
    nodes[0].propose(b"one".to_vec()).unwrap();
    run_ticks(&mut nodes, 3);
    // The learners took the log, and with it the first voter.
    for q in &nodes {
        assert_eq!(voters_of(q), vec![1], "node {}", q.id());
        assert_eq!(q.leader(), Some(1), "node {}", q.id());
    }
    // Through a follower the change goes to the leader; one at a time.
    for new in [2, 3] {
        nodes[1]
            .propose_voter_change(b"ctx".to_vec(), VoterChange::Add(new))
            .unwrap();
        let committed = run_ticks(&mut nodes, 3);
        assert!(committed[0].is_empty(), "a change is no record");
    }
    for q in &nodes {
        assert_eq!(voters_of(q), vec![1, 2, 3], "node {}", q.id());
    }
    // Two voters at once: the second waits for the first to be applied.
    nodes[0]
        .propose_voter_change(Vec::new(), VoterChange::Remove(3))
        .unwrap();
    assert!(matches!(
        nodes[0].propose_voter_change(Vec::new(), VoterChange::Remove(2)),
        Err(QuorumError::Pending)
    ));
    run_ticks(&mut nodes, 3);
    nodes[0]
        .propose_voter_change(Vec::new(), VoterChange::Add(3))
        .unwrap();
    run_ticks(&mut nodes, 3);
    // The leader removes itself: it hands the lead to a remaining voter.
    nodes[0]
        .propose_voter_change(Vec::new(), VoterChange::Remove(1))
        .unwrap();
    run_ticks(&mut nodes, 30);
    let leaders: Vec<Option<u64>> = nodes.iter().map(Quorum::leader).collect();
    let leader = leaders[1].expect("a leader after the old one left");
    assert!(leader == 2 || leader == 3, "{leaders:?}");
    assert_eq!(leaders[2], Some(leader));
    assert!(!nodes[0].is_leader());
    for q in &nodes {
        assert_eq!(voters_of(q), vec![2, 3], "node {}", q.id());
    }
    // The new leader replicates to the old one, now a learner, and takes records.
    for q in &mut nodes {
        q.add_learners(&BTreeSet::from([1])).unwrap();
    }
    let at = (leader - 1) as usize;
    nodes[at].propose(b"after".to_vec()).unwrap();
    let committed = run_ticks(&mut nodes, 3);
    assert_eq!(committed[0], vec![Bytes::from_static(b"after")]);
    assert_eq!(nodes[0].leader(), Some(leader));
    // A restart reads the voters back from the files' committed changes.
    let log = nodes[1].log().clone();
    let config = hand_config(2, &[], 9);
    let reopened = Quorum::open_applied(&config, log, nodes[1].commit_index()).unwrap();
    assert_eq!(voters_of(&reopened), vec![2, 3]);
}

#[test]
fn a_forwarded_voter_addition_waits_until_the_new_voter_has_caught_up() {
    let mut nodes = dynamic(3, 13);
    // Node 3 hears nothing: it never holds the log up to the commit index.
    let not_to_3 = |m: &Message| m.to != 3;
    nodes[0].propose(b"one".to_vec()).unwrap();
    run_ticks_where(&mut nodes, 3, not_to_3);
    assert!(nodes[0].caught_up(2) && !nodes[0].caught_up(3));
    // Asked through a follower, the leader refuses the addition, as it would refuse it
    // asked itself.
    nodes[1]
        .propose_voter_change(b"ctx".to_vec(), VoterChange::Add(3))
        .unwrap();
    run_ticks_where(&mut nodes, 3, not_to_3);
    assert_eq!(voters_of(&nodes[0]), vec![1]);
    // Caught up, it is added.
    run_ticks(&mut nodes, 3);
    assert!(nodes[0].caught_up(3));
    nodes[1]
        .propose_voter_change(b"ctx".to_vec(), VoterChange::Add(3))
        .unwrap();
    run_ticks(&mut nodes, 3);
    for q in &nodes {
        assert_eq!(voters_of(q), vec![1, 3], "node {}", q.id());
    }
}

#[test]
fn a_voter_change_forwarded_to_a_member_that_does_not_lead_is_dropped() {
    use raft::eraftpb::{Entry, EntryType, MessageType};
    let mut nodes = elected(&[1, 2, 3], 3, 19);
    let change = |to: u64| Message {
        msg_type: MessageType::MsgPropose,
        from: 3,
        to,
        entries: vec![Entry {
            entry_type: EntryType::EntryConfChangeV2,
            data: protobuf::Message::write_to_bytes(&VoterChange::Remove(3).to_raft())
                .unwrap()
                .into(),
            ..Default::default()
        }]
        .into(),
        ..Default::default()
    };
    // A follower (a leader that stepped down, say) would pass it on to the leader.
    nodes[1].step(change(2)).unwrap();
    run_ticks(&mut nodes, 3);
    assert_eq!(voters_of(&nodes[0]), vec![1, 2, 3]);
    // The leader takes it.
    nodes[0].step(change(1)).unwrap();
    run_ticks(&mut nodes, 3);
    for q in &nodes[..2] {
        assert_eq!(voters_of(q), vec![1, 2], "node {}", q.id());
    }
}

#[test]
fn a_removed_leader_whose_hand_over_is_lost_steps_down() {
    let mut nodes = dynamic(3, 11);
    for new in [2, 3] {
        nodes[0]
            .propose_voter_change(Vec::new(), VoterChange::Add(new))
            .unwrap();
        run_ticks(&mut nodes, 3);
    }
    assert_eq!(voters_of(&nodes[2]), vec![1, 2, 3]);
    // The leader's word to its successor never arrives.
    nodes[0]
        .propose_voter_change(Vec::new(), VoterChange::Remove(1))
        .unwrap();
    let no_hand_over = |m: &Message| m.msg_type != raft::eraftpb::MessageType::MsgTimeoutNow;
    run_ticks_where(&mut nodes, 1, no_hand_over);
    assert_eq!(voters_of(&nodes[1]), vec![2, 3]);
    // Each node follows it as a learner at once (it is a registered controller).
    for q in &mut nodes {
        q.add_learners(&BTreeSet::from([1])).unwrap();
    }
    run_ticks_where(&mut nodes, 60, no_hand_over);
    assert!(!nodes[0].is_leader(), "the removed leader still leads");
    let leader = nodes[1].leader().expect("the voters elect a leader");
    assert!(leader == 2 || leader == 3);
    assert_eq!(nodes[2].leader(), Some(leader));
    assert!(nodes[(leader - 1) as usize].is_leader());
}

#[test]
fn messages_that_would_make_raft_panic_are_dropped_or_cleared() {
    use raft::eraftpb::{ConfState, Entry, EntryType, MessageType, Snapshot};
    let mut nodes = elected(&[1, 2, 3], 3, 13);
    let propose = |from: u64, entries: Vec<Entry>| Message {
        msg_type: MessageType::MsgPropose,
        from,
        to: 2,
        entries: entries.into(),
        ..Default::default()
    };
    let record = |data: &'static [u8]| Entry {
        data: Bytes::from_static(data),
        ..Default::default()
    };
    // No entries: raft-rs would panic on the leader the follower forwards it to.
    nodes[1].step(propose(9, Vec::new())).unwrap();
    // A term: raft-rs would panic forwarding it. Cleared, it is a proposal like any.
    let mut with_term = propose(9, vec![record(b"termed")]);
    with_term.term = nodes[1].term();
    nodes[1].step(with_term).unwrap();
    let committed = exchange(&mut nodes);
    assert_eq!(committed[0], vec![Bytes::from_static(b"termed")]);
    // A change of voters from a stranger, or one of two changes, is no proposal.
    let change = |change: raft::eraftpb::ConfChangeV2| Entry {
        entry_type: EntryType::EntryConfChangeV2,
        data: protobuf::Message::write_to_bytes(&change).unwrap().into(),
        ..Default::default()
    };
    nodes[1]
        .step(propose(9, vec![change(VoterChange::Add(9).to_raft())]))
        .unwrap();
    let mut two = VoterChange::Add(8).to_raft();
    two.changes
        .push(VoterChange::Remove(3).to_raft().changes[0].clone());
    nodes[1].step(propose(2, vec![change(two)])).unwrap();
    run_ticks(&mut nodes, 3);
    for q in &nodes {
        assert_eq!(voters_of(q), vec![1, 2, 3], "node {}", q.id());
    }
    // A snapshot whose configuration Raft cannot take.
    let mut snapshot = Snapshot::default();
    snapshot.mut_metadata().index = 100;
    snapshot.mut_metadata().term = nodes[0].term();
    snapshot.mut_metadata().set_conf_state(ConfState {
        learners: vec![2],
        ..Default::default()
    });
    let bad = Message {
        msg_type: MessageType::MsgSnapshot,
        from: 1,
        to: 2,
        term: nodes[0].term(),
        snapshot: Some(snapshot).into(),
        ..Default::default()
    };
    nodes[1].step(bad).unwrap();
    // A read of the commit index without its one entry, to the leader and to a follower
    // that forwards it.
    for to in [1, 2] {
        let read = Message {
            msg_type: MessageType::MsgReadIndex,
            from: 3,
            to,
            term: nodes[0].term(),
            ..Default::default()
        };
        nodes[to as usize - 1].step(read).unwrap();
    }
    exchange(&mut nodes);
    nodes[0].propose(b"still".to_vec()).unwrap();
    let committed = exchange(&mut nodes);
    assert_eq!(committed[1], vec![Bytes::from_static(b"still")]);
}

#[test]
fn a_read_of_the_commit_index_answers_the_leader_s_own() {
    let mut nodes = elected(&[1, 2, 3], 3, 17);
    // Node 3 misses two records.
    nodes[0].propose(b"a".to_vec()).unwrap();
    nodes[0].propose(b"b".to_vec()).unwrap();
    exchange_where(&mut nodes, |m| m.from != 3 && m.to != 3);
    let commit = nodes[0].commit_index();
    assert!(nodes[2].commit_index() < commit);
    nodes[2].read_commit(7);
    nodes[0].read_commit(8);
    let mut reads = vec![Vec::new(); nodes.len()];
    loop {
        let mut sent = Vec::new();
        for (i, q) in nodes.iter_mut().enumerate() {
            let out = q.poll().unwrap();
            reads[i].extend(out.reads);
            sent.extend(out.messages);
        }
        if sent.is_empty() {
            break;
        }
        for message in sent {
            let to = message.to as usize - 1;
            nodes[to].step(message).unwrap();
        }
    }
    assert_eq!(reads, vec![vec![(8, commit)], vec![], vec![(7, commit)]]);
}

#[test]
fn a_committed_change_that_would_leave_no_voter_is_skipped_everywhere() {
    let mut nodes = dynamic(2, 17);
    // The node asked refuses to remove the last voter (`Member::change_voter`), but two
    // nodes asked at once to remove one voter each can both let theirs through: the
    // second to commit would leave none. Here the leader proposes both in turn.
    nodes[0]
        .propose_voter_change(Vec::new(), VoterChange::Add(2))
        .unwrap();
    run_ticks(&mut nodes, 3);
    nodes[0]
        .propose_voter_change(Vec::new(), VoterChange::Remove(2))
        .unwrap();
    run_ticks(&mut nodes, 3);
    for q in &mut nodes {
        q.add_learners(&BTreeSet::from([2])).unwrap();
    }
    assert_eq!(voters_of(&nodes[0]), vec![1]);
    nodes[0]
        .propose_voter_change(Vec::new(), VoterChange::Remove(1))
        .unwrap();
    run_ticks(&mut nodes, 5);
    for q in &nodes {
        assert_eq!(voters_of(q), vec![1], "node {}", q.id());
    }
    assert!(nodes[0].is_leader());
    nodes[0].propose(b"alive".to_vec()).unwrap();
    let committed = run_ticks(&mut nodes, 2);
    assert_eq!(committed[1], vec![Bytes::from_static(b"alive")]);
    // Read back from its log, the learner's voters are the same.
    let log = nodes[1].log().clone();
    let (state, entries) = (
        disk::encode_state(log.hard_state()),
        disk::encode_entries(log.entries_ref()),
    );
    let (read, _) = disk::load(&[], Some(&state), None, Some(&entries)).unwrap();
    let config = hand_config(2, &[], 17);
    let reopened = Quorum::open_applied(&config, read, nodes[1].commit_index()).unwrap();
    assert_eq!(voters_of(&reopened), vec![1]);
}
