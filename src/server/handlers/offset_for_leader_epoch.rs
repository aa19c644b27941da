//! OffsetForLeaderEpoch: the largest leader epoch at or below the requested one and
//! the offset where it ended, from the partition's leader-epoch history ("undefined",
//! (-1, -1), when no epoch answers).

use std::ops::RangeInclusive;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::auth::only_allowed;
use super::{group_by_topic, on_owning_shards, topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 2..=4;

/// (error, leader epoch, end offset)
type Answer = (i16, i32, i64);

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<OffsetForLeaderEpochRequest>(body) else {
        return Response::Close;
    };
    let items: Vec<(String, i32, i32, i32)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.topic.to_string(),
                    p.partition,
                    p.current_leader_epoch,
                    p.leader_epoch,
                )
            })
        })
        .collect();
    let shape: Vec<(String, i32)> = items.iter().map(|(t, p, _, _)| (t.clone(), *p)).collect();
    let snapshot = ctx.shard.snapshot();
    // Followers ask with CLUSTER_ACTION, which covers every topic; consumers (KIP-320)
    // need DESCRIBE on each.
    let replica = ctx.allowed_on_cluster(Operation::ClusterAction);
    let answers = only_allowed(
        items,
        |(topic, ..)| {
            replica || ctx.allowed_in(&snapshot, Operation::Describe, ResourceType::Topic, topic)
        },
        |_| (ResponseError::TopicAuthorizationFailed.code(), -1, -1),
        |items| {
            // Cross-shard: each partition's epochs are known to the shard that owns it.
            on_owning_shards(
                &ctx.shard,
                items,
                |(topic, partition, _, _)| (topic.as_str(), *partition),
                |s, (topic, partition, current, asked)| answer(s, topic, partition, current, asked),
                |gone| (ApiError::from(gone).wire_code(), -1, -1),
            )
        },
    )
    .await;
    let partitions =
        shape
            .into_iter()
            .zip(answers)
            .map(|((topic, partition), (error, epoch, end_offset))| {
                let result = EpochEndOffset::default()
                    .with_partition(partition)
                    .with_error_code(error)
                    .with_leader_epoch(epoch)
                    .with_end_offset(end_offset);
                (topic, result)
            });
    let topics = group_by_topic(partitions, |topic, partitions| {
        OffsetForLeaderTopicResult::default()
            .with_topic(topic_name(&topic))
            .with_partitions(partitions)
    });
    ctx.respond(&OffsetForLeaderEpochResponse::default().with_topics(topics))
}

/// Kafka's order: the replica held here, its log online, the client's leader epoch,
/// then the lead.
async fn answer(shard: Rc<Shard>, topic: String, index: i32, current: i32, asked: i32) -> Answer {
    let partition = match shard.held(&topic, index) {
        Ok(partition) => partition,
        Err(code) => return (code.code(), -1, -1),
    };
    if partition.is_offline() {
        return (ResponseError::KafkaStorageError.code(), -1, -1);
    }
    if let Err(error) = partition.check_leader_epoch(current) {
        return (error.wire_code(), -1, -1);
    }
    if let Err(code) = shard.leads(&topic, index) {
        return (code.code(), -1, -1);
    }
    match partition.end_offset_for_epoch(asked, current) {
        Ok((epoch, end_offset)) => (0, epoch, end_offset),
        Err(error) => (error.wire_code(), -1, -1),
    }
}
