//! One segment of a partition log: a `.log` file of batches stored exactly as clients
//! sent them (offsets patched), with its sparse `.index` and `.timeindex`.
//!
//! Lives on the shard that owns the partition. Invariants: `size` counts only bytes
//! whose write completed (readers never see a half-written batch); `next_offset` is one
//! past the last offset stored; only one append runs at a time (the owning `Log`
//! serialises them).

use std::cell::{Cell, RefCell};
use std::io::{self, IoSlice};
use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::{BufferedFile, OpenOptions};

use super::batch::{self, BatchHeader, BatchInfo, WalkEnd, HEADER_BYTES};
use super::index::{OffsetIndex, TimeIndex};
use super::OnFile;

/// Bytes read at a time while walking batch headers: about one index interval, since
/// a walk starts at the index entry before its target.
const HEADER_WINDOW_BYTES: usize = 4096 + HEADER_BYTES;
/// Bytes read at a time while verifying a segment on recovery.
const RECOVERY_CHUNK_BYTES: usize = 1 << 20;

pub fn file_name(base_offset: i64, extension: &str) -> String {
    format!("{base_offset:020}.{extension}")
}

pub struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    file: Rc<BufferedFile>,
    size: Cell<u64>,
    next_offset: Cell<i64>,
    max_timestamp: Cell<i64>,
    index: RefCell<OffsetIndex>,
    time_index: RefCell<TimeIndex>,
    bytes_since_index: Cell<u64>,
    created_ms: i64,
    /// Every batch was checked (CRC, framing, offsets in order) or written by this
    /// process. A sealed segment opened before the log's recovery point is trusted at
    /// start-up and checked the first time something reads it.
    verified: Cell<bool>,
}

impl Segment {
    pub async fn create(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Segment> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let file = open_rw(&log_path, true).await?;
        Ok(Segment::new(base_offset, log_path, file, now_ms))
    }

    fn new(base_offset: i64, log_path: PathBuf, file: BufferedFile, created_ms: i64) -> Segment {
        Segment {
            base_offset,
            log_path,
            file: Rc::new(file),
            size: Cell::new(0),
            next_offset: Cell::new(base_offset),
            max_timestamp: Cell::new(-1),
            index: RefCell::default(),
            time_index: RefCell::default(),
            bytes_since_index: Cell::new(0),
            created_ms,
            verified: Cell::new(true),
        }
    }

    /// Opens a sealed segment: indexes from their files when they are sound, otherwise
    /// rebuilt from the log. Sealed segments were fsynced when they were rolled, so their
    /// batches are not verified here but by `check`, before the first read.
    pub async fn open_sealed(
        dir: &Path,
        base_offset: i64,
        now_ms: i64,
        interval: u64,
    ) -> io::Result<Segment> {
        let segment = Segment::open(dir, base_offset, now_ms).await?;
        segment.verified.set(false);
        let size = segment.file.file_size().await?;
        segment.size.set(size);
        let index = read_whole(&dir.join(file_name(base_offset, "index"))).await;
        let time_index = read_whole(&dir.join(file_name(base_offset, "timeindex"))).await;
        let index = match index.and_then(|bytes| OffsetIndex::from_bytes(&bytes, size)) {
            Some(index) if segment.index_matches(&index).await => Some(index),
            Some(_) => {
                // Well formed, but of another log, or of this one before a change: its
                // seeks would land inside batches.
                tracing::warn!(segment = %segment.log_path.display(), "its offset index does not match it: rebuilt from the log");
                None
            }
            None => None,
        };
        let time_index = time_index.and_then(|bytes| TimeIndex::from_bytes(&bytes));
        match (index, time_index) {
            (Some(index), Some(time_index)) => {
                let tail_start = u64::from(index.floor(u32::MAX));
                segment.max_timestamp.set(time_index.max_timestamp());
                *segment.index.borrow_mut() = index;
                *segment.time_index.borrow_mut() = time_index;
                segment.rescan_tail(tail_start, interval, false).await?;
            }
            _ => {
                segment.rescan_tail(0, interval, true).await?;
                if let Err(error) = segment.write_indexes(dir).await {
                    // The index in memory is right; the files are rebuilt again next time.
                    tracing::warn!(segment = %segment.log_path.display(), %error, "rebuilt index files not written");
                }
            }
        }
        Ok(segment)
    }

