//! Producer state of one partition (Kafka's ProducerStateManager): for each producer id,
//! its epoch, the sequences and offsets of its last five batches, and the first offset
//! of its open transaction. It decides whether a batch is appended, answered as the
//! duplicate of one already stored, or refused; it takes time as an argument and does
//! no I/O. Snapshots are Kafka's `<offset>.snapshot` bytes (`to_snapshot`/`from_snapshot`);
//! the partition writes and reads the files.
//!
//! Rules, as Kafka 3.x/4.x applies them to a client's batch:
//! - an epoch older than the producer's: INVALID_PRODUCER_EPOCH;
//! - the same epoch and exactly the sequences of a retained batch: a duplicate, answered
//!   with that batch's offsets;
//! - a new epoch starts at sequence 0; the same epoch goes on at the last sequence + 1
//!   (after i32::MAX comes 0); anything else is OUT_OF_ORDER_SEQUENCE_NUMBER; a producer
//!   this partition does not know (never seen, or expired) may start anywhere (KIP-360);
//! - a producer with a transaction open may not write outside it: INVALID_TXN_STATE.

use std::collections::{BTreeMap, HashMap, VecDeque};

use zerocopy::byteorder::big_endian::{I16, I32, I64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::storage::batch::{self, BatchHeader};

/// Batches remembered per producer, as Kafka's NUM_BATCHES_TO_RETAIN: a producer has at
/// most five requests in flight, so any retry is one of these.
pub const BATCHES_RETAINED: usize = 5;
/// No epoch known (Kafka's RecordBatch.NO_PRODUCER_EPOCH).
pub const NO_EPOCH: i16 = -1;

const SNAPSHOT_VERSION: i16 = 1;
const SNAPSHOT_HEADER_BYTES: usize = 10;
const SNAPSHOT_ENTRY_BYTES: usize = 46;

/// What a batch's header says about its producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
    pub last_offset_delta: i32,
    pub transactional: bool,
    pub max_timestamp: i64,
}

impl ProducerBatch {
    pub fn last_sequence(&self) -> i32 {
        add_sequence(self.base_sequence, self.last_offset_delta)
    }
}

/// A sequence `delta` later, wrapping after i32::MAX to 0 as Kafka's sequences do.
fn add_sequence(sequence: i32, delta: i32) -> i32 {
    ((i64::from(sequence) + i64::from(delta)) % (i64::from(i32::MAX) + 1)) as i32
}

fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

/// One stored batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub last_sequence: i32,
    pub last_offset: i64,
    /// Last offset minus first offset.
    pub offset_delta: i32,
    /// The batch's max timestamp.
    pub timestamp: i64,
}

impl BatchMeta {
    pub fn first_sequence(&self) -> i32 {
        let first = i64::from(self.last_sequence) - i64::from(self.offset_delta);
        if first < 0 {
            (first + i64::from(i32::MAX) + 1) as i32
        } else {
            first as i32
        }
    }

    pub fn first_offset(&self) -> i64 {
        self.last_offset - i64::from(self.offset_delta)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first, at most `BATCHES_RETAINED`; only batches of `epoch`.
    pub batches: VecDeque<BatchMeta>,
    /// The coordinator epoch of the last marker, -1 before any.
    pub coordinator_epoch: i32,
    /// First offset of the producer's open transaction here.
    pub txn_first_offset: Option<i64>,
    /// Max timestamp of its last batch, or its last marker's time.
    pub last_timestamp: i64,
}

impl ProducerEntry {
    fn new() -> ProducerEntry {
        ProducerEntry {
            epoch: NO_EPOCH,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            txn_first_offset: None,
            last_timestamp: -1,
        }
    }

    pub fn last_sequence(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_sequence)
    }

