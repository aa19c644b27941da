//! Security material built from files (a listener's TLS config from certificates,
//! OAUTHBEARER keys from a JWKS, the TLS a node dials other nodes with): the files are
//! looked at again at most once a second, when a connection comes or is made, and a
//! change rebuilds it. A rebuild that fails is logged and the last good one kept (until
//! the files change again). Each holder (a shard's accept loop, a shard's dialler, a
//! quorum peer's sender) keeps its own copy, so a reload is its own, with nothing shared
//! on the request path. Only the files the settings name are watched: the system's CAs,
//! which a node without a truststore trusts, are read at start-up and at such a rebuild.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How often, at most, the files are looked at for a change.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What a file's change shows in: its modification time, length and inode.
type Stamp = Option<(SystemTime, u64, u64)>;

/// `T` built from settings `S` and the files they name.
pub struct Reloading<S, T> {
    settings: S,
    built: Arc<T>,
    build: fn(&S) -> anyhow::Result<T>,
    /// What `T` is, for the log ("TLS certificates").
    what: &'static str,
    stamps: Vec<(PathBuf, Stamp)>,
    checked: Instant,
}

impl<S: Clone, T> Clone for Reloading<S, T> {
    fn clone(&self) -> Self {
        Reloading {
            settings: self.settings.clone(),
            built: Arc::clone(&self.built),
            build: self.build,
            what: self.what,
            stamps: self.stamps.clone(),
            checked: self.checked,
        }
    }
}

impl<S: Clone, T> Reloading<S, T> {
    /// Builds it now (an error stops start-up), watching `files`.
    pub fn load(
        settings: &S,
        files: Vec<PathBuf>,
        what: &'static str,
        build: fn(&S) -> anyhow::Result<T>,
    ) -> anyhow::Result<Reloading<S, T>> {
        let stamps = files
            .into_iter()
            .map(|f| (stamp(&f), f))
            .map(|(s, f)| (f, s))
            .collect();
        Ok(Reloading {
            built: Arc::new(build(settings)?),
            settings: settings.clone(),
            build,
            what,
            stamps,
            checked: Instant::now(),
        })
    }

    /// The current one, rebuilt first if its files changed since they were last looked at.
    pub fn current(&mut self) -> Arc<T> {
        if self.changed() {
            match (self.build)(&self.settings) {
                Ok(built) => {
                    self.built = Arc::new(built);
                    tracing::info!("{} reloaded: their files changed", self.what);
                }
                Err(error) => tracing::warn!(
                    "{} not reloaded, the last ones stay in use: {error:#}",
                    self.what
                ),
            }
        }
        Arc::clone(&self.built)
    }

    /// Whether a file changed since the last look, looking at most once a second.
    fn changed(&mut self) -> bool {
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