    /// Whether `index` agrees with the log: the batches at its first, middle and last
    /// entries start at the offsets those entries name. (Checking every entry would read
    /// the whole segment at start-up.)
    async fn index_matches(&self, index: &OffsetIndex) -> bool {
        let entries = index.entries();
        let Some(last) = entries.len().checked_sub(1) else {
            return true;
        };
        for (relative, position) in [entries[0], entries[last / 2], entries[last]] {
            let Ok(bytes) = self
                .read_exact(u64::from(position), batch::HEADER_BYTES)
                .await
            else {
                return false;
            };
            match BatchHeader::parse(&bytes) {
                Ok(header)
                    if header.base_offset.get() == self.base_offset + i64::from(relative) => {}
                _ => return false,
            }
        }
        true
    }

    /// Opens a segment and verifies every batch (CRC, framing, offsets in order); the
    /// segment then describes the sound prefix. Also returns the file's size: a sound
    /// prefix shorter than the file is a torn tail in the last segment, damage in any
    /// other.
    pub async fn open_verified(
        dir: &Path,
        base_offset: i64,
        now_ms: i64,
        interval: u64,
    ) -> io::Result<(Segment, u64)> {
        let segment = Segment::open(dir, base_offset, now_ms).await?;
        let file_size = segment.file.file_size().await?;
        segment.bytes_since_index.set(interval);
        walk_sound(&segment.file, file_size, base_offset, |position, header| {
            let size = header.total_size().unwrap_or(HEADER_BYTES) as u64;
            let base = header.base_offset.get();
            segment.index_batch(position, base, size, header.max_timestamp.get(), interval);
            segment
                .next_offset
                .set(header.last_offset().saturating_add(1));
            segment.size.set(position + size);
        })
        .await?;
        Ok((segment, file_size))
    }

    /// Opens the last segment after a possible crash: every batch's CRC and framing is
    /// verified, and the file is truncated at the first torn or corrupt batch.
    pub async fn open_recovering(
        dir: &Path,
        base_offset: i64,
        now_ms: i64,
        interval: u64,
    ) -> io::Result<Segment> {
        let (segment, file_size) =
            Segment::open_verified(dir, base_offset, now_ms, interval).await?;
        let valid_end = segment.size();
        if valid_end < file_size {
            tracing::warn!(
                segment = %segment.log_path.display(),
                valid_end,
                file_size,
                "truncating a torn or corrupt tail"
            );
            let path = &segment.log_path;
            segment.file.truncate(valid_end).await.on(path)?;
            segment.file.fdatasync().await.on(path)?;
        }
        Ok(segment)
    }

    /// What is wrong with a segment whose sound prefix (after `open_verified`) ends
    /// before `file_size`: its file, and the position and offset where damage starts.
    pub fn damage(&self, file_size: u64) -> Option<String> {
        (self.size() < file_size).then(|| self.damaged_at(self.size(), self.next_offset()))
    }

    /// What is wrong with a segment whose offsets run to or past `next_base`, the next
    /// segment's first.
    pub fn overlaps(&self, next_base: i64) -> String {
        format!(
            "{}: its batches run to offset {}, past the next segment's first offset {next_base}: a base offset is damaged",
            self.log_path.display(),
            self.next_offset() - 1
        )
    }

    /// Whether every batch was checked or written here (see `check`).
    pub fn is_verified(&self) -> bool {
        self.verified.get()
    }

    /// Marks a segment this process wrote from checked batches (a compaction's output).
    pub fn set_verified(&self) {
        self.verified.set(true);
    }

