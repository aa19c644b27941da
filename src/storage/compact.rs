//! Log compaction (`cleanup.policy=compact`): sealed segments are rewritten to keep
//! only the last record of each key, and tombstones (null values) are dropped once
//! they are older than `delete.retention.ms`. Offsets never change and records never
//! move past one another: a batch that loses records is re-encoded with the survivors'
//! own offsets, timestamps and codec; a batch that loses none is copied byte for byte.
//!
//! As in Kafka's cleaner, the key map covers only what is new since the last run (the
//! sealed segments from `cleaned_up_to`, and, while the map has room, the active
//! segment, whose records supersede older ones but which is never rewritten: a
//! duplicate whose newer record the map missed there waits for that segment to be
//! sealed and cleaned, as in Kafka), and holds a 128-bit digest of
//! each key, not the key, up to a bound. Everything before the cleaned part was already
//! deduplicated by earlier runs, so a record whose key the map lacks stays. When the
//! map fills, the run cleans up to the last segment it mapped whole and the next run
//! goes on from there. Every map entry names a record that exists, so a record older
//! than its key's entry is superseded whatever the map leaves out.
//!
//! A cleaned segment is written beside the old one in bounded chunks and replaces it
//! by rename; a reader holding the old file keeps reading it. Runs on the shard that
//! owns the log, between appends to it.
//!
//! Transactions (`Stable`): nothing at or past the last stable offset is mapped or
//! cleaned, since an open transaction may still commit or abort; records of aborted
//! transactions never supersede anything and are removed; commit and abort markers
//! are never mapped and always kept, so a read_committed reader still finds the abort
//! marker that ends each aborted range it was told of. Each producer's last batch is
//! kept whole: its header is the producer's sequence state when that state is rebuilt
//! from the log. (Kafka keeps such a batch's header even when all its records go;
//! keeping the batch whole is simpler and costs at most one batch per live producer.)

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use bytes::BytesMut;
use glommio::io::{BufferedFile, OpenOptions};
use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions};

use super::super::batch::BatchHeader;
use super::super::segment::{file_name, write_all, Segment};
use super::super::{renamed, sync_dir, OnFile, StorageError};
use super::Log;

/// Memory one key-map entry costs, about: its digest, its offset, the table's slack.
pub const MAP_ENTRY_BYTES: usize = 32;
/// A cleaned segment is written in chunks of this size.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// The newest offset of each key (by digest) in the part of the log being mapped.
type KeyMap = HashMap<u128, i64>;

/// What the partition tells the cleaner about transactions.
#[derive(Debug, Clone, Default)]
pub struct Stable {
    /// The last stable offset: nothing from here on is cleaned or mapped.
    pub below: i64,
    /// Aborted transactions by producer id: (first offset, abort marker's offset).
    pub aborted: HashMap<i64, Vec<(i64, i64)>>,
    /// The last offsets of batches kept whole: each producer's last, whose header holds
    /// the sequence state a replay of the log recovers the producer from.
    pub kept_batches: HashSet<i64>,
}

impl Stable {
    /// Everything stable, nothing aborted (a log without transactions).
    pub fn all() -> Stable {
        Stable {
            below: i64::MAX,
            aborted: HashMap::new(),
            kept_batches: HashSet::new(),
        }
    }

    /// Whether the batch is one to keep whole.
    fn keeps(&self, batch: &[u8]) -> bool {
        !self.kept_batches.is_empty()
            && BatchHeader::parse(batch).is_ok_and(|h| self.kept_batches.contains(&h.last_offset()))
    }

    fn is_aborted(&self, record: &Record) -> bool {
        record.transactional
            && self.aborted.get(&record.producer_id).is_some_and(|ranges| {
                ranges
                    .iter()
                    .any(|(first, marker)| (*first..*marker).contains(&record.offset))
            })
    }
}

/// What a cleaning run goes by.
struct Rules<'a> {
    latest: &'a KeyMap,
    horizon: i64,
    stable: &'a Stable,
}

fn digest(key: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key)
}

