//! The cluster's metadata as records and the image they build, after KRaft's metadata
//! log: brokers register and are fenced or unfenced, topics and their partitions are
//! created with their replicas, and partitions change leader and ISR. The quorum
//! commits records in one order; every node applies them to its `MetadataImage`, so
//! every node's image at an offset is the same. Pure. A log entry holds one decision's
//! records as a JSON array, applied whole (`apply_batch`).
//!
//! With a quorum of several voters, the brokers and the topics are its records
//! (`quorum::member`, `cluster::controller::quorum`); a cluster of one keeps its topics
//! in `cluster.json` (see docs/ARCHITECTURE.md, The metadata quorum).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::acl::{AclBinding, ACLS_MAX};
use crate::cluster::snapshot::ScramCredentials;
use crate::config::group::GroupConfig;
use crate::quota::{ClientQuotas, QuotaChange, QUOTA_ENTITIES_MAX};
use crate::security::{ScramCredential, ScramMechanism};

/// No leader: every replica that could lead is fenced (Kafka's -1).
pub const NO_LEADER: i32 = -1;

/// Where one replica of a partition lives: the broker, and the shard (core) on it that
/// owns the replica, so replication goes shard to shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replica {
    pub broker: i32,
    pub shard: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// The cluster's id, proposed once by the first leader: every node then reports it.
    ClusterId {
        id: String,
    },
    /// A broker (re)starts: a new incarnation gets a new epoch (the record's offset, as
    /// in Kafka) and starts fenced until the controller finds it alive and caught up;
    /// the same incarnation again (a retried registration) changes nothing.
    RegisterBroker {
        broker: i32,
        incarnation: Uuid,
        host: String,
        port: u16,
        shards: u32,
        /// Each shard's replication listener on `host`, by shard.
        #[serde(default)]
        replication_ports: Vec<u16>,
        /// A broker-only node's quorum listener on `host`, where the leader sends it
        /// the log as a learner.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quorum_port: Option<u16>,
        /// Every client listener's advertised address; `host` and `port` are the
        /// inter-broker listener's. Empty in a registration from before brokers had
        /// several listeners: `host` and `port` then serve them all.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        listeners: Vec<Endpoint>,
        /// Its `broker.rack`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rack: Option<String>,
    },
    /// A controller of a dynamic quorum (KIP-853) says where its peers reach it: its
    /// metadata directory's id and its controller listener (Kafka's
    /// `RegisterControllerRecord`). A registered controller that is no voter follows
    /// the log as an observer until AddRaftVoter makes it one.
    RegisterController {
        node: i32,
        directory_id: Uuid,
        endpoint: Endpoint,
    },
    FenceBroker {
        broker: i32,
        epoch: u64,
    },
    UnfenceBroker {
        broker: i32,
        epoch: u64,
    },
    /// The broker at `epoch` is stopping (SIGTERM): it may no longer lead or join an
    /// ISR, and the controller moves its leaderships away before it goes (Kafka's
    /// `BrokerRegistrationChangeRecord` with `InControlledShutdown`). Its next
    /// incarnation's registration clears it.
    ControlledShutdown {
        broker: i32,
        epoch: u64,
    },
    /// A topic, with the configs it was created with (its overrides of the broker's).
    Topic {
        name: String,
        id: Uuid,
        #[serde(default)]
        configs: BTreeMap<String, String>,
    },
    Partition {
        topic: Uuid,
        partition: i32,
        replicas: Vec<Replica>,
        isr: Vec<i32>,
        leader: i32,
    },
    /// A new ISR, leader, or both. A new leader starts a new leader epoch; any change
    /// starts a new partition epoch. Decided at `partition_epoch` (when given), it
    /// applies only while the partition is still there: a leader chosen from an ISR
    /// that an AlterIsr committed meanwhile has changed could lack acknowledged records.
    PartitionChange {
        topic: Uuid,
        partition: i32,
        isr: Option<Vec<i32>>,
        leader: Option<i32>,
        #[serde(default)]
        partition_epoch: Option<i32>,
    },
    /// An ISR its leader asked for (AlterPartition) at partition epoch
    /// `partition_epoch`: applied only if the partition is still there, so two changes
    /// decided on one state cannot both apply. Starts a new partition epoch.
    AlterIsr {
        topic: Uuid,
        partition: i32,
        isr: Vec<i32>,
        partition_epoch: i32,
    },
    /// A partition's replicas change (KIP-455 reassignment: started, completed or
    /// cancelled, `cluster::reassign`): its replicas, the ones being added and removed,
    /// and its ISR and leader. Decided at `partition_epoch`, applied only there.
    Reassignment {
        topic: Uuid,
        partition: i32,
        replicas: Vec<Replica>,
        adding: Vec<i32>,
        removing: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        partition_epoch: i32,
    },
    /// A topic's configs, replaced whole.
    TopicConfigs {
        topic: Uuid,
        configs: BTreeMap<String, String>,
    },
    RemoveTopic {
        id: Uuid,
    },
    /// The block of producer ids from `first` to `next` (excluded) handed to a broker.
    /// It must start where the last one ended: two brokers asking at once cannot both
    /// get it.
    ProducerIds {
        broker: i32,
        first: i64,
        next: i64,
    },
    /// ACLs created (Kafka's `AccessControlEntryRecord`); one the image has already is
    /// not added twice.
    AddAcls {
        acls: Vec<AclBinding>,
    },
    /// ACLs deleted; one the image lacks is passed over.
    RemoveAcls {
        acls: Vec<AclBinding>,
    },
    /// Changes to dynamic broker configs (Kafka's `ConfigRecord`s for a broker
    /// resource): one broker's, or with no broker the cluster-wide defaults (the ""
    /// resource). `Some` sets a key, `None` removes it.
    BrokerConfigs {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        broker: Option<i32>,
        changes: BTreeMap<String, Option<String>>,
    },
    /// SCRAM credentials set or deleted (Kafka's `UserScramCredentialRecord` and
    /// `RemoveUserScramCredentialRecord`).
    ScramCredentials {
        changes: Vec<ScramChange>,
    },
    /// Client quotas set or removed (Kafka's `ClientQuotaRecord`).
    ClientQuotas {
        changes: Vec<QuotaChange>,
    },
    /// A consumer group's own configs changed (Kafka's `ConfigRecord`s for a group
    /// resource): `Some` sets a key, `None` removes it.
    GroupConfigs {
        group: String,
        changes: BTreeMap<String, Option<String>>,
    },
}

