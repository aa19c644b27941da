//! The consumer tools' reader (the console consumer's, the perf test's, the verifiable
//! consumer's): one position per partition of one topic, or of every topic a pattern
//! matches, fetched from each partition's leader, following leaders through Metadata
//! when they move.
//!
//! A pattern is matched as a Java consumer's pattern subscription matches it: against
//! whole topic names, internal topics aside, looked up again every
//! `metadata.max.age.ms` and whenever a leader is lost. Topics that appear or go are
//! reported once by `topics_changed`, so the caller starts the new ones (or rejoins
//! its group); positions in topics that went are dropped here.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use kafka_protocol::records::Record;
use regex::Regex;

use super::properties::parsed;
use crate::client::cluster::{Cluster, TopicMetadata, RETRY_BACKOFF};
use crate::client::error::{is_retriable, Error};
use crate::client::fetch::{self, FetchLimits, Isolation, TopicPositions, EARLIEST, LATEST};
use crate::pattern::whole_names;

/// Kafka's OFFSET_OUT_OF_RANGE.
const OFFSET_OUT_OF_RANGE: i16 = 1;
/// The Java consumer's `metadata.max.age.ms` default.
pub const METADATA_MAX_AGE: Duration = Duration::from_secs(300);

/// A topic's name and a partition of it.
pub type TopicPartition = (String, i32);

/// What a reader reads.
pub enum Topics {
    /// One topic, which must exist.
    Named(String),
    /// Every topic whose whole name the expression matches, internal topics aside,
    /// looked up again every `max_age`.
    Matching { pattern: Regex, max_age: Duration },
}

impl Topics {
    /// What a tool's --topic or --include names (exactly one of them); a pattern is
    /// matched again every `metadata.max.age.ms` of the consumer `properties`.
    pub fn of_flags(
        topic: Option<&str>,
        include: Option<&str>,
        properties: &[(String, String)],
    ) -> Result<Topics> {
        match (topic, include) {
            (Some(topic), None) => Ok(Topics::Named(topic.to_string())),
            (None, Some(pattern)) => {
                let max_age = parsed(properties, "metadata.max.age.ms", |v| {
                    v.parse::<u64>().map_err(|e| e.to_string())
                })?
                .map_or(METADATA_MAX_AGE, Duration::from_millis);
                Topics::matching(pattern, max_age)
            }
            _ => bail!("Exactly one of the following arguments is required: [topic], [include]"),
        }
    }

    /// A pattern as Java's `Pattern.compile` takes it, matched against whole names.
    pub fn matching(pattern: &str, max_age: Duration) -> Result<Topics> {
        let pattern = whole_names(pattern).map_err(|error| {
            anyhow::anyhow!("--include '{pattern}' is not a valid regular expression: {error}")
        })?;
        Ok(Topics::Matching { pattern, max_age })
    }
}

/// Where a partition starts: an offset, or the log's start or end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Offset(i64),
    Earliest,
    Latest,
}

/// Records one fetch brought from one partition, in offset order.
pub struct Fetched {
    pub topic: String,
    pub partition: i32,
    pub records: Vec<Record>,
}

pub struct Reader {
    pub cluster: Cluster,
    wanted: Topics,
    /// The topics read, as Metadata last described them.
    pub topics: BTreeMap<String, TopicMetadata>,
    /// When a pattern was last matched against the cluster's topics.
    matched_at: Instant,
    /// The set of topics (or a topic's partition count) changed since `topics_changed`
    /// last said so.
    changed: bool,
    /// Partitions whose position could not be found yet (a topic just created, a leader
    /// being elected), and where they start: EARLIEST, LATEST or a time.
    unplaced: BTreeMap<TopicPartition, i64>,
    /// Where a partition whose offset fell out of range resumes: EARLIEST or LATEST.
    pub reset: i64,
    /// What the reader sees of transactions.
    pub isolation: Isolation,
    /// Bytes a fetch asks of each partition at most (Kafka's
    /// `max.partition.fetch.bytes`).
    pub partition_max_bytes: i32,
    pub positions: BTreeMap<TopicPartition, i64>,
}

