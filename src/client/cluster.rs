//! A cluster seen through Metadata: the bootstrap connection, the brokers and topics the
//! last Metadata answer named, and one lazily opened connection per broker id, so each
//! partition's requests go to its leader.
//!
//! Invariant: `metadata()` is the only thing that changes the broker table; connections
//! to a broker id are made from that table and dropped when an I/O error poisons them.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::broker::Broker;
use super::error::{is_retriable, Error, Result};

/// Metadata v1 is the first where "no topic list" means "every topic".
const METADATA_VERSION_MIN: i16 = 1;

/// Between retries of a request that failed with a retriable error.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// Kafka's UNKNOWN_TOPIC_OR_PARTITION.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

#[derive(Debug, Clone)]
pub struct Options {
    pub client_id: String,
    /// For connecting, and for any one request to be answered.
    pub timeout: Duration,
    /// How to log in on a SASL listener (`None`: no login).
    pub login: Option<Login>,
    /// TLS, for an SSL or SASL_SSL listener (`None`: plaintext).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

/// A SASL login: PLAIN or SCRAM with a user's password.
#[derive(Clone)]
pub struct Login {
    pub mechanism: crate::security::Mechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    /// Never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Login({} as {})", self.mechanism, self.username)
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            client_id: "shoal-cli".to_string(),
            timeout: Duration::from_secs(30),
            login: None,
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// broker id -> HOST:PORT
    pub brokers: BTreeMap<i32, String>,
    /// broker id -> `broker.rack`, for the brokers that name one.
    pub racks: BTreeMap<i32, String>,
    pub controller_id: i32,
    /// Empty when the broker did not say.
    pub cluster_id: String,
    pub topics: BTreeMap<String, TopicMetadata>,
}

#[derive(Debug, Clone)]
pub struct TopicMetadata {
    pub name: String,
    /// Nil when the broker's Metadata version predates topic ids.
    pub id: Uuid,
    pub error_code: i16,
    pub internal: bool,
    /// Sorted by partition index.
    pub partitions: Vec<PartitionMetadata>,
}

#[derive(Debug, Clone)]
pub struct PartitionMetadata {
    pub index: i32,
    pub error_code: i16,
    /// -1 when the partition has no leader.
    pub leader: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// Per-partition items grouped by leader, and the items whose partition has none.
pub type ByLeader<T> = (BTreeMap<i32, Vec<(i32, T)>>, Vec<(i32, T)>);

impl TopicMetadata {
    pub fn leader(&self, partition: i32) -> Option<i32> {
        self.partitions
            .iter()
            .find(|p| p.index == partition)
            .map(|p| p.leader)
            .filter(|&leader| leader >= 0)
    }

    /// `items` (partition, item) grouped by the partition's leader, one request each.
    pub fn by_leader<T>(&self, items: impl IntoIterator<Item = (i32, T)>) -> ByLeader<T> {
        let mut grouped: BTreeMap<i32, Vec<(i32, T)>> = BTreeMap::new();
        let mut leaderless = Vec::new();
        for (partition, item) in items {
            match self.leader(partition) {
                Some(leader) => grouped.entry(leader).or_default().push((partition, item)),
                None => leaderless.push((partition, item)),
            }
        }
        (grouped, leaderless)
    }
}

pub struct Cluster {
    options: Options,
    bootstrap: Broker,
    brokers: BTreeMap<i32, String>,
    controller_id: i32,
    connections: HashMap<i32, Broker>,
}

impl Cluster {
    /// Connects to the first reachable server of a comma-separated HOST:PORT list.
    pub fn connect(bootstrap_servers: &str, options: Options) -> Result<Cluster> {
        let mut last_error = None;
        for address in bootstrap_servers
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            match Broker::connect(address, &options) {
                Ok(bootstrap) => {
                    return Ok(Cluster {
                        options,
                        bootstrap,
                        brokers: BTreeMap::new(),
                        controller_id: -1,
                        connections: HashMap::new(),
                    })
                }
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            Error::Invalid(format!("no bootstrap server in '{bootstrap_servers}'"))
        }))
    }

    /// The bootstrap connection: for requests any broker answers.
    pub fn any(&mut self) -> &mut Broker {
        &mut self.bootstrap
    }

    /// The controller if Metadata named one we know and it can be reached, else any
    /// broker (KRaft brokers forward admin requests to the controller themselves, and
    /// a controller just gone may be named until the quorum elects another).
    pub fn controller(&mut self) -> Result<&mut Broker> {
        let id = self.controller_id;
        if self.brokers.contains_key(&id) && self.broker(id).is_ok() {
            return self.broker(id);
        }
        Ok(&mut self.bootstrap)
    }

    /// The connection to broker `id`, opened on first use (asking Metadata for its
    /// address if no answer named it yet).
    pub fn broker(&mut self, id: i32) -> Result<&mut Broker> {
        if !self.brokers.contains_key(&id) {
            self.metadata(Some(&[]), false)?;
        }
        if !self.connections.contains_key(&id) {
            let address = self.brokers.get(&id).ok_or_else(|| {
                Error::Invalid(format!("broker {id} is not in the cluster's metadata"))
            })?;
            let broker = Broker::connect(address, &self.options)?;
            self.connections.insert(id, broker);
        }
        self.connections
            .get_mut(&id)
            .ok_or_else(|| Error::Invalid(format!("no connection to broker {id}")))
    }

