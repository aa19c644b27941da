//! One partition replica on the shard that owns it: its log, leader epochs, high
//! watermark and the offsets a client sees. Handlers make one call per partition
//! (`append`, `read`, `list_offset`, `end_offset_for_epoch`, `delete_records`) and know
//! nothing of segments or epochs. In a cluster, `replica` adds the leader's view of its
//! followers and what a follower does (`append_at`, `truncate_diverging`).
//!
//! Only the owning shard touches a `Partition`. Appends reach the log through the
//! shard's sequential writer, in the order `append` was called: `append` fixes a
//! batch's place synchronously and returns a future for its answer (Redpanda's
//! two-stage produce), so pipelined requests cannot overtake each other.
//!
//! Offsets, lowest first: log start <= last stable <= high watermark <= log end.
//! The log end moves when the writer has written; "durable" when the log was
//! fdatasynced past it; the high watermark when the in-sync replicas hold it. With one
//! broker the in-sync replicas are this one, so the high watermark follows the log end,
//! as it does in Kafka with a single replica; in a cluster it follows the ISR.

pub mod epochs;
pub mod producers;
mod recompress;
mod record_check;
mod replica;
mod snapshots;
pub mod txn_index;
mod write;

pub use self::replica::{Lead, REPLICATION_WAIT_MAX};
pub(crate) use self::write::Job;
pub use self::write::{MarkerSpec, TxnGuard};

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use self::epochs::EpochCache;
use self::producers::ProducerState;
use self::txn_index::TxnIndex;
use crate::error::ApiError;
use crate::replication::isr::Leadership;
use crate::shard::writer::Writer;
use crate::shard::Event;
use crate::storage::log::Stable;
use crate::storage::{FileSlice, Log, LogConfig, StorageError};

/// What a partition takes from its topic's and the broker's config, besides the log's
/// own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub log: LogConfig,
    /// `max.message.bytes`: the largest batch a producer may send.
    pub max_message_bytes: usize,
    /// `flush.ms` when set: acks=all is answered once records are in the page cache,
    /// and the shard syncs the log this often. Unset (the default): every acks=all
    /// append is fdatasynced before it is answered.
    pub flush_interval_ms: Option<i64>,
    /// `producer.id.expiration.ms`: a producer silent this long is forgotten.
    pub producer_id_expiration_ms: i64,
    /// `min.insync.replicas`: with fewer replicas in sync, acks=all is refused.
    pub min_insync_replicas: i32,
    /// `(message.timestamp.before.max.ms, message.timestamp.after.max.ms)` of a
    /// CreateTime topic: a produced record's timestamp must lie within them of now.
    /// `None` for a LogAppendTime topic, whose records get the broker's time.
    pub timestamp_bounds: Option<(i64, i64)>,
    /// `compression.type`: the codec produced batches are stored with (`Producer`: as
    /// sent), and the level it compresses with (`compression.*.level`).
    pub compression: (crate::config::CompressionType, i32),
}

pub use crate::protocol::Acks;

/// Who appends (Kafka's AppendOrigin): clients may not write internal topics; the
/// broker's coordinators do, and their records are always made durable first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Client,
    Coordinator,
}

/// Which records a reader may see (Kafka's IsolationLevel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Up to the high watermark.
    ReadUncommitted,
    /// Up to the last stable offset: no record of a transaction still open.
    ReadCommitted,
    /// A follower's fetch: up to the leader's log end.
    Replica,
}

impl Isolation {
    pub fn from_wire(level: i8) -> Isolation {
        if level == 1 {
            Isolation::ReadCommitted
        } else {
            Isolation::ReadUncommitted
        }
    }
}

/// The offsets a client sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    pub log_start: i64,
    pub last_stable: i64,
    pub high_watermark: i64,
    pub log_end: i64,
}

