//! What the transaction handlers share: where a transactional id is coordinated (the
//! shard owning its `__transaction_state` partition, created on first use), the
//! version-dependent error Kafka answers older clients with, and KIP-890's check that
//! a transactional write goes to a partition its transaction holds.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use super::groups::create_internal_topic;
use super::Ctx;
use crate::cluster::ShardId;
use crate::error::ApiError;
use crate::group;
use crate::shard::Shard;
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
    let partitions = match shard.snapshot().topic(TRANSACTION_STATE_TOPIC) {
        Some(meta) => meta.partitions,
        None => {
            let broker = &shard.snapshot().broker;
            let partitions = broker.transaction_state_log_num_partitions;
            let segment_bytes = broker.transaction_state_log_segment_bytes;
            create_internal_topic(
                shard,
                TRANSACTION_STATE_TOPIC,
                partitions,
                segment_bytes,
                "uncompressed",
            )
            .await?
        }
    };
    let partition = group::partition_for(id, partitions);
    Ok(TxnHome {
        shard: shard
            .snapshot()
            .shard_for(TRANSACTION_STATE_TOPIC, partition),
        partition,
    })
}

/// AddPartitionsToTxn and AddOffsetsToTxn at the id's coordinator: `partitions` join
/// the transaction of `producer` (id, epoch).
pub async fn add_to_txn(
    ctx: &Ctx,
    id: &str,
    (producer_id, epoch): (i64, i16),
    partitions: Vec<(String, i32)>,
) -> Result<(), ApiError> {
    let home = txn_home(&ctx.shard, id).await?;
    let id = id.to_string();
    // Cross-shard: the id's coordinator is the shard owning its state partition.
    ctx.shard
        .invoke_on(home.shard, move |s| async move {
            s.txns
                .add_partitions(&s, &id, producer_id, epoch, partitions)
                .await
        })
        .await?
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

/// KIP-890's check (`transaction.partition.verification.enable`) that `partitions`
/// were added to the transaction `id` of `producer` (id, epoch) before a write to them:
/// one outcome per partition, in Kafka's produce errors (`abortable_since`: the first
/// version of the request that knows TRANSACTION_ABORTABLE; older ones get
/// INVALID_TXN_STATE). A partition that passes gets the transaction's number, the
/// guard its write carries.
pub async fn verify(
    ctx: &Ctx,
    id: &str,
    producer: (i64, i16),
    partitions: Vec<(String, i32)>,
    abortable_since: i16,
) -> Vec<Result<u64, ApiError>> {
    let count = partitions.len();
    let checked = match txn_home(&ctx.shard, id).await {
        Err(error) => Err(error),
        Ok(home) => {
            let id = id.to_string();
            // Cross-shard: the transaction's state lives with its coordinator.
            ctx.shard
                .invoke_on(home.shard, move |s| async move {
                    s.txns.verify(&id, producer.0, producer.1, &partitions)
                })
                .await
                .unwrap_or(Err(ResponseError::CoordinatorNotAvailable))
        }
    };
    let produce_error = |error: ResponseError| {
        let code = match error {
            ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
            ResponseError::TransactionAbortable if ctx.version < abortable_since => {
                ResponseError::InvalidTxnState
            }
            ResponseError::TransactionAbortable | ResponseError::InvalidProducerIdMapping => error,
            ResponseError::InvalidTxnState => error,
            // The coordinator is busy or away: the client retries.
            _ => ResponseError::NotEnoughReplicas,
        };
        let message = match code {
            ResponseError::InvalidTxnState | ResponseError::TransactionAbortable => {
                "Partition was not added to the transaction".to_string()
            }
            _ => format!(
                "Unable to verify the partition has been added to the transaction: {error:?}"
            ),
        };
        ApiError::new(code, message)
    };
    match checked {
        Ok((number, each)) => each
            .into_iter()
            .map(|r| r.map(|()| number).map_err(produce_error))
            .collect(),
        Err(error) => (0..count).map(|_| Err(produce_error(error))).collect(),
    }
}
