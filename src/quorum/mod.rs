//! The metadata quorum: the controller's log of metadata records, replicated among the
//! voters (`controller.quorum.voters`, or those the log's configuration changes name:
//! KIP-853's dynamic quorum) with Raft. The consensus is TiKV's `raft` crate,
//! a state machine without I/O or threads of its own: a member feeds it ticks, peers'
//! messages and proposals, and gets back what to write, what to send and what was
//! committed (`Output`). So the shard that drives it never blocks on it, and the tests
//! drive it with a fake clock and a simulated network (`sim_tests`), seeded, or by hand
//! (`hand_tests`).
//!
//! Raft's messages cross the network in `codec`'s format, not protobuf; the member's
//! log (hard state, snapshot, entries) is `store::QuorumLog`.
//!
//! Peers are trusted as Kafka trusts its controller listener: a frame that does not
//! decode is refused, but a well-formed message is believed, once what would make Raft
//! panic is dropped (`Quorum::step`).

/// The metadata log, as Kafka names it: never a client's topic.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

pub mod codec;
pub mod disk;
pub mod member;
pub mod store;

#[cfg(test)]
mod hand_tests;
#[cfg(test)]
mod sim_tests;

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

use raft::eraftpb::{
    ConfChangeSingle, ConfChangeType, ConfChangeV2, Entry, EntryType, HardState, Message,
    MessageType, Snapshot,
};
use raft::{RawNode, SnapshotStatus, StateRole};

pub use self::store::{LogError, QuorumLog};

/// A change of the voters (AddRaftVoter, RemoveRaftVoter), by Raft id: one voter at a
/// time, so every two majorities of the old and the new voters meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoterChange {
    Add(u64),
    Remove(u64),
}

impl VoterChange {
    /// Whether `id` is a node's Raft id (a node id from 0 up, plus one).
    pub fn valid_id(id: u64) -> bool {
        (1..=i32::MAX as u64 + 1).contains(&id)
    }

