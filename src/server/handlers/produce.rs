//! Produce: each partition's batches are validated and appended by the shard that
//! owns the partition; acks=all answers only after the shard's group commit synced
//! them; acks=0 gets no response at all.

use std::ops::RangeInclusive;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::auth::only_allowed;
use super::{group_by_topic, on_owning_shards, topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;
use crate::shard::{now_ms, Shard};
use crate::storage::batch;

pub const VERSIONS: RangeInclusive<i16> = 3..=12;

struct Item {
    topic: String,
    topic_id: Uuid,
    partition: i32,
    records: Option<Bytes>,
}

#[derive(Debug)]
struct Outcome {
    error: Option<ApiError>,
    base_offset: i64,
    log_append_time_ms: i64,
    log_start_offset: i64,
}

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<ProduceRequest>(body) else {
        return Response::Close;
    };
    let acks = request.acks;
    let snapshot = ctx.shard.snapshot();
    let mut items = Vec::new();
    for topic in request.topic_data {
        let name = if ctx.version >= 13 {
            snapshot
                .topic_name(&topic.topic_id)
                .unwrap_or_default()
                .to_string()
        } else {
            topic.name.to_string()
        };
        for partition in topic.partition_data {
            items.push(Item {
                topic: name.clone(),
                topic_id: topic.topic_id,
                partition: partition.index,
                records: partition.records,
            });
        }
    }
    let shape: Vec<(String, Uuid, i32)> = items
        .iter()
        .map(|i| (i.topic.clone(), i.topic_id, i.partition))
        .collect();
    let outcomes = if ![0, 1, -1].contains(&acks) {
        items
            .iter()
            .map(|_| failure(ApiError::code(ResponseError::InvalidRequiredAcks)))
            .collect()
    } else {
        // A topic id naming no topic is answered by the owning shard's lookup.
        let allowed = |item: &Item| {
            item.topic.is_empty()
                || ctx.allowed_in(
                    &snapshot,
                    Operation::Write,
                    ResourceType::Topic,
                    &item.topic,
                )
        };
        let refused = |_: &Item| failure(ApiError::code(ResponseError::TopicAuthorizationFailed));
        only_allowed(items, allowed, refused, |items| {
            // Cross-shard: every partition is appended by the shard that owns it.
            on_owning_shards(
                &ctx.shard,
                items,
                |item| (item.topic.as_str(), item.partition),
                move |shard, item| append(shard, item, acks),
                |gone| failure(gone.into()),
            )
        })
        .await
    };
    if acks == 0 {
        return Response::Nothing;
    }
    let partitions =
        shape
            .into_iter()
            .zip(outcomes)
            .map(|((topic, topic_id, partition), outcome)| {
                let response = PartitionProduceResponse::default()
                    .with_index(partition)
                    .with_error_code(outcome.error.as_ref().map_or(0, ApiError::wire_code))
                    .with_error_message(
                        outcome
                            .error
                            .and_then(|e| e.message)
                            .map(StrBytes::from_string),
                    )
                    .with_base_offset(outcome.base_offset)
                    .with_log_append_time_ms(outcome.log_append_time_ms)
                    .with_log_start_offset(outcome.log_start_offset);
                ((topic, topic_id), response)
            });
    let responses = group_by_topic(partitions, |(topic, topic_id), partitions| {
        TopicProduceResponse::default()
            .with_name(topic_name(&topic))
            .with_topic_id(topic_id)
            .with_partition_responses(partitions)
    });
    ctx.respond(&ProduceResponse::default().with_responses(responses))
}

fn failure(error: ApiError) -> Outcome {
    Outcome {
        error: Some(error),
        base_offset: -1,
        log_append_time_ms: -1,
        log_start_offset: -1,
    }
}

/// On the owning shard: validate and queue for the writer.
async fn append(shard: Rc<Shard>, item: Item, acks: i16) -> Outcome {
    if crate::group::is_internal_topic(&item.topic) {
        return failure(ApiError::new(
            ResponseError::InvalidTopicException,
            "clients may not write to an internal topic",
        ));
    }
    let Some(partition) = shard.partition(&item.topic, item.partition) else {
        return failure(ApiError::code(ResponseError::UnknownTopicOrPartition));
    };
    let topics = &shard.metrics.topics;
    let Some(records) = item.records else {
        topics.produce_failed(&item.topic);
        return failure(ApiError::new(
            ResponseError::InvalidRecord,
            "a produce request needs records",
        ));
    };
    let infos = match batch::validate(&records, partition.max_message_bytes.get()) {
        Ok(infos) => infos,
        Err(error) => {
            topics.produce_failed(&item.topic);
            return failure(error.into());
        }
    };
    if partition.log.is_compacted() && !crate::storage::decode::every_record_has_a_key(&records) {
        topics.produce_failed(&item.topic);
        return failure(ApiError::new(
            ResponseError::InvalidRecord,
            "a compacted topic needs a key on every record",
        ));
    }
    let messages = infos
        .iter()
        .map(|i| u64::try_from(i.records_count).unwrap_or(0))
        .sum();
    let durable = acks == -1 && partition.syncs_every_append();
    let size = records.len() as u64;
    match shard
        .writer
        .append(Rc::clone(&partition), records, infos, durable, now_ms())
        .await
    {
        Ok(appended) => {
            topics.produced(&item.topic, size, messages);
            Outcome {
                error: None,
                base_offset: appended.base_offset,
                log_append_time_ms: appended.log_append_time_ms,
                log_start_offset: partition.log.start_offset(),
            }
        }
        Err(error) => {
            topics.produce_failed(&item.topic);
            failure(error.into())
        }
    }
}
