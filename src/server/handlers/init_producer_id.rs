//! InitProducerId: a producer id and epoch for an idempotent producer (any broker hands
//! one out, from its shard's block of ids), or, with a transactional id, from that id's
//! transaction coordinator, which fences older producers of the same id.
//! Versions before 4 know PRODUCER_FENCED as INVALID_PRODUCER_EPOCH.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::{txns, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<InitProducerIdRequest>(body) else {
        return Response::Close;
    };
    let answer = match &request.transactional_id {
        None => idempotent(&ctx, &request).await,
        Some(id) => transactional(&ctx, id.to_string(), &request)
            .await
            .map_err(|error| txns::for_version(error, ctx.version, 4)),
    };
    let response = match answer {
        Ok((id, epoch)) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(epoch),
        Err(error) => InitProducerIdResponse::default()
            .with_error_code(error.wire_code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    };
    ctx.respond(&response)
}

/// A transactional producer gets its id's producer id and a new epoch from the id's
/// coordinator, which fences any older producer of the id.
async fn transactional(
    ctx: &Ctx,
    id: String,
    request: &InitProducerIdRequest,
) -> Result<(i64, i16), ApiError> {
    if !ctx.allowed(Operation::Write, ResourceType::TransactionalId, &id) {
        return Err(ApiError::code(
            ResponseError::TransactionalIdAuthorizationFailed,
        ));
    }
    // Kafka's order: the producer id and epoch given (both or neither), then, at the
    // coordinator, an empty id and the timeout.
    let expected = producer_pair(request)?;
    if id.is_empty() {
        return Err(ApiError::code(ResponseError::InvalidRequest));
    }
    let timeout_ms = request.transaction_timeout_ms;
    let max_ms = ctx.shard.snapshot().broker.transaction_max_timeout_ms;
    if timeout_ms <= 0 || i64::from(timeout_ms) > max_ms {
        return Err(ApiError::new(
            ResponseError::InvalidTransactionTimeout,
            format!("transaction.timeout.ms {timeout_ms} is outside 1..={max_ms}"),
        ));
    }
    let home = txns::txn_home(&ctx.shard, &id).await?;
    // Cross-shard: the id's coordinator is the shard owning its state partition.
    ctx.shard
        .invoke_on(home.shard, move |s| async move {
            s.txns
                .init_producer_id(&s, &id, home.partition, timeout_ms, expected)
                .await
        })
        .await?
}

/// The producer id and epoch a request names: both, or neither (`None`), else
/// INVALID_REQUEST, for any producer.
fn producer_pair(request: &InitProducerIdRequest) -> Result<Option<(i64, i16)>, ApiError> {
    match (request.producer_id.0, request.producer_epoch) {
        (-1, -1) => Ok(None),
        (-1, _) | (_, -1) => Err(ApiError::code(ResponseError::InvalidRequest)),
        (producer_id, epoch) => Ok(Some((producer_id, epoch))),
    }
}

/// An idempotent producer gets a fresh id at epoch 0, whatever id it had (it bumps its
/// epoch itself, KIP-360). Kafka's rules: IDEMPOTENT_WRITE on the cluster, or WRITE on
/// some topic; then the producer id and epoch, both or neither.
async fn idempotent(ctx: &Ctx, request: &InitProducerIdRequest) -> Result<(i64, i16), ApiError> {
    let allowed = ctx.allowed_on_cluster(Operation::IdempotentWrite)
        || ctx.allowed_on_any(Operation::Write, ResourceType::Topic);
    if !allowed {
        return Err(ApiError::code(ResponseError::ClusterAuthorizationFailed));
    }
    producer_pair(request)?;
    Ok((ctx.shard.new_producer_id().await?, 0))
}