    /// The change as raft-rs takes it: one simple change.
    pub fn to_raft(self) -> ConfChangeV2 {
        let (change_type, node_id) = match self {
            VoterChange::Add(id) => (ConfChangeType::AddNode, id),
            VoterChange::Remove(id) => (ConfChangeType::RemoveNode, id),
        };
        ConfChangeV2 {
            changes: vec![ConfChangeSingle {
                change_type,
                node_id,
                ..Default::default()
            }]
            .into(),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfig {
    /// This member's id (`node.id`); never 0, which Raft reserves.
    pub id: u64,
    pub voters: Vec<u64>,
    /// Ticks without a leader's word before a follower stands for election; the
    /// actual wait is drawn between this and twice this.
    pub election_ticks: usize,
    /// Ticks between a leader's heartbeats.
    pub heartbeat_ticks: usize,
    /// Seeds the election timeouts (see `Quorum::pin_election_timeout`).
    pub seed: u64,
}

/// One committed metadata record, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub index: u64,
    pub term: u64,
    pub data: Bytes,
    /// What the proposer attached to find its proposal again (`propose_anywhere`).
    pub context: Bytes,
    /// A configuration change (`data` is empty): the voters after it, applied to Raft
    /// already.
    pub voters: Option<Vec<u64>>,
}

/// What a member must do after feeding Raft, in this order: make `persist` durable,
/// then send `messages`, then apply `restored` (when a leader's snapshot replaced the
/// log) and `committed`.
#[derive(Debug, Default)]
pub struct Output {
    pub persist: Persist,
    pub messages: Vec<Message>,
    /// The image at a snapshot's index, to replace the member's own.
    pub restored: Option<(u64, Bytes)>,
    pub committed: Vec<Committed>,
    /// Reads of the leader's commit index answered (`read_commit`): the number each
    /// was asked with, and the index.
    pub reads: Vec<(u64, u64)>,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.persist.is_empty()
            && self.messages.is_empty()
            && self.restored.is_none()
            && self.committed.is_empty()
            && self.reads.is_empty()
    }
}

/// The log's changes since the last output, already applied to `Quorum::log`.
#[derive(Debug, Default)]
pub struct Persist {
    pub snapshot: Option<Snapshot>,
    /// Replaces the log from the first entry's index on.
    pub entries: Vec<Entry>,
    pub hard_state: Option<HardState>,
}

impl Persist {
    pub fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.entries.is_empty() && self.hard_state.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("not the quorum's leader (the leader is {leader:?})")]
    NotLeader { leader: Option<u64> },
    #[error("a change of the voters is not committed yet")]
    Pending,
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    #[error(transparent)]
    Log(#[from] LogError),
}

pub struct Quorum {
    node: RawNode<QuorumLog>,
    seed: u64,
    election_ticks: usize,
    /// Snapshots sent and not reported on, with the ticks left before they count as
    /// lost. Raft waits for that report before it replicates to the peer again.
    snapshots_out: Vec<(u64, usize)>,
    /// While leading, the term and the peers that have held the log up to its commit
    /// index at some point of it (Kafka's leader keeps when each observer last caught
    /// up): a new voter must be one of them.
    caught_up: (u64, BTreeSet<u64>),
    /// Ticks so far, and the tick each peer was last heard from.
    ticks: u64,
    heard: BTreeMap<u64, u64>,
}

/// How many election timeouts ago a new voter may have been heard from last. Kafka's
/// leader allows an hour since its last fetch; a live observer fetches every heartbeat.
const NEW_VOTER_HEARD_ELECTIONS: u64 = 10;

/// How many election timeouts a sent snapshot may take before the leader gives it up
/// and tries again, unless the transport reported on it first (`report_snapshot`).
const SNAPSHOT_WAIT_ELECTIONS: usize = 5;

impl Quorum {
    /// Starts a member on its log: a new one (`QuorumLog::new`) or one read back from
    /// disk, with nothing applied beyond its snapshot.
    pub fn open(config: &QuorumConfig, log: QuorumLog) -> Result<Quorum, QuorumError> {
        let applied = log.snapshot_ref().get_metadata().index;
        Quorum::open_applied(config, log, applied)
    }

    /// Starts a member whose owner has applied the log up to `applied` (at most its
    /// commit): committed entries come out of `poll` from the next one on.
    pub fn open_applied(
        config: &QuorumConfig,
        log: QuorumLog,
        applied: u64,
    ) -> Result<Quorum, QuorumError> {
        let raft_config = raft::Config {
            id: config.id,
            election_tick: config.election_ticks,
            heartbeat_tick: config.heartbeat_ticks,
            applied,
            // A leader that cannot reach a majority steps down, so a cut-off leader stops
            // taking proposals; pre-vote keeps a member coming back from such a cut from
            // deposing a working leader.
            check_quorum: true,
            pre_vote: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            ..Default::default()
        };
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let node = RawNode::new(&raft_config, log, &logger)?;
        let mut quorum = Quorum {
            node,
            seed: config.seed,
            election_ticks: config.election_ticks,
            snapshots_out: Vec::new(),
            caught_up: (0, BTreeSet::new()),
            ticks: 0,
            heard: BTreeMap::new(),
        };
        quorum.pin_election_timeout();
        Ok(quorum)
    }

    pub fn id(&self) -> u64 {
        self.node.raft.id
    }

    pub fn term(&self) -> u64 {
        self.node.raft.term
    }

    pub fn leader(&self) -> Option<u64> {
        match self.node.raft.leader_id {
            raft::INVALID_ID => None,
            id => Some(id),
        }
    }

    pub fn is_leader(&self) -> bool {
        self.node.raft.state == StateRole::Leader
    }