impl Log {
    /// Cleans the sealed segments if any were sealed since the last run, with a key
    /// map of at most `map_entries_max` keys. Returns how many records were removed.
    pub async fn compact(
        &self,
        now_ms: i64,
        map_entries_max: usize,
        stable: &Stable,
    ) -> Result<usize, StorageError> {
        if self.is_offline() {
            return Ok(0);
        }
        let config = *self.config.borrow();
        let segments: Vec<Rc<Segment>> = self.segments.borrow().values().cloned().collect();
        let Some((active, sealed)) = segments.split_last() else {
            return Ok(0);
        };
        // Only segments wholly below the last stable offset may be cleaned.
        let cleanable = sealed.partition_point(|s| s.next_offset() <= stable.below);
        let sealed = &sealed[..cleanable];
        let cleaned_up_to = self.cleaned_up_to.get();
        if !config.compact || sealed.is_empty() || active.base_offset() <= cleaned_up_to {
            return Ok(0);
        }
        let dirty = sealed.partition_point(|s| s.next_offset() <= cleaned_up_to);
        let mut latest = KeyMap::new();
        // Segments mapped whole (the active one last), counted from the first dirty one.
        let mut mapped = 0;
        for segment in &segments[dirty..] {
            if !map_segment(segment, &mut latest, map_entries_max, stable).await? {
                break;
            }
            mapped += 1;
        }
        let clean_end = (dirty + mapped).min(sealed.len());
        if mapped == 0 {
            tracing::warn!(
                dir = %self.dir.display(),
                map_entries_max,
                "one segment holds more keys than log.cleaner.dedupe.buffer.size allows a map: not compacted"
            );
            return Ok(0);
        }
        let rules = Rules {
            latest: &latest,
            horizon: now_ms.saturating_sub(config.delete_retention_ms),
            stable,
        };
        let mut removed = 0;
        for segment in &sealed[..clean_end] {
            removed += self.clean(segment, &rules, now_ms).await?;
        }
        let next = sealed
            .get(clean_end)
            .or(segments.get(cleanable))
            .map_or(active.base_offset(), |s| s.base_offset());
        self.cleaned_up_to.set(next);
        Ok(removed)
    }

    /// Sealed segments below this offset have been cleaned.
    pub fn cleaned_up_to(&self) -> i64 {
        self.cleaned_up_to.get()
    }

    /// Rewrites one sealed segment without superseded records; returns how many went.
    async fn clean(
        &self,
        segment: &Rc<Segment>,
        rules: &Rules<'_>,
        now_ms: i64,
    ) -> Result<usize, StorageError> {
        self.ensure_checked(segment).await?;
        // A first read finds whether there is anything to drop: most segments of a
        // cleaned log have nothing, and rewriting them all at every run would double
        // the disk's work.
        let mut droppable = 0;
        let mut position = 0;
        while let Some(batches) = super::scan_from(segment, &mut position).await? {
            droppable += batches
                .iter()
                .map(|b| dropped_from(b, rules))
                .sum::<usize>();
        }
        if droppable == 0 {
            return Ok(0);
        }
        let base = segment.base_offset();
        let cleaned = self.dir.join(format!("{}.cleaned", file_name(base, "log")));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .buffered_open(&cleaned)
            .await
            .on(&cleaned)?;
        let mut out = Cleaned {
            file,
            written: 0,
            pending: Vec::new(),
        };
        crate::failpoint::fault("storage::write", &cleaned).on(&cleaned)?;
        let mut removed = 0;
        let mut position = 0;
        while let Some(batches) = super::scan_from(segment, &mut position).await? {
            for bytes in batches.iter() {
                let (batch, dropped) = clean_batch(bytes, rules);
                out.pending.extend_from_slice(&batch);
                removed += dropped;
            }
            if out.pending.len() >= WRITE_CHUNK_BYTES {
                out.write_pending().await?;
            }
        }
        out.write_pending().await?;
        out.file.fdatasync().await.on(&cleaned)?;
        out.file.close().await.on(&cleaned)?;
        // Indexes are rebuilt from the cleaned file; a crash before the rename leaves
        // the old segment, which reopens without them just as well.
        segment.remove_indexes(&self.dir).await?;
        crate::failpoint::fault("storage::rename", &cleaned).on(&cleaned)?;
        let log = self.dir.join(file_name(base, "log"));
        glommio::io::rename(&cleaned, &log)
            .await
            .about(|| renamed(&cleaned, &log))?;
        sync_dir(&self.dir).await?;
        let interval = self.config.borrow().index_interval_bytes;
        let replacement = Segment::open_sealed(&self.dir, base, now_ms, interval).await?;
        replacement.set_verified();
        replacement.seal(&self.dir).await?;
        let mut segments = self.segments.borrow_mut();
        if segments.get(&base).is_some_and(|s| Rc::ptr_eq(s, segment)) {
            segments.insert(base, Rc::new(replacement));
        }
        Ok(removed)
    }
}

