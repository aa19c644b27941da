//! `shoal consume --group`: membership of a consumer group for the console consumer
//! (and the perf and verifiable consumers), in either of Kafka's group protocols.
//! - `classic`: JoinGroup (retrying with the member id a KIP-394 broker hands out), the
//!   leader's range assignment, SyncGroup; then heartbeats, and a rejoin whenever the
//!   coordinator says the group moved on. Every rejoin gives up every partition.
//! - `consumer` (KIP-848): ConsumerGroupHeartbeat joins with epoch 0 and the coordinator
//!   assigns; each heartbeat says which partitions the member owns. A new assignment is
//!   taken at once: partitions taken away are committed and dropped, partitions given
//!   start at their committed offsets, and the next heartbeat acknowledges them.
//!
//! Both commit what was printed every 5 s between fetches, and on exit before leaving.
//!
//! Invariants: the reader only ever holds positions for partitions of the current
//! assignment; an offset is committed only once the record before it was printed; a
//! member commits what it printed before it gives a partition up, so the next owner of
//! a partition starts where this one stopped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use uuid::Uuid;

use super::reader::{Reader, TopicPartition};
use crate::client::assignor;
use crate::client::consumer_group::{
    self, Beat, FENCED_MEMBER_EPOCH, JOIN_EPOCH, LEAVE_EPOCH, STALE_MEMBER_EPOCH,
};
use crate::client::error::Error;
use crate::client::group::{
    self, Committer, JoinOutcome, JoinParams, Joined, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS,
    UNKNOWN_MEMBER_ID,
};

/// Kafka's COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR.
const COORDINATOR_MOVED: [i16; 3] = [14, 15, 16];
/// Kafka's UNKNOWN_TOPIC_OR_PARTITION.
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// Kafka's FENCED_INSTANCE_ID: treated like an unknown member.
const FENCED_INSTANCE_ID: i16 = 82;
/// The session is short and heartbeats frequent: a console consumer stopping should hand
/// its partitions on within seconds, and its few requests a second cost nothing.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Heartbeats come this often, or three times a session if that is shorter.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// How long the coordinator waits for every member to rejoin. It must stay under the
/// request timeout, since JoinGroup is answered only when the rebalance completes.
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(20);
/// Kafka's auto.commit.interval.ms default.
const AUTO_COMMIT_INTERVAL: Duration = Duration::from_secs(5);
/// Joins that may fail in a row (the group moving on while we join) before giving up.
const JOIN_ATTEMPTS_MAX: u32 = 50;
/// The only assignor this member offers.
const ASSIGNOR: &str = "range";

/// The group protocol a member speaks (Kafka's `group.protocol`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum GroupProtocol {
    #[default]
    Classic,
    /// KIP-848's: the coordinator assigns, with `assignor` when one is named (Kafka's
    /// `group.remote.assignor`).
    Consumer { assignor: Option<String> },
}

impl GroupProtocol {
    /// `group.protocol` and `group.remote.assignor` as a Kafka consumer takes them.
    pub fn named(protocol: Option<&str>, assignor: Option<&str>) -> Result<GroupProtocol> {
        match protocol.map(str::to_ascii_lowercase).as_deref() {
            None | Some("classic") if assignor.is_some() => {
                bail!("group.remote.assignor is for the consumer group protocol only")
            }
            None | Some("classic") => Ok(GroupProtocol::Classic),
            Some("consumer") => Ok(GroupProtocol::Consumer {
                assignor: assignor.map(str::to_string),
            }),
            Some(other) => bail!("group.protocol {other}: classic or consumer"),
        }
    }

    /// The consumer `properties`' `group.protocol` and `group.remote.assignor`.
    pub fn of_properties(properties: &[(String, String)]) -> Result<GroupProtocol> {
        GroupProtocol::named(
            super::properties::last(properties, "group.protocol"),
            super::properties::last(properties, "group.remote.assignor"),
        )
    }
}