    /// The member's state by Kafka's names (raft-metrics `current-state`): leader,
    /// candidate, prospective (pre-vote), follower, unattached (a follower that knows no
    /// leader), or observer (a member that is no voter).
    pub fn state_name(&self) -> &'static str {
        if !self.voters().contains(&self.id()) && !self.is_leader() {
            return "observer";
        }
        match self.node.raft.state {
            StateRole::Leader => "leader",
            StateRole::Candidate => "candidate",
            StateRole::PreCandidate => "prospective",
            StateRole::Follower if self.leader().is_some() => "follower",
            StateRole::Follower => "unattached",
        }
    }

    pub fn commit_index(&self) -> u64 {
        self.node.raft.raft_log.committed
    }

    /// The index of the last committed entry `poll` has given out: the member applied
    /// it. Raft's own entries (a new leader's empty one) count too.
    pub fn applied_index(&self) -> u64 {
        self.node.raft.raft_log.applied
    }

    pub fn log(&self) -> &QuorumLog {
        self.node.store()
    }

    /// The index of the member's last entry: its log's end.
    pub fn last_index(&self) -> u64 {
        self.node.raft.raft_log.last_index()
    }

    /// Each voter's last index as far as this member knows: all of them on a leader
    /// (what each acknowledged), only its own elsewhere.
    pub fn progress(&self) -> Vec<(u64, Option<u64>)> {
        let voters = self.node.raft.prs().conf().voters().ids().iter().collect();
        self.last_indexes(voters)
    }

    /// Each learner's last index as far as this member knows (a leader knows them).
    pub fn learner_progress(&self) -> Vec<(u64, Option<u64>)> {
        let learners = self
            .node
            .raft
            .prs()
            .conf()
            .learners()
            .iter()
            .copied()
            .collect();
        self.last_indexes(learners)
    }

    /// `ids` in order, each with its last index: this member's own, what a leader knows
    /// the others acknowledged, `None` for the others elsewhere.
    fn last_indexes(&self, mut ids: Vec<u64>) -> Vec<(u64, Option<u64>)> {
        ids.sort_unstable();
        ids.into_iter()
            .map(|id| match id == self.id() {
                true => (id, Some(self.last_index())),
                false => (id, self.matched(id)),
            })
            .collect()
    }

    pub fn tick(&mut self) {
        self.ticks += 1;
        self.node.tick();
        // A leader a change removed handed the lead over (`push_committed`); raft-rs
        // gives a transfer up after an election timeout (the voter it chose may have
        // dropped its word, no longer counting this one a member), and would go on
        // leading. It steps down instead, and the voters elect one of them.
        let raft = &mut self.node.raft;
        let removed = !raft.prs().conf().voters().contains(raft.id);
        if raft.state == StateRole::Leader && removed && raft.lead_transferee.is_none() {
            let term = raft.term;
            raft.become_follower(term, raft::INVALID_ID);
        }
        self.pin_election_timeout();
        for (_, ticks) in &mut self.snapshots_out {
            *ticks = ticks.saturating_sub(1);
        }
        let lost: Vec<u64> = self
            .snapshots_out
            .iter()
            .filter(|(_, ticks)| *ticks == 0)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in lost {
            self.report_snapshot(peer, false);
        }
    }

    /// What became of a snapshot sent to `peer`: the transport knows when it was
    /// delivered or could not be. A success the peer has already acknowledged, or a
    /// report on no snapshot, changes nothing.
    pub fn report_snapshot(&mut self, peer: u64, delivered: bool) {
        self.snapshots_out.retain(|(p, _)| *p != peer);
        let status = if delivered {
            SnapshotStatus::Finish
        } else {
            SnapshotStatus::Failure
        };
        self.node.report_snapshot(peer, status);
    }

