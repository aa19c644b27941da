//! The transactional ids one shard coordinates: those whose `__transaction_state`
//! partition this shard owns. Only this shard touches them; handlers reach them with
//! `invoke_on`.
//!
//! The shell around the state machine (`state`): it looks an id up, lets the machine
//! decide, writes the new state to the id's partition (durably) and only then applies
//! it. While an id's state is being written, or its markers are, other requests for it
//! get CONCURRENT_TRANSACTIONS. Ending a transaction writes PrepareCommit (or
//! PrepareAbort), then a marker to every partition in it, then CompleteCommit; EndTxn
//! is answered once all three are done, so the next transaction never waits on them.
//! Markers that cannot be written yet (a partition still opening, a disk error) leave
//! the transaction prepared, and the timer task tries again.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::Compression;

use super::records;
use super::state::{End, Init, TxnMeta, TxnState, TV2};
use super::TRANSACTION_STATE_TOPIC;
use crate::client::records::{encode_batch, NewRecord};
use crate::error::ApiError;
use crate::partition::{Acks, MarkerSpec, Origin};
use crate::shard::{now_ms, on_owning_shards, Event, Shard};
use crate::storage::StorageError;

struct Entry {
    meta: TxnMeta,
    /// The `__transaction_state` partition the id's records go to.
    partition: i32,
    /// A state or its markers are being written.
    busy: bool,
    /// How many of the id's transactions this coordinator has completed since it
    /// started: the number of the current one. A verified write carries it, and a
    /// partition refuses it once that transaction's marker is written there (Kafka's
    /// verification guard).
    number: u64,
}

/// What DescribeTransactions and ListTransactions show of an id.
#[derive(Debug, Clone)]
pub struct Listing {
    pub transactional_id: String,
    pub meta: TxnMeta,
}

#[derive(Default)]
pub struct Coordinator {
    txns: RefCell<HashMap<String, Entry>>,
    /// Some id stopped being busy.
    released: Event,
}

/// How long a write that adds its partition to its transaction itself (transaction
/// version 2) waits for the id to stop being busy (typically with the add of the
/// request pipelined before it) before it gets CONCURRENT_TRANSACTIONS. Kafka's broker
/// retries such an add for `add.partitions.to.txn.retry.backoff.max.ms` (100 ms);
/// here the wait ends the moment the id is free, so a longer bound costs nothing and
/// covers a few durable writes on a slow disk.
const IMPLICIT_ADD_WAIT: Duration = Duration::from_secs(1);

/// An id's busy mark: whoever holds it may change the id's state; it is cleared
/// however the work holding it ends.
struct Busy {
    shard: Rc<Shard>,
    id: String,
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(entry) = self.shard.txns.txns.borrow_mut().get_mut(&self.id) {
            entry.busy = false;
        }
        self.shard.txns.released.notify();
    }
}

