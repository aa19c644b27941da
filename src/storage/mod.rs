//! Durable partition logs in Kafka's on-disk layout (DESIGN §3).
//!
//! Each `Log` belongs to the shard that owns its partition and is touched by no other.
//! This module knows nothing of Kafka requests, replication, or other shards.

pub mod batch;
pub mod decode;
mod index;
pub mod log;
mod segment;

pub use self::batch::{BatchError, BatchInfo};
pub use self::log::{Appended, FileSlice, Log, LogConfig};
pub use self::segment::file_name as segment_file_name;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("offset {offset} is outside the log's range [{start}, {end}]")]
    OffsetOutOfRange { offset: i64, start: i64, end: i64 },
    #[error("batch at offset {offset} is out of order: the log ends at {expected}")]
    OutOfOrder { offset: i64, expected: i64 },
    #[error("storage I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The log is offline: an fdatasync failed (Linux may have dropped the dirty pages,
    /// so what it holds is no longer known to be on disk, and a later sync that succeeds
    /// would not prove otherwise), or a segment is damaged.
    #[error("the log in {dir} is offline: {reason}")]
    Offline {
        dir: std::path::PathBuf,
        reason: String,
    },
}

/// An offline log's records are not loaded (coordinators' state at start-up): it said
/// why when it went offline, and serves nothing until a restart recovers it.
pub fn skip_offline(error: StorageError) -> Result<(), StorageError> {
    match error {
        StorageError::Offline { .. } => Ok(()),
        error => Err(error),
    }
}

#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod tests;

/// Replaces `path` with `bytes` atomically and durably: a crash leaves either the old
/// content or the new, never a mix (write aside, fdatasync, rename, sync the directory).
pub async fn replace_file(path: &std::path::Path, bytes: Vec<u8>) -> std::io::Result<()> {
    // `name.tmp`, not a swapped extension: `X.snapshot` and `X.txnindex` differ.
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let file = glommio::io::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .buffered_open(&temporary)
        .await?;
    let length = bytes.len();
    if file.write_at(bytes, 0).await? != length {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            "short write",
        ));
    }
    file.fdatasync().await?;
    file.close().await?;
    glommio::io::rename(&temporary, path).await?;
    if let Some(dir) = path.parent() {
        sync_dir(dir).await?;
    }
    Ok(())
}

pub async fn sync_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let handle = glommio::io::Directory::open(dir).await?;
    handle.sync().await?;
    handle.close().await?;
    Ok(())
}
