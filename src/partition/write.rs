//! The partition's write side: appends (a client's, a coordinator's, a follower's),
//! commit and abort markers, producer-state upkeep and snapshots, truncation.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::producers::{Marker, ProducerBatch, Verdict};
use super::recompress;
use super::record_check::{self, RecordRules};
use super::replica::REPLICATION_WAIT_MAX;
use super::snapshots;
use super::txn_index::TxnIndex;
use super::{Acks, Origin, Partition, Produced};
use crate::error::ApiError;
use crate::storage::{batch, Appended, BatchInfo, StorageError};

/// A transaction marker to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkerSpec {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
    /// The coordinator's number of the transaction it ends (not stored): writes verified
    /// for it are refused here from now on. `None` for a marker from elsewhere (an
    /// operator aborting a hanging transaction).
    pub txn_number: Option<u64>,
}

/// What a verified transactional write carries (KIP-890's verification guard): it is
/// refused if the transaction it was verified for has ended here since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnGuard {
    /// Verified by this broker's coordinator: the transaction's number there.
    Number(u64),
    /// Verified by a coordinator on another broker, which names no number: the markers
    /// this partition had written for the producer when the verification began.
    Markers(u64),
}

/// Per producer id, what ended its transactions here: the lowest coordinator number
/// whose verified writes may still open one (markers of this broker's coordinator
/// raise it), and the markers written.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TxnsEnded {
    below: u64,
    markers: u64,
}

impl TxnsEnded {
    pub(super) fn markers(&self) -> u64 {
        self.markers
    }
}

