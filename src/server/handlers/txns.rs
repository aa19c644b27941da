//! What the transaction handlers share: where a transactional id is coordinated (the
//! shard owning its `__transaction_state` partition, created on first use), the
//! version-dependent error Kafka answers older clients with, and KIP-890's check that
//! a transactional write goes to a partition its transaction holds.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use super::groups::{create_internal_topic, led_here};
use super::Ctx;
use crate::cluster::ShardId;
use crate::error::ApiError;
use crate::group;
use crate::shard::Shard;
use crate::txn::state::TV2;
use crate::txn::{TRANSACTIONAL_ID_BYTES_MAX, TRANSACTION_STATE_TOPIC};

/// Where a transactional id lives: the shard coordinating it and its state partition.
#[derive(Debug, Clone, Copy)]
pub struct TxnHome {
    pub shard: ShardId,
    pub partition: i32,
}

pub async fn txn_home(shard: &Rc<Shard>, id: &str) -> Result<TxnHome, ResponseError> {
    if id.is_empty() || id.len() > TRANSACTIONAL_ID_BYTES_MAX {
        return Err(ResponseError::InvalidRequest);
    }
    let partition = group::partition_for(id, txn_partitions(shard).await?);
    led_here(shard, TRANSACTION_STATE_TOPIC, partition)?;
    Ok(TxnHome {
        shard: shard
            .snapshot()
            .shard_for(TRANSACTION_STATE_TOPIC, partition),
        partition,
    })
}

/// The transaction state topic's partition count; the topic is created on first use.
pub async fn txn_partitions(shard: &Rc<Shard>) -> Result<i32, ResponseError> {
    if let Some(meta) = shard.snapshot().topic(TRANSACTION_STATE_TOPIC) {
        return Ok(meta.partitions);
    }
    let broker = &shard.snapshot().broker;
    let partitions = broker.transaction_state_log_num_partitions;
    let segment_bytes = broker.transaction_state_log_segment_bytes;
    let replication = broker.transaction_state_log_replication_factor;
    create_internal_topic(
        shard,
        TRANSACTION_STATE_TOPIC,
        (partitions, replication),
        segment_bytes,
        "uncompressed",
    )
    .await
}

/// AddPartitionsToTxn and AddOffsetsToTxn (`client_version` 0), or a write of
/// transaction version 2 adding its partitions itself (`client_version` 2), at the
/// id's coordinator: `partitions` join the transaction of `producer` (id, epoch).
/// Returns the transaction's number, the guard of writes to them.
pub async fn add_to_txn(
    ctx: &Ctx,
    id: &str,
    producer: (i64, i16),
    partitions: Vec<(String, i32)>,
    client_version: i16,
) -> Result<u64, ApiError> {
    let home = txn_home(&ctx.shard, id).await?;
    let id = id.to_string();
    // Cross-shard: the id's coordinator is the shard owning its state partition.
    ctx.shard
        .invoke_on(home.shard, move |s| async move {
            s.txns
                .add_partitions(&s, &id, producer, partitions, client_version)
                .await
        })
        .await?
}

/// A write of transaction version 2 (Produce v12, TxnOffsetCommit v5) adds its
/// partitions to the transaction itself; the outcome in `Verified`'s shape, one
/// per partition.
pub async fn add_implicitly(
    ctx: &Ctx,
    id: &str,
    producer: (i64, i16),
    partitions: Vec<(String, i32)>,
) -> Verified {
    let count = partitions.len();
    match add_to_txn(ctx, id, producer, partitions, TV2).await {
        Ok(number) => Ok((number, vec![Ok(()); count])),
        Err(error) => Err(error.code),
    }
}

/// Clients older than `fenced_since` know PRODUCER_FENCED as INVALID_PRODUCER_EPOCH.
pub fn for_version(error: ApiError, version: i16, fenced_since: i16) -> ApiError {
    if error.code == ResponseError::ProducerFenced && version < fenced_since {
        return ApiError {
            code: ResponseError::InvalidProducerEpoch,
            ..error
        };
    }
    error
}

/// What a transaction's coordinator answers KIP-890's check: an error for the whole
/// request, or the transaction's number (the guard a verified write carries) and an
/// outcome per partition.
pub type Verified = Result<(u64, Vec<Result<(), ResponseError>>), ResponseError>;

/// KIP-890's check (`transaction.partition.verification.enable`) that `partitions`
/// were added to the transaction `id` of `producer` (id, epoch) before a write to them,
/// at the id's coordinator, in the coordinator's own errors.
pub async fn verify(
    ctx: &Ctx,
    id: &str,
    producer: (i64, i16),
    partitions: Vec<(String, i32)>,
) -> Verified {
    let home = txn_home(&ctx.shard, id).await?;
    let id = id.to_string();
    // Cross-shard: the transaction's state lives with its coordinator.
    ctx.shard
        .invoke_on(home.shard, move |s| async move {
            s.txns.verify(&id, producer.0, producer.1, &partitions)
        })
        .await
        .unwrap_or(Err(ResponseError::CoordinatorNotAvailable))
}

/// `verified` for each of `count` partitions, as the writing broker passes it on:
/// PRODUCER_FENCED as INVALID_PRODUCER_EPOCH, and TRANSACTION_ABORTABLE as
/// INVALID_TXN_STATE to a request older than `abortable_since` (the first version that
/// knows it).
pub fn per_partition(
    verified: Verified,
    count: usize,
    version: i16,
    abortable_since: i16,
) -> Vec<Result<u64, ResponseError>> {
    let passed_on = |error| match error {
        ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        ResponseError::TransactionAbortable if version < abortable_since => {
            ResponseError::InvalidTxnState
        }
        other => other,
    };
    match verified {
        Ok((number, each)) => each
            .into_iter()
            .map(|r| r.map(|()| number).map_err(passed_on))
            .collect(),
        Err(error) => vec![Err(passed_on(error)); count],
    }
}
