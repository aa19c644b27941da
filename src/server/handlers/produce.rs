//! Produce: each partition's batches are validated and appended by the shard that
//! owns the partition; acks=all answers only after the shard's group commit synced
//! them; acks=0 gets no response at all.
//!
//! Two stages, as Redpanda's produce: a request queues its appends in its connection's
//! order (`Turn`), then awaits their answers, so the requests a connection pipelines
//! reach each partition in the order they were sent.

use std::future::Future;
use std::ops::RangeInclusive;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::auth::only_allowed;
use super::{dispatch_to_owners, group_by_topic, topic_name, txns, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::error::ApiError;
use crate::partition::{Acks, Origin, Produced, TxnGuard};
use crate::quota::QuotaKind;
use crate::shard::{now_ms, Shard};
use crate::storage::batch;

pub const VERSIONS: RangeInclusive<i16> = 3..=12;
/// The first Produce version whose batches may be zstd-compressed.
const ZSTD_VERSION_MIN: i16 = 7;
/// Kafka's codec id for zstd.
const ZSTD: i16 = 4;

struct Item {
    topic: String,
    topic_id: Uuid,
    partition: i32,
    records: Option<Bytes>,
    /// A transactional batch's verification: its guard, or why not.
    verified: Option<Result<TxnGuard, ApiError>>,
}

#[derive(Debug)]
struct Outcome {
    error: Option<ApiError>,
    base_offset: i64,
    log_append_time_ms: i64,
    log_start_offset: i64,
}

pub async fn handle(mut ctx: Ctx, body: Bytes) -> Response {
    // What the client's produce quota counts: the request's size.
    let size = body.len() as f64;
    let Some(request) = ctx.decode::<ProduceRequest>(body) else {
        return Response::Close;
    };
    let turn = ctx.turn.take();
    let acks = Acks::from_wire(request.acks);
    // How long acks=all waits for the ISR: the request's timeout, as Kafka's
    // DelayedProduce waits (a negative one expires at once).
    let isr_wait = Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    let snapshot = ctx.shard.snapshot();
    let mut items = Vec::new();
    for topic in request.topic_data {
        let name = if ctx.version >= 13 {
            snapshot
                .topic_name(&topic.topic_id)
                .unwrap_or_default()
                .to_string()
        } else {
            topic.name.to_string()
        };
        for partition in topic.partition_data {
            items.push(Item {
                topic: name.clone(),
                topic_id: topic.topic_id,
                partition: partition.index,
                records: partition.records,
                verified: None,
            });
        }
    }
    last_of_each(&mut items);
    let shape: Vec<(String, Uuid, i32)> = items
        .iter()
        .map(|i| (i.topic.clone(), i.topic_id, i.partition))
        .collect();
    let transactional = match transactional_producer(&ctx, &request.transactional_id, &items) {
        Ok(producer) => producer,
        Err(error) => {
            let outcomes = items.iter().map(|_| failure(error.clone())).collect();
            let throttle = ctx.use_quota(QuotaKind::Produce, size);
            return respond(&ctx, acks, (shape, outcomes), throttle);
        }
    };
    // A topic id naming no topic is answered by the owning shard's lookup.
    let allowed = |item: &Item| {
        item.topic.is_empty()
            || ctx.allowed_in(
                &snapshot,
                Operation::Write,
                ResourceType::Topic,
                &item.topic,
            )
    };
    let refused = |_: &Item| failure(ApiError::code(ResponseError::TopicAuthorizationFailed));
    let zstd_allowed = ctx.version >= ZSTD_VERSION_MIN;
    let outcomes = {
        let ctx = &ctx;
        only_allowed(items, allowed, refused, |mut items| async move {
            if let Some((id, producer)) = transactional {
                verify_transactional(ctx, &id, producer, &mut items).await;
            }
            let mut turn = turn;
            if let Some(turn) = &mut turn {
                turn.wait().await;
            }
            // Cross-shard: every partition is appended by the shard that owns it, in
            // the order the connection's requests were read.
            let answers = dispatch_to_owners(
                &ctx.shard,
                items,
                |item| (item.topic.as_str(), item.partition),
                move |shard, item| append(shard, item, (acks, zstd_allowed), isr_wait),
                |gone| failure(gone.into()),
            )
            .await;
            if let Some(turn) = turn {
                turn.pass();
            }
            answers.await
        })
        .await
    };
    let throttle = ctx.use_quota(QuotaKind::Produce, size);
    respond(&ctx, acks, (shape, outcomes), throttle)
}

/// A partition named twice in one request is appended and answered once, with the
/// records given last, as Kafka keys a request's partitions. Nothing is copied or
/// moved unless a partition is named twice.
fn last_of_each(items: &mut Vec<Item>) {
    if items.len() < 2 {
        return;
    }
    let keep: Vec<bool> = {
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        let mut keep: Vec<bool> = items
            .iter()
            .rev()
            .map(|i| seen.insert((i.topic.as_str(), i.topic_id, i.partition)))
            .collect();
        keep.reverse();
        keep
    };
    if keep.iter().all(|k| *k) {
        return;
    }
    let mut kept = keep.into_iter();
    items.retain(|_| kept.next().unwrap_or(true));
}

/// The answer: each partition's outcome, and how long the client's produce quota has
/// it wait (its channel is muted that long even with acks=0, which gets no answer).
/// With acks=0 a failure closes the connection, as Kafka tells such a producer.
fn respond(
    ctx: &Ctx,
    acks: Option<Acks>,
    (shape, outcomes): (Vec<(String, Uuid, i32)>, Vec<Outcome>),
    throttle_ms: i32,
) -> Response {
    if acks == Some(Acks::None) {
        if outcomes.iter().any(|o| o.error.is_some()) {
            return Response::Close;
        }
        return Response::Nothing;
    }
    let partitions =
        shape
            .into_iter()
            .zip(outcomes)
            .map(|((topic, topic_id, partition), outcome)| {
                let (code, message, records) = match outcome.error {
                    Some(e) => (e.wire_code(), e.message, e.record_errors),
                    None => (0, None, Vec::new()),
                };
                let records = records
                    .into_iter()
                    .map(|r| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(r.batch_index)
                            .with_batch_index_error_message(Some(StrBytes::from_string(r.message)))
                    })
                    .collect();
                let response = PartitionProduceResponse::default()
                    .with_index(partition)
                    .with_error_code(code)
                    .with_error_message(message.map(StrBytes::from_string))
                    .with_record_errors(records)
                    .with_base_offset(outcome.base_offset)
                    .with_log_append_time_ms(outcome.log_append_time_ms)
                    .with_log_start_offset(outcome.log_start_offset);
                ((topic, topic_id), response)
            });
    let responses = group_by_topic(partitions, |(topic, topic_id), partitions| {
        TopicProduceResponse::default()
            .with_name(topic_name(&topic))
            .with_topic_id(topic_id)
            .with_partition_responses(partitions)
    });
    ctx.respond(
        &ProduceResponse::default()
            .with_responses(responses)
            .with_throttle_time_ms(throttle_ms),
    )
}

