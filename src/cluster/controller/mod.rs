//! The controller: the one place cluster metadata changes (topics, partitions,
//! configs). It lives on shard 0; other shards reach it with `invoke_on`. Each change
//! is validated, persisted (replace-file, fsynced) and then published to every shard
//! as a new snapshot before the caller is answered, so a client that created a topic
//! sees it on any connection right after.
//!
//! Changes run one at a time (a local semaphore), so validation sees the state the
//! change applies to. With a metadata quorum of several voters, topic changes and
//! producer-id blocks are proposed to the quorum instead (`quorum`).

mod quorum;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use anyhow::Context;
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use self::quorum::{migrate_file_topics, publish_changes};
use super::image::MetadataImage;
use super::rules;
use super::snapshot::Layout;
use super::{ClusterState, Snapshot, TopicMeta};
use crate::acl::{AclBinding, AclFilter, ACLS_MAX};
use crate::config::{valid_topic_name, BrokerConfig, TopicConfig};
use crate::error::ApiError;
use crate::quorum::member::{Member, QuorumStatus, ShutdownOutcome, VoterStatus};
use crate::shard::Shard;

/// The file in the first log dir holding the cluster state.
pub const STATE_FILE: &str = "cluster.json";
/// Partitions one topic may have, at most.
pub const PARTITIONS_MAX: i32 = 10_000;
/// One partition of AlterPartitionReassignments: its target replicas, or `None` to
/// cancel the reassignment in progress.
#[derive(Debug, Clone)]
pub struct Reassign {
    pub topic: String,
    pub partition: i32,
    pub replicas: Option<Vec<i32>>,
}

