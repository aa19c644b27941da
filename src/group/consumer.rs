//! KIP-848's consumer group protocol (ConsumerGroupHeartbeat) as a state machine that
//! decides without I/O. The broker assigns partitions (uniform or range assignor); each
//! member reconciles towards its target one heartbeat at a time: first it gives up
//! partitions it must revoke, then it receives new ones once no other member still
//! holds them.
//!
//! Epochs: the group epoch grows with every change of membership, subscriptions or
//! subscribed topics' partitions; the target assignment is recomputed for the new group
//! epoch (the assignment epoch); a member's epoch catches up once it has revoked what
//! it had to. A request with any other epoch than the member's is fenced.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// A partition as KIP-848 names it: topic id and index.
pub type TopicPartition = (Uuid, i32);

/// A topic the assignor may hand out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub id: Uuid,
    pub partitions: i32,
}

/// Partitions grouped by topic, as the protocol lists them.
pub fn by_topic(partitions: &BTreeSet<TopicPartition>) -> BTreeMap<Uuid, Vec<i32>> {
    let mut topics: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
    for (topic, p) in partitions {
        topics.entry(*topic).or_default().push(*p);
    }
    topics
}

/// Every topic clients may subscribe to, by name (from the metadata snapshot).
pub type Topics = BTreeMap<String, TopicInfo>;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub session_timeout_ms: i64,
    pub heartbeat_interval_ms: i64,
    pub members_max: usize,
}

/// Member epochs with a meaning of their own.
pub const JOIN_EPOCH: i32 = 0;
pub const LEAVE_EPOCH: i32 = -1;
pub const STATIC_LEAVE_EPOCH: i32 = -2;

pub const ASSIGNORS: [&str; 2] = ["uniform", "range"];

#[derive(Debug, Clone, Default)]
pub struct HeartbeatArgs {
    /// The group's id, for the messages that name it.
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    /// `None`: unchanged since the last heartbeat.
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns now; `None`: unchanged.
    pub owned: Option<Vec<TopicPartition>>,
    pub client_id: String,
    pub client_host: String,
    /// The id to give a joining member that brought none (v0 clients).
    pub new_member_id: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeartbeatReply {
    /// The error and its message (`None`: Kafka's null, as for coordinator errors).
    pub error: Option<(ResponseError, Option<String>)>,
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's whole assignment, when it changed since the last answer.
    pub assignment: Option<BTreeSet<TopicPartition>>,
}

impl HeartbeatReply {
    fn error(code: ResponseError, message: impl Into<String>, args: &HeartbeatArgs) -> Self {
        HeartbeatReply {
            error: Some((code, Some(message.into()))),
            member_id: args.member_id.clone(),
            member_epoch: args.member_epoch,
            ..HeartbeatReply::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_names: Vec<String>,
    pub subscribed_regex: Option<String>,
    pub epoch: i32,
    previous_epoch: i32,
    /// What the member has been told it owns.
    pub assigned: BTreeSet<TopicPartition>,
    /// Taken away, not yet confirmed released by the member.
    revoking: BTreeSet<TopicPartition>,
    /// Where the assignor wants it.
    pub target: BTreeSet<TopicPartition>,
    rebalance_timeout_ms: i64,
    session_deadline_ms: i64,
    revoke_deadline_ms: Option<i64>,
    /// The next answer carries the assignment.
    assignment_changed: bool,
    /// Set for a member that speaks the classic protocol (`consumer_classic.rs`).
    pub classic: Option<ClassicMember>,
}

/// What a classic member joined with, and the deadline its next request must meet.
#[derive(Debug, Clone)]
pub struct ClassicMember {
    pub session_timeout_ms: i64,
    /// (protocol name, metadata), in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// It must sync (after joining) or rejoin (after being told to) by then, or it is
    /// removed: Kafka's sync and join timers, from the rebalance timeout.
    deadline_ms: Option<i64>,
}

impl ConsumerMember {
    /// A request at `epoch` must come at the member's: else ILLEGAL_GENERATION for a
    /// classic member (its epoch is its generation) and in a transaction, and
    /// STALE_MEMBER_EPOCH otherwise, as Kafka answers offset requests.
    fn check_epoch(&self, epoch: i32, transactional: bool) -> Result<(), ResponseError> {
        match (epoch == self.epoch, self.classic.is_some() || transactional) {
            (true, _) => Ok(()),
            (false, true) => Err(ResponseError::IllegalGeneration),
            (false, false) => Err(ResponseError::StaleMemberEpoch),
        }
    }

    fn deadlines(&self) -> impl Iterator<Item = i64> {
        let classic = self.classic.as_ref().and_then(|c| c.deadline_ms);
        [
            Some(self.session_deadline_ms),
            self.revoke_deadline_ms,
            classic,
        ]
        .into_iter()
        .flatten()
    }

    /// The topics this member subscribes to, among `topics`.
    pub fn subscription(&self, topics: &Topics) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self
            .subscribed_names
            .iter()
            .filter(|name| topics.contains_key(*name))
            .cloned()
            .collect();
        if let Some(regex) = self.subscribed_regex.as_deref().and_then(full_match) {
            names.extend(
                topics
                    .keys()
                    .filter(|name| !super::is_internal_topic(name) && regex.is_match(name))
                    .cloned(),
            );
        }
        names
    }
}

/// UNKNOWN_MEMBER_ID, as Kafka words it.
fn not_a_member(args: &HeartbeatArgs) -> HeartbeatReply {
    HeartbeatReply::error(
        ResponseError::UnknownMemberId,
        format!(
            "Member {} is not a member of group {}.",
            args.member_id, args.group_id
        ),
        args,
    )
}

/// Kafka matches subscription patterns against the whole topic name.
fn full_match(pattern: &str) -> Option<regex::Regex> {
    crate::pattern::whole_names(pattern).ok()
}

#[derive(Debug, Clone, Default)]
pub struct ConsumerGroup {
    group_epoch: i32,
    assignment_epoch: i32,
    assignor: String,
    members: BTreeMap<String, ConsumerMember>,
    instances: HashMap<String, String>,
    /// The subscribed topics (name -> info) the target assignment was computed from.
    subscribed: BTreeMap<String, TopicInfo>,
}

impl ConsumerGroup {
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn members(&self) -> impl Iterator<Item = &ConsumerMember> {
        self.members.values()
    }

