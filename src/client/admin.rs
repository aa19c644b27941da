//! Admin requests the tools make: CreateTopics, DeleteTopics, CreatePartitions,
//! DescribeConfigs, IncrementalAlterConfigs, DescribeLogDirs and DeleteRecords, each built for the version the broker
//! negotiated and each per-resource error turned into an `Error` naming the resource.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions as ElectLeadersTopicPartitions;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteRecordsRequest, DeleteTopicsRequest, DescribeConfigsRequest, DescribeLogDirsRequest,
    ElectLeadersRequest, IncrementalAlterConfigsRequest, ListPartitionReassignmentsRequest,
    TopicName,
};

use super::broker::Broker;
use super::cluster::{Cluster, TopicMetadata};
use super::error::{Error, Result};
use super::{missing, str_bytes};

/// Kafka's TOPIC_ALREADY_EXISTS.
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
/// Kafka's LEADER_NOT_AVAILABLE.
const LEADER_NOT_AVAILABLE: i16 = 5;

/// Config resource types on the wire.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_BROKER_LOGGER: i8 = 8;
const RESOURCE_GROUP: i8 = 32;

/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;

#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    /// None: the broker's default (CreateTopics v4+).
    pub partitions: Option<i32>,
    pub replication_factor: Option<i16>,
    pub configs: Vec<(String, String)>,
    /// Each partition's brokers, in partition order, instead of a count and a
    /// replication factor (empty: the broker places them).
    pub assignment: Vec<Vec<i32>>,
}

/// A config resource, as Kafka's tools name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResource {
    Topic(String),
    /// A broker by id, or (None) the cluster-wide default every broker shares.
    Broker(Option<i32>),
    /// A broker's loggers and their levels.
    BrokerLogger(i32),
    /// A consumer group's own configs.
    Group(String),
}

impl ConfigResource {
    fn wire(&self) -> (i8, String) {
        match self {
            ConfigResource::Topic(name) => (RESOURCE_TOPIC, name.clone()),
            ConfigResource::Broker(Some(id)) => (RESOURCE_BROKER, id.to_string()),
            ConfigResource::Broker(None) => (RESOURCE_BROKER, String::new()),
            ConfigResource::BrokerLogger(id) => (RESOURCE_BROKER_LOGGER, id.to_string()),
            ConfigResource::Group(name) => (RESOURCE_GROUP, name.clone()),
        }
    }

    /// A broker's own configs (and loggers) are only known to that broker.
    fn broker<'a>(&self, cluster: &'a mut Cluster) -> Result<&'a mut Broker> {
        match self {
            ConfigResource::Broker(Some(id)) | ConfigResource::BrokerLogger(id) => {
                cluster.broker(*id)
            }
            _ => Ok(cluster.any()),
        }
    }
}

impl std::fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigResource::Topic(name) => write!(f, "topic '{name}'"),
            ConfigResource::Broker(Some(id)) => write!(f, "broker {id}"),
            ConfigResource::Broker(None) => write!(f, "the brokers' default"),
            ConfigResource::BrokerLogger(id) => write!(f, "broker-logger {id}"),
            ConfigResource::Group(name) => write!(f, "group '{name}'"),
        }
    }
}

/// Where a config value comes from (DescribeConfigs `config_source`), named as Kafka's
/// `ConfigEntry.ConfigSource` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    Unknown,
    DynamicTopic,
    DynamicBroker,
    DynamicDefaultBroker,
    StaticBroker,
    Default,
    DynamicBrokerLogger,
    DynamicClientMetrics,
    DynamicGroup,
}

