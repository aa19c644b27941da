//! Moving leaders and replicas: ElectLeaders, and KIP-455's reassignments (started,
//! cancelled, listed). With a quorum of several voters they are decided in `quorum`; a
//! cluster of one leads every partition it has, and has no other broker to move to.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use super::Controller;
use crate::cluster::image::TopicImage;
use crate::cluster::rules;
use crate::error::ApiError;
use crate::shard::Shard;

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

impl Controller {
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
        // Asked for every partition: every topic, none of whose partitions needs one.
        let Some(wanted) = wanted else {
            return state
                .topics
                .keys()
                .map(|name| (name.clone(), Vec::new()))
                .collect();
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
    /// when `None`), one list per topic entry of the answer (none empty).
    pub fn list_reassignments(&self, wanted: Option<&[(String, Vec<i32>)]>) -> Vec<Vec<Ongoing>> {
        let Some(member) = self.member() else {
            return Vec::new();
        };
        let image = member.image();
        let ongoing = |t: &TopicImage, partition: i32| {
            let p = t.partitions.get(&partition)?;
            (!p.adding.is_empty() || !p.removing.is_empty()).then(|| Ongoing {
                topic: t.name.clone(),
                partition,
                replicas: p.replicas.iter().map(|r| r.broker).collect(),
                adding: p.adding.clone(),
                removing: p.removing.clone(),
            })
        };
        let mut topics: Vec<Vec<Ongoing>> = match wanted {
            None => {
                let mut all: Vec<&TopicImage> = image.topics.values().collect();
                all.sort_by(|a, b| a.name.cmp(&b.name));
                all.into_iter()
                    .map(|t| t.partitions.keys().filter_map(|&i| ongoing(t, i)).collect())
                    .collect()
            }
            // Kafka answers the topics and partitions in the order asked, each as often
            // as it is named.
            Some(wanted) => wanted
                .iter()
                .filter_map(|(name, partitions)| {
                    let t = image.topics.values().find(|t| &t.name == name)?;
                    Some(partitions.iter().filter_map(|&i| ongoing(t, i)).collect())
                })
                .collect(),
        };
        topics.retain(|t| !t.is_empty());
        topics
    }
}
