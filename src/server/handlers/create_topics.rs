//! CreateTopics: validated and applied by the controller (shard 0); `validate_only`
//! runs every check and changes nothing.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::auth::only_allowed;
use super::config_changes::name_value;
use super::on_controller;
use super::throttle::within_mutation_quota;
use super::{named_twice, once_each, topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::cluster::controller::NewTopic;
use crate::cluster::TopicMeta;
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 2..=7;
/// The KRaft metadata log's name, which Kafka never lets a topic take.
use crate::quorum::METADATA_TOPIC;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<CreateTopicsRequest>(body) else {
        return Response::Close;
    };
    let topics: Vec<NewTopic> = request
        .topics
        .iter()
        .map(|topic| NewTopic {
            name: topic.name.to_string(),
            partitions: topic.num_partitions,
            replication_factor: topic.replication_factor,
            assignments: topic
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|id| id.0).collect(),
                    )
                })
                .collect(),
            configs: topic
                .configs
                .iter()
                .map(|c| name_value(&c.name, &c.value))
                .collect(),
        })
        .collect();
    // Kafka's first checks, before authorization: a name given twice is answered once
    // and not created; the metadata log's name is never a topic's.
    let (names, twice) = once_each(topics.iter().map(|t| t.name.as_str()));
    let mut refusals: HashMap<String, ApiError> = twice
        .into_iter()
        .map(|name| (name, named_twice()))
        .collect();
    if names.iter().any(|name| name == METADATA_TOPIC) {
        let message = format!("Creation of internal topic {METADATA_TOPIC} is prohibited.");
        let refusal = ApiError::new(ResponseError::InvalidRequest, message);
        refusals.insert(METADATA_TOPIC.to_string(), refusal);
    }
    // Every name left is given once.
    let topics: Vec<NewTopic> = topics
        .into_iter()
        .filter(|t| !refusals.contains_key(&t.name))
        .collect();
    let snapshot = ctx.shard.snapshot();
    // The replication factor each topic gets (Kafka answers partition 0's replica count).
    let replication: HashMap<String, i16> = topics
        .iter()
        .map(|t| {
            let factor = match (t.assignments.first(), t.replication_factor) {
                (Some((_, replicas)), _) => i16::try_from(replicas.len()).unwrap_or(i16::MAX),
                (None, -1) => snapshot.broker.default_replication_factor,
                (None, factor) => factor,
            };
            (t.name.clone(), factor)
        })
        .collect();
    let validate_only = request.validate_only;
    // Kafka: CREATE on the cluster allows every topic; else each needs CREATE on itself.
    let on_cluster = ctx.allowed_on_cluster(Operation::Create);
    let allowed = |topic: &NewTopic| {
        on_cluster
            || ctx.allowed_in(
                &snapshot,
                Operation::Create,
                ResourceType::Topic,
                &topic.name,
            )
    };
    let refused = |_: &NewTopic| Err(ApiError::code(ResponseError::TopicAuthorizationFailed));
    // KIP-599: each topic's partitions count against the client's mutation quota.
    let quota = ctx.mutation_quota(6, validate_only);
    let partitions = |topic: &NewTopic| match (topic.assignments.len(), topic.partitions) {
        (0, -1) => snapshot.broker.num_partitions,
        (0, count) => count,
        (assigned, _) => i32::try_from(assigned).unwrap_or(i32::MAX),
    };
    let shard = &ctx.shard;
    let created = only_allowed(topics, allowed, refused, |topics| {
        within_mutation_quota(quota.as_ref(), topics, partitions, |topics| {
            on_controller(shard, topics, move |s, topics| async move {
                s.controller()
                    .create_topics(&s, topics, validate_only)
                    .await
            })
        })
    })
    .await;
    let mut created = created.into_iter();
    let results: Vec<Result<TopicMeta, ApiError>> = names
        .iter()
        .map(|name| match refusals.remove(name) {
            Some(refusal) => Err(refusal),
            None => created
                .next()
                .unwrap_or_else(|| Err(ApiError::code(ResponseError::UnknownServerError))),
        })
        .collect();
    let throttle = quota.map_or(0, |q| q.finish(&ctx.times));
    let broker = snapshot.broker.clone();
    let results = names
        .iter()
        .zip(results)
        .map(|(name, result)| {
            let base = CreatableTopicResult::default()
                .with_error_message(None)
                .with_name(topic_name(name));
            match result {
                // Kafka shows a new topic's configs only to who may describe them.
                Ok(meta)
                    if ctx.version >= 5
                        && !ctx.allowed_in(
                            &snapshot,
                            Operation::DescribeConfigs,
                            ResourceType::Topic,
                            name,
                        ) =>
                {
                    // Without DESCRIBE_CONFIGS the counts are not shown either.
                    base.with_topic_id(meta.id)
                        .with_num_partitions(-1)
                        .with_replication_factor(-1)
                        .with_topic_config_error_code(
                            ResponseError::TopicAuthorizationFailed.code(),
                        )
                        .with_configs(Some(Vec::new()))
                }
                Ok(meta) => {
                    let configs = meta
                        .config
                        .describe(&broker)
                        .into_iter()
                        .map(|entry| {
                            CreatableTopicConfigs::default()
                                .with_name(StrBytes::from_string(entry.name))
                                .with_value(entry.value.map(StrBytes::from_string))
                                .with_read_only(entry.read_only)
                                .with_config_source(entry.source.code())
                                .with_is_sensitive(entry.sensitive)
                        })
                        .collect();
                    base.with_topic_id(meta.id)
                        .with_num_partitions(meta.partitions)
                        .with_replication_factor(replication.get(name).copied().unwrap_or(-1))
                        .with_configs(Some(if ctx.version >= 5 {
                            configs
                        } else {
                            Vec::new()
                        }))
                }
                Err(error) => base
                    .with_error_code(error.wire_code())
                    .with_error_message(error.message.map(StrBytes::from_string))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    ctx.respond(
        &CreateTopicsResponse::default()
            .with_topics(results)
            .with_throttle_time_ms(throttle),
    )
}
