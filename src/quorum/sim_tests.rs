//! The quorum under a simulated network and fake clock: members tick, messages are
//! delivered in any order, dropped, duplicated, links cut and healed, members crash
//! (keeping what they made durable) and restart, logs are compacted into snapshots.
//! Throughout, no two members may apply different records at one index; once the
//! faults stop, every member must apply every committed record and take new ones.
//!
//! Seeded as `crate::sim` says: a failure names the seed that replays it.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use raft::eraftpb::Message;

use super::{codec, disk};
use super::{Output, Persist, Quorum, QuorumConfig, QuorumError, QuorumLog, VoterChange};

struct Member {
    id: u64,
    /// `None` while crashed; the log it made durable stays in `files`.
    quorum: Option<Quorum>,
    files: Files,
    /// What it applied: index → record.
    image: BTreeMap<u64, Bytes>,
}

/// A member's files (`disk`), as written from each output's `Persist` and each
/// compaction; a restart reads the member's log back from them.
#[derive(Default)]
struct Files {
    state: Option<Vec<u8>>,
    snapshot: Option<Vec<u8>>,
    entries: Vec<u8>,
}

impl Files {
    fn write(&mut self, persist: &Persist) {
        if let Some(snapshot) = &persist.snapshot {
            // A leader's snapshot replaces the log: the entries file starts over.
            self.snapshot = Some(disk::encode_snapshot(snapshot));
            self.entries.clear();
        }
        self.entries.extend(disk::encode_entries(&persist.entries));
        if let Some(hard_state) = &persist.hard_state {
            self.state = Some(disk::encode_state(hard_state));
        }
    }

    fn read(&self, voters: &[u64]) -> Result<QuorumLog, disk::DiskError> {
        let (log, valid) = disk::load(
            voters,
            self.state.as_deref(),
            self.snapshot.as_deref(),
            Some(&self.entries),
        )?;
        assert_eq!(
            valid,
            self.entries.len(),
            "a file written whole reads whole"
        );
        Ok(log)
    }
}

