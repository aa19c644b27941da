//! DescribeTransactions: a transactional id's state at its coordinator (state, timeout,
//! start time, producer id and epoch, partitions), as `kafka-transactions.sh describe`
//! shows it.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TransactionalId,
};

use super::{group_by_topic, topic_name, txns, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::protocol::str_bytes;
use crate::txn::state::TxnMeta;
use crate::txn::TRANSACTION_STATE_TOPIC;

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeTransactionsRequest>(body) else {
        return Response::Close;
    };
    let mut states = Vec::with_capacity(request.transactional_ids.len());
    for id in request.transactional_ids {
        let state = match describe(&ctx, &id).await {
            Ok(meta) => described(meta),
            Err(error) => TransactionState::default().with_error_code(error.code()),
        };
        states.push(state.with_transactional_id(id));
    }
    ctx.respond(&DescribeTransactionsResponse::default().with_transaction_states(states))
}

async fn describe(ctx: &Ctx, id: &TransactionalId) -> Result<TxnMeta, ResponseError> {
    let id = id.to_string();
    if !ctx.allowed(Operation::Describe, ResourceType::TransactionalId, &id) {
        return Err(ResponseError::TransactionalIdAuthorizationFailed);
    }
    // No state topic yet: no transactional id was ever used.
    if ctx
        .shard
        .snapshot()
        .topic(TRANSACTION_STATE_TOPIC)
        .is_none()
    {
        return Err(ResponseError::TransactionalIdNotFound);
    }
    let home = txns::txn_home(&ctx.shard, &id).await?;
    // Cross-shard: the id's coordinator is the shard owning its state partition.
    ctx.shard
        .invoke_on(home.shard, move |s| async move { s.txns.describe(&id) })
        .await
        .map_err(|_| ResponseError::CoordinatorNotAvailable)?
        .ok_or(ResponseError::TransactionalIdNotFound)
}

fn described(meta: TxnMeta) -> TransactionState {
    let topics = group_by_topic(meta.partitions.iter().cloned(), |topic, partitions| {
        TopicData::default()
            .with_topic(topic_name(&topic))
            .with_partitions(partitions)
    });
    TransactionState::default()
        .with_transaction_state(str_bytes(meta.state.name()))
        .with_transaction_timeout_ms(meta.timeout_ms)
        .with_transaction_start_time_ms(meta.start_ms)
        .with_producer_id(ProducerId(meta.producer_id))
        .with_producer_epoch(meta.producer_epoch)
        .with_topics(topics)
}