impl ConfigSource {
    pub fn from_wire(source: i8) -> ConfigSource {
        match source {
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            7 => ConfigSource::DynamicClientMetrics,
            8 => ConfigSource::DynamicGroup,
            _ => ConfigSource::Unknown,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ConfigSource::Unknown => "UNKNOWN",
            ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
            ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
            ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
            ConfigSource::Default => "DEFAULT_CONFIG",
            ConfigSource::DynamicBrokerLogger => "DYNAMIC_BROKER_LOGGER_CONFIG",
            ConfigSource::DynamicClientMetrics => "DYNAMIC_CLIENT_METRICS_CONFIG",
            ConfigSource::DynamicGroup => "DYNAMIC_GROUP_CONFIG",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// None for sensitive values and values without one.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub sensitive: bool,
    pub read_only: bool,
    pub synonyms: Vec<ConfigSynonym>,
}

fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

/// Creates one topic; `timeout_ms` is how long the controller may take.
pub fn create_topic(cluster: &mut Cluster, topic: &NewTopic, timeout_ms: i32) -> Result<()> {
    let broker = cluster.controller()?;
    let version = broker.version::<CreateTopicsRequest>()?;
    let placed = topic.assignment.is_empty();
    if version < 4 && placed && (topic.partitions.is_none() || topic.replication_factor.is_none()) {
        return Err(Error::Invalid(format!(
            "the broker takes CreateTopics only up to v{version}, which needs --partitions and --replication-factor"
        )));
    }
    let creatable = CreatableTopic::default()
        .with_name(topic_name(&topic.name))
        .with_num_partitions(topic.partitions.filter(|_| placed).unwrap_or(-1))
        .with_replication_factor(topic.replication_factor.filter(|_| placed).unwrap_or(-1))
        .with_assignments(
            topic
                .assignment
                .iter()
                .zip(0..)
                .map(|(brokers, index)| {
                    CreatableReplicaAssignment::default()
                        .with_partition_index(index)
                        .with_broker_ids(brokers.iter().map(|&b| BrokerId(b)).collect())
                })
                .collect(),
        )
        .with_configs(
            topic
                .configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(str_bytes(k))
                        .with_value(Some(str_bytes(v)))
                })
                .collect(),
        );
    let request = CreateTopicsRequest::default()
        .with_topics(vec![creatable])
        .with_timeout_ms(timeout_ms);
    let response = broker.call(version, &request)?;
    let result = response
        .topics
        .iter()
        .find(|t| t.name.0.as_str() == topic.name)
        .ok_or_else(|| missing(broker, "CreateTopics", &topic.name))?;
    Error::check(result.error_code, result.error_message.as_deref(), || {
        format!("cannot create topic '{}'", topic.name)
    })
}

/// Deletes topics by name.
pub fn delete_topics(cluster: &mut Cluster, names: &[String], timeout_ms: i32) -> Result<()> {
    let broker = cluster.controller()?;
    let version = broker.version::<DeleteTopicsRequest>()?;
    let mut request = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
    // v6 moved the names into `topics`, next to topic ids.
    if version >= 6 {
        request.topics = names
            .iter()
            .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
            .collect();
    } else {
        request.topic_names = names.iter().map(|n| topic_name(n)).collect();
    }
    let response = broker.call(version, &request)?;
    for name in names {
        let result = response
            .responses
            .iter()
            .find(|r| r.name.as_ref().is_some_and(|n| n.0.as_str() == name))
            .ok_or_else(|| missing(broker, "DeleteTopics", name))?;
        Error::check(result.error_code, result.error_message.as_deref(), || {
            format!("cannot delete topic '{name}'")
        })?;
    }
    Ok(())
}

/// Grows `topic` to `count` partitions.
/// Grows `topic` to `count` partitions; `assignment`, when given, names the brokers of
/// each new partition.
pub fn create_partitions(
    cluster: &mut Cluster,
    topic: &str,
    (count, assignment): (i32, Option<Vec<Vec<i32>>>),
    timeout_ms: i32,
) -> Result<()> {
    let broker = cluster.controller()?;
    let version = broker.version::<CreatePartitionsRequest>()?;
    let request = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic_name(topic))
            .with_count(count)
            // Null: the broker places the new partitions (an empty list would ask for
            // none, and Kafka refuses it as INVALID_REPLICA_ASSIGNMENT).
            .with_assignments(assignment.map(|partitions| {
                partitions
                    .into_iter()
                    .map(|brokers| {
                        CreatePartitionsAssignment::default()
                            .with_broker_ids(brokers.into_iter().map(BrokerId).collect())
                    })
                    .collect()
            }))])
        .with_timeout_ms(timeout_ms);
    let response = broker.call(version, &request)?;
    let result = response
        .results
        .iter()
        .find(|r| r.name.0.as_str() == topic)
        .ok_or_else(|| missing(broker, "CreatePartitions", topic))?;
    Error::check(result.error_code, result.error_message.as_deref(), || {
        format!("cannot alter topic '{topic}'")
    })
}

