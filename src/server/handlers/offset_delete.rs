//! OffsetDelete: removes a group's committed offsets for topics it no longer consumes
//! (GROUP_SUBSCRIBED_TO_TOPIC for those it does).

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::groups::{code, home_of};
use super::{topic_name, Ctx, Response};
use crate::acl::{Operation, ResourceType};

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

type Results = Vec<(String, Vec<(i32, Option<ResponseError>)>)>;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<OffsetDeleteRequest>(body) else {
        return Response::Close;
    };
    let group_id = request.group_id.to_string();
    let topics: Vec<(String, Vec<i32>)> = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t.partitions.iter().map(|p| p.partition_index).collect();
            (t.name.to_string(), partitions)
        })
        .collect();
    let response = match delete(&ctx, group_id, topics).await {
        Err(error) => OffsetDeleteResponse::default().with_error_code(error.code()),
        Ok(results) => {
            let topics = results
                .into_iter()
                .map(|(topic, partitions)| {
                    let partitions = partitions
                        .into_iter()
                        .map(|(p, error)| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p)
                                .with_error_code(code(error))
                        })
                        .collect();
                    OffsetDeleteResponseTopic::default()
                        .with_name(topic_name(&topic))
                        .with_partitions(partitions)
                })
                .collect();
            OffsetDeleteResponse::default().with_topics(topics)
        }
    };
    ctx.respond(&response)
}

async fn delete(
    ctx: &Ctx,
    group_id: String,
    topics: Vec<(String, Vec<i32>)>,
) -> Result<Results, ResponseError> {
    let home = home_of(ctx, Operation::Delete, &group_id).await?;
    // Kafka also asks for READ on each topic.
    let (topics, refused): (Vec<_>, Vec<_>) = topics
        .into_iter()
        .partition(|(topic, _)| ctx.allowed(Operation::Read, ResourceType::Topic, topic));
    // Cross-shard: the group lives on the shard owning its offsets partition.
    let mut results = ctx
        .shard
        .invoke_on(home.shard, move |s| async move {
            s.groups
                .delete_offsets(&s, &group_id, topics)
                .await
                .map_err(|e| e.code)
        })
        .await
        .unwrap_or(Err(ResponseError::NotCoordinator))?;
    let refusal = Some(ResponseError::TopicAuthorizationFailed);
    results.extend(refused.into_iter().map(|(topic, partitions)| {
        (
            topic,
            partitions.into_iter().map(|p| (p, refusal)).collect(),
        )
    }));
    Ok(results)
}
