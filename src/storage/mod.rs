//! Durable partition logs in Kafka's on-disk layout (DESIGN §3).
//!
//! Each `Log` belongs to the shard that owns its partition and is touched by no other.
//! This module knows nothing of Kafka requests, replication, or other shards.

pub mod batch;
mod index;
pub mod log;
mod segment;

pub use self::batch::{BatchError, BatchInfo};
pub use self::log::{Appended, FileSlice, Log, LogConfig};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("offset {offset} is outside the log's range [{start}, {end}]")]
    OffsetOutOfRange { offset: i64, start: i64, end: i64 },
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests;