    /// A message from a peer. One of a kind only a member makes for itself, or one not
    /// addressed to this member, is dropped. Senders are not otherwise sorted: `from`
    /// is the sender's word, and a member must follow a leader it does not know yet (a
    /// new member, or a voter that missed the leader's arrival). A proposal is taken
    /// from anyone (a node that is no learner yet proposes its registration,
    /// `propose_to`), and may be addressed to a voter known by its address only; it
    /// must hold entries, and a change of voters only one this quorum makes, from a
    /// member. Raft panics on a proposal without entries or with a term, and on a
    /// snapshot whose configuration is not one it can take: those are dropped or
    /// cleared here.
    pub fn step(&mut self, message: Message) -> Result<(), QuorumError> {
        let proposal = message.msg_type == MessageType::MsgPropose;
        if raft::raw_node::is_local_msg(message.msg_type) || (message.to != self.id() && !proposal)
        {
            return Ok(());
        }
        let mut message = message;
        if proposal {
            let member = self.is_member(message.from);
            // The leader adds a voter forwarded to it only once the voter has caught up,
            // as it checks a change asked of it (`Member::voter_change`); refused, the
            // asker times out (REQUEST_TIMED_OUT). Only the leader takes one: a leader
            // that has stepped down would pass it on to the next, and a change its asker
            // was told was lost (`Member::change_voter`) would be made after all.
            let caught_up = |change| match change {
                Some(VoterChange::Add(id)) => self.caught_up(id),
                change => change.is_some(),
            };
            let fair = |e: &Entry| match e.entry_type {
                EntryType::EntryNormal => true,
                EntryType::EntryConfChangeV2 => {
                    member && self.is_leader() && caught_up(store::voter_change(e))
                }
                EntryType::EntryConfChange => false,
            };
            if message.entries.is_empty() || !message.entries.iter().all(fair) {
                return Ok(());
            }
            // Raft gives a proposal its place in the log itself.
            (
                message.term,
                message.log_term,
                message.index,
                message.commit,
            ) = (0, 0, 0, 0);
            for entry in message.entries.iter_mut() {
                (entry.term, entry.index) = (0, 0);
            }
        }
        let takeable = |conf: &raft::eraftpb::ConfState| {
            !conf.voters.is_empty()
                && conf.voters_outgoing.is_empty()
                && conf.learners_next.is_empty()
                && !conf.auto_leave
                && conf.voters.iter().all(|v| !conf.learners.contains(v))
        };
        if message.msg_type == MessageType::MsgSnapshot
            && !message
                .snapshot
                .as_ref()
                .is_some_and(|s| takeable(s.get_metadata().get_conf_state()))
        {
            return Ok(());
        }
        // A read of the commit index carries its number as its one entry: raft-rs
        // indexes that entry unchecked.
        let read = matches!(
            message.msg_type,
            MessageType::MsgReadIndex | MessageType::MsgReadIndexResp
        );
        if read && message.entries.len() != 1 {
            return Ok(());
        }
        if message.msg_type == MessageType::MsgHeartbeat {
            // A leader's heartbeat commits up to what it believes this member holds. A
            // member whose files were lost holds less, and Raft would panic committing
            // past its log's end: the commit is cut to the log here, and the entries
            // that follow bring it forward.
            message.commit = message.commit.min(self.last_index());
        }
        // Peers Raft tracks only: a sender's id is not a reason to hold memory.
        if self.node.raft.prs().get(message.from).is_some() {
            self.heard.insert(message.from, self.ticks);
        }
        let stepped = self.node.step(message);
        self.pin_election_timeout();
        self.note_caught_up();
        match stepped {
            // A message for a peer Raft no longer tracks is not an error of ours.
            Err(raft::Error::StepPeerNotFound) => Ok(()),
            other => Ok(other?),
        }
    }

    /// Appends a record to the log if this member leads; it is committed (and comes out
    /// of `poll`) once a majority holds it.
    pub fn propose(&mut self, data: Vec<u8>) -> Result<(), QuorumError> {
        if !self.is_leader() {
            return Err(QuorumError::NotLeader {
                leader: self.leader(),
            });
        }
        let proposed = self.node.propose(Vec::new(), data);
        self.proposed(proposed)
    }

