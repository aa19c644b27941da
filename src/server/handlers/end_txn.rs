//! EndTxn: commits or aborts a producer's transaction at its coordinator, which
//! answers once the markers are written to every partition of the transaction.
//! Version 5 is transaction version 2 (KIP-890's second part): the epoch is bumped at
//! every end, and the answer carries the producer id and epoch to go on with.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::{txns, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<EndTxnRequest>(body) else {
        return Response::Close;
    };
    let response = match end(&ctx, &request).await {
        Ok((producer_id, epoch)) => EndTxnResponse::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(epoch),
        Err(error) => EndTxnResponse::default()
            .with_error_code(txns::for_version(error, ctx.version, 2).wire_code()),
    };
    ctx.respond(&response)
}

async fn end(ctx: &Ctx, request: &EndTxnRequest) -> Result<(i64, i16), ApiError> {
    let id = request.transactional_id.to_string();
    if !ctx.allowed(Operation::Write, ResourceType::TransactionalId, &id) {
        return Err(ApiError::code(
            ResponseError::TransactionalIdAuthorizationFailed,
        ));
    }
    let home = txns::txn_home(&ctx.shard, &id).await?;
    let producer = (request.producer_id.0, request.producer_epoch);
    let (commit, tv2) = (request.committed, ctx.version >= 5);
    // Cross-shard: the id's coordinator is the shard owning its state partition.
    ctx.shard
        .invoke_on(home.shard, move |s| async move {
            s.txns.end(&s, &id, producer, commit, tv2).await
        })
        .await?
}
