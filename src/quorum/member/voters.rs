//! A dynamic quorum's voters changed on an operator's request (AddRaftVoter and
//! RemoveRaftVoter, KIP-853): checked against this node's view, proposed from here (a
//! follower forwards the change to the leader through Raft), and answered once applied.

use std::time::{Duration, Instant};

use futures::channel::oneshot;
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::{raft_id, Member};
use crate::cluster::image::Endpoint;
use crate::quorum::{QuorumError, VoterChange};

/// How the wait for a change of the voters ended.
enum Waited {
    Applied,
    LeadMoved,
    TimedOut,
}

impl Member {
    /// Adds or removes a voter and waits until the change is committed and applied
    /// here. A dynamic quorum only. The voter is named by its node and its metadata
    /// directory's id, as its registration has them; a new voter's `listeners`, when
    /// given, must hold its registered controller listener, and it must hold the
    /// leader's log when the leader is asked. Kafka's error and a message otherwise.
    pub async fn change_voter(
        &self,
        add: bool,
        node: i32,
        directory_id: Uuid,
        listeners: &[Endpoint],
        timeout: Duration,
    ) -> Result<(), (ResponseError, String)> {
        let change = self.voter_change(add, node, directory_id, listeners)?;
        let (number, context) = self.proposal_context();
        let proposed = self
            .quorum
            .borrow_mut()
            .propose_voter_change(context, change);
        match proposed {
            Ok(()) => {}
            Err(QuorumError::Pending) => {
                return Err((
                    ResponseError::RequestTimedOut,
                    "another change of the voters is not committed yet".to_string(),
                ))
            }
            Err(error) => return Err((ResponseError::NotLeaderOrFollower, error.to_string())),
        }
        let deadline = Instant::now() + timeout;
        let timed_out = || {
            Err((
                ResponseError::RequestTimedOut,
                format!("the change of the voters was not committed within {timeout:?}"),
            ))
        };
        match self.outcome_while_the_lead_stays(number, deadline).await {
            Waited::Applied => Ok(()),
            Waited::TimedOut => timed_out(),
            // Committed before the lead moved, or lost with the old leader's log: known
            // once this node holds what the new leader has committed. Kafka's leader
            // answers a change still pending when it resigns so.
            Waited::LeadMoved => match self.catch_up_with_leader(deadline).await {
                false => timed_out(),
                true if self.quorum.borrow().voters().contains(&raft_id(node)) == add => Ok(()),
                true => Err((
                    ResponseError::NotLeaderOrFollower,
                    "the quorum's leader changed before the change of the voters was committed"
                        .to_string(),
                )),
            },
        }
    }

    /// Waits for proposal `number`, just made, to be applied here, unless the quorum's
    /// leader changes or `deadline` passes first.
    async fn outcome_while_the_lead_stays(&self, number: u64, deadline: Instant) -> Waited {
        let (sender, mut receiver) = oneshot::channel();
        self.waiting.borrow_mut().insert(number, sender);
        // The Raft task sends the proposal on its next round.
        self.arrived.notify();
        let leader = self.leader();
        let waited = loop {
            let changed = self.changed.listen();
            match receiver.try_recv() {
                Ok(Some(_)) => break Waited::Applied,
                Ok(None) => {}
                Err(_) => break Waited::TimedOut,
            }
            if self.leader() != leader {
                break Waited::LeadMoved;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let woken = async {
                changed.await;
                Ok(())
            };
            if glommio::timer::timeout(left, woken).await.is_err() {
                break Waited::TimedOut;
            }
        };
        self.waiting.borrow_mut().remove(&number);
        waited
    }

    /// The change asked for, if it makes sense as far as this node can tell; checked in
    /// Kafka's order, after the request's own checks: a change in flight, the quorum's
    /// kind, then the voter.
    fn voter_change(
        &self,
        add: bool,
        node: i32,
        directory_id: Uuid,
        listeners: &[Endpoint],
    ) -> Result<VoterChange, (ResponseError, String)> {
        // The request's own checks (a voter id, a directory id, listeners) are the
        // handler's (`add_raft_voter::change_voter`), made before any quorum is asked.
        if self.quorum.borrow().voter_change_pending() {
            return Err((
                ResponseError::RequestTimedOut,
                "another change of the voters is not committed yet".to_string(),
            ));
        }
        if self.bootstrap.is_empty() {
            return Err((
                ResponseError::UnsupportedVersion,
                "the voters are fixed by controller.quorum.voters (kraft.version 0): \
                 a quorum whose voters can change starts from controller.quorum.bootstrap.servers"
                    .to_string(),
            ));
        }
        let id = raft_id(node);
        let quorum = self.quorum.borrow();
        let image = self.image.borrow();
        let voters = quorum.voters();
        let registration = image
            .controllers
            .get(&node)
            .filter(|c| c.directory_id == directory_id);
        if !add {
            // The last voter cannot go: Kafka finds no voter to remove then.
            return match (voters.contains(&id) && registration.is_some(), voters.len()) {
                (false, _) => Err((
                    ResponseError::VoterNotFound,
                    format!("no voter {node} with directory id {directory_id}"),
                )),
                (true, 1) => Err((
                    ResponseError::VoterNotFound,
                    format!("node {node} is the only voter, which cannot be removed"),
                )),
                (true, _) => Ok(VoterChange::Remove(id)),
            };
        }
        if voters.contains(&id) {
            return Err((
                ResponseError::DuplicateVoter,
                format!("node {node} is already a voter"),
            ));
        }
        // Kafka's answer for a replica that is not an observer holding the log.
        let Some(registration) = registration else {
            return Err((
                ResponseError::RequestTimedOut,
                format!(
                    "no controller {node} with directory id {directory_id} follows the log: \
                     start it with controller.quorum.bootstrap.servers first"
                ),
            ));
        };
        let registered = &registration.endpoint;
        let listed = listeners
            .iter()
            .any(|l| l.host == registered.host && l.port == registered.port);
        if !listed {
            return Err((
                ResponseError::InvalidRequest,
                format!(
                    "controller {node} registered its listener at {}:{}, which the request does not list",
                    registered.host, registered.port
                ),
            ));
        }
        // Checked where the leader's view is (a follower forwards the change, and the
        // leader checks it as it takes it: `Quorum::step`).
        let behind = quorum.is_leader() && !quorum.caught_up(id);
        if behind {
            return Err((
                ResponseError::RequestTimedOut,
                format!("controller {node} does not hold the leader's log yet"),
            ));
        }
        Ok(VoterChange::Add(id))
    }
}