impl Offsets {
    /// Where a reader at `isolation` must stop.
    pub fn readable_end(&self, isolation: Isolation) -> i64 {
        match isolation {
            Isolation::ReadUncommitted => self.high_watermark,
            Isolation::ReadCommitted => self.last_stable,
            Isolation::Replica => self.log_end,
        }
    }
}

/// Where a produced batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    pub base_offset: i64,
    /// -1 unless the topic stamps LogAppendTime.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// Records in the batches.
    pub records: u64,
}

/// What a fetch gets from one partition.
#[derive(Clone)]
pub struct Read {
    pub offsets: Offsets,
    /// Whole batches from the fetch offset, `None` when there is nothing to read yet.
    pub slice: Option<FileSlice>,
    /// read_committed only: the aborted transactions the records may hold, as
    /// (producer id, first offset).
    pub aborted: Option<Vec<(i64, i64)>>,
}

/// A ListOffsets question about one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetQuery {
    Earliest,
    Latest,
    MaxTimestamp,
    /// The first record at or after this time.
    Timestamp(i64),
}

/// A ListOffsets answer: the record's timestamp (-1 when the question was not about
/// time), its offset and the leader epoch it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoundOffset {
    pub timestamp: i64,
    pub offset: i64,
    pub leader_epoch: i32,
}

pub struct Partition {
    pub topic: String,
    pub index: i32,
    log: Log,
    writer: Rc<Writer>,
    /// This broker's leader epoch for the partition; constant while shoal runs alone.
    leader_epoch: Cell<i32>,
    epochs: RefCell<EpochCache>,
    high_watermark: Cell<i64>,
    producers: RefCell<ProducerState>,
    aborted: RefCell<TxnIndex>,
    /// Segments whose aborts are not in their `.txnindex` file yet.
    aborts_unsaved: RefCell<BTreeSet<i64>>,
    /// Per producer id, what ended its transactions here (the verification guards'
    /// reference).
    closed_txns: RefCell<HashMap<i64, write::TxnsEnded>>,
    producer_id_expiration_ms: Cell<i64>,
    max_message_bytes: Cell<usize>,
    min_insync_replicas: Cell<i32>,
    timestamp_bounds: Cell<Option<(i64, i64)>>,
    compression: Cell<(crate::config::CompressionType, i32)>,
    flush_interval_ms: Cell<Option<i64>>,
    /// When the log was last synced by the periodic flusher (ms since the epoch).
    flushed_at_ms: Cell<i64>,
    /// This broker's view of its followers while it leads the partition in a cluster;
    /// `None` while it follows, and in a cluster of one (the high watermark follows
    /// the log end).
    leadership: RefCell<Option<Leadership>>,
    /// Whether the metadata replicates this partition between brokers (it led or
    /// followed once): acks=all then waits for the ISR, and an append whose leadership
    /// went before it was replicated is not acknowledged.
    in_cluster: Cell<bool>,
    /// Follower side: how far this log's end was behind the leader's high watermark at
    /// the last fetch answer (Kafka's FetcherLagMetrics ConsumerLag).
    fetch_lag: Cell<i64>,
    /// Follower side: whether the leader has reported its high watermark since this
    /// replica began following. Until then this replica's own may be far behind (the
    /// checkpointed one, after a restart), and it serves no consumer.
    leader_high_watermark_heard: Cell<bool>,
    /// The high watermark the checkpoint beside the log holds (replicated partitions;
    /// `None`: no file, or a write failed). A replica starts from it when it joins the
    /// cluster after a restart: its log end may hold records never committed.
    high_watermark_saved: Cell<Option<i64>>,
    /// Whether the last checkpoint write failed (said once until one succeeds).
    checkpoint_failing: Cell<bool>,
    /// Held while the checkpoint is written, and by a close or a deletion: they never
    /// overlap. Closed with the partition (or its deletion): the directory is no longer
    /// its to write, and nothing more is.
    checkpoint_turn: glommio::sync::Semaphore,
    appended: Event,
}

