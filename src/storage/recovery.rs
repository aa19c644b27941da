//! Opening a log: which segments are verified (from the recovery point on), damage
//! that takes the log offline, the checks of older segments before their first read,
//! and the small checkpoint files (log start, recovery point, high watermark) beside
//! the segments.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::rc::Rc;

use glommio::sync::Semaphore;

use super::super::segment::Segment;
use super::super::{replace_file, sync_dir, OnFile, StorageError};
use super::{Log, LogConfig};

const LOG_START_FILE: &str = "log-start-offset";
/// Every offset below the one this file holds was durable in checked segments when it
/// was written (Kafka's recovery point): after a crash, only the segments holding
/// offsets from it on are verified at start-up.
const RECOVERY_POINT_FILE: &str = "recovery-point-offset";
/// The high watermark a replicated partition had when this file was written (Kafka's
/// `replication-offset-checkpoint`, kept per log here as the other checkpoints are).
const HIGH_WATERMARK_FILE: &str = "high-watermark";

impl Log {
    /// Opens (or creates) the log in `dir`. Every segment holding offsets at or after
    /// the recovery point is verified: the last one is cut at a torn tail, damage in
    /// another takes the log offline (naming the file and offset). Older segments are
    /// checked before their first read.
    pub async fn open(dir: &Path, config: LogConfig, now_ms: i64) -> Result<Log, StorageError> {
        let handle = glommio::io::Directory::create(dir).await.on(dir)?;
        handle.close().await.on(dir)?;
        let bases = segment_bases(dir)?;
        let interval = config.index_interval_bytes;
        let mut segments = BTreeMap::new();
        let mut damage = None;
        // The last segment first: the recovery point is checked against its end.
        if let Some(&base) = bases.last() {
            let last = Segment::open_recovering(dir, base, now_ms, interval).await?;
            segments.insert(base, Rc::new(last));
        }
        let end = segments.values().next_back().map_or(0, |s| s.next_offset());
        let recovery_point = match read_offset(dir, RECOVERY_POINT_FILE)? {
            Some(point) if point <= end => point,
            Some(point) => {
                tracing::warn!(dir = %dir.display(), point, end, "the recovery point is past the log's end: every segment is verified");
                -1
            }
            None => -1,
        };
        for (base, next_base) in bases.iter().zip(bases.iter().skip(1)) {
            let sealed = if *next_base > recovery_point {
                None
            } else {
                match Segment::open_sealed(dir, *base, now_ms, interval).await {
                    Ok(segment) => Some(segment),
                    // Its headers do not chain up: verified below, to say where.
                    Err(error) if error.kind() == io::ErrorKind::InvalidData => None,
                    Err(error) => return Err(error.into()),
                }
            };
            let segment = match sealed {
                Some(segment) => segment,
                None => {
                    let (segment, file_size) =
                        Segment::open_verified(dir, *base, now_ms, interval).await?;
                    damage = damage.or(segment.damage(file_size));
                    segment
                }
            };
            segments.insert(*base, Rc::new(segment));
        }
        // A flipped base offset in a segment's last batch is in order within its file,
        // but runs into the next segment.
        for (segment, next) in segments.values().zip(segments.values().skip(1)) {
            if segment.next_offset() > next.base_offset() {
                damage = damage.or(Some(segment.overlaps(next.base_offset())));
            }
        }
        let checkpoint = read_offset(dir, LOG_START_FILE)?;
        if segments.is_empty() {
            let base = checkpoint.unwrap_or(0);
            segments.insert(base, Rc::new(Segment::create(dir, base, now_ms).await?));
            sync_dir(dir).await?;
        }
        let first = segments.values().next().map_or(0, |s| s.base_offset());
        let end = segments.values().next_back().map_or(0, |s| s.next_offset());
        // A start past the end would hide every record the log holds: refused, not obeyed.
        if let Some(start) = checkpoint.filter(|start| *start > end) {
            let message = format!("the log start {start} is past the log's end {end}");
            let error = io::Error::new(io::ErrorKind::InvalidData, message);
            return Err(error)
                .on(&dir.join(LOG_START_FILE))
                .map_err(StorageError::from);
        }
        let start = checkpoint.unwrap_or(first).max(first);
        let log = Log {
            dir: dir.to_path_buf(),
            config: RefCell::new(config),
            segments: RefCell::new(segments),
            start_offset: Cell::new(start),
            end_offset: Cell::new(end),
            flushed_offset: Cell::new(end),
            turn: Semaphore::new(1),
            cleaned_up_to: Cell::new(-1),
            offline: RefCell::new(None),
            recovery_point: Cell::new(recovery_point),
            check_turn: Semaphore::new(1),
        };
        if let Some(damage) = damage {
            log.go_offline(damage);
        }
        Ok(log)
    }