impl Reader {
    /// A reader of `wanted`, holding no position yet; a named topic must exist (or be
    /// created, with `auto_create`, where the broker creates topics).
    pub fn open(mut cluster: Cluster, wanted: Topics, auto_create: bool) -> Result<Reader> {
        let topics = look_up(&mut cluster, &wanted, auto_create)?;
        Ok(Reader {
            cluster,
            wanted,
            topics,
            matched_at: Instant::now(),
            changed: false,
            unplaced: BTreeMap::new(),
            reset: LATEST,
            isolation: Isolation::default(),
            partition_max_bytes: FetchLimits::default().partition_max_bytes,
            positions: BTreeMap::new(),
        })
    }

    /// Nothing to fetch: no partition has a position, and none waits for one.
    pub fn idle(&self) -> bool {
        self.positions.is_empty() && self.unplaced.is_empty()
    }

    /// The partitions read: those with a position and those waiting for one.
    pub fn assigned(&self) -> Vec<TopicPartition> {
        let mut assigned: Vec<TopicPartition> = self
            .positions
            .keys()
            .chain(self.unplaced.keys())
            .cloned()
            .collect();
        assigned.sort_unstable();
        assigned.dedup();
        assigned
    }

    /// Forgets every position (a group member's partitions were taken away).
    pub fn clear(&mut self) {
        self.positions.clear();
        self.unplaced.clear();
    }