impl Partition {
    /// Opens (or creates) the partition's log in `dir` and takes the lead of it: the
    /// leader-epoch history is read from its checkpoint, cut back to the log (a crash
    /// may have cut the log's tail), and continued with this broker's epoch.
    pub async fn open(
        topic: String,
        index: i32,
        dir: &Path,
        settings: &Settings,
        writer: Rc<Writer>,
        now_ms: i64,
    ) -> Result<Partition, StorageError> {
        let log = Log::open(dir, settings.log, now_ms).await?;
        let high_watermark_saved = log.checkpointed_high_watermark()?;
        let stored = EpochCache::load(dir)?;
        let mut epochs = stored.clone().unwrap_or_default();
        epochs.truncate_from_end(log.end_offset());
        let leader_epoch = epochs.latest().map_or(0, |e| e.epoch);
        // Every batch shoal wrote before the checkpoint existed carries epoch 0, the
        // epoch of a partition that never changed leader: it started at the log start.
        if epochs.latest().is_none() {
            epochs.assign(leader_epoch, log.start_offset());
        }
        if stored.as_ref() != Some(&epochs) {
            epochs.save(dir).await?;
        }
        let had_snapshots = !snapshots::list(dir)?.is_empty();
        let rebuilt = match snapshots::rebuild(&log, log.end_offset()).await {
            // A damaged log is served no more until a restart recovers it: nothing to
            // rebuild for.
            Err(StorageError::Offline { .. }) => snapshots::Rebuilt::empty(log.start_offset()),
            rebuilt => rebuilt?,
        };
        let mut producers = rebuilt.state;
        producers.expire(now_ms, settings.producer_id_expiration_ms);
        let bases = log.segment_bases();
        let mut aborted = TxnIndex::load(dir, &bases)?;
        let mut unsaved = BTreeSet::new();
        // Index files may name aborts the log no longer holds (a tail lost in a
        // crash): their segments' files are rewritten at the next snapshot.
        if aborted.truncate_from(rebuilt.from) {
            let first = TxnIndex::segment_of(&bases, rebuilt.from).unwrap_or(i64::MIN);
            unsaved.extend(bases.iter().filter(|base| **base >= first));
        }
        for abort in rebuilt.aborts {
            unsaved.extend(TxnIndex::segment_of(&bases, abort.last_offset));
            aborted.push(abort);
        }
        // A log written before snapshots existed was replayed whole, sealed segments
        // too: once is enough.
        let replayed_sealed = !had_snapshots && log.start_offset() < log.active_base_offset();
        let partition = Partition {
            topic,
            index,
            high_watermark: Cell::new(log.end_offset()),
            log,
            writer,
            leader_epoch: Cell::new(leader_epoch),
            epochs: RefCell::new(epochs),
            producers: RefCell::new(producers),
            aborted: RefCell::new(aborted),
            aborts_unsaved: RefCell::new(unsaved),
            closed_txns: RefCell::default(),
            producer_id_expiration_ms: Cell::new(settings.producer_id_expiration_ms),
            max_message_bytes: Cell::new(0),
            min_insync_replicas: Cell::new(1),
            timestamp_bounds: Cell::new(None),
            compression: Cell::new(settings.compression),
            flush_interval_ms: Cell::new(None),
            flushed_at_ms: Cell::new(now_ms),
            leadership: RefCell::new(None),
            in_cluster: Cell::new(false),
            fetch_lag: Cell::new(0),
            leader_high_watermark_heard: Cell::new(false),
            high_watermark_saved: Cell::new(high_watermark_saved),
            checkpoint_failing: Cell::new(false),
            checkpoint_turn: glommio::sync::Semaphore::new(1),
            appended: Event::default(),
        };
        partition.apply(settings);
        if replayed_sealed {
            partition
                .save_producer_state(partition.log.end_offset())
                .await;
        }
        Ok(partition)
    }

