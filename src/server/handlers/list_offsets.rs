//! ListOffsets: earliest, latest, max-timestamp, or the exact first record at or after
//! a timestamp, answered by the shard that owns each partition.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::auth::only_allowed;
use super::{group_by_topic, on_owning_shards, topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;
use crate::partition::{Isolation, OffsetQuery};
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 1..=9;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

struct Query {
    topic: String,
    partition: i32,
    timestamp: i64,
    leader_epoch: i32,
    isolation: Isolation,
    /// The request names the partition more than once (it is answered once).
    duplicate: bool,
    version: i16,
}

/// (error, timestamp, offset, leader epoch)
type Answer = (i16, i64, i64, i32);

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<ListOffsetsRequest>(body) else {
        return Response::Close;
    };
    let mut queries: Vec<Query> = Vec::new();
    let mut seen: HashMap<(String, i32), usize> = HashMap::new();
    for topic in &request.topics {
        for partition in &topic.partitions {
            let key = (topic.name.to_string(), partition.partition_index);
            if let Some(&first) = seen.get(&key) {
                queries[first].duplicate = true;
                continue;
            }
            seen.insert(key, queries.len());
            queries.push(Query {
                topic: topic.name.to_string(),
                partition: partition.partition_index,
                timestamp: partition.timestamp,
                leader_epoch: partition.current_leader_epoch,
                isolation: Isolation::from_wire(request.isolation_level),
                duplicate: false,
                version: ctx.version,
            });
        }
    }
    let shape: Vec<(String, i32)> = queries
        .iter()
        .map(|q| (q.topic.clone(), q.partition))
        .collect();
    let snapshot = ctx.shard.snapshot();
    let answers = only_allowed(
        queries,
        |q| {
            ctx.allowed_in(
                &snapshot,
                Operation::Describe,
                ResourceType::Topic,
                &q.topic,
            )
        },
        |_| (ResponseError::TopicAuthorizationFailed.code(), -1, -1, -1),
        |queries| {
            // Cross-shard: each partition is looked up by the shard that owns it.
            on_owning_shards(
                &ctx.shard,
                queries,
                |q| (q.topic.as_str(), q.partition),
                answer,
                |gone| (ApiError::from(gone).wire_code(), -1, -1, -1),
            )
        },
    )
    .await;
    let version = ctx.version;
    let partitions = shape
        .into_iter()
        .zip(answers)
        .map(|((topic, partition), answer)| {
            let (error, timestamp, offset, epoch) = answer;
            let response = ListOffsetsPartitionResponse::default()
                .with_partition_index(partition)
                .with_error_code(error)
                .with_timestamp(timestamp)
                .with_offset(offset)
                .with_leader_epoch(if version >= 4 { epoch } else { -1 });
            (topic, response)
        });
    let topics = group_by_topic(partitions, |topic, partitions| {
        ListOffsetsTopicResponse::default()
            .with_name(topic_name(&topic))
            .with_partitions(partitions)
    });
    ctx.respond(&ListOffsetsResponse::default().with_topics(topics))
}

/// The version that first takes each special timestamp (Kafka's
/// `isListOffsetsTimestampUnsupported`): -1 and -2 are taken by every version served.
fn timestamp_version_min(timestamp: i64) -> Option<i16> {
    match timestamp {
        LATEST | EARLIEST => Some(0),
        MAX_TIMESTAMP => Some(7),
        EARLIEST_LOCAL => Some(8),
        LATEST_TIERED => Some(9),
        t if t >= 0 => Some(0),
        _ => None,
    }
}

/// On the owning shard, in Kafka's order: a partition named twice, a timestamp the
/// version does not know, then the partition and its leader epoch.
async fn answer(shard: Rc<Shard>, query: Query) -> Answer {
    if query.duplicate {
        return (ResponseError::InvalidRequest.code(), -1, -1, -1);
    }
    if timestamp_version_min(query.timestamp).is_none_or(|min| query.version < min) {
        return (ResponseError::UnsupportedVersion.code(), -1, -1, -1);
    }
    let partition = match shard.led(&query.topic, query.partition) {
        Ok(partition) => partition,
        Err(code) => return (code.code(), -1, -1, -1),
    };
    let question = match query.timestamp {
        LATEST => OffsetQuery::Latest,
        EARLIEST | EARLIEST_LOCAL => OffsetQuery::Earliest,
        MAX_TIMESTAMP => OffsetQuery::MaxTimestamp,
        LATEST_TIERED => {
            // No tiered storage: no record is in it.
            return match partition.check_leader_epoch(query.leader_epoch) {
                Ok(()) => (0, -1, -1, -1),
                Err(error) => (error.wire_code(), -1, -1, -1),
            };
        }
        timestamp => OffsetQuery::Timestamp(timestamp),
    };
    match partition
        .list_offset(question, query.leader_epoch, query.isolation)
        .await
    {
        Ok(Some(found)) => (0, found.timestamp, found.offset, found.leader_epoch),
        Ok(None) => (0, -1, -1, -1),
        Err(error) => (error.wire_code(), -1, -1, -1),
    }
}