    /// Forgets the positions of `partitions` (a group member gave them up).
    pub fn forget(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.positions.remove(tp);
            self.unplaced.remove(tp);
        }
    }

    /// Every partition of the topics read.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        self.topics
            .values()
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), p.index)))
            .collect()
    }

    /// Whether topics matching the pattern appeared or went since the last call (the
    /// pattern is matched again here when `metadata.max.age.ms` has passed).
    pub fn topics_changed(&mut self) -> Result<bool> {
        if let Topics::Matching { max_age, .. } = &self.wanted {
            if self.matched_at.elapsed() >= *max_age {
                self.refresh()?;
            }
        }
        Ok(std::mem::take(&mut self.changed))
    }

    pub fn seek(&mut self, partitions: &[TopicPartition], start: Start) -> Result<()> {
        match start {
            Start::Offset(offset) => {
                for tp in partitions {
                    self.positions.insert(tp.clone(), offset);
                }
                Ok(())
            }
            Start::Earliest => self.resolve(partitions, EARLIEST),
            Start::Latest => self.resolve(partitions, LATEST),
        }
    }

    /// Sets the position of each of `partitions` to where `timestamp` points. A
    /// partition without a leader, or whose leader cannot answer yet, is placed by a
    /// later poll.
    pub fn resolve(&mut self, partitions: &[TopicPartition], timestamp: i64) -> Result<()> {
        self.unplaced
            .extend(partitions.iter().map(|tp| (tp.clone(), timestamp)));
        self.place()
    }

    /// Finds the positions of the unplaced partitions that can be placed now; the rest
    /// stay unplaced (an error leaves them all so).
    fn place(&mut self) -> Result<()> {
        let mut by_topic: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
        for ((topic, partition), timestamp) in &self.unplaced {
            by_topic
                .entry(topic.clone())
                .or_default()
                .push((*partition, *timestamp));
        }
        for (name, wanted) in by_topic {
            // A topic that went is not placed at all.
            let Some(topic) = self.topics.get(&name) else {
                self.unplaced.retain(|(t, _), _| *t != name);
                continue;
            };
            let (by_leader, _leaderless) = topic.by_leader(wanted);
            for (leader, wanted) in by_leader {
                let mut by_time: BTreeMap<i64, Vec<i32>> = BTreeMap::new();
                for (partition, timestamp) in wanted {
                    by_time.entry(timestamp).or_default().push(partition);
                }
                for (timestamp, partitions) in by_time {
                    let broker = self.cluster.broker(leader)?;
                    let answers = fetch::list_offsets_in(
                        broker,
                        &name,
                        &partitions,
                        timestamp,
                        self.isolation,
                    )
                    .inspect_err(|_| self.cluster.disconnect(leader))?;
                    for (partition, code, offset) in answers {
                        let tp = (name.clone(), partition);
                        match code {
                            0 => {
                                self.unplaced.remove(&tp);
                                self.positions.insert(tp, offset);
                            }
                            code if is_retriable(code) => {}
                            code => Error::check(code, None, || {
                                format!("cannot list the offsets of {name}-{partition}")
                            })?,
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// One fetch from each leader; returns what each partition brought, in the order
    /// the partitions came.
    pub fn poll(&mut self, wait: Duration) -> Result<Vec<Fetched>> {
        if !self.unplaced.is_empty() {
            self.place()?;
        }
        let mut by_leader: BTreeMap<i32, Vec<TopicPositions>> = BTreeMap::new();
        let mut stale = !self.unplaced.is_empty();
        for (name, topic) in &self.topics {
            let positions = self
                .positions
                .iter()
                .filter(|((t, _), _)| t == name)
                .map(|((_, p), &offset)| (*p, offset));
            let (grouped, leaderless) = topic.by_leader(positions);
            stale |= !leaderless.is_empty();
            for (leader, positions) in grouped {
                by_leader.entry(leader).or_default().push(TopicPositions {
                    name: name.clone(),
                    id: topic.id,
                    positions,
                });
            }
        }
        let limits = FetchLimits {
            max_wait_ms: i32::try_from(wait.as_millis()).unwrap_or(i32::MAX),
            isolation: self.isolation,
            partition_max_bytes: self.partition_max_bytes,
            ..FetchLimits::default()
        };
        let mut fetched = Vec::new();
        let mut out_of_range = Vec::new();
        for (leader, topics) in by_leader {
            let broker = self.cluster.broker(leader)?;
            let answers = fetch::fetch(broker, &topics, limits)
                .inspect_err(|_| self.cluster.disconnect(leader))?;
            for partition in answers {
                let key = (partition.topic, partition.partition);
                match partition.error_code {
                    0 => {
                        self.positions.insert(key.clone(), partition.next_offset);
                        if !partition.records.is_empty() {
                            fetched.push(Fetched {
                                topic: key.0,
                                partition: key.1,
                                records: partition.records,
                            });
                        }
                    }
                    OFFSET_OUT_OF_RANGE => out_of_range.push(key),
                    code if is_retriable(code) => stale = true,
                    code => {
                        Error::check(code, None, || format!("cannot fetch {}-{}", key.0, key.1))?
                    }
                }
            }
        }
        if !out_of_range.is_empty() {
            let before = self.positions.clone();
            for tp in &out_of_range {
                self.positions.remove(tp);
            }
            self.resolve(&out_of_range, self.reset)?;
            for tp in out_of_range {
                if let (Some(from), Some(to)) = (before.get(&tp), self.positions.get(&tp)) {
                    eprintln!(
                        "shoal: offset {from} is out of range for {}-{}; resetting to {to}",
                        tp.0, tp.1
                    );
                }
            }
        }
        if stale {
            // A leader moved or is being elected (or a topic went): wait, then ask
            // Metadata where it went.
            std::thread::sleep(RETRY_BACKOFF);
            self.refresh()?;
        }
        Ok(fetched)
    }

    /// Looks the topics up again; topics that went lose their positions. A change in
    /// the topics or their partition counts is reported by `topics_changed`.
    pub fn refresh(&mut self) -> Result<()> {
        let topics = look_up(&mut self.cluster, &self.wanted, false)?;
        self.matched_at = Instant::now();
        let shape = |topics: &BTreeMap<String, TopicMetadata>| {
            topics
                .iter()
                .map(|(name, t)| (name.clone(), t.partitions.len()))
                .collect::<Vec<_>>()
        };
        if shape(&topics) != shape(&self.topics) {
            self.changed = true;
            self.positions.retain(|(t, _), _| topics.contains_key(t));
            self.unplaced.retain(|(t, _), _| topics.contains_key(t));
        }
        self.topics = topics;
        Ok(())
    }
}

fn look_up(
    cluster: &mut Cluster,
    wanted: &Topics,
    auto_create: bool,
) -> Result<BTreeMap<String, TopicMetadata>> {
    Ok(match wanted {
        Topics::Named(name) => {
            let topic = cluster.topic(name, auto_create)?;
            BTreeMap::from([(topic.name.clone(), topic)])
        }
        Topics::Matching { pattern, .. } => cluster
            .metadata(None, false)?
            .topics
            .into_iter()
            .filter(|(name, t)| t.error_code == 0 && !t.internal && pattern.is_match(name))
            .collect(),
    })
}
