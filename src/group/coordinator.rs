//! The groups one shard coordinates: those whose `__consumer_offsets` partition this
//! shard owns. Only this shard touches them; handlers reach them with `invoke_on`.
//!
//! The shell around the membership machines: it feeds them requests and the clock
//! (`run_timers` wakes at the earliest deadline any group has), parks the requests
//! they answer later and delivers those answers, and makes offsets durable in the
//! offsets topic before a commit is answered (`offsets.rs`).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures::channel::oneshot;
use kafka_protocol::error::ResponseError;

use super::classic::{Answer, ClassicGroup, JoinArgs, JoinReply, Limits, Reply, Step, SyncReply};
use super::consumer::{self, ConsumerGroup, HeartbeatArgs, HeartbeatReply, TopicInfo, Topics};
use super::records::{self, Committed};
use crate::cluster::Snapshot;
use crate::config::MigrationPolicy;
use crate::shard::{now_ms, Event, Shard};

/// One group: its membership and its committed offsets. A classic group has only
/// classic members; a KIP-848 group (`consumer`) may also hold classic members, after
/// an online upgrade (`consumer_classic.rs`): one of the two is always empty.
pub struct Group {
    pub classic: ClassicGroup,
    pub consumer: ConsumerGroup,
    /// The protocol members last joined with: "classic" or "consumer" (ListGroups'
    /// group type, kept while the group is empty).
    pub group_type: &'static str,
    /// The protocol type last written to the offsets topic (a group metadata record),
    /// unless a KIP-848 group's record came after it.
    pub stored_protocol_type: Option<String>,
    /// A KIP-848 group's metadata record is the group's last one in the offsets topic.
    pub stored_consumer: bool,
    pub offsets: BTreeMap<(String, i32), Committed>,
    /// Offsets committed in transactions still open, by producer id: they count once
    /// their transaction commits (TxnOffsetCommit).
    pub pending: BTreeMap<i64, BTreeMap<(String, i32), Committed>>,
    /// The offsets-topic partition this group's records go to.
    pub partition: i32,
    /// Since when the group has had no members (Kafka's state timestamp of an Empty
    /// group, from which its offsets' retention counts); `None` while it has members.
    /// Membership is not persisted, so a restart counts as the moment groups emptied.
    pub empty_since_ms: Option<i64>,
}

impl Group {
    pub(super) fn new(partition: i32) -> Group {
        Group {
            classic: ClassicGroup::new(),
            consumer: ConsumerGroup::default(),
            group_type: "classic",
            stored_protocol_type: None,
            stored_consumer: false,
            offsets: BTreeMap::new(),
            pending: BTreeMap::new(),
            partition,
            empty_since_ms: None,
        }
    }

    /// Keeps `empty_since_ms` true after a change of membership at `now`.
    pub(super) fn note_membership(&mut self, now: i64) {
        if self.has_no_members() {
            self.empty_since_ms.get_or_insert(now);
        } else {
            self.empty_since_ms = None;
        }
    }

    /// Nothing left to keep: no members, no offsets, and no stored metadata (a group
    /// that had members stays listed, Empty, until offset expiry clears it).
    pub(super) fn is_forgotten(&self) -> bool {
        self.has_no_members()
            && self.offsets.is_empty()
            && self.pending.is_empty()
            && self.stored_protocol_type.is_none()
            && !self.stored_consumer
    }

    /// An offset tombstoned: gone, with what open transactions committed for it (as
    /// Kafka's replay of a tombstone drops them; live and replayed state agree).
    pub(super) fn forget_offset(&mut self, key: &(String, i32)) {
        self.offsets.remove(key);
        for offsets in self.pending.values_mut() {
            offsets.remove(key);
        }
        self.pending.retain(|_, offsets| !offsets.is_empty());
    }

    pub fn has_no_members(&self) -> bool {
        self.classic.is_empty() && self.consumer.is_empty()
    }

