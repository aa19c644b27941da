//! Log compaction (`cleanup.policy=compact`): every sealed segment is rewritten to keep
//! only the last record of each key, and tombstones (null values) are dropped once
//! they are older than `delete.retention.ms`. Offsets never change and records never
//! move past one another: a batch that loses records is re-encoded with the survivors'
//! own offsets, timestamps and codec; a batch that loses none is copied byte for byte.
//!
//! The active segment is read (its records supersede older ones) but never rewritten.
//! A cleaned segment replaces the old one by rename; a reader holding the old file
//! keeps reading it. Runs on the shard that owns the log, between appends to it.

use std::collections::HashMap;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions};

use super::super::segment::{file_name, write_file, Segment};
use super::super::{sync_dir, StorageError};
use super::Log;

impl Log {
    /// Cleans the sealed segments if any were sealed since the last run. Returns how
    /// many records were removed.
    pub async fn compact(&self, now_ms: i64) -> Result<usize, StorageError> {
        let config = *self.config.borrow();
        let segments: Vec<Rc<Segment>> = self.segments.borrow().values().cloned().collect();
        let Some((active, sealed)) = segments.split_last() else {
            return Ok(0);
        };
        if !config.compact || sealed.is_empty() || active.base_offset() <= self.cleaned_up_to.get()
        {
            return Ok(0);
        }
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        self.for_each_batch(|bytes| {
            for record in decode(bytes) {
                if let Some(key) = record.key {
                    latest.insert(key, record.offset);
                }
            }
        })
        .await?;
        let horizon = now_ms.saturating_sub(config.delete_retention_ms);
        let mut removed = 0;
        for segment in sealed {
            removed += self.clean(segment, &latest, horizon, now_ms).await?;
        }
        self.cleaned_up_to.set(active.base_offset());
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
        latest: &HashMap<Bytes, i64>,
        horizon: i64,
        now_ms: i64,
    ) -> Result<usize, StorageError> {
        let mut kept = Vec::new();
        let mut removed = 0;
        super::scan(segment, |bytes| {
            let (batch, dropped) = clean_batch(bytes, latest, horizon);
            kept.extend_from_slice(&batch);
            removed += dropped;
        })
        .await?;
        if removed == 0 {
            return Ok(0);
        }
        let base = segment.base_offset();
        let cleaned = self.dir.join(format!("{}.cleaned", file_name(base, "log")));
        write_file(&cleaned, kept).await?;
        // Indexes are rebuilt from the cleaned file; a crash before the rename leaves
        // the old segment, which reopens without them just as well.
        segment.remove_indexes(&self.dir).await?;
        glommio::io::rename(&cleaned, self.dir.join(file_name(base, "log")))
            .await
            .map_err(std::io::Error::from)?;
        sync_dir(&self.dir).await?;
        let interval = self.config.borrow().index_interval_bytes;
        let replacement = Segment::open_sealed(&self.dir, base, now_ms, interval).await?;
        replacement.seal(&self.dir).await?;
        let mut segments = self.segments.borrow_mut();
        if segments.get(&base).is_some_and(|s| Rc::ptr_eq(s, segment)) {
            segments.insert(base, Rc::new(replacement));
        }
        Ok(removed)
    }
}

fn decode(bytes: &[u8]) -> Vec<Record> {
    super::super::decode::decode(bytes)
        .map(|set| set.records)
        .unwrap_or_default()
}

/// The batch as it stays after cleaning (possibly empty), and how many records left.
fn clean_batch(bytes: &[u8], latest: &HashMap<Bytes, i64>, horizon: i64) -> (Vec<u8>, usize) {
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
        .filter(|r| match &r.key {
            None => true,
            Some(key) => {
                let newest = latest.get(key) == Some(&r.offset);
                let expired_tombstone = r.value.is_none() && r.timestamp < horizon;
                newest && !expired_tombstone
            }
        })
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