/// A reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ongoing {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// ElectLeaders' answer for one topic: each partition asked, elected or why not.
pub type ElectionResult = (String, Vec<(i32, Result<(), ApiError>)>);
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
    /// `(id, host, port)`, by id.
    pub brokers: Vec<(i32, String, u16)>,
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
                controller: member.leader().unwrap_or(-1),
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
    pub fn registered_brokers(&self) -> Option<RegisteredBrokers> {
        let member = self.quorum.borrow().as_ref().map(Rc::clone)?;
        let brokers = member
            .image()
            .brokers
            .iter()
            .filter(|(_, b)| !b.fenced)
            .map(|(&id, b)| (id, b.host.clone(), b.port))
            .collect();
        Some(RegisteredBrokers {
            controller: member.status().leader.unwrap_or(-1),
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
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot::new(
            self.version.get(),
            self.state.borrow().clone(),
            self.broker.borrow().clone(),
            self.shard_count,
            self.layout(),
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
            let message = format!("topic '{}' already exists", topic.name);
            return Err(ApiError::new(ResponseError::TopicAlreadyExists, message));
        }
        let collides = |other: &String| other.replace('.', "_") == topic.name.replace('.', "_");
        if let Some(other) = state.topics.keys().find(|other| collides(other)) {
            let message = format!(
                "topic '{}' collides with existing topic '{other}' ('.' and '_' mix)",
                topic.name
            );
            return Err(ApiError::new(ResponseError::InvalidTopicException, message));
        }
        let (partitions, replication) = if topic.assignments.is_empty() {
            let partitions = if topic.partitions == -1 {
                broker.num_partitions
            } else {
                topic.partitions
            };
            let replication = match topic.replication_factor {
                -1 => broker.default_replication_factor,
                other => other,
            };
            (partitions, replication)
        } else {
            if topic.partitions != -1 || topic.replication_factor != -1 {
                let message =
                    "give either replica assignments or partition count and replication factor";
                return Err(ApiError::new(ResponseError::InvalidRequest, message));
            }
            let count = topic.assignments.len();
            let mut indexes: Vec<i32> = topic.assignments.iter().map(|(i, _)| *i).collect();
            indexes.sort_unstable();
            if indexes
                .iter()
                .enumerate()
                .any(|(n, i)| usize::try_from(*i) != Ok(n))
            {
                let message = format!(
                    "partitions should be numbered 0 to {}, each once",
                    count - 1
                );
                return Err(ApiError::new(
                    ResponseError::InvalidReplicaAssignment,
                    message,
                ));
            }
            let replicas = topic.assignments.iter().map(|(_, r)| r.as_slice());
            let first = topic.assignments[0].1.len();
            check_assignments(replicas, first, |id| self.broker_exists(id))?;
            (topic.assignments.len() as i32, first as i16)
        };
        check_partition_count(partitions)?;
        self.check_partition_budget(state, partitions)?;
        // With a quorum, placement checks the factor against the brokers there are.
        if replication < 1 || (replication != 1 && self.member().is_none()) {
            let message = match replication {
                ..1 => "replication factor must be at least 1".to_string(),
                _ => format!(
                    "replication factor {replication} is not possible: the cluster has 1 broker"
                ),
            };
            return Err(ApiError::new(
                ResponseError::InvalidReplicationFactor,
                message,
            ));
        }
        let config = TopicConfig::new(topic.configs.iter().cloned())?;
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
                    let adding =
                        check_growth(current, *count, assignments.as_deref(), |id| id == node_id)?;
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

    /// ElectLeaders: for each partition asked (every partition when `wanted` is `None`),
    /// the leader `election` gives it, or why none. A cluster of one leads every
    /// partition it has: no election is needed.
    pub async fn elect_leaders(
        &self,
        shard: &Rc<Shard>,
        election: rules::Election,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<ElectionResult> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        if let Some(member) = self.member() {
            return self
                .elect_leaders_in_quorum(shard, &member, election, wanted)
                .await;
        }
        let state = self.state.borrow();
        let Some(wanted) = wanted else {
            return Vec::new();
        };
        wanted
            .into_iter()
            .map(|(name, partitions)| {
                let count = state.topics.get(&name).map_or(0, |t| t.partitions);
                let results = partitions
                    .into_iter()
                    .map(|p| {
                        let error = match (0..count).contains(&p) {
                            true => ResponseError::ElectionNotNeeded,
                            false => ResponseError::UnknownTopicOrPartition,
                        };
                        (p, Err(ApiError::code(error)))
                    })
                    .collect();
                (name, results)
            })
            .collect()
    }

    /// AlterPartitionReassignments: starts (or cancels) each partition's move. A cluster
    /// of one has no other broker to move to: only its own replica is a valid target.
    pub async fn alter_reassignments(
        &self,
        shard: &Rc<Shard>,
        wanted: Vec<Reassign>,
        allow_replication_factor_change: bool,
    ) -> Vec<Result<(), ApiError>> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        if let Some(member) = self.member() {
            return self
                .alter_reassignments_in_quorum(
                    shard,
                    &member,
                    wanted,
                    allow_replication_factor_change,
                )
                .await;
        }
        let node = self.broker.borrow().node_id;
        let state = self.state.borrow();
        wanted
            .into_iter()
            .map(|w| {
                let count = state.topics.get(&w.topic).map_or(0, |t| t.partitions);
                if !(0..count).contains(&w.partition) {
                    return Err(ApiError::code(ResponseError::UnknownTopicOrPartition));
                }
                match w.replicas {
                    None => Err(ApiError::code(ResponseError::NoReassignmentInProgress)),
                    Some(to) if to == [node] => Ok(()),
                    Some(_) => Err(ApiError::new(
                        ResponseError::InvalidReplicaAssignment,
                        format!("a cluster of one has only broker {node}"),
                    )),
                }
            })
            .collect()
    }

    /// ListPartitionReassignments: the moves in progress, of the partitions named (all
    /// when `None`).
    pub fn list_reassignments(&self, wanted: Option<&[(String, Vec<i32>)]>) -> Vec<Ongoing> {
        let Some(member) = self.member() else {
            return Vec::new();
        };
        let image = member.image();
        let asked = |name: &str, partition: i32| {
            wanted.is_none_or(|w| w.iter().any(|(t, ps)| t == name && ps.contains(&partition)))
        };
        image
            .topics
            .values()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |(&i, p)| (t.name.as_str(), i, p))
            })
            .filter(|(name, i, p)| {
                (!p.adding.is_empty() || !p.removing.is_empty()) && asked(name, *i)
            })
            .map(|(name, partition, p)| Ongoing {
                topic: name.to_string(),
                partition,
                replicas: p.replicas.iter().map(|r| r.broker).collect(),
                adding: p.adding.clone(),
                removing: p.removing.clone(),
            })
            .collect()
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

    /// Changes dynamic broker configs: `change` maps the current config to the new one.
    pub async fn set_broker_config(
        &self,
        shard: &Rc<Shard>,
        change: impl FnOnce(&BrokerConfig) -> Result<BrokerConfig, ApiError>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        let updated = change(&self.broker.borrow())?;
        if validate_only {
            return Ok(());
        }
        let mut state = self.state.borrow().clone();
        state.broker_overrides = updated.dynamic_overrides();
        state.broker_default_overrides = updated.default_overrides();
        *self.broker.borrow_mut() = updated;
        self.commit(shard, state).await
    }

    /// Adds ACLs (each validated by the caller); one already present succeeds without
    /// a second copy, as in Kafka.
    pub async fn create_acls(
        &self,
        shard: &Rc<Shard>,
        acls: Vec<AclBinding>,
    ) -> Vec<Result<(), ApiError>> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        let mut state = self.state.borrow().clone();
        let results = acls
            .into_iter()
            .map(|acl| {
                if state.acls.contains(&acl) {
                    return Ok(());
                }
                if state.acls.len() >= ACLS_MAX {
                    let message = format!("the cluster holds at most {ACLS_MAX} ACLs");
                    return Err(ApiError::new(ResponseError::InvalidRequest, message));
                }
                state.acls.push(acl);
                Ok(())
            })
            .collect();
        self.commit_if_any(shard, state, results, false).await
    }

    /// Removes every ACL each filter matches; answers, per filter, the ACLs it removed.
    pub async fn delete_acls(
        &self,
        shard: &Rc<Shard>,
        filters: Vec<AclFilter>,
    ) -> Result<Vec<Vec<AclBinding>>, ApiError> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        let mut state = self.state.borrow().clone();
        // Each filter sees the ACLs as they were before the request, as in Kafka: an
        // ACL two filters match is reported by both.
        let removed: Vec<Vec<AclBinding>> = filters
            .iter()
            .map(|filter| {
                let matched = state.acls.iter().filter(|acl| filter.matches(acl));
                matched.cloned().collect()
            })
            .collect();
        if removed.iter().any(|gone| !gone.is_empty()) {
            state
                .acls
                .retain(|acl| !filters.iter().any(|filter| filter.matches(acl)));
            self.commit(shard, state).await?;
        }
        Ok(removed)
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
            Err(error) => results
                .into_iter()
                .map(|r| r.and(Err(error.clone())))
                .collect(),
        }
    }

    /// Persists `state`, then publishes it to every shard and waits until all have it.
    async fn commit(&self, shard: &Rc<Shard>, state: ClusterState) -> Result<(), ApiError> {
        self.persist(&state).await?;
        *self.state.borrow_mut() = state;
        self.publish(shard).await
    }
}

