//! Fetch and ListOffsets for partitions on their leader: sessionless fetches (every
//! request names every partition), records decoded by `records::decode_batches`.

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{FetchRequest, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Record;
use uuid::Uuid;

use std::collections::BTreeMap;

use super::broker::Broker;
use super::cluster::{Cluster, TopicMetadata};
use super::error::{Error, Result};
use super::records::decode_batches;

/// Fetch v13 names topics by id only.
const FETCH_TOPIC_ID_VERSION: i16 = 13;
/// Kafka's FINAL_EPOCH: a full fetch that opens no incremental session.
const SESSIONLESS_EPOCH: i32 = -1;
/// ListOffsets timestamps meaning "log start" and "log end".
pub const EARLIEST: i64 = -2;
pub const LATEST: i64 = -1;

#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    pub max_wait_ms: i32,
    pub partition_max_bytes: i32,
    pub max_bytes: i32,
    pub isolation: Isolation,
}

/// What a read sees of transactions (Kafka's `isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Everything up to the high watermark, aborted transactions' records included.
    #[default]
    ReadUncommitted,
    /// Up to the last stable offset, without the records of aborted transactions.
    ReadCommitted,
}

impl Isolation {
    fn wire(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

impl Default for FetchLimits {
    fn default() -> Self {
        // The Java consumer's defaults: fetch.max.wait.ms, max.partition.fetch.bytes,
        // fetch.max.bytes.
        FetchLimits {
            max_wait_ms: 500,
            partition_max_bytes: 1 << 20,
            max_bytes: 50 << 20,
            isolation: Isolation::ReadUncommitted,
        }
    }
}

#[derive(Debug)]
pub struct PartitionFetch {
    pub topic: String,
    pub partition: i32,
    pub error_code: i16,
    pub high_watermark: i64,
    /// Data records at or after the requested offset.
    pub records: Vec<Record>,
    /// Where the next fetch of this partition starts (the requested offset if no whole
    /// batch came back).
    pub next_offset: i64,
}

/// Positions (partition, offset) to fetch in one topic.
#[derive(Debug, Clone)]
pub struct TopicPositions {
    pub name: String,
    /// Nil when the broker's Metadata did not name it.
    pub id: Uuid,
    pub positions: Vec<(i32, i64)>,
}

/// Fetches `topics`' positions from their leader, in one request.
pub fn fetch(
    broker: &mut Broker,
    topics: &[TopicPositions],
    limits: FetchLimits,
) -> Result<Vec<PartitionFetch>> {
    let mut version = broker.version::<FetchRequest>()?;
    if topics.iter().any(|t| t.id.is_nil()) {
        version = version.min(FETCH_TOPIC_ID_VERSION - 1);
    }
    let request = FetchRequest::default()
        .with_max_wait_ms(limits.max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(limits.max_bytes)
        .with_isolation_level(limits.isolation.wire())
        .with_session_id(0)
        .with_session_epoch(SESSIONLESS_EPOCH)
        .with_topics(
            topics
                .iter()
                .map(|topic| {
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(topic.name.clone())))
                        .with_topic_id(topic.id)
                        .with_partitions(
                            topic
                                .positions
                                .iter()
                                .map(|&(partition, offset)| {
                                    FetchPartition::default()
                                        .with_partition(partition)
                                        .with_current_leader_epoch(-1)
                                        .with_fetch_offset(offset)
                                        .with_log_start_offset(-1)
                                        .with_partition_max_bytes(limits.partition_max_bytes)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let response = broker.call(version, &request)?;
    Error::check(response.error_code, None, || {
        format!("{}: Fetch", broker.address())
    })?;
    let mut out = Vec::new();
    for answer in response.responses {
        // Named by id from version 13, by name before.
        let Some(topic) = topics.iter().find(|t| {
            if version >= FETCH_TOPIC_ID_VERSION {
                t.id == answer.topic_id
            } else {
                t.name == answer.topic.0.as_str()
            }
        }) else {
            continue;
        };
        for data in answer.partitions {
            let Some(&(_, offset)) = topic
                .positions
                .iter()
                .find(|(p, _)| *p == data.partition_index)
            else {
                continue;
            };
            let mut fetched = PartitionFetch {
                topic: topic.name.clone(),
                partition: data.partition_index,
                error_code: data.error_code,
                high_watermark: data.high_watermark,
                records: Vec::new(),
                next_offset: offset,
            };
            // read_committed: the transactions to leave out (none are listed otherwise).
            let aborted: Vec<(i64, i64)> = data
                .aborted_transactions
                .iter()
                .flatten()
                .map(|a| (a.producer_id.0, a.first_offset))
                .collect();
            if let Some(bytes) = data.records.filter(|_| data.error_code == 0) {
                let decoded =
                    decode_batches(bytes, offset, &aborted).map_err(|error| Error::Protocol {
                        address: broker.address().to_string(),
                        message: format!("{}-{}: {error}", topic.name, data.partition_index),
                    })?;
                fetched.records = decoded.records;
                fetched.next_offset = decoded.next_offset.unwrap_or(offset).max(offset);
            }
            out.push(fetched);
        }
    }
    Ok(out)
}

/// The offset `timestamp` (EARLIEST, LATEST, or a time in ms) resolves to in each of
/// `partitions` of `topic`, asked of their leader: (partition, error code, offset).
pub fn list_offsets(
    broker: &mut Broker,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
) -> Result<Vec<(i32, i16, i64)>> {
    list_offsets_in(
        broker,
        topic,
        partitions,
        timestamp,
        Isolation::ReadUncommitted,
    )
}

/// `list_offsets` as a reader with `isolation` sees them: LATEST is the last stable
/// offset for read_committed.
pub fn list_offsets_in(
    broker: &mut Broker,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
    isolation: Isolation,
) -> Result<Vec<(i32, i16, i64)>> {
    let version = broker.version::<ListOffsetsRequest>()?;
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(isolation.wire())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(
                partitions
                    .iter()
                    .map(|&p| {
                        ListOffsetsPartition::default()
                            .with_partition_index(p)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(timestamp)
                    })
                    .collect(),
            )]);
    let response = broker.call(version, &request)?;
    let answers: Vec<(i32, i16, i64)> = response
        .topics
        .iter()
        .filter(|t| t.name.0.as_str() == topic)
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.error_code, p.offset))
        .collect();
    for partition in partitions {
        if !answers.iter().any(|(p, _, _)| p == partition) {
            return Err(Error::Protocol {
                address: broker.address().to_string(),
                message: format!("ListOffsets response does not mention {topic}-{partition}"),
            });
        }
    }
    Ok(answers)
}

/// Where `timestamp` (EARLIEST, LATEST or ms since the epoch) points in each of
/// `partitions` of `topic`, asked of each partition's leader (-1: no record at or after
/// that time).
pub fn offsets_at(
    cluster: &mut Cluster,
    topic: &TopicMetadata,
    partitions: &[i32],
    timestamp: i64,
) -> Result<BTreeMap<i32, i64>> {
    offsets_at_in(
        cluster,
        topic,
        partitions,
        timestamp,
        Isolation::ReadUncommitted,
    )
}

/// `offsets_at` as a reader with `isolation` sees them.
pub fn offsets_at_in(
    cluster: &mut Cluster,
    topic: &TopicMetadata,
    partitions: &[i32],
    timestamp: i64,
    isolation: Isolation,
) -> Result<BTreeMap<i32, i64>> {
    let (by_leader, leaderless) = topic.by_leader(partitions.iter().map(|&p| (p, ())));
    if let Some((p, ())) = leaderless.first() {
        return Err(Error::Invalid(format!(
            "partition {}-{p} does not exist or has no leader",
            topic.name
        )));
    }
    let mut out = BTreeMap::new();
    for (leader, partitions) in by_leader {
        let mut partitions: Vec<i32> = partitions.into_iter().map(|(p, ())| p).collect();
        // A new leader answers OFFSET_NOT_AVAILABLE until its high watermark catches up:
        // asked again, a few times, as Kafka's admin client does.
        for attempt in 1..=OFFSETS_ATTEMPTS {
            let broker = cluster.broker(leader)?;
            let answers = list_offsets_in(broker, &topic.name, &partitions, timestamp, isolation)?;
            partitions.clear();
            for (p, code, offset) in answers {
                if code == OFFSET_NOT_AVAILABLE && attempt < OFFSETS_ATTEMPTS {
                    partitions.push(p);
                    continue;
                }
                Error::check(code, None, || {
                    format!("cannot list the offsets of {}-{p}", topic.name)
                })?;
                out.insert(p, offset);
            }
            if partitions.is_empty() {
                break;
            }
            std::thread::sleep(super::cluster::RETRY_BACKOFF);
        }
    }
    Ok(out)
}

/// Kafka's OFFSET_NOT_AVAILABLE.
const OFFSET_NOT_AVAILABLE: i16 = 78;
/// How many times `offsets_at_in` asks a leader that cannot answer yet.
const OFFSETS_ATTEMPTS: u32 = 50;