/// A transactional id and its producer's id and epoch.
type TxnProducer = (String, (i64, i16));

/// The transactional id and producer of a request that writes in a transaction, after
/// Kafka's checks of the whole request: a transactional id the caller may WRITE, and
/// one producer for every transactional batch.
fn transactional_producer(
    ctx: &Ctx,
    id: &Option<kafka_protocol::messages::TransactionalId>,
    items: &[Item],
) -> Result<Option<TxnProducer>, ApiError> {
    let mut producers = items
        .iter()
        .filter_map(|item| batch::BatchHeader::parse(item.records.as_deref()?).ok())
        .filter(|header| header.is_transactional())
        .map(|header| (header.producer_id.get(), header.producer_epoch.get()));
    let Some(producer) = producers.next() else {
        return Ok(None);
    };
    let id = id.as_ref().map(|id| id.to_string());
    let allowed = id
        .as_ref()
        .is_some_and(|id| ctx.allowed(Operation::Write, ResourceType::TransactionalId, id));
    let (Some(id), true) = (id, allowed) else {
        return Err(ApiError::code(
            ResponseError::TransactionalIdAuthorizationFailed,
        ));
    };
    if producers.any(|other| other != producer) {
        return Err(ApiError::new(
            ResponseError::InvalidProducerIdMapping,
            "transactional records contained more than one producer id",
        ));
    }
    Ok(Some((id, producer)))
}

