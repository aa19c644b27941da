//! The controller's changes when the metadata quorum has other voters. Each is decided
//! on this node against its image, proposed as one entry of records (a follower's goes
//! to the quorum's leader), and answered once the quorum committed it and this node
//! applied it: then the new snapshot is on every shard of this node, and the other
//! nodes publish theirs as they apply the same entry. Two nodes deciding at once is
//! settled by the log's order: the later entry no longer fits the image (a topic name
//! taken, a producer-id block handed out) and is refused on every node alike.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use super::limits::{check_growth, replicas_by_broker, topic_exists, unable_to_replicate};
use super::{
    fail_each, unknown_topic, Controller, ElectionResult, NewPartitions, NewTopic, Reassign,
    PRODUCER_ID_BLOCK_SIZE,
};
use crate::cluster::image::{MetadataImage, MetadataRecord, Replica, ScramChange};
use crate::cluster::{reassign, rules, shard_for, TopicMeta};
use crate::config::TopicConfig;
use crate::error::ApiError;
use crate::quorum::member::{Member, ProposalError};
use crate::replication::isr::{AlterAnswer, AlterIsr};
use crate::shard::Shard;

/// Publishes this node's snapshot whenever the quorum's committed records, or its
/// leader, change: the changes other nodes made reach this node's shards so.
pub(super) async fn publish_changes(shard: Rc<Shard>, member: Rc<Member>) {
    loop {
        let changed = member.changed();
        if let Err(error) = shard.controller().publish(&shard).await {
            tracing::error!(
                ?error,
                "publishing the metadata quorum's image to the shards"
            );
        }
        if shard.unless_stopping(changed).await.is_none() {
            return;
        }
    }
}

/// Carries a cluster of one's topics (this node's `cluster.json`) into the quorum,
/// once this broker is registered and unfenced: each topic the image lacks is proposed
/// under its own id with every partition on this broker, where its logs are, led by it;
/// then the file forgets it. A name the quorum has under another id is not carried: if
/// the quorum's topic is placed here, its directories are put aside as another topic's
/// (`storage::topic_id`). Internal topics come too, and their coordinators' state is
/// loaded as the shards open them.
pub(super) async fn migrate_file_topics(shard: Rc<Shard>, member: Rc<Member>) {
    let controller = shard.controller();
    loop {
        let next = controller
            .state
            .borrow()
            .topics
            .first_key_value()
            .map(|(n, m)| (n.clone(), m.clone()));
        let Some((name, meta)) = next else {
            return carry_acls_and_configs(&shard, &member).await;
        };
        let node = controller.broker.borrow().node_id;
        let image = member.image();
        let serving = image.brokers.get(&node).is_some_and(|b| !b.fenced);
        let settled = match image.topic_ids.get(&name) {
            Some(&id) if id == meta.id => true,
            Some(_) => {
                tracing::warn!(topic = %name, "cluster.json's topic is not carried into the metadata quorum: the quorum has a topic of that name with another id; its directories here are kept aside if the quorum's topic is placed on them");
                true
            }
            // Its id under another name (two nodes' files from one backup).
            None if image.topics.contains_key(&meta.id) => {
                tracing::warn!(topic = %name, id = %meta.id, "cluster.json's topic is not carried into the metadata quorum: the quorum has its id under another name");
                true
            }
            None if !serving => false,
            None => {
                let records = carried(&name, &meta, node, controller.shard_count);
                match member.propose(&records, PROPOSAL_TIMEOUT).await {
                    Ok(_) => {
                        tracing::info!(topic = %name, partitions = meta.partitions, "cluster.json's topic carried into the metadata quorum");
                        true
                    }
                    // The name was taken meanwhile: looked at again.
                    Err(ProposalError::Refused(_)) => continue,
                    Err(_) => false,
                }
            }
        };
        if settled {
            let _turn = controller.one_change_at_a_time.acquire_permit(1).await;
            let mut state = controller.state.borrow().clone();
            state.topics.remove(&name);
            if let Err(error) = controller.persist(&state).await {
                tracing::error!(?error, "cluster.json could not forget a topic carried into the quorum; it is carried again at the next start");
                return;
            }
            *controller.state.borrow_mut() = state;
            continue;
        }
        let pause = glommio::timer::sleep(Duration::from_secs(1));
        if shard.unless_stopping(pause).await.is_none() {
            return;
        }
    }
}

