//! The controller: the one place cluster metadata changes (topics, partitions,
//! configs). It lives on shard 0; other shards reach it with `invoke_on`. Each change
//! is validated, persisted (replace-file, fsynced) and then published to every shard
//! as a new snapshot before the caller is answered, so a client that created a topic
//! sees it on any connection right after.
//!
//! Changes run one at a time (a local semaphore), so validation sees the state the
//! change applies to. With a metadata quorum of several voters, topic changes and
//! producer-id blocks are proposed to the quorum instead (`quorum`).

mod acls;
mod configs;
mod limits;
mod moves;
mod quorum;
mod quotas;
mod scram;
mod state_file;

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

pub use self::configs::dynamic_configs;
use self::limits::{
    check_assignments, check_growth, check_partition_count, check_partition_indexes, topic_exists,
    unable_to_replicate,
};
pub use self::moves::{ElectionResult, Ongoing, Reassign};
use self::quorum::{migrate_file_topics, publish_changes};
pub use self::quotas::Alteration as QuotaAlteration;
pub use self::state_file::load_state;
use super::image::MetadataImage;
use super::rules;
use super::snapshot::Layout;
use super::{ClusterState, Snapshot, TopicMeta};
use crate::config::{valid_topic_name, BrokerConfig, TopicConfig};
use crate::error::ApiError;
use crate::quorum::member::{Member, QuorumStatus, ShutdownOutcome, VoterStatus};
use crate::shard::Shard;

/// The file in the first log dir holding the cluster state.
pub const STATE_FILE: &str = "cluster.json";
/// Partitions one topic may have, at most.
pub const PARTITIONS_MAX: i32 = 10_000;
/// Producer ids handed to a shard at a time (Kafka's ProducerIdsBlock size).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;
/// How long a stopping broker waits for its leaderships to move (the rest of systemd's
/// default 90 s stop timeout is left for flushing the logs).
const CONTROLLED_SHUTDOWN_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// A topic to create, as the request gave it (-1: the broker's default).
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    /// Replica lists when the client assigned them by hand: (partition index, brokers).
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: Vec<(String, String)>,
}

/// A CreatePartitions request for one topic.
pub struct NewPartitions {
    pub name: String,
    /// The partition count asked for.
    pub count: i32,
    /// The new partitions' replica lists, when the client assigned them by hand.
    pub assignments: Option<Vec<Vec<i32>>>,
}

/// The brokers a quorum of several voters has registered and not fenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredBrokers {
    /// The quorum's leader, -1 when there is none.
    pub controller: i32,
    /// The brokers' registrations, by id: the unfenced ones, and the fenced ones too
    /// when asked.
    pub brokers: Vec<(i32, crate::cluster::image::BrokerRegistration)>,
}

pub struct Controller {
    path: PathBuf,
    state: RefCell<ClusterState>,
    broker: RefCell<BrokerConfig>,
    version: Cell<u64>,
    shard_count: usize,
    one_change_at_a_time: glommio::sync::Semaphore,
    /// Snapshots go to the shards one at a time, in version order.
    one_publish_at_a_time: glommio::sync::Semaphore,
    /// This node's metadata quorum member, when the quorum has other voters.
    quorum: RefCell<Option<Rc<Member>>>,
    /// With such a quorum, the image its files held at start-up, until the member runs.
    image_at_start: Option<MetadataImage>,
}

impl Controller {
    pub fn new(
        log_dir: &Path,
        state: ClusterState,
        broker: BrokerConfig,
        shard_count: usize,
        image_at_start: Option<MetadataImage>,
    ) -> Controller {
        Controller {
            path: log_dir.join(STATE_FILE),
            state: RefCell::new(state),
            broker: RefCell::new(broker),
            version: Cell::new(1),
            shard_count,
            one_change_at_a_time: glommio::sync::Semaphore::new(1),
            one_publish_at_a_time: glommio::sync::Semaphore::new(1),
            quorum: RefCell::new(None),
            image_at_start,
        }
    }