impl Coordinator {
    /// Marks `id` busy if it is not: the one caller that gets the mark may change it.
    fn claim(&self, shard: &Rc<Shard>, id: &str) -> Result<Busy, ResponseError> {
        let mut txns = self.txns.borrow_mut();
        let entry = txns
            .get_mut(id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        if entry.busy {
            return Err(ResponseError::ConcurrentTransactions);
        }
        entry.busy = true;
        Ok(Busy {
            shard: Rc::clone(shard),
            id: id.to_string(),
        })
    }

    /// `claim`, waiting up to `wait` for an id that is busy.
    async fn claim_within(
        &self,
        shard: &Rc<Shard>,
        id: &str,
        wait: Duration,
    ) -> Result<Busy, ResponseError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let released = self.released.listen();
            match self.claim(shard, id) {
                Err(ResponseError::ConcurrentTransactions) => {}
                claimed => return claimed,
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(ResponseError::ConcurrentTransactions);
            }
            let timer = std::pin::pin!(glommio::timer::sleep(left));
            futures::future::select(released, timer).await;
        }
    }

    fn meta(&self, id: &str) -> Option<(TxnMeta, i32)> {
        self.txns
            .borrow()
            .get(id)
            .map(|e| (e.meta.clone(), e.partition))
    }

    /// Writes `next` as `id`'s state, then applies it.
    async fn write(
        &self,
        shard: &Shard,
        id: &str,
        partition: i32,
        next: TxnMeta,
    ) -> Result<(), ApiError> {
        append_state(shard, partition, id, Some(&next)).await?;
        if let Some(entry) = self.txns.borrow_mut().get_mut(id) {
            entry.meta = next;
        }
        Ok(())
    }

    /// InitProducerId with a transactional id: its producer id and a new epoch, after
    /// fencing (aborting) whatever transaction an older producer left open.
    pub async fn init_producer_id(
        &self,
        shard: &Rc<Shard>,
        id: &str,
        partition: i32,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ApiError> {
        let now = now_ms();
        if self.meta(id).is_none() {
            let producer_id = shard.new_producer_id().await?;
            self.txns
                .borrow_mut()
                .entry(id.to_string())
                .or_insert(Entry {
                    meta: TxnMeta::new(producer_id, timeout_ms, now),
                    partition,
                    busy: false,
                    number: 0,
                });
        }
        let needs_id = self
            .meta(id)
            .is_some_and(|(meta, _)| meta.needs_new_producer_id());
        let fresh_id = match needs_id {
            true => Some(shard.new_producer_id().await?),
            false => None,
        };
        let busy = self.claim(shard, id)?;
        let Some((meta, partition)) = self.meta(id) else {
            return Err(ApiError::code(ResponseError::InvalidProducerIdMapping));
        };
        match meta.init_producer_id(expected, timeout_ms, fresh_id, now)? {
            Init::Ready(next) => {
                let answer = (next.producer_id, next.producer_epoch);
                self.write(shard, id, partition, next).await?;
                Ok(answer)
            }
            Init::Fence(next) => {
                self.write(shard, id, partition, next).await?;
                drop(complete_in_background(busy));
                Err(ApiError::code(ResponseError::ConcurrentTransactions))
            }
        }
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn (`client_version` 0), or a write of
    /// transaction version 2 adding its partitions itself (`client_version` 2, which
    /// waits a moment for an id that is busy): `partitions` join the transaction.
    /// Returns the transaction's number, the guard of writes to them.
    pub async fn add_partitions(
        &self,
        shard: &Rc<Shard>,
        id: &str,
        (producer_id, epoch): (i64, i16),
        partitions: Vec<(String, i32)>,
        client_version: i16,
    ) -> Result<u64, ApiError> {
        // Partitions the transaction holds already need no write, nor the id's turn.
        if let Ok((number, each)) = self.verify(id, producer_id, epoch, &partitions) {
            if each.iter().all(Result::is_ok) {
                return Ok(number);
            }
        }
        let _busy = match client_version {
            TV2 => self.claim_within(shard, id, IMPLICIT_ADD_WAIT).await?,
            _ => self.claim(shard, id)?,
        };
        let (meta, partition) = self
            .meta(id)
            .ok_or(ApiError::code(ResponseError::InvalidProducerIdMapping))?;
        let now = now_ms();
        if let Some(next) =
            meta.add_partitions(producer_id, epoch, &partitions, client_version, now)?
        {
            self.write(shard, id, partition, next).await?;
        }
        let number = self.txns.borrow().get(id).map_or(0, |e| e.number);
        Ok(number)
    }

    /// EndTxn (`tv2`: of transaction version 2, which bumps the epoch): prepares the
    /// commit (or abort), writes the markers and completes it. Returns the producer id
    /// and epoch the producer goes on with.
    pub async fn end(
        &self,
        shard: &Rc<Shard>,
        id: &str,
        (producer_id, epoch): (i64, i16),
        commit: bool,
        tv2: bool,
    ) -> Result<(i64, i16), ApiError> {
        let exhausted = self
            .meta(id)
            .is_some_and(|(meta, _)| meta.epoch_exhausted());
        let fresh_id = match tv2 && exhausted {
            true => Some(shard.new_producer_id().await?),
            false => None,
        };
        let busy = self.claim(shard, id)?;
        let (meta, partition) = self
            .meta(id)
            .ok_or(ApiError::code(ResponseError::InvalidProducerIdMapping))?;
        let now = now_ms();
        let decided = match tv2 {
            true => meta.end_v2(producer_id, epoch, commit, fresh_id, now)?,
            false => meta.end(producer_id, epoch, commit, now)?,
        };
        if let End::Prepare(next) = decided {
            self.write(shard, id, partition, next).await?;
            let done = complete_in_background(busy);
            match done.await {
                Ok(result) => result?,
                Err(_) => return Err(ApiError::code(ResponseError::CoordinatorNotAvailable)),
            }
        }
        let (meta, _) = self
            .meta(id)
            .ok_or(ApiError::code(ResponseError::InvalidProducerIdMapping))?;
        Ok((meta.producer_id, meta.producer_epoch))
    }

    /// Writes the markers of the prepared transaction `busy` holds and completes it.
    /// Runs detached (`complete_in_background`), so a client that goes away never leaves
    /// a transaction half-ended.
    async fn complete(&self, busy: &Busy) -> Result<(), ApiError> {
        let (shard, id) = (&busy.shard, busy.id.as_str());
        let Some((meta, partition)) = self.meta(id) else {
            return Ok(());
        };
        let number = self.txns.borrow().get(id).map_or(0, |e| e.number);
        let commit = match meta.state {
            TxnState::PrepareCommit => true,
            TxnState::PrepareAbort => false,
            _ => return Ok(()),
        };
        let spec = MarkerSpec {
            producer_id: meta.producer_id,
            producer_epoch: meta.producer_epoch,
            coordinator_epoch: coordinator_epoch(shard, partition),
            commit,
            txn_number: Some(number),
        };
        let snapshot = shard.snapshot();
        let node = snapshot.broker.node_id;
        // In a cluster, a marker goes to its partition's leader, wherever it is.
        let (here, elsewhere): (Vec<_>, Vec<_>) =
            meta.partitions.iter().cloned().partition(|(topic, p)| {
                snapshot.layout().is_none() || snapshot.leader_of(topic, *p) == Some(node)
            });
        // Cross-shard: each marker is written by the shard that owns its partition.
        let mut written = on_owning_shards(
            shard,
            here,
            |(topic, p)| (topic.as_str(), *p),
            move |s, (topic, p)| write_marker(s, topic, p, spec),
            |gone| Err(ApiError::from(gone)),
        )
        .await;
        written.extend(write_markers_elsewhere(shard, elsewhere, spec).await);
        // A producer or coordinator that moved on leaves that marker nothing to end.
        let moved_on = [
            ResponseError::InvalidProducerEpoch,
            ResponseError::TransactionCoordinatorFenced,
        ];
        let failed = written
            .into_iter()
            .filter_map(Result::err)
            .find(|error| !moved_on.contains(&error.code));
        if let Some(error) = failed {
            tracing::warn!(transactional_id = id, error = ?error, "transaction markers not all written: retried later");
            return Err(ApiError::code(ResponseError::CoordinatorNotAvailable));
        }
        self.write(shard, id, partition, meta.complete(now_ms()))
            .await?;
        if let Some(entry) = self.txns.borrow_mut().get_mut(id) {
            entry.number += 1;
        }
        Ok(())
    }

    /// KIP-890's check that a transactional producer added `partitions` before writing
    /// to them: an error for the whole request, or the transaction's number (for the
    /// partitions' guard) and an outcome per partition.
    pub fn verify(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(u64, Vec<Result<(), ResponseError>>), ResponseError> {
        let txns = self.txns.borrow();
        let entry = txns
            .get(id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        let checked: Vec<Result<(), ResponseError>> = partitions
            .iter()
            .map(|p| entry.meta.verify(producer_id, epoch, p))
            .collect();
        let whole = [
            ResponseError::InvalidProducerIdMapping,
            ResponseError::ProducerFenced,
            ResponseError::ConcurrentTransactions,
        ];
        if let Some(error) = checked
            .iter()
            .find_map(|r| r.err().filter(|e| whole.contains(e)))
        {
            return Err(error);
        }
        Ok((entry.number, checked))
    }

    pub fn describe(&self, id: &str) -> Option<TxnMeta> {
        self.meta(id)
            .map(|(meta, _)| meta)
            .filter(|meta| meta.state != TxnState::Dead)
    }

    pub fn list(&self) -> Vec<Listing> {
        self.txns
            .borrow()
            .iter()
            .filter(|(_, e)| e.meta.state != TxnState::Dead)
            .map(|(id, e)| Listing {
                transactional_id: id.clone(),
                meta: e.meta.clone(),
            })
            .collect()
    }

    /// Replays the `__transaction_state` partitions this shard leads (start-up); the
    /// transactions found prepared are completed once the broker runs.
    pub async fn load(&self, shard: &Shard) -> Result<usize, StorageError> {
        let mut loaded = 0;
        for partition in shard.led_partitions() {
            if partition.topic == TRANSACTION_STATE_TOPIC {
                loaded += self.load_partition(&partition).await?;
            }
        }
        Ok(loaded)
    }

    /// Forgets the transactional ids of one partition of the transaction state topic
    /// (its leadership went elsewhere, or is loaded afresh).
    pub fn unload_partition(&self, index: i32) {
        self.txns.borrow_mut().retain(|_, e| e.partition != index);
    }

    /// Replays one partition of the transaction state topic: at start-up, and when one
    /// comes to this shard later. Replaying a partition twice leaves the same states.
    pub async fn load_partition(
        &self,
        partition: &crate::partition::Partition,
    ) -> Result<usize, StorageError> {
        let index = partition.index;
        partition.replay(|raw| self.replay(index, raw)).await
    }

    fn replay(&self, partition: i32, raw: &[u8]) -> usize {
        let Ok(set) = crate::storage::decode::decode(raw) else {
            return 0;
        };
        let mut txns = self.txns.borrow_mut();
        for record in &set.records {
            let Some(key) = &record.key else { continue };
            match records::decode(key, record.value.as_deref()) {
                Some((id, Some(meta))) => {
                    txns.insert(
                        id,
                        Entry {
                            meta,
                            partition,
                            busy: false,
                            number: 0,
                        },
                    );
                }
                Some((id, None)) => {
                    txns.remove(&id);
                }
                None => tracing::warn!(partition, "unknown record in the transaction state topic"),
            }
        }
        set.records.len()
    }

    /// The timer task (one per shard): every
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` aborts transactions
    /// past their timeout (fencing their producer) and finishes prepared ones whose
    /// markers could not all be written; every
    /// `transaction.remove.expired.transaction.cleanup.interval.ms` forgets ids unused
    /// for `transactional.id.expiration.ms`.
    pub async fn run_timers(shard: Rc<Shard>) {
        let mut last_expiry = now_ms();
        loop {
            let broker = shard.snapshot().broker.clone();
            // First at once: transactions found prepared at start-up end as soon as
            // their partitions are open.
            let now = now_ms();
            shard.txns.abort_timed_out(&shard, now).await;
            let every = broker.transaction_remove_expired_transaction_cleanup_interval_ms;
            if now - last_expiry >= every {
                last_expiry = now;
                shard
                    .txns
                    .expire(&shard, now, broker.transactional_id_expiration_ms)
                    .await;
            }
            let interval = broker.transaction_abort_timed_out_transaction_cleanup_interval_ms;
            if shard.pause_ms(interval).await.is_none() {
                return;
            }
        }
    }

    async fn abort_timed_out(&self, shard: &Rc<Shard>, now: i64) {
        let due: Vec<String> = self
            .txns
            .borrow()
            .iter()
            .filter(|(_, e)| !e.busy)
            .filter(|(_, e)| {
                e.meta.timed_out(now).is_some()
                    || matches!(
                        e.meta.state,
                        TxnState::PrepareCommit | TxnState::PrepareAbort
                    )
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let Ok(busy) = self.claim(shard, &id) else {
                continue;
            };
            let Some((meta, partition)) = self.meta(&id) else {
                continue;
            };
            if let Some(aborting) = meta.timed_out(now) {
                tracing::info!(transactional_id = %id, producer_id = meta.producer_id, "aborting a transaction past its timeout");
                if let Err(error) = self.write(shard, &id, partition, aborting).await {
                    tracing::warn!(transactional_id = %id, error = ?error, "timed-out transaction not aborted");
                    continue;
                }
            }
            drop(complete_in_background(busy));
        }
    }

    async fn expire(&self, shard: &Rc<Shard>, now: i64, expiration_ms: i64) {
        let due: Vec<(String, i32)> = self
            .txns
            .borrow()
            .iter()
            .filter(|(_, e)| !e.busy && e.meta.expired(now, expiration_ms))
            .map(|(id, e)| (id.clone(), e.partition))
            .collect();
        for (id, partition) in due {
            let Ok(_busy) = self.claim(shard, &id) else {
                continue;
            };
            // Used again while earlier ids were being written off: kept.
            let still_expired = self
                .meta(&id)
                .is_some_and(|(meta, _)| meta.expired(now_ms(), expiration_ms));
            if !still_expired {
                continue;
            }
            match append_state(shard, partition, &id, None).await {
                Ok(()) => {
                    if let Some(entry) = self.txns.borrow_mut().get_mut(&id) {
                        entry.meta.state = TxnState::Dead;
                    }
                }
                Err(error) => {
                    tracing::warn!(transactional_id = %id, error = ?error, "transactional id not expired")
                }
            }
        }
        self.txns
            .borrow_mut()
            .retain(|_, e| e.meta.state != TxnState::Dead);
    }
}

/// Completes the prepared transaction `busy` holds on a detached task, which keeps the
/// hold until it is done; the receiver gets how it went.
fn complete_in_background(busy: Busy) -> oneshot::Receiver<Result<(), ApiError>> {
    let (done, result) = oneshot::channel();
    glommio::spawn_local(async move {
        let shard = Rc::clone(&busy.shard);
        let _ = done.send(shard.txns.complete(&busy).await);
    })
    .detach();
    result
}

/// The coordinator epoch markers carry: the leader epoch of the id's state partition.
fn coordinator_epoch(shard: &Shard, partition: i32) -> i32 {
    shard
        .partition(TRANSACTION_STATE_TOPIC, partition)
        .map_or(0, |p| p.leader_epoch())
}

/// Sends the markers of partitions led by other brokers to their leaders
/// (WriteTxnMarkers, as Kafka's coordinator does), one request per leader; an outcome
/// per partition, in no particular order. A partition without a leader, or a leader
/// that cannot be reached, gets an error: the markers are written again later.
async fn write_markers_elsewhere(
    shard: &Shard,
    partitions: Vec<(String, i32)>,
    spec: MarkerSpec,
) -> Vec<Result<(), ApiError>> {
    let snapshot = shard.snapshot();
    let mut by_leader: std::collections::BTreeMap<i32, Vec<(String, i32)>> = Default::default();
    let mut outcomes = Vec::new();
    for (topic, p) in partitions {
        match snapshot.leader_of(&topic, p) {
            Some(leader) => by_leader.entry(leader).or_default().push((topic, p)),
            None => outcomes.push(Err(ApiError::code(ResponseError::NotLeaderOrFollower))),
        }
    }
    for (leader, partitions) in by_leader {
        let count = partitions.len();
        let address = snapshot
            .layout()
            .and_then(|l| l.image.brokers.get(&leader))
            .and_then(|b| b.broker_address());
        let answered = match address {
            Some(address) => send_markers(shard, &address, partitions, spec).await,
            None => Err(ApiError::code(ResponseError::NotLeaderOrFollower)),
        };
        match answered {
            Ok(each) => outcomes.extend(each),
            Err(error) => outcomes.extend((0..count).map(|_| Err(error.clone()))),
        }
    }
    outcomes
}

/// One WriteTxnMarkers request to the broker at `address`: its outcome per partition.
async fn send_markers(
    shard: &Shard,
    address: &str,
    partitions: Vec<(String, i32)>,
    spec: MarkerSpec,
) -> Result<Vec<Result<(), ApiError>>, ApiError> {
    use kafka_protocol::messages::write_txn_markers_request::{
        WritableTxnMarker, WritableTxnMarkerTopic,
    };
    use kafka_protocol::messages::{
        ApiKey, ProducerId, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
    };
    let mut topics: std::collections::BTreeMap<String, Vec<i32>> = Default::default();
    for (topic, p) in partitions {
        topics.entry(topic).or_default().push(p);
    }
    let marker = WritableTxnMarker::default()
        .with_producer_id(ProducerId(spec.producer_id))
        .with_producer_epoch(spec.producer_epoch)
        .with_transaction_result(spec.commit)
        .with_coordinator_epoch(spec.coordinator_epoch)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, indexes)| {
                    WritableTxnMarkerTopic::default()
                        .with_name(crate::protocol::str_bytes(name).into())
                        .with_partition_indexes(indexes)
                })
                .collect(),
        );
    let request = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
    let response: WriteTxnMarkersResponse =
        crate::replication::peer::call(shard, address, (ApiKey::WriteTxnMarkers, 1), &request)
            .await
            .map_err(|error| {
                tracing::debug!(%address, %error, "transaction markers not sent");
                ApiError::code(ResponseError::CoordinatorNotAvailable)
            })?;
    Ok(response
        .markers
        .iter()
        .flat_map(|m| &m.topics)
        .flat_map(|t| &t.partitions)
        .map(|p| match p.error_code {
            0 => Ok(()),
            code => Err(ApiError::code(
                ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError),
            )),
        })
        .collect())
}

/// On the partition's shard: writes one marker, and for a consumer-offsets partition
/// lets the group coordinator commit or drop the transaction's offsets. A partition
/// whose topic is gone needs no marker; one still opening or loading, or led elsewhere
/// now, gets it on a later try.
pub(crate) async fn write_marker(
    shard: Rc<Shard>,
    topic: String,
    index: i32,
    spec: MarkerSpec,
) -> Result<(), ApiError> {
    let partition = match shard.led(&topic, index) {
        Ok(partition) => partition,
        Err(_) if !shard.snapshot().has_partition(&topic, index) => return Ok(()),
        Err(code) => return Err(ApiError::code(code)),
    };
    // The group coordinator is still reading the partition back: the marker must
    // meet every pending offset it ends, so it waits for a later try.
    if shard.coordinator_loading(&topic, index) {
        return Err(ApiError::code(ResponseError::CoordinatorLoadInProgress));
    }
    partition.append_marker(spec, now_ms())?.await?;
    if topic == crate::group::OFFSETS_TOPIC {
        shard
            .groups
            .complete_txn(index, spec.producer_id, spec.commit);
    }
    Ok(())
}

/// Writes `id`'s state (or its tombstone) to its partition, durably.
async fn append_state(
    shard: &Shard,
    partition: i32,
    id: &str,
    meta: Option<&TxnMeta>,
) -> Result<(), ApiError> {
    let Some(log) = shard.partition(TRANSACTION_STATE_TOPIC, partition) else {
        return Err(ApiError::code(ResponseError::NotCoordinator));
    };
    let now = now_ms();
    let record = NewRecord {
        key: Some(records::key(id)),
        value: meta.map(records::value),
        timestamp: now,
        headers: Vec::new(),
    };
    let bytes = encode_batch(&[record], Compression::None)
        .map_err(|e| ApiError::new(ResponseError::UnknownServerError, e.to_string()))?;
    let written = match log.append(bytes, Acks::All, Origin::Coordinator, now) {
        Ok(pending) => pending.await,
        Err(error) => Err(error),
    };
    // As Kafka maps a failed append of the coordinator's log.
    written.map(|_| ()).map_err(|error| {
        let code = match error.code {
            ResponseError::KafkaStorageError => ResponseError::NotCoordinator,
            _ => ResponseError::CoordinatorNotAvailable,
        };
        ApiError {
            code,
            message: error.message,
            record_errors: Vec::new(),
        }
    })
}
