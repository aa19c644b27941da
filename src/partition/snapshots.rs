//! Producer-state snapshots on disk and the replay that rebuilds the state from the
//! newest usable one plus the log after it (Kafka's `rebuildProducerState`).
//!
//! A snapshot `<20-digit offset>.snapshot` holds the state of every batch before that
//! offset. The partition writes one when a segment rolls (at the new segment's base
//! offset) and when it closes cleanly (at the log end), and keeps the newest
//! `SNAPSHOTS_KEPT`. After a crash the state comes back from the newest snapshot at or
//! below the log end and a replay of the log from there: with a snapshot per roll that
//! replay covers the active segment, which recovery has just read anyway.

use std::path::{Path, PathBuf};

use super::producers::{Marker, ProducerBatch, ProducerState};
use super::txn_index::AbortedTxn;
use crate::storage::batch::BatchHeader;
use crate::storage::{Log, OnFile, StorageError};

const SUFFIX: &str = ".snapshot";
/// Snapshots kept per partition: the newest, and the one before in case a truncation
/// goes below it.
const SNAPSHOTS_KEPT: usize = 2;

pub fn path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}{SUFFIX}"))
}

/// The offsets of the snapshots in `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut offsets = Vec::new();
    for entry in std::fs::read_dir(dir).on(dir)? {
        let name = entry.on(dir)?.file_name();
        let name = name.to_string_lossy();
        let Some(stem) = name.strip_suffix(SUFFIX) else {
            continue;
        };
        if stem.len() == 20 {
            if let Ok(offset) = stem.parse::<i64>() {
                offsets.push(offset);
            }
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Writes `state` as the snapshot at `offset` (atomically, durably), then removes all
/// but the newest `SNAPSHOTS_KEPT`.
pub async fn write(dir: &Path, offset: i64, state: Vec<u8>) -> std::io::Result<()> {
    crate::storage::replace_file(&path(dir, offset), state).await?;
    let offsets = list(dir).map_err(std::io::Error::other)?;
    let stale = offsets.len().saturating_sub(SNAPSHOTS_KEPT);
    for old in &offsets[..stale] {
        remove(dir, *old)?;
    }
    Ok(())
}

pub fn remove(dir: &Path, offset: i64) -> std::io::Result<()> {
    let file = path(dir, offset);
    match std::fs::remove_file(&file) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error).on(&file),
        _ => Ok(()),
    }
}

/// What a rebuild found: the producer state of every batch before the end it was asked
/// for, the offset its replay started from, and the transactions aborted in the part
/// it replayed.
pub struct Rebuilt {
    pub state: ProducerState,
    pub from: i64,
    pub aborts: Vec<AbortedTxn>,
}

impl Rebuilt {
    /// No producer state, as of `from`.
    pub fn empty(from: i64) -> Rebuilt {
        Rebuilt {
            state: ProducerState::default(),
            from,
            aborts: Vec::new(),
        }
    }
}

/// The producer state of every batch of `log` before `end`: the newest snapshot at or
/// below `end` (newer ones describe records that are gone and are removed; one that does
/// not read is removed, with a warning, and the one before it tried), then a replay of
/// the batches from there. Without any, the whole log is replayed.
pub async fn rebuild(log: &Log, end: i64) -> Result<Rebuilt, StorageError> {
    let dir = log.dir();
    let mut offsets = list(dir)?;
    while let Some(&offset) = offsets.last() {
        if offset > end {
            remove(dir, offset)?;
            offsets.pop();
        } else {
            break;
        }
    }
    let mut loaded = None;
    while let Some(offset) = offsets.pop() {
        let file = path(dir, offset);
        let bytes = std::fs::read(&file).on(&file)?;
        match ProducerState::from_snapshot(&bytes) {
            Ok(state) => {
                loaded = Some((state, offset));
                break;
            }
            Err(reason) => {
                let file = path(dir, offset);
                tracing::warn!(file = %file.display(), %reason, "producer snapshot unreadable: removed, the log is replayed instead");
                remove(dir, offset)?;
            }
        }
    }
    let mut rebuilt = match loaded {
        Some((state, from)) => Rebuilt {
            state,
            from,
            aborts: Vec::new(),
        },
        None => Rebuilt::empty(log.start_offset()),
    };
    let from = rebuilt.from;
    if from < end {
        log.for_each_batch_from(from, |bytes| replay(&mut rebuilt, bytes, end))
            .await?;
    }
    Ok(rebuilt)
}

/// Applies one stored batch, as a follower would: nothing is checked.
fn replay(rebuilt: &mut Rebuilt, bytes: &[u8], end: i64) {
    let Ok(header) = BatchHeader::parse(bytes) else {
        return;
    };
    let base_offset = header.base_offset.get();
    let producer_id = header.producer_id.get();
    if producer_id < 0 || base_offset < rebuilt.from || base_offset >= end {
        return;
    }
    if !header.is_control() {
        rebuilt.state.record(&producer_batch(header), base_offset);
        return;
    }
    let Some(marker) = Marker::parse(bytes) else {
        return;
    };
    if let Some(abort) = rebuilt.state.apply_marker(&marker) {
        rebuilt.aborts.push(abort);
    }
}

/// What a stored batch's header says about its producer.
pub fn producer_batch(header: &BatchHeader) -> ProducerBatch {
    ProducerBatch {
        producer_id: header.producer_id.get(),
        epoch: header.producer_epoch.get(),
        base_sequence: header.base_sequence.get(),
        last_offset_delta: header.last_offset_delta.get(),
        transactional: header.is_transactional(),
        max_timestamp: header.max_timestamp.get(),
    }
}
