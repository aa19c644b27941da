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
use super::{Output, Persist, Quorum, QuorumConfig, QuorumLog};

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
