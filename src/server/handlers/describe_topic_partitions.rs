//! DescribeTopicPartitions (KIP-966): topics and their partitions, paged by a cursor
//! and `response_partition_limit`, as Kafka's `DescribeTopicPartitionsRequestHandler`
//! answers: topics in name order, each once; a page ends inside a topic, or before the
//! next one when the limit runs out at a topic's end.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
};

use super::{topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::config::valid_topic_name;

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

/// Partitions in one response at most, whatever the client asks.
const PARTITIONS_MAX: i32 = 2000;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeTopicPartitionsRequest>(body) else {
        return Response::Close;
    };
    let snapshot = ctx.shard.snapshot();
    let all = request.topics.is_empty();
    let topic_entry = |error: ResponseError, name: &str| {
        DescribeTopicPartitionsResponseTopic::default()
            .with_error_code(error.code())
            .with_name(Some(topic_name(name)))
    };
    let (start_topic, start_partition) = match &request.cursor {
        Some(cursor) => (cursor.topic_name.to_string(), cursor.partition_index),
        None => (String::new(), 0),
    };
    // Kafka's checks of the cursor: a partition index not below 0, and a topic among
    // those named. Else every topic named is refused.
    let named = |name: &str| request.topics.iter().any(|t| t.name.as_str() == name);
    if request.cursor.is_some() && (start_partition < 0 || !(all || named(&start_topic))) {
        let topics = request
            .topics
            .iter()
            .map(|t| topic_entry(ResponseError::InvalidRequest, t.name.as_str()))
            .collect();
        return ctx.respond(&DescribeTopicPartitionsResponse::default().with_topics(topics));
    }
    let mut names: Vec<String> = if all {
        snapshot.topics().map(|(name, _)| name.clone()).collect()
    } else {
        request.topics.iter().map(|t| t.name.to_string()).collect()
    };
    names.sort();
    names.dedup();
    let mut budget = request.response_partition_limit.clamp(1, PARTITIONS_MAX);
    let mut topics = Vec::new();
    // Kafka lists the topics named that the caller may not describe last, without
    // saying whether they exist, and leaves them out of a full listing.
    let mut refused = Vec::new();
    let mut next_cursor = None;
    for name in names.into_iter().filter(|name| *name >= start_topic) {
        if !ctx.allowed_in(&snapshot, Operation::Describe, ResourceType::Topic, &name) {
            if !all {
                refused.push(topic_entry(ResponseError::TopicAuthorizationFailed, &name));
            }
            continue;
        }
        // The limit reached at a topic's end: the next page starts at the next topic.
        if budget == 0 {
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(topic_name(&name))
                    .with_partition_index(0),
            );
            break;
        }
        let operations = ctx.authorized_operations(&snapshot, true, ResourceType::Topic, &name);
        let Some(meta) = snapshot.topic(&name) else {
            let error = match valid_topic_name(&name) {
                Ok(()) => ResponseError::UnknownTopicOrPartition,
                Err(_) => ResponseError::InvalidTopicException,
            };
            topics.push(topic_entry(error, &name).with_topic_authorized_operations(operations));
            continue;
        };
        let first = if name == start_topic {
            start_partition
        } else {
            0
        };
        let mut partitions = Vec::new();
        for index in first..meta.partitions {
            if budget == 0 {
                next_cursor = Some(
                    Cursor::default()
                        .with_topic_name(topic_name(&name))
                        .with_partition_index(index),
                );
                break;
            }
            budget -= 1;
            let Some(r) = snapshot.replicas_of(&name, index) else {
                continue;
            };
            let ids = |brokers: Vec<i32>| brokers.into_iter().map(BrokerId).collect();
            // A client cannot reach a broker registered without its listener: such a
            // leader is not named, and such replicas are offline, as Kafka answers.
            let unreachable = |id: i32| snapshot.unreachable_on(&ctx.peer.listener, id);
            let leader = if unreachable(r.leader) { -1 } else { r.leader };
            let offline = r.replicas.iter().copied();
            let offline: Vec<i32> = offline
                .filter(|b| r.offline.contains(b) || unreachable(*b))
                .collect();
            // A partition without a leader says so by its leader id (-1) only.
            partitions.push(
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(index)
                    .with_leader_id(BrokerId(leader))
                    .with_leader_epoch(r.leader_epoch)
                    .with_replica_nodes(ids(r.replicas))
                    .with_isr_nodes(ids(r.isr))
                    .with_offline_replicas(ids(offline))
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new())),
            );
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(topic_name(&name)))
                .with_topic_id(meta.id)
                .with_is_internal(crate::group::is_internal_topic(&name))
                .with_partitions(partitions)
                .with_topic_authorized_operations(operations),
        );
        if next_cursor.is_some() {
            break;
        }
    }
    topics.extend(refused);
    ctx.respond(
        &DescribeTopicPartitionsResponse::default()
            .with_topics(topics)
            .with_next_cursor(next_cursor),
    )
}