    pub fn group_epoch(&self) -> i32 {
        self.group_epoch
    }

    pub fn assignment_epoch(&self) -> i32 {
        self.assignment_epoch
    }

    pub fn assignor(&self) -> &str {
        if self.assignor.is_empty() {
            ASSIGNORS[0]
        } else {
            &self.assignor
        }
    }

    /// Kafka's names: Empty, Assigning, Reconciling, Stable.
    pub fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.group_epoch > self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.epoch != self.assignment_epoch || !m.revoking.is_empty())
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// Topic names the members subscribe to.
    pub fn subscribed_topics(&self) -> Vec<String> {
        self.subscribed.keys().cloned().collect()
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.members
            .values()
            .flat_map(ConsumerMember::deadlines)
            .min()
    }

    /// Removes members whose session lapsed, who kept revoked partitions too long, or
    /// (classic members) did not sync or rejoin in time.
    pub fn tick(&mut self, now: i64) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.deadlines().any(|at| at <= now))
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove(&id);
        }
    }

    fn remove(&mut self, id: &str) {
        if let Some(member) = self.members.remove(id) {
            if let Some(instance) = &member.instance_id {
                if self.instances.get(instance).map(String::as_str) == Some(id) {
                    self.instances.remove(instance);
                }
            }
            self.group_epoch += 1;
        }
        if self.members.is_empty() {
            // An empty group subscribes to nothing: its offsets expire as Kafka's do.
            self.subscribed.clear();
        }
    }

    /// Whether a commit from this member at this epoch may be accepted, by Kafka's
    /// rules. Epoch -1 (no group management: an admin tool, or a consumer that assigned
    /// its partitions itself, whatever member id it sends) commits while the group is
    /// empty, and a TxnOffsetCommit naming no member always. A KIP-848 member commits
    /// with OffsetCommit v9 or later. A wrong epoch is ILLEGAL_GENERATION for a classic
    /// member and in a transaction, else STALE_MEMBER_EPOCH.
    pub fn check_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        epoch: i32,
        kind: super::CommitKind,
    ) -> Result<(), ResponseError> {
        let transactional = kind == super::CommitKind::Transactional;
        if epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        if transactional && epoch == -1 && member_id.is_empty() && instance_id.is_none() {
            return Ok(());
        }
        let member = self
            .members
            .get(member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if member.classic.is_none() && !transactional && !kind.modern() {
            return Err(ResponseError::UnsupportedVersion);
        }
        member.check_epoch(epoch, transactional)
    }

    /// OffsetFetch v9's check of the member that asks (a fetch naming none is anyone's).
    pub fn check_fetch(&self, member_id: Option<&str>, epoch: i32) -> Result<(), ResponseError> {
        if member_id.is_none() && epoch < 0 {
            return Ok(());
        }
        self.members
            .get(member_id.unwrap_or_default())
            .ok_or(ResponseError::UnknownMemberId)?
            .check_epoch(epoch, false)
    }

    pub fn heartbeat(
        &mut self,
        args: HeartbeatArgs,
        topics: &Topics,
        limits: &Limits,
        now: i64,
    ) -> HeartbeatReply {
        // The request's own checks, before the group changes: a refused join must
        // leave no member behind.
        if !matches!(args.member_epoch, LEAVE_EPOCH | STATIC_LEAVE_EPOCH) {
            if let Some(assignor) = &args.server_assignor {
                if !ASSIGNORS.contains(&assignor.as_str()) {
                    return HeartbeatReply::error(
                        ResponseError::UnsupportedAssignor,
                        format!(
                            "ServerAssignor {assignor} is not supported. Supported assignors: {}.",
                            ASSIGNORS.join(", ")
                        ),
                        &args,
                    );
                }
            }
            if let Some(regex) = &args.subscribed_topic_regex {
                if let Err(why) = crate::pattern::whole_names(regex) {
                    return HeartbeatReply::error(
                        ResponseError::InvalidRegularExpression,
                        format!(
                            "SubscribedTopicRegex `{regex}` is not a valid regular expression: {}.",
                            crate::pattern::why_invalid(&why)
                        ),
                        &args,
                    );
                }
            }
        }
        let id = match args.member_epoch {
            LEAVE_EPOCH | STATIC_LEAVE_EPOCH => return self.leave(&args),
            JOIN_EPOCH => match self.join(&args, limits, now) {
                Ok(id) => id,
                Err(reply) => return *reply,
            },
            epoch => {
                if let Err(reply) = self.check_static(&args) {
                    return *reply;
                }
                let member = self.members.get(&args.member_id);
                // A classic member speaks JoinGroup and Heartbeat, not this.
                let Some(member) = member.filter(|m| m.classic.is_none()) else {
                    return not_a_member(&args);
                };
                let owned_known = args
                    .owned
                    .as_ref()
                    .is_none_or(|owned| owned.iter().all(|tp| member.assigned.contains(tp)));
                if epoch != member.epoch && !(epoch == member.previous_epoch && owned_known) {
                    let than = if epoch > member.epoch {
                        "greater"
                    } else {
                        "smaller"
                    };
                    return HeartbeatReply::error(
                        ResponseError::FencedMemberEpoch,
                        format!("The consumer group member has a {than} member epoch ({epoch}) than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.", member.epoch),
                        &args,
                    );
                }
                args.member_id.clone()
            }
        };
        self.update_member(&id, &args, limits.session_timeout_ms, now);
        self.refresh_target(topics);
        let held_by_others = others_hold(&self.members, &id);
        let Some(member) = self.members.get_mut(&id) else {
            return not_a_member(&args);
        };
        reconcile(member, self.assignment_epoch, &held_by_others, now);
        // Kafka answers with the assignment when it changed, and to every full request
        // (one with the rebalance timeout, the subscription and the owned partitions,
        // as a member sends after an error), so a member that lost an answer gets it
        // again.
        let full = args.rebalance_timeout_ms != -1
            && (args.subscribed_topic_names.is_some() || args.subscribed_topic_regex.is_some())
            && args.owned.is_some();
        let changed = std::mem::take(&mut member.assignment_changed);
        let assignment = (changed || full).then(|| member.assigned.clone());
        HeartbeatReply {
            error: None,
            member_id: id,
            member_epoch: member.epoch,
            heartbeat_interval_ms: limits.heartbeat_interval_ms as i32,
            assignment,
        }
    }

    fn join(
        &mut self,
        args: &HeartbeatArgs,
        limits: &Limits,
        now: i64,
    ) -> Result<String, Box<HeartbeatReply>> {
        if args.subscribed_topic_names.is_none() && args.subscribed_topic_regex.is_none() {
            return Err(Box::new(HeartbeatReply::error(
                ResponseError::InvalidRequest,
                "a joining member must name its subscription",
                args,
            )));
        }
        let id = if args.member_id.is_empty() {
            args.new_member_id.clone()
        } else {
            args.member_id.clone()
        };
        // A static member coming back takes over its predecessor's assignment, once
        // that one has left for a while (epoch -2); while it is still in the group, the
        // instance id is not released, as Kafka's coordinator answers.
        let holder = args
            .instance_id
            .as_ref()
            .and_then(|instance| self.instances.get(instance).cloned());
        // A classic member's instance id passes to a KIP-848 one at once (a static
        // consumer restarted with the new protocol), as in Kafka.
        if let Some(holder) = holder.as_ref().filter(|h| **h != id) {
            if self
                .members
                .get(holder)
                .is_some_and(|m| m.epoch != STATIC_LEAVE_EPOCH && m.classic.is_none())
            {
                let instance = args.instance_id.as_deref().unwrap_or_default();
                return Err(Box::new(HeartbeatReply::error(
                    ResponseError::UnreleasedInstanceId,
                    format!("Static member {id} with instance id {instance} cannot join the group because the instance id is owned by {holder} member."),
                    args,
                )));
            }
        }
        let predecessor = holder.and_then(|old| self.members.remove(&old));
        if let Some(mut member) = predecessor {
            member.id = id.clone();
            member.epoch = JOIN_EPOCH;
            member.assignment_changed = true;
            member.classic = None;
            self.members.insert(id.clone(), member);
        } else {
            // Rejoining with epoch 0 starts over: what it held is given up.
            if self.members.remove(&id).is_none() && self.members.len() >= limits.members_max {
                return Err(Box::new(HeartbeatReply::error(
                    ResponseError::GroupMaxSizeReached,
                    format!(
                        "The consumer group has reached its maximum capacity of {} members.",
                        limits.members_max
                    ),
                    args,
                )));
            }
            self.members.insert(id.clone(), new_member(&id, now));
            self.group_epoch += 1;
        }
        if let Some(instance) = &args.instance_id {
            self.instances.insert(instance.clone(), id.clone());
        }
        Ok(id)
    }

    /// A static member's heartbeat or leave must come from the member that holds its
    /// instance id: UNKNOWN_MEMBER_ID when none does, FENCED_INSTANCE_ID when another.
    fn check_static(&self, args: &HeartbeatArgs) -> Result<(), Box<HeartbeatReply>> {
        let Some(instance) = &args.instance_id else {
            return Ok(());
        };
        self.check_instance(instance, &args.member_id)
            .map_err(|error| {
                let message = match self.instances.get(instance) {
                    Some(holder) => format!(
                        "Static member {} with instance id {instance} was fenced by member {holder}.",
                        args.member_id
                    ),
                    None => format!("Instance id {instance} is unknown."),
                };
                Box::new(HeartbeatReply::error(error, message, args))
            })
    }

    /// Whether `member_id` holds the instance id `instance` (classic or KIP-848
    /// requests alike): UNKNOWN_MEMBER_ID when no member does, FENCED_INSTANCE_ID when
    /// another one does.
    fn check_instance(&self, instance: &str, member_id: &str) -> Result<(), ResponseError> {
        match self.instances.get(instance) {
            Some(holder) if holder == member_id => Ok(()),
            Some(_) => Err(ResponseError::FencedInstanceId),
            None => Err(ResponseError::UnknownMemberId),
        }
    }

    /// A member leaves (epoch -1); a static one leaving with epoch -2 only steps out
    /// for now: it keeps its instance id and assignment until its session expires, so
    /// it comes back (with a new member id) to what it had, without a rebalance.
    fn leave(&mut self, args: &HeartbeatArgs) -> HeartbeatReply {
        if let Err(reply) = self.check_static(args) {
            return *reply;
        }
        if !self.members.contains_key(&args.member_id) {
            return not_a_member(args);
        }
        let temporary = args.member_epoch == STATIC_LEAVE_EPOCH && args.instance_id.is_some();
        match (temporary, self.members.get_mut(&args.member_id)) {
            (true, Some(member)) => member.epoch = STATIC_LEAVE_EPOCH,
            _ => self.remove(&args.member_id),
        }
        HeartbeatReply {
            member_id: args.member_id.clone(),
            member_epoch: args.member_epoch,
            ..HeartbeatReply::default()
        }
    }

    fn update_member(&mut self, id: &str, args: &HeartbeatArgs, session_timeout_ms: i64, now: i64) {
        let Some(member) = self.members.get_mut(id) else {
            return;
        };
        let mut changed = false;
        if let Some(names) = &args.subscribed_topic_names {
            changed |= *names != member.subscribed_names;
            member.subscribed_names = names.clone();
        }
        if args.subscribed_topic_regex.is_some()
            && args.subscribed_topic_regex != member.subscribed_regex
        {
            changed = true;
            member.subscribed_regex = args.subscribed_topic_regex.clone();
        }
        if args.rebalance_timeout_ms >= 0 {
            member.rebalance_timeout_ms = args.rebalance_timeout_ms.into();
        }
        if let Some(owned) = &args.owned {
            if owned.iter().all(|tp| !member.revoking.contains(tp)) {
                member.revoking.clear();
                member.revoke_deadline_ms = None;
            }
        }
        member.instance_id = args.instance_id.clone().or(member.instance_id.take());
        member.rack_id = args.rack_id.clone().or(member.rack_id.take());
        member.client_id = args.client_id.clone();
        member.client_host = args.client_host.clone();
        member.session_deadline_ms = now.saturating_add(session_timeout_ms);
        if let Some(assignor) = &args.server_assignor {
            changed |= *assignor != self.assignor;
            self.assignor = assignor.clone();
        }
        if changed {
            self.group_epoch += 1;
        }
    }

    /// Each member's subscribed topics, and every subscribed topic with its metadata.
    fn subscriptions(
        &self,
        topics: &Topics,
    ) -> (
        BTreeMap<String, BTreeSet<String>>,
        BTreeMap<String, TopicInfo>,
    ) {
        let subscriptions: BTreeMap<String, BTreeSet<String>> = self
            .members
            .values()
            .map(|m| (m.id.clone(), m.subscription(topics)))
            .collect();
        let subscribed = subscriptions
            .values()
            .flatten()
            .filter_map(|name| topics.get(name).map(|info| (name.clone(), info.clone())))
            .collect();
        (subscriptions, subscribed)
    }

    /// Recomputes every member's target when the group epoch or the subscribed topics'
    /// metadata moved on since the last computation.
    fn refresh_target(&mut self, topics: &Topics) {
        let (subscriptions, subscribed) = self.subscriptions(topics);
        if subscribed != self.subscribed {
            self.subscribed = subscribed;
            self.group_epoch += 1;
        }
        if self.group_epoch == self.assignment_epoch {
            return;
        }
        let previous: BTreeMap<String, BTreeSet<TopicPartition>> = self
            .members
            .values()
            .map(|m| (m.id.clone(), m.target.clone()))
            .collect();
        let mut targets =
            super::assignor::assign(self.assignor(), &subscriptions, &self.subscribed, &previous);
        for member in self.members.values_mut() {
            member.target = targets.remove(&member.id).unwrap_or_default();
        }
        self.assignment_epoch = self.group_epoch;
    }
}

