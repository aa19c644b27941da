//! DeleteTopics, by name or (v6+) by topic id, applied by the controller (shard 0).

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::auth::only_allowed;
use super::on_controller;
use super::throttle::within_mutation_quota;
use super::{topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 1..=6;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DeleteTopicsRequest>(body) else {
        return Response::Close;
    };
    let snapshot = ctx.shard.snapshot();
    // (name if known, id as given)
    let targets: Vec<(Option<String>, Uuid)> = if ctx.version >= 6 {
        request
            .topics
            .iter()
            .map(|t| match &t.name {
                Some(name) => (Some(name.to_string()), Uuid::nil()),
                None => (
                    snapshot.topic_name(&t.topic_id).map(str::to_string),
                    t.topic_id,
                ),
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| (Some(n.to_string()), Uuid::nil()))
            .collect()
    };
    let names: Vec<String> = targets
        .iter()
        .filter_map(|(name, _)| name.clone())
        .collect();
    let allowed =
        |name: &String| ctx.allowed_in(&snapshot, Operation::Delete, ResourceType::Topic, name);
    // Kafka tells a caller who may describe the topic that it does not exist.
    let refused = |name: &String| {
        let describe = ctx.allowed_in(&snapshot, Operation::Describe, ResourceType::Topic, name);
        let code = if describe && snapshot.topic(name).is_none() {
            ResponseError::UnknownTopicOrPartition
        } else {
            ResponseError::TopicAuthorizationFailed
        };
        Err(ApiError::code(code))
    };
    // KIP-599: each topic's partitions count against the client's mutation quota.
    let quota = ctx.mutation_quota(5, false);
    let partitions = |name: &String| snapshot.topic(name).map_or(0, |meta| meta.partitions);
    let shard = &ctx.shard;
    let results = only_allowed(names, allowed, refused, |names| {
        within_mutation_quota(quota.as_ref(), names, partitions, |names| {
            on_controller(shard, names, |s, names| async move {
                s.controller().delete_topics(&s, names).await
            })
        })
    })
    .await;
    let throttle = quota.map_or(0, |q| q.finish(&ctx.times));
    let mut results = results.into_iter();
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let result = match &name {
                Some(_) => results
                    .next()
                    .unwrap_or_else(|| Err(ApiError::code(ResponseError::UnknownServerError))),
                None => Err(ApiError::code(ResponseError::UnknownTopicId)),
            };
            let response =
                DeletableTopicResult::default().with_name(name.as_deref().map(topic_name));
            match result {
                Ok(deleted_id) => response.with_topic_id(deleted_id),
                Err(error) => response
                    .with_topic_id(id)
                    .with_error_code(error.wire_code())
                    .with_error_message(error.message.map(StrBytes::from_string)),
            }
        })
        .collect();
    ctx.respond(
        &DeleteTopicsResponse::default()
            .with_responses(responses)
            .with_throttle_time_ms(throttle),
    )
}
