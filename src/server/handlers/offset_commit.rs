//! OffsetCommit: offsets are written durably to the group's `__consumer_offsets`
//! partition by the shard that coordinates the group, then answered.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::groups::{commit_offsets, commit_results, home_of_any_id, new_offsets, opt_str};
use super::{topic_name, Ctx, Response};
use crate::acl::Operation;
use crate::group::offsets::Committer;
use crate::group::CommitKind;

pub const VERSIONS: RangeInclusive<i16> = 2..=9;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<OffsetCommitRequest>(body) else {
        return Response::Close;
    };
    let group_id = request.group_id.to_string();
    let offsets = new_offsets!(request.topics);
    let shape: Vec<(String, i32)> = offsets
        .iter()
        .map(|o| (o.topic.clone(), o.partition))
        .collect();
    let committer = Committer {
        member_id: request.member_id.to_string(),
        instance_id: opt_str(request.group_instance_id),
        generation: request.generation_id_or_member_epoch,
        kind: CommitKind::Offsets {
            version: ctx.version,
        },
    };
    let errors = match home_of_any_id(&ctx, Operation::Read, &group_id).await {
        Err(error) => vec![Some(error); offsets.len()],
        Ok(home) => commit_offsets(&ctx, home, group_id, committer, offsets, None).await,
    };
    let topics = commit_results(
        shape,
        errors,
        |partition, code| {
            OffsetCommitResponsePartition::default()
                .with_partition_index(partition)
                .with_error_code(code)
        },
        |topic, partitions| {
            OffsetCommitResponseTopic::default()
                .with_name(topic_name(&topic))
                .with_partitions(partitions)
        },
    );
    ctx.respond(&OffsetCommitResponse::default().with_topics(topics))
}
