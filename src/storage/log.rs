//! A partition's log: an ordered set of segments in `<log.dir>/<topic>-<partition>/`.
//!
//! Owned by one shard and never shared across threads. Appends are serialised by the
//! shard's writer (asserted here); reads run beside them and see only whole batches
//! whose write completed. The log knows nothing of Kafka requests, replication or
//! other shards.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::BufferedFile;
use glommio::sync::{Permit, Semaphore};

use super::batch::{self, BatchHeader, BatchInfo, WalkEnd};
use super::segment::{file_name, Segment};
use super::{renamed, sync_dir, OnFile, StorageError};
use recovery::write_start_offset;

#[path = "compact.rs"]
mod compact;
#[path = "recovery.rs"]
mod recovery;

pub use compact::{Stable, MAP_ENTRY_BYTES};

/// Bytes read from a segment at a time while scanning it.
const SCAN_WINDOW_BYTES: usize = 1 << 20;

/// Per-log settings, resolved from the topic's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    pub segment_bytes: u64,
    pub segment_ms: i64,
    /// -1: keep forever.
    pub retention_ms: i64,
    /// -1: no size bound.
    pub retention_bytes: i64,
    pub index_interval_bytes: u64,
    pub log_append_time: bool,
    /// `cleanup.policy` has delete: retention by time and size applies.
    pub delete: bool,
    /// `cleanup.policy` has compact: the cleaner keeps the last record per key.
    pub compact: bool,
    /// How long a tombstone (null value) survives once it is the last for its key.
    pub delete_retention_ms: i64,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            log_append_time: false,
            delete: true,
            compact: false,
            delete_retention_ms: 24 * 3600 * 1000,
        }
    }
}

/// Where appended batches landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The broker's clock when it stamped the batches, -1 for CreateTime topics.
    pub log_append_time_ms: i64,
}

/// A run of whole batches in a segment file, to be sent as they are (sendfile).
/// Holding it keeps the file open even if retention unlinks the segment meanwhile.
#[derive(Clone)]
pub struct FileSlice {
    pub file: Rc<BufferedFile>,
    pub position: u64,
    pub length: u32,
    /// The length of the slice's first batch (at most `length`).
    pub first_batch: u32,
    /// No record in the slice has this offset or a later one (Kafka's upper bound for
    /// the aborted transactions a fetch returns).
    pub upper_bound: i64,
}

pub struct Log {
    dir: PathBuf,
    config: RefCell<LogConfig>,
    segments: RefCell<BTreeMap<i64, Rc<Segment>>>,
    start_offset: Cell<i64>,
    end_offset: Cell<i64>,
    flushed_offset: Cell<i64>,
    /// The log's one append turn: appends, rolls and truncations never overlap.
    turn: Semaphore,
    /// Compaction has cleaned every sealed segment below this offset.
    cleaned_up_to: Cell<i64>,
    /// Why the log is offline (a failed fdatasync, a damaged segment), if it is: nothing
    /// more is written, synced or read.
    offline: RefCell<Option<String>>,
    /// The recovery point last written to `RECOVERY_POINT_FILE`.
    recovery_point: Cell<i64>,
    /// One segment check at a time: a second reader of the same unverified segment
    /// waits for the first's verdict instead of reading it again.
    check_turn: Semaphore,
}

impl Log {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn start_offset(&self) -> i64 {
        self.start_offset.get()
    }

    /// One past the last stored offset (Kafka's log end offset).
    pub fn end_offset(&self) -> i64 {
        self.end_offset.get()
    }

    pub fn size_bytes(&self) -> u64 {
        self.segments.borrow().values().map(|s| s.size()).sum()
    }

    /// The largest record timestamp in the log, -1 when empty.
    pub fn max_timestamp(&self) -> i64 {
        self.segments
            .borrow()
            .values()
            .map(|s| s.max_timestamp())
            .max()
            .unwrap_or(-1)
    }

    /// Where the active segment starts: everything before it is sealed.
    pub fn active_base_offset(&self) -> i64 {
        self.active().base_offset()
    }

    pub fn segment_count(&self) -> usize {
        self.segments.borrow().len()
    }

    /// The base offsets of the segments, oldest first.
    pub fn segment_bases(&self) -> Vec<i64> {
        self.segments.borrow().keys().copied().collect()
    }

    /// Whether the cleaner compacts this log (`cleanup.policy` has compact).
    pub fn is_compacted(&self) -> bool {
        self.config.borrow().compact
    }