/// Carries a cluster of one's ACLs, dynamic broker configs, SCRAM users, client quotas
/// and group configs into the quorum: the ACLs its image lacks are added, the config
/// keys it lacks (the defaults and this broker's own) are set, the users, quota entities
/// and groups it lacks are created; then the file forgets them. Until then the snapshot holds the file's
/// too.
async fn carry_acls_and_configs(shard: &Rc<Shard>, member: &Member) {
    let controller = shard.controller();
    loop {
        let state = controller.state.borrow().clone();
        let (acls, defaults, own, scram, quotas, groups) = (
            state.acls,
            state.broker_default_overrides,
            state.broker_overrides,
            state.scram,
            state.client_quotas,
            state.group_configs,
        );
        if acls.is_empty()
            && defaults.is_empty()
            && own.is_empty()
            && scram.is_empty()
            && quotas.is_empty()
            && groups.is_empty()
        {
            return;
        }
        let image = member.image();
        let mut records = Vec::new();
        let acls: Vec<_> = acls
            .into_iter()
            .filter(|acl| !image.acls.contains(acl))
            .collect();
        if !acls.is_empty() {
            records.push(MetadataRecord::AddAcls { acls });
        }
        let node = controller.broker.borrow().node_id;
        let none = BTreeMap::new();
        let imaged = [
            (None, defaults, &image.broker_defaults),
            (
                Some(node),
                own,
                image.broker_configs.get(&node).unwrap_or(&none),
            ),
        ];
        for (broker, file, quorum) in imaged {
            let changes: BTreeMap<_, _> = file
                .into_iter()
                .filter(|(key, _)| !quorum.contains_key(key))
                .map(|(key, value)| (key, Some(value)))
                .collect();
            if !changes.is_empty() {
                records.push(MetadataRecord::BrokerConfigs { broker, changes });
            }
        }
        // SCRAM users the quorum does not have yet.
        let changes: Vec<ScramChange> = scram
            .into_iter()
            .filter(|(user, _)| !image.scram.contains_key(user))
            .flat_map(|(user, held)| {
                held.into_iter()
                    .map(move |(mechanism, credential)| ScramChange {
                        user: user.clone(),
                        mechanism,
                        credential: Some(credential),
                    })
            })
            .collect();
        if !changes.is_empty() {
            records.push(MetadataRecord::ScramCredentials { changes });
        }
        // Client quota entities the quorum does not have yet.
        let changes: Vec<_> = quotas
            .changes()
            .into_iter()
            .filter(|change| image.client_quotas.get(&change.entity).is_none())
            .collect();
        if !changes.is_empty() {
            records.push(MetadataRecord::ClientQuotas { changes });
        }
        // Groups whose configs the quorum does not have yet.
        for (group, configs) in groups {
            if !image.group_configs.contains_key(&group) {
                let changes = configs.into_iter().map(|(k, v)| (k, Some(v))).collect();
                records.push(MetadataRecord::GroupConfigs { group, changes });
            }
        }
        let carried = match records.is_empty() {
            true => true,
            false => match member.propose(&records, PROPOSAL_TIMEOUT).await {
                Ok(_) => true,
                Err(ProposalError::Refused(reason)) => {
                    tracing::error!(%reason, "cluster.json's ACLs, broker configs, SCRAM users and client quotas cannot be carried into the metadata quorum; this broker keeps applying them");
                    return;
                }
                Err(_) => false,
            },
        };
        if carried {
            let _turn = controller.one_change_at_a_time.acquire_permit(1).await;
            let mut state = controller.state.borrow().clone();
            state.acls.clear();
            state.broker_default_overrides.clear();
            state.broker_overrides.clear();
            state.scram.clear();
            state.client_quotas = Default::default();
            state.group_configs.clear();
            if let Err(error) = controller.persist(&state).await {
                tracing::error!(?error, "cluster.json could not forget the ACLs, broker configs, SCRAM users and client quotas carried into the quorum; they are carried again at the next start");
                return;
            }
            *controller.state.borrow_mut() = state;
            tracing::info!(
                "cluster.json's ACLs, broker configs, SCRAM users and client quotas carried into the metadata quorum"
            );
            return;
        }
        let pause = glommio::timer::sleep(Duration::from_secs(1));
        if shard.unless_stopping(pause).await.is_none() {
            return;
        }
    }
}

