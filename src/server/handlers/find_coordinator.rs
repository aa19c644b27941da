//! FindCoordinator: which broker coordinates a consumer group, transactional id or
//! share group. With one broker it is this one, for every key the caller may DESCRIBE;
//! with a metadata quorum, the leader of the key's partition of the offsets or
//! transaction state topic. (Which of its shards runs a coordinator is decided inside
//! the broker and invisible to clients.)
//!
//! librdkafka also reads this API's presence as "the broker supports LZ4 framing
//! correctly", so it must be advertised for lz4-compressed produce.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::groups::offsets_partitions;
use super::txns::txn_partitions;
use super::{Ctx, Response};
use crate::acl::Operation::Describe;
use crate::acl::ResourceType;
use crate::cluster::snapshot::BrokerAddress;
use crate::group::OFFSETS_TOPIC;
use crate::txn::TRANSACTION_STATE_TOPIC;

pub const VERSIONS: RangeInclusive<i16> = 0..=6;

/// Key types: consumer group, transactional id (share groups, type 2, are not served:
/// INVALID_REQUEST, as Kafka answers where they are off).
const KEY_TYPES: RangeInclusive<i8> = 0..=1;
const TRANSACTION: i8 = 1;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<FindCoordinatorRequest>(body) else {
        return Response::Close;
    };
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
        let mut coordinators = Vec::with_capacity(request.coordinator_keys.len());
        for key in request.coordinator_keys {
            let found = match error(&key) {
                0 => coordinator(&ctx, key_type, &key).await,
                code => Err(code),
            };
            coordinators.push(match found {
                Ok(b) => Coordinator::default()
                    .with_error_message(Some(StrBytes::default()))
                    .with_key(key)
                    .with_node_id(BrokerId(b.id))
                    .with_host(StrBytes::from_string(b.host))
                    .with_port(b.port),
                Err(code) => Coordinator::default()
                    .with_error_message(Some(StrBytes::default()))
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code),
            });
        }
        FindCoordinatorResponse::default()
            .with_error_message(None)
            .with_coordinators(coordinators)
    } else {
        let found = match error(&request.key) {
            0 => coordinator(&ctx, key_type, &request.key).await,
            code => Err(code),
        };
        match found {
            Ok(b) => FindCoordinatorResponse::default()
                .with_error_message(default_text(ctx.version, 0))
                .with_node_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(b.host))
                .with_port(b.port),
            Err(code) => FindCoordinatorResponse::default()
                .with_error_message(default_text(ctx.version, code))
                .with_error_code(code)
                .with_node_id(BrokerId(-1))
                .with_port(-1),
        }
    };
    ctx.respond(&response)
}

/// Kafka's `error_message` before v4: the error's own description, "NONE" on success
/// (v0 has no message). From v4 each key's is an empty string, error or not.
fn default_text(version: i16, code: i16) -> Option<StrBytes> {
    let text = ResponseError::try_from_code(code).map_or("NONE", crate::error::kafka_text);
    (version >= 1).then(|| StrBytes::from_static_str(text))
}

/// The broker coordinating `key`: this one in a cluster of one; with a metadata quorum,
/// the leader of the key's partition of the offsets or transaction state topic
/// (created on first use, as Kafka does).
async fn coordinator(ctx: &Ctx, key_type: i8, key: &str) -> Result<BrokerAddress, i16> {
    let shard = &ctx.shard;
    let snapshot = shard.snapshot();
    if snapshot.layout().is_none() {
        let (host, port) = shard.advertised(&ctx.peer.listener);
        let id = snapshot.broker.node_id;
        let rack = snapshot.broker.broker_rack.clone();
        return Ok(BrokerAddress {
            id,
            host,
            port,
            rack,
        });
    }
    let (topic, partitions) = match key_type {
        TRANSACTION => (TRANSACTION_STATE_TOPIC, txn_partitions(shard).await),
        _ => (OFFSETS_TOPIC, offsets_partitions(shard).await),
    };
    let partitions = partitions.map_err(|e| e.code())?;
    let partition = crate::group::partition_for(key, partitions);
    let snapshot = shard.snapshot();
    let unavailable = ResponseError::CoordinatorNotAvailable.code();
    let leader = snapshot.leader_of(topic, partition).ok_or(unavailable)?;
    ctx.brokers(&snapshot)
        .into_iter()
        .find(|b| b.id == leader)
        .ok_or(unavailable)
}
