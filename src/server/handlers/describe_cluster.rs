//! DescribeCluster: the cluster id, the active controller and the brokers. A cluster of
//! one is this broker; with a quorum of several voters, the brokers registered and not
//! fenced in the metadata image, and the quorum's leader as the controller.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};
use crate::acl::{Operation, ResourceType, CLUSTER_NAME};
use crate::cluster::ShardId;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// v1's endpoint types.
const BROKER_ENDPOINT: i8 = 1;
const CONTROLLER_ENDPOINT: i8 = 2;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeClusterRequest>(body) else {
        return Response::Close;
    };
    // v1's endpoint type: this is a broker's endpoint (controllers speak only the
    // quorum's own frames), so asking for a controller's is the mismatch Kafka names.
    let refusal = match request.endpoint_type {
        BROKER_ENDPOINT => None,
        CONTROLLER_ENDPOINT => Some((
            ResponseError::MismatchedEndpointType,
            "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER".to_string(),
        )),
        other => Some((
            ResponseError::UnsupportedEndpointType,
            format!("Unsupported endpoint type {other}"),
        )),
    };
    if let Some((error, message)) = refusal {
        return ctx.respond(
            &DescribeClusterResponse::default()
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message)))
                .with_endpoint_type(request.endpoint_type),
        );
    }
    let snapshot = ctx.shard.snapshot();
    let node = snapshot.broker.node_id;
    // Cross-shard: the quorum's image lives with the controller on shard 0.
    // v2 (KIP-1073): the fenced brokers too, marked, when asked.
    let with_fenced = request.include_fenced_brokers;
    let registered = ctx
        .shard
        .invoke_on(ShardId(0), move |s| async move {
            s.controller().registered_brokers(with_fenced)
        })
        .await
        .ok()
        .flatten();
    // Each broker at its address on the listener the client came in on.
    let listener = &ctx.peer.listener;
    let (controller, brokers) = match registered {
        Some(known) => {
            let at_listener = known.brokers.iter().filter_map(|(id, b)| {
                let (host, port) = b.endpoint(listener)?;
                let address = (host.to_string(), i32::from(port), b.rack.clone());
                Some((*id, address, b.fenced))
            });
            (known.controller, at_listener.collect::<Vec<_>>())
        }
        None => {
            let (host, port) = ctx.shard.advertised(listener);
            let rack = snapshot.broker.broker_rack.clone();
            (node, vec![(node, (host, port, rack), false)])
        }
    };
    // A controller the client cannot reach on its listener is none to it, as Kafka says.
    let controller = match brokers
        .iter()
        .any(|(id, _, fenced)| *id == controller && !fenced)
    {
        true => controller,
        false => -1,
    };
    let brokers = brokers
        .into_iter()
        .map(|(id, (host, port, rack), fenced)| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(id))
                .with_host(StrBytes::from_string(host))
                .with_port(port)
                .with_rack(rack.map(StrBytes::from_string))
                .with_is_fenced(fenced)
        })
        .collect();
    let response = DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(StrBytes::from_string(snapshot.cluster_id().to_string()))
        .with_controller_id(BrokerId(controller))
        .with_brokers(brokers);
    // Kafka reports the cluster's operations only to who may describe it.
    let operations = match request.include_cluster_authorized_operations {
        true if !ctx.allowed_on_cluster(Operation::Describe) => 0,
        requested => {
            ctx.authorized_operations(&snapshot, requested, ResourceType::Cluster, CLUSTER_NAME)
        }
    };
    ctx.respond(&response.with_cluster_authorized_operations(operations))
}
