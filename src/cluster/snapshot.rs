//! The read-mostly cluster metadata each shard holds as an `Rc<Snapshot>`, replaced
//! whole by a message from the controller; never mutated in place.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{shard_for, ShardId};
use crate::acl::{AclBinding, Authorizer};
use crate::config::{BrokerConfig, TopicConfig};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub id: Uuid,
    pub partitions: i32,
    pub config: TopicConfig,
}

/// What the controller persists: everything a restart needs to rebuild the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterState {
    pub cluster_id: String,
    pub topics: BTreeMap<String, TopicMeta>,
    /// Broker configs changed at runtime (AlterConfigs on the broker resource).
    #[serde(default)]
    pub broker_overrides: BTreeMap<String, String>,
    /// Cluster-wide broker defaults changed at runtime (the "" broker resource).
    #[serde(default)]
    pub broker_default_overrides: BTreeMap<String, String>,
    /// Every ACL, in the order they were created, each once.
    #[serde(default)]
    pub acls: Vec<AclBinding>,
    /// The first producer id no block has handed out yet.
    #[serde(default)]
    pub next_producer_id: i64,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Grows with every change; a shard ignores a snapshot older than the one it has.
    pub version: u64,
    pub state: ClusterState,
    pub broker: BrokerConfig,
    pub shard_count: usize,
    topic_names: HashMap<Uuid, String>,
    /// `None` when no authorizer is configured: every request is allowed.
    authorizer: Option<Authorizer>,
}

impl Snapshot {
    pub fn new(
        version: u64,
        state: ClusterState,
        broker: BrokerConfig,
        shard_count: usize,
    ) -> Snapshot {
        let topic_names = state
            .topics
            .iter()
            .map(|(name, meta)| (meta.id, name.clone()))
            .collect();
        let authorizer = broker.authorizer_enabled().then(|| {
            Authorizer::new(
                &broker.super_users,
                broker.allow_everyone_if_no_acl_found,
                &state.acls,
            )
        });
        Snapshot {
            version,
            state,
            broker,
            shard_count,
            topic_names,
            authorizer,
        }
    }

    /// The authorizer, when `authorizer.class.name` configures one.
    pub fn authorizer(&self) -> Option<&Authorizer> {
        self.authorizer.as_ref()
    }

    pub fn topic(&self, name: &str) -> Option<&TopicMeta> {
        self.state.topics.get(name)
    }

    pub fn topic_name(&self, id: &Uuid) -> Option<&str> {
        self.topic_names.get(id).map(String::as_str)
    }

    pub fn topics(&self) -> impl Iterator<Item = (&String, &TopicMeta)> {
        self.state.topics.iter()
    }

    pub fn cluster_id(&self) -> &str {
        &self.state.cluster_id
    }

    pub fn shard_for(&self, topic: &str, partition: i32) -> ShardId {
        shard_for(topic, partition, self.shard_count)
    }

    /// Whether `partition` of `topic` exists.
    pub fn has_partition(&self, topic: &str, partition: i32) -> bool {
        self.topic(topic)
            .is_some_and(|meta| partition >= 0 && partition < meta.partitions)
    }
}