/// The most groups with configs of their own a cluster holds: each is in every shard's
/// snapshot.
pub const GROUP_CONFIGS_MAX: usize = 10_000;

/// One SCRAM credential set (`Some`) or deleted (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramChange {
    pub user: String,
    pub mechanism: ScramMechanism,
    pub credential: Option<ScramCredential>,
}

/// The most SCRAM users a cluster holds: each is in every shard's snapshot.
pub const SCRAM_USERS_MAX: usize = 100_000;

/// `changes` applied to `credentials`: a user left with none is gone.
pub fn apply_scram(credentials: &mut ScramCredentials, changes: &[ScramChange]) {
    for change in changes {
        let user = credentials.entry(change.user.clone()).or_default();
        match &change.credential {
            Some(credential) => user.insert(change.mechanism, credential.clone()),
            None => user.remove(&change.mechanism),
        };
        if user.is_empty() {
            credentials.remove(&change.user);
        }
    }
}

/// A client listener's advertised address, as a broker registers it (Kafka's listener
/// endpoints): a client is told of each broker's address on the listener it came in on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    /// The offset of its registration record.
    pub epoch: u64,
    pub incarnation: Uuid,
    pub host: String,
    pub port: u16,
    pub shards: u32,
    #[serde(default)]
    pub replication_ports: Vec<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<Endpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
    pub fenced: bool,
    /// In controlled shutdown: not to lead, nor to join an ISR.
    #[serde(default)]
    pub shutting_down: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionImage {
    /// During a reassignment, the target replicas and then those being removed.
    pub replicas: Vec<Replica>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// A reassignment in progress: replicas being added (not in the original set) and
    /// removed (not in the target).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adding: Vec<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing: Vec<i32>,
}

impl BrokerRegistration {
    /// Where another broker reaches this one for a broker's request (WriteTxnMarkers,
    /// AddPartitionsToTxn): its first replication port, which asks for no login, unlike
    /// a SASL client listener.
    pub fn broker_address(&self) -> Option<String> {
        Some(self.address(*self.replication_ports.first()?))
    }

    /// Where clients of `listener` reach the broker; `None` when it has no such
    /// listener.
    pub fn endpoint(&self, listener: &str) -> Option<(&str, u16)> {
        if self.listeners.is_empty() {
            return Some((&self.host, self.port));
        }
        let endpoint = self.listeners.iter().find(|e| e.name == listener)?;
        Some((&endpoint.host, endpoint.port))
    }