    /// No member joined: the group is Empty to Kafka, even while members handed an
    /// id by MEMBER_ID_REQUIRED have yet to join with it (DeleteGroups may delete it).
    pub fn has_no_joined_members(&self) -> bool {
        self.classic.members().next().is_none() && self.consumer.is_empty()
    }

    /// Upgrade: a KIP-848 member joins a classic group that has members. Kafka's rules:
    /// the policy allows it, the members speak the consumer protocol type, and only a
    /// joining heartbeat may (any other finds no KIP-848 group: GROUP_ID_NOT_FOUND).
    /// The classic group becomes a KIP-848 one only if the join succeeds; requests its
    /// members left waiting are told REBALANCE_IN_PROGRESS, and rejoin it.
    fn upgrade(
        &mut self,
        args: HeartbeatArgs,
        context: &ConsumerContext,
        now: i64,
    ) -> (HeartbeatReply, Vec<Reply>) {
        let group = &args.group_id;
        let cannot = |why: &str| {
            Err(format!(
                "Cannot upgrade classic group {group} to consumer group because {why}."
            ))
        };
        let upgraded = if args.member_epoch != consumer::JOIN_EPOCH {
            Err(format!("Group {group} is not a consumer group."))
        } else if !context.policy.upgrades() {
            cannot("online upgrade is disabled")
        } else if self.classic.protocol_type() != Some(consumer::CONSUMER_PROTOCOL_TYPE) {
            cannot("the group does not use the consumer embedded protocol")
        } else {
            ConsumerGroup::from_classic(&self.classic, &context.topics, now)
                .or_else(|_| cannot("the embedded consumer protocol is malformed"))
        };
        let mut upgraded = match upgraded {
            Ok(upgraded) => upgraded,
            Err(refusal) => {
                let reply = HeartbeatReply {
                    error: Some((ResponseError::GroupIdNotFound, Some(refusal))),
                    member_id: args.member_id.clone(),
                    member_epoch: args.member_epoch,
                    ..HeartbeatReply::default()
                };
                return (reply, Vec::new());
            }
        };
        let reply = upgraded.heartbeat(args, &context.topics, &context.limits, now);
        if reply.error.is_some() {
            return (reply, Vec::new());
        }
        let replies = self.classic.dissolve(ResponseError::RebalanceInProgress);
        self.consumer = upgraded;
        self.group_type = "consumer";
        (reply, replies)
    }

    /// Downgrade: a KIP-848 group left with classic members only becomes a classic
    /// group (the policy allowing), which rebalances at once if `rebalance`. Its
    /// generation is the group epoch from before the change that left it so
    /// (`epoch_before`): as in Kafka, which converts instead of removing, a member that
    /// was up to date heartbeats at it (and is told to rejoin if the group rebalances),
    /// not fenced. Whether it did.
    fn downgrade_if_classic_only(
        &mut self,
        context: &ConsumerContext,
        limits: &Limits,
        epoch_before: i32,
        rebalance: bool,
        now: i64,
    ) -> bool {
        if !context.policy.downgrades() {
            return false;
        }
        let Some(members) = self.consumer.classic_members_only(&context.topics) else {
            return false;
        };
        self.classic = ClassicGroup::converted(epoch_before, members, limits, rebalance, now);
        self.consumer = ConsumerGroup::default();
        self.group_type = "classic";
        true
    }