struct Sim {
    seed: u64,
    rng: fastrand::Rng,
    voters: Vec<u64>,
    members: Vec<Member>,
    in_flight: Vec<Message>,
    /// Directed links that lose everything sent over them.
    cut: BTreeSet<(u64, u64)>,
    /// Every record any member applied, by index: the one truth all must agree with.
    committed: BTreeMap<u64, Bytes>,
    next_record: u64,
    /// Snapshots members took from a leader.
    restores: usize,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = fastrand::Rng::with_seed(seed);
        let size = if rng.bool() { 3 } else { 5 };
        let voters: Vec<u64> = (1..=size).collect();
        let mut sim = Sim {
            seed,
            rng,
            voters: voters.clone(),
            members: Vec::new(),
            in_flight: Vec::new(),
            cut: BTreeSet::new(),
            committed: BTreeMap::new(),
            next_record: 0,
            restores: 0,
        };
        for id in voters {
            let files = Files::default();
            sim.members.push(Member {
                id,
                quorum: None,
                files,
                image: BTreeMap::new(),
            });
            sim.start(id as usize - 1);
        }
        sim
    }

    fn config(&self, id: u64) -> QuorumConfig {
        QuorumConfig {
            id,
            voters: self.voters.clone(),
            election_ticks: 10,
            heartbeat_ticks: 2,
            seed: self.seed,
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!("quorum simulation, seed {}: {what}", self.seed)
    }

    /// Starts a member from its disk: the image is the snapshot's, and Raft hands back
    /// the committed entries after it.
    fn start(&mut self, at: usize) {
        let config = self.config(self.members[at].id);
        let disk = self.members[at]
            .files
            .read(&self.voters)
            .unwrap_or_else(|e| self.fail(format!("read back: {e}")));
        let image = decode_image(&disk.snapshot_ref().data);
        let quorum =
            Quorum::open(&config, disk).unwrap_or_else(|e| self.fail(format!("open: {e}")));
        self.members[at].image = image;
        self.members[at].quorum = Some(quorum);
        self.drain(at);
    }

    /// Everything in memory goes; the files stay. They must read back as the log the
    /// member held: it changes only in `poll` and `compact`, and both wrote what
    /// changed before anything was sent.
    fn crash(&mut self, at: usize) {
        if let Some(q) = self.members[at].quorum.take() {
            let read = self.members[at].files.read(&self.voters);
            match read {
                Ok(log) if log == *q.log() => {}
                Ok(_) => self.fail(format!(
                    "member {}'s files hold another log than its own",
                    at + 1
                )),
                Err(e) => self.fail(format!("member {}'s files: {e}", at + 1)),
            }
        }
    }

    /// Polls a member and carries out its output.
    fn drain(&mut self, at: usize) {
        let Some(q) = self.members[at].quorum.as_mut() else {
            return;
        };
        let out: Output = q
            .poll()
            .unwrap_or_else(|e| panic!("seed {}: poll: {e}", self.seed));
        self.members[at].files.write(&out.persist);
        for m in out.messages {
            // Every message crosses the wire in the codec's format.
            let decoded = codec::decode_message(&codec::encode_message(&m))
                .unwrap_or_else(|e| self.fail(format!("codec: {e}")));
            self.in_flight.push(decoded);
        }
        if let Some((index, data)) = out.restored {
            let image = decode_image(&data);
            for (i, record) in &image {
                match self.committed.get(i) {
                    Some(known) if known == record => {}
                    other => self.fail(format!(
                        "member {} restored a snapshot at {index} with {record:?} at {i}, committed: {other:?}",
                        self.members[at].id
                    )),
                }
            }
            self.members[at].image = image;
            self.restores += 1;
        }
        let id = self.members[at].id;
        for c in out.committed {
            let last = self.members[at]
                .image
                .keys()
                .next_back()
                .copied()
                .unwrap_or(0);
            if c.index <= last {
                self.fail(format!(
                    "member {id} applied index {} after {last}",
                    c.index
                ));
            }
            if let Some(known) = self.committed.get(&c.index) {
                if *known != c.data {
                    self.fail(format!(
                        "member {id} applied {:?} at {}, another applied {known:?}",
                        c.data, c.index
                    ));
                }
            }
            self.committed.insert(c.index, c.data.clone());
            self.members[at].image.insert(c.index, c.data);
        }
    }

    fn deliver(&mut self, pick: usize) {
        let m = self.in_flight.swap_remove(pick);
        if self.cut.contains(&(m.from, m.to)) {
            return;
        }
        let at = m.to as usize - 1;
        if let Some(q) = self.members[at].quorum.as_mut() {
            q.step(m)
                .unwrap_or_else(|e| panic!("seed {}: step: {e}", self.seed));
            self.drain(at);
        }
    }

    fn up(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].quorum.is_some())
            .collect()
    }

    fn propose(&mut self, at: usize) {
        let record = format!("record-{}", self.next_record);
        self.next_record += 1;
        if let Some(q) = self.members[at].quorum.as_mut() {
            let _ = q.propose(record.into_bytes());
            self.drain(at);
        }
    }

    fn step_randomly(&mut self) {
        let up = self.up();
        let roll = self.rng.u32(0..100);
        let member = self.rng.usize(0..self.members.len());
        match roll {
            0..=44 if !self.in_flight.is_empty() => {
                let pick = self.rng.usize(0..self.in_flight.len());
                match self.rng.u32(0..100) {
                    0..=4 => {
                        self.in_flight.swap_remove(pick);
                    }
                    5..=7 => {
                        let copy = self.in_flight[pick].clone();
                        self.in_flight.push(copy);
                        self.deliver(pick);
                    }
                    _ => self.deliver(pick),
                }
            }
            0..=74 => {
                if let Some(&at) = up.get(self.rng.usize(0..up.len().max(1))) {
                    if let Some(q) = self.members[at].quorum.as_mut() {
                        q.tick();
                    }
                    self.drain(at);
                }
            }
            75..=86 => {
                let leaders: Vec<usize> = up
                    .iter()
                    .copied()
                    .filter(|&i| {
                        self.members[i]
                            .quorum
                            .as_ref()
                            .is_some_and(|q| q.is_leader())
                    })
                    .collect();
                let at = leaders.first().copied().unwrap_or(member);
                self.propose(at);
            }
            87 => self.crash(member),
            88..=90 => {
                let down: Vec<usize> = (0..self.members.len())
                    .filter(|&i| self.members[i].quorum.is_none())
                    .collect();
                if let Some(&at) = down.get(self.rng.usize(0..down.len().max(1))) {
                    self.start(at);
                }
            }
            91..=92 => {
                let to = self.rng.u64(1..=self.voters.len() as u64);
                self.cut.insert((member as u64 + 1, to));
            }
            93..=95 => {
                if let Some(&link) = self
                    .cut
                    .iter()
                    .nth(self.rng.usize(0..self.cut.len().max(1)))
                {
                    self.cut.remove(&link);
                }
            }
            96 if self.rng.bool() => {
                // Cuts one member off from all the others, both ways.
                let id = member as u64 + 1;
                for &other in &self.voters {
                    self.cut.insert((id, other));
                    self.cut.insert((other, id));
                }
            }
            96 => self.cut.clear(),
            _ => self.compact(member),
        }
    }

    /// Snapshots a member at what it applied, and drops the entries below.
    fn compact(&mut self, at: usize) {
        let image = self.members[at].image.clone();
        let Some(q) = self.members[at].quorum.as_mut() else {
            return;
        };
        let applied = q
            .commit_index()
            .min(image.keys().next_back().copied().unwrap_or(0));
        // The image holds records only; the index it stands at is the last applied one,
        // which may be a leader's empty entry after them: compacting at the last record
        // is always safe.
        if applied > q.log().snapshot_ref().get_metadata().index {
            q.compact(applied, encode_image(&image))
                .unwrap_or_else(|e| panic!("seed {}: compact: {e}", self.seed));
            let snapshot = disk::encode_snapshot(q.log().snapshot_ref());
            self.members[at].files.snapshot = Some(snapshot);
        }
    }

    /// Ends the faults and waits, ticking and delivering everything, until all members
    /// hold every committed record and a new one commits everywhere.
    fn heal_and_converge(&mut self) {
        self.cut.clear();
        for at in 0..self.members.len() {
            if self.members[at].quorum.is_none() {
                self.start(at);
            }
        }
        let target = self.next_record;
        let mut proposed_last = false;
        for round in 0..20_000 {
            while !self.in_flight.is_empty() {
                self.deliver(0);
            }
            let done = self.members.iter().all(|m| m.image == self.committed)
                && self
                    .committed
                    .values()
                    .any(|r| *r == format!("record-{target}").as_bytes());
            if done {
                return;
            }
            let leader = (0..self.members.len()).find(|&i| {
                self.members[i]
                    .quorum
                    .as_ref()
                    .is_some_and(|q| q.is_leader())
            });
            match leader {
                Some(at) if !proposed_last => {
                    self.next_record = target;
                    self.propose(at);
                    proposed_last = true;
                }
                _ => {
                    let at = round % self.members.len();
                    if let Some(q) = self.members[at].quorum.as_mut() {
                        q.tick();
                    }
                    self.drain(at);
                    // A proposal a leader lost (it stepped down) is made again.
                    if round % 200 == 199 {
                        proposed_last = false;
                    }
                }
            }
        }
        let applied: Vec<usize> = self.members.iter().map(|m| m.image.len()).collect();
        self.fail(format!(
            "no convergence after healing: {} committed, members applied {applied:?}",
            self.committed.len()
        ));
    }
}

