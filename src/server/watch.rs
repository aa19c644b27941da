//! Files a listener reads its security material from (certificates, a JWKS), looked at
//! again at most once a second, when a connection comes: a change means a reload.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// How often, at most, the files are looked at for a change.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What a file's change shows in: its modification time, length and inode.
type Stamp = Option<(SystemTime, u64, u64)>;

#[derive(Clone)]
pub struct FileWatch {
    stamps: Vec<(PathBuf, Stamp)>,
    checked: Instant,
}

impl FileWatch {
    /// Watches `files` as they are now.
    pub fn new(files: Vec<PathBuf>) -> FileWatch {
        FileWatch {
            stamps: files
                .into_iter()
                .map(|f| (stamp(&f), f))
                .map(|(s, f)| (f, s))
                .collect(),
            checked: Instant::now(),
        }
    }

    /// Whether a file changed since the last look, looking at most once a second.
    pub fn changed(&mut self) -> bool {
        if self.checked.elapsed() < CHECK_EVERY {
            return false;
        }
        self.checked = Instant::now();
        let mut changed = false;
        for (file, last) in &mut self.stamps {
            let now = stamp(file);
            changed |= now != *last;
            *last = now;
        }
        changed
    }
}

fn stamp(file: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(file).ok()?;
    Some((metadata.modified().ok()?, metadata.len(), metadata.ino()))
}
