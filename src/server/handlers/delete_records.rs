//! DeleteRecords: moves each partition's log start offset forward (offset -1 means
//! the high watermark; one at or below the log start changes nothing and answers it),
//! on the shard that owns the partition.

use std::ops::RangeInclusive;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::auth::only_allowed;
use super::{group_by_topic, on_owning_shards, topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DeleteRecordsRequest>(body) else {
        return Response::Close;
    };
    let items: Vec<(String, i32, i64)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.to_string(), p.partition_index, p.offset))
        })
        .collect();
    let shape: Vec<(String, i32)> = items.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
    let snapshot = ctx.shard.snapshot();
    let results = only_allowed(
        items,
        |(topic, ..)| ctx.allowed_in(&snapshot, Operation::Delete, ResourceType::Topic, topic),
        |_| (ResponseError::TopicAuthorizationFailed.code(), -1),
        |items| {
            // Cross-shard: each log is trimmed by the shard that owns it.
            on_owning_shards(
                &ctx.shard,
                items,
                |(topic, partition, _)| (topic.as_str(), *partition),
                |s, (topic, partition, offset)| delete(s, topic, partition, offset),
                |gone| (ApiError::from(gone).wire_code(), -1),
            )
        },
    )
    .await;
    let partitions =
        shape
            .into_iter()
            .zip(results)
            .map(|((topic, partition), (error, low_watermark))| {
                let result = DeleteRecordsPartitionResult::default()
                    .with_partition_index(partition)
                    .with_error_code(error)
                    .with_low_watermark(low_watermark);
                (topic, result)
            });
    let topics = group_by_topic(partitions, |topic, partitions| {
        DeleteRecordsTopicResult::default()
            .with_name(topic_name(&topic))
            .with_partitions(partitions)
    });
    ctx.respond(&DeleteRecordsResponse::default().with_topics(topics))
}

/// On the owning shard, in Kafka's order: the partition, an internal topic (never a
/// client's to trim), the leader, the topic's cleanup policy, then the offset.
async fn delete(shard: Rc<Shard>, topic: String, index: i32, offset: i64) -> (i16, i64) {
    if crate::group::is_internal_topic(&topic) && shard.snapshot().has_partition(&topic, index) {
        return (ResponseError::InvalidTopicException.code(), -1);
    }
    let partition = match shard.led(&topic, index) {
        Ok(partition) => partition,
        Err(code) => return (code.code(), -1),
    };
    if !partition.has_delete_policy() {
        return (ResponseError::PolicyViolation.code(), -1);
    }
    match partition.delete_records(offset).await {
        Ok(low_watermark) => (0, low_watermark),
        Err(error) => (error.wire_code(), -1),
    }
}