impl Partition {
    /// Validates `records` and takes their place in the log's order at once; the
    /// returned future answers once they are written (`Acks::Leader`) or durable
    /// (`Acks::All`). Refused batches are answered here, before anything is queued.
    pub fn append(
        self: &Rc<Self>,
        records: Bytes,
        acks: Acks,
        origin: Origin,
        now_ms: i64,
    ) -> Result<impl Future<Output = Result<Produced, ApiError>> + 'static, ApiError> {
        self.queue(records, acks, origin, None, now_ms, REPLICATION_WAIT_MAX)
    }

    /// `append` of a transactional batch its coordinator verified (KIP-890), with that
    /// verification's guard: refused if the transaction has ended here since. An
    /// acks=all append waits `isr_wait` at most for the ISR (a Produce request's
    /// `timeout_ms`, as Kafka's DelayedProduce waits).
    pub fn append_verified(
        self: &Rc<Self>,
        records: Bytes,
        acks: Acks,
        origin: Origin,
        verified: Option<TxnGuard>,
        now_ms: i64,
        isr_wait: Duration,
    ) -> Result<impl Future<Output = Result<Produced, ApiError>> + 'static, ApiError> {
        self.queue(records, acks, origin, verified, now_ms, isr_wait)
    }

    /// Writes a transaction's commit or abort marker (a coordinator's append, durable
    /// before it is answered).
    pub fn append_marker(
        self: &Rc<Self>,
        marker: MarkerSpec,
        now_ms: i64,
    ) -> Result<impl Future<Output = Result<Produced, ApiError>> + 'static, ApiError> {
        let records = batch::control_batch(
            marker.producer_id,
            marker.producer_epoch,
            marker.coordinator_epoch,
            marker.commit,
            now_ms,
        );
        let records = Bytes::from(records);
        let origin = Origin::Coordinator;
        let wait = REPLICATION_WAIT_MAX;
        let guard = marker.txn_number.map(TxnGuard::Number);
        self.queue(records, Acks::All, origin, guard, now_ms, wait)
    }

    fn queue(
        self: &Rc<Self>,
        records: Bytes,
        acks: Acks,
        origin: Origin,
        guard: Option<TxnGuard>,
        now_ms: i64,
        isr_wait: Duration,
    ) -> Result<impl Future<Output = Result<Produced, ApiError>> + 'static, ApiError> {
        if origin == Origin::Client && crate::group::is_internal_topic(&self.topic) {
            return Err(ApiError::new(
                ResponseError::InvalidTopicException,
                "clients may not write to an internal topic",
            ));
        }
        // Kafka refuses acks=all below min.insync.replicas before it appends;
        // coordinators' own writes are not refused here (the group and transaction
        // coordinators would stop).
        if origin == Origin::Client && acks == Acks::All {
            self.check_in_sync()?;
        }
        let mut infos = batch::validate(&records, self.max_message_bytes.get())?;
        let mut records = records;
        if origin == Origin::Client {
            check_client_batches(&infos)?;
            let rules = RecordRules {
                compacted: self.log.is_compacted(),
                timestamp_bounds: self.timestamp_bounds.get(),
                now_ms,
            };
            // The records are decoded once, and only when a check or the topic's codec
            // needs them.
            let (target, level) = self.compression.get();
            let codec = recompress::needed(target, &infos);
            let check = rules.need_records(&infos);
            if check || codec.is_some() {
                let sets = record_check::decode(&records)?;
                if check {
                    let partition = format!("{}-{}", self.topic, self.index);
                    record_check::check(&sets, &rules, &partition)?;
                }
                let rewrite = codec
                    .map(|codec| (codec, level))
                    .or_else(|| recompress::misnumbered(&sets));
                if let Some((codec, level)) = rewrite {
                    records = recompress::encode(sets, codec, level)?;
                    infos = batch::validate(&records, self.max_message_bytes.get())?;
                }
            }
        }
        // Kafka's last check of a leader's append: what one request writes fits in a
        // segment.
        if origin == Origin::Client && records.len() as u64 > self.log.segment_bytes() {
            return Err(ApiError::new(
                ResponseError::RecordListTooLarge,
                format!(
                    "{} bytes of records do not fit in a segment of {} bytes (segment.bytes)",
                    records.len(),
                    self.log.segment_bytes()
                ),
            ));
        }
        let count: u64 = infos
            .iter()
            .map(|i| u64::try_from(i.records_count).unwrap_or(0))
            .sum();
        let durable = match origin {
            Origin::Coordinator => true,
            Origin::Client => acks == Acks::All && self.syncs_every_append(),
        };
        let job = Job {
            infos,
            origin,
            guard,
            now_ms,
        };
        let written = self.writer.enqueue(Rc::clone(self), records, job, durable);
        let partition = Rc::clone(self);
        Ok(async move {
            let appended = written.await?;
            if acks == Acks::All || origin == Origin::Coordinator {
                partition
                    .replicated(appended.last_offset + 1, isr_wait)
                    .await?;
            }
            Ok(Produced {
                base_offset: appended.base_offset,
                log_append_time_ms: appended.log_append_time_ms,
                log_start_offset: partition.log.start_offset(),
                records: count,
            })
        })
    }

    /// The writer's turn for this partition: writes validated batches as the leader, in
    /// this broker's epoch, and moves the offsets on. A batch with a producer id passes
    /// the producer-state check first: a client's retry of a stored batch is answered
    /// with that batch's offsets and written again nowhere; a transactional write that
    /// would open a transaction here needs a verification this partition has not seen
    /// that transaction end since; a marker may not come from an older producer epoch
    /// or coordinator epoch than the last one.
    pub(crate) async fn write(&self, bytes: &[u8], job: Job) -> Result<Appended, ApiError> {
        let Job {
            infos,
            origin,
            guard,
            now_ms,
        } = job;
        let producer = producer_batch(&infos);
        let marker = match &producer {
            Some(_) if infos[0].control => match Marker::parse(bytes) {
                Some(marker) => Some(marker),
                None => {
                    let message = "not a transaction marker";
                    return Err(ApiError::new(ResponseError::InvalidRecord, message));
                }
            },
            _ => None,
        };
        match (&producer, &marker, origin) {
            (_, Some(marker), _) => self.producers.borrow().check_marker(marker)?,
            (Some(batch), None, Origin::Client) => {
                match self.producers.borrow().check(batch)? {
                    Verdict::Append => {}
                    Verdict::Duplicate(stored) => {
                        // Kafka answers a duplicate with the stored batch's timestamp.
                        return Ok(Appended {
                            base_offset: stored.first_offset(),
                            last_offset: stored.last_offset,
                            log_append_time_ms: stored.timestamp,
                        });
                    }
                }
                self.check_guard(batch, guard)?;
            }
            (Some(batch), None, Origin::Coordinator) => {
                self.producers.borrow().check_epoch(batch)?;
                self.check_guard(batch, guard)?;
            }
            (None, ..) => {}
        }
        let epoch = self.leader_epoch.get();
        let active_base = self.log.active_base_offset();
        let appended = self.log.append(bytes, infos, epoch, now_ms).await?;
        // A roll happened: the state before this batch is the state at the new
        // segment's base, where Kafka snapshots it.
        let rolled = self.log.active_base_offset() != active_base;
        let snapshot = rolled.then(|| self.producers.borrow().to_snapshot());
        match (producer, marker) {
            (_, Some(marker)) => {
                self.close_txn(Marker {
                    offset: appended.base_offset,
                    ..marker
                });
                let mut closed = self.closed_txns.borrow_mut();
                let ended = closed.entry(marker.producer_id).or_default();
                ended.markers += 1;
                if let Some(TxnGuard::Number(number)) = guard {
                    ended.below = ended.below.max(number + 1);
                }
            }
            (Some(batch), None) => self
                .producers
                .borrow_mut()
                .record(&batch, appended.base_offset),
            (None, None) => {}
        }
        self.leader_appended(now_ms);
        self.appended.notify();
        if let Some(state) = snapshot {
            self.save_snapshot(self.log.active_base_offset(), state)
                .await;
        }
        self.note_epoch(epoch, appended.base_offset).await?;
        Ok(appended)
    }

    /// A transactional batch that opens a transaction here carries the guard of its
    /// verification: refused if the transaction's marker reached this partition since
    /// (Kafka's verification guard). Unverified writes (verification turned off) are
    /// not checked.
    fn check_guard(&self, batch: &ProducerBatch, guard: Option<TxnGuard>) -> Result<(), ApiError> {
        let opens = batch.transactional
            && self
                .producers
                .borrow()
                .get(batch.producer_id)
                .is_none_or(|entry| entry.txn_first_offset.is_none());
        let ended = self
            .closed_txns
            .borrow()
            .get(&batch.producer_id)
            .copied()
            .unwrap_or_default();
        let stale = match guard {
            Some(TxnGuard::Number(number)) => number < ended.below,
            Some(TxnGuard::Markers(seen)) => ended.markers > seen,
            None => false,
        };
        match stale {
            true if opens => Err(ApiError::new(
                ResponseError::InvalidTxnState,
                "Record was not part of an ongoing transaction",
            )),
            _ => Ok(()),
        }
    }

    /// Applies a stored marker: the transaction it ends is closed, and an aborted one
    /// goes into the aborted-transaction index.
    fn close_txn(&self, marker: Marker) {
        let Some(abort) = self.producers.borrow_mut().apply_marker(&marker) else {
            return;
        };
        self.aborted.borrow_mut().push(abort);
        let segment = self.log.active_base_offset();
        self.aborts_unsaved.borrow_mut().insert(segment);
    }

    /// Snapshots the producer state as it is now, at `offset` (the log end).
    pub(super) async fn save_producer_state(&self, offset: i64) {
        let state = self.producers.borrow().to_snapshot();
        self.save_snapshot(offset, state).await;
    }

    /// Writes a producer-state snapshot, after the aborted-transaction index files of
    /// the segments with unsaved aborts (the snapshot vouches for every abort before its
    /// offset). A failure costs a longer replay at the next start, never data, so it is
    /// logged and the write goes on.
    async fn save_snapshot(&self, offset: i64, state: Vec<u8>) {
        let dir = self.log.dir();
        let unsaved = std::mem::take(&mut *self.aborts_unsaved.borrow_mut());
        if !unsaved.is_empty() {
            let index = self.aborted.borrow().clone();
            let bases = self.log.segment_bases();
            let written = index
                .write_files(dir, &bases, |base| unsaved.contains(&base))
                .await;
            if let Err(error) = written {
                tracing::warn!(dir = %dir.display(), %error, "aborted-transaction index not written, so no producer snapshot either");
                self.aborts_unsaved.borrow_mut().extend(unsaved);
                return;
            }
        }
        if let Err(error) = snapshots::write(dir, offset, state).await {
            let file = snapshots::path(dir, offset);
            tracing::warn!(file = %file.display(), %error, "producer snapshot not written");
        }
    }

    /// A follower's append: batches that carry their leader's offsets and epochs,
    /// stored byte for byte, with what they tell the producer state (sequences,
    /// transactions opened and ended), so this replica can lead next. The high
    /// watermark is the leader's to move.
    pub async fn append_at(&self, bytes: &[u8], now_ms: i64) -> Result<Appended, ApiError> {
        let infos = batch::validate(bytes, usize::MAX)?;
        let mut batches = Vec::with_capacity(infos.len());
        for info in &infos {
            let header = batch::BatchHeader::parse(&bytes[info.position..])?;
            let marker = match info.control {
                true => Marker::parse(&bytes[info.position..]),
                false => None,
            };
            let epoch = header.partition_leader_epoch.get();
            batches.push((epoch, header.base_offset.get(), *info, marker));
        }
        let active_base = self.log.active_base_offset();
        let appended = self.log.append_at(bytes, infos, now_ms).await?;
        let rolled = self.log.active_base_offset() != active_base;
        let snapshot = rolled.then(|| self.producers.borrow().to_snapshot());
        for (epoch, base_offset, info, marker) in batches {
            match (marker, producer_batch(&[info])) {
                (Some(marker), _) => self.close_txn(marker),
                (None, Some(batch)) if !info.control => {
                    self.producers.borrow_mut().record(&batch, base_offset)
                }
                _ => {}
            }
            self.note_epoch(epoch, base_offset).await?;
        }
        if let Some(state) = snapshot {
            self.save_snapshot(self.log.active_base_offset(), state)
                .await;
        }
        self.appended.notify();
        Ok(appended)
    }

    /// Records that `epoch` has written from `offset` on, if that is news.
    pub(super) async fn note_epoch(&self, epoch: i32, offset: i64) -> Result<(), StorageError> {
        let changed = self.epochs.borrow_mut().assign(epoch, offset);
        if changed {
            let epochs = self.epochs.borrow().clone();
            epochs.save(self.log.dir()).await?;
        }
        Ok(())
    }

    /// Removes everything from the batch holding `offset` on (a follower's log that went
    /// past its leader's), with the epochs that started there and what the producer
    /// state and the aborted-transaction index knew of it. The caller holds the
    /// partition's appends: a follower takes none from clients.
    pub async fn truncate_to(&self, offset: i64, now_ms: i64) -> Result<i64, StorageError> {
        let end = self.log.truncate_to(offset, now_ms).await?;
        self.truncated(end).await
    }

    /// Follower side: empties the log and starts it at `offset` (Kafka's
    /// `truncateFullyAndStartAt`): the leader's log starts after this one ends
    /// (retention or DeleteRecords ran there while this replica was away), or the
    /// leader's first batch starts before the start this log took.
    pub async fn start_over_at(&self, offset: i64, now_ms: i64) -> Result<i64, StorageError> {
        tracing::info!(topic = %self.topic, partition = self.index, offset, end = self.log.end_offset(), "starting this replica's log over at the leader's");
        let end = self.log.start_over_at(offset, now_ms).await?;
        // Nothing of the old log's producers, aborts or epochs holds any more.
        for snapshot in snapshots::list(self.log.dir())? {
            snapshots::remove(self.log.dir(), snapshot)?;
        }
        self.aborted.borrow_mut().drop_before(end);
        if self.epochs.borrow_mut().clear() {
            let epochs = self.epochs.borrow().clone();
            epochs.save(self.log.dir()).await?;
        }
        self.truncated(end).await
    }

    /// After the log was cut to end at `end`: the producer state and transaction index
    /// rebuilt from what is left, the epochs that started after it forgotten, the high
    /// watermark within the log.
    async fn truncated(&self, end: i64) -> Result<i64, StorageError> {
        let rebuilt = snapshots::rebuild(&self.log, end).await?;
        *self.producers.borrow_mut() = rebuilt.state;
        let bases = self.log.segment_bases();
        let first_touched = TxnIndex::segment_of(&bases, rebuilt.from).unwrap_or(i64::MIN);
        {
            let mut aborted = self.aborted.borrow_mut();
            aborted.truncate_from(rebuilt.from);
            rebuilt.aborts.into_iter().for_each(|a| aborted.push(a));
        }
        let index = self.aborted.borrow().clone();
        index
            .write_files(self.log.dir(), &bases, |base| base >= first_touched)
            .await?;
        self.aborts_unsaved.borrow_mut().clear();
        let changed = self.epochs.borrow_mut().truncate_from_end(end);
        if changed {
            let epochs = self.epochs.borrow().clone();
            epochs.save(self.log.dir()).await?;
        }
        let start = self.log.start_offset();
        self.high_watermark
            .set(self.high_watermark.get().min(end).max(start));
        Ok(end)
    }
}

