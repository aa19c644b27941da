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
use super::{named_twice, topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 1..=6;

/// One topic the request names, and why it is refused before any lookup.
struct Entry {
    name: Option<String>,
    id: Uuid,
    /// Given by its id (v6), not its name.
    by_id: bool,
    /// Passed the request's own checks (a later entry for the same topic refuses it).
    asked: bool,
    refusal: Option<ApiError>,
}

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DeleteTopicsRequest>(body) else {
        return Response::Close;
    };
    let snapshot = ctx.shard.snapshot();
    // Each entry as given: (name, id), either possibly absent (v6 names by either).
    let given: Vec<(Option<String>, Uuid)> = if ctx.version >= 6 {
        request
            .topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.to_string()), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| (Some(n.to_string()), Uuid::nil()))
            .collect()
    };
    // Kafka's checks of the request itself, each answering an entry without looking
    // further: deletion disabled (every entry), an entry naming both or neither of a
    // name and an id, a name or an id given twice (answered once).
    let mut entries: Vec<Entry> = Vec::new();
    for (name, id) in given {
        let invalid = |message: &str| Some(ApiError::new(ResponseError::InvalidRequest, message));
        let enabled = snapshot.broker.delete_topic_enable;
        let refusal = match (&name, id.is_nil()) {
            _ if !enabled && ctx.version >= 3 => {
                Some(ApiError::code(ResponseError::TopicDeletionDisabled))
            }
            _ if !enabled => invalid("Topic deletion is disabled."),
            (Some(_), false) => invalid("You may not specify both topic name and topic id."),
            (None, true) => invalid("Neither topic name nor id were specified."),
            _ => None,
        };
        let by_id = name.is_none();
        // A topic given by id is known by its name from here on.
        let name = name.or_else(|| snapshot.topic_name(&id).map(str::to_string));
        // The same topic named again, by name or id, among the entries not refused so
        // far: the first answers for all, refused.
        let first = entries.iter_mut().find(|e| {
            e.asked && ((e.name.is_some() && e.name == name) || (!id.is_nil() && e.id == id))
        });
        if let (Some(first), None) = (first, &refusal) {
            first.refusal = match (first.by_id, by_id) {
                (false, false) => Some(named_twice()),
                (true, true) => invalid("Duplicate topic id."),
                _ => invalid("The provided topic name maps to an ID that was already supplied."),
            };
            continue;
        }
        let asked = refusal.is_none();
        entries.push(Entry {
            name,
            id,
            by_id,
            asked,
            refusal,
        });
    }
    let names: Vec<String> = entries
        .iter()
        .filter(|e| e.refusal.is_none())
        .filter_map(|e| e.name.clone())
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
    let responses = entries
        .into_iter()
        .map(
            |Entry {
                 name,
                 id,
                 by_id,
                 refusal,
                 ..
             }| {
                // Kafka names no topic given by id in a refusal of the request's own.
                let name = name.filter(|_| !(by_id && refusal.is_some()));
                let result = match (refusal, &name) {
                    (Some(refusal), _) => Err(refusal),
                    (None, Some(_)) => results
                        .next()
                        .unwrap_or_else(|| Err(ApiError::code(ResponseError::UnknownServerError))),
                    (None, None) => Err(ApiError::code(ResponseError::UnknownTopicId)),
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
            },
        )
        .collect();
    ctx.respond(
        &DeleteTopicsResponse::default()
            .with_responses(responses)
            .with_throttle_time_ms(throttle),
    )
}
