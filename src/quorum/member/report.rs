//! What the member reports: the quorum's state as DescribeQuorum shows it, and the
//! cluster as the active controller's metrics count it.

use super::{image, node_id, Member};
use crate::metrics::ClusterSample;

/// What DescribeQuorum reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    /// This member's state, by Kafka's names (`Quorum::state_name`).
    pub state: &'static str,
    pub leader: Option<i32>,
    /// Raft's term: Kafka's leader epoch of the metadata log.
    pub epoch: i32,
    /// The commit index: the metadata log's high watermark.
    pub high_watermark: i64,
    pub voters: Vec<VoterStatus>,
    /// The members that follow the log without voting (Raft's learners: brokers that
    /// are no voters, and a dynamic quorum's controllers not added yet).
    pub observers: Vec<VoterStatus>,
    /// A dynamic quorum's registered controllers: node, directory id, listener.
    pub controllers: Vec<(i32, uuid::Uuid, image::Endpoint)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoterStatus {
    pub node: i32,
    /// -1 when this member does not know it (it is not the leader).
    pub log_end: i64,
    /// When this member last heard from the voter (ms since the epoch), -1 if never.
    pub last_heard_ms: i64,
    /// When the voter last held all of the leader's log, -1 if never (leader only).
    pub last_caught_up_ms: i64,
}

impl Member {
    pub fn status(&self) -> QuorumStatus {
        let quorum = self.quorum.borrow();
        let heard = self.heard.borrow();
        // The leader holds its own log all the time: Kafka reports it as of now.
        let me = quorum.is_leader().then(|| (quorum.id(), super::now_ms()));
        let status = |(id, last): (u64, Option<u64>)| {
            let (heard_ms, caught_up_ms) = match me {
                Some((me, now)) if me == id => (now, now),
                _ => heard.get(&id).copied().unwrap_or((-1, -1)),
            };
            VoterStatus {
                node: node_id(id),
                log_end: last.map_or(-1, |l| l as i64),
                last_heard_ms: heard_ms,
                last_caught_up_ms: caught_up_ms,
            }
        };
        let observers = quorum.learner_progress().into_iter().map(status).collect();
        let controllers = self
            .image
            .borrow()
            .controllers
            .iter()
            .map(|(&node, c)| (node, c.directory_id, c.endpoint.clone()))
            .collect();
        let voters = quorum.progress().into_iter().map(status).collect();
        QuorumStatus {
            state: quorum.state_name(),
            leader: quorum.leader().map(node_id),
            epoch: quorum.term() as i32,
            high_watermark: quorum.commit_index() as i64,
            voters,
            observers,
            controllers,
        }
    }

    /// The cluster as the active controller sees it (gauges only on the leader), and the
    /// elections this member counted.
    pub fn cluster_sample(&self) -> ClusterSample {
        let counted = ClusterSample {
            leader_elections: self.elections.get(),
            unclean_leader_elections: self.unclean_elections.get(),
            ..ClusterSample::default()
        };
        if !self.quorum.borrow().is_leader() {
            return counted;
        }
        let image = self.image.borrow();
        let partitions = || image.topics.values().flat_map(|t| t.partitions.values());
        let fenced = image.brokers.values().filter(|b| b.fenced).count() as u64;
        ClusterSample {
            active: true,
            topics: image.topics.len() as u64,
            partitions: partitions().count() as u64,
            offline_partitions: partitions()
                .filter(|p| p.leader == image::NO_LEADER)
                .count() as u64,
            preferred_imbalance: partitions()
                .filter(|p| p.replicas.first().map(|r| r.broker) != Some(p.leader))
                .count() as u64,
            fenced_brokers: fenced,
            active_brokers: image.brokers.len() as u64 - fenced,
            ..counted
        }
    }
}