    /// Takes this node's running quorum member: from now on the snapshot's topics and
    /// layout are its image's, published to every shard whenever it changes.
    pub fn set_quorum(&self, shard: &Rc<Shard>, member: Rc<Member>) {
        *self.quorum.borrow_mut() = Some(Rc::clone(&member));
        glommio::spawn_local(publish_changes(Rc::clone(shard), Rc::clone(&member))).detach();
        glommio::spawn_local(migrate_file_topics(Rc::clone(shard), member)).detach();
    }

    /// On SIGTERM, before the shards stop: with a quorum (and `controlled.shutdown.enable`),
    /// has this broker's leaderships moved away (`Member::controlled_shutdown`), at most
    /// `CONTROLLED_SHUTDOWN_MAX`. A broker that could not have them moved in time stops
    /// anyway, as Kafka's does; its session then ends and it is fenced.
    pub async fn controlled_shutdown(&self) {
        let Some(member) = self.member() else {
            return;
        };
        if !self.broker.borrow().controlled_shutdown_enable {
            return;
        }
        tracing::info!("controlled shutdown: moving this broker's leaderships away");
        match member.controlled_shutdown(CONTROLLED_SHUTDOWN_MAX).await {
            ShutdownOutcome::Moved => {
                tracing::info!("controlled shutdown: this broker leads no partition")
            }
            ShutdownOutcome::NoQuorum => tracing::warn!(
                "controlled shutdown: the metadata quorum has no leader, nothing can move; stopping anyway"
            ),
            ShutdownOutcome::TimedOut => tracing::warn!(
                "controlled shutdown: leaderships not moved within {CONTROLLED_SHUTDOWN_MAX:?}; stopping anyway"
            ),
        }
    }

    /// The controller's view of the cluster for the metrics, with a quorum.
    pub fn cluster_sample(&self) -> Option<crate::metrics::ClusterSample> {
        self.member().map(|m| m.cluster_sample())
    }

    fn member(&self) -> Option<Rc<Member>> {
        self.quorum.borrow().as_ref().map(Rc::clone)
    }

    /// The cluster's layout, when the quorum has other voters.
    fn layout(&self) -> Option<Arc<Layout>> {
        let node = self.broker.borrow().node_id;
        if let Some(member) = self.member() {
            // Cut off from the quorum, this node takes itself for fenced, as the active
            // controller will have: it stops leading, so clients go to the new leaders.
            let image = match member.is_cut_off() {
                true => rules::cut_off_view(&member.image(), node),
                false => member.image(),
            };
            return Some(Arc::new(Layout {
                node,
                controller: controller_for_clients(member.leader(), &image, node),
                image,
                removed: member.removed_topics(),
            }));
        }
        let image = self.image_at_start.clone()?;
        Some(Arc::new(Layout::at_start(node, image)))
    }

    /// Publishes a snapshot of the current state to every shard and waits until all
    /// have it.
    async fn publish(&self, shard: &Rc<Shard>) -> Result<(), ApiError> {
        let _turn = self.one_publish_at_a_time.acquire_permit(1).await;
        self.version.set(self.version.get() + 1);
        let snapshot = self.snapshot();
        let applied = shard
            .invoke_on_all(move |s| async move { s.apply_snapshot(snapshot).await })
            .await?;
        for result in applied {
            result.map_err(ApiError::from)?;
        }
        Ok(())
    }

    /// With a quorum of several voters: the active controller and the unfenced brokers
    /// as the image has them. `None` for a cluster of one.
    pub fn registered_brokers(&self, with_fenced: bool) -> Option<RegisteredBrokers> {
        let member = self.quorum.borrow().as_ref().map(Rc::clone)?;
        let image = member.image();
        let brokers = image
            .brokers
            .iter()
            .filter(|(_, b)| with_fenced || !b.fenced)
            .map(|(&id, b)| (id, b.clone()))
            .collect();
        let node = self.broker.borrow().node_id;
        Some(RegisteredBrokers {
            controller: controller_for_clients(member.leader(), &image, node),
            brokers,
        })
    }

