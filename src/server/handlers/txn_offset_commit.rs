//! TxnOffsetCommit: a transactional producer commits a consumer group's offsets as part
//! of its transaction (consume-transform-produce). The group's coordinator writes them
//! to the group's offsets partition in the transaction; they count once its commit
//! marker is written there, and never if it aborts. Up to version 4 clients send
//! AddOffsetsToTxn first and the partition is verified here (KIP-890); version 5
//! (transaction version 2) adds it to the transaction itself.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::groups::{commit_offsets, commit_results, home_of, new_offsets, opt_str, Home};
use super::{topic_name, txns, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::group::offsets::{Committer, InTxn};
use crate::group::{CommitKind, OFFSETS_TOPIC};

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<TxnOffsetCommitRequest>(body) else {
        return Response::Close;
    };
    let offsets = new_offsets!(request.topics);
    let shape: Vec<(String, i32)> = offsets
        .iter()
        .map(|o| (o.topic.clone(), o.partition))
        .collect();
    let errors = match admitted(&ctx, &request).await {
        Err(error) => vec![Some(error); offsets.len()],
        Ok((home, in_txn)) => {
            let committer = Committer {
                member_id: request.member_id.to_string(),
                instance_id: opt_str(request.group_instance_id.clone()),
                generation: request.generation_id,
                kind: CommitKind::Transactional,
            };
            let group_id = request.group_id.to_string();
            commit_offsets(&ctx, home, group_id, committer, offsets, Some(in_txn)).await
        }
    };
    let topics = commit_results(
        shape,
        errors,
        |partition, code| {
            TxnOffsetCommitResponsePartition::default()
                .with_partition_index(partition)
                .with_error_code(code)
        },
        |topic, partitions| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic_name(&topic))
                .with_partitions(partitions)
        },
    );
    ctx.respond(&TxnOffsetCommitResponse::default().with_topics(topics))
}

/// Kafka's checks before any offset: WRITE on the transactional id, READ on the group,
/// and (KIP-890) the group's offsets partition in the producer's transaction. Passes
/// the group's home and the commit's transaction.
async fn admitted(
    ctx: &Ctx,
    request: &TxnOffsetCommitRequest,
) -> Result<(Home, InTxn), ResponseError> {
    let id = request.transactional_id.to_string();
    if !ctx.allowed(Operation::Write, ResourceType::TransactionalId, &id) {
        return Err(ResponseError::TransactionalIdAuthorizationFailed);
    }
    let home = home_of(ctx, Operation::Read, &request.group_id).await?;
    let mut in_txn = InTxn {
        producer_id: request.producer_id.0,
        epoch: request.producer_epoch,
        verified: None,
    };
    let adds = ctx.version >= 5;
    let verifies = ctx
        .shard
        .snapshot()
        .broker
        .transaction_partition_verification_enable;
    if adds || verifies {
        let producer = (in_txn.producer_id, in_txn.epoch);
        let partition = vec![(OFFSETS_TOPIC.to_string(), home.partition)];
        let (verified, guards) = txns::check_writes(ctx, &id, producer, partition, adds).await;
        // Version 4 is the first to know TRANSACTION_ABORTABLE. A coordinator that is
        // busy or away answers in its own errors, which committers retry.
        let verified = txns::per_partition(verified, 1, ctx.version, 4);
        let outcome = verified
            .into_iter()
            .next()
            .unwrap_or(Err(ResponseError::UnknownServerError));
        outcome?;
        in_txn.verified = guards.into_iter().next();
    }
    Ok((home, in_txn))
}
