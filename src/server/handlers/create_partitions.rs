//! CreatePartitions: grows a topic's partition count, through the controller (shard 0).

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::auth::only_allowed;
use super::on_controller;
use super::throttle::within_mutation_quota;
use super::{named_twice, once_each, topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::cluster::controller::NewPartitions;
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 0..=3;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<CreatePartitionsRequest>(body) else {
        return Response::Close;
    };
    let changes: Vec<NewPartitions> = request
        .topics
        .iter()
        .map(|t| {
            let assignments = t.assignments.as_ref().map(|list| {
                list.iter()
                    .map(|a| a.broker_ids.iter().map(|id| id.0).collect())
                    .collect()
            });
            NewPartitions {
                name: t.name.to_string(),
                count: t.count,
                assignments,
            }
        })
        .collect();
    // A name given twice is answered once, and neither copy acted on (Kafka's first
    // check).
    let (names, twice) = once_each(changes.iter().map(|c| c.name.as_str()));
    let changes: Vec<NewPartitions> = changes
        .into_iter()
        .filter(|c| !twice.contains(&c.name))
        .collect();
    let validate_only = request.validate_only;
    let snapshot = ctx.shard.snapshot();
    let allowed = |change: &NewPartitions| {
        ctx.allowed_in(
            &snapshot,
            Operation::Alter,
            ResourceType::Topic,
            &change.name,
        )
    };
    let refused = |_: &NewPartitions| Err(ApiError::code(ResponseError::TopicAuthorizationFailed));
    // KIP-599: the partitions added count against the client's mutation quota.
    let quota = ctx.mutation_quota(3, validate_only);
    let added = |change: &NewPartitions| {
        let now = snapshot
            .topic(&change.name)
            .map_or(0, |meta| meta.partitions);
        change.count.saturating_sub(now).max(0)
    };
    let shard = &ctx.shard;
    let results = only_allowed(changes, allowed, refused, |changes| {
        within_mutation_quota(quota.as_ref(), changes, added, |changes| {
            on_controller(shard, changes, move |s, changes| async move {
                s.controller()
                    .create_partitions(&s, changes, validate_only)
                    .await
            })
        })
    })
    .await;
    let throttle = quota.map_or(0, |q| q.finish(&ctx.times));
    let mut results = results.into_iter();
    let results = names
        .into_iter()
        .map(|name| {
            let result = match twice.contains(&name) {
                true => Err(named_twice()),
                false => results
                    .next()
                    .unwrap_or_else(|| Err(ApiError::code(ResponseError::UnknownServerError))),
            };
            let response = CreatePartitionsTopicResult::default().with_name(topic_name(&name));
            match result {
                Ok(()) => response,
                Err(error) => response
                    .with_error_code(error.wire_code())
                    .with_error_message(error.message.map(StrBytes::from_string)),
            }
        })
        .collect();
    ctx.respond(
        &CreatePartitionsResponse::default()
            .with_results(results)
            .with_throttle_time_ms(throttle),
    )
}
