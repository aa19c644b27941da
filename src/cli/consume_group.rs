//! `shoal consume --group`: membership of a classic consumer group for the console
//! consumer. JoinGroup (retrying with the member id a KIP-394 broker hands out), the
//! leader's range assignment, SyncGroup; then heartbeats and auto-commits between
//! fetches, a rejoin whenever the coordinator says the group moved on, and a final
//! commit and LeaveGroup on exit.
//!
//! Invariants: the reader only ever holds positions for partitions of the current
//! assignment; an offset is committed only once the record before it was printed; a
//! member commits what it printed before it rejoins, so the next owner of a partition
//! starts where this one stopped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use super::reader::{Reader, TopicPartition};
use crate::client::assignor;
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

/// How a member takes part: the console consumer's way by default.
#[derive(Debug, Clone, Copy)]
pub struct MemberSettings {
    pub session_timeout: Duration,
    /// Commit what was printed every 5 s, before a rejoin and on close (Kafka's
    /// `enable.auto.commit`); without it only `commit_now` commits.
    pub auto_commit: bool,
}

impl Default for MemberSettings {
    fn default() -> Self {
        MemberSettings {
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
    generation: i32,
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
        let mut membership = Membership {
            group: group.to_string(),
            settings,
            coordinator,
            member_id: String::new(),
            generation: -1,
            consumed: BTreeMap::new(),
            committed: BTreeMap::new(),
            last_heartbeat: Instant::now(),
            last_commit: Instant::now(),
        };
        membership.rejoin(reader)?;
        Ok(membership)
    }

    /// The generation it is a member of: a new one after each rejoin.
    pub fn generation(&self) -> i32 {
        self.generation
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
            return self.rejoin(reader);
        }
        if self.settings.auto_commit && self.last_commit.elapsed() >= AUTO_COMMIT_INTERVAL {
            self.last_commit = Instant::now();
            if let Err(error) = self.commit(reader) {
                return self.recover(reader, error);
            }
        }
        if self.last_heartbeat.elapsed()
            >= HEARTBEAT_INTERVAL.min(self.settings.session_timeout / 3)
        {
            self.last_heartbeat = Instant::now();
            let broker = reader.cluster.broker(self.coordinator)?;
            if let Err(error) =
                group::heartbeat(broker, &self.group, self.generation, &self.member_id)
            {
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
        let broker = reader.cluster.broker(self.coordinator)?;
        let left = group::leave_group(broker, &self.group, &self.member_id);
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
            Some(UNKNOWN_MEMBER_ID | FENCED_INSTANCE_ID) => self.member_id.clear(),
            Some(code) if COORDINATOR_MOVED.contains(&code) => {
                self.coordinator =
                    group::coordinator(&mut reader.cluster, &self.group, REBALANCE_TIMEOUT)?;
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

    /// Joins until a generation completes, then points `reader` at our partitions.
    fn rejoin(&mut self, reader: &mut Reader) -> Result<()> {
        reader.clear();
        self.consumed.clear();
        self.committed.clear();
        let mut attempts = 0;
        let assignment = loop {
            attempts += 1;
            if attempts > JOIN_ATTEMPTS_MAX {
                bail!(
                    "could not join group '{}' after {JOIN_ATTEMPTS_MAX} attempts",
                    self.group
                );
            }
            match self.join_once(reader) {
                Ok(Some(assignment)) => break assignment,
                Ok(None) => {}
                Err(error) => match error.code() {
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
        let wanted: Vec<(String, Vec<i32>)> = assignment
            .into_iter()
            .filter(|(topic, _)| reader.topics.contains_key(topic))
            .collect();
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
        reader.resolve(&unset, reader.reset)?;
        self.consumed = reader.positions.clone();
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
