//! The aborted-transaction index (Kafka's `.txnindex`): for every transaction aborted
//! with data in this partition, its producer, first offset, the offset of its abort
//! marker, and the last stable offset just after the abort. read_committed fetches send
//! the entries that overlap what they return, and clients drop those records.
//!
//! Kept in memory, ordered by marker offset, and in one file per segment (the segment
//! the marker is in), 34 bytes an entry as Kafka lays them out. The files are written
//! (atomically, durably) just before a producer snapshot is, for the segments that got
//! aborts since the last one: so they hold every abort below the newest snapshot, and
//! the aborts after it come back from the replay that rebuilds the producer state.

use std::path::{Path, PathBuf};

use zerocopy::byteorder::big_endian::{I16, I64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::storage::{OnFile, StorageError};

const VERSION: i16 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The abort marker's offset.
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

/// One entry as Kafka stores it (big-endian, 34 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy)]
#[repr(C)]
struct Entry {
    version: I16,
    producer_id: I64,
    first_offset: I64,
    last_offset: I64,
    last_stable_offset: I64,
}

impl From<&AbortedTxn> for Entry {
    fn from(txn: &AbortedTxn) -> Entry {
        Entry {
            version: I16::new(VERSION),
            producer_id: I64::new(txn.producer_id),
            first_offset: I64::new(txn.first_offset),
            last_offset: I64::new(txn.last_offset),
            last_stable_offset: I64::new(txn.last_stable_offset),
        }
    }
}

pub fn path(dir: &Path, segment_base: i64) -> PathBuf {
    dir.join(crate::storage::segment_file_name(segment_base, "txnindex"))
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TxnIndex {
    /// Ordered by `last_offset`.
    entries: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// Reads the index files of the segments at `bases`; a file that is not a whole
    /// number of version-0 entries in marker order stops the open, naming it.
    pub fn load(dir: &Path, bases: &[i64]) -> Result<TxnIndex, StorageError> {
        let mut index = TxnIndex::default();
        for base in bases {
            let file = path(dir, *base);
            let bytes = match std::fs::read(&file) {
                Ok(bytes) => bytes,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error).on(&file).map_err(StorageError::from),
            };
            let damaged = |reason: &str| {
                let error = std::io::Error::new(std::io::ErrorKind::InvalidData, reason);
                StorageError::from(crate::storage::on_file(error, &file))
            };
            let entries = <[Entry]>::ref_from_bytes(&bytes)
                .map_err(|_| damaged("not a whole number of 34-byte entries"))?;
            for entry in entries {
                if entry.version.get() != VERSION {
                    return Err(damaged("an entry of an unknown version"));
                }
                let txn = AbortedTxn {
                    producer_id: entry.producer_id.get(),
                    first_offset: entry.first_offset.get(),
                    last_offset: entry.last_offset.get(),
                    last_stable_offset: entry.last_stable_offset.get(),
                };
                if index
                    .entries
                    .last()
                    .is_some_and(|last| last.last_offset >= txn.last_offset)
                {
                    return Err(damaged("entries out of marker order"));
                }
                index.entries.push(txn);
            }
        }
        Ok(index)
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// Adds an abort in memory (markers come in offset order).
    pub fn push(&mut self, txn: AbortedTxn) {
        debug_assert!(self
            .entries
            .last()
            .is_none_or(|l| l.last_offset < txn.last_offset));
        self.entries.push(txn);
    }

    /// Forgets aborts whose marker is at or after `offset` (a truncation, or entries a
    /// replay from `offset` writes again). Returns whether any went.
    pub fn truncate_from(&mut self, offset: i64) -> bool {
        let keep = self.entries.partition_point(|e| e.last_offset < offset);
        let changed = keep < self.entries.len();
        self.entries.truncate(keep);
        changed
    }

    /// Forgets aborts whose marker is before `offset` (segments deleted below it).
    pub fn drop_before(&mut self, offset: i64) {
        let gone = self.entries.partition_point(|e| e.last_offset < offset);
        self.entries.drain(..gone);
    }

    /// The base of the segment (of those at `bases`, oldest first) holding `offset`.
    pub fn segment_of(bases: &[i64], offset: i64) -> Option<i64> {
        let at = bases.partition_point(|base| *base <= offset);
        at.checked_sub(1).map(|i| bases[i])
    }

    /// Rewrites the files of the segments at `bases` that `rewrite` picks to hold exactly
    /// the entries in memory whose marker they hold (no file when there are none).
    pub async fn write_files(
        &self,
        dir: &Path,
        bases: &[i64],
        rewrite: impl Fn(i64) -> bool,
    ) -> std::io::Result<()> {
        for (i, base) in bases.iter().enumerate() {
            if !rewrite(*base) {
                continue;
            }
            let end = bases.get(i + 1).copied().unwrap_or(i64::MAX);
            let entries: Vec<Entry> = self
                .entries
                .iter()
                .filter(|e| e.last_offset >= *base && e.last_offset < end)
                .map(Entry::from)
                .collect();
            let file = path(dir, *base);
            if entries.is_empty() {
                match std::fs::remove_file(&file) {
                    Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                        return Err(error).on(&file)
                    }
                    _ => {}
                }
            } else {
                crate::storage::replace_file(&file, entries.as_bytes().to_vec()).await?;
            }
        }
        Ok(())
    }

    /// The aborts a read_committed fetch from `fetch_offset` needs, whose data it may
    /// return up to `upper_bound`: (producer id, first offset). As Kafka, the walk
    /// stops after an abort whose last stable offset reaches the bound: no transaction
    /// aborted later started before it.
    pub fn overlapping(&self, fetch_offset: i64, upper_bound: i64) -> Vec<(i64, i64)> {
        let start = self
            .entries
            .partition_point(|e| e.last_offset < fetch_offset);
        let mut found = Vec::new();
        for entry in &self.entries[start..] {
            if entry.first_offset < upper_bound {
                found.push((entry.producer_id, entry.first_offset));
            }
            if entry.last_stable_offset >= upper_bound {
                break;
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(producer_id: i64, first_offset: i64, last_offset: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id,
            first_offset,
            last_offset,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn a_fetch_gets_the_aborts_overlapping_its_range() {
        let mut index = TxnIndex::default();
        index.push(txn(1, 0, 5, 3));
        index.push(txn(2, 3, 20, 10));
        index.push(txn(3, 10, 25, 26));
        index.push(txn(4, 30, 40, 41));
        assert_eq!(index.overlapping(6, 12), vec![(2, 3), (3, 10)]);
        assert_eq!(index.overlapping(0, 4), vec![(1, 0), (2, 3)]);
        assert_eq!(index.overlapping(26, 35), vec![(4, 30)]);
        assert!(index.overlapping(41, 50).is_empty());
        index.truncate_from(25);
        assert_eq!(index.entries().len(), 2);
        index.drop_before(6);
        assert_eq!(index.entries(), &[txn(2, 3, 20, 10)]);
    }

    #[test]
    fn files_hold_each_segments_entries_in_kafkas_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut index = TxnIndex::default();
        let (a, b) = (txn(1, 0, 5, 6), txn(2, 8, 12, 13));
        index.push(a);
        index.push(b);
        let bases = [0, 10, 20];
        assert_eq!(TxnIndex::segment_of(&bases, 12), Some(10));
        assert_eq!(TxnIndex::segment_of(&bases, -1), None);
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .make()
            .expect("executor")
            .run(index.write_files(dir.path(), &bases, |_| true))
            .expect("written");
        let bytes = std::fs::read(path(dir.path(), 0)).expect("file");
        assert_eq!(bytes.len(), 34);
        assert_eq!(&bytes[..10], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(!path(dir.path(), 20).exists(), "no aborts: no file");
        let loaded = TxnIndex::load(dir.path(), &bases).expect("load");
        assert_eq!(loaded.entries(), &[a, b]);
        let second = std::fs::read(path(dir.path(), 10)).expect("file");
        std::fs::write(path(dir.path(), 10), &second[..20]).expect("damage");
        let error = TxnIndex::load(dir.path(), &bases).expect_err("refused");
        assert!(
            error.to_string().contains("00000000000000000010.txnindex"),
            "{error}"
        );
    }
}