    /// JoinGroup from a classic member of a KIP-848 group: answered at once. One that
    /// replaced the last KIP-848 member (a static member's restart) turns the group
    /// classic. As Kafka's coordinator converts it, a group the join left stable (the
    /// subscriptions unchanged, every member at the group epoch with nothing to give
    /// up) stays so with the assignments it had: the join is answered at once with the
    /// classic group's generation and protocol, and the member syncs to take its
    /// partitions back. Otherwise the group rebalances and the join is the classic
    /// group's first.
    fn classic_join_to_consumer(
        &mut self,
        args: JoinArgs,
        context: &ConsumerContext,
        limits: &Limits,
        now: i64,
    ) -> Step<JoinReply> {
        let epoch_before = self.consumer.group_epoch();
        let mut reply = if args.session_timeout_ms < limits.session_timeout_ms_min
            || args.session_timeout_ms > limits.session_timeout_ms_max
        {
            JoinReply::error(ResponseError::InvalidSessionTimeout, &args.member_id)
        } else {
            self.consumer
                .classic_join(&args, &context.topics, &context.limits, now)
        };
        if reply.error.is_none() {
            let settled =
                self.consumer.group_epoch() == epoch_before && self.consumer.state() == "Stable";
            if self.downgrade_if_classic_only(context, limits, epoch_before, !settled, now) {
                if !settled {
                    return self.classic.join(args, limits, now);
                }
                reply.generation = self.classic.generation();
                reply.protocol_name = self.classic.protocol().map(str::to_string);
            }
        }
        Step {
            answer: Answer::Now(reply),
            replies: Vec::new(),
        }
    }

    /// Topics the members subscribe to (consumer protocols only; others say nothing).
    pub fn subscribed_topics(&self) -> Vec<String> {
        if !self.consumer.is_empty() {
            return self.consumer.subscribed_topics();
        }
        if self.classic.protocol_type() != Some("consumer") {
            return Vec::new();
        }
        let protocol = self.classic.protocol().unwrap_or_default();
        let mut topics: Vec<String> = self
            .classic
            .members()
            .flat_map(|m| subscription_topics(&m.metadata(protocol)))
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }
}

/// The topics in a consumer's subscription metadata (empty if unreadable).
pub fn subscription_topics(metadata: &Bytes) -> Vec<String> {
    consumer::read_subscription(metadata)
        .map(|(_, s)| s.topics.into_iter().map(|t| t.to_string()).collect())
        .unwrap_or_default()
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone)]
pub struct Listing {
    pub group_id: String,
    pub protocol_type: String,
    pub state: &'static str,
    /// "classic" or "consumer" (KIP-848).
    pub group_type: &'static str,
    pub members: usize,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, Default)]
pub struct Description {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// A KIP-848 group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone)]
pub struct ConsumerDescription {
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: Vec<consumer::ConsumerMember>,
}

#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Wait {
    Join,
    Sync,
}

/// How long the timer sleeps when no group has a deadline.
const IDLE_WAIT: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Coordinator {
    pub(super) groups: RefCell<HashMap<String, Group>>,
    /// Requests parked until their group answers them: (group, member, kind).
    waiters: RefCell<HashMap<(String, String, Wait), oneshot::Sender<Reply>>>,
    deadlines_changed: Event,
    /// The topics KIP-848 members may subscribe to, built once per metadata snapshot
    /// (a heartbeat would otherwise build the map of every topic).
    topics: RefCell<Option<(Rc<Snapshot>, Rc<Topics>)>>,
}

/// What KIP-848 groups are decided with: the limits, the topics members may subscribe
/// to, and the migration policy.
pub struct ConsumerContext {
    pub limits: consumer::Limits,
    pub topics: Rc<Topics>,
    pub policy: MigrationPolicy,
}

impl ConsumerContext {
    pub fn new(shard: &Shard, group_id: &str) -> ConsumerContext {
        let snapshot = shard.snapshot();
        let topics = shard.groups.topics_of(&snapshot);
        let broker = &snapshot.broker;
        // The group's own configs (the GROUP config resource), else the broker's.
        let (session_timeout_ms, heartbeat_interval_ms) =
            crate::config::group::limits(snapshot.group_config(group_id), broker);
        let limits = consumer::Limits {
            session_timeout_ms,
            heartbeat_interval_ms,
            members_max: broker.group_max_size as usize,
        };
        ConsumerContext {
            limits,
            topics,
            policy: broker.group_consumer_migration_policy,
        }
    }
}

