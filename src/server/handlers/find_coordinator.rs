//! FindCoordinator: which broker coordinates a consumer group, transactional id or
//! share group. With one broker it is this one, for every key the caller may DESCRIBE.
//! (Which of its shards runs a coordinator is decided inside the broker and invisible
//! to clients.)
//!
//! librdkafka also reads this API's presence as "the broker supports LZ4 framing
//! correctly", so it must be advertised for lz4-compressed produce.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};
use crate::acl::Operation::Describe;
use crate::acl::ResourceType;

pub const VERSIONS: RangeInclusive<i16> = 0..=6;

/// Key types: consumer group, transactional id, share group.
const KEY_TYPES: RangeInclusive<i8> = 0..=2;
const TRANSACTION: i8 = 1;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<FindCoordinatorRequest>(body) else {
        return Response::Close;
    };
    let node = BrokerId(ctx.shard.snapshot().broker.node_id);
    let (host, port) = ctx.shard.advertised();
    let key_type = request.key_type;
    let error = |key: &str| match key_type {
        _ if !KEY_TYPES.contains(&key_type) => ResponseError::InvalidRequest.code(),
        TRANSACTION if !ctx.allowed(Describe, ResourceType::TransactionalId, key) => {
            ResponseError::TransactionalIdAuthorizationFailed.code()
        }
        TRANSACTION => 0,
        _ if !ctx.allowed(Describe, ResourceType::Group, key) => {
            ResponseError::GroupAuthorizationFailed.code()
        }
        _ => 0,
    };
    let response = if ctx.version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| match error(&key) {
                0 => Coordinator::default()
                    .with_error_message(None)
                    .with_key(key)
                    .with_node_id(node)
                    .with_host(StrBytes::from_string(host.clone()))
                    .with_port(port),
                code => Coordinator::default()
                    .with_error_message(None)
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code),
            })
            .collect();
        FindCoordinatorResponse::default()
            .with_error_message(None)
            .with_coordinators(coordinators)
    } else {
        match error(&request.key) {
            0 => FindCoordinatorResponse::default()
                .with_error_message(None)
                .with_node_id(node)
                .with_host(StrBytes::from_string(host))
                .with_port(port),
            code => FindCoordinatorResponse::default()
                .with_error_message(None)
                .with_error_code(code)
                .with_node_id(BrokerId(-1))
                .with_port(-1),
        }
    };
    ctx.respond(&response)
}