    /// Verifies every batch of a segment opened unverified: `Some` description of the
    /// damage (naming the file and offset) when the batches do not fill the file
    /// soundly up to where the segment says it ends.
    pub async fn check(&self) -> io::Result<Option<String>> {
        let file_size = self.file.file_size().await?;
        let mut sound = (0, self.base_offset);
        walk_sound(
            &self.file,
            file_size,
            self.base_offset,
            |position, header| {
                let size = header.total_size().unwrap_or(HEADER_BYTES) as u64;
                sound = (position + size, header.last_offset().saturating_add(1));
            },
        )
        .await?;
        let (end, next) = sound;
        if end == file_size && end == self.size() && next == self.next_offset() {
            self.verified.set(true);
            return Ok(None);
        }
        Ok(Some(self.damaged_at(end, next)))
    }

    fn damaged_at(&self, position: u64, offset: i64) -> String {
        format!(
            "{}: the batch at position {position} (offset {offset}) is damaged: its CRC, length or offsets are wrong, or the file ends inside it",
            self.log_path.display()
        )
    }

    async fn open(dir: &Path, base_offset: i64, now_ms: i64) -> io::Result<Segment> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let file = open_rw(&log_path, false).await?;
        Ok(Segment::new(base_offset, log_path, file, now_ms))
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset.get()
    }

    pub fn size(&self) -> u64 {
        self.size.get()
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.get()
    }

    /// The time retention counts this segment's age from: its newest record's
    /// timestamp, or, when it has none (a segment compaction emptied), the time it was
    /// opened, as Kafka falls back on the file's modification time.
    pub fn retention_timestamp(&self) -> i64 {
        match self.max_timestamp.get() {
            newest if newest >= 0 => newest,
            _ => self.created_ms,
        }
    }

    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }

    pub fn file(&self) -> &Rc<BufferedFile> {
        &self.file
    }

    /// Writes batches whose offsets were already assigned, given as `parts` written one
    /// after another, then indexes them (`infos` positions count from the first part;
    /// `bases` are their base offsets). Returns once the bytes are in the page cache
    /// (not yet durable: see `flush`).
    pub async fn append(
        &self,
        parts: &[&[u8]],
        infos: &[BatchInfo],
        bases: &[i64],
        interval: u64,
    ) -> io::Result<()> {
        debug_assert_eq!(infos.len(), bases.len());
        let start = self.size.get();
        let length: u64 = parts.iter().map(|part| part.len() as u64).sum();
        let copied = crate::failpoint::fault("storage::write", &self.log_path)
            .and_then(|()| copy_to_page_cache(&self.file, parts, start));
        super::note_append(&self.log_path, &copied);
        if let Err(error) = copied {
            // A partial write must not stay behind as a torn batch.
            let _ = self.file.truncate(start).await;
            return Err(error).on(&self.log_path);
        }
        for (info, base) in infos.iter().zip(bases) {
            let position = start + info.position as u64;
            self.index_batch(
                position,
                *base,
                info.size as u64,
                info.max_timestamp,
                interval,
            );
            self.next_offset
                .set(base + i64::from(info.last_offset_delta) + 1);
        }
        self.size.set(start + length);
        Ok(())
    }

    /// Cuts the segment at `position` (a batch boundary), durably, and re-derives its
    /// offsets and in-memory indexes from what is left. Its index files go: they are
    /// written again when it is sealed.
    pub async fn truncate(&self, dir: &Path, position: u64, interval: u64) -> io::Result<()> {
        self.file.truncate(position).await.on(&self.log_path)?;
        self.file.fdatasync().await.on(&self.log_path)?;
        self.remove_indexes(dir).await?;
        self.size.set(position);
        self.next_offset.set(self.base_offset);
        self.max_timestamp.set(-1);
        self.rescan_tail(0, interval, true).await
    }

    fn index_batch(
        &self,
        position: u64,
        base_offset: i64,
        size: u64,
        max_timestamp: i64,
        interval: u64,
    ) {
        let relative = (base_offset - self.base_offset) as u32;
        if self.bytes_since_index.get() >= interval {
            self.index.borrow_mut().push(relative, position as u32);
            // Every record before `relative` has a timestamp at most this one.
            self.time_index
                .borrow_mut()
                .push(self.max_timestamp.get(), relative);
            self.bytes_since_index.set(0);
        }
        self.bytes_since_index
            .set(self.bytes_since_index.get() + size);
        if max_timestamp > self.max_timestamp.get() {
            self.max_timestamp.set(max_timestamp);
        }
    }

    pub async fn flush(&self) -> io::Result<()> {
        crate::failpoint::fault("storage::fdatasync", &self.log_path).on(&self.log_path)?;
        self.file.fdatasync().await.on(&self.log_path)
    }

    /// Starts writing the segment's dirty pages to disk and returns without waiting
    /// (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`), so the `flush` that follows finds
    /// them already on their way. Advisory: an I/O error here shows up again in `flush`.
    pub fn start_writeback(&self) {
        // SAFETY: the descriptor belongs to `self.file`, which outlives the call; offset
        // 0 and length 0 mean the whole file.
        unsafe {
            libc::sync_file_range(self.file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
        }
    }

    /// Makes the segment durable and writes its index files: after this it never changes.
    pub async fn seal(&self, dir: &Path) -> io::Result<()> {
        self.flush().await?;
        self.write_indexes(dir).await
    }

    /// Writes the segment's offset and time index files from its in-memory indexes.
    async fn write_indexes(&self, dir: &Path) -> io::Result<()> {
        let index = self.index.borrow().to_bytes();
        let time_index = self.time_index.borrow().to_bytes();
        write_file(&dir.join(file_name(self.base_offset, "index")), index).await?;
        write_file(
            &dir.join(file_name(self.base_offset, "timeindex")),
            time_index,
        )
        .await
    }

    /// Unlinks the segment's files. Readers holding `file()` keep reading the open file.
    pub async fn remove(&self, dir: &Path) -> io::Result<()> {
        self.unlink(dir, &["log", "index", "timeindex", "txnindex"])
            .await
    }

    /// No batch at or after `position` holds an offset below this: the offset of the
    /// first indexed batch from there, else the segment's end.
    pub fn offset_bound_after(&self, position: u64) -> i64 {
        let position = u32::try_from(position).unwrap_or(u32::MAX);
        match self.index.borrow().offset_at_or_after(position) {
            Some(relative) => self.base_offset + i64::from(relative),
            None => self.next_offset.get(),
        }
    }

    /// Unlinks the index files only (they are rebuilt from the log when missing).
    pub async fn remove_indexes(&self, dir: &Path) -> io::Result<()> {
        self.unlink(dir, &["index", "timeindex"]).await
    }

    async fn unlink(&self, dir: &Path, extensions: &[&str]) -> io::Result<()> {
        for extension in extensions {
            let path = dir.join(file_name(self.base_offset, extension));
            crate::failpoint::fault("storage::unlink", &path).on(&path)?;
            match glommio::io::remove(&path).await.on(&path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        Ok(())
    }

    /// Position of the batch holding `offset`, or `None` when the segment ends first.
    pub async fn position_of(&self, offset: i64) -> io::Result<Option<(u64, usize)>> {
        let relative = (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
        let start = u64::from(self.index.borrow().floor(relative));
        self.walk_headers(start, |position, header| {
            if header.last_offset() >= offset {
                let size = header.total_size().unwrap_or(HEADER_BYTES);
                ControlFlow::Break((position, size))
            } else {
                ControlFlow::Continue(())
            }
        })
        .await
    }

    /// The first batch, from the time index's hint on, whose max timestamp reaches
    /// `timestamp`: its position, size and base offset.
    pub async fn batch_for_timestamp(&self, timestamp: i64) -> io::Result<Option<(u64, usize)>> {
        let relative = self.time_index.borrow().start_for(timestamp);
        let start = u64::from(self.index.borrow().floor(relative));
        self.walk_headers(start, |position, header| {
            if header.max_timestamp.get() >= timestamp {
                ControlFlow::Break((position, header.total_size().unwrap_or(HEADER_BYTES)))
            } else {
                ControlFlow::Continue(())
            }
        })
        .await
    }

    pub async fn read_exact(&self, position: u64, length: usize) -> io::Result<Vec<u8>> {
        let bytes = self
            .file
            .read_at(position, length)
            .await
            .on(&self.log_path)?;
        if bytes.len() != length {
            let short =
                io::Error::new(io::ErrorKind::UnexpectedEof, "segment shorter than indexed");
            return Err(short).on(&self.log_path);
        }
        Ok(bytes.to_vec())
    }

    /// Walks batch headers from `start` up to the written size; `visit` stops the walk.
    async fn walk_headers<T>(
        &self,
        start: u64,
        visit: impl FnMut(u64, &BatchHeader) -> ControlFlow<T>,
    ) -> io::Result<Option<T>> {
        self.walk_headers_unnamed(start, visit)
            .await
            .on(&self.log_path)
    }

    async fn walk_headers_unnamed<T>(
        &self,
        start: u64,
        mut visit: impl FnMut(u64, &BatchHeader) -> ControlFlow<T>,
    ) -> io::Result<Option<T>> {
        let end = self.size.get();
        let mut position = start;
        while position + HEADER_BYTES as u64 <= end {
            let want = (end - position).min(HEADER_WINDOW_BYTES as u64) as usize;
            let window = self.file.read_at(position, want).await?;
            let mut at = 0usize;
            while at + HEADER_BYTES <= window.len() {
                let header = BatchHeader::parse(&window[at..]).map_err(corrupt)?;
                if let ControlFlow::Break(found) = visit(position + at as u64, header) {
                    return Ok(Some(found));
                }
                at += header.total_size().map_err(corrupt)?;
            }
            if at == 0 {
                return Err(corrupt("segment ends inside a batch header"));
            }
            position += at as u64;
        }
        Ok(None)
    }

    /// Re-derives offsets, timestamps and (when `reindex`) index entries from `start` to
    /// the end of the file, trusting the bytes (a sealed segment).
    async fn rescan_tail(&self, start: u64, interval: u64, reindex: bool) -> io::Result<()> {
        if reindex {
            *self.index.borrow_mut() = OffsetIndex::default();
            *self.time_index.borrow_mut() = TimeIndex::default();
            self.bytes_since_index.set(interval);
        }
        let mut last = None;
        self.walk_headers(start, |position, header| {
            let size = header.total_size().unwrap_or(HEADER_BYTES) as u64;
            if reindex {
                self.index_batch(
                    position,
                    header.base_offset.get(),
                    size,
                    header.max_timestamp.get(),
                    interval,
                );
            } else if header.max_timestamp.get() > self.max_timestamp.get() {
                self.max_timestamp.set(header.max_timestamp.get());
            }
            last = Some(header.last_offset());
            ControlFlow::<()>::Continue(())
        })
        .await?;
        if let Some(last) = last {
            self.next_offset.set(last.saturating_add(1));
        }
        Ok(())
    }
}

/// Walks `file`'s batches from the start up to `file_size`, verifying each (CRC,
/// framing, offsets increasing from `first_offset`), and calls `each` with the position
/// and header of every batch of the sound prefix.
async fn walk_sound(
    file: &BufferedFile,
    file_size: u64,
    first_offset: i64,
    mut each: impl FnMut(u64, &BatchHeader),
) -> io::Result<()> {
    let mut position = 0u64;
    let mut next_offset = first_offset;
    while position < file_size {
        let want = (file_size - position).min(RECOVERY_CHUNK_BYTES as u64) as usize;
        let mut chunk = file.read_at(position, want).await?.to_vec();
        if let Ok(header) = BatchHeader::parse(&chunk) {
            // A batch larger than the chunk is read whole, if the file holds it.
            let size = header.total_size().unwrap_or(0) as u64;
            if size as usize > chunk.len() && position + size <= file_size {
                chunk = file.read_at(position, size as usize).await?.to_vec();
            }
        }
        let mut sound_end = position;
        let mut in_order = true;
        let end = batch::walk(&chunk, true, |at, header| {
            in_order &= header.base_offset.get() >= next_offset;
            if in_order {
                let at = position + at as u64;
                each(at, header);
                next_offset = header.last_offset().saturating_add(1);
                sound_end = at + header.total_size().unwrap_or(HEADER_BYTES) as u64;
            }
        });
        let whole = match end {
            WalkEnd::Clean => true,
            WalkEnd::Partial(at) => at > 0 && position + (chunk.len() as u64) < file_size,
            WalkEnd::Corrupt(_) => false,
        };
        if !in_order || !whole || sound_end <= position {
            return Ok(());
        }
        position = sound_end;
    }
    Ok(())
}

fn corrupt(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

async fn open_rw(path: &Path, create: bool) -> io::Result<BufferedFile> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .buffered_open(path)
        .await
        .on(path)?;
    Ok(file)
}

/// Copies `parts`, one after another, into the page cache at `position` with plain
/// `pwritev`s on the shard's thread, as Kafka's handler threads write. Through io_uring
/// the same write is never asynchronous on ext4 (it refuses non-blocking buffered
/// writes), so the ring handed each one to a kernel worker thread, and on a 2-core
/// machine the broker spent about a fifth more CPU per MB (measured with `shoal bench
/// produce`). The durable part, fdatasync, stays on the ring.
fn copy_to_page_cache(file: &BufferedFile, parts: &[&[u8]], mut position: u64) -> io::Result<()> {
    // SAFETY: the descriptor belongs to `file`, which outlives this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(file.as_raw_fd()) };
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|part| IoSlice::new(part)).collect();
    let mut rest = &mut slices[..];
    // Drops empty leading parts, so that nothing left to write is an empty `rest`, never
    // a pwritev of zero bytes (which the loop would take for a short write).
    IoSlice::advance_slices(&mut rest, 0);
    // rustix passes at most 1024 buffers (Linux's UIO_MAXIOV) to one call; the loop
    // goes on from wherever a call stopped.
    while !rest.is_empty() {
        match rustix::io::pwritev(fd, rest, position) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "short write to a segment",
                ))
            }
            Ok(written) => {
                IoSlice::advance_slices(&mut rest, written);
                position += written as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Writes `bytes` at `position`. The buffer moves into the ring, so a short write (only
/// seen when the device is full) cannot be resumed: it is an error, and the caller
/// truncates what was written.
pub(super) async fn write_all(
    file: &BufferedFile,
    bytes: Vec<u8>,
    position: u64,
) -> io::Result<()> {
    let length = bytes.len();
    let written = file.write_at(bytes, position).await?;
    if written != length {
        let short = io::Error::new(io::ErrorKind::WriteZero, "short write");
        let path = file.path().map(|path| path.display().to_string());
        return Err(short).about(|| path.unwrap_or_else(|| "a segment".to_string()));
    }
    Ok(())
}

pub(super) async fn write_file(path: &Path, bytes: Vec<u8>) -> io::Result<()> {
    crate::failpoint::fault("storage::write", path).on(path)?;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .buffered_open(path)
        .await
        .on(path)?;
    write_all(&file, bytes, 0).await.on(path)?;
    file.fdatasync().await.on(path)?;
    file.close().await.on(path)?;
    Ok(())
}

async fn read_whole(path: &Path) -> Option<Vec<u8>> {
    let file = BufferedFile::open(path).await.ok()?;
    let size = file.file_size().await.ok()? as usize;
    let bytes = file.read_at(0, size).await.ok()?.to_vec();
    let _ = file.close().await;
    (bytes.len() == size).then_some(bytes)
}
