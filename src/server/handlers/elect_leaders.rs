//! ElectLeaders: preferred-leader election (the first replica takes the lead back when
//! it is in the ISR) or unclean election (a partition without a leader gets one from
//! outside the ISR), decided by the controller (shard 0) as Kafka's does. Kafka's
//! `kafka-leader-election.sh` and `shoal leader-election` send it; ALTER on the cluster
//! is required.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use super::{topic_name, Ctx, Response};
use crate::acl::Operation;
use crate::cluster::rules::Election;
use crate::cluster::ShardId;
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<ElectLeadersRequest>(body) else {
        return Response::Close;
    };
    let wanted: Option<Vec<(String, Vec<i32>)>> = request.topic_partitions.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.topic.0.to_string(), t.partitions))
            .collect()
    });
    // Before v1 the request had no election type: preferred.
    let election = match request.election_type {
        0 => Some(Election::Preferred),
        1 => Some(Election::Unclean),
        _ => None,
    };
    let refused = match (ctx.allowed_on_cluster(Operation::Alter), election) {
        (false, _) => Some(ResponseError::ClusterAuthorizationFailed),
        (true, None) => Some(ResponseError::InvalidRequest),
        (true, Some(_)) => None,
    };
    // Kafka's controller answers an empty (not null) list at once, before it reads
    // the election type.
    let nothing_asked = wanted.as_ref().is_some_and(|w| w.is_empty());
    if nothing_asked && refused != Some(ResponseError::ClusterAuthorizationFailed) {
        return ctx.respond(&ElectLeadersResponse::default());
    }
    let asked = wanted.clone().unwrap_or_default();
    let results = match (refused, election) {
        (None, Some(election)) => ctx
            .shard
            .invoke_on(ShardId(0), move |s| async move {
                s.controller().elect_leaders(&s, election, wanted).await
            })
            .await
            .map_err(|_| ResponseError::UnknownServerError),
        (refused, _) => Err(refused.unwrap_or(ResponseError::InvalidRequest)),
    };
    // Refused as a whole: every partition asked gets the error too (v0 has no error of
    // its own).
    let (error, results) = match results {
        Ok(results) => (None, results),
        Err(error) => {
            let each = |ps: Vec<i32>| ps.into_iter().map(|p| (p, Err(ApiError::code(error))));
            let results = asked
                .into_iter()
                .map(|(name, ps)| (name, each(ps).collect()))
                .collect();
            (Some(error), results)
        }
    };
    let results = results
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(partition, result)| {
                    let answer = PartitionResult::default()
                        .with_partition_id(partition)
                        .with_error_message(None);
                    match result {
                        Ok(()) => answer,
                        // Kafka sends the error's own message when it has no other.
                        Err(error) => answer
                            .with_error_code(error.wire_code())
                            .with_error_message(Some(error.message_or_default())),
                    }
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(topic_name(&name))
                .with_partition_result(partitions)
        })
        .collect();
    let mut response = ElectLeadersResponse::default().with_replica_election_results(results);
    // v0 has no error of its own: the partitions carry it.
    if ctx.version >= 1 {
        response.error_code = error.map_or(0, |e| e.code());
    }
    ctx.respond(&response)
}