    /// What a proposal's outcome means to the proposer: Raft drops one while no leader
    /// can take it (none known, or a leadership transfer under way).
    fn proposed(&self, outcome: raft::Result<()>) -> Result<(), QuorumError> {
        match outcome {
            Err(raft::Error::ProposalDropped) => Err(QuorumError::NotLeader {
                leader: self.leader(),
            }),
            other => Ok(other?),
        }
    }

    /// Appends a record from any member: a follower forwards it to the leader it knows
    /// (it is lost if the leader changes first, so the caller retries until it sees the
    /// record's effect). `context` comes back with the committed entry, so the proposer
    /// can tell its own. `NotLeader` when no leader is known.
    pub fn propose_anywhere(&mut self, context: Vec<u8>, data: Vec<u8>) -> Result<(), QuorumError> {
        if self.leader().is_none() {
            return Err(QuorumError::NotLeader { leader: None });
        }
        let proposed = self.node.propose(context, data);
        self.proposed(proposed)
    }

    /// Proposes a change of the voters, from any member (a follower forwards it to the
    /// leader, as `propose_anywhere`); it takes effect once committed, when `poll`
    /// applies it. `context` comes back with the committed change. `NotLeader` when no
    /// leader is known; `Pending` when the leader has a change not applied yet.
    pub fn propose_voter_change(
        &mut self,
        context: Vec<u8>,
        change: VoterChange,
    ) -> Result<(), QuorumError> {
        if self.leader().is_none() {
            return Err(QuorumError::NotLeader { leader: None });
        }
        if self.voter_change_pending() {
            return Err(QuorumError::Pending);
        }
        let proposed = self.node.propose_conf_change(context, change.to_raft());
        self.proposed(proposed)
    }

    /// Whether this member leads with a change of the voters not applied yet.
    pub fn voter_change_pending(&self) -> bool {
        self.is_leader() && self.node.raft.has_pending_conf()
    }

    /// Whether `id` is a voter or a learner, as this member has applied them.
    pub fn is_member(&self, id: u64) -> bool {
        let conf = self.node.raft.prs().conf();
        conf.voters().contains(id) || conf.learners().contains(&id)
    }

    /// The voters, as this member has applied the configuration.
    pub fn voters(&self) -> BTreeSet<u64> {
        self.node.raft.prs().conf().voters().ids().iter().collect()
    }

    /// A proposal for voter `to` to take: it appends it if it leads, or forwards it to
    /// the leader it knows. How a member that knows no leader yet (a broker-only node
    /// before it is a learner) proposes; the caller sends it.
    pub fn propose_to(&self, to: u64, context: Vec<u8>, data: Vec<u8>) -> Message {
        let entry = Entry {
            data: data.into(),
            context: context.into(),
            ..Default::default()
        };
        Message {
            msg_type: MessageType::MsgPropose,
            to,
            from: self.id(),
            entries: vec![entry].into(),
            ..Default::default()
        }
    }

    /// Makes `learners` (the brokers that are no voters) this member's learners: the
    /// leader replicates the log to them, and they never vote. Every node derives them
    /// from the same committed image, so no configuration change goes through the log;
    /// learners do not count in any quorum, so a node that has not applied as far yet
    /// decides nothing differently. Learners are only ever added.
    pub fn add_learners(&mut self, learners: &BTreeSet<u64>) -> Result<(), QuorumError> {
        let conf = self.node.raft.prs().conf();
        let changes: Vec<ConfChangeSingle> = learners
            .iter()
            .filter(|id| !conf.voters().contains(**id) && !conf.learners().contains(*id))
            .map(|&node_id| ConfChangeSingle {
                change_type: ConfChangeType::AddLearnerNode,
                node_id,
                ..Default::default()
            })
            .collect();
        // One at a time: several changes in one would enter a joint configuration
        // (Raft's way to change several voters at once), in which a dynamic quorum's
        // change of one voter could not then be applied.
        for single in changes {
            let change = ConfChangeV2 {
                changes: vec![single].into(),
                ..Default::default()
            };
            let conf = self.node.apply_conf_change(&change)?;
            self.node.mut_store().set_conf_state(conf);
        }
        Ok(())
    }