    pub fn apply(&self, settings: &Settings) {
        self.log.set_config(settings.log);
        self.max_message_bytes.set(settings.max_message_bytes);
        self.min_insync_replicas.set(settings.min_insync_replicas);
        self.timestamp_bounds.set(settings.timestamp_bounds);
        self.compression.set(settings.compression);
        self.flush_interval_ms.set(settings.flush_interval_ms);
        self.producer_id_expiration_ms
            .set(settings.producer_id_expiration_ms);
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.get()
    }

    /// Leads from `epoch` on, the metadata's leader epoch, when it is newer: the next
    /// batches carry it (and start it in the epoch history as they are appended), and
    /// requests naming an older epoch are fenced. The first time, the partition joins
    /// the cluster: its high watermark goes back from the log end it was opened with to
    /// the checkpointed one (Kafka's replica starts from `replication-offset-checkpoint`).
    pub fn lead_at(&self, epoch: i32) {
        if !self.in_cluster.replace(true) {
            let saved = self.high_watermark_saved.get().unwrap_or(0);
            let (start, end) = (self.log.start_offset(), self.log.end_offset());
            self.high_watermark.set(saved.clamp(start, end));
        }
        if epoch > self.leader_epoch.get() {
            self.leader_epoch.set(epoch);
        }
    }

    /// Kafka's check of a request's `current_leader_epoch` (-1: the client does not
    /// know it, and any is fine).
    pub fn check_leader_epoch(&self, current: i32) -> Result<(), ApiError> {
        let epoch = self.leader_epoch.get();
        if current > epoch {
            return Err(ApiError::code(ResponseError::UnknownLeaderEpoch));
        }
        if current >= 0 && current < epoch {
            return Err(ApiError::code(ResponseError::FencedLeaderEpoch));
        }
        Ok(())
    }

    pub fn offsets(&self) -> Offsets {
        let high_watermark = self.high_watermark.get();
        let log_start = self.log.start_offset();
        let unstable = self.producers.borrow().first_unstable_offset();
        Offsets {
            log_start,
            last_stable: unstable
                .map_or(high_watermark, |first| first.min(high_watermark))
                .max(log_start),
            high_watermark,
            log_end: self.log.end_offset(),
        }
    }

    /// Everything before this offset is on this broker's disk.
    pub fn durable_offset(&self) -> i64 {
        self.log.flushed_offset()
    }

    pub fn size_bytes(&self) -> u64 {
        self.log.size_bytes()
    }

    /// Replicas in sync: the ISR while this broker leads in a cluster, else this one.
    pub fn in_sync_replicas(&self) -> i32 {
        self.leadership
            .borrow()
            .as_ref()
            .map_or(1, |l| l.isr.len() as i32)
    }

    /// Whether `broker`'s replica is in the ISR this leader counts acks=all and the high
    /// watermark by (false while this broker does not lead in a cluster).
    pub fn isr_holds(&self, broker: i32) -> bool {
        self.leadership
            .borrow()
            .as_ref()
            .is_some_and(|l| l.isr.contains(&broker))
    }

    /// How far this follower was behind its leader at the last fetch answer (0 while it
    /// leads).
    pub fn fetch_lag(&self) -> i64 {
        match self.is_leading() {
            true => 0,
            false => self.fetch_lag.get(),
        }
    }

    pub fn min_insync_replicas(&self) -> i32 {
        self.min_insync_replicas.get()
    }

    /// Fires after every append, every move of the high watermark and every change of
    /// leadership; long-poll fetches and acks=all appends listen to it.
    pub fn appended(&self) -> &Event {
        &self.appended
    }