/// What the writer hands the partition with a batch's bytes.
pub(crate) struct Job {
    pub infos: Vec<BatchInfo>,
    pub origin: Origin,
    /// A verified transactional write's guard, or the number of the transaction a
    /// marker ends.
    pub guard: Option<TxnGuard>,
    pub now_ms: i64,
}

/// Kafka's checks of a client's batches, before anything is queued: one batch per
/// partition, at base offset 0, no control batch, a sequence with every producer id.
fn check_client_batches(infos: &[BatchInfo]) -> Result<(), ApiError> {
    let invalid = |message: &str| Err(ApiError::new(ResponseError::InvalidRecord, message));
    if infos.len() > 1 {
        return invalid("a produce request holds exactly one record batch per partition");
    }
    if let Some(info) = infos.iter().find(|i| i.base_offset != 0) {
        return Err(ApiError::new(
            ResponseError::InvalidRecord,
            format!(
                "the base offset of a client's record batch must be 0, not {}",
                info.base_offset
            ),
        ));
    }
    if infos.iter().any(|i| i.control) {
        return invalid("clients may not write control records");
    }
    if infos
        .iter()
        .any(|i| i.producer_id >= 0 && i.base_sequence < 0)
    {
        return invalid("a batch with a producer id needs a sequence number");
    }
    Ok(())
}

/// The producer of a lone batch that has a producer id.
fn producer_batch(infos: &[BatchInfo]) -> Option<ProducerBatch> {
    let [info] = infos else {
        return None;
    };
    (info.producer_id >= 0).then_some(ProducerBatch {
        producer_id: info.producer_id,
        epoch: info.producer_epoch,
        base_sequence: info.base_sequence,
        last_offset_delta: info.last_offset_delta,
        transactional: info.transactional,
        max_timestamp: info.max_timestamp,
    })
}
