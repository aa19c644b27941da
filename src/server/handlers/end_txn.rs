//! EndTxn: commits or aborts a producer's transaction at its coordinator, which
//! answers once the markers are written to every partition of the transaction.
//! Served up to version 4: version 5 is KIP-890's second part (an epoch bump at every
//! transaction's end), which clients use only when the broker finalizes
//! `transaction.version` 2, and shoal does not.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use super::{txns, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<EndTxnRequest>(body) else {
        return Response::Close;
    };
    let code = match end(&ctx, &request).await {
        Ok(()) => 0,
        Err(error) => txns::for_version(error, ctx.version, 2).wire_code(),
    };
    ctx.respond(&EndTxnResponse::default().with_error_code(code))
}

async fn end(ctx: &Ctx, request: &EndTxnRequest) -> Result<(), ApiError> {
    let id = request.transactional_id.to_string();
    if !ctx.allowed(Operation::Write, ResourceType::TransactionalId, &id) {
        return Err(ApiError::code(
            ResponseError::TransactionalIdAuthorizationFailed,
        ));
    }
    let home = txns::txn_home(&ctx.shard, &id).await?;
    let (producer_id, epoch, commit) = (
        request.producer_id.0,
        request.producer_epoch,
        request.committed,
    );
    // Cross-shard: the id's coordinator is the shard owning its state partition.
    ctx.shard
        .invoke_on(home.shard, move |s| async move {
            s.txns.end(&s, &id, producer_id, epoch, commit).await
        })
        .await?
}
