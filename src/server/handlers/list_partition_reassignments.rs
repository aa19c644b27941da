//! ListPartitionReassignments (KIP-455): the moves in progress, each partition's
//! replicas and those being added and removed, from this node's metadata image.
//! DESCRIBE on the cluster is required.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{topic_name, Ctx, Response};
use crate::acl::Operation;
use crate::cluster::ShardId;

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<ListPartitionReassignmentsRequest>(body) else {
        return Response::Close;
    };
    if !ctx.allowed_on_cluster(Operation::Describe) {
        // Kafka's refusal repeats the partitions asked, with nothing in progress.
        let asked = request.topics.unwrap_or_default().into_iter().map(|t| {
            let partitions = t
                .partition_indexes
                .into_iter()
                .map(|p| OngoingPartitionReassignment::default().with_partition_index(p));
            OngoingTopicReassignment::default()
                .with_name(t.name)
                .with_partitions(partitions.collect())
        });
        let refused = ResponseError::ClusterAuthorizationFailed;
        let response = ListPartitionReassignmentsResponse::default()
            .with_error_code(refused.code())
            .with_error_message(Some(StrBytes::from_static_str(crate::error::kafka_text(
                refused,
            ))))
            .with_topics(asked.collect());
        return ctx.respond(&response);
    }
    let wanted: Option<Vec<(String, Vec<i32>)>> = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    let ongoing = ctx
        .shard
        .invoke_on(ShardId(0), move |s| async move {
            s.controller().list_reassignments(wanted.as_deref())
        })
        .await
        .unwrap_or_default();
    let ids = |brokers: Vec<i32>| brokers.into_iter().map(BrokerId).collect();
    let topics = ongoing
        .into_iter()
        .map(|partitions| {
            let name = partitions.first().map(|o| topic_name(&o.topic));
            let partitions = partitions
                .into_iter()
                .map(|o| {
                    OngoingPartitionReassignment::default()
                        .with_partition_index(o.partition)
                        .with_replicas(ids(o.replicas))
                        .with_adding_replicas(ids(o.adding))
                        .with_removing_replicas(ids(o.removing))
                })
                .collect();
            OngoingTopicReassignment::default()
                .with_name(name.unwrap_or_default())
                .with_partitions(partitions)
        })
        .collect();
    ctx.respond(
        &ListPartitionReassignmentsResponse::default()
            .with_error_message(None)
            .with_topics(topics),
    )
}