    /// Whole batches from `offset`, at most about `max_bytes` (at least one batch), up to
    /// what `isolation` lets a reader see.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        current_leader_epoch: i32,
        isolation: Isolation,
    ) -> Result<Read, ApiError> {
        self.check_leader_epoch(current_leader_epoch)?;
        let offsets = self.offsets();
        let slice = if max_bytes == 0 {
            None
        } else {
            let bound = offsets.readable_end(isolation);
            self.log.read(offset, max_bytes, bound).await?
        };
        let aborted = (isolation == Isolation::ReadCommitted).then(|| match &slice {
            Some(slice) => self.aborted.borrow().overlapping(offset, slice.upper_bound),
            None => Vec::new(),
        });
        Ok(Read {
            offsets,
            slice,
            aborted,
        })
    }

    /// Whether a reader at `offset` has something new to read.
    pub fn has_data_past(&self, offset: i64, isolation: Isolation) -> bool {
        self.offsets().readable_end(isolation) > offset
    }

    /// ListOffsets for one partition; `None` when no record answers (a time after
    /// every record).
    pub async fn list_offset(
        &self,
        query: OffsetQuery,
        current_leader_epoch: i32,
        isolation: Isolation,
    ) -> Result<Option<FoundOffset>, ApiError> {
        self.check_leader_epoch(current_leader_epoch)?;
        let offsets = self.offsets();
        let at = |offset: i64| FoundOffset {
            timestamp: -1,
            offset,
            leader_epoch: self.epoch_of(offset),
        };
        // A new leader whose high watermark has not reached its epoch's start cannot
        // tell where the readable end is yet: Kafka's OFFSET_NOT_AVAILABLE, which the
        // client retries.
        let lagging = self
            .leadership
            .borrow()
            .as_ref()
            .is_some_and(|l| l.epoch_start_offset > self.high_watermark.get());
        let not_available = || ApiError::code(ResponseError::OffsetNotAvailable);
        let timestamp = match query {
            OffsetQuery::Earliest => return Ok(Some(at(offsets.log_start))),
            OffsetQuery::Latest if lagging => return Err(not_available()),
            OffsetQuery::Latest => {
                return Ok(Some(FoundOffset {
                    leader_epoch: self.leader_epoch.get(),
                    ..at(offsets.readable_end(isolation))
                }))
            }
            OffsetQuery::MaxTimestamp => self.log.max_timestamp(),
            OffsetQuery::Timestamp(timestamp) => timestamp,
        };
        let found = self.log.offset_for_timestamp(timestamp).await?;
        match found {
            // A record past what the reader may see is not its answer yet.
            Some((offset, _)) if offset >= offsets.readable_end(isolation) => match lagging {
                true => Err(not_available()),
                false => Ok(None),
            },
            found => Ok(found.map(|(offset, timestamp)| FoundOffset {
                timestamp,
                ..at(offset)
            })),
        }
    }

    /// The epoch the record at `offset` was written in, as the epoch history says.
    fn epoch_of(&self, offset: i64) -> i32 {
        self.epochs
            .borrow()
            .entries()
            .iter()
            .rev()
            .find(|e| e.start_offset <= offset)
            .map_or(-1, |e| e.epoch)
    }

    /// OffsetForLeaderEpoch: the largest epoch at or below `requested` and where it ended.
    pub fn end_offset_for_epoch(
        &self,
        requested: i32,
        current_leader_epoch: i32,
    ) -> Result<(i32, i64), ApiError> {
        self.check_leader_epoch(current_leader_epoch)?;
        Ok(self
            .epochs
            .borrow()
            .end_offset_for(requested, self.log.end_offset()))
    }

    /// Whether the topic's `cleanup.policy` has delete: Kafka lets clients delete
    /// records only then.
    pub fn has_delete_policy(&self) -> bool {
        self.log.has_delete_policy()
    }

    /// DeleteRecords: records before `offset` (-1: the high watermark) become unreadable.
    /// An offset at or before the log start changes nothing, as in Kafka. Returns the
    /// log start (the low watermark) afterwards.
    pub async fn delete_records(&self, offset: i64) -> Result<i64, ApiError> {
        let high_watermark = self.high_watermark.get();
        let offset = if offset == -1 { high_watermark } else { offset };
        if offset < 0 || offset > high_watermark {
            return Err(ApiError::code(ResponseError::OffsetOutOfRange));
        }
        if offset <= self.log.start_offset() {
            return Ok(self.log.start_offset());
        }
        let start = self.log.delete_records_before(offset).await?;
        self.forget_before(start).await?;
        Ok(start)
    }

    /// The log starts at `start` now: epochs and aborts wholly before it are forgotten
    /// (the aborts' files went with their segments).
    async fn forget_before(&self, start: i64) -> Result<(), StorageError> {
        if let Some(first) = self.log.segment_bases().first() {
            self.aborted.borrow_mut().drop_before(*first);
        }
        self.forget_epochs_before(start).await
    }

    async fn forget_epochs_before(&self, start: i64) -> Result<(), StorageError> {
        let changed = self.epochs.borrow_mut().truncate_from_start(start);
        if changed {
            let epochs = self.epochs.borrow().clone();
            epochs.save(self.log.dir()).await?;
        }
        Ok(())
    }

    /// Compacts the log when its topic asks for it, below the last stable offset and
    /// without the records of aborted transactions; returns how many records went.
    pub async fn compact(
        &self,
        now_ms: i64,
        map_entries_max: usize,
    ) -> Result<usize, StorageError> {
        let mut stable = Stable {
            below: self.offsets().last_stable,
            ..Stable::default()
        };
        for abort in self.aborted.borrow().entries() {
            let ranges = stable.aborted.entry(abort.producer_id).or_default();
            ranges.push((abort.first_offset, abort.last_offset));
        }
        // Each producer's last batch stays whole, so its sequence state outlives the
        // cleaning.
        stable.kept_batches = self
            .producers
            .borrow()
            .entries()
            .filter_map(|(_, entry)| entry.batches.back().map(|b| b.last_offset))
            .collect();
        self.log.compact(now_ms, map_entries_max, &stable).await
    }

    /// Deletes the segments retention no longer keeps (below the high watermark only);
    /// returns how many went.
    pub async fn enforce_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        let deleted = self
            .log
            .enforce_retention(now_ms, self.high_watermark.get())
            .await?;
        if deleted > 0 {
            self.forget_before(self.log.start_offset()).await?;
        }
        Ok(deleted)
    }

    /// Whether an acks=all append waits for its fdatasync.
    pub fn syncs_every_append(&self) -> bool {
        self.flush_interval_ms.get().is_none()
    }

    /// `flush.ms`, and when the periodic flusher last synced the log.
    pub fn flush_schedule(&self) -> (Option<i64>, i64) {
        (self.flush_interval_ms.get(), self.flushed_at_ms.get())
    }

    /// Makes every append so far durable.
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.log.flush().await
    }

    /// The periodic flusher's sync; it notes when it ran.
    pub async fn flush_on_schedule(&self, now_ms: i64) -> Result<(), StorageError> {
        let result = self.log.flush().await;
        self.flushed_at_ms.set(now_ms);
        result
    }

    /// Whether a failed fdatasync took the partition's log offline.
    pub fn is_offline(&self) -> bool {
        self.log.is_offline()
    }

    /// The log directory (of `log.dirs`) the partition's log lives in.
    pub fn log_dir(&self) -> Option<&std::path::Path> {
        self.log.dir().parent()
    }

    /// Whether appends since the last flush wait for one.
    pub fn is_dirty(&self) -> bool {
        self.log.is_dirty()
    }

    /// Starts writing the log's new bytes to disk, ahead of a `flush`.
    pub fn start_writeback(&self) {
        self.log.start_writeback();
    }

    /// The first timestamp of the batch holding `offset` (consumer lag in seconds).
    pub async fn timestamp_at(&self, offset: i64) -> Result<Option<i64>, StorageError> {
        self.log.timestamp_at(offset).await
    }

    /// Calls `each` with every whole batch, oldest first (a coordinator's replay).
    pub async fn for_each_batch(&self, each: impl FnMut(&[u8])) -> Result<(), StorageError> {
        self.log.for_each_batch(each).await
    }

    /// A coordinator's replay of every batch, oldest first: `replay` answers how many
    /// records it took from a batch, and the sum is returned. An offline log has
    /// nothing to load (it said why when it went offline).
    pub async fn replay(
        &self,
        mut replay: impl FnMut(&[u8]) -> usize,
    ) -> Result<usize, StorageError> {
        let mut records = 0;
        self.for_each_batch(|raw| records += replay(raw))
            .await
            .or_else(crate::storage::skip_offline)?;
        Ok(records)
    }

    /// Forgets producers silent for `producer.id.expiration.ms` (unless a transaction
    /// of theirs is open here). Returns how many went.
    pub fn expire_producers(&self, now_ms: i64) -> usize {
        let expiration = self.producer_id_expiration_ms.get();
        let expired = self.producers.borrow_mut().expire(now_ms, expiration);
        if expired > 0 {
            // Their verification guards go with them (Kafka keeps the guard in the
            // producer's entry).
            let producers = self.producers.borrow();
            let mut closed = self.closed_txns.borrow_mut();
            closed.retain(|producer_id, _| producers.get(*producer_id).is_some());
        }
        expired
    }

    /// The markers this partition has written for `producer_id` (a verification by a
    /// coordinator elsewhere starts from it, `TxnGuard::Markers`).
    pub fn markers_written(&self, producer_id: i64) -> u64 {
        let closed = self.closed_txns.borrow();
        closed
            .get(&producer_id)
            .map_or(0, write::TxnsEnded::markers)
    }

    /// The producers this partition knows, for DescribeProducers.
    pub fn producers(&self) -> std::cell::Ref<'_, ProducerState> {
        self.producers.borrow()
    }

    /// Flushes the log so a restart finds it whole, and snapshots the producer state at
    /// the log end so the restart replays nothing.
    pub async fn close(&self) -> Result<(), StorageError> {
        self.log.close().await?;
        if let Ok(_turn) = self.checkpoint_turn.acquire_permit(1).await {
            self.write_high_watermark().await;
            self.checkpoint_turn.close();
        }
        if !self.producers.borrow().is_empty() {
            self.save_producer_state(self.log.end_offset()).await;
        }
        Ok(())
    }

    /// Writes the high watermark of a replicated partition beside its log when it moved
    /// since the last write (the periodic checkpoint), unless the partition was closed
    /// or deleted meanwhile.
    pub async fn checkpoint_high_watermark(&self) {
        if let Ok(_turn) = self.checkpoint_turn.acquire_permit(1).await {
            self.write_high_watermark().await;
        }
    }

    /// The checkpoint's write, its turn held. A failure costs only an older high
    /// watermark after a restart: it is logged (once until a write succeeds), not
    /// returned.
    async fn write_high_watermark(&self) {
        let high_watermark = self.high_watermark.get();
        if !self.in_cluster.get() || self.high_watermark_saved.get() == Some(high_watermark) {
            return;
        }
        match self.log.checkpoint_high_watermark(high_watermark).await {
            Ok(()) => {
                self.high_watermark_saved.set(Some(high_watermark));
                self.checkpoint_failing.set(false);
            }
            Err(error) => {
                self.high_watermark_saved.set(None);
                if !self.checkpoint_failing.replace(true) {
                    tracing::warn!(topic = %self.topic, partition = self.index, %error, "high watermark not checkpointed: after a restart this replica starts from an older one");
                }
            }
        }
    }

    /// Removes the partition's files (topic deletion).
    pub async fn delete(&self) -> Result<(), StorageError> {
        if let Ok(_turn) = self.checkpoint_turn.acquire_permit(1).await {
            self.checkpoint_turn.close();
        }
        self.log.delete().await
    }
}

#[cfg(test)]
mod tests;
