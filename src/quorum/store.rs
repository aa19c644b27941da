//! What one quorum member keeps of the metadata log: its Raft hard state (term, vote,
//! commit), the last snapshot (the metadata image at an index, and the voters), the
//! entries after it, and the voters as the configuration changes committed since the
//! snapshot left them. Raft reads it through `raft::Storage`; the member changes it
//! only as Raft's output says, and a copy taken after that is exactly what must be
//! durable before the output's messages leave.

use raft::eraftpb::{
    ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState, Entry, EntryType, HardState,
    Snapshot,
};
use raft::{GetEntriesContext, RaftState, Storage, StorageError};

use super::VoterChange;

#[derive(Debug, Clone, PartialEq)]
pub struct QuorumLog {
    hard_state: HardState,
    /// `metadata.index` is the last index the snapshot covers; its data is the image.
    snapshot: Snapshot,
    /// `entries[i].index == snapshot index + 1 + i`.
    entries: Vec<Entry>,
    /// The configuration: the snapshot's, changed by the configuration changes
    /// applied since (`set_conf_state`); what a snapshot taken now holds.
    conf: ConfState,
}

/// A change Raft asked for that does not fit the log: a bug in the caller, reported
/// rather than panicked on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quorum log: {0}")]
pub struct LogError(pub String);

impl QuorumLog {
    /// A member that has never run: an empty log under the voters every member starts
    /// with (Raft needs them to agree).
    pub fn new(voters: &[u64]) -> QuorumLog {
        let mut snapshot = Snapshot::default();
        snapshot.mut_metadata().mut_conf_state().voters = voters.to_vec();
        QuorumLog {
            hard_state: HardState::default(),
            conf: snapshot.get_metadata().get_conf_state().clone(),
            snapshot,
            entries: Vec::new(),
        }
    }

    /// The log of a dynamic quorum's first voter (`shoal format --standalone`): one
    /// committed configuration change making it the only voter. In the log, not in the
    /// snapshot, so every member the log reaches learns who the voters are.
    pub fn first_voter(id: u64) -> Result<QuorumLog, LogError> {
        let change = VoterChange::Add(id).to_raft();
        let data = protobuf::Message::write_to_bytes(&change)
            .map_err(|e| LogError(format!("a configuration change does not encode: {e}")))?;
        let entry = Entry {
            entry_type: EntryType::EntryConfChangeV2,
            term: 1,
            index: 1,
            data: data.into(),
            ..Default::default()
        };
        let hard_state = HardState {
            term: 1,
            commit: 1,
            ..Default::default()
        };
        QuorumLog::from_parts(hard_state, Snapshot::default(), vec![entry])
    }

    /// A log read back from disk. Its configuration is the snapshot's with the
    /// configuration changes it holds committed applied, as the member applied them.
    pub fn from_parts(
        hard_state: HardState,
        snapshot: Snapshot,
        entries: Vec<Entry>,
    ) -> Result<QuorumLog, LogError> {
        let mut log = QuorumLog {
            hard_state,
            conf: snapshot.get_metadata().get_conf_state().clone(),
            snapshot,
            entries: Vec::new(),
        };
        log.append(&entries)?;
        let commit = log.hard_state.commit;
        for entry in log.entries.iter().filter(|e| e.index <= commit) {
            if let Some(change) = voter_change(entry) {
                change_conf(&mut log.conf, change);
            }
        }
        Ok(log)
    }

    /// The configuration after a change Raft applied.
    pub fn set_conf_state(&mut self, conf: ConfState) {
        self.conf = conf;
    }

    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    pub fn snapshot_ref(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn entries_ref(&self) -> &[Entry] {
        &self.entries
    }

    fn snapshot_index(&self) -> u64 {
        self.snapshot.get_metadata().index
    }

    fn first(&self) -> u64 {
        self.snapshot_index() + 1
    }

    fn last(&self) -> u64 {
        self.snapshot_index() + self.entries.len() as u64
    }

    pub fn set_hard_state(&mut self, hard_state: HardState) {
        self.hard_state = hard_state;
    }

    pub fn set_commit(&mut self, commit: u64) {
        self.hard_state.commit = commit;
    }

    /// Appends entries, replacing any of ours from the first one's index on (a new
    /// leader's log wins over an uncommitted tail).
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), LogError> {
        let Some(head) = entries.first() else {
            return Ok(());
        };
        if head.index < self.first() {
            return Err(LogError(format!(
                "append at {} is before the log's first index {}",
                head.index,
                self.first()
            )));
        }
        if head.index > self.last() + 1 {
            return Err(LogError(format!(
                "append at {} leaves a gap after the last index {}",
                head.index,
                self.last()
            )));
        }
        self.entries.truncate((head.index - self.first()) as usize);
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    /// Replaces everything with a snapshot a leader sent.
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) {
        let meta = snapshot.get_metadata();
        self.hard_state.term = self.hard_state.term.max(meta.term);
        self.hard_state.commit = meta.index;
        self.entries.clear();
        self.conf = snapshot.get_metadata().get_conf_state().clone();
        self.snapshot = snapshot;
    }