pub fn limits(shard: &Shard) -> Limits {
    let broker = &shard.snapshot().broker;
    Limits {
        session_timeout_ms_min: broker.group_min_session_timeout_ms,
        session_timeout_ms_max: broker.group_max_session_timeout_ms,
        initial_rebalance_delay_ms: broker.group_initial_rebalance_delay_ms,
        members_max: broker.group_max_size as usize,
    }
}

impl Coordinator {
    /// The topics of `snapshot`, as KIP-848 groups look them up.
    fn topics_of(&self, snapshot: &Rc<Snapshot>) -> Rc<Topics> {
        let mut cached = self.topics.borrow_mut();
        if let Some((of, topics)) = cached.as_ref() {
            if Rc::ptr_eq(of, snapshot) {
                return Rc::clone(topics);
            }
        }
        let topics: Rc<Topics> = Rc::new(
            snapshot
                .topics()
                .map(|(name, meta)| {
                    let info = TopicInfo {
                        id: meta.id,
                        partitions: meta.partitions,
                    };
                    (name.clone(), info)
                })
                .collect(),
        );
        *cached = Some((Rc::clone(snapshot), Rc::clone(&topics)));
        topics
    }

    /// Forgets the groups of one partition of the offsets topic (its leadership went
    /// elsewhere, or is loaded afresh): their waiting members are answered as by a
    /// coordinator that is gone.
    pub fn unload_partition(&self, index: i32) {
        let mut groups = self.groups.borrow_mut();
        groups.retain(|_, g| g.partition != index);
        self.waiters
            .borrow_mut()
            .retain(|(group, ..), _| groups.contains_key(group));
    }

    pub(super) fn with_group<R>(
        &self,
        id: &str,
        partition: i32,
        f: impl FnOnce(&mut Group) -> R,
    ) -> R {
        let mut groups = self.groups.borrow_mut();
        let group = groups
            .entry(id.to_string())
            .or_insert_with(|| Group::new(partition));
        let result = f(group);
        group.note_membership(now_ms());
        result
    }

    pub(super) fn with_existing<R>(&self, id: &str, f: impl FnOnce(&mut Group) -> R) -> Option<R> {
        let mut groups = self.groups.borrow_mut();
        let group = groups.get_mut(id)?;
        let result = f(group);
        group.note_membership(now_ms());
        Some(result)
    }

