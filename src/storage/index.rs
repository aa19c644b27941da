//! Sparse offset and time indexes of one segment, in memory, with Kafka's file formats
//! (`.index`: relative offset i32 + position i32; `.timeindex`: timestamp i64 +
//! relative offset i32; all big-endian) for sealed segments.
//!
//! Invariant: entries are strictly increasing in offset (and in timestamp for the time
//! index), so lookups are binary searches for the floor entry.

use zerocopy::byteorder::big_endian::{I32, I64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy, PartialEq, Eq,
)]
#[repr(C)]
struct OffsetEntry {
    relative_offset: I32,
    position: I32,
}

#[derive(
    FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy, PartialEq, Eq,
)]
#[repr(C)]
struct TimeEntry {
    timestamp: I64,
    relative_offset: I32,
}

/// Offset → file position, one entry every `index.interval.bytes` of log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OffsetIndex {
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    pub fn push(&mut self, relative_offset: u32, position: u32) {
        if let Some(last) = self.entries.last() {
            if relative_offset <= last.0 {
                return;
            }
            debug_assert!(position > last.1, "positions grow with offsets");
        }
        self.entries.push((relative_offset, position));
    }

    /// The (relative offset, position) entries, in order.
    pub fn entries(&self) -> &[(u32, u32)] {
        &self.entries
    }

    /// Position of the last indexed batch starting at or before `relative_offset`.
    pub fn floor(&self, relative_offset: u32) -> u32 {
        let at = self
            .entries
            .partition_point(|(offset, _)| *offset <= relative_offset);
        if at == 0 {
            0
        } else {
            self.entries[at - 1].1
        }
    }

    /// The relative offset of the first indexed batch at or after `position`.
    pub fn offset_at_or_after(&self, position: u32) -> Option<u32> {
        let at = self.entries.partition_point(|(_, p)| *p < position);
        self.entries.get(at).map(|(offset, _)| *offset)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let entries: Vec<OffsetEntry> = self
            .entries
            .iter()
            .map(|(offset, position)| OffsetEntry {
                relative_offset: I32::new(*offset as i32),
                position: I32::new(*position as i32),
            })
            .collect();
        entries.as_bytes().to_vec()
    }

    /// Reads an index file; `None` when it is not a well-formed index of a log of
    /// `log_size` bytes (the caller then rebuilds it from the log).
    pub fn from_bytes(bytes: &[u8], log_size: u64) -> Option<OffsetIndex> {
        let entries = <[OffsetEntry]>::ref_from_bytes(bytes).ok()?;
        let mut index = OffsetIndex::default();
        for entry in entries {
            let (offset, position) = (entry.relative_offset.get(), entry.position.get());
            let previous = index.entries.last().copied();
            let ordered = previous
                .is_none_or(|(o, p)| offset as i64 > o as i64 && position as i64 > p as i64);
            if offset < 0 || position < 0 || position as u64 >= log_size || !ordered {
                return None;
            }
            index.entries.push((offset as u32, position as u32));
        }
        Some(index)
    }
}

/// Timestamp → relative offset, an entry whenever the max timestamp grows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TimeIndex {
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    pub fn push(&mut self, timestamp: i64, relative_offset: u32) {
        if let Some(last) = self.entries.last() {
            if timestamp <= last.0 || relative_offset <= last.1 {
                return;
            }
        }
        self.entries.push((timestamp, relative_offset));
    }

    /// The relative offset to start scanning from for the first record with a
    /// timestamp at or after `timestamp`: the entry before the first entry at or after it.
    pub fn start_for(&self, timestamp: i64) -> u32 {
        let at = self.entries.partition_point(|(ts, _)| *ts < timestamp);
        if at == 0 {
            0
        } else {
            self.entries[at - 1].1
        }
    }

    /// The largest timestamp indexed, -1 when there is none.
    pub fn max_timestamp(&self) -> i64 {
        self.entries.last().map_or(-1, |(ts, _)| *ts)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let entries: Vec<TimeEntry> = self
            .entries
            .iter()
            .map(|(ts, offset)| TimeEntry {
                timestamp: I64::new(*ts),
                relative_offset: I32::new(*offset as i32),
            })
            .collect();
        entries.as_bytes().to_vec()
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<TimeIndex> {
        let entries = <[TimeEntry]>::ref_from_bytes(bytes).ok()?;
        let mut index = TimeIndex::default();
        for entry in entries {
            let (ts, offset) = (entry.timestamp.get(), entry.relative_offset.get());
            let ordered = index
                .entries
                .last()
                .is_none_or(|(t, o)| ts > *t && offset as i64 > *o as i64);
            if offset < 0 || !ordered {
                return None;
            }
            index.entries.push((ts, offset as u32));
        }
        Some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn floor_lookups() {
        let mut index = OffsetIndex::default();
        assert_eq!(index.floor(5), 0);
        index.push(10, 4096);
        index.push(20, 8192);
        assert_eq!(index.floor(9), 0);
        assert_eq!(index.floor(10), 4096);
        assert_eq!(index.floor(19), 4096);
        assert_eq!(index.floor(1000), 8192);
    }

    #[test]
    fn time_lookups() {
        let mut index = TimeIndex::default();
        index.push(100, 0);
        index.push(200, 10);
        index.push(150, 20);
        assert_eq!(index.start_for(50), 0);
        assert_eq!(index.start_for(200), 0);
        assert_eq!(index.start_for(201), 10);
    }

    #[test]
    fn corrupt_files_are_refused() {
        assert!(OffsetIndex::from_bytes(&[1, 2, 3], 100).is_none());
        let mut index = OffsetIndex::default();
        index.push(1, 50);
        assert!(OffsetIndex::from_bytes(&index.to_bytes(), 40).is_none());
        assert!(TimeIndex::from_bytes(&[0; 11]).is_none());
    }

    proptest! {
        #[test]
        fn files_round_trip(steps in proptest::collection::vec((1u32..100, 1u32..5000, 1i64..1000), 0..50)) {
            let (mut offsets, mut times) = (OffsetIndex::default(), TimeIndex::default());
            let (mut offset, mut position, mut ts) = (0u32, 0u32, 0i64);
            for (d_offset, d_position, d_ts) in steps {
                offset += d_offset;
                position += d_position;
                ts += d_ts;
                offsets.push(offset, position);
                times.push(ts, offset);
            }
            prop_assert_eq!(OffsetIndex::from_bytes(&offsets.to_bytes(), u64::from(position) + 1), Some(offsets));
            prop_assert_eq!(TimeIndex::from_bytes(&times.to_bytes()), Some(times));
        }
    }
}