    /// Takes a snapshot at `index` (applied, so in the log) holding `data`, the image
    /// there, and drops the entries it covers.
    pub fn compact(&mut self, index: u64, data: Vec<u8>) -> Result<(), LogError> {
        if index <= self.snapshot_index() {
            return Ok(());
        }
        if index > self.last() || index > self.hard_state.commit {
            return Err(LogError(format!(
                "snapshot at {index} is past the commit {} or the log's end {}",
                self.hard_state.commit,
                self.last()
            )));
        }
        let term = self.entries[(index - self.first()) as usize].term;
        // The configuration now: the member applies a change as it commits and the
        // image's offset follows every committed entry, so `index`, the applied end, is
        // past every change applied.
        let conf = self.conf.clone();
        let mut snapshot = Snapshot {
            data: data.into(),
            ..Default::default()
        };
        let meta = snapshot.mut_metadata();
        meta.index = index;
        meta.term = term;
        meta.set_conf_state(conf);
        self.entries.drain(..(index + 1 - self.first()) as usize);
        self.snapshot = snapshot;
        Ok(())
    }

    pub fn conf_state(&self) -> ConfState {
        self.conf.clone()
    }
}

/// The most bytes a configuration change may take: one change of one voter takes about
/// ten, and a protobuf decoder can nest no deeper than half of this.
const CONF_CHANGE_MAX: usize = 256;

/// The change of one voter an entry holds, if it is one this quorum makes: one simple
/// change (no joint configuration), adding or removing a voter by a node's Raft id.
/// Anything else, even a configuration change Raft would take, is no change here, on
/// every node alike (`Quorum::step` refuses to propose one).
pub fn voter_change(entry: &Entry) -> Option<VoterChange> {
    if entry.entry_type != EntryType::EntryConfChangeV2 || entry.data.len() > CONF_CHANGE_MAX {
        return None;
    }
    let change: ConfChangeV2 = protobuf::Message::parse_from_bytes(&entry.data).ok()?;
    let [single] = change.changes.as_slice() else {
        return None;
    };
    let plain = change.transition == ConfChangeTransition::Auto && change.context.is_empty();
    if !plain || !VoterChange::valid_id(single.node_id) {
        return None;
    }
    match single.change_type {
        ConfChangeType::AddNode => Some(VoterChange::Add(single.node_id)),
        ConfChangeType::RemoveNode => Some(VoterChange::Remove(single.node_id)),
        ConfChangeType::AddLearnerNode => None,
    }
}

/// Applies `change` to `conf` as raft-rs applies a simple change (a node added as a
/// voter stops being a learner; a removed one is neither), unless it would remove the
/// last voter, which raft-rs refuses too: false then, and `conf` is unchanged.
pub fn change_conf(conf: &mut ConfState, change: VoterChange) -> bool {
    match change {
        VoterChange::Remove(id) if conf.voters == [id] => false,
        VoterChange::Remove(id) => {
            conf.voters.retain(|v| *v != id);
            conf.learners.retain(|l| *l != id);
            true
        }
        VoterChange::Add(id) => {
            conf.learners.retain(|l| *l != id);
            if !conf.voters.contains(&id) {
                conf.voters.push(id);
            }
            true
        }
    }
}

impl Storage for QuorumLog {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState {
            hard_state: self.hard_state.clone(),
            conf_state: self.conf_state(),
        })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last() + 1 || low > high {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let from = (low - self.first()) as usize;
        let to = (high - self.first()) as usize;
        // At least one entry, then as many as fit in max_size.
        let budget = max_size.into().unwrap_or(u64::MAX);
        let mut size = 0u64;
        let mut out = Vec::new();
        for e in &self.entries[from..to] {
            size += (e.data.len() + e.context.len() + 24) as u64;
            if !out.is_empty() && size > budget {
                break;
            }
            out.push(e.clone());
        }
        Ok(out)
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        if index == self.snapshot_index() {
            return Ok(self.snapshot.get_metadata().term);
        }
        if index < self.first() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if index > self.last() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        Ok(self.entries[(index - self.first()) as usize].term)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last())
    }

    /// The last snapshot, with the configuration at its taking (the learners this
    /// member had added then among it); one sent to a member it does not name names it
    /// as a learner, as Raft refuses a snapshot that leaves its receiver out.
    fn snapshot(&self, _request_index: u64, to: u64) -> raft::Result<Snapshot> {
        let mut snapshot = self.snapshot.clone();
        let conf = snapshot.mut_metadata().mut_conf_state();
        if !conf.voters.contains(&to) && !conf.learners.contains(&to) {
            conf.learners.push(to);
        }
        Ok(snapshot)
    }
}