    /// The metadata quorum as DescribeQuorum reports it. A cluster of one has no
    /// replicated log: it is its own leader, at epoch 0, with nothing in the log.
    pub fn quorum_status(&self) -> QuorumStatus {
        if let Some(member) = self.quorum.borrow().as_ref() {
            return member.status();
        }
        let node = self.broker.borrow().node_id;
        QuorumStatus {
            state: "leader",
            leader: Some(node),
            epoch: 0,
            high_watermark: 0,
            voters: vec![VoterStatus {
                node,
                log_end: 0,
                last_heard_ms: -1,
                last_caught_up_ms: -1,
            }],
            observers: Vec::new(),
            controllers: Vec::new(),
        }
    }

    /// Adds or removes a voter of a dynamic metadata quorum (AddRaftVoter,
    /// RemoveRaftVoter). A cluster of one has no quorum whose voters can change.
    pub async fn change_voter(
        &self,
        add: bool,
        node: i32,
        directory_id: uuid::Uuid,
        listeners: &[crate::cluster::image::Endpoint],
        timeout: std::time::Duration,
    ) -> Result<(), (kafka_protocol::error::ResponseError, String)> {
        let member = self.quorum.borrow().clone();
        match member {
            Some(member) => {
                member
                    .change_voter(add, node, directory_id, listeners, timeout)
                    .await
            }
            None => Err((
                kafka_protocol::error::ResponseError::UnsupportedVersion,
                "this broker is a cluster of one, with no metadata quorum: start its \
                 controllers with controller.quorum.bootstrap.servers"
                    .to_string(),
            )),
        }
    }

    /// The snapshot shards read. With a quorum, this node's broker config first takes
    /// the cluster-wide defaults its image has.
    pub fn snapshot(&self) -> Snapshot {
        let layout = self.layout();
        if let Some(layout) = &layout {
            self.follow_configs(&layout.image);
        }
        Snapshot::new(
            self.version.get(),
            self.state.borrow().clone(),
            self.broker.borrow().clone(),
            self.shard_count,
            layout,
        )
    }