    /// Moves to `epoch`; the batches of an older one are forgotten.
    fn take_epoch(&mut self, epoch: i16) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    #[error("producer {producer_id} wrote with epoch {epoch}, older than its epoch {current}")]
    InvalidEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error("producer {producer_id} at epoch {epoch} sent sequence {got}, expected {expected}")]
    OutOfOrder {
        producer_id: i64,
        epoch: i16,
        got: i32,
        expected: i32,
    },
    #[error("producer {producer_id} has a transaction open here: expected a transactional write")]
    NotTransactional { producer_id: i64 },
    #[error("marker of producer {producer_id} from coordinator epoch {got}, older than {current}")]
    CoordinatorFenced {
        producer_id: i64,
        got: i32,
        current: i32,
    },
}

/// What to do with a client's batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Append,
    /// A retry of this stored batch: answer with its offsets, append nothing.
    Duplicate(BatchMeta),
}

/// A transaction a marker ended here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// The marker's offset.
    pub last_offset: i64,
    pub aborted: bool,
}

/// A commit or abort marker, as the partition stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub producer_id: i64,
    pub epoch: i16,
    pub coordinator_epoch: i32,
    pub commit: bool,
    pub offset: i64,
    pub timestamp: i64,
}

impl Marker {
    /// The marker a stored (or about to be stored) batch is; `None` when it is not a
    /// commit or abort marker.
    pub fn parse(bytes: &[u8]) -> Option<Marker> {
        let header = BatchHeader::parse(bytes).ok()?;
        let (commit, coordinator_epoch) = batch::marker_record(bytes)?;
        Some(Marker {
            producer_id: header.producer_id.get(),
            epoch: header.producer_epoch.get(),
            coordinator_epoch,
            commit,
            offset: header.base_offset.get(),
            timestamp: header.max_timestamp.get(),
        })
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset → producer id.
    ongoing: BTreeMap<i64, i64>,
}

impl ProducerState {
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every known producer, for DescribeProducers.
    pub fn entries(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.producers.iter().map(|(id, entry)| (*id, entry))
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// The first offset of the oldest open transaction: nothing from it on is stable.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Decides what to do with a client's data batch, without changing anything.
    pub fn check(&self, batch: &ProducerBatch) -> Result<Verdict, ProducerError> {
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            // Unknown here (never seen, or expired): any sequence may start it, as in
            // Kafka since KIP-360.
            return Ok(Verdict::Append);
        };
        if batch.epoch < entry.epoch {
            return Err(ProducerError::InvalidEpoch {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                current: entry.epoch,
            });
        }
        if batch.epoch == entry.epoch {
            let last_sequence = batch.last_sequence();
            let retried = entry.batches.iter().find(|b| {
                b.first_sequence() == batch.base_sequence && b.last_sequence == last_sequence
            });
            if let Some(stored) = retried {
                return Ok(Verdict::Duplicate(*stored));
            }
        }
        let expected = if batch.epoch != entry.epoch {
            (entry.epoch != NO_EPOCH).then_some(0)
        } else {
            let last = entry.last_sequence();
            (entry.epoch != NO_EPOCH && !in_sequence(last, batch.base_sequence))
                .then(|| add_sequence(last, 1))
        };
        match expected {
            Some(expected) if expected != batch.base_sequence => {
                return Err(ProducerError::OutOfOrder {
                    producer_id: batch.producer_id,
                    epoch: batch.epoch,
                    got: batch.base_sequence,
                    expected,
                })
            }
            _ => {}
        }
        if entry.txn_first_offset.is_some() && !batch.transactional {
            return Err(ProducerError::NotTransactional {
                producer_id: batch.producer_id,
            });
        }
        Ok(Verdict::Append)
    }

