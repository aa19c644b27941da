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
use crate::partition::TxnGuard;
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
    let home = shard
        .snapshot()
        .shard_for(TRANSACTION_STATE_TOPIC, partition);
    super::groups::loaded(shard, home, TRANSACTION_STATE_TOPIC, partition).await?;
    Ok(TxnHome {
        shard: home,
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

/// Where the coordinator of `id` is when it is on another broker of the cluster: its
/// client listener's address, or why it cannot be reached. `None` when it is this
/// broker (or in a cluster of one).
pub async fn coordinator_elsewhere(
    shard: &Rc<Shard>,
    id: &str,
) -> Option<Result<String, ResponseError>> {
    let state_partition = match txn_partitions(shard).await {
        Ok(count) => group::partition_for(id, count),
        Err(error) => return Some(Err(error)),
    };
    let snapshot = shard.snapshot();
    let layout = snapshot.layout()?;
    let leader = snapshot.leader_of(TRANSACTION_STATE_TOPIC, state_partition);
    if leader == Some(layout.node) {
        return None;
    }
    let address = leader
        .and_then(|leader| layout.image.brokers.get(&leader))
        .and_then(|b| b.broker_address());
    Some(address.ok_or(ResponseError::CoordinatorNotAvailable))
}

/// KIP-890's check, or with `adds` transaction version 2's implicit add, at the
/// coordinator at `address` on another broker: one AddPartitionsToTxn (version 5, a
/// broker's, `verify_only` unless it adds), as Kafka's AddPartitionsToTxnManager sends
/// it. The coordinator there names no transaction number (0 here).
pub async fn ask_coordinator(
    shard: &Shard,
    address: &str,
    id: &str,
    producer: (i64, i16),
    partitions: &[(String, i32)],
    adds: bool,
) -> Verified {
    use kafka_protocol::messages::add_partitions_to_txn_request::{
        AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
    };
    use kafka_protocol::messages::{
        AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, ProducerId,
    };
    let mut topics: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
    for (topic, partition) in partitions {
        topics.entry(topic).or_default().push(*partition);
    }
    let topics = topics.into_iter().map(|(name, indexes)| {
        AddPartitionsToTxnTopic::default()
            .with_name(crate::protocol::str_bytes(name.to_string()).into())
            .with_partitions(indexes)
    });
    let transaction = AddPartitionsToTxnTransaction::default()
        .with_transactional_id(crate::protocol::str_bytes(id.to_string()).into())
        .with_producer_id(ProducerId(producer.0))
        .with_producer_epoch(producer.1)
        .with_verify_only(!adds)
        .with_topics(topics.collect());
    let request = AddPartitionsToTxnRequest::default().with_transactions(vec![transaction]);
    let api = (ApiKey::AddPartitionsToTxn, 5);
    let response: AddPartitionsToTxnResponse =
        match crate::replication::peer::call(shard, address, api, &request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%address, %error, "transaction coordinator not reached");
                return Err(ResponseError::CoordinatorNotAvailable);
            }
        };
    let code =
        |code: i16| ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError);
    if response.error_code != 0 {
        return Err(code(response.error_code));
    }
    // Each partition's error, found by name and index in the answer.
    let answered: Vec<(String, i32, i16)> = response
        .results_by_transaction
        .iter()
        .flat_map(|t| &t.topic_results)
        .flat_map(|t| {
            t.results_by_partition.iter().map(|p| {
                (
                    t.name.to_string(),
                    p.partition_index,
                    p.partition_error_code,
                )
            })
        })
        .collect();
    let each = partitions
        .iter()
        .map(|(topic, partition)| {
            let found = answered
                .iter()
                .find(|(t, p, _)| t == topic && p == partition);
            match found.map(|(_, _, error)| *error) {
                Some(0) => Ok(()),
                Some(error) => Err(code(error)),
                None => Err(ResponseError::UnknownServerError),
            }
        })
        .collect();
    Ok((0, each))
}

/// KIP-890's check that `partitions` are in transaction `id` of `producer` before a
/// write to them (or with `adds` transaction version 2's implicit add), at the id's
/// coordinator, here or on another broker; with each write's guard. Asked over the
/// network, a coordinator names no transaction number, so the guard is the markers each
/// partition had written before the question.
pub async fn check_writes(
    ctx: &Ctx,
    id: &str,
    producer: (i64, i16),
    partitions: Vec<(String, i32)>,
    adds: bool,
) -> (Verified, Vec<TxnGuard>) {
    let count = partitions.len();
    match coordinator_elsewhere(&ctx.shard, id).await {
        Some(Ok(address)) => {
            let seen = markers_written(&ctx.shard, &partitions, producer.0).await;
            let verified =
                ask_coordinator(&ctx.shard, &address, id, producer, &partitions, adds).await;
            (verified, seen.into_iter().map(TxnGuard::Markers).collect())
        }
        Some(Err(error)) => (Err(error), vec![TxnGuard::Markers(0); count]),
        None => {
            let verified = match adds {
                true => add_implicitly(ctx, id, producer, partitions).await,
                false => verify(ctx, id, producer, partitions).await,
            };
            let number = verified.as_ref().map_or(0, |(number, _)| *number);
            (verified, vec![TxnGuard::Number(number); count])
        }
    }
}

/// The markers each of `partitions` has written for `producer_id`, asked of the shards
/// owning them (0 for a partition not here: its write is refused there anyway).
async fn markers_written(
    shard: &Rc<Shard>,
    partitions: &[(String, i32)],
    producer_id: i64,
) -> Vec<u64> {
    let mut written = Vec::with_capacity(partitions.len());
    for (topic, index) in partitions {
        let owner = shard.snapshot().shard_for(topic, *index);
        let (topic, index) = (topic.clone(), *index);
        // Cross-shard: the partition's state lives on the shard owning it.
        let count = shard
            .invoke_on(owner, move |s| async move {
                s.partition(&topic, index)
                    .map_or(0, |p| p.markers_written(producer_id))
            })
            .await
            .unwrap_or(0);
        written.push(count);
    }
    written
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