/// Every config of each resource (with synonyms when asked), in the broker's order.
/// A broker's own configs are asked of that broker; everything else goes to one broker
/// in a single request.
pub fn describe_configs(
    cluster: &mut Cluster,
    resources: &[ConfigResource],
    synonyms: bool,
) -> Result<Vec<Vec<ConfigEntry>>> {
    let mut by_target: BTreeMap<Option<i32>, Vec<usize>> = BTreeMap::new();
    for (i, resource) in resources.iter().enumerate() {
        let target = match resource {
            ConfigResource::Broker(Some(id)) => Some(*id),
            _ => None,
        };
        by_target.entry(target).or_default().push(i);
    }
    let mut described: Vec<Option<Vec<ConfigEntry>>> = vec![None; resources.len()];
    for (target, indexes) in by_target {
        let broker = match target {
            Some(id) => cluster.broker(id)?,
            None => cluster.any(),
        };
        let asked: Vec<&ConfigResource> = indexes.iter().map(|&i| &resources[i]).collect();
        for (i, entries) in indexes
            .into_iter()
            .zip(describe_on(broker, &asked, synonyms)?)
        {
            described[i] = Some(entries);
        }
    }
    Ok(described.into_iter().flatten().collect())
}

/// One DescribeConfigs request for `resources`; their configs in the same order.
fn describe_on(
    broker: &mut Broker,
    resources: &[&ConfigResource],
    synonyms: bool,
) -> Result<Vec<Vec<ConfigEntry>>> {
    let version = broker.version::<DescribeConfigsRequest>()?;
    let wire: Vec<(i8, String)> = resources.iter().map(|r| r.wire()).collect();
    let request = DescribeConfigsRequest::default()
        .with_resources(
            wire.iter()
                .map(|(resource_type, name)| {
                    DescribeConfigsResource::default()
                        .with_resource_type(*resource_type)
                        .with_resource_name(str_bytes(name))
                        .with_configuration_keys(None)
                })
                .collect(),
        )
        .with_include_synonyms(synonyms);
    let mut results = broker.call(version, &request)?.results;
    resources
        .iter()
        .zip(&wire)
        .map(|(resource, (resource_type, name))| {
            let at = results
                .iter()
                .position(|r| r.resource_type == *resource_type && r.resource_name.as_str() == name)
                .ok_or_else(|| missing(broker, "DescribeConfigs", name))?;
            let result = results.swap_remove(at);
            Error::check(result.error_code, result.error_message.as_deref(), || {
                format!("cannot describe the configs of {resource}")
            })?;
            Ok(entries(result.configs))
        })
        .collect()
}

fn entries(configs: Vec<DescribeConfigsResourceResult>) -> Vec<ConfigEntry> {
    configs
        .into_iter()
        .map(|c| ConfigEntry {
            name: c.name.to_string(),
            value: c.value.map(|v| v.to_string()),
            source: ConfigSource::from_wire(c.config_source),
            sensitive: c.is_sensitive,
            read_only: c.read_only,
            synonyms: c
                .synonyms
                .into_iter()
                .map(|s| ConfigSynonym {
                    name: s.name.to_string(),
                    value: s.value.map(|v| v.to_string()),
                    source: ConfigSource::from_wire(s.source),
                })
                .collect(),
        })
        .collect()
}

/// IncrementalAlterConfigs: deletes `delete`, then sets `set`, in one request.
pub fn alter_configs(
    cluster: &mut Cluster,
    resource: &ConfigResource,
    set: &[(String, String)],
    delete: &[String],
) -> Result<()> {
    let broker = resource.broker(cluster)?;
    let version = broker.version::<IncrementalAlterConfigsRequest>()?;
    let (resource_type, name) = resource.wire();
    let configs = delete
        .iter()
        .map(|k| {
            AlterableConfig::default()
                .with_name(str_bytes(k))
                .with_config_operation(OP_DELETE)
                .with_value(None)
        })
        .chain(set.iter().map(|(k, v)| {
            AlterableConfig::default()
                .with_name(str_bytes(k))
                .with_config_operation(OP_SET)
                .with_value(Some(str_bytes(v)))
        }))
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(str_bytes(&name))
            .with_configs(configs),
    ]);
    let response = broker.call(version, &request)?;
    let result = response
        .responses
        .iter()
        .find(|r| r.resource_type == resource_type && r.resource_name.as_str() == name)
        .ok_or_else(|| missing(broker, "IncrementalAlterConfigs", &name))?;
    Error::check(result.error_code, result.error_message.as_deref(), || {
        format!("cannot alter the configs of {resource}")
    })
}