/// How a member takes part: the console consumer's way by default.
#[derive(Debug, Clone)]
pub struct MemberSettings {
    pub protocol: GroupProtocol,
    pub session_timeout: Duration,
    /// Commit what was printed every 5 s, before a partition is given up and on close
    /// (Kafka's `enable.auto.commit`); without it only `commit_now` commits.
    pub auto_commit: bool,
}

impl Default for MemberSettings {
    fn default() -> Self {
        MemberSettings {
            protocol: GroupProtocol::Classic,
            session_timeout: SESSION_TIMEOUT,
            auto_commit: true,
        }
    }
}

pub struct Membership {
    group: String,
    settings: MemberSettings,
    coordinator: i32,
    member_id: String,
    /// The classic generation, or the KIP-848 member epoch.
    generation: i32,
    /// How often heartbeats go: the classic member's choice, or what a KIP-848
    /// coordinator asks for.
    heartbeat_interval: Duration,
    /// A KIP-848 member's partitions, by topic id, as its heartbeats report them.
    owned: BTreeMap<Uuid, Vec<i32>>,
    /// A KIP-848 member took a new assignment, which its next heartbeat acknowledges.
    ack_due: bool,
    /// See `moves`.
    moves: u64,
    /// The member joined again since `take_lost` last asked: every partition it held
    /// was lost, not handed over (the Java consumer's `onPartitionsLost`).
    lost: bool,
    /// The next offset to commit, per assigned partition.
    consumed: BTreeMap<TopicPartition, i64>,
    committed: BTreeMap<TopicPartition, i64>,
    last_heartbeat: Instant,
    last_commit: Instant,
}

impl Membership {
    /// Finds the coordinator and joins; `reader` ends up at the assigned partitions'
    /// committed offsets (or the reader's reset point where there are none).
    pub fn join(
        reader: &mut Reader,
        group: &str,
        timeout: Duration,
        settings: MemberSettings,
    ) -> Result<Self> {
        let coordinator = group::coordinator(&mut reader.cluster, group, timeout)?;
        let classic = settings.protocol == GroupProtocol::Classic;
        let mut membership = Membership {
            group: group.to_string(),
            coordinator,
            // A KIP-848 member names itself (KIP-1082); a classic one is named.
            member_id: if classic {
                String::new()
            } else {
                Uuid::new_v4().to_string()
            },
            generation: -1,
            heartbeat_interval: HEARTBEAT_INTERVAL.min(settings.session_timeout / 3),
            owned: BTreeMap::new(),
            ack_due: false,
            moves: 0,
            lost: false,
            settings,
            consumed: BTreeMap::new(),
            committed: BTreeMap::new(),
            last_heartbeat: Instant::now(),
            last_commit: Instant::now(),
        };
        membership.rejoin(reader)?;
        // The first join loses nothing.
        membership.lost = false;
        Ok(membership)
    }

    /// How many times the member's partitions changed: each classic rejoin, each
    /// KIP-848 assignment that moved a partition.
    pub fn moves(&self) -> u64 {
        self.moves
    }

    /// Whether the member joined again (losing every partition) since the last call.
    pub fn take_lost(&mut self) -> bool {
        std::mem::take(&mut self.lost)
    }

    /// Whether a new assignment keeps the partitions both have (KIP-848), rather than
    /// taking every partition away first (the classic eager protocol).
    pub fn incremental(&self) -> bool {
        self.settings.protocol != GroupProtocol::Classic
    }

