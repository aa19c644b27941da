//! ConsumerGroupHeartbeat (KIP-848): one request joins, reconciles, keeps the session
//! and leaves; the broker computes assignments. Answered by the coordinating shard.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use super::groups::{home_of, opt_str, str_bytes};
use super::{Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::group::consumer::{
    by_topic, HeartbeatArgs, HeartbeatReply, JOIN_EPOCH, LEAVE_EPOCH, STATIC_LEAVE_EPOCH,
};

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<ConsumerGroupHeartbeatRequest>(body) else {
        return Response::Close;
    };
    let group_id = request.group_id.to_string();
    // Whether the owned partitions were sent, and as an empty list (`args.owned` keeps
    // only what they name).
    let owned_given = request.topic_partitions.as_ref().map(Vec::is_empty);
    let args = HeartbeatArgs {
        group_id: group_id.clone(),
        member_id: request.member_id.to_string(),
        member_epoch: request.member_epoch,
        instance_id: opt_str(request.instance_id),
        rack_id: opt_str(request.rack_id),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request
            .subscribed_topic_names
            .map(|names| names.into_iter().map(|n| n.to_string()).collect()),
        subscribed_topic_regex: opt_str(request.subscribed_topic_regex),
        server_assignor: opt_str(request.server_assignor),
        owned: request.topic_partitions.map(|topics| {
            topics
                .into_iter()
                .flat_map(|t| t.partitions.into_iter().map(move |p| (t.topic_id, p)))
                .collect()
        }),
        client_id: ctx.client_id.clone(),
        client_host: ctx.peer.host.clone(),
        new_member_id: uuid::Uuid::new_v4().to_string(),
    };
    // Kafka: a member may subscribe only to topics it may describe.
    let hidden = |names: &Vec<String>| {
        names
            .iter()
            .any(|name| !ctx.allowed(Operation::Describe, ResourceType::Topic, name))
    };
    // Kafka's order: the group's authorization, the topics', the request's own checks,
    // then the coordinator.
    let invalid = invalid(&request_shape(&args, owned_given), ctx.version);
    let reply = if !ctx.allowed(Operation::Read, ResourceType::Group, &group_id) {
        error_reply(ResponseError::GroupAuthorizationFailed, &args)
    } else if args.subscribed_topic_names.as_ref().is_some_and(hidden) {
        error_reply(ResponseError::TopicAuthorizationFailed, &args)
    } else if let Some(message) = invalid {
        HeartbeatReply {
            error: Some((ResponseError::InvalidRequest, Some(message.to_string()))),
            ..error_reply(ResponseError::InvalidRequest, &args)
        }
    } else {
        match home_of(&ctx, Operation::Read, &group_id).await {
            Err(error) => error_reply(error, &args),
            Ok(home) => {
                let fallback = error_reply(ResponseError::NotCoordinator, &args);
                // Cross-shard: the group lives on the shard owning its offsets partition.
                ctx.shard
                    .invoke_on(home.shard, move |s| async move {
                        s.groups
                            .consumer_heartbeat(&s, &group_id, home.partition, args)
                            .await
                    })
                    .await
                    .unwrap_or(fallback)
            }
        }
    };
    ctx.respond(&response(reply))
}

/// What Kafka checks of a heartbeat's fields before anything else.
struct Shape<'a> {
    group_id: &'a str,
    member_id: &'a str,
    epoch: i32,
    instance_id: Option<&'a str>,
    rack_id: Option<&'a str>,
    rebalance_timeout_ms: i32,
    /// `None`: not sent; `Some(true)`: an empty list.
    owned_empty: Option<bool>,
    subscribes: bool,
}

fn request_shape(args: &HeartbeatArgs, owned_given: Option<bool>) -> Shape<'_> {
    Shape {
        group_id: &args.group_id,
        member_id: &args.member_id,
        epoch: args.member_epoch,
        instance_id: args.instance_id.as_deref(),
        rack_id: args.rack_id.as_deref(),
        rebalance_timeout_ms: args.rebalance_timeout_ms,
        owned_empty: owned_given,
        subscribes: args.subscribed_topic_names.is_some() || args.subscribed_topic_regex.is_some(),
    }
}

/// Kafka's INVALID_REQUEST checks of a ConsumerGroupHeartbeat, in its order, with its
/// messages: the member id (v1+, where clients make their own, or any beat but a join),
/// the group id, blank instance and rack ids, what a join must carry, and the epochs below -1.
fn invalid(shape: &Shape, version: i16) -> Option<&'static str> {
    let blank = |s: Option<&str>| s.is_some_and(|s| s.trim().is_empty());
    if (version >= 1 || shape.epoch > 0 || shape.epoch == LEAVE_EPOCH)
        && shape.member_id.trim().is_empty()
    {
        return Some("MemberId can't be empty.");
    }
    if shape.group_id.trim().is_empty() {
        return Some("GroupId can't be empty.");
    }
    if blank(shape.instance_id) {
        return Some("InstanceId can't be empty.");
    }
    if blank(shape.rack_id) {
        return Some("RackId can't be empty.");
    }
    match shape.epoch {
        JOIN_EPOCH if shape.rebalance_timeout_ms == -1 => {
            Some("RebalanceTimeoutMs must be provided in first request.")
        }
        JOIN_EPOCH if shape.owned_empty != Some(true) => {
            Some("TopicPartitions must be empty when (re-)joining.")
        }
        JOIN_EPOCH if !shape.subscribes => Some(
            "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining.",
        ),
        STATIC_LEAVE_EPOCH if shape.instance_id.is_none() => Some("InstanceId can't be null."),
        epoch if epoch < STATIC_LEAVE_EPOCH => Some("MemberEpoch is invalid."),
        _ => None,
    }
}

/// An error Kafka answers without a message (authorization, the coordinator's).
fn error_reply(error: ResponseError, args: &HeartbeatArgs) -> HeartbeatReply {
    HeartbeatReply {
        error: Some((error, None)),
        member_id: args.member_id.clone(),
        member_epoch: args.member_epoch,
        ..HeartbeatReply::default()
    }
}

fn response(reply: HeartbeatReply) -> ConsumerGroupHeartbeatResponse {
    let response = ConsumerGroupHeartbeatResponse::default()
        .with_member_id(Some(str_bytes(reply.member_id)))
        .with_member_epoch(reply.member_epoch)
        .with_heartbeat_interval_ms(reply.heartbeat_interval_ms);
    if let Some((error, message)) = reply.error {
        return response
            .with_error_code(error.code())
            .with_error_message(message.map(str_bytes));
    }
    let assignment = reply.assignment.map(|partitions| {
        let topic_partitions = by_topic(&partitions)
            .into_iter()
            .map(|(topic_id, partitions)| {
                TopicPartitions::default()
                    .with_topic_id(topic_id)
                    .with_partitions(partitions)
            })
            .collect();
        Assignment::default().with_topic_partitions(topic_partitions)
    });
    response.with_assignment(assignment)
}