/// The records carrying a cluster of one's topic into the quorum: all of it on `node`.
fn carried(name: &str, meta: &TopicMeta, node: i32, shard_count: usize) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::Topic {
        name: name.to_string(),
        id: meta.id,
        configs: meta.config.overrides().clone(),
    }];
    records.extend(
        (0..meta.partitions).map(|partition| MetadataRecord::Partition {
            topic: meta.id,
            partition,
            replicas: vec![Replica {
                broker: node,
                shard: shard_for(name, partition, shard_count).0 as u32,
            }],
            isr: vec![node],
            leader: node,
        }),
    );
    records
}

/// How long a change waits for the quorum to commit it.
const PROPOSAL_TIMEOUT: Duration = Duration::from_secs(10);

impl Controller {
    /// AlterPartition from this node's leader of `topic`-`partition`: checked against
    /// the image as Kafka's controller checks it, then committed through the quorum,
    /// where it applies only at the partition epoch it was asked at. `None` when no
    /// answer can be given (no quorum leader, or the proposal timed out).
    pub async fn alter_isr(
        &self,
        topic: uuid::Uuid,
        partition: i32,
        change: AlterIsr,
    ) -> Option<AlterAnswer> {
        let member = self.member()?;
        let node = self.broker.borrow().node_id;
        let (answer, record) =
            rules::alter_partition(&member.image(), node, topic, partition, &change);
        let Some(record) = record else {
            return Some(answer);
        };
        match member.propose(&[record], PROPOSAL_TIMEOUT).await {
            Ok(_) => Some(answer),
            // The partition moved on meanwhile: the metadata will say how.
            Err(ProposalError::Refused(_)) => Some(AlterAnswer::Stale),
            Err(_) => None,
        }
    }

