//! AlterPartitionReassignments (KIP-455): moves partitions to new replica sets, or
//! cancels moves in progress, through the controller (shard 0). Kafka's
//! `kafka-reassign-partitions.sh --execute|--cancel` and `shoal reassign` send it;
//! ALTER on the cluster is required.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{topic_name, Ctx, Response};
use crate::acl::Operation;
use crate::cluster::controller::Reassign;
use crate::cluster::ShardId;
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<AlterPartitionReassignmentsRequest>(body) else {
        return Response::Close;
    };
    let wanted: Vec<Reassign> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| Reassign {
                topic: t.name.to_string(),
                partition: p.partition_index,
                replicas: p.replicas.as_ref().map(|r| r.iter().map(|b| b.0).collect()),
            })
        })
        .collect();
    // Refused as a whole, each partition asked carries the refusal too, as Kafka answers.
    let refused = !ctx.allowed_on_cluster(Operation::Alter);
    // Before v1 (KIP-860) every move may change the replication factor.
    let allow_rf_change = ctx.version < 1 || request.allow_replication_factor_change;
    let count = wanted.len();
    let results: Vec<Result<(), ApiError>> = if refused {
        let error = ApiError::code(ResponseError::ClusterAuthorizationFailed);
        vec![Err(error); count]
    } else {
        ctx.shard
            .invoke_on(ShardId(0), move |s| async move {
                s.controller()
                    .alter_reassignments(&s, wanted, allow_rf_change)
                    .await
            })
            .await
            .unwrap_or_else(|gone| (0..count).map(|_| Err(gone.into())).collect())
    };
    let mut results = results.into_iter();
    let responses = request
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let answer = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_message(None);
                    match results.next().unwrap_or(Ok(())) {
                        Ok(()) => answer,
                        Err(error) => answer
                            .with_error_code(error.wire_code())
                            .with_error_message(Some(error.message_or_default())),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(topic_name(&t.name))
                .with_partitions(partitions)
        })
        .collect();
    let mut response = AlterPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_allow_replication_factor_change(allow_rf_change)
        .with_responses(responses);
    if refused {
        let error = ResponseError::ClusterAuthorizationFailed;
        response.error_code = error.code();
        response.error_message = Some(StrBytes::from_static_str(crate::error::kafka_text(error)));
    }
    ctx.respond(&response)
}