    /// Records a data batch stored at `first_offset` (after `check`, or replaying the
    /// log, which checks nothing).
    pub fn record(&mut self, batch: &ProducerBatch, first_offset: i64) {
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(ProducerEntry::new);
        entry.take_epoch(batch.epoch);
        entry.batches.push_back(BatchMeta {
            last_sequence: batch.last_sequence(),
            last_offset: first_offset + i64::from(batch.last_offset_delta),
            offset_delta: batch.last_offset_delta,
            timestamp: batch.max_timestamp,
        });
        while entry.batches.len() > BATCHES_RETAINED {
            entry.batches.pop_front();
        }
        entry.last_timestamp = batch.max_timestamp;
        if batch.transactional && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(first_offset);
            self.ongoing.insert(first_offset, batch.producer_id);
        }
    }

    /// Checks a coordinator's marker: its epoch may not be older than the producer's,
    /// nor its coordinator epoch older than the last marker's.
    pub fn check_marker(&self, marker: &Marker) -> Result<(), ProducerError> {
        let Some(entry) = self.producers.get(&marker.producer_id) else {
            return Ok(());
        };
        if marker.epoch < entry.epoch {
            return Err(ProducerError::InvalidEpoch {
                producer_id: marker.producer_id,
                epoch: marker.epoch,
                current: entry.epoch,
            });
        }
        if marker.coordinator_epoch < entry.coordinator_epoch {
            return Err(ProducerError::CoordinatorFenced {
                producer_id: marker.producer_id,
                got: marker.coordinator_epoch,
                current: entry.coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Records a stored marker; returns the transaction it ended, if one was open.
    fn record_marker(&mut self, marker: &Marker) -> Option<CompletedTxn> {
        let entry = self
            .producers
            .entry(marker.producer_id)
            .or_insert_with(ProducerEntry::new);
        entry.take_epoch(marker.epoch);
        entry.coordinator_epoch = marker.coordinator_epoch;
        entry.last_timestamp = marker.timestamp;
        let first_offset = entry.txn_first_offset.take()?;
        self.ongoing.remove(&first_offset);
        Some(CompletedTxn {
            producer_id: marker.producer_id,
            first_offset,
            last_offset: marker.offset,
            aborted: !marker.commit,
        })
    }

    /// Records a stored marker and, when it aborted a transaction, the entry the
    /// aborted-transaction index takes for it (with the last stable offset after it).
    pub fn apply_marker(&mut self, marker: &Marker) -> Option<super::txn_index::AbortedTxn> {
        let completed = self.record_marker(marker)?;
        completed.aborted.then(|| super::txn_index::AbortedTxn {
            producer_id: completed.producer_id,
            first_offset: completed.first_offset,
            last_offset: completed.last_offset,
            last_stable_offset: self
                .first_unstable_offset()
                .unwrap_or(completed.last_offset + 1),
        })
    }

    /// A coordinator's data batch (transactional offset commits) is checked for its
    /// epoch only, as Kafka checks appends of its COORDINATOR origin.
    pub fn check_epoch(&self, batch: &ProducerBatch) -> Result<(), ProducerError> {
        match self.producers.get(&batch.producer_id) {
            Some(entry) if batch.epoch < entry.epoch => Err(ProducerError::InvalidEpoch {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                current: entry.epoch,
            }),
            _ => Ok(()),
        }
    }

    /// Forgets producers without an open transaction whose last write is
    /// `expiration_ms` old (`producer.id.expiration.ms`). Returns how many went.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, entry| {
            entry.txn_first_offset.is_some()
                || now_ms.saturating_sub(entry.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    /// Kafka's snapshot file (version 1): version, CRC-32C of what follows it, then one
    /// 46-byte entry per producer. shoal writes an entry per retained batch, oldest first,
    /// so all five come back; Kafka's reader keeps the last entry of a producer, its
    /// newest batch, and reads the file as its own.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        let mut entries: Vec<SnapshotEntry> = Vec::new();
        for id in ids {
            let entry = &self.producers[id];
            let put =
                |last_sequence: i32, last_offset: i64, delta: i32, timestamp: i64| SnapshotEntry {
                    producer_id: I64::new(*id),
                    epoch: I16::new(entry.epoch),
                    last_sequence: I32::new(last_sequence),
                    last_offset: I64::new(last_offset),
                    offset_delta: I32::new(delta),
                    timestamp: I64::new(timestamp),
                    coordinator_epoch: I32::new(entry.coordinator_epoch),
                    txn_first_offset: I64::new(entry.txn_first_offset.unwrap_or(-1)),
                };
            let batches = entry.batches.len();
            if batches == 0 {
                entries.push(put(-1, -1, 0, entry.last_timestamp));
            }
            for (i, b) in entry.batches.iter().enumerate() {
                // The last entry carries the producer's own last write time.
                let timestamp = if i + 1 == batches {
                    entry.last_timestamp
                } else {
                    b.timestamp
                };
                entries.push(put(
                    b.last_sequence,
                    b.last_offset,
                    b.offset_delta,
                    timestamp,
                ));
            }
        }
        let mut body = (entries.len() as i32).to_be_bytes().to_vec();
        body.extend_from_slice(entries.as_bytes());
        let mut file = SNAPSHOT_VERSION.to_be_bytes().to_vec();
        file.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        file.extend_from_slice(&body);
        file
    }

    pub fn from_snapshot(bytes: &[u8]) -> Result<ProducerState, String> {
        let Some((header, entries)) = bytes.split_at_checked(SNAPSHOT_HEADER_BYTES) else {
            return Err(format!("{} bytes, too short for a snapshot", bytes.len()));
        };
        let version = i16::from_be_bytes([header[0], header[1]]);
        if version != SNAPSHOT_VERSION {
            return Err(format!("unknown snapshot version {version}"));
        }
        let stored = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
        let computed = crc32c::crc32c(&bytes[6..]);
        if stored != computed {
            return Err(format!(
                "CRC mismatch: stored {stored:#x}, computed {computed:#x}"
            ));
        }
        let count = i32::from_be_bytes([header[6], header[7], header[8], header[9]]);
        let entries = <[SnapshotEntry]>::ref_from_bytes(entries)
            .ok()
            .filter(|entries| usize::try_from(count) == Ok(entries.len()))
            .ok_or_else(|| {
                format!(
                    "{count} entries declared, {} bytes of entries",
                    bytes.len() - SNAPSHOT_HEADER_BYTES
                )
            })?;
        let mut state = ProducerState::default();
        for raw in entries {
            let entry = state
                .producers
                .entry(raw.producer_id.get())
                .or_insert_with(ProducerEntry::new);
            entry.take_epoch(raw.epoch.get());
            if raw.last_offset.get() >= 0 {
                entry.batches.push_back(BatchMeta {
                    last_sequence: raw.last_sequence.get(),
                    last_offset: raw.last_offset.get(),
                    offset_delta: raw.offset_delta.get(),
                    timestamp: raw.timestamp.get(),
                });
                if entry.batches.len() > BATCHES_RETAINED {
                    entry.batches.pop_front();
                }
            }
            entry.coordinator_epoch = raw.coordinator_epoch.get();
            entry.last_timestamp = raw.timestamp.get();
            let txn = raw.txn_first_offset.get();
            entry.txn_first_offset = (txn >= 0).then_some(txn);
        }
        for (id, entry) in &state.producers {
            if let Some(first) = entry.txn_first_offset {
                state.ongoing.insert(first, *id);
            }
        }
        Ok(state)
    }
}

/// One entry of a snapshot file, as Kafka lays it out (big-endian, 46 bytes).
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Debug, Clone, Copy)]
#[repr(C)]
struct SnapshotEntry {
    producer_id: I64,
    epoch: I16,
    last_sequence: I32,
    last_offset: I64,
    offset_delta: I32,
    timestamp: I64,
    coordinator_epoch: I32,
    txn_first_offset: I64,
}

const _: () = assert!(std::mem::size_of::<SnapshotEntry>() == SNAPSHOT_ENTRY_BYTES);

#[cfg(test)]
#[path = "producers_tests.rs"]
mod tests;
