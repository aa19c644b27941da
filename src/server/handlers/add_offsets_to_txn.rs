//! AddOffsetsToTxn: a consumer group's offsets partition joins a producer's
//! transaction, so TxnOffsetCommit may write the group's offsets in it.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::groups::offsets_partition_of;
use super::{txns, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;
use crate::group::OFFSETS_TOPIC;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<AddOffsetsToTxnRequest>(body) else {
        return Response::Close;
    };
    let code = match add(&ctx, &request).await {
        Ok(()) => 0,
        Err(error) => txns::for_version(error, ctx.version, 2).wire_code(),
    };
    ctx.respond(&AddOffsetsToTxnResponse::default().with_error_code(code))
}

async fn add(ctx: &Ctx, request: &AddOffsetsToTxnRequest) -> Result<(), ApiError> {
    let id = request.transactional_id.to_string();
    if !ctx.allowed(Operation::Write, ResourceType::TransactionalId, &id) {
        return Err(ApiError::code(
            ResponseError::TransactionalIdAuthorizationFailed,
        ));
    }
    // The group may be coordinated on another broker: only its partition matters here.
    let partition = offsets_partition_of(ctx, Operation::Read, &request.group_id).await?;
    let producer = (request.producer_id.0, request.producer_epoch);
    let partitions = vec![(OFFSETS_TOPIC.to_string(), partition)];
    txns::add_to_txn(ctx, &id, producer, partitions, 0).await?;
    Ok(())
}
