//! WriteTxnMarkers: commit or abort markers written to the partitions named, as a
//! coordinator on another broker writes them, or an operator aborting a hanging
//! transaction (`kafka-transactions.sh abort`, Admin.abortTransaction). Needs
//! CLUSTER_ACTION, as in Kafka.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::{group_by_topic, on_owning_shards, topic_name, Ctx, Response};
use crate::acl::Operation;
use crate::error::ApiError;
use crate::partition::MarkerSpec;
use crate::txn::coordinator::write_marker;

pub const VERSIONS: RangeInclusive<i16> = 1..=1;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<WriteTxnMarkersRequest>(body) else {
        return Response::Close;
    };
    // Kafka lets ALTER on the cluster write markers too (an operator's abort).
    let allowed = ctx.allowed_on_cluster(Operation::Alter)
        || ctx.allowed_on_cluster(Operation::ClusterAction);
    let mut markers = Vec::with_capacity(request.markers.len());
    for marker in request.markers {
        let spec = MarkerSpec {
            producer_id: marker.producer_id.0,
            producer_epoch: marker.producer_epoch,
            coordinator_epoch: marker.coordinator_epoch,
            commit: marker.transaction_result,
            txn_number: None,
        };
        let partitions: Vec<(String, i32)> = marker
            .topics
            .iter()
            .flat_map(|t| t.partition_indexes.iter().map(|p| (t.name.to_string(), *p)))
            .collect();
        let outcomes: Vec<Result<(), ApiError>> = if allowed {
            // Cross-shard: each marker is written by the shard that owns its partition.
            on_owning_shards(
                &ctx.shard,
                partitions.clone(),
                |(topic, p)| (topic.as_str(), *p),
                move |s, (topic, p)| async move {
                    if s.partition(&topic, p).is_none() {
                        return Err(ApiError::code(ResponseError::UnknownTopicOrPartition));
                    }
                    write_marker(s, topic, p, spec).await
                },
                |gone| Err(gone.into()),
            )
            .await
        } else {
            let refused = ApiError::code(ResponseError::ClusterAuthorizationFailed);
            partitions.iter().map(|_| Err(refused.clone())).collect()
        };
        let results = partitions
            .into_iter()
            .zip(outcomes)
            .map(|((topic, p), outcome)| {
                let code = outcome.err().map_or(0, |e| e.wire_code());
                let result = WritableTxnMarkerPartitionResult::default()
                    .with_partition_index(p)
                    .with_error_code(code);
                (topic, result)
            });
        let topics = group_by_topic(results, |topic, partitions| {
            WritableTxnMarkerTopicResult::default()
                .with_name(topic_name(&topic))
                .with_partitions(partitions)
        });
        markers.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(marker.producer_id)
                .with_topics(topics),
        );
    }
    ctx.respond(&WriteTxnMarkersResponse::default().with_markers(markers))
}
