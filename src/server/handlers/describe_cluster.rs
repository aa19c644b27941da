//! DescribeCluster: this broker, the cluster id and the controller.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};
use crate::acl::{Operation, ResourceType, CLUSTER_NAME};

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeClusterRequest>(body) else {
        return Response::Close;
    };
    let snapshot = ctx.shard.snapshot();
    let node = BrokerId(snapshot.broker.node_id);
    let (host, port) = ctx.shard.advertised();
    let response = DescribeClusterResponse::default()
        .with_endpoint_type(request.endpoint_type)
        .with_cluster_id(StrBytes::from_string(snapshot.cluster_id().to_string()))
        .with_controller_id(node)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(node)
            .with_host(StrBytes::from_string(host))
            .with_port(port)]);
    // Kafka reports the cluster's operations only to who may describe it.
    let operations = match request.include_cluster_authorized_operations {
        true if !ctx.allowed_on_cluster(Operation::Describe) => 0,
        requested => {
            ctx.authorized_operations(&snapshot, requested, ResourceType::Cluster, CLUSTER_NAME)
        }
    };
    ctx.respond(&response.with_cluster_authorized_operations(operations))
}