impl Controller {
    /// Refuses `adding` partitions to `state` when the broker would then hold more than
    /// `max.broker.partitions`, or more than its descriptor limit (RLIMIT_NOFILE) leaves
    /// room to open: a broker that cannot open its partitions fails every start.
    fn check_partition_budget(&self, state: &ClusterState, adding: i32) -> Result<(), ApiError> {
        let total =
            |s: &ClusterState| -> i64 { s.topics.values().map(|t| i64::from(t.partitions)).sum() };
        let after = total(state) + i64::from(adding);
        let limit = self.broker.borrow().max_broker_partitions;
        if after > i64::from(limit) {
            let message = format!(
                "the broker would hold {after} partitions; max.broker.partitions is {limit}"
            );
            return Err(ApiError::new(ResponseError::PolicyViolation, message));
        }
        // Partitions this change and the ones before it in the request would open.
        let unopened = after - total(&self.state.borrow());
        let Some((open, limit)) = descriptors() else {
            return Ok(());
        };
        let needed = open + unopened * DESCRIPTORS_PER_PARTITION + DESCRIPTORS_KEPT;
        if needed > limit {
            let message = format!(
                "{unopened} new partitions need about {} file descriptors: {open} of the limit {limit} (RLIMIT_NOFILE) are open, and {DESCRIPTORS_KEPT} are kept for connections; raise the limit (ulimit -n, systemd's LimitNOFILE)",
                unopened * DESCRIPTORS_PER_PARTITION
            );
            return Err(ApiError::new(ResponseError::PolicyViolation, message));
        }
        Ok(())
    }