    pub(super) async fn create_topics_in_quorum(
        &self,
        shard: &Rc<Shard>,
        member: &Member,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Vec<Result<TopicMeta, ApiError>> {
        let image = member.image();
        let mut state = self.snapshot().state;
        let mut held = replicas_by_broker(&image);
        let mut decided = Vec::with_capacity(topics.len());
        for (i, topic) in topics.iter().enumerate() {
            let result = if topics[..i].iter().any(|t| t.name == topic.name) {
                Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    "topic named twice in one request",
                ))
            } else {
                self.validate_new_topic(&state, topic).and_then(|meta| {
                    let replication = match topic.replication_factor {
                        -1 => self.broker.borrow().default_replication_factor,
                        other => other,
                    };
                    let records = topic_records(&image, topic, &meta, replication as usize)?;
                    self.check_replica_budget(&mut held, &records)?;
                    Ok((meta, records))
                })
            };
            if let Ok((meta, _)) = &result {
                state.topics.insert(topic.name.clone(), meta.clone());
            }
            decided.push(result);
        }
        let mut results = Vec::with_capacity(decided.len());
        for (topic, result) in topics.iter().zip(decided) {
            results.push(match result {
                Ok((meta, _)) if validate_only => Ok(meta),
                Ok((meta, records)) => propose(member, &records, || topic_exists(&topic.name))
                    .await
                    .map(|_| meta),
                Err(error) => Err(error),
            });
        }
        self.publish_if_any(shard, results).await
    }

    pub(super) async fn delete_topics_in_quorum(
        &self,
        shard: &Rc<Shard>,
        member: &Member,
        names: Vec<String>,
    ) -> Vec<Result<uuid::Uuid, ApiError>> {
        let enabled = self.broker.borrow().delete_topic_enable;
        let image = member.image();
        let mut results = Vec::with_capacity(names.len());
        for name in &names {
            let result = match image.topic_ids.get(name) {
                _ if !enabled => Err(ApiError::new(
                    ResponseError::TopicDeletionDisabled,
                    "delete.topic.enable is false",
                )),
                None => Err(unknown_topic(name)),
                Some(&id) => {
                    let records = [MetadataRecord::RemoveTopic { id }];
                    propose(member, &records, || unknown_topic(name))
                        .await
                        .map(|_| id)
                }
            };
            results.push(result);
        }
        self.publish_if_any(shard, results).await
    }

    pub(super) async fn create_partitions_in_quorum(
        &self,
        shard: &Rc<Shard>,
        member: &Member,
        requests: Vec<NewPartitions>,
        validate_only: bool,
    ) -> Vec<Result<(), ApiError>> {
        let image = member.image();
        let mut held = replicas_by_broker(&image);
        let mut results = Vec::with_capacity(requests.len());
        for request in &requests {
            let decided = partition_records(&image, request).and_then(|records| {
                self.check_replica_budget(&mut held, &records)?;
                Ok(records)
            });
            let result = match decided {
                Ok(_) if validate_only => Ok(()),
                Ok(records) => propose(member, &records, || {
                    let message = format!("topic '{}' changed meanwhile", request.name);
                    ApiError::new(ResponseError::InvalidPartitions, message)
                })
                .await
                .map(|_| ()),
                Err(error) => Err(error),
            };
            results.push(result);
        }
        self.publish_if_any(shard, results).await
    }

    pub(super) async fn set_topic_configs_in_quorum(
        &self,
        shard: &Rc<Shard>,
        member: &Member,
        change: impl Fn(&str, &TopicConfig) -> Result<TopicConfig, ApiError>,
        names: Vec<String>,
        validate_only: bool,
    ) -> Vec<Result<(), ApiError>> {
        let snapshot = self.snapshot();
        let mut results = Vec::with_capacity(names.len());
        for name in &names {
            let decided = snapshot
                .topic(name)
                .ok_or_else(|| unknown_topic(name))
                .and_then(|meta| Ok((meta.id, change(name, &meta.config)?)));
            let result = match decided {
                Ok(_) if validate_only => Ok(()),
                Ok((topic, config)) => {
                    let records = [MetadataRecord::TopicConfigs {
                        topic,
                        configs: config.overrides().clone(),
                    }];
                    propose(member, &records, || unknown_topic(name))
                        .await
                        .map(|_| ())
                }
                Err(error) => Err(error),
            };
            results.push(result);
        }
        self.publish_if_any(shard, results).await
    }

    /// The next block of producer ids, from the quorum: each block starts where the last
    /// one the log handed out ended, so no two brokers get the same ids.
    pub(super) async fn allocate_producer_ids_in_quorum(
        &self,
        member: &Member,
    ) -> Result<std::ops::Range<i64>, ApiError> {
        let broker = self.broker.borrow().node_id;
        // Another broker may take the block this one asked for: ask again after it.
        for _ in 0..3 {
            let first = member.image().next_producer_id;
            let next = first.checked_add(PRODUCER_ID_BLOCK_SIZE).ok_or_else(|| {
                ApiError::new(ResponseError::UnknownServerError, "producer ids exhausted")
            })?;
            let records = [MetadataRecord::ProducerIds {
                broker,
                first,
                next,
            }];
            match member.propose(&records, PROPOSAL_TIMEOUT).await {
                Ok(_) => return Ok(first..next),
                Err(ProposalError::Refused(_)) => continue,
                Err(error) => return Err(failed(error)),
            }
        }
        Err(ApiError::new(
            ResponseError::CoordinatorLoadInProgress,
            "other brokers took every producer-id block this one asked for; try again",
        ))
    }

    /// ElectLeaders through the quorum (`decide_and_propose`).
    pub(super) async fn elect_leaders_in_quorum(
        &self,
        shard: &Rc<Shard>,
        member: &Member,
        election: rules::Election,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<ElectionResult> {
        let decide = |image: &MetadataImage| elections(image, election, wanted.as_deref());
        let fail = |decided: &mut Vec<ElectionResult>, error: &ApiError| {
            let results = decided.iter_mut().flat_map(|(_, ps)| ps.iter_mut());
            fail_successes(results.map(|(_, r)| r), error);
        };
        self.decide_and_propose(shard, member, decide, fail).await
    }

    /// AlterPartitionReassignments through the quorum (`decide_and_propose`): for each
    /// partition its target replicas, or `None` to cancel its reassignment.
    pub(super) async fn alter_reassignments_in_quorum(
        &self,
        shard: &Rc<Shard>,
        member: &Member,
        wanted: Vec<Reassign>,
        allow_replication_factor_change: bool,
    ) -> Vec<Result<(), ApiError>> {
        let decide_one = |image: &MetadataImage, w: &Reassign| {
            let id = image.topic_ids.get(&w.topic).copied();
            let p = id.and_then(|id| image.partition(id, w.partition));
            let (Some(id), Some(p)) = (id, p) else {
                return Err(ApiError::code(ResponseError::UnknownTopicOrPartition));
            };
            // KIP-860, after the target's own checks: the replication factor is the
            // one a move in progress goes to.
            if let Some(to) = &w.replicas {
                reassign::check_target(image, to).map_err(reassign_error)?;
                let from = reassign::target(p).len();
                if to.len() != from && !allow_replication_factor_change {
                    return Err(ApiError::new(
                        ResponseError::InvalidReplicationFactor,
                        format!(
                            "the move changes the replication factor from {from} to {}",
                            to.len()
                        ),
                    ));
                }
            }
            reassign::reassign(image, id, w.partition, w.replicas.as_deref())
                .map_err(reassign_error)
        };
        let decide = |image: &MetadataImage| {
            let mut records = Vec::new();
            // A partition named twice is moved once, to the target given last, as
            // Kafka keys the request's partitions; both copies get its answer.
            let last: HashMap<(&str, i32), &Reassign> = wanted
                .iter()
                .map(|w| ((w.topic.as_str(), w.partition), w))
                .collect();
            let mut decided: HashMap<(&str, i32), Result<(), ApiError>> = HashMap::new();
            let results = wanted
                .iter()
                .map(|w| {
                    let key = (w.topic.as_str(), w.partition);
                    decided
                        .entry(key)
                        .or_insert_with(|| {
                            let record = decide_one(image, last.get(&key).copied().unwrap_or(w))?;
                            records.extend(record);
                            Ok(())
                        })
                        .clone()
                })
                .collect();
            (results, records)
        };
        let fail = |results: &mut Vec<Result<(), ApiError>>, error: &ApiError| {
            fail_successes(results.iter_mut(), error);
        };
        self.decide_and_propose(shard, member, decide, fail).await
    }

    /// Decides a change on the image and proposes its records as one entry. When a
    /// partition changed before the entry applied (its partition epoch moved), the whole
    /// is decided again on the new image, three times at most. Answered once this
    /// node's shards have it; if it did not take effect, `fail` marks the successes
    /// with why.
    async fn decide_and_propose<T>(
        &self,
        shard: &Rc<Shard>,
        member: &Member,
        decide: impl Fn(&MetadataImage) -> (T, Vec<MetadataRecord>),
        fail: impl Fn(&mut T, &ApiError),
    ) -> T {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (mut decided, records) = decide(&member.image());
            if records.is_empty() {
                return decided;
            }
            let outcome = match member.propose(&records, PROPOSAL_TIMEOUT).await {
                Err(ProposalError::Refused(_)) if attempts < 3 => continue,
                Ok(_) => self.publish(shard).await,
                Err(error) => Err(failed(error)),
            };
            if let Err(error) = outcome {
                fail(&mut decided, &error);
            }
            return decided;
        }
    }

    /// Publishes the new snapshot to this node's shards when any change succeeded; if
    /// that fails, every successful result becomes the failure.
    pub(super) async fn publish_if_any<T>(
        &self,
        shard: &Rc<Shard>,
        results: Vec<Result<T, ApiError>>,
    ) -> Vec<Result<T, ApiError>> {
        if !results.iter().any(Result::is_ok) {
            return results;
        }
        match self.publish(shard).await {
            Ok(()) => results,
            Err(error) => fail_each(results, &error),
        }
    }
}