    /// Whether `cleanup.policy` has delete (retention, and a client's DeleteRecords).
    pub fn has_delete_policy(&self) -> bool {
        self.config.borrow().delete
    }

    /// Bytes a segment holds before the next append rolls a new one.
    pub fn segment_bytes(&self) -> u64 {
        self.config.borrow().segment_bytes
    }

    pub fn set_config(&self, config: LogConfig) {
        *self.config.borrow_mut() = config;
    }

    /// Everything before this offset is on disk (fdatasynced).
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_offset.get()
    }

    /// Whether appends since the last flush wait for one.
    pub fn is_dirty(&self) -> bool {
        self.flushed_offset.get() < self.end_offset.get()
    }

    fn active(&self) -> Rc<Segment> {
        let segments = self.segments.borrow();
        Rc::clone(
            segments
                .values()
                .next_back()
                .expect("a log always has a segment"),
        )
    }

    /// Appends validated batches (`infos` from `batch::validate` over `bytes`), giving
    /// them consecutive offsets from the log end (a leader's append). Each batch is
    /// written as a header with the assigned offsets followed by its body straight from
    /// `bytes`. Returns once the bytes are written to the page cache; `flush` makes them
    /// durable.
    pub async fn append(
        &self,
        bytes: &[u8],
        mut infos: Vec<BatchInfo>,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<Appended, StorageError> {
        let _turn = self.append_turn().await?;
        let config = *self.config.borrow();
        self.maybe_roll(bytes.len() as u64, &config, now_ms).await?;
        let base = self.end_offset.get();
        let log_append_time = config.log_append_time.then_some(now_ms);
        let mut next = base;
        let mut headers = Vec::with_capacity(infos.len());
        let mut bases = Vec::with_capacity(infos.len());
        for info in &mut infos {
            let batch = &bytes[info.position..info.position + info.size];
            headers.push(batch::stored_header(
                batch,
                next,
                leader_epoch,
                log_append_time,
            ));
            if let Some(now_ms) = log_append_time {
                info.max_timestamp = now_ms;
            }
            bases.push(next);
            next += i64::from(info.last_offset_delta) + 1;
        }
        let parts: Vec<&[u8]> = infos
            .iter()
            .zip(&headers)
            .flat_map(|(info, header)| {
                let body = &bytes[info.position + batch::HEADER_BYTES..info.position + info.size];
                [&header[..], body]
            })
            .collect();
        self.active()
            .append(&parts, &infos, &bases, config.index_interval_bytes)
            .await?;
        self.end_offset.set(next);
        Ok(Appended {
            base_offset: base,
            last_offset: next - 1,
            log_append_time_ms: log_append_time.unwrap_or(-1),
        })
    }

    /// Appends validated batches that already carry their offsets (a follower's copy
    /// of its leader's log), byte for byte. Their offsets must increase and start at
    /// or after the log end; a gap (records the leader's cleaner removed) is kept.
    pub async fn append_at(
        &self,
        bytes: &[u8],
        infos: Vec<BatchInfo>,
        now_ms: i64,
    ) -> Result<Appended, StorageError> {
        let _turn = self.append_turn().await?;
        let mut bases = Vec::with_capacity(infos.len());
        let mut next = self.end_offset.get();
        for info in &infos {
            let header = BatchHeader::parse(&bytes[info.position..])
                .map_err(|e| StorageError::Io(io::Error::new(io::ErrorKind::InvalidData, e)))?;
            let base = header.base_offset.get();
            if base < next {
                return Err(StorageError::OutOfOrder {
                    offset: base,
                    expected: next,
                });
            }
            bases.push(base);
            next = header.last_offset().saturating_add(1);
        }
        let Some(&first) = bases.first() else {
            return Err(StorageError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "nothing to append",
            )));
        };
        let config = *self.config.borrow();
        self.maybe_roll(bytes.len() as u64, &config, now_ms).await?;
        self.active()
            .append(&[bytes], &infos, &bases, config.index_interval_bytes)
            .await?;
        self.end_offset.set(next);
        Ok(Appended {
            base_offset: first,
            last_offset: next - 1,
            log_append_time_ms: -1,
        })
    }

    /// Waits for the log's one append turn (appends, rolls and truncations never
    /// overlap).
    async fn append_turn(&self) -> Result<Permit<'_>, StorageError> {
        let permit = self.turn.acquire_permit(1).await;
        let permit = permit.map_err(|error| StorageError::Io(error.into()))?;
        self.check_online()?;
        Ok(permit)
    }

    /// fdatasyncs the active segment; a failure takes the log offline (see `flush`).
    async fn sync_active(&self) -> Result<(), StorageError> {
        self.check_online()?;
        if let Err(error) = self.active().flush().await {
            self.go_offline(format!("fdatasync failed: {error}"));
            return Err(error.into());
        }
        Ok(())
    }

    /// Takes the log offline: every append, flush and read answers KAFKA_STORAGE_ERROR
    /// until a restart recovers it.
    fn go_offline(&self, reason: String) {
        tracing::error!(dir = %self.dir.display(), %reason, "the log is offline (KAFKA_STORAGE_ERROR) until the broker restarts and recovers it");
        *self.offline.borrow_mut() = Some(reason);
    }

    /// Whether the log is offline (a failed fdatasync, a damaged segment).
    pub fn is_offline(&self) -> bool {
        self.offline.borrow().is_some()
    }

    fn check_online(&self) -> Result<(), StorageError> {
        match &*self.offline.borrow() {
            None => Ok(()),
            Some(reason) => Err(StorageError::Offline {
                dir: self.dir.clone(),
                reason: reason.clone(),
            }),
        }
    }

    /// Removes every batch from the one holding `offset` to the end (a follower whose
    /// log went past its leader's). The log then ends at that batch's base offset, at
    /// or before `offset`. An `offset` before the log start empties the log and starts
    /// it at `offset`. Returns the new log end.
    pub async fn truncate_to(&self, offset: i64, now_ms: i64) -> Result<i64, StorageError> {
        if offset >= self.end_offset.get() {
            return Ok(self.end_offset.get());
        }
        let _turn = self.append_turn().await?;
        if offset < self.start_offset.get() || offset <= self.first_base_offset() {
            return self.truncate_fully(offset.max(0), now_ms).await;
        }
        // The recovery point must not stay past the new end: first lowered to the base of
        // the segment that is cut.
        let cut = self
            .segments
            .borrow()
            .range(..=offset)
            .next_back()
            .map(|(base, _)| *base);
        let point = self.recovery_point.get().min(cut.unwrap_or(0));
        self.set_recovery_point(point).await;
        let later: Vec<Rc<Segment>> = self
            .segments
            .borrow()
            .range(offset + 1..)
            .map(|(_, s)| Rc::clone(s))
            .collect();
        for segment in later {
            self.segments.borrow_mut().remove(&segment.base_offset());
            segment.remove(&self.dir).await?;
        }
        let active = self.active();
        let interval = self.config.borrow().index_interval_bytes;
        if let Some((position, _)) = active.position_of(offset).await? {
            active.truncate(&self.dir, position, interval).await?;
        }
        sync_dir(&self.dir).await?;
        let end = active.next_offset();
        self.end_offset.set(end);
        self.flushed_offset.set(self.flushed_offset.get().min(end));
        Ok(end)
    }

    /// Empties the log, whatever it holds, and starts it afresh at `offset`: a follower
    /// whose log ends before its leader's starts (Kafka's `truncateFullyAndStartAt`).
    pub async fn start_over_at(&self, offset: i64, now_ms: i64) -> Result<i64, StorageError> {
        let _turn = self.append_turn().await?;
        self.truncate_fully(offset.max(0), now_ms).await
    }

    /// Deletes every segment and starts the log afresh, empty, at `offset`.
    async fn truncate_fully(&self, offset: i64, now_ms: i64) -> Result<i64, StorageError> {
        let all: Vec<Rc<Segment>> = self.segments.borrow().values().cloned().collect();
        for segment in all {
            segment.remove(&self.dir).await?;
        }
        let fresh = Segment::create(&self.dir, offset, now_ms).await?;
        sync_dir(&self.dir).await?;
        *self.segments.borrow_mut() = BTreeMap::from([(offset, Rc::new(fresh))]);
        self.start_offset.set(offset);
        write_start_offset(&self.dir, offset).await?;
        self.end_offset.set(offset);
        self.flushed_offset.set(offset);
        self.cleaned_up_to.set(-1);
        self.set_recovery_point(offset).await;
        Ok(offset)
    }

    fn first_base_offset(&self) -> i64 {
        self.segments.borrow().keys().next().copied().unwrap_or(0)
    }

    async fn maybe_roll(
        &self,
        incoming: u64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let active = self.active();
        let full = active.size() + incoming > config.segment_bytes;
        let old = now_ms - active.created_ms() >= config.segment_ms;
        // Index entries hold offsets relative to the base as 32 bits.
        let wide = self.end_offset.get() - active.base_offset() > i64::from(i32::MAX / 2);
        if active.size() == 0 || !(full || old || wide) {
            return Ok(());
        }
        self.roll(now_ms).await
    }

    /// Seals the active segment and starts a new one at the log end. Callers hold the
    /// append turn: a roll in the middle of an append would split its offsets.
    async fn roll(&self, now_ms: i64) -> Result<(), StorageError> {
        self.sync_active().await?;
        self.active().seal(&self.dir).await?;
        let base = self.end_offset.get();
        self.set_recovery_point(base).await;
        let segment = Segment::create(&self.dir, base, now_ms).await?;
        sync_dir(&self.dir).await?;
        self.segments.borrow_mut().insert(base, Rc::new(segment));
        Ok(())
    }

    /// Starts writing the active segment's new bytes to disk, ahead of a `flush`.
    pub fn start_writeback(&self) {
        self.active().start_writeback();
    }

    /// Makes every append so far durable (fdatasync of the active segment; sealed ones
    /// were synced when they rolled).
    ///
    /// A failed fdatasync is not retried: Linux may have dropped the pages it could not
    /// write and marked them clean, so a second call could succeed without them. The log
    /// goes offline instead; nothing more is acknowledged from it.
    pub async fn flush(&self) -> Result<(), StorageError> {
        self.check_online()?;
        let target = self.end_offset.get();
        if self.flushed_offset.get() >= target {
            return Ok(());
        }
        self.sync_active().await?;
        self.flushed_offset
            .set(self.flushed_offset.get().max(target));
        Ok(())
    }

    /// Whole batches from the one holding `offset`, up to about `max_bytes` (at least
    /// one batch, as Kafka's KIP-74), and none at or past `bound` (a batch boundary: the
    /// high watermark or the last stable offset). `None` when nothing is readable.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        bound: i64,
    ) -> Result<Option<FileSlice>, StorageError> {
        self.check_online()?;
        self.check_range(offset)?;
        if offset >= bound {
            return Ok(None);
        }
        let candidates: Vec<Rc<Segment>> = self
            .segments
            .borrow()
            .range(..=offset)
            .next_back()
            .into_iter()
            .map(|(_, s)| Rc::clone(s))
            .chain(
                self.segments
                    .borrow()
                    .range(offset + 1..bound)
                    .map(|(_, s)| Rc::clone(s)),
            )
            .collect();
        for segment in candidates {
            if offset >= segment.next_offset() {
                continue;
            }
            self.ensure_checked(&segment).await?;
            let Some((position, first_size)) = segment.position_of(offset).await? else {
                continue;
            };
            let mut end = segment.size();
            if bound < segment.next_offset() {
                match segment.position_of(bound).await? {
                    Some((bound_position, _)) => end = bound_position,
                    None => return Ok(None),
                }
            }
            let available = end.saturating_sub(position);
            if available == 0 {
                return Ok(None);
            }
            let length = available
                .min(max_bytes.max(first_size) as u64)
                .min(u64::from(u32::MAX));
            let upper_bound = segment.offset_bound_after(position + length).min(bound);
            return Ok(Some(FileSlice {
                file: Rc::clone(segment.file()),
                position,
                length: length as u32,
                first_batch: (first_size as u64).min(length) as u32,
                upper_bound,
            }));
        }
        Ok(None)
    }

    fn check_range(&self, offset: i64) -> Result<(), StorageError> {
        let (start, end) = (self.start_offset.get(), self.end_offset.get());
        if offset < start || offset > end {
            return Err(StorageError::OffsetOutOfRange { offset, start, end });
        }
        Ok(())
    }

    /// The first record at or after `timestamp` (offset, timestamp), or `None` if every
    /// record is older.
    pub async fn offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        let start = self.start_offset.get();
        let segments: Vec<Rc<Segment>> = self.segments.borrow().values().cloned().collect();
        for segment in segments {
            if segment.max_timestamp() < timestamp || segment.next_offset() <= start {
                continue;
            }
            self.ensure_checked(&segment).await?;
            let Some((position, size)) = segment.batch_for_timestamp(timestamp).await? else {
                continue;
            };
            let bytes = segment.read_exact(position, size).await?;
            let found = batch::first_record_at_or_after(&bytes, timestamp).map(|(offset, ts)| {
                if offset < start {
                    (start, ts)
                } else {
                    (offset, ts)
                }
            });
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The first timestamp of the batch holding `offset` (its first record's, so never
    /// later than the record at `offset`); `None` at the log end. Reads one batch
    /// header, decodes nothing.
    pub async fn timestamp_at(&self, offset: i64) -> Result<Option<i64>, StorageError> {
        let offset = offset.max(self.start_offset.get());
        if offset >= self.end_offset.get() {
            return Ok(None);
        }
        let Some(slice) = self.read(offset, 1, i64::MAX).await? else {
            return Ok(None);
        };
        let length = (slice.length as usize).min(batch::HEADER_BYTES);
        let bytes = slice
            .file
            .read_at(slice.position, length)
            .await
            .map_err(io::Error::from)?;
        Ok(batch::BatchHeader::parse(&bytes)
            .ok()
            .map(|header| header.base_timestamp.get()))
    }

    /// Kafka's DeleteRecords: records before `offset` become unreadable, and segments
    /// wholly before it are deleted. They go before the new start is checkpointed, so
    /// that on a full disk the checkpoint has the space they free; a crash between the
    /// two brings back the records of the first remaining segment below `offset` (Kafka
    /// checkpoints the log start later still).
    pub async fn delete_records_before(&self, offset: i64) -> Result<i64, StorageError> {
        self.check_online()?;
        self.check_range(offset)?;
        if offset > self.start_offset.get() {
            self.start_offset.set(offset);
            self.remove_segments_before_start().await?;
            write_start_offset(&self.dir, offset).await?;
        }
        Ok(self.start_offset.get())
    }

    /// Deletes whole segments older than `retention.ms` or beyond `retention.bytes`,
    /// oldest first, never the active one nor one holding offsets from `upper_bound`
    /// (the high watermark) on. Returns how many went.
    pub async fn enforce_retention(
        &self,
        now_ms: i64,
        upper_bound: i64,
    ) -> Result<usize, StorageError> {
        // An offline log is left as it is until a restart recovers it.
        if self.is_offline() {
            return Ok(0);
        }
        let config = *self.config.borrow();
        // A compact-only topic keeps every key's last record however old.
        if !config.delete {
            return Ok(0);
        }
        // An expired active segment is rolled so it can go too, as Kafka does; with an
        // append under way it waits for the next run.
        let active = self.active();
        let active_expired = config.retention_ms >= 0
            && active.size() > 0
            && now_ms - active.retention_timestamp() > config.retention_ms;
        if active_expired {
            if let Ok(_turn) = self.turn.try_acquire_permit(1) {
                // A roll writes index files: on a full disk it fails, and the sealed
                // segments still go.
                if let Err(error) = self.roll(now_ms).await {
                    tracing::warn!(dir = %self.dir.display(), %error, "the expired active segment was not rolled");
                }
            }
        }
        let mut total = self.size_bytes() as i64;
        let mut new_start = None;
        let sealed: Vec<Rc<Segment>> = {
            let segments = self.segments.borrow();
            let count = segments.len();
            segments
                .values()
                .take(count.saturating_sub(1))
                .cloned()
                .collect()
        };
        for segment in sealed {
            // Only records below the high watermark may go, as in Kafka: the others
            // may still be on their way to the followers.
            if segment.next_offset() > upper_bound {
                break;
            }
            let expired = config.retention_ms >= 0
                && now_ms - segment.retention_timestamp() > config.retention_ms;
            let oversized = config.retention_bytes >= 0
                && total - segment.size() as i64 >= config.retention_bytes;
            if !(expired || oversized) {
                break;
            }
            total -= segment.size() as i64;
            new_start = Some(segment.next_offset());
        }
        let Some(new_start) = new_start else {
            return Ok(0);
        };
        let before = self.segment_count();
        let moved = new_start > self.start_offset.get();
        if moved {
            self.start_offset.set(new_start);
        }
        self.remove_segments_before_start().await?;
        if moved {
            write_start_offset(&self.dir, new_start).await?;
        }
        Ok(before - self.segment_count())
    }

    async fn remove_segments_before_start(&self) -> Result<(), StorageError> {
        let start = self.start_offset.get();
        loop {
            let doomed = {
                let segments = self.segments.borrow();
                let mut iter = segments.values();
                match (iter.next(), iter.next()) {
                    (Some(first), Some(_)) if first.next_offset() <= start => {
                        Some(Rc::clone(first))
                    }
                    _ => None,
                }
            };
            let Some(segment) = doomed else {
                return Ok(());
            };
            self.segments.borrow_mut().remove(&segment.base_offset());
            segment.remove(&self.dir).await?;
        }
    }

    /// Calls `each` with every whole batch of the log, oldest first.
    pub async fn for_each_batch(&self, each: impl FnMut(&[u8])) -> Result<(), StorageError> {
        self.for_each_batch_from(i64::MIN, each).await
    }

    /// Calls `each` with every whole batch that holds an offset at or after `from`,
    /// oldest first.
    pub async fn for_each_batch_from(
        &self,
        from: i64,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), StorageError> {
        let segments: Vec<Rc<Segment>> = self
            .segments
            .borrow()
            .values()
            .filter(|s| s.next_offset() > from)
            .cloned()
            .collect();
        for segment in &segments {
            self.ensure_checked(segment).await?;
            let first = from.max(segment.base_offset());
            let mut position = match segment.position_of(first).await? {
                Some((position, _)) => position,
                None => continue,
            };
            while let Some(batches) = scan_from(segment, &mut position).await? {
                batches.iter().for_each(&mut each);
            }
        }
        Ok(())
    }

    /// Flushes the log so a restart finds it whole.
    pub async fn close(&self) -> Result<(), StorageError> {
        self.flush().await?;
        self.set_recovery_point(self.end_offset.get()).await;
        Ok(())
    }

    /// Removes the log's files and directory (topic deletion). The directory is first
    /// renamed `<name>.<id>-delete`, in one step: a stop part way leaves no directory
    /// under the partition's name, and the next start finishes the removal.
    pub async fn delete(&self) -> Result<(), StorageError> {
        let dir = self.dir.clone();
        glommio::executor()
            .spawn_blocking(move || {
                let doomed = aside(&dir, "delete");
                std::fs::rename(&dir, &doomed).about(|| renamed(&dir, &doomed))?;
                std::fs::remove_dir_all(&doomed).on(&doomed)
            })
            .await?;
        Ok(())
    }
}

/// `dir`'s name with Kafka's suffix for a log set aside: `<topic>-<partition>.<id>-<what>`
/// (`-delete` for one being deleted, `-stray` for one the metadata does not list).
pub fn aside(dir: &Path, what: &str) -> PathBuf {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    dir.with_file_name(format!("{name}.{}-{what}", uuid::Uuid::new_v4().simple()))
}

/// Whole batches read from one window of a segment.
struct Batches {
    window: Vec<u8>,
    /// (start, length) of each batch in `window`.
    spans: Vec<(usize, usize)>,
}

impl Batches {
    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.spans
            .iter()
            .map(|(at, length)| &self.window[*at..*at + *length])
    }
}

