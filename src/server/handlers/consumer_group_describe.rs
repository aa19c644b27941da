//! ConsumerGroupDescribe (KIP-848): epochs, assignor, and each member's subscription,
//! current assignment and target assignment.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};

use super::groups::{home_of, str_bytes};
use super::{topic_name, Ctx, Response};
use crate::acl::Operation;
use crate::cluster::Snapshot;
use crate::error::kafka_text;
use crate::group::consumer::{by_topic, TopicPartition};
use crate::group::coordinator::ConsumerDescription;

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<ConsumerGroupDescribeRequest>(body) else {
        return Response::Close;
    };
    let mut groups = Vec::with_capacity(request.group_ids.len());
    for group_id in request.group_ids {
        let group_id = group_id.to_string();
        let group = DescribedGroup::default().with_group_id(str_bytes(group_id.clone()).into());
        let described = match describe(&ctx, group_id.clone()).await {
            // As Kafka: no message for a refused authorization or an empty id; the
            // error's own text for the coordinator's errors.
            Err(
                error @ (ResponseError::GroupAuthorizationFailed | ResponseError::InvalidGroupId),
            ) => group.with_error_code(error.code()),
            Err(error) => group
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(kafka_text(error).to_string()))),
            Ok(Err(why)) => group
                .with_error_code(ResponseError::GroupIdNotFound.code())
                .with_error_message(Some(str_bytes(why))),
            Ok(Ok(description)) => described(group, description, &ctx.shard.snapshot()),
        };
        groups.push(described);
    }
    ctx.respond(&ConsumerGroupDescribeResponse::default().with_groups(groups))
}

async fn describe(
    ctx: &Ctx,
    group_id: String,
) -> Result<Result<ConsumerDescription, String>, ResponseError> {
    let home = home_of(ctx, Operation::Describe, &group_id).await?;
    // Cross-shard: the group lives on the shard owning its offsets partition.
    ctx.shard
        .invoke_on(home.shard, move |s| async move {
            s.groups.consumer_describe(&group_id)
        })
        .await
        .map_err(|_| ResponseError::NotCoordinator)
}

fn described(group: DescribedGroup, d: ConsumerDescription, snapshot: &Snapshot) -> DescribedGroup {
    let members = d
        .members
        .into_iter()
        .map(|m| {
            Member::default()
                .with_member_id(str_bytes(m.id))
                .with_instance_id(m.instance_id.map(str_bytes))
                .with_rack_id(m.rack_id.map(str_bytes))
                .with_member_epoch(m.epoch)
                .with_client_id(str_bytes(m.client_id))
                .with_client_host(str_bytes(m.client_host))
                .with_subscribed_topic_names(
                    m.subscribed_names.iter().map(|n| topic_name(n)).collect(),
                )
                .with_subscribed_topic_regex(m.subscribed_regex.map(str_bytes))
                .with_assignment(assignment(&m.assigned, snapshot))
                .with_target_assignment(assignment(&m.target, snapshot))
                // v1: 0 for a member speaking the classic protocol, 1 for KIP-848's.
                .with_member_type(if m.classic.is_some() { 0 } else { 1 })
        })
        .collect();
    group
        .with_group_state(str_bytes(d.state))
        .with_group_epoch(d.group_epoch)
        .with_assignment_epoch(d.assignment_epoch)
        .with_assignor_name(str_bytes(d.assignor))
        .with_members(members)
}

fn assignment(partitions: &BTreeSet<TopicPartition>, snapshot: &Snapshot) -> Assignment {
    let topic_partitions = by_topic(partitions)
        .into_iter()
        .map(|(id, partitions)| {
            TopicPartitions::default()
                .with_topic_id(id)
                .with_topic_name(topic_name(snapshot.topic_name(&id).unwrap_or_default()))
                .with_partitions(partitions)
        })
        .collect();
    Assignment::default().with_topic_partitions(topic_partitions)
}