/// Proposes `records` as one entry and waits until this node applied it. A committed
/// entry that no longer fit the image becomes `refused()`.
pub(super) async fn propose(
    member: &Member,
    records: &[MetadataRecord],
    refused: impl FnOnce() -> ApiError,
) -> Result<u64, ApiError> {
    match member.propose(records, PROPOSAL_TIMEOUT).await {
        Err(ProposalError::Refused(reason)) => {
            tracing::debug!(%reason, "metadata change refused when applied");
            Err(refused())
        }
        other => other.map_err(failed),
    }
}

/// ElectLeaders decided on `image`: each partition's answer, and the records of the
/// elections made. Asked for every partition (`wanted` is `None`), the partitions that
/// need none are left out of the answer, as Kafka leaves them out (their topic stays).
fn elections(
    image: &MetadataImage,
    election: rules::Election,
    wanted: Option<&[(String, Vec<i32>)]>,
) -> (Vec<ElectionResult>, Vec<MetadataRecord>) {
    let mut records = Vec::new();
    // A partition named twice is elected once; both copies get its answer.
    let mut decided: HashMap<(uuid::Uuid, i32), Result<(), ApiError>> = HashMap::new();
    let mut elect = |id: Option<uuid::Uuid>, partition: i32| {
        let Some((id, p)) = id.and_then(|id| Some((id, image.partition(id, partition)?))) else {
            return Err(ApiError::code(ResponseError::UnknownTopicOrPartition));
        };
        if let Some(result) = decided.get(&(id, partition)) {
            return result.clone();
        }
        let record = rules::elect_leader(image, id, partition, p, election).map_err(|why| {
            ApiError::code(match why {
                rules::NotElected::NotNeeded => ResponseError::ElectionNotNeeded,
                rules::NotElected::PreferredLeaderNotAvailable => {
                    ResponseError::PreferredLeaderNotAvailable
                }
                rules::NotElected::EligibleLeadersNotAvailable => {
                    ResponseError::EligibleLeadersNotAvailable
                }
            })
        });
        decided.insert(
            (id, partition),
            record.as_ref().map(drop).map_err(Clone::clone),
        );
        records.push(record?);
        Ok(())
    };
    let results = match wanted {
        Some(wanted) => wanted
            .iter()
            .map(|(name, partitions)| {
                let id = image.topic_ids.get(name).copied();
                let results = partitions.iter().map(|&p| (p, elect(id, p))).collect();
                (name.clone(), results)
            })
            .collect(),
        None => image
            .topics
            .iter()
            .map(|(&id, t)| {
                let results = t
                    .partitions
                    .keys()
                    .map(|&p| (p, elect(Some(id), p)))
                    .filter(
                        |(_, r)| !matches!(r, Err(e) if e.code == ResponseError::ElectionNotNeeded),
                    )
                    .collect();
                (t.name.clone(), results)
            })
            .collect(),
    };
    (results, records)
}

