//! AddPartitionsToTxn: partitions join a producer's transaction, at its coordinator.
//! Versions 0-3 come from clients (one transaction); 4 and 5 from brokers, batched and
//! maybe only verifying (KIP-890), which needs CLUSTER_ACTION. One error answers every
//! partition of a transaction; partitions the caller may not write, or that do not
//! exist, fail alone and the others get OPERATION_NOT_ATTEMPTED, as in Kafka.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::{group_by_topic, topic_name, txns, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::txn::state::TV2;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

/// One transaction's request, whatever the version.
struct Add {
    id: String,
    producer: (i64, i16),
    verify_only: bool,
    partitions: Vec<(String, i32)>,
    /// A client's request (versions 0 to 3): the caller needs WRITE on the id and
    /// each topic. A broker's (version 4 on) needed CLUSTER_ACTION instead.
    client: bool,
}

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<AddPartitionsToTxnRequest>(body) else {
        return Response::Close;
    };
    if ctx.version <= 3 {
        let add = Add {
            id: request.v3_and_below_transactional_id.to_string(),
            producer: (
                request.v3_and_below_producer_id.0,
                request.v3_and_below_producer_epoch,
            ),
            verify_only: false,
            partitions: flatten(&request.v3_and_below_topics),
            client: true,
        };
        let results = add_one(&ctx, &add).await;
        let response = AddPartitionsToTxnResponse::default()
            .with_results_by_topic_v3_and_below(topic_results(results));
        return ctx.respond(&response);
    }
    if !ctx.allowed_on_cluster(Operation::ClusterAction) {
        let response = AddPartitionsToTxnResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
        return ctx.respond(&response);
    }
    let mut by_transaction = Vec::new();
    for txn in &request.transactions {
        let add = Add {
            id: txn.transactional_id.to_string(),
            producer: (txn.producer_id.0, txn.producer_epoch),
            verify_only: txn.verify_only,
            partitions: flatten(&txn.topics),
            client: false,
        };
        let results = add_one(&ctx, &add).await;
        by_transaction.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(txn.transactional_id.clone())
                .with_topic_results(topic_results(results)),
        );
    }
    ctx.respond(&AddPartitionsToTxnResponse::default().with_results_by_transaction(by_transaction))
}

fn flatten(topics: &[AddPartitionsToTxnTopic]) -> Vec<(String, i32)> {
    topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.name.to_string(), *p)))
        .collect()
}

/// The error of each partition of one transaction's request, in order.
async fn add_one(ctx: &Ctx, add: &Add) -> Vec<((String, i32), i16)> {
    let answer = |code: i16| -> Vec<((String, i32), i16)> {
        add.partitions.iter().map(|p| (p.clone(), code)).collect()
    };
    if add.client && !ctx.allowed(Operation::Write, ResourceType::TransactionalId, &add.id) {
        return answer(ResponseError::TransactionalIdAuthorizationFailed.code());
    }
    let snapshot = ctx.shard.snapshot();
    // Kafka leaves internal topics out of a client's writable topics: a transaction
    // holds their partitions only through AddOffsetsToTxn.
    let writable = |topic: &str| {
        !crate::group::is_internal_topic(topic)
            && ctx.allowed_in(&snapshot, Operation::Write, ResourceType::Topic, topic)
    };
    let refusals: Vec<Option<ResponseError>> = add
        .partitions
        .iter()
        .map(|(topic, partition)| {
            if add.client && !writable(topic) {
                Some(ResponseError::TopicAuthorizationFailed)
            } else if !snapshot.has_partition(topic, *partition) {
                Some(ResponseError::UnknownTopicOrPartition)
            } else {
                None
            }
        })
        .collect();
    if refusals.iter().any(Option::is_some) {
        return add
            .partitions
            .iter()
            .cloned()
            .zip(refusals)
            .map(|(p, refusal)| {
                let code = refusal.unwrap_or(ResponseError::OperationNotAttempted);
                (p, code.code())
            })
            .collect();
    }
    if add.verify_only {
        // A broker asks: the coordinator's own errors answer it.
        let count = add.partitions.len();
        let verified = match txns::verify(ctx, &add.id, add.producer, add.partitions.clone()).await
        {
            Ok((_, each)) => each,
            Err(error) => vec![Err(error); count],
        };
        return add
            .partitions
            .iter()
            .cloned()
            .zip(verified)
            .map(|(p, outcome)| (p, outcome.err().map_or(0, |e| e.code())))
            .collect();
    }
    // A broker's add (version 4 on) is for a producer of transaction version 2.
    let client_version = if ctx.version >= 4 { TV2 } else { 0 };
    let partitions = add.partitions.clone();
    let code = match txns::add_to_txn(ctx, &add.id, add.producer, partitions, client_version).await
    {
        Ok(_) => 0,
        Err(error) => txns::for_version(error, ctx.version, 2).wire_code(),
    };
    answer(code)
}

fn topic_results(results: Vec<((String, i32), i16)>) -> Vec<AddPartitionsToTxnTopicResult> {
    let partitions = results.into_iter().map(|((topic, partition), code)| {
        let result = AddPartitionsToTxnPartitionResult::default()
            .with_partition_index(partition)
            .with_partition_error_code(code);
        (topic, result)
    });
    group_by_topic(partitions, |topic, partitions| {
        AddPartitionsToTxnTopicResult::default()
            .with_name(topic_name(&topic))
            .with_results_by_partition(partitions)
    })
}
