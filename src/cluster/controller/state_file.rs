//! A cluster of one's state file (`cluster.json`): written whole, atomically and into
//! space set aside; read at start-up, where directories it does not list are kept
//! aside and a lost file is rebuilt from the partition directories (unless an
//! authorizer needs the ACLs it held).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::{Controller, STATE_FILE};
use crate::cluster::{ClusterState, TopicMeta};
use crate::config::{valid_topic_name, BrokerConfig, TopicConfig};
use crate::error::ApiError;
use crate::quota::ClientQuotas;

impl Controller {
    /// Allocates the space the next state write uses (see `replace_file_from_spare`),
    /// so that a broker started on a full disk can still delete a topic.
    pub async fn set_aside_space(&self) {
        let length = serde_json::to_vec_pretty(&*self.state.borrow()).map_or(0, |b| b.len());
        crate::storage::allocate_spare(&self.path, length).await;
    }

    /// Writes `state` to the state file, atomically and durably, into space set aside
    /// (a full disk does not stop the deletion that would free it).
    pub(super) async fn persist(&self, state: &ClusterState) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| ApiError::new(ResponseError::UnknownServerError, e.to_string()))?;
        crate::storage::replace_file_from_spare(&self.path, bytes)
            .await
            .map_err(|e| ApiError::new(ResponseError::KafkaStorageError, e.to_string()))
    }
}

/// Loads the cluster state at start-up (before any shard runs, so plain blocking I/O).
/// Without a state file, topics are rediscovered from the partition directories; a
/// partition directory the state does not know is left from an interrupted deletion
/// and is removed.
pub fn load_state(log_dir: &Path, broker: &BrokerConfig) -> anyhow::Result<ClusterState> {
    std::fs::create_dir_all(log_dir)?;
    let path = log_dir.join(STATE_FILE);
    finish_deletions(log_dir)?;
    // With a quorum of several voters, topics are the quorum's, not the file's: the
    // directories are neither rediscovered into the file nor checked against it (a
    // directory the quorum's image does not list is left alone, and not opened).
    let directories = match broker.quorum_peers() {
        Some(_) => Vec::new(),
        None => partition_directories(log_dir)?,
    };
    let state = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<ClusterState>(&bytes)
            .map_err(|e| anyhow::anyhow!("cluster state {} is unreadable: {e}", path.display()))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // The ACLs were in the lost file: rebuilt from the directories, they would be
            // none, and an authorizer would then allow what they denied.
            if !directories.is_empty() && !broker.authorizer_class_name.is_empty() {
                anyhow::bail!(
                    "{} is missing but {} holds {} partition directories, and an authorizer \
                     is configured: its ACLs were in that file, so the broker does not start \
                     without them (restore the file, or start once without \
                     authorizer.class.name to rebuild the topics from the directories)",
                    path.display(),
                    log_dir.display(),
                    directories.len()
                );
            }
            let state = discover(&directories);
            std::fs::write(&path, serde_json::to_vec_pretty(&state)?)
                .with_context(|| format!("writing {}", path.display()))?;
            state
        }
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", path.display()));
        }
    };
    for (topic, partition, dir) in directories {
        if state
            .topics
            .get(&topic)
            .is_none_or(|meta| partition >= meta.partitions)
        {
            // An old backup of the state, or one that lists nothing, must not cost data:
            // the directory is kept aside, as Kafka keeps stray logs.
            let stray = crate::storage::log::aside(&dir, "stray");
            std::fs::rename(&dir, &stray)
                .with_context(|| format!("renaming {} to {}", dir.display(), stray.display()))?;
            tracing::warn!(
                dir = %dir.display(),
                kept_as = %stray.display(),
                "a partition directory that {STATE_FILE} does not list is kept aside; delete it if it is not needed"
            );
        }
    }
    // Dynamic broker configs are checked now, so a bad one stops start-up with its name.
    broker
        .with_default_overrides(&state.broker_default_overrides)?
        .with_dynamic_overrides(&state.broker_overrides)?;
    Ok(state)
}

/// Removes the directories of deleted partitions that a stop interrupted.
fn finish_deletions(log_dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(log_dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() && name.ends_with("-delete") {
            tracing::info!(dir = %entry.path().display(), "finishing the deletion of a partition");
            std::fs::remove_dir_all(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn discover(directories: &[(String, i32, PathBuf)]) -> ClusterState {
    // Partitions found without the state that listed them may remember producer ids it
    // handed out: new ones start far above any a broker hands out in blocks (ms since
    // 1970 count to 10^12).
    let next_producer_id = if directories.is_empty() {
        0
    } else {
        crate::shard::now_ms()
    };
    let mut topics: BTreeMap<String, TopicMeta> = BTreeMap::new();
    for (topic, partition, dir) in directories {
        // The id the directory's `partition.metadata` keeps, so the rebuilt state names
        // the topic its logs belong to.
        let known = crate::storage::topic_id::read(dir).ok().flatten();
        let meta = topics.entry(topic.clone()).or_insert_with(|| TopicMeta {
            id: known.unwrap_or_else(Uuid::new_v4),
            partitions: 0,
            config: TopicConfig::default(),
        });
        meta.partitions = meta.partitions.max(partition + 1);
    }
    ClusterState {
        cluster_id: Uuid::new_v4().simple().to_string(),
        topics,
        broker_overrides: BTreeMap::new(),
        broker_default_overrides: BTreeMap::new(),
        acls: Vec::new(),
        next_producer_id,
        scram: BTreeMap::new(),
        client_quotas: ClientQuotas::default(),
        group_configs: BTreeMap::new(),
    }
}

/// `<topic>-<partition>` directories under the log dir.
fn partition_directories(log_dir: &Path) -> std::io::Result<Vec<(String, i32, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(log_dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        // The metadata quorum's own log, not a partition.
        if name == crate::quorum::disk::DIR {
            continue;
        }
        let Some((topic, partition)) = name.rsplit_once('-') else {
            continue;
        };
        let Ok(partition) = partition.parse::<i32>() else {
            continue;
        };
        if partition >= 0 && valid_topic_name(topic).is_ok() {
            found.push((topic.to_string(), partition, entry.path()));
        }
    }
    Ok(found)
}