/// Every success among `results` becomes `error`.
fn fail_successes<'a>(
    results: impl Iterator<Item = &'a mut Result<(), ApiError>>,
    error: &ApiError,
) {
    for result in results.filter(|r| r.is_ok()) {
        *result = Err(error.clone());
    }
}

fn reassign_error(error: reassign::ReassignError) -> ApiError {
    match error {
        reassign::ReassignError::UnknownTopicOrPartition => {
            ApiError::code(ResponseError::UnknownTopicOrPartition)
        }
        reassign::ReassignError::InvalidReplicaAssignment(why) => {
            ApiError::new(ResponseError::InvalidReplicaAssignment, why)
        }
        reassign::ReassignError::NoReassignmentInProgress => {
            ApiError::code(ResponseError::NoReassignmentInProgress)
        }
    }
}

/// The Kafka error for a change the quorum did not take.
fn failed(error: ProposalError) -> ApiError {
    let code = match error {
        // Retriable: clients look for the controller again and retry.
        ProposalError::NoLeader => ResponseError::NotController,
        ProposalError::TimedOut(_) => ResponseError::RequestTimedOut,
        ProposalError::Refused(_) => ResponseError::UnknownServerError,
    };
    ApiError::new(code, error.to_string())
}

/// The records creating `topic` (validated as `meta`): the topic, then its partitions,
/// placed over the unfenced brokers unless the client assigned them.
fn topic_records(
    image: &MetadataImage,
    topic: &NewTopic,
    meta: &TopicMeta,
    replication: usize,
) -> Result<Vec<MetadataRecord>, ApiError> {
    let replicas = if topic.assignments.is_empty() {
        place(image, &topic.name, meta.partitions, replication)
            .map_err(|e| unable_to_replicate(replication, e))?
    } else {
        let mut assigned = topic.assignments.clone();
        assigned.sort_by_key(|(p, _)| *p);
        assigned
            .into_iter()
            .map(|(p, brokers)| on_brokers(image, &topic.name, p, &brokers))
            .collect()
    };
    let mut records = vec![MetadataRecord::Topic {
        name: topic.name.clone(),
        id: meta.id,
        configs: meta.config.overrides().clone(),
    }];
    records.extend(partitions(image, meta.id, 0, replicas)?);
    Ok(records)
}

