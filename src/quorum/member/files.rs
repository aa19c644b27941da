//! The member's files, read and made before it runs (blocking I/O): its log and the image
//! the log's committed entries build, and its metadata directory's id.

use std::path::Path;

use anyhow::Context;
use uuid::Uuid;

use super::{apply_entry, raft_id};
use crate::cluster::image::MetadataImage;
use crate::config::QuorumPeers;
use crate::quorum::disk::{self, DIR, ENTRIES_FILE, SNAPSHOT_FILE, STATE_FILE};
use crate::quorum::store::QuorumLog;

/// The file in the quorum's directory that holds its directory id.
pub const DIRECTORY_ID_FILE: &str = "directory-id";

/// Writes a whole file and syncs it, before the member runs (blocking I/O).
pub fn write_synced(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let written = std::fs::File::create(path).and_then(|mut file| {
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()
    });
    written.with_context(|| format!("writing {}", path.display()))
}

/// The metadata directory's id, made on the first start (or by `shoal format`).
pub fn directory_id(dir: &Path) -> anyhow::Result<Uuid> {
    let path = dir.join(DIRECTORY_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Uuid::parse_str(text.trim())
            .with_context(|| format!("{} does not hold a directory id", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = Uuid::new_v4();
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            write_synced(&path, format!("{id}\n").as_bytes())?;
            Ok(id)
        }
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
}

/// Reads the member's files in `dir` (none yet: an empty log): the log, the length of
/// the entries file's valid part, and the file's length.
pub(super) fn read_log(dir: &Path, voters: &[u64]) -> anyhow::Result<(QuorumLog, usize, usize)> {
    let read = |name: &str| -> anyhow::Result<Option<Vec<u8>>> {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        }
    };
    let (state, snapshot, entries) = (read(STATE_FILE)?, read(SNAPSHOT_FILE)?, read(ENTRIES_FILE)?);
    let (log, valid) = disk::load(
        voters,
        state.as_deref(),
        snapshot.as_deref(),
        entries.as_deref(),
    )
    .with_context(|| format!("the metadata quorum's files in {}", dir.display()))?;
    Ok((log, valid, entries.map_or(0, |e| e.len())))
}

/// The image the log's files hold: the snapshot's, then every entry the files know
/// committed.
pub(super) fn committed_image(log: &QuorumLog, dir: &Path) -> anyhow::Result<MetadataImage> {
    let mut image: MetadataImage = match log.snapshot_ref().data.as_ref() {
        [] => MetadataImage::default(),
        data => serde_json::from_slice(data).with_context(|| {
            format!(
                "the metadata image in {}",
                dir.join(SNAPSHOT_FILE).display()
            )
        })?,
    };
    let commit = log.hard_state().commit;
    for entry in log.entries_ref() {
        if entry.index <= image.offset || entry.index > commit {
            continue;
        }
        if entry.entry_type == raft::eraftpb::EntryType::EntryNormal && !entry.data.is_empty() {
            let _ = apply_entry(&mut image, entry.index, &entry.data);
        }
        image.offset = entry.index;
    }
    Ok(image)
}

/// The metadata image this node's quorum files under `log_dir` hold, read before the
/// broker's shards start (blocking I/O).
pub fn read_image(log_dir: &Path, peers: &QuorumPeers) -> anyhow::Result<MetadataImage> {
    let dir = log_dir.join(DIR);
    let voters: Vec<u64> = peers.voters.iter().map(|v| raft_id(v.id)).collect();
    let (log, _, _) = read_log(&dir, &voters)?;
    committed_image(&log, &dir)
}