fn encode_image(image: &BTreeMap<u64, Bytes>) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, record) in image {
        out.extend_from_slice(&index.to_be_bytes());
        out.extend_from_slice(&(record.len() as u32).to_be_bytes());
        out.extend_from_slice(record);
    }
    out
}

fn decode_image(mut bytes: &[u8]) -> BTreeMap<u64, Bytes> {
    let mut image = BTreeMap::new();
    while bytes.len() >= 12 {
        let index = u64::from_be_bytes(bytes[..8].try_into().unwrap());
        let len = u32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
        image.insert(index, Bytes::copy_from_slice(&bytes[12..12 + len]));
        bytes = &bytes[12 + len..];
    }
    image
}

fn run(seed: u64, steps: usize) {
    let mut sim = Sim::new(seed);
    for _ in 0..steps {
        sim.step_randomly();
    }
    let during_faults = sim.committed.len();
    sim.heal_and_converge();
    if crate::sim::replaying() {
        let terms: Vec<u64> = sim
            .members
            .iter()
            .filter_map(|m| Some(m.quorum.as_ref()?.term()))
            .collect();
        eprintln!(
            "seed {seed}: {} members; {during_faults} records committed during the faults, {} in all; \
             final terms {terms:?}; {} snapshots installed from a leader",
            sim.members.len(),
            sim.committed.len(),
            sim.restores,
        );
    }
}