/// A cleaned segment being written: what is on disk, and what waits for the next chunk.
struct Cleaned {
    file: BufferedFile,
    written: u64,
    pending: Vec<u8>,
}

impl Cleaned {
    async fn write_pending(&mut self) -> Result<(), StorageError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.pending);
        let length = chunk.len();
        write_all(&self.file, chunk, self.written).await?;
        self.written += length as u64;
        Ok(())
    }
}

/// Adds `segment`'s keys to the map (stable records only, neither markers nor aborted
/// ones); `false` when the map filled before the segment's end (what it added stays:
/// each entry still names a record that exists).
async fn map_segment(
    segment: &Segment,
    latest: &mut KeyMap,
    entries_max: usize,
    stable: &Stable,
) -> Result<bool, StorageError> {
    let mut position = 0;
    while let Some(batches) = super::scan_from(segment, &mut position).await? {
        for bytes in batches.iter() {
            for record in decode(bytes) {
                if record.control || record.offset >= stable.below || stable.is_aborted(&record) {
                    continue;
                }
                let Some(key) = record.key else { continue };
                let digest = digest(&key);
                if latest.len() >= entries_max && !latest.contains_key(&digest) {
                    return Ok(false);
                }
                latest.insert(digest, record.offset);
            }
        }
    }
    Ok(true)
}

fn decode(bytes: &[u8]) -> Vec<Record> {
    super::super::decode::decode(bytes)
        .map(|set| set.records)
        .unwrap_or_default()
}

/// Whether `record` stays: it is not part of an aborted transaction, it is its key's
/// newest known record, and not a tombstone past the horizon. Keyless records stay
/// (only a compacted topic's are refused).
fn survives(record: &Record, rules: &Rules<'_>) -> bool {
    if rules.stable.is_aborted(record) {
        return false;
    }
    let Some(key) = &record.key else {
        return true;
    };
    let newest = rules
        .latest
        .get(&digest(key))
        .is_none_or(|at| record.offset >= *at);
    let expired_tombstone = record.value.is_none() && record.timestamp < rules.horizon;
    newest && !expired_tombstone
}

/// How many records of the batch cleaning drops.
fn dropped_from(bytes: &[u8], rules: &Rules<'_>) -> usize {
    if rules.stable.keeps(bytes) {
        return 0;
    }
    match super::super::decode::decode(bytes) {
        Ok(set) if !set.records.first().is_some_and(|r| r.control) => {
            set.records.iter().filter(|r| !survives(r, rules)).count()
        }
        _ => 0,
    }
}

/// The batch as it stays after cleaning (possibly empty), and how many records left.
fn clean_batch(bytes: &[u8], rules: &Rules<'_>) -> (Vec<u8>, usize) {
    if rules.stable.keeps(bytes) {
        return (bytes.to_vec(), 0);
    }
    let Ok(set) = super::super::decode::decode(bytes) else {
        // Not ours to judge: an undecodable batch is kept as it is.
        return (bytes.to_vec(), 0);
    };
    if set.records.first().is_some_and(|r| r.control) {
        return (bytes.to_vec(), 0);
    }
    let total = set.records.len();
    let mut survivors: Vec<Record> = set
        .records
        .into_iter()
        .filter(|r| survives(r, rules))
        .collect();
    let dropped = total - survivors.len();
    if dropped == 0 {
        return (bytes.to_vec(), 0);
    }
    let Some(first) = survivors.first().map(|r| r.offset) else {
        return (Vec::new(), dropped);
    };
    if survivors[0].producer_id < 0 {
        // The encoder starts a new batch wherever offset minus sequence changes; without
        // a producer the sequence is free, so keep the survivors in one batch.
        for record in &mut survivors {
            record.sequence = (record.offset - first) as i32;
        }
    }
    let options = RecordEncodeOptions {
        version: 2,
        compression: set.compression,
    };
    let mut out = BytesMut::new();
    match RecordBatchEncoder::encode(&mut out, &survivors, &options) {
        Ok(()) => (out.to_vec(), dropped),
        Err(error) => {
            tracing::warn!(%error, "a cleaned batch did not encode; kept as it was");
            (bytes.to_vec(), 0)
        }
    }
}