/// One log directory of a broker, as DescribeLogDirs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDir {
    pub path: String,
    /// 0, or the error that makes the directory unreadable (KAFKA_STORAGE_ERROR).
    pub error_code: i16,
    /// (topic, partition, size in bytes, offset lag, whether a future replica).
    pub partitions: Vec<(String, i32, i64, i64, bool)>,
}

/// The log directories of `broker`, with every partition in them (Kafka's tool, too,
/// asks for all and filters).
/// What DescribeQuorum says of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDescription {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<QuorumReplica>,
    pub observers: Vec<QuorumReplica>,
    /// Each node's listeners (DescribeQuorum v2): (name, host, port).
    pub endpoints: BTreeMap<i32, Vec<(String, String, u16)>>,
}

/// A voter's or observer's progress; -1 where unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    pub id: i32,
    /// Its metadata directory (nil before DescribeQuorum v2, or for a static quorum).
    pub directory_id: uuid::Uuid,
    pub log_end_offset: i64,
    pub last_fetch_ms: i64,
    pub last_caught_up_ms: i64,
}

/// AddRaftVoter (`add`) or RemoveRaftVoter: makes a controller of a dynamic quorum a
/// voter, at its controller listener `endpoint` (`(name, host, port)`), or an observer.
pub fn change_raft_voter(
    broker: &mut Broker,
    add: bool,
    node: i32,
    directory_id: uuid::Uuid,
    endpoint: Option<(&str, &str, u16)>,
) -> Result<()> {
    use kafka_protocol::messages::add_raft_voter_request::Listener;
    use kafka_protocol::messages::{AddRaftVoterRequest, RemoveRaftVoterRequest};
    let what = |address: &str| {
        let verb = if add { "add" } else { "remove" };
        format!("cannot {verb} controller {node} as a voter at {address}")
    };
    let (code, message) = match add {
        true => {
            let listeners = endpoint
                .map(|(name, host, port)| {
                    Listener::default()
                        .with_name(str_bytes(name))
                        .with_host(str_bytes(host))
                        .with_port(port)
                })
                .into_iter()
                .collect();
            // No cluster id (null): an empty one would name no cluster.
            let request = AddRaftVoterRequest::default()
                .with_cluster_id(None)
                .with_timeout_ms(30_000)
                .with_voter_id(node)
                .with_voter_directory_id(directory_id)
                .with_listeners(listeners);
            let version = broker.version::<AddRaftVoterRequest>()?;
            let response = broker.call(version, &request)?;
            (response.error_code, response.error_message)
        }
        false => {
            let request = RemoveRaftVoterRequest::default()
                .with_cluster_id(None)
                .with_voter_id(node)
                .with_voter_directory_id(directory_id);
            let version = broker.version::<RemoveRaftVoterRequest>()?;
            let response = broker.call(version, &request)?;
            (response.error_code, response.error_message)
        }
    };
    let address = broker.address().to_string();
    Error::check(code, message.as_deref(), || what(&address))
}