/// Partitions other members still hold (assigned or being revoked).
fn others_hold(members: &BTreeMap<String, ConsumerMember>, id: &str) -> BTreeSet<TopicPartition> {
    members
        .values()
        .filter(|m| m.id != id)
        .flat_map(|m| m.assigned.iter().chain(&m.revoking))
        .copied()
        .collect()
}

/// One reconciliation step for a member: revoke first, then take free partitions and
/// move to the assignment epoch.
fn reconcile(
    member: &mut ConsumerMember,
    assignment_epoch: i32,
    held_by_others: &BTreeSet<TopicPartition>,
    now: i64,
) {
    if !member.revoking.is_empty() {
        return;
    }
    let to_revoke: BTreeSet<TopicPartition> = member
        .assigned
        .difference(&member.target)
        .copied()
        .collect();
    if !to_revoke.is_empty() {
        member.assigned.retain(|tp| !to_revoke.contains(tp));
        member.revoking = to_revoke;
        member.revoke_deadline_ms = Some(now.saturating_add(member.rebalance_timeout_ms));
        member.assignment_changed = true;
        return;
    }
    let free: Vec<TopicPartition> = member
        .target
        .difference(&member.assigned)
        .filter(|tp| !held_by_others.contains(tp))
        .copied()
        .collect();
    if !free.is_empty() {
        member.assigned.extend(free);
        member.assignment_changed = true;
    }
    if member.epoch != assignment_epoch {
        member.previous_epoch = member.epoch;
        member.epoch = assignment_epoch;
        member.assignment_changed = true;
    }
}

fn new_member(id: &str, now: i64) -> ConsumerMember {
    ConsumerMember {
        id: id.to_string(),
        instance_id: None,
        rack_id: None,
        client_id: String::new(),
        client_host: String::new(),
        subscribed_names: Vec::new(),
        subscribed_regex: None,
        epoch: 0,
        previous_epoch: -1,
        assigned: BTreeSet::new(),
        revoking: BTreeSet::new(),
        target: BTreeSet::new(),
        rebalance_timeout_ms: 0,
        session_deadline_ms: now,
        revoke_deadline_ms: None,
        assignment_changed: true,
        classic: None,
    }
}

#[path = "consumer_classic.rs"]
mod classic_members;
pub use classic_members::{read_subscription, CONSUMER_PROTOCOL_TYPE};

#[cfg(test)]
#[path = "consumer_tests.rs"]
mod tests;