    pub async fn join(
        &self,
        shard: &Shard,
        group_id: &str,
        partition: i32,
        args: JoinArgs,
    ) -> JoinReply {
        let limits = limits(shard);
        let member_id = args.member_id.clone();
        let step = self.with_group(group_id, partition, |g| {
            if !g.consumer.is_empty() {
                // Its answer sets the member's sync deadline.
                self.deadlines_changed.notify();
                let context = ConsumerContext::new(shard, group_id);
                return g.classic_join_to_consumer(args, &context, &limits, now_ms());
            }
            g.group_type = "classic";
            g.classic.join(args, &limits, now_ms())
        });
        let gone = JoinReply::error(ResponseError::NotCoordinator, &member_id);
        let reply = self.answer(shard, group_id, Wait::Join, step).await;
        // After the answer: nothing may await between a step and parking its request,
        // or a reply delivered meanwhile would find no one waiting.
        self.store_group_type(shard, group_id).await;
        match reply {
            Some(Reply::Join(_, reply)) => reply,
            _ => gone,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn sync(
        &self,
        shard: &Shard,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
    ) -> SyncReply {
        let step = self.with_existing(group_id, |g| {
            if !g.consumer.is_empty() {
                // Its answer may set or clear the member's rejoin deadline.
                self.deadlines_changed.notify();
                let topics = ConsumerContext::new(shard, group_id).topics;
                let reply = g.consumer.classic_sync(
                    member_id,
                    instance_id,
                    generation,
                    protocol,
                    &topics,
                    now_ms(),
                );
                return Step {
                    answer: Answer::Now(reply),
                    replies: Vec::new(),
                };
            }
            g.classic.sync(
                member_id,
                instance_id,
                generation,
                protocol.0,
                protocol.1,
                assignments,
                now_ms(),
            )
        });
        let Some(step) = step else {
            return SyncReply::error(ResponseError::UnknownMemberId);
        };
        match self.answer(shard, group_id, Wait::Sync, step).await {
            Some(Reply::Sync(_, reply)) => reply,
            _ => SyncReply::error(ResponseError::NotCoordinator),
        }
    }

    /// Delivers the step's replies; answers now, or parks until the group answers.
    async fn answer<T>(
        &self,
        shard: &Shard,
        group_id: &str,
        wait: Wait,
        step: Step<T>,
    ) -> Option<Reply>
    where
        T: Into<Reply>,
    {
        tracing::debug!(
            group = group_id,
            ?wait,
            now = matches!(step.answer, Answer::Now(_)),
            replies = step.replies.len(),
            "group step"
        );
        let receiver = match step.answer {
            Answer::Now(reply) => {
                self.deliver(group_id, step.replies);
                self.forget_if_unused(group_id);
                return Some(reply.into());
            }
            Answer::Later(member) => {
                let (sender, receiver) = oneshot::channel();
                let key = (group_id.to_string(), member, wait);
                self.waiters.borrow_mut().insert(key, sender);
                receiver
            }
        };
        self.deliver(group_id, step.replies);
        self.deadlines_changed.notify();
        shard.unless_stopping(receiver).await?.ok()
    }

    /// Writes the group's metadata record when its type or protocol type is new, so a
    /// restart brings the group back with them: a KIP-848 group's record, or a classic
    /// group's with its protocol type. A failure is logged and retried at the next join
    /// or heartbeat: nothing a client was told depends on it.
    async fn store_group_type(&self, shard: &Shard, group_id: &str) {
        let record = self.with_existing(group_id, |g| {
            if g.group_type == "consumer" {
                if g.stored_consumer {
                    return None;
                }
                g.stored_consumer = true;
                g.stored_protocol_type = None;
                let value = records::consumer_group_value(g.consumer.group_epoch());
                return Some((g.partition, records::consumer_group_key(group_id), value));
            }
            let protocol_type = g.classic.protocol_type()?.to_string();
            if !g.stored_consumer && g.stored_protocol_type.as_deref() == Some(&protocol_type) {
                return None;
            }
            g.stored_consumer = false;
            g.stored_protocol_type = Some(protocol_type.clone());
            let value = records::group_value(
                &protocol_type,
                g.classic.generation(),
                g.classic.protocol().unwrap_or_default(),
                g.classic.leader().unwrap_or_default(),
                now_ms(),
            );
            Some((g.partition, records::group_key(group_id), value))
        });
        let Some((partition, key, value)) = record.flatten() else {
            return;
        };
        if let Err(error) = super::offsets::append(shard, partition, vec![(key, Some(value))]).await
        {
            tracing::warn!(
                group = group_id,
                ?error,
                "storing the group's metadata failed"
            );
            self.with_existing(group_id, |g| {
                g.stored_protocol_type = None;
                g.stored_consumer = false;
            });
        }
    }

    /// Drops a group that has nothing left (a failed join, members all gone, no offsets).
    pub(super) fn forget_if_unused(&self, group_id: &str) {
        let mut groups = self.groups.borrow_mut();
        if groups.get(group_id).is_some_and(Group::is_forgotten) {
            groups.remove(group_id);
        }
    }

    fn deliver(&self, group_id: &str, replies: Vec<Reply>) {
        for reply in replies {
            let (member, wait) = match &reply {
                Reply::Join(member, _) => (member.clone(), Wait::Join),
                Reply::Sync(member, _) => (member.clone(), Wait::Sync),
            };
            let key = (group_id.to_string(), member, wait);
            let waiter = self.waiters.borrow_mut().remove(&key);
            tracing::debug!(group = group_id, member = %key.1, wait = ?key.2, found = waiter.is_some(), "group reply");
            if let Some(waiter) = waiter {
                let _ = waiter.send(reply);
            }
        }
    }

    /// ConsumerGroupHeartbeat (KIP-848): joins, reconciles, or leaves; upgrades a
    /// classic group, or downgrades a KIP-848 group its last KIP-848 member left.
    pub async fn consumer_heartbeat(
        &self,
        shard: &Shard,
        group_id: &str,
        partition: i32,
        args: HeartbeatArgs,
    ) -> HeartbeatReply {
        let context = ConsumerContext::new(shard, group_id);
        let classic_limits = limits(shard);
        let now = now_ms();
        let (reply, replies) = self.with_group(group_id, partition, |g| {
            if !g.classic.is_empty() {
                return g.upgrade(args, &context, now);
            }
            let epoch_before = g.consumer.group_epoch();
            let reply = g
                .consumer
                .heartbeat(args, &context.topics, &context.limits, now);
            // An empty group becomes a KIP-848 one only when a member joined it.
            if !g.consumer.is_empty() {
                g.group_type = "consumer";
            }
            g.downgrade_if_classic_only(&context, &classic_limits, epoch_before, true, now);
            (reply, Vec::new())
        });
        self.deliver(group_id, replies);
        self.forget_if_unused(group_id);
        self.deadlines_changed.notify();
        self.store_group_type(shard, group_id).await;
        reply
    }

    /// A KIP-848 group as ConsumerGroupDescribe shows it, or why there is none, in
    /// Kafka's words.
    pub fn consumer_describe(&self, group_id: &str) -> Result<ConsumerDescription, String> {
        let groups = self.groups.borrow();
        let group = match groups.get(group_id) {
            None => return Err(format!("Group {group_id} not found.")),
            Some(g) if g.group_type != "consumer" => {
                return Err(format!("Group {group_id} is not a consumer group."))
            }
            Some(g) => &g.consumer,
        };
        Ok(ConsumerDescription {
            state: group.state(),
            group_epoch: group.group_epoch(),
            assignment_epoch: group.assignment_epoch(),
            assignor: group.assignor().to_string(),
            members: group.members().cloned().collect(),
        })
    }

    pub fn heartbeat(
        &self,
        shard: &Shard,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        self.with_existing(group_id, |g| {
            if !g.consumer.is_empty() {
                let topics = ConsumerContext::new(shard, group_id).topics;
                let result = g.consumer.classic_heartbeat(
                    member_id,
                    instance_id,
                    generation,
                    &topics,
                    now_ms(),
                );
                // A classic member told to rejoin has a deadline to do so.
                if result == Err(ResponseError::RebalanceInProgress) {
                    self.deadlines_changed.notify();
                }
                return result;
            }
            g.classic
                .heartbeat(member_id, instance_id, generation, now_ms())
        })
        .unwrap_or(Err(ResponseError::UnknownMemberId))
    }

    /// LeaveGroup: the result per member, or a group-level error.
    pub async fn leave(
        &self,
        shard: &Shard,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Result<(), ResponseError>>, ResponseError> {
        let limits = limits(shard);
        let step = self
            .with_existing(group_id, |g| {
                if g.consumer.is_empty() {
                    return g.classic.leave(members, &limits, now_ms());
                }
                let epoch_before = g.consumer.group_epoch();
                let results = g.consumer.classic_leave(members);
                let context = ConsumerContext::new(shard, group_id);
                g.downgrade_if_classic_only(&context, &limits, epoch_before, true, now_ms());
                Step {
                    answer: Answer::Now(results),
                    replies: Vec::new(),
                }
            })
            .ok_or(ResponseError::UnknownMemberId)?;
        self.deliver(group_id, step.replies);
        self.forget_if_unused(group_id);
        self.deadlines_changed.notify();
        self.store_group_type(shard, group_id).await;
        match step.answer {
            Answer::Now(results) => Ok(results),
            Answer::Later(_) => Err(ResponseError::UnknownServerError),
        }
    }

    /// Runs every group's deadlines, forever (one task per shard).
    pub async fn run_timers(shard: Rc<Shard>) {
        loop {
            let changed = shard.groups.deadlines_changed.listen();
            let (next, downgraded) = shard.groups.tick(&shard, now_ms());
            for group_id in downgraded {
                shard.groups.store_group_type(&shard, &group_id).await;
            }
            let wait = next.map_or(IDLE_WAIT, |at| {
                Duration::from_millis((at - now_ms()).clamp(1, IDLE_WAIT.as_millis() as i64) as u64)
            });
            let sleep = glommio::timer::sleep(wait);
            let woken = futures_lite::future::or(sleep, changed);
            if shard.unless_stopping(woken).await.is_none() {
                return;
            }
        }
    }

    /// Acts on passed deadlines; returns the next one, and the groups that became
    /// classic (their new type is to be stored).
    fn tick(&self, shard: &Shard, now: i64) -> (Option<i64>, Vec<String>) {
        let limits = &limits(shard);
        let mut due: Vec<(String, Vec<Reply>)> = Vec::new();
        let mut downgraded = Vec::new();
        let mut next: Option<i64> = None;
        for (id, group) in self.groups.borrow_mut().iter_mut() {
            if group.classic.next_deadline().is_some_and(|at| at <= now) {
                due.push((id.clone(), group.classic.tick(limits, now)));
            }
            if group.consumer.next_deadline().is_some_and(|at| at <= now) {
                let epoch_before = group.consumer.group_epoch();
                group.consumer.tick(now);
                let context = ConsumerContext::new(shard, id);
                if group.downgrade_if_classic_only(&context, limits, epoch_before, true, now) {
                    downgraded.push(id.clone());
                }
                due.push((id.clone(), Vec::new()));
            }
            group.note_membership(now);
            let deadlines = [
                group.classic.next_deadline(),
                group.consumer.next_deadline(),
            ];
            for at in deadlines.into_iter().flatten() {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        for (id, replies) in due {
            self.deliver(&id, replies);
            self.forget_if_unused(&id);
        }
        (next, downgraded)
    }

    pub fn list(&self) -> Vec<Listing> {
        self.groups
            .borrow()
            .iter()
            .map(|(id, g)| {
                let (protocol_type, state, members) = if g.group_type == "consumer" {
                    ("consumer", g.consumer.state(), g.consumer.members().count())
                } else {
                    let classic = &g.classic;
                    (
                        classic.protocol_type().unwrap_or_default(),
                        classic.state().name(),
                        classic.members().count(),
                    )
                };
                Listing {
                    group_id: id.clone(),
                    protocol_type: protocol_type.to_string(),
                    state,
                    group_type: g.group_type,
                    members,
                }
            })
            .collect()
    }

    /// A classic group's description, or why there is none, in Kafka's words.
    pub fn describe(&self, group_id: &str) -> Result<Description, String> {
        let groups = self.groups.borrow();
        let group = match groups.get(group_id) {
            None => return Err(format!("Group {group_id} not found.")),
            Some(g) if g.group_type == "consumer" => {
                return Err(format!("Group {group_id} is not a classic group."))
            }
            Some(g) => g,
        };
        let classic = &group.classic;
        let protocol = classic.protocol().unwrap_or_default();
        let members = classic
            .members()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: m.metadata(protocol),
                assignment: m.assignment.clone(),
            })
            .collect();
        Ok(Description {
            state: classic.state().name(),
            protocol_type: classic.protocol_type().unwrap_or_default().to_string(),
            protocol: protocol.to_string(),
            members,
        })
    }
}

impl From<JoinReply> for Reply {
    fn from(reply: JoinReply) -> Reply {
        Reply::Join(reply.member_id.clone(), reply)
    }
}

impl From<SyncReply> for Reply {
    fn from(reply: SyncReply) -> Reply {
        Reply::Sync(String::new(), reply)
    }
}