/// DescribeQuorum of the metadata log (`__cluster_metadata-0`).
pub fn describe_quorum(broker: &mut Broker) -> Result<QuorumDescription> {
    use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    use kafka_protocol::messages::{DescribeQuorumRequest, TopicName};
    let version = broker.version::<DescribeQuorumRequest>()?;
    let topic = TopicData::default()
        .with_topic_name(TopicName(str_bytes("__cluster_metadata")))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)]);
    let request = DescribeQuorumRequest::default().with_topics(vec![topic]);
    let response = broker.call(version, &request)?;
    let what = || {
        format!(
            "cannot describe the metadata quorum at {}",
            broker.address()
        )
    };
    Error::check(response.error_code, None, what)?;
    let partition = response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| Error::Protocol {
            address: broker.address().to_string(),
            message: "DescribeQuorum answered no partition".to_string(),
        })?;
    Error::check(partition.error_code, None, what)?;
    let replicas = |list: &[kafka_protocol::messages::describe_quorum_response::ReplicaState]| {
        list.iter()
            .map(|r| QuorumReplica {
                id: r.replica_id.0,
                directory_id: r.replica_directory_id,
                log_end_offset: r.log_end_offset,
                last_fetch_ms: r.last_fetch_timestamp,
                last_caught_up_ms: r.last_caught_up_timestamp,
            })
            .collect()
    };
    Ok(QuorumDescription {
        leader_id: partition.leader_id.0,
        leader_epoch: partition.leader_epoch,
        high_watermark: partition.high_watermark,
        voters: replicas(&partition.current_voters),
        observers: replicas(&partition.observers),
        endpoints: response
            .nodes
            .iter()
            .map(|n| {
                let listeners = n
                    .listeners
                    .iter()
                    .map(|l| (l.name.to_string(), l.host.to_string(), l.port))
                    .collect();
                (n.node_id.0, listeners)
            })
            .collect(),
    })
}

pub fn describe_log_dirs(broker: &mut Broker) -> Result<Vec<LogDir>> {
    let version = broker.version::<DescribeLogDirsRequest>()?;
    let request = DescribeLogDirsRequest::default().with_topics(None);
    let response = broker.call(version, &request)?;
    Error::check(response.error_code, None, || {
        format!(
            "cannot describe the log directories of {}",
            broker.address()
        )
    })?;
    Ok(response
        .results
        .into_iter()
        .map(|dir| LogDir {
            path: dir.log_dir.to_string(),
            error_code: dir.error_code,
            partitions: dir
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| {
                        (
                            t.name.0.to_string(),
                            p.partition_index,
                            p.partition_size,
                            p.offset_lag,
                            p.is_future_key,
                        )
                    })
                })
                .collect(),
        })
        .collect())
}

/// One partition's answer to ElectLeaders or AlterPartitionReassignments: its error
/// code (0: done) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOutcome {
    pub topic: String,
    pub partition: i32,
    pub error_code: i16,
    pub error_message: Option<String>,
}

/// ElectLeaders (`unclean`, or preferred) for the partitions named, or every partition
/// (`None`), asked of the controller.
pub fn elect_leaders(
    cluster: &mut Cluster,
    unclean: bool,
    partitions: Option<&BTreeMap<String, Vec<i32>>>,
    timeout_ms: i32,
) -> Result<Vec<PartitionOutcome>> {
    let broker = cluster.controller()?;
    let version = broker.version::<ElectLeadersRequest>()?;
    if unclean && version < 1 {
        return Err(Error::Invalid(format!(
            "{} cannot hold unclean elections (ElectLeaders v{version})",
            broker.address()
        )));
    }
    let wanted = partitions.map(|p| {
        p.iter()
            .map(|(topic, partitions)| {
                ElectLeadersTopicPartitions::default()
                    .with_topic(topic_name(topic))
                    .with_partitions(partitions.clone())
            })
            .collect()
    });
    let request = ElectLeadersRequest::default()
        .with_election_type(i8::from(unclean))
        .with_topic_partitions(wanted)
        .with_timeout_ms(timeout_ms);
    let response = broker.call(version, &request)?;
    Error::check(response.error_code, None, || {
        "cannot elect leaders".to_string()
    })?;
    Ok(response
        .replica_election_results
        .into_iter()
        .flat_map(|t| {
            let topic = t.topic.0.to_string();
            t.partition_result
                .into_iter()
                .map(move |p| PartitionOutcome {
                    topic: topic.clone(),
                    partition: p.partition_id,
                    error_code: p.error_code,
                    error_message: p.error_message.map(|m| m.to_string()),
                })
        })
        .collect())
}

/// One partition's move: its target replicas, or `None` to cancel the move in
/// progress.
pub type Move = (String, i32, Option<Vec<i32>>);