#[test]
fn no_two_members_apply_different_records_and_all_converge_after_faults() {
    crate::sim::for_each_seed("quorum", 60, |seed| run(seed, 4000));
}

#[test]
fn a_lone_voter_elects_itself_and_commits() {
    let config = QuorumConfig {
        id: 1,
        voters: vec![1],
        election_ticks: 10,
        heartbeat_ticks: 2,
        seed: 1,
    };
    let mut q = Quorum::open(&config, QuorumLog::new(&[1])).unwrap();
    q.campaign().unwrap();
    let _ = q.poll().unwrap();
    assert!(q.is_leader());
    q.propose(b"topic".to_vec()).unwrap();
    let out = q.poll().unwrap();
    assert_eq!(out.committed.len(), 1);
    assert_eq!(&out.committed[0].data[..], b"topic");
    assert!(out.messages.is_empty());
}

#[test]
fn a_follower_refuses_proposals_and_names_the_leader() {
    let mut sim = Sim::new(7);
    sim.heal_and_converge();
    let follower = (0..sim.members.len())
        .find(|&i| !sim.members[i].quorum.as_ref().unwrap().is_leader())
        .unwrap();
    let q = sim.members[follower].quorum.as_mut().unwrap();
    let leader = q.leader();
    assert!(leader.is_some());
    match q.propose(b"x".to_vec()) {
        Err(super::QuorumError::NotLeader { leader: named }) => assert_eq!(named, leader),
        other => panic!("a follower took a proposal: {other:?}"),
    }
}

#[test]
fn a_member_whose_files_were_lost_catches_up_without_panicking() {
    // Raft commits on a heartbeat up to what the leader believes a member holds; a member
    // that lost its files holds nothing, and raft-rs would panic committing past its end.
    let mut sim = Sim::new(11);
    sim.heal_and_converge();
    let lost = (0..sim.members.len())
        .find(|&i| !sim.members[i].quorum.as_ref().unwrap().is_leader())
        .unwrap();
    let leader = (0..sim.members.len())
        .find(|&i| sim.members[i].quorum.as_ref().unwrap().is_leader())
        .unwrap();
    sim.crash(lost);
    sim.members[lost].files = Files::default();
    sim.start(lost);
    // The leader's next heartbeat, before anything else reaches the member.
    for _ in 0..2 {
        sim.members[leader].quorum.as_mut().unwrap().tick();
        sim.drain(leader);
    }
    while !sim.in_flight.is_empty() {
        sim.deliver(0);
    }
    sim.heal_and_converge();
    assert_eq!(sim.members[lost].image, sim.committed);
}

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