/// The records adding the partitions a CreatePartitions asks for.
fn partition_records(
    image: &MetadataImage,
    request: &NewPartitions,
) -> Result<Vec<MetadataRecord>, ApiError> {
    let id = *image
        .topic_ids
        .get(&request.name)
        .ok_or_else(|| unknown_topic(&request.name))?;
    let current = image.topics[&id]
        .partitions
        .keys()
        .next_back()
        .map_or(0, |p| p + 1);
    // New partitions get as many replicas as the topic's first.
    let replication = image.topics[&id]
        .partitions
        .values()
        .next()
        .map_or(1, |p| p.replicas.len());
    let exists = |broker: i32| image.brokers.contains_key(&broker);
    check_growth(
        &request.name,
        current,
        request.count,
        replication,
        request.assignments.as_deref(),
        exists,
    )?;
    let replicas = match &request.assignments {
        Some(assigned) => assigned
            .iter()
            .zip(current..)
            .map(|(brokers, p)| on_brokers(image, &request.name, p, brokers))
            .collect(),
        // Kafka answers the placer's own words here, without CreateTopics' preamble.
        None => place(image, &request.name, request.count, replication)
            .map_err(|e| ApiError::new(ResponseError::InvalidReplicationFactor, e.to_string()))?
            .split_off(current as usize),
    };
    partitions(image, id, current, replicas)
}

/// Replicas striped over the unfenced brokers from a random one, as Kafka's placer
/// starts.
fn place(
    image: &MetadataImage,
    topic: &str,
    count: i32,
    replication: usize,
) -> Result<Vec<Vec<Replica>>, rules::PlacementError> {
    rules::place(image, topic, count, replication, fastrand::usize(..1 << 16))
}

/// A hand-assigned partition's replicas, each on the shard its broker would pick.
fn on_brokers(image: &MetadataImage, topic: &str, partition: i32, brokers: &[i32]) -> Vec<Replica> {
    brokers
        .iter()
        .map(|&broker| {
            let shards = image.brokers.get(&broker).map_or(1, |b| b.shards);
            Replica {
                broker,
                shard: shard_for(topic, partition, shards as usize).0 as u32,
            }
        })
        .collect()
}

/// `Partition` records numbered from `first`, each led by its first unfenced replica.
fn partitions(
    image: &MetadataImage,
    topic: uuid::Uuid,
    first: i32,
    replicas: Vec<Vec<Replica>>,
) -> Result<Vec<MetadataRecord>, ApiError> {
    replicas
        .into_iter()
        .zip(first..)
        .map(|(replicas, partition)| {
            let leader = replicas
                .iter()
                .map(|r| r.broker)
                .find(|&b| !image.is_fenced(b))
                .ok_or_else(|| {
                    let message = format!(
                        "every broker assigned to partition {partition} is fenced or unknown"
                    );
                    ApiError::new(ResponseError::InvalidReplicaAssignment, message)
                })?;
            Ok(MetadataRecord::Partition {
                topic,
                partition,
                isr: replicas.iter().map(|r| r.broker).collect(),
                replicas,
                leader,
            })
        })
        .collect()
}