    pub async fn create_topics(
        &self,
        shard: &Rc<Shard>,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Vec<Result<TopicMeta, ApiError>> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        if let Some(member) = self.member() {
            return self
                .create_topics_in_quorum(shard, &member, topics, validate_only)
                .await;
        }
        let mut state = self.state.borrow().clone();
        let mut results = Vec::with_capacity(topics.len());
        for (i, topic) in topics.iter().enumerate() {
            let duplicate = topics[..i].iter().any(|t| t.name == topic.name);
            let result = if duplicate {
                Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    "topic named twice in one request",
                ))
            } else {
                self.validate_new_topic(&state, topic)
            };
            if let Ok(meta) = &result {
                state.topics.insert(topic.name.clone(), meta.clone());
            }
            results.push(result);
        }
        self.commit_if_any(shard, state, results, validate_only)
            .await
    }

    /// Whether broker `id` exists: this one alone, or one the quorum registered.
    fn broker_exists(&self, id: i32) -> bool {
        match self.member() {
            None => id == self.broker.borrow().node_id,
            Some(member) => member.has_broker(id),
        }
    }

    fn validate_new_topic(
        &self,
        state: &ClusterState,
        topic: &NewTopic,
    ) -> Result<TopicMeta, ApiError> {
        let broker = self.broker.borrow();
        valid_topic_name(&topic.name)
            .map_err(|why| ApiError::new(ResponseError::InvalidTopicException, why))?;
        if state.topics.contains_key(&topic.name) {
            return Err(topic_exists(&topic.name));
        }
        let collides = |other: &String| other.replace('.', "_") == topic.name.replace('.', "_");
        if let Some(other) = state.topics.keys().find(|other| collides(other)) {
            let message = format!(
                "Topic '{}' collides with existing topic: {other}",
                topic.name
            );
            return Err(ApiError::new(ResponseError::InvalidTopicException, message));
        }
        // Kafka validates the configs first, then the counts: the replication factor
        // before the partitions.
        let config = TopicConfig::new(topic.configs.iter().cloned())?;
        let (partitions, replication) = if topic.assignments.is_empty() {
            let replication = match topic.replication_factor {
                -1 => broker.default_replication_factor,
                other => other,
            };
            if replication < 1 {
                let message =
                    "Replication factor must be larger than 0, or -1 to use the default value.";
                return Err(ApiError::new(
                    ResponseError::InvalidReplicationFactor,
                    message,
                ));
            }
            let partitions = if topic.partitions == -1 {
                broker.num_partitions
            } else {
                topic.partitions
            };
            (partitions, replication)
        } else {
            let unset = |what: &str| {
                let message = format!(
                    "A manual partition assignment was specified, but {what} was not set to -1."
                );
                Err(ApiError::new(ResponseError::InvalidRequest, message))
            };
            if topic.replication_factor != -1 {
                return unset("replication factor");
            }
            if topic.partitions != -1 {
                return unset("numPartitions");
            }
            check_partition_indexes(topic.assignments.iter().map(|(i, _)| *i))?;
            let replicas = topic.assignments.iter().map(|(_, r)| r.as_slice());
            let first = topic.assignments[0].1.len();
            check_assignments(replicas, first, |id| self.broker_exists(id))?;
            (topic.assignments.len() as i32, first as i16)
        };
        check_partition_count(partitions)?;
        // With a quorum, each broker's share is checked once the topic is placed.
        if self.member().is_none() {
            self.check_partition_budget(state, partitions)?;
        }
        // With a quorum, placement checks the factor against the brokers there are.
        if replication != 1 && self.member().is_none() {
            let short = rules::PlacementError::NotEnoughBrokers {
                wanted: replication as usize,
                available: 1,
            };
            return Err(unable_to_replicate(replication as usize, short));
        }
        Ok(TopicMeta {
            id: Uuid::new_v4(),
            partitions,
            config,
        })
    }

    pub async fn delete_topics(
        &self,
        shard: &Rc<Shard>,
        names: Vec<String>,
    ) -> Vec<Result<Uuid, ApiError>> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        if let Some(member) = self.member() {
            return self.delete_topics_in_quorum(shard, &member, names).await;
        }
        let mut state = self.state.borrow().clone();
        let enabled = self.broker.borrow().delete_topic_enable;
        let results: Vec<Result<Uuid, ApiError>> = names
            .iter()
            .map(|name| {
                if !enabled {
                    return Err(ApiError::new(
                        ResponseError::TopicDeletionDisabled,
                        "delete.topic.enable is false",
                    ));
                }
                state
                    .topics
                    .remove(name)
                    .map(|meta| meta.id)
                    .ok_or_else(|| unknown_topic(name))
            })
            .collect();
        self.commit_if_any(shard, state, results, false).await
    }

    /// Grows topics to the partition counts asked, with the new partitions' replica
    /// lists when the client assigned them by hand.
    pub async fn create_partitions(
        &self,
        shard: &Rc<Shard>,
        requests: Vec<NewPartitions>,
        validate_only: bool,
    ) -> Vec<Result<(), ApiError>> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        if let Some(member) = self.member() {
            return self
                .create_partitions_in_quorum(shard, &member, requests, validate_only)
                .await;
        }
        let mut state = self.state.borrow().clone();
        let node_id = self.broker.borrow().node_id;
        let results: Vec<Result<(), ApiError>> = requests
            .iter()
            .map(
                |NewPartitions {
                     name,
                     count,
                     assignments,
                 }| {
                    let current = state
                        .topics
                        .get(name)
                        .ok_or_else(|| unknown_topic(name))?
                        .partitions;
                    let alone = |id| id == node_id;
                    let adding =
                        check_growth(name, current, *count, 1, assignments.as_deref(), alone)?;
                    self.check_partition_budget(&state, adding)?;
                    if let Some(meta) = state.topics.get_mut(name) {
                        meta.partitions = *count;
                    }
                    Ok(())
                },
            )
            .collect();
        self.commit_if_any(shard, state, results, validate_only)
            .await
    }

    /// Replaces topics' configs (each already validated by the caller against the
    /// current one).
    pub async fn set_topic_configs(
        &self,
        shard: &Rc<Shard>,
        change: impl Fn(&str, &TopicConfig) -> Result<TopicConfig, ApiError>,
        names: Vec<String>,
        validate_only: bool,
    ) -> Vec<Result<(), ApiError>> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        if let Some(member) = self.member() {
            return self
                .set_topic_configs_in_quorum(shard, &member, change, names, validate_only)
                .await;
        }
        let mut state = self.state.borrow().clone();
        let results: Vec<Result<(), ApiError>> = names
            .iter()
            .map(|name| {
                let meta = state
                    .topics
                    .get_mut(name)
                    .ok_or_else(|| unknown_topic(name))?;
                meta.config = change(name, &meta.config)?;
                Ok(())
            })
            .collect();
        self.commit_if_any(shard, state, results, validate_only)
            .await
    }

    /// Hands out the next block of producer ids. The block is on disk before anyone
    /// gets an id from it, so no id is handed out twice, across restarts too.
    pub async fn allocate_producer_ids(&self) -> Result<std::ops::Range<i64>, ApiError> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        if let Some(member) = self.member() {
            return self.allocate_producer_ids_in_quorum(&member).await;
        }
        let mut state = self.state.borrow().clone();
        let first = state.next_producer_id;
        let end = first.checked_add(PRODUCER_ID_BLOCK_SIZE).ok_or_else(|| {
            ApiError::new(ResponseError::UnknownServerError, "producer ids exhausted")
        })?;
        state.next_producer_id = end;
        self.persist(&state).await?;
        *self.state.borrow_mut() = state;
        Ok(first..end)
    }

    /// Commits `state` when any change in `results` succeeded (and this is not a dry
    /// run); if the commit fails, every successful result becomes that failure.
    async fn commit_if_any<T>(
        &self,
        shard: &Rc<Shard>,
        state: ClusterState,
        results: Vec<Result<T, ApiError>>,
        validate_only: bool,
    ) -> Vec<Result<T, ApiError>> {
        if validate_only || !results.iter().any(Result::is_ok) {
            return results;
        }
        match self.commit(shard, state).await {
            Ok(()) => results,
            Err(error) => fail_each(results, &error),
        }
    }

    /// Persists `state`, then publishes it to every shard and waits until all have it.
    async fn commit(&self, shard: &Rc<Shard>, state: ClusterState) -> Result<(), ApiError> {
        self.persist(&state).await?;
        *self.state.borrow_mut() = state;
        self.publish(shard).await
    }
}

fn unknown_topic(name: &str) -> ApiError {
    ApiError::new(
        ResponseError::UnknownTopicOrPartition,
        format!("topic '{name}' does not exist"),
    )
}

/// The controller clients are told of (Metadata, DescribeCluster): the quorum's leader
/// when it is a broker they can reach; with a controller-only leader, as Kafka's brokers
/// answer, a broker instead (this node if it is one), which takes their admin requests
/// to the quorum. -1 while the quorum has no leader.
fn controller_for_clients(leader: Option<i32>, image: &MetadataImage, node: i32) -> i32 {
    let Some(leader) = leader else {
        return -1;
    };
    let reachable = |id: i32| image.brokers.get(&id).is_some_and(|b| !b.fenced);
    if reachable(leader) {
        return leader;
    }
    if reachable(node) {
        return node;
    }
    let first = image.brokers.iter().find(|(_, b)| !b.fenced);
    first.map_or(-1, |(&id, _)| id)
}

/// Every successful answer becomes `error`: the change they were part of failed.
fn fail_each<T>(results: Vec<Result<T, ApiError>>, error: &ApiError) -> Vec<Result<T, ApiError>> {
    results
        .into_iter()
        .map(|r| r.and(Err(error.clone())))
        .collect()
}