    /// The record at `offset` of `partition` was printed (the reader reads only the
    /// member's partitions, some placed after the join).
    pub fn printed(&mut self, topic: &str, partition: i32, offset: i64) {
        let next = self
            .consumed
            .entry((topic.to_string(), partition))
            .or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    /// Heartbeats and auto-commits when they are due; rejoins when the group moved on
    /// or the topics a pattern matches changed.
    pub fn tick(&mut self, reader: &mut Reader) -> Result<()> {
        if reader.topics_changed()? {
            // A new subscription: commit what was printed of the topics still read,
            // then join with it (the Java consumer's rejoin on a metadata change).
            self.consumed
                .retain(|(t, _), _| reader.topics.contains_key(t));
            if self.settings.auto_commit {
                if let Err(error) = self.commit(reader) {
                    return self.recover(reader, error);
                }
            }
            if self.incremental() {
                // The next heartbeat carries the new subscription.
                self.ack_due = true;
            } else {
                return self.rejoin(reader);
            }
        }
        if self.settings.auto_commit && self.last_commit.elapsed() >= AUTO_COMMIT_INTERVAL {
            self.last_commit = Instant::now();
            if let Err(error) = self.commit(reader) {
                return self.recover(reader, error);
            }
        }
        if self.ack_due || self.last_heartbeat.elapsed() >= self.heartbeat_interval {
            let beaten = if self.incremental() {
                self.beat(reader)
            } else {
                self.last_heartbeat = Instant::now();
                let broker = reader.cluster.broker(self.coordinator)?;
                group::heartbeat(broker, &self.group, self.generation, &self.member_id)
            };
            if let Err(error) = beaten {
                return self.recover(reader, error);
            }
        }
        Ok(())
    }

    /// Commits what was printed now; a failure is returned as the coordinator's error
    /// after the member rejoined where the group moved on (the tool's own errors are
    /// the outer `Result`).
    pub fn commit_now(&mut self, reader: &mut Reader) -> Result<Result<(), String>> {
        match self.commit(reader) {
            Ok(()) => Ok(Ok(())),
            Err(error) => {
                let said = error.to_string();
                // The group moved on: rejoin. Anything else (a lost connection) is only
                // this commit's failure; the next heartbeat finds out the rest.
                let moved = matches!(
                    error.code(),
                    Some(
                        REBALANCE_IN_PROGRESS
                            | ILLEGAL_GENERATION
                            | UNKNOWN_MEMBER_ID
                            | FENCED_INSTANCE_ID
                            | FENCED_MEMBER_EPOCH
                            | STALE_MEMBER_EPOCH
                    )
                ) || error.code().is_some_and(|c| COORDINATOR_MOVED.contains(&c));
                if moved {
                    self.recover(reader, error)?;
                }
                Ok(Err(said))
            }
        }
    }

    /// Commits what was printed (with auto-commit), then leaves the group so its
    /// partitions move at once.
    pub fn close(mut self, reader: &mut Reader) -> Result<()> {
        let committed = if self.settings.auto_commit {
            self.commit(reader)
        } else {
            Ok(())
        };
        let left = if self.incremental() {
            self.generation = LEAVE_EPOCH;
            self.beat(reader)
        } else {
            let broker = reader.cluster.broker(self.coordinator)?;
            group::leave_group(broker, &self.group, &self.member_id)
        };
        committed?;
        Ok(left?)
    }

    /// A membership error from the coordinator: rejoin (committing first while our
    /// generation still counts); anything else is the tool's error.
    fn recover(&mut self, reader: &mut Reader, error: Error) -> Result<()> {
        match error.code() {
            Some(REBALANCE_IN_PROGRESS) if self.settings.auto_commit => {
                if let Err(error) = self.commit(reader) {
                    eprintln!("shoal: {error}");
                }
            }
            Some(REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION) => {}
            // A KIP-848 member fenced loses its partitions without committing and joins
            // again under its own id.
            Some(UNKNOWN_MEMBER_ID | FENCED_MEMBER_EPOCH) if self.incremental() => {}
            Some(UNKNOWN_MEMBER_ID | FENCED_INSTANCE_ID) => self.member_id.clear(),
            // A commit behind the member's epoch: the heartbeat brings the new one.
            Some(STALE_MEMBER_EPOCH) => {
                self.ack_due = true;
                return Ok(());
            }
            Some(code) if COORDINATOR_MOVED.contains(&code) => {
                self.coordinator =
                    group::coordinator(&mut reader.cluster, &self.group, REBALANCE_TIMEOUT)?;
                if self.incremental() {
                    self.ack_due = true;
                    return Ok(());
                }
            }
            _ => return Err(error.into()),
        }
        self.rejoin(reader)
    }

    fn commit(&mut self, reader: &mut Reader) -> crate::client::error::Result<()> {
        match self.commit_once(reader) {
            // A topic went while it was read (a pattern's): forget it and commit the
            // rest; the next tick rejoins without it.
            Err(error) if error.code() == Some(UNKNOWN_TOPIC_OR_PARTITION) => {
                reader
                    .refresh()
                    .map_err(|e| Error::Invalid(format!("{e:#}")))?;
                self.consumed
                    .retain(|(t, _), _| reader.topics.contains_key(t));
                self.commit_once(reader)
            }
            other => other,
        }
    }

    fn commit_once(&mut self, reader: &mut Reader) -> crate::client::error::Result<()> {
        let offsets: Vec<(String, i32, i64)> = self
            .consumed
            .iter()
            .filter(|(tp, offset)| self.committed.get(tp) != Some(offset))
            .map(|((topic, p), &offset)| (topic.clone(), *p, offset))
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
        let committer = Committer {
            generation: self.generation,
            member_id: &self.member_id,
        };
        let broker = reader.cluster.broker(self.coordinator)?;
        group::offset_commit(broker, &self.group, committer, &offsets)?;
        self.committed
            .extend(offsets.into_iter().map(|(t, p, offset)| ((t, p), offset)));
        Ok(())
    }

    /// Joins until a generation completes (or a KIP-848 coordinator answers), then
    /// points `reader` at our partitions.
    fn rejoin(&mut self, reader: &mut Reader) -> Result<()> {
        self.forget_all(reader);
        self.moves += 1;
        self.lost = true;
        let mut attempts = 0;
        let assignment = loop {
            attempts += 1;
            if attempts > JOIN_ATTEMPTS_MAX {
                bail!(
                    "could not join group '{}' after {JOIN_ATTEMPTS_MAX} attempts",
                    self.group
                );
            }
            let joined = if self.incremental() {
                self.beat(reader).map(|()| Some(Vec::new()))
            } else {
                self.join_once(reader)
            };
            match joined {
                Ok(Some(assignment)) => break assignment,
                Ok(None) => {}
                Err(error) => match error.code() {
                    // Fenced after the join answered: join afresh, holding nothing.
                    Some(UNKNOWN_MEMBER_ID | FENCED_MEMBER_EPOCH) if self.incremental() => {
                        self.forget_all(reader);
                    }
                    Some(UNKNOWN_MEMBER_ID | FENCED_INSTANCE_ID) => self.member_id.clear(),
                    Some(REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION) => {}
                    Some(code) if COORDINATOR_MOVED.contains(&code) => {
                        std::thread::sleep(crate::client::cluster::RETRY_BACKOFF);
                        self.coordinator = group::coordinator(
                            &mut reader.cluster,
                            &self.group,
                            REBALANCE_TIMEOUT,
                        )?;
                    }
                    _ => return Err(error.into()),
                },
            }
        };
        self.last_heartbeat = Instant::now();
        self.last_commit = Instant::now();
        // A KIP-848 member's heartbeat placed its partitions already.
        if self.incremental() {
            return Ok(());
        }
        self.start(reader, assignment)?;
        Ok(())
    }

    /// Gives up every partition without committing, and (KIP-848) the epoch: what a
    /// member that must join again holds.
    fn forget_all(&mut self, reader: &mut Reader) {
        reader.clear();
        self.consumed.clear();
        self.committed.clear();
        if self.incremental() {
            self.owned.clear();
            self.generation = JOIN_EPOCH;
        }
    }

    /// Points `reader` at `assignment`'s partitions: their committed offsets, or the
    /// reader's reset point where there are none.
    fn start(
        &mut self,
        reader: &mut Reader,
        assignment: group::Assignment,
    ) -> crate::client::error::Result<()> {
        let wanted: Vec<(String, Vec<i32>)> = assignment
            .into_iter()
            .filter(|(topic, _)| reader.topics.contains_key(topic))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let broker = reader.cluster.broker(self.coordinator)?;
        let committed = group::offset_fetch(broker, &self.group, Some(&wanted))?;
        let mut unset = Vec::new();
        for (topic, partitions) in wanted {
            for p in partitions {
                let tp = (topic.clone(), p);
                match committed.get(&tp) {
                    Some(&offset) => {
                        reader.positions.insert(tp.clone(), offset);
                        self.committed.insert(tp, offset);
                    }
                    None => unset.push(tp),
                }
            }
        }
        reader
            .resolve(&unset, reader.reset)
            .map_err(|e| Error::Invalid(format!("{e:#}")))?;
        for (tp, offset) in &reader.positions {
            self.consumed.entry(tp.clone()).or_insert(*offset);
        }
        Ok(())
    }

    /// One KIP-848 heartbeat (joining at epoch 0, leaving at -1), and the assignment it
    /// brings taken at once.
    fn beat(&mut self, reader: &mut Reader) -> crate::client::error::Result<()> {
        self.last_heartbeat = Instant::now();
        self.ack_due = false;
        let GroupProtocol::Consumer { assignor } = &self.settings.protocol else {
            return Ok(());
        };
        let topics: Vec<String> = reader.topics.keys().cloned().collect();
        let owned: Vec<(Uuid, Vec<i32>)> = self
            .owned
            .iter()
            .map(|(id, partitions)| (*id, partitions.clone()))
            .collect();
        let beat = Beat {
            group: &self.group,
            member_id: &self.member_id,
            epoch: self.generation,
            rebalance_timeout_ms: millis(REBALANCE_TIMEOUT),
            topics: &topics,
            assignor: assignor.as_deref(),
            owned: &owned,
        };
        let broker = reader.cluster.broker(self.coordinator)?;
        let answer = consumer_group::heartbeat(broker, &beat)?;
        if self.generation == LEAVE_EPOCH {
            return Ok(());
        }
        self.generation = answer.epoch;
        if let Ok(ms) = u64::try_from(answer.heartbeat_interval_ms) {
            if ms > 0 {
                self.heartbeat_interval = Duration::from_millis(ms);
            }
        }
        match answer.assignment {
            Some(assignment) => self.take(reader, assignment),
            None => Ok(()),
        }
    }

    /// A KIP-848 assignment taken: what was printed of the partitions taken away is
    /// committed (with auto-commit) and they are dropped; those given start at their
    /// committed offsets. A topic id this member cannot name yet is left for the
    /// coordinator to offer again.
    fn take(
        &mut self,
        reader: &mut Reader,
        assignment: Vec<(Uuid, Vec<i32>)>,
    ) -> crate::client::error::Result<()> {
        let name_of = |reader: &Reader, id: &Uuid| {
            reader
                .topics
                .values()
                .find(|t| t.id == *id)
                .map(|t| t.name.clone())
        };
        if assignment
            .iter()
            .any(|(id, _)| name_of(reader, id).is_none())
        {
            reader
                .refresh()
                .map_err(|e| Error::Invalid(format!("{e:#}")))?;
        }
        let mut given: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
        let mut wanted: Vec<TopicPartition> = Vec::new();
        for (id, partitions) in assignment {
            let Some(name) = name_of(reader, &id) else {
                continue;
            };
            wanted.extend(partitions.iter().map(|p| (name.clone(), *p)));
            given.insert(id, partitions);
        }
        let held = reader.assigned();
        let taken: Vec<TopicPartition> = held
            .iter()
            .filter(|tp| !wanted.contains(tp))
            .cloned()
            .collect();
        if !taken.is_empty() {
            if self.settings.auto_commit {
                self.commit(reader)?;
            }
            reader.forget(&taken);
            self.consumed.retain(|tp, _| !taken.contains(tp));
            self.committed.retain(|tp, _| !taken.contains(tp));
        }
        let mut added: group::Assignment = Vec::new();
        for (topic, partition) in wanted.into_iter().filter(|tp| !held.contains(tp)) {
            match added.last_mut() {
                Some((t, partitions)) if *t == topic => partitions.push(partition),
                _ => added.push((topic, vec![partition])),
            }
        }
        if !taken.is_empty() || !added.is_empty() {
            self.moves += 1;
        }
        self.start(reader, added)?;
        if given != self.owned {
            self.owned = given;
            self.ack_due = true;
        }
        Ok(())
    }

    /// One JoinGroup + SyncGroup round; the partitions this member was given, or None
    /// when the broker first handed out our member id.
    fn join_once(
        &mut self,
        reader: &mut Reader,
    ) -> crate::client::error::Result<Option<group::Assignment>> {
        let topics: Vec<String> = reader.topics.keys().cloned().collect();
        let subscription = group::encode_subscription(&topics)?;
        let params = JoinParams {
            group: &self.group,
            member_id: &self.member_id,
            session_timeout_ms: millis(self.settings.session_timeout),
            rebalance_timeout_ms: millis(REBALANCE_TIMEOUT),
            protocols: vec![(ASSIGNOR.to_string(), subscription)],
        };
        let joined = match group::join_group(reader.cluster.broker(self.coordinator)?, &params)? {
            JoinOutcome::Joined(joined) => joined,
            JoinOutcome::MemberIdRequired(member_id) => {
                self.member_id = member_id;
                return Ok(None);
            }
        };
        self.member_id.clone_from(&joined.member_id);
        self.generation = joined.generation;
        let assignments = if joined.leader == joined.member_id {
            self.assign(reader, &joined)?
        } else {
            Vec::new()
        };
        let broker = reader.cluster.broker(self.coordinator)?;
        let bytes = group::sync_group(broker, &self.group, &joined, assignments)?;
        group::decode_assignment(bytes)
            .map(Some)
            .map_err(|message| Error::Invalid(format!("group '{}': {message}", self.group)))
    }

    /// The leader's range assignment over every member's subscription.
    fn assign(
        &self,
        reader: &mut Reader,
        joined: &Joined,
    ) -> crate::client::error::Result<Vec<(String, bytes::Bytes)>> {
        let mut members = Vec::with_capacity(joined.members.len());
        for (member, metadata) in &joined.members {
            let topics = group::decode_subscription(metadata.clone()).map_err(|message| {
                Error::Invalid(format!("group '{}' member {member}: {message}", self.group))
            })?;
            members.push((member.clone(), topics));
        }
        let mut topics: Vec<String> = members.iter().flat_map(|(_, ts)| ts.clone()).collect();
        topics.sort_unstable();
        topics.dedup();
        let metadata = reader.cluster.metadata(Some(&topics), false)?;
        let counts: BTreeMap<String, i32> = metadata
            .topics
            .values()
            .filter(|t| t.error_code == 0)
            .map(|t| {
                (
                    t.name.clone(),
                    i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
                )
            })
            .collect();
        assignor::range(&members, &counts)
            .into_iter()
            .map(|(member, assignment)| Ok((member, group::encode_assignment(&assignment)?)))
            .collect()
    }
}

fn millis(duration: Duration) -> i32 {
    i32::try_from(duration.as_millis()).unwrap_or(i32::MAX)
}
