//! ListTransactions: the transactional ids every coordinator shard knows, filtered by
//! state, producer id, how long their transaction has been open (v1) and a regular
//! expression over the id (v2, a whole-id match as Java's `matches`). Only ids the
//! caller may DESCRIBE are listed.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId};

use super::{Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::protocol::str_bytes;
use crate::shard::now_ms;
use crate::txn::coordinator::Listing;
use crate::txn::state::TxnState;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<ListTransactionsRequest>(body) else {
        return Response::Close;
    };
    let (states, unknown): (Vec<_>, Vec<_>) = request
        .state_filters
        .iter()
        .map(|name| (name, TxnState::from_name(name)))
        .partition(|(_, state)| state.is_some());
    let states: Vec<TxnState> = states.into_iter().filter_map(|(_, s)| s).collect();
    let unknown = unknown.into_iter().map(|(name, _)| name.clone()).collect();
    let pattern = match request.transactional_id_pattern.as_deref() {
        None | Some("") => None,
        Some(pattern) => match crate::pattern::whole_names(pattern) {
            Ok(pattern) => Some(pattern),
            Err(_) => {
                let response = ListTransactionsResponse::default()
                    .with_error_code(ResponseError::InvalidRegularExpression.code());
                return ctx.respond(&response);
            }
        },
    };
    // Cross-shard: every shard coordinates the ids of its state partitions.
    let listed = match ctx
        .shard
        .invoke_on_all(|s| async move {
            match s.coordinator_loading_any(crate::txn::TRANSACTION_STATE_TOPIC) {
                true => Err(ResponseError::CoordinatorLoadInProgress),
                false => Ok(s.txns.list()),
            }
        })
        .await
        .map_err(|_| ResponseError::CoordinatorNotAvailable)
        .and_then(|per_shard| per_shard.into_iter().collect::<Result<Vec<_>, _>>())
    {
        Ok(listed) => listed,
        Err(error) => {
            let response = ListTransactionsResponse::default().with_error_code(error.code());
            return ctx.respond(&response);
        }
    };
    let now = now_ms();
    let wanted = |listing: &Listing| {
        let meta = &listing.meta;
        // Filters naming only unknown states match nothing, as Kafka's do.
        (request.state_filters.is_empty() || states.contains(&meta.state))
            && (request.producer_id_filters.is_empty()
                || request
                    .producer_id_filters
                    .contains(&ProducerId(meta.producer_id)))
            && (request.duration_filter < 0
                || now.saturating_sub(meta.start_ms) > request.duration_filter)
            && pattern
                .as_ref()
                .is_none_or(|p| p.is_match(&listing.transactional_id))
            && ctx.allowed(
                Operation::Describe,
                ResourceType::TransactionalId,
                &listing.transactional_id,
            )
    };
    let mut found: Vec<Listing> = listed.into_iter().flatten().filter(wanted).collect();
    found.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    let states = found
        .into_iter()
        .map(|listing| {
            TransactionState::default()
                .with_transactional_id(str_bytes(listing.transactional_id).into())
                .with_producer_id(ProducerId(listing.meta.producer_id))
                .with_transaction_state(str_bytes(listing.meta.state.name()))
        })
        .collect();
    ctx.respond(
        &ListTransactionsResponse::default()
            .with_unknown_state_filters(unknown)
            .with_transaction_states(states),
    )
}