/// The whole batches of the window at `position` (at least one, however large),
/// moving `position` past them; `None` at the segment's end.
async fn scan_from(segment: &Segment, position: &mut u64) -> Result<Option<Batches>, StorageError> {
    let size = segment.size();
    if *position >= size {
        return Ok(None);
    }
    let want = (size - *position).min(SCAN_WINDOW_BYTES as u64) as usize;
    let window = segment.read_exact(*position, want).await?;
    let mut spans = Vec::new();
    let mut consumed = 0;
    let end = batch::walk(&window, false, |at, header| {
        if let Ok(length) = header.total_size() {
            spans.push((at, length));
            consumed = at + length;
        }
    });
    if consumed == 0 {
        // One batch larger than the window: read exactly that batch.
        let whole = BatchHeader::parse(&window).and_then(|h| h.total_size());
        let length = match (end, whole) {
            (WalkEnd::Partial(0), Ok(length)) if length as u64 <= size - *position => length,
            // Recovery and appends guarantee whole batches; stop at anything else (a
            // length past the segment's end is not read, however large it claims to be).
            _ => return Ok(None),
        };
        let window = segment.read_exact(*position, length).await?;
        *position += length as u64;
        return Ok(Some(Batches {
            window,
            spans: vec![(0, length)],
        }));
    }
    *position += consumed as u64;
    Ok(Some(Batches { window, spans }))
}

/// The path of a segment file, for tests and tools.
pub fn segment_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(file_name(base_offset, "log"))
}