    /// Allocates the space the next state write uses (see `replace_file_from_spare`),
    /// so that a broker started on a full disk can still delete a topic.
    pub async fn set_aside_space(&self) {
        let length = serde_json::to_vec_pretty(&*self.state.borrow()).map_or(0, |b| b.len());
        crate::storage::allocate_spare(&self.path, length).await;
    }

    /// Writes `state` to the state file, atomically and durably, into space set aside
    /// (a full disk does not stop the deletion that would free it).
    async fn persist(&self, state: &ClusterState) -> Result<(), ApiError> {
        let bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| ApiError::new(ResponseError::UnknownServerError, e.to_string()))?;
        crate::storage::replace_file_from_spare(&self.path, bytes)
            .await
            .map_err(|e| ApiError::new(ResponseError::KafkaStorageError, e.to_string()))
    }
}

/// Descriptors a new partition is counted for: its active segment's, and one for the
/// segment it rolls to (sealed segments stay open, as Kafka's do).
const DESCRIPTORS_PER_PARTITION: i64 = 2;
/// Descriptors the partition budget leaves for connections, index and checkpoint
/// writes, and the metrics port.
const DESCRIPTORS_KEPT: i64 = 256;

/// How many descriptors the process has open, and its soft limit (`None` when either
/// cannot be read, or there is no limit).
fn descriptors() -> Option<(i64, i64)> {
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current?;
    Some((open, i64::try_from(limit).unwrap_or(i64::MAX)))
}

/// Kafka's checks of replica lists assigned by hand: each names `replicas` brokers, each
/// once, and only brokers that `exists`.
fn check_assignments<'a>(
    assignments: impl IntoIterator<Item = &'a [i32]>,
    replicas: usize,
    exists: impl Fn(i32) -> bool,
) -> Result<(), ApiError> {
    let invalid = |message: String| {
        Err(ApiError::new(
            ResponseError::InvalidReplicaAssignment,
            message,
        ))
    };
    for brokers in assignments {
        if brokers.len() != replicas {
            return invalid(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with the others, which have {replicas} replica(s)",
                brokers.len()
            ));
        }
        for (i, id) in brokers.iter().enumerate() {
            if brokers[..i].contains(id) {
                return invalid(format!(
                    "The manual partition assignment includes the broker {id} more than once"
                ));
            }
            if !exists(*id) {
                return invalid(format!(
                    "The manual partition assignment includes broker {id}, but no broker with that id was found"
                ));
            }
        }
    }
    Ok(())
}

/// Kafka's checks of a CreatePartitions from `current` partitions to `count`, with the
/// new partitions' replica lists when assigned by hand (one replica each, on brokers
/// that `exists`): answers how many partitions it adds.
fn check_growth(
    current: i32,
    count: i32,
    assignments: Option<&[Vec<i32>]>,
    exists: impl Fn(i32) -> bool,
) -> Result<i32, ApiError> {
    if count <= current {
        let message = format!("topic has {current} partitions; the new count must be larger");
        return Err(ApiError::new(ResponseError::InvalidPartitions, message));
    }
    check_partition_count(count)?;
    let adding = count - current;
    if let Some(assignments) = assignments {
        if assignments.len() != adding as usize {
            let message = format!(
                "Attempted to add {adding} additional partitions, but {} assignments were given",
                assignments.len()
            );
            return Err(ApiError::new(
                ResponseError::InvalidReplicaAssignment,
                message,
            ));
        }
        check_assignments(assignments.iter().map(Vec::as_slice), 1, exists)?;
    }
    Ok(adding)
}

fn check_partition_count(partitions: i32) -> Result<(), ApiError> {
    if partitions <= 0 || partitions > PARTITIONS_MAX {
        let message = format!("partition count {partitions} is outside 1..={PARTITIONS_MAX}");
        return Err(ApiError::new(ResponseError::InvalidPartitions, message));
    }
    Ok(())
}

fn unknown_topic(name: &str) -> ApiError {
    ApiError::new(
        ResponseError::UnknownTopicOrPartition,
        format!("topic '{name}' does not exist"),
    )
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
