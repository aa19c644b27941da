//! Durable partition logs in Kafka's on-disk layout (DESIGN §3).
//!
//! Each `Log` belongs to the shard that owns its partition and is touched by no other.
//! This module knows nothing of Kafka requests, replication, or other shards.

pub mod batch;
pub mod decode;
mod index;
pub mod log;
mod segment;
pub mod topic_id;

pub use self::batch::{BatchError, BatchInfo};
pub use self::log::{Appended, FileSlice, Log, LogConfig};
pub use self::segment::file_name as segment_file_name;

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

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

/// An I/O error about a file, naming it: its kind and OS error number are kept
/// (`os_error`), and its message is the file's path and the error's.
#[derive(Debug)]
struct FileError {
    /// The file's path, or what was done to which files ("A renamed to B").
    file: String,
    source: io::Error,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.source)
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Names the file an I/O error is about (every error about a file names it); an error
/// that names one already is left as it is.
pub(crate) trait OnFile<T>: Sized {
    fn on(self, path: &Path) -> io::Result<T> {
        self.about(|| path.display().to_string())
    }

    /// `file` says which file, or files.
    fn about(self, file: impl FnOnce() -> String) -> io::Result<T>;
}

impl<T, E: Into<io::Error>> OnFile<T> for Result<T, E> {
    fn about(self, file: impl FnOnce() -> String) -> io::Result<T> {
        self.map_err(|error| naming(error.into(), file))
    }
}

/// `source`, naming the file `path`.
pub(crate) fn on_file(source: io::Error, path: &Path) -> io::Error {
    naming(source, || path.display().to_string())
}

fn naming(source: io::Error, file: impl FnOnce() -> String) -> io::Error {
    if source
        .get_ref()
        .is_some_and(|inner| inner.is::<FileError>())
    {
        return source;
    }
    let kind = source.kind();
    io::Error::new(
        kind,
        FileError {
            file: file(),
            source,
        },
    )
}

/// The OS's error number behind `error`, through the file it names.
pub(crate) fn os_error(error: &io::Error) -> Option<i32> {
    error.raw_os_error().or_else(|| {
        let named = error.get_ref()?.downcast_ref::<FileError>()?;
        named.source.raw_os_error()
    })
}

/// `(available, capacity)` in bytes of the file system holding `dir`: what an
/// unprivileged writer may still use, and its size. `None` when it cannot be read.
pub fn file_system_space(dir: &Path) -> Option<(u64, u64)> {
    let fs = rustix::fs::statvfs(dir).ok()?;
    Some((
        fs.f_bavail.saturating_mul(fs.f_frsize),
        fs.f_blocks.saturating_mul(fs.f_frsize),
    ))
}

thread_local! {
    /// Whether this shard's last append failed for a full disk: the first failure of an
    /// episode is logged, and the first success after it, not every request between.
    static DISK_FULL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Notes how an append to `path` went, saying when the disk fills and when it has
/// space again.
pub(crate) fn note_append(path: &Path, result: &io::Result<()>) {
    let full = match result {
        Ok(()) => false,
        Err(error) if os_error(error) == Some(libc::ENOSPC) => true,
        Err(_) => return,
    };
    if DISK_FULL.with(|was| was.replace(full)) == full {
        return;
    }
    if full {
        tracing::error!(file = %path.display(), "the disk is full: appends get KAFKA_STORAGE_ERROR until space is freed (DeleteRecords, DeleteTopics and retention free it)");
    } else {
        tracing::info!(file = %path.display(), "the disk has space again: appends succeed");
    }
}

#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod tests;

/// Replaces `path` with `bytes` atomically and durably: a crash leaves either the old
/// content or the new, never a mix (write aside, fdatasync, rename, sync the directory).
pub async fn replace_file(path: &Path, bytes: Vec<u8>) -> io::Result<()> {
    // `name.tmp`, not a swapped extension: `X.snapshot` and `X.txnindex` differ.
    write_and_rename(&beside(path, ".tmp"), path, bytes).await
}

/// As `replace_file`, but written into `<path>.spare`, a file whose space was allocated
/// beforehand: the write needs no new space, so it succeeds on a full disk, where it may
/// be the metadata change (a topic's deletion) that frees space. The next spare is
/// allocated afterwards; when it cannot be (the disk is still full), the next write
/// tries again first.
pub async fn replace_file_from_spare(path: &Path, bytes: Vec<u8>) -> io::Result<()> {
    let length = bytes.len();
    allocate_spare(path, length).await;
    write_and_rename(&beside(path, ".spare"), path, bytes).await?;
    allocate_spare(path, length).await;
    Ok(())
}

/// Makes sure the spare of `path` has room for about twice `length` bytes (at least
/// 64 KiB); a failure is logged, not returned (the write then needs fresh space, as
/// without a spare).
pub async fn allocate_spare(path: &Path, length: usize) {
    let spare = beside(path, ".spare");
    let spare = spare.as_path();
    let size = (2 * length).max(64 << 10) as u64;
    let allocated = async {
        let file = glommio::io::OpenOptions::new()
            .write(true)
            .create(true)
            .buffered_open(spare)
            .await?;
        // SAFETY: the descriptor belongs to `file`, open until the `close` below.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(file.as_raw_fd()) };
        let result = rustix::fs::fallocate(fd, rustix::fs::FallocateFlags::empty(), 0, size);
        file.close().await?;
        result.map_err(io::Error::from)
    };
    if let Err(error) = allocated.await {
        tracing::warn!(file = %spare.display(), %error, "no space set aside for the next metadata write");
    }
}

/// `path` with `suffix` added to its name.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes `bytes` at the start of `temporary` (without truncating it first, which would
/// free a spare's allocation), cuts it to their length, syncs it and renames it to
/// `path`, then syncs the directory.
async fn write_and_rename(temporary: &Path, path: &Path, bytes: Vec<u8>) -> io::Result<()> {
    crate::failpoint::fault("storage::write", temporary).on(temporary)?;
    let file = glommio::io::OpenOptions::new()
        .write(true)
        .create(true)
        .buffered_open(temporary)
        .await
        .on(temporary)?;
    let length = bytes.len();
    if file.write_at(bytes, 0).await.on(temporary)? != length {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short write")).on(temporary);
    }
    file.truncate(length as u64).await.on(temporary)?;
    file.fdatasync().await.on(temporary)?;
    file.close().await.on(temporary)?;
    crate::failpoint::fault("storage::rename", path).on(path)?;
    glommio::io::rename(temporary, path)
        .await
        .about(|| renamed(temporary, path))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir).await?;
    }
    Ok(())
}

/// What a failed rename was about: either file may be the one missing.
pub(crate) fn renamed(from: &Path, to: &Path) -> String {
    format!("{} renamed to {}", from.display(), to.display())
}

pub async fn sync_dir(dir: &Path) -> io::Result<()> {
    let handle = glommio::io::Directory::open(dir).await.on(dir)?;
    handle.sync().await.on(dir)?;
    handle.close().await.on(dir)?;
    Ok(())
}