    /// What the leader knows a peer holds: its last index acknowledged. `None` when this
    /// member does not lead.
    pub fn matched(&self, peer: u64) -> Option<u64> {
        if !self.is_leader() {
            return None;
        }
        self.node.raft.prs().get(peer).map(|p| p.matched)
    }

    /// On a leader, starts handing the lead to the voter that has acknowledged most of
    /// the log (Raft's leadership transfer: it is told to stand once it holds all of
    /// it). The voter chosen, if any.
    pub fn hand_over(&mut self) -> Option<u64> {
        if !self.is_leader() {
            return None;
        }
        let me = self.id();
        let to = self
            .progress()
            .into_iter()
            .filter(|(id, _)| *id != me)
            .filter_map(|(id, matched)| Some((matched?, id)))
            .max()?
            .1;
        self.node.transfer_leader(to);
        Some(to)
    }

    /// Stands for election at once (a test's shortcut, and the start of a cluster of one).
    pub fn campaign(&mut self) -> Result<(), QuorumError> {
        self.node.campaign()?;
        self.pin_election_timeout();
        Ok(())
    }

    /// Collects what Raft decided since the last call. The log has taken it already;
    /// the caller makes `persist` durable before it sends anything.
    pub fn poll(&mut self) -> Result<Output, QuorumError> {
        let mut out = Output::default();
        if !self.node.has_ready() {
            return Ok(out);
        }
        let mut ready = self.node.ready();
        out.messages.extend(ready.take_messages());
        for read in ready.take_read_states() {
            if let Ok(number) = <[u8; 8]>::try_from(read.request_ctx.as_slice()) {
                out.reads.push((u64::from_le_bytes(number), read.index));
            }
        }
        if !is_empty(ready.snapshot()) {
            let snapshot = ready.snapshot().clone();
            out.restored = Some((snapshot.get_metadata().index, snapshot.data.clone()));
            self.node.mut_store().apply_snapshot(snapshot.clone());
            out.persist.snapshot = Some(snapshot);
        }
        let committed = ready.take_committed_entries();
        self.push_committed(&mut out.committed, committed)?;
        let entries = ready.take_entries();
        self.node.mut_store().append(&entries)?;
        out.persist.entries = entries;
        if let Some(hard_state) = ready.hs() {
            self.node.mut_store().set_hard_state(hard_state.clone());
            out.persist.hard_state = Some(hard_state.clone());
        }
        out.messages.extend(ready.take_persisted_messages());
        let mut light = self.node.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.node.mut_store().set_commit(commit);
            out.persist.hard_state = Some(self.node.store().hard_state().clone());
        }
        out.messages.extend(light.take_messages());
        let committed = light.take_committed_entries();
        self.push_committed(&mut out.committed, committed)?;
        self.node.advance_apply();
        let wait = SNAPSHOT_WAIT_ELECTIONS * self.election_ticks;
        for m in out
            .messages
            .iter()
            .filter(|m| m.msg_type == MessageType::MsgSnapshot)
        {
            self.snapshots_out.retain(|(p, _)| *p != m.to);
            self.snapshots_out.push((m.to, wait));
        }
        self.note_caught_up();
        Ok(out)
    }

    /// On a leader, notes the peers that hold the log up to the commit index now.
    fn note_caught_up(&mut self) {
        if !self.is_leader() {
            return;
        }
        let (term, committed) = (self.node.raft.term, self.commit_index());
        if self.caught_up.0 != term {
            self.caught_up = (term, BTreeSet::new());
        }
        let prs = self.node.raft.prs();
        let now = prs.iter().filter(|(_, p)| p.matched >= committed);
        self.caught_up.1.extend(now.map(|(id, _)| *id));
    }

    /// On a leader, whether `peer` may become a voter as Kafka's leader takes a new
    /// voter: it has held the log up to the commit index during this leadership, and
    /// has been heard from lately (`NEW_VOTER_HEARD_ELECTIONS`).
    pub fn caught_up(&self, peer: u64) -> bool {
        let window = NEW_VOTER_HEARD_ELECTIONS * self.election_ticks as u64;
        let recent = self
            .heard
            .get(&peer)
            .is_some_and(|at| self.ticks - at <= window);
        self.is_leader()
            && self.caught_up.0 == self.node.raft.term
            && self.caught_up.1.contains(&peer)
            && recent
    }

    /// Asks the leader for its commit index (Raft's ReadIndex: the leader confirms it
    /// still leads first); the answer comes out of `poll` as a read with `number`. A
    /// leader that has committed nothing in its term, or no leader, drops the ask.
    pub fn read_commit(&mut self, number: u64) {
        self.node.read_index(number.to_le_bytes().to_vec());
    }

    /// Bounds the log: a snapshot at `index` (applied already) holding the image there.
    /// Peers too far behind are sent it instead of the entries it replaces.
    pub fn compact(&mut self, index: u64, image: Vec<u8>) -> Result<(), QuorumError> {
        Ok(self.node.mut_store().compact(index, image)?)
    }

    /// Raft draws each election timeout from the thread's random generator. A draw made
    /// here replaces it: a pure function of the seed, this member and its Raft state, so
    /// a simulation replays from its seed, and members still differ from each other.
    /// Whenever Raft may have drawn (its state changed), the timeout is set again; a draw
    /// it made without a change of state is undone, to the same value as before.
    fn pin_election_timeout(&mut self) {
        let raft = &mut self.node.raft;
        let state = raft.state as u64;
        let mix = self.seed
            ^ raft.id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ raft.term.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ state.wrapping_mul(0x1656_67B1_9E37_79F9)
            ^ raft.leader_id.wrapping_mul(0x27D4_EB2F_1656_67C5);
        let min = self.election_ticks;
        let timeout = fastrand::Rng::with_seed(mix).usize(min..2 * min);
        if raft.randomized_election_timeout() != timeout {
            raft.set_randomized_election_timeout(timeout);
        }
    }

    /// Committed entries the member applies: the records (not a new leader's empty
    /// entry), and the changes of the voters, applied to Raft here as they commit. A
    /// leader a change removed hands the lead to a voter.
    fn push_committed(
        &mut self,
        out: &mut Vec<Committed>,
        entries: Vec<Entry>,
    ) -> Result<(), QuorumError> {
        for e in entries {
            let voters = match store::voter_change(&e) {
                Some(change) => {
                    // Refused on every node alike: it would leave no voter.
                    let mut next = self.node.store().conf_state();
                    if !store::change_conf(&mut next, change) {
                        tracing::warn!(
                            index = e.index,
                            ?change,
                            "metadata quorum: a change that would leave no voter is not applied"
                        );
                        continue;
                    }
                    let conf = self.node.apply_conf_change(&change.to_raft())?;
                    self.node.mut_store().set_conf_state(conf.clone());
                    if self.is_leader() && !conf.voters.contains(&self.id()) {
                        self.hand_over();
                    }
                    Some(conf.voters)
                }
                None if e.entry_type == EntryType::EntryNormal && !e.data.is_empty() => None,
                None => continue,
            };
            out.push(Committed {
                index: e.index,
                term: e.term,
                data: e.data,
                context: e.context,
                voters,
            });
        }
        Ok(())
    }
}

fn is_empty(snapshot: &Snapshot) -> bool {
    snapshot.get_metadata().index == 0
}