    /// Checks `segment` before its first read (see `Segment::check`); damage takes the
    /// log offline.
    pub(super) async fn ensure_checked(&self, segment: &Segment) -> Result<(), StorageError> {
        if segment.is_verified() {
            return Ok(());
        }
        let permit = self.check_turn.acquire_permit(1).await;
        let _turn = permit.map_err(|error| StorageError::Io(error.into()))?;
        self.check_online()?;
        if segment.is_verified() {
            return Ok(());
        }
        if let Some(damage) = segment.check().await? {
            self.go_offline(damage);
            self.check_online()?;
        }
        Ok(())
    }

    /// The checkpointed high watermark as the file holds it (`None` without one). A
    /// file that does not hold an offset is an error naming it.
    pub fn checkpointed_high_watermark(&self) -> Result<Option<i64>, StorageError> {
        read_offset(&self.dir, HIGH_WATERMARK_FILE)
    }

    pub async fn checkpoint_high_watermark(&self, offset: i64) -> io::Result<()> {
        let bytes = format!("{offset}\n").into_bytes();
        replace_file(&self.dir.join(HIGH_WATERMARK_FILE), bytes).await
    }

    /// Records that every offset below `offset` is durable in checked segments. A
    /// failure only costs verification time at the next start: it is logged, not
    /// returned (a full disk must not stop a roll for it).
    pub(super) async fn set_recovery_point(&self, offset: i64) {
        if self.recovery_point.get() == offset {
            return;
        }
        let bytes = format!("{offset}\n").into_bytes();
        match replace_file(&self.dir.join(RECOVERY_POINT_FILE), bytes).await {
            Ok(()) => self.recovery_point.set(offset),
            Err(error) => {
                tracing::warn!(dir = %self.dir.display(), %error, "recovery point not written: the next start after a crash verifies more segments")
            }
        }
    }
}

/// Base offsets of the segments in `dir`, in order; leftovers of interrupted operations
/// (Kafka's `.deleted`, `.cleaned`, `.swap`) are removed.
fn segment_bases(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).on(dir)? {
        let name = entry.on(dir)?.file_name();
        let name = name.to_string_lossy();
        if [".deleted", ".cleaned", ".swap"]
            .iter()
            .any(|suffix| name.ends_with(suffix))
        {
            let leftover = dir.join(name.as_ref());
            std::fs::remove_file(&leftover).on(&leftover)?;
            continue;
        }
        if let Some(stem) = name.strip_suffix(".log") {
            if stem.len() == 20 {
                if let Ok(base) = stem.parse::<i64>() {
                    bases.push(base);
                }
            }
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// The offset checkpointed in the file `name` of `dir` (the log start, the recovery
/// point), if there is one. A file that does not hold an offset is an error naming it:
/// guessing could hide records or skip verifying them.
fn read_offset(dir: &Path, name: &str) -> Result<Option<i64>, StorageError> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).on(&path).map_err(StorageError::from),
    };
    match text.trim().parse::<i64>() {
        Ok(offset) if offset >= 0 => Ok(Some(offset)),
        _ => {
            let message = format!("{text:?} is not an offset");
            let error = io::Error::new(io::ErrorKind::InvalidData, message);
            Err(error).on(&path).map_err(StorageError::from)
        }
    }
}

pub(super) async fn write_start_offset(dir: &Path, offset: i64) -> io::Result<()> {
    replace_file(
        &dir.join(LOG_START_FILE),
        format!("{offset}\n").into_bytes(),
    )
    .await
}