/// KIP-890: the transactional batches' partitions must be in the producer's
/// transaction; each gets its verification (skipped when
/// `transaction.partition.verification.enable` is off). From version 12 (transaction
/// version 2) the request adds them to the transaction itself instead.
async fn verify_transactional(ctx: &Ctx, id: &str, producer: (i64, i16), items: &mut [Item]) {
    let adds = ctx.version >= 12;
    let verifies = ctx
        .shard
        .snapshot()
        .broker
        .transaction_partition_verification_enable;
    if !adds && !verifies {
        return;
    }
    let in_txn: Vec<usize> = (0..items.len())
        .filter(|i| {
            let header = items[*i]
                .records
                .as_deref()
                .and_then(|r| batch::BatchHeader::parse(r).ok());
            header.is_some_and(|h| h.is_transactional())
        })
        .collect();
    let partitions: Vec<(String, i32)> = in_txn
        .iter()
        .map(|i| (items[*i].topic.clone(), items[*i].partition))
        .collect();
    let count = partitions.len();
    let (verified, guards) = txns::check_writes(ctx, id, producer, partitions, adds).await;
    // Produce v11 is the first to know TRANSACTION_ABORTABLE.
    let verified = txns::per_partition(verified, count, ctx.version, 11);
    for ((i, outcome), guard) in in_txn.into_iter().zip(verified).zip(guards) {
        let outcome = outcome
            .map(|_| guard)
            .map_err(|error| unverified(error, adds));
        items[i].verified = Some(outcome);
    }
}

/// A failed verification (or add) as Produce answers it: a coordinator that is busy
/// or away (Kafka's "unable to verify") is NOT_ENOUGH_REPLICAS, which clients retry,
/// except that a busy one that did not free up in time is CONCURRENT_TRANSACTIONS to
/// a request that adds its partitions itself.
fn unverified(error: ResponseError, added: bool) -> ApiError {
    match error {
        ResponseError::ConcurrentTransactions if added => ApiError::code(error),
        ResponseError::InvalidTxnState | ResponseError::TransactionAbortable => {
            ApiError::new(error, "Partition was not added to the transaction")
        }
        ResponseError::InvalidProducerEpoch | ResponseError::InvalidProducerIdMapping => {
            ApiError::code(error)
        }
        _ => ApiError::new(
            ResponseError::NotEnoughReplicas,
            format!("Unable to verify the partition has been added to the transaction: {error:?}"),
        ),
    }
}

/// Kafka's checks of one partition's part of a request, in its order: a partition
/// that does not exist, the records' shape (one batch, of magic 2, zstd only from
/// version 7), the request's acks, then a partition this broker does not lead; then
/// the partition's own checks, and the queueing.
fn queue(
    shard: &Rc<Shard>,
    item: &Item,
    (acks, zstd_allowed): (Option<Acks>, bool),
    isr_wait: Duration,
) -> Result<
    (
        impl Future<Output = Result<Produced, ApiError>> + 'static,
        u64,
    ),
    ApiError,
