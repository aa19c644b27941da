//! The read-mostly cluster metadata each shard holds as an `Rc<Snapshot>`, replaced
//! whole by a message from the controller; never mutated in place.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::image::{MetadataImage, PartitionImage, NO_LEADER};
use super::{shard_for, ShardId};
use crate::acl::{AclBinding, Authorizer};
use crate::config::group::GroupConfig;
use crate::config::{BrokerConfig, TopicConfig};
use crate::quota::ClientQuotas;
use crate::security::{ScramCredential, ScramMechanism};

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
    /// SCRAM users' credentials, by user and mechanism.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scram: ScramCredentials,
    /// Client quotas, by entity and key.
    #[serde(default, skip_serializing_if = "ClientQuotas::is_empty")]
    pub client_quotas: ClientQuotas,
    /// Consumer groups' own configs (the GROUP config resource), by group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_configs: BTreeMap<String, GroupConfig>,
}

/// SCRAM users' credentials, by user and mechanism.
pub type ScramCredentials = BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>;

/// The cluster as this node's metadata quorum has applied it, when the quorum has other
/// voters: which broker holds and leads each partition, on which of its shards.
#[derive(Debug, Clone)]
pub struct Layout {
    /// This node's id.
    pub node: i32,
    /// The quorum's leader (the active controller), -1 when there is none.
    pub controller: i32,
    pub image: MetadataImage,
    /// Topic ids records removed while this process ran: their logs here are deleted.
    pub removed: BTreeSet<Uuid>,
}

impl Layout {
    /// The layout a node starts with: its image as its files hold it, no leader known.
    pub fn at_start(node: i32, image: MetadataImage) -> Layout {
        Layout {
            node,
            controller: NO_LEADER,
            image,
            removed: BTreeSet::new(),
        }
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionImage> {
        let id = self.image.topic_ids.get(topic)?;
        self.image.partition(*id, partition)
    }
}

/// A partition's leader and replicas, as Metadata and DescribeTopicPartitions list them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replicas {
    /// -1 when no replica can lead.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// Replicas on fenced brokers.
    pub offline: Vec<i32>,
}

/// A broker as Metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    pub id: i32,
    pub host: String,
    pub port: i32,
    /// Its `broker.rack`.
    pub rack: Option<String>,
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
    /// `None` for a cluster of one: this broker holds and leads every partition.
    layout: Option<Arc<Layout>>,
}

impl Snapshot {
    pub fn new(
        version: u64,
        state: ClusterState,
        broker: BrokerConfig,
        shard_count: usize,
        layout: Option<Arc<Layout>>,
    ) -> Snapshot {
        let mut state = state;
        if let Some(layout) = &layout {
            // The quorum's topics, not the state file's.
            state.topics = topics_of(&layout.image);
            // The quorum's ACLs, and any of the file's not carried into it yet.
            let image = &layout.image.acls;
            let uncarried = state.acls.iter().filter(|acl| !image.contains(acl));
            state.acls = image.iter().chain(uncarried).cloned().collect();
            // The quorum's SCRAM users, and any of the file's not carried into it yet.
            for (user, credentials) in &layout.image.scram {
                state.scram.insert(user.clone(), credentials.clone());
            }
            // The quorum's client quotas, over any of the file's not carried into it yet.
            state
                .client_quotas
                .apply(&layout.image.client_quotas.changes());
            // The quorum's group configs, over any of the file's not carried into it yet.
            for (group, configs) in &layout.image.group_configs {
                state.group_configs.insert(group.clone(), configs.clone());
            }
        }
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
            layout,
        }
    }

    /// A consumer group's own configs, if it has any.
    pub fn group_config(&self, group: &str) -> Option<&GroupConfig> {
        self.state.group_configs.get(group)
    }

    /// The cluster's layout, when the metadata quorum has other voters.
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_deref()
    }

    /// A SCRAM user's credential for `mechanism`.
    pub fn scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Option<&ScramCredential> {
        self.state.scram.get(user)?.get(&mechanism)
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

    /// The quorum's cluster id once its leader set one, else this node's.
    pub fn cluster_id(&self) -> &str {
        self.layout()
            .and_then(|l| l.image.cluster_id.as_deref())
            .unwrap_or(&self.state.cluster_id)
    }

    /// The shard that owns `partition` of `topic` on this broker: the one its replica
    /// here was placed on, or for a partition with no replica here (or a cluster of
    /// one) the one `shard_for` names.
    pub fn shard_for(&self, topic: &str, partition: i32) -> ShardId {
        let placed = self
            .layout()
            .and_then(|l| l.partition(topic, partition)?.replica_on(l.node));
        match placed {
            Some(replica) => ShardId(replica.shard as usize % self.shard_count.max(1)),
            None => shard_for(topic, partition, self.shard_count),
        }
    }

    /// Whether this broker holds a replica of `partition` of `topic`.
    pub fn is_local(&self, topic: &str, partition: i32) -> bool {
        match self.layout() {
            None => self.has_partition(topic, partition),
            Some(l) => l
                .partition(topic, partition)
                .is_some_and(|p| p.replica_on(l.node).is_some()),
        }
    }

    /// Who holds and leads `partition` of `topic`: this broker alone in a cluster of one.
    pub fn replicas_of(&self, topic: &str, partition: i32) -> Option<Replicas> {
        let Some(layout) = self.layout() else {
            let node = self.broker.node_id;
            return self.has_partition(topic, partition).then(|| Replicas {
                leader: node,
                leader_epoch: 0,
                replicas: vec![node],
                isr: vec![node],
                offline: Vec::new(),
            });
        };
        let p = layout.partition(topic, partition)?;
        let replicas: Vec<i32> = p.replicas.iter().map(|r| r.broker).collect();
        Some(Replicas {
            leader: p.leader,
            leader_epoch: p.leader_epoch,
            offline: replicas
                .iter()
                .copied()
                .filter(|&b| layout.image.is_fenced(b))
                .collect(),
            replicas,
            isr: p.isr.clone(),
        })
    }

    /// Whether a client of `listener` cannot reach broker `id`: it registered without
    /// that listener (brokers configured with different listeners). This broker is
    /// reachable where its client came in, whatever its registration says.
    pub fn unreachable_on(&self, listener: &str, id: i32) -> bool {
        let Some(layout) = self.layout() else {
            return false;
        };
        let registered = layout.image.brokers.get(&id);
        id != self.broker.node_id && registered.is_some_and(|b| b.endpoint(listener).is_none())
    }

    /// The brokers a client of `listener` is told of, at their addresses on that
    /// listener: this one (at `own`, its advertised address there) and, with a metadata
    /// quorum, every other unfenced broker that registered the listener. By id.
    pub fn brokers(&self, listener: &str, own: (String, i32)) -> Vec<BrokerAddress> {
        let node = self.broker.node_id;
        let mut brokers = vec![BrokerAddress {
            id: node,
            host: own.0,
            port: own.1,
            rack: self.broker.broker_rack.clone(),
        }];
        if let Some(layout) = self.layout() {
            let others = layout
                .image
                .brokers
                .iter()
                .filter(|(&id, b)| id != node && !b.fenced);
            brokers.extend(others.filter_map(|(&id, b)| {
                let (host, port) = b.endpoint(listener)?;
                Some(BrokerAddress {
                    id,
                    host: host.to_string(),
                    port: i32::from(port),
                    rack: b.rack.clone(),
                })
            }));
            brokers.sort_by_key(|b| b.id);
        }
        brokers
    }

    /// The controller clients are told of: the quorum's leader (-1 while there is none),
    /// or this broker in a cluster of one.
    pub fn controller(&self) -> i32 {
        self.layout()
            .map_or(self.broker.node_id, |layout| layout.controller)
    }

    /// The broker that leads `partition` of `topic`; `None` when it has no leader or
    /// does not exist.
    pub fn leader_of(&self, topic: &str, partition: i32) -> Option<i32> {
        match self.layout() {
            None => self
                .has_partition(topic, partition)
                .then_some(self.broker.node_id),
            Some(l) => l
                .partition(topic, partition)
                .map(|p| p.leader)
                .filter(|&leader| leader != NO_LEADER),
        }
    }

    /// Whether `partition` of `topic` exists.
    pub fn has_partition(&self, topic: &str, partition: i32) -> bool {
        self.topic(topic)
            .is_some_and(|meta| partition >= 0 && partition < meta.partitions)
    }
}

