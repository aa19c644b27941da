//! ListOffsets: earliest, latest, max-timestamp, or the exact first record at or after
//! a timestamp, answered by the shard that owns each partition.

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
}

/// (error, timestamp, offset, leader epoch)
type Answer = (i16, i64, i64, i32);

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<ListOffsetsRequest>(body) else {
        return Response::Close;
    };
    let mut queries = Vec::new();
    for topic in &request.topics {
        for partition in &topic.partitions {
            queries.push(Query {
                topic: topic.name.to_string(),
                partition: partition.partition_index,
                timestamp: partition.timestamp,
                leader_epoch: partition.current_leader_epoch,
                isolation: Isolation::from_wire(request.isolation_level),
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

async fn answer(shard: Rc<Shard>, query: Query) -> Answer {
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
        timestamp if timestamp >= 0 => OffsetQuery::Timestamp(timestamp),
        _ => return (ResponseError::InvalidRequest.code(), -1, -1, -1),
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