    /// Where to reach the broker on `port` of its host (its client port, or a shard's
    /// replication port).
    pub fn address(&self, port: u16) -> String {
        crate::config::join_host_port(&self.host, port)
    }
}

impl PartitionImage {
    pub fn replica_on(&self, broker: i32) -> Option<Replica> {
        self.replicas.iter().copied().find(|r| r.broker == broker)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicImage {
    pub name: String,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    pub partitions: BTreeMap<i32, PartitionImage>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataImage {
    /// The offset of the last record applied.
    pub offset: u64,
    #[serde(default)]
    pub cluster_id: Option<String>,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics: BTreeMap<Uuid, TopicImage>,
    pub topic_ids: BTreeMap<String, Uuid>,
    pub next_producer_id: i64,
    /// Every ACL, in the order they were created, each once.
    #[serde(default)]
    pub acls: Vec<AclBinding>,
    /// The cluster-wide dynamic broker defaults.
    #[serde(default)]
    pub broker_defaults: BTreeMap<String, String>,
    /// Each broker's own dynamic configs.
    #[serde(default)]
    pub broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    /// SCRAM users' credentials.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scram: ScramCredentials,
    /// Client quotas.
    #[serde(default, skip_serializing_if = "ClientQuotas::is_empty")]
    pub client_quotas: ClientQuotas,
    /// Consumer groups' own configs, by group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub group_configs: BTreeMap<String, GroupConfig>,
    /// A dynamic quorum's controllers, by node.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub controllers: BTreeMap<i32, ControllerRegistration>,
}

/// Where a dynamic quorum's controller is reached, and its metadata directory's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerRegistration {
    pub directory_id: Uuid,
    pub endpoint: Endpoint,
}

/// A record that does not fit the image. Every node applies the same records in the same
/// order, so every node refuses the same ones: the controller proposed something it
/// should not have, and the image stays as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata record at offset {offset} does not apply: {reason}")]
pub struct ImageError {
    pub offset: u64,
    pub reason: String,
}

impl MetadataImage {
    pub fn partition(&self, topic: Uuid, partition: i32) -> Option<&PartitionImage> {
        self.topics.get(&topic)?.partitions.get(&partition)
    }

    fn partition_mut(&mut self, topic: Uuid, partition: i32) -> Option<&mut PartitionImage> {
        self.topics.get_mut(&topic)?.partitions.get_mut(&partition)
    }

    pub fn is_fenced(&self, broker: i32) -> bool {
        self.brokers.get(&broker).is_none_or(|b| b.fenced)
    }

    /// Whether the broker may lead or join an ISR: registered, unfenced and not shutting
    /// down (Kafka's `isReplicaIsrEligible`, KIP-841).
    pub fn is_eligible(&self, broker: i32) -> bool {
        self.brokers
            .get(&broker)
            .is_some_and(|b| !b.fenced && !b.shutting_down)
    }

    /// Applies the record committed at `offset`.
    pub fn apply(&mut self, offset: u64, record: &MetadataRecord) -> Result<(), ImageError> {
        let refuse = |reason: String| Err(ImageError { offset, reason });
        match record {
            MetadataRecord::ClusterId { id } => {
                if self.cluster_id.as_ref().is_some_and(|known| known != id) {
                    return refuse("the cluster's id is set already".to_string());
                }
                self.cluster_id = Some(id.clone());
            }
            MetadataRecord::RegisterBroker {
                broker,
                incarnation,
                host,
                port,
                shards,
                replication_ports,
                quorum_port,
                listeners,
                rack,
            } => {
                self.brokers.insert(
                    *broker,
                    BrokerRegistration {
                        epoch: offset,
                        incarnation: *incarnation,
                        host: host.clone(),
                        port: *port,
                        shards: *shards,
                        replication_ports: replication_ports.clone(),
                        quorum_port: *quorum_port,
                        listeners: listeners.clone(),
                        rack: rack.clone(),
                        fenced: true,
                        shutting_down: false,
                    },
                );
            }
            MetadataRecord::RegisterController {
                node,
                directory_id,
                endpoint,
            } => {
                if *node < 0 {
                    return refuse(format!("controller {node} is not a node id"));
                }
                self.controllers.insert(
                    *node,
                    ControllerRegistration {
                        directory_id: *directory_id,
                        endpoint: endpoint.clone(),
                    },
                );
            }
            MetadataRecord::FenceBroker { broker, epoch }
            | MetadataRecord::UnfenceBroker { broker, epoch } => {
                let Some(b) = self.brokers.get_mut(broker).filter(|b| b.epoch == *epoch) else {
                    return refuse(format!(
                        "broker {broker} has no registration at epoch {epoch}"
                    ));
                };
                b.fenced = matches!(record, MetadataRecord::FenceBroker { .. });
            }
            MetadataRecord::ControlledShutdown { broker, epoch } => {
                let Some(b) = self.brokers.get_mut(broker).filter(|b| b.epoch == *epoch) else {
                    return refuse(format!(
                        "broker {broker} has no registration at epoch {epoch}"
                    ));
                };
                b.shutting_down = true;
            }
            MetadataRecord::Topic { name, id, configs } => {
                if self.topic_ids.contains_key(name) || self.topics.contains_key(id) {
                    return refuse(format!("topic {name} ({id}) exists"));
                }
                self.topic_ids.insert(name.clone(), *id);
                self.topics.insert(
                    *id,
                    TopicImage {
                        name: name.clone(),
                        configs: configs.clone(),
                        partitions: BTreeMap::new(),
                    },
                );
            }
            MetadataRecord::Partition {
                topic,
                partition,
                replicas,
                isr,
                leader,
            } => {
                let Some(t) = self.topics.get_mut(topic) else {
                    return refuse(format!("partition {partition} of unknown topic {topic}"));
                };
                if t.partitions.contains_key(partition) {
                    return refuse(format!("partition {partition} of {} exists", t.name));
                }
                let image = PartitionImage {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    adding: Vec::new(),
                    removing: Vec::new(),
                };
                t.partitions.insert(*partition, image);
            }
            MetadataRecord::PartitionChange {
                topic,
                partition,
                isr,
                leader,
                partition_epoch,
            } => {
                let Some(p) = self.partition_mut(*topic, *partition) else {
                    return refuse(format!("change to unknown partition {topic}-{partition}"));
                };
                if partition_epoch.is_some_and(|e| e != p.partition_epoch) {
                    return refuse(format!(
                        "change of {topic}-{partition} decided at partition epoch {}, now {}",
                        partition_epoch.unwrap_or_default(),
                        p.partition_epoch
                    ));
                }
                if let Some(isr) = isr {
                    p.isr = isr.clone();
                }
                if let Some(leader) = leader {
                    if *leader != p.leader {
                        p.leader = *leader;
                        p.leader_epoch += 1;
                    }
                }
                p.partition_epoch += 1;
            }
            MetadataRecord::AlterIsr {
                topic,
                partition,
                isr,
                partition_epoch,
            } => {
                let Some(p) = self.partition_mut(*topic, *partition) else {
                    return refuse(format!("ISR of unknown partition {topic}-{partition}"));
                };
                if p.partition_epoch != *partition_epoch {
                    return refuse(format!(
                        "ISR change of {topic}-{partition} asked at partition epoch {partition_epoch}, now {}",
                        p.partition_epoch
                    ));
                }
                p.isr = isr.clone();
                p.partition_epoch += 1;
            }
            MetadataRecord::Reassignment {
                topic,
                partition,
                replicas,
                adding,
                removing,
                isr,
                leader,
                partition_epoch,
            } => {
                let Some(p) = self.partition_mut(*topic, *partition) else {
                    return refuse(format!(
                        "reassignment of unknown partition {topic}-{partition}"
                    ));
                };
                if p.partition_epoch != *partition_epoch {
                    return refuse(format!(
                        "reassignment of {topic}-{partition} decided at partition epoch {partition_epoch}, now {}",
                        p.partition_epoch
                    ));
                }
                p.replicas = replicas.clone();
                p.adding = adding.clone();
                p.removing = removing.clone();
                p.isr = isr.clone();
                if *leader != p.leader {
                    p.leader = *leader;
                    p.leader_epoch += 1;
                }
                p.partition_epoch += 1;
            }
            MetadataRecord::TopicConfigs { topic, configs } => {
                let Some(t) = self.topics.get_mut(topic) else {
                    return refuse(format!("configs of unknown topic {topic}"));
                };
                t.configs = configs.clone();
            }
            MetadataRecord::RemoveTopic { id } => {
                let Some(t) = self.topics.remove(id) else {
                    return refuse(format!("removing unknown topic {id}"));
                };
                self.topic_ids.remove(&t.name);
            }
            MetadataRecord::ProducerIds { first, next, .. } => {
                if *first != self.next_producer_id || next <= first {
                    return refuse(format!(
                        "producer ids {first}..{next} do not follow {}",
                        self.next_producer_id
                    ));
                }
                self.next_producer_id = *next;
            }
            MetadataRecord::AddAcls { acls } => {
                let mut added = self.acls.clone();
                let mut present: HashSet<&AclBinding> = self.acls.iter().collect();
                for acl in acls {
                    if present.insert(acl) {
                        added.push(acl.clone());
                    }
                }
                if added.len() > ACLS_MAX {
                    return refuse(format!("the cluster holds at most {ACLS_MAX} ACLs"));
                }
                self.acls = added;
            }
            MetadataRecord::RemoveAcls { acls } => {
                let gone: HashSet<&AclBinding> = acls.iter().collect();
                self.acls.retain(|acl| !gone.contains(acl));
            }
            MetadataRecord::ScramCredentials { changes } => {
                let mut scram = self.scram.clone();
                apply_scram(&mut scram, changes);
                if scram.len() > SCRAM_USERS_MAX {
                    return refuse(format!(
                        "the cluster holds at most {SCRAM_USERS_MAX} SCRAM users"
                    ));
                }
                self.scram = scram;
            }
            MetadataRecord::ClientQuotas { changes } => {
                let mut quotas = self.client_quotas.clone();
                quotas.apply(changes);
                if quotas.len() > QUOTA_ENTITIES_MAX {
                    return refuse(format!(
                        "the cluster holds at most {QUOTA_ENTITIES_MAX} client quota entities"
                    ));
                }
                self.client_quotas = quotas;
            }
            MetadataRecord::GroupConfigs { group, changes } => {
                let mut configs = self.group_configs.clone();
                apply_group_configs(&mut configs, group, changes);
                if configs.len() > GROUP_CONFIGS_MAX {
                    return refuse(format!(
                        "the cluster holds the configs of at most {GROUP_CONFIGS_MAX} groups"
                    ));
                }
                self.group_configs = configs;
            }
            MetadataRecord::BrokerConfigs { broker, changes } => {
                let configs = match broker {
                    None => &mut self.broker_defaults,
                    Some(id) => self.broker_configs.entry(*id).or_default(),
                };
                for (key, value) in changes {
                    match value {
                        Some(value) => configs.insert(key.clone(), value.clone()),
                        None => configs.remove(key),
                    };
                }
                if let Some(id) = broker {
                    self.broker_configs
                        .retain(|b, configs| b != id || !configs.is_empty());
                }
            }
        }
        self.offset = offset;
        Ok(())
    }
}

impl MetadataImage {
    /// Applies the records of one log entry, all or none: a change the controller
    /// decided as one (a fence and the leaderships it moves) is never half applied.
    pub fn apply_batch(
        &mut self,
        offset: u64,
        records: &[MetadataRecord],
    ) -> Result<(), ImageError> {
        let mut next = self.clone();
        for record in records {
            next.apply(offset, record)?;
        }
        next.offset = offset;
        *self = next;
        Ok(())
    }
}

/// Leader elections `records` make when applied to `image`: how many, and how many of
/// them chose a leader outside the ISR (unclean).
pub fn elections(image: &MetadataImage, records: &[MetadataRecord]) -> (u64, u64) {
    let (mut all, mut unclean) = (0, 0);
    for record in records {
        let MetadataRecord::PartitionChange {
            topic,
            partition,
            leader: Some(leader),
            ..
        } = record
        else {
            continue;
        };
        let Some(p) = image.partition(*topic, *partition) else {
            continue;
        };
        if *leader != NO_LEADER && *leader != p.leader {
            all += 1;
            unclean += u64::from(!p.isr.contains(leader));
        }
    }
    (all, unclean)
}

/// One log entry's records.
pub fn encode(records: &[MetadataRecord]) -> Vec<u8> {
    serde_json::to_vec(records).expect("metadata records always serialize")
}

pub fn decode(bytes: &[u8]) -> Result<Vec<MetadataRecord>, serde_json::Error> {
    serde_json::from_slice(bytes)
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;

/// Applies a group's config changes to `configs`: a group left with none is forgotten.
pub fn apply_group_configs(
    configs: &mut BTreeMap<String, GroupConfig>,
    group: &str,
    changes: &BTreeMap<String, Option<String>>,
) {
    let own = configs.entry(group.to_string()).or_default();
    for (key, value) in changes {
        match value {
            Some(value) => own.insert(key.clone(), value.clone()),
            None => own.remove(key),
        };
    }
    if own.is_empty() {
        configs.remove(group);
    }
}