/// The topics of a metadata image, as the snapshot lists them.
fn topics_of(image: &MetadataImage) -> BTreeMap<String, TopicMeta> {
    image
        .topics
        .iter()
        .map(|(&id, t)| {
            let config = TopicConfig::new(t.configs.clone()).unwrap_or_else(|error| {
                // Validated when proposed; a key this build does not know keeps its default.
                tracing::warn!(topic = %t.name, %error, "topic config not applied");
                TopicConfig::default()
            });
            let partitions = t.partitions.keys().next_back().map_or(0, |p| p + 1);
            (
                t.name.clone(),
                TopicMeta {
                    id,
                    partitions,
                    config,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::image::{decode, Endpoint, MetadataRecord};

    #[test]
    fn clients_are_told_of_each_broker_at_its_address_on_their_listener() {
        let mut image = crate::cluster::rules::tests::image(&[1, 2, 3, 4]);
        let endpoint = |name: &str, port| Endpoint {
            name: name.to_string(),
            host: format!("{name}-host"),
            port,
        };
        let mut listeners = |broker, endpoints| {
            image.brokers.get_mut(&broker).unwrap().listeners = endpoints;
        };
        listeners(
            2,
            vec![endpoint("INTERNAL", 9092), endpoint("EXTERNAL", 9094)],
        );
        // Broker 3 registered before brokers had several listeners: its one address
        // serves them all. Broker 4 has no EXTERNAL listener.
        listeners(4, vec![endpoint("INTERNAL", 9092)]);
        let layout = Arc::new(Layout::at_start(1, image));
        let config = BrokerConfig::default();
        assert_eq!(config.node_id, 1);
        let snapshot = Snapshot::new(1, Default::default(), config, 1, Some(layout));
        let listed = |listener| -> Vec<(i32, String, i32)> {
            let own = ("me".to_string(), 1);
            let brokers = snapshot.brokers(listener, own).into_iter();
            brokers.map(|b| (b.id, b.host, b.port)).collect()
        };
        let at = |id, host: &str, port| (id, host.to_string(), port);
        assert_eq!(
            listed("EXTERNAL"),
            [
                at(1, "me", 1),
                at(2, "EXTERNAL-host", 9094),
                at(3, "h", 9092)
            ]
        );
        assert_eq!(
            listed("INTERNAL"),
            [
                at(1, "me", 1),
                at(2, "INTERNAL-host", 9092),
                at(3, "h", 9092),
                at(4, "INTERNAL-host", 9092)
            ]
        );
    }

    #[test]
    fn a_registration_without_listeners_still_decodes() {
        let written = br#"[{"type":"RegisterBroker","broker":2,
            "incarnation":"00000000-0000-0000-0000-000000000007","host":"b2","port":9092,"shards":1}]"#;
        let records = decode(written).unwrap();
        let MetadataRecord::RegisterBroker { listeners, .. } = &records[0] else {
            panic!("{records:?}");
        };
        assert!(listeners.is_empty());
    }
}
