//! DescribeProducers: the producers each partition knows (its producer state), as
//! `kafka-transactions.sh describe-producers` and `find-hanging` read them. Any replica
//! answers in Kafka; here the shard owning the partition does.

use std::ops::RangeInclusive;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::auth::only_allowed;
use super::{group_by_topic, on_owning_shards, topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

type Answer = Result<Vec<ProducerState>, ApiError>;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeProducersRequest>(body) else {
        return Response::Close;
    };
    let items: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| t.partition_indexes.iter().map(|p| (t.name.to_string(), *p)))
        .collect();
    let shape = items.clone();
    let snapshot = ctx.shard.snapshot();
    let answers = only_allowed(
        items,
        |(topic, _)| ctx.allowed_in(&snapshot, Operation::Read, ResourceType::Topic, topic),
        |_| Err(ApiError::code(ResponseError::TopicAuthorizationFailed)),
        |items| {
            // Cross-shard: each partition's producers are known to the shard owning it.
            on_owning_shards(
                &ctx.shard,
                items,
                |(topic, partition)| (topic.as_str(), *partition),
                |s, (topic, partition)| async move { producers(s, &topic, partition) },
                |gone| Err(gone.into()),
            )
        },
    )
    .await;
    let partitions = shape
        .into_iter()
        .zip(answers)
        .map(|((topic, partition), answer)| {
            let response = match answer {
                Ok(active) => PartitionResponse::default()
                    .with_partition_index(partition)
                    .with_active_producers(active),
                Err(error) => PartitionResponse::default()
                    .with_partition_index(partition)
                    .with_error_code(error.wire_code())
                    .with_error_message(error.message.map(crate::protocol::str_bytes)),
            };
            (topic, response)
        });
    let topics = group_by_topic(partitions, |topic, partitions| {
        TopicResponse::default()
            .with_name(topic_name(&topic))
            .with_partitions(partitions)
    });
    ctx.respond(&DescribeProducersResponse::default().with_topics(topics))
}

fn producers(shard: Rc<Shard>, topic: &str, index: i32) -> Answer {
    let partition = shard.led(topic, index).map_err(ApiError::code)?;
    let state = partition.producers();
    let mut active: Vec<ProducerState> = state
        .entries()
        .map(|(id, entry)| {
            ProducerState::default()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(i32::from(entry.epoch))
                .with_last_sequence(entry.last_sequence())
                .with_last_timestamp(entry.last_timestamp)
                .with_coordinator_epoch(entry.coordinator_epoch)
                .with_current_txn_start_offset(entry.txn_first_offset.unwrap_or(-1))
        })
        .collect();
    active.sort_by_key(|p| p.producer_id.0);
    Ok(active)
}
