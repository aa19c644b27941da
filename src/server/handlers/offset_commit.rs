//! OffsetCommit: offsets are written durably to the group's `__consumer_offsets`
//! partition by the shard that coordinates the group, then answered.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::auth::only_allowed;
use super::groups::{code, home_of, opt_str};
use super::{group_by_topic, topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::group::offsets::{Committer, NewOffset};

pub const VERSIONS: RangeInclusive<i16> = 2..=9;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<OffsetCommitRequest>(body) else {
        return Response::Close;
    };
    let group_id = request.group_id.to_string();
    let offsets: Vec<NewOffset> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| NewOffset {
                topic: t.name.to_string(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p
                    .committed_metadata
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            })
        })
        .collect();
    let shape: Vec<(String, i32)> = offsets
        .iter()
        .map(|o| (o.topic.clone(), o.partition))
        .collect();
    let committer = Committer {
        member_id: request.member_id.to_string(),
        instance_id: opt_str(request.group_instance_id),
        generation: request.generation_id_or_member_epoch,
    };
    let errors = match home_of(&ctx, Operation::Read, &group_id).await {
        Err(error) => vec![Some(error); offsets.len()],
        Ok(home) => {
            // Kafka also asks for READ on each topic.
            let snapshot = ctx.shard.snapshot();
            let allowed = |offset: &NewOffset| {
                ctx.allowed_in(
                    &snapshot,
                    Operation::Read,
                    ResourceType::Topic,
                    &offset.topic,
                )
            };
            let refused = |_: &NewOffset| Some(ResponseError::TopicAuthorizationFailed);
            let shard = &ctx.shard;
            only_allowed(offsets, allowed, refused, |offsets| async move {
                let count = offsets.len();
                // Cross-shard: the group lives on the shard owning its offsets partition.
                shard
                    .invoke_on(home.shard, move |s| async move {
                        s.groups
                            .commit(&s, &group_id, home.partition, &committer, offsets)
                            .await
                    })
                    .await
                    .unwrap_or_else(|_| vec![Some(ResponseError::NotCoordinator); count])
            })
            .await
        }
    };
    let partitions = shape
        .into_iter()
        .zip(errors)
        .map(|((topic, partition), error)| {
            let result = OffsetCommitResponsePartition::default()
                .with_partition_index(partition)
                .with_error_code(code(error));
            (topic, result)
        });
    let topics = group_by_topic(partitions, |topic, partitions| {
        OffsetCommitResponseTopic::default()
            .with_name(topic_name(&topic))
            .with_partitions(partitions)
    });
    ctx.respond(&OffsetCommitResponse::default().with_topics(topics))
}