    /// Forgets the connection to `id` (after an I/O error), so the next use reconnects.
    pub fn disconnect(&mut self, id: i32) {
        self.connections.remove(&id);
    }

    /// Metadata for `topics` (every topic when `None`); `auto_create` lets a broker that
    /// allows it create missing topics, as producers ask.
    pub fn metadata(&mut self, topics: Option<&[String]>, auto_create: bool) -> Result<Metadata> {
        let broker = &mut self.bootstrap;
        let version = broker.version_at_least::<MetadataRequest>(METADATA_VERSION_MIN)?;
        let mut request = MetadataRequest::default().with_topics(topics.map(|names| {
            names
                .iter()
                .map(|name| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                })
                .collect()
        }));
        // Fields a version does not carry must keep their defaults or encoding fails.
        if version >= 4 {
            request.allow_auto_topic_creation = auto_create;
        }
        let response = broker.call(version, &request)?;
        Error::check(response.error_code, None, || {
            format!("{}: Metadata", broker.address())
        })?;
        let mut metadata = Metadata {
            brokers: response
                .brokers
                .iter()
                .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
                .collect(),
            racks: response
                .brokers
                .iter()
                .filter_map(|b| Some((b.node_id.0, b.rack.as_ref()?.to_string())))
                .collect(),
            controller_id: response.controller_id.0,
            cluster_id: response
                .cluster_id
                .map(|c| c.to_string())
                .unwrap_or_default(),
            topics: BTreeMap::new(),
        };
        for topic in response.topics {
            let Some(name) = topic.name else { continue };
            let mut partitions: Vec<PartitionMetadata> = topic
                .partitions
                .iter()
                .map(|p| PartitionMetadata {
                    index: p.partition_index,
                    error_code: p.error_code,
                    leader: p.leader_id.0,
                    replicas: p.replica_nodes.iter().map(|id| id.0).collect(),
                    isr: p.isr_nodes.iter().map(|id| id.0).collect(),
                })
                .collect();
            partitions.sort_by_key(|p| p.index);
            let name = name.0.to_string();
            metadata.topics.insert(
                name.clone(),
                TopicMetadata {
                    name,
                    id: topic.topic_id,
                    error_code: topic.error_code,
                    internal: topic.is_internal,
                    partitions,
                },
            );
        }
        // A broker whose address changed gets a fresh connection next time.
        self.connections.retain(|id, broker| {
            metadata.brokers.get(id).map(String::as_str) == Some(broker.address())
        });
        self.brokers = metadata.brokers.clone();
        self.controller_id = metadata.controller_id;
        Ok(metadata)
    }

    /// Metadata for one topic that must exist; waits out retriable errors and missing
    /// leaders (a topic being created) until the timeout.
    pub fn topic(&mut self, topic: &str, auto_create: bool) -> Result<TopicMetadata> {
        self.topic_waiting(topic, auto_create, false)
    }

    /// `topic` for a topic this client just created: a broker of a cluster that has not
    /// applied the creation yet answers UNKNOWN_TOPIC_OR_PARTITION, which is waited out
    /// too.
    pub fn created_topic(&mut self, topic: &str) -> Result<TopicMetadata> {
        self.topic_waiting(topic, false, true)
    }

    fn topic_waiting(
        &mut self,
        topic: &str,
        auto_create: bool,
        created: bool,
    ) -> Result<TopicMetadata> {
        let deadline = Instant::now() + self.options.timeout;
        let names = [topic.to_string()];
        loop {
            let metadata = self.metadata(Some(&names), auto_create)?;
            let broker_error = |code| Error::Broker {
                context: format!("topic '{topic}'"),
                code,
                message: None,
            };
            let outcome: Result<TopicMetadata> = match metadata.topics.get(topic) {
                // With auto-creation the broker would have made it (or said it is being
                // made): this answer means it will not exist.
                Some(t) if t.error_code == UNKNOWN_TOPIC_OR_PARTITION && !created => {
                    return Err(Error::Invalid(format!("topic '{topic}' does not exist")))
                }
                Some(t) if t.error_code == UNKNOWN_TOPIC_OR_PARTITION => {
                    Err(Error::Invalid(format!("topic '{topic}' does not exist")))
                }
                Some(t) if t.error_code != 0 && !is_retriable(t.error_code) => {
                    return Err(broker_error(t.error_code))
                }
                Some(t) if t.error_code != 0 => Err(broker_error(t.error_code)),
                Some(t) if t.partitions.is_empty() || t.partitions.iter().any(|p| p.leader < 0) => {
                    Err(Error::Invalid(format!(
                        "topic '{topic}' has partitions without a leader"
                    )))
                }
                Some(t) => return Ok(t.clone()),
                None => Err(Error::Invalid(format!("topic '{topic}' does not exist"))),
            };
            if Instant::now() >= deadline {
                return outcome;
            }
            // A tool waiting for a topic's leaders to be elected; not a hot path.
            std::thread::sleep(RETRY_BACKOFF);
        }
    }
}