/// AlterPartitionReassignments, asked of the controller: each partition's outcome
/// (topic, partition, error code, message), in the order asked.
pub fn alter_reassignments(
    cluster: &mut Cluster,
    moves: &[Move],
    timeout_ms: i32,
) -> Result<Vec<PartitionOutcome>> {
    let broker = cluster.controller()?;
    let version = broker.version::<AlterPartitionReassignmentsRequest>()?;
    let mut topics: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
    for (topic, partition, replicas) in moves {
        topics.entry(topic).or_default().push(
            ReassignablePartition::default()
                .with_partition_index(*partition)
                .with_replicas(
                    replicas
                        .as_ref()
                        .map(|r| r.iter().map(|&b| BrokerId(b)).collect()),
                ),
        );
    }
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(timeout_ms)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    ReassignableTopic::default()
                        .with_name(topic_name(name))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let response = broker.call(version, &request)?;
    Error::check(
        response.error_code,
        response.error_message.as_deref(),
        || "cannot reassign partitions".to_string(),
    )?;
    Ok(response
        .responses
        .into_iter()
        .flat_map(|t| {
            let topic = t.name.0.to_string();
            t.partitions.into_iter().map(move |p| PartitionOutcome {
                topic: topic.clone(),
                partition: p.partition_index,
                error_code: p.error_code,
                error_message: p.error_message.map(|m| m.to_string()),
            })
        })
        .collect())
}

/// A move in progress: (topic, partition, replicas, adding, removing).
pub type Ongoing = (String, i32, Vec<i32>, Vec<i32>, Vec<i32>);

/// ListPartitionReassignments, asked of the controller: every move in progress.
pub fn list_reassignments(cluster: &mut Cluster, timeout_ms: i32) -> Result<Vec<Ongoing>> {
    let broker = cluster.controller()?;
    let version = broker.version::<ListPartitionReassignmentsRequest>()?;
    let request = ListPartitionReassignmentsRequest::default()
        .with_timeout_ms(timeout_ms)
        .with_topics(None);
    let response = broker.call(version, &request)?;
    Error::check(
        response.error_code,
        response.error_message.as_deref(),
        || "cannot list partition reassignments".to_string(),
    )?;
    let ids = |b: Vec<BrokerId>| b.into_iter().map(|b| b.0).collect();
    Ok(response
        .topics
        .into_iter()
        .flat_map(|t| {
            let topic = t.name.0.to_string();
            t.partitions.into_iter().map(move |p| {
                let replicas = ids(p.replicas);
                let (adding, removing) = (ids(p.adding_replicas), ids(p.removing_replicas));
                (topic.clone(), p.partition_index, replicas, adding, removing)
            })
        })
        .collect())
}

/// Deletes the records of `topic` before each `(partition, offset)` (-1: the high
/// watermark), asked of each partition's leader: (partition, error code, low watermark).
pub fn delete_records(
    cluster: &mut Cluster,
    topic: &TopicMetadata,
    offsets: &[(i32, i64)],
    timeout_ms: i32,
) -> Result<Vec<(i32, i16, i64)>> {
    let (by_leader, leaderless) = topic.by_leader(offsets.iter().copied());
    // No leader to ask: Kafka's admin client reports LEADER_NOT_AVAILABLE for these.
    let mut out: Vec<(i32, i16, i64)> = leaderless
        .into_iter()
        .map(|(partition, _)| (partition, LEADER_NOT_AVAILABLE, -1))
        .collect();
    for (leader, offsets) in by_leader {
        let broker = cluster.broker(leader)?;
        let version = broker.version::<DeleteRecordsRequest>()?;
        let request = DeleteRecordsRequest::default()
            .with_timeout_ms(timeout_ms)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(topic_name(&topic.name))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|&(partition, offset)| {
                            DeleteRecordsPartition::default()
                                .with_partition_index(partition)
                                .with_offset(offset)
                        })
                        .collect(),
                )]);
        let response = broker.call(version, &request)?;
        for (partition, _) in &offsets {
            let answer = response
                .topics
                .iter()
                .filter(|t| t.name.0.as_str() == topic.name)
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition_index == *partition)
                .ok_or_else(|| {
                    missing(
                        broker,
                        "DeleteRecords",
                        &format!("{}-{partition}", topic.name),
                    )
                })?;
            out.push((*partition, answer.error_code, answer.low_watermark));
        }
    }
    out.sort_unstable();
    Ok(out)
}