> {
    let led = shard.led(&item.topic, item.partition);
    if let Err(code @ ResponseError::UnknownTopicOrPartition) = led {
        return Err(ApiError::code(code));
    }
    let records = item.records.clone().ok_or_else(|| {
        ApiError::new(
            ResponseError::InvalidRecord,
            "a produce request needs records",
        )
    })?;
    check_shape(&records, zstd_allowed)?;
    let acks = acks.ok_or_else(|| ApiError::code(ResponseError::InvalidRequiredAcks))?;
    let partition = led.map_err(ApiError::code)?;
    let verified = item.verified.clone().transpose()?;
    let size = records.len() as u64;
    let pending =
        partition.append_verified(records, acks, Origin::Client, verified, now_ms(), isr_wait)?;
    Ok((pending, size))
}

/// Kafka's `ProduceRequest.validateRecords`: exactly one batch, of magic 2, and zstd
/// only from Produce v7 (whose clients can read it back).
fn check_shape(records: &[u8], zstd_allowed: bool) -> Result<(), ApiError> {
    let invalid = |message: &str| Err(ApiError::new(ResponseError::InvalidRecord, message));
    let Ok(header) = batch::BatchHeader::parse(records) else {
        return invalid("a produce request holds one record batch per partition, not none");
    };
    if header.magic != batch::MAGIC_V2 {
        return invalid("a produce request's record batches have magic 2");
    }
    if !zstd_allowed && header.compression() == ZSTD {
        return Err(ApiError::new(
            ResponseError::UnsupportedCompressionType,
            "produce requests before version 7 may not use zstd compression",
        ));
    }
    if header.total_size().is_ok_and(|size| size < records.len()) {
        return invalid("a produce request holds exactly one record batch per partition");
    }
    Ok(())
}

fn failure(error: ApiError) -> Outcome {
    Outcome {
        error: Some(error),
        base_offset: -1,
        log_append_time_ms: -1,
        log_start_offset: -1,
    }
}

/// On the owning shard: validates the batches and queues them for the writer at once
/// (the partition's place in line is taken when this is called), then awaits the
/// answer; an acks=all answer waits `isr_wait` at most for the ISR. `request` is what
/// the whole request says: its acks, and whether its version may carry zstd.
fn append(
    shard: Rc<Shard>,
    item: Item,
    request: (Option<Acks>, bool),
    isr_wait: Duration,
) -> impl Future<Output = Outcome> {
    let queued = queue(&shard, &item, request, isr_wait);
    async move {
        let partition = shard.partition(&item.topic, item.partition);
        let produced = match queued {
            Ok((pending, size)) => pending.await.map(|produced| (produced, size)),
            Err(error) => Err(error),
        };
        crate::failpoint::delay("produce::answer", &item.topic).await;
        let topics = &shard.metrics.topics;
        match produced {
            Ok((produced, size)) => {
                topics.produced(&item.topic, size, produced.records);
                Outcome {
                    error: None,
                    base_offset: produced.base_offset,
                    log_append_time_ms: produced.log_append_time_ms,
                    log_start_offset: produced.log_start_offset,
                }
            }
            Err(error) => {
                // Partitions that do not exist are counted nowhere.
                let Some(partition) = partition else {
                    return failure(error);
                };
                topics.produce_failed(&item.topic);
                let log_start_offset = match tells_log_start(&error) {
                    true => partition.offsets().log_start,
                    false => -1,
                };
                Outcome {
                    log_start_offset,
                    ..failure(error)
                }
            }
        }
    }
}

/// Whether a failed append's answer carries the partition's log start offset: Kafka
/// leaves it -1 for a partition it cannot write (unknown, not led, offline), a batch
/// refused whole (too large, corrupt) and the request's own faults, and reports it with
/// the rest (a producer's sequence or epoch, a record refused, too few replicas).
fn tells_log_start(error: &ApiError) -> bool {
    use ResponseError::*;
    !matches!(
        error.code,
        UnknownTopicOrPartition
            | NotLeaderOrFollower
            | MessageTooLarge
            | RecordListTooLarge
            | CorruptMessage
            | KafkaStorageError
            | UnknownTopicId
            | InvalidTopicException
            | InvalidRequiredAcks
            | UnsupportedCompressionType
            | TopicAuthorizationFailed
    )
}
