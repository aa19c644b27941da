//! Classic members in a KIP-848 group: KIP-848's online migration, as Kafka's
//! coordinator does it.
//!
//! - Upgrade: a classic group of the `consumer` protocol type becomes a KIP-848 group
//!   when a ConsumerGroupHeartbeat joins it (`from_classic`). Its members stay, each
//!   with its id, its assignment, and the generation as its epoch.
//! - Classic members then speak JoinGroup, SyncGroup, Heartbeat and LeaveGroup to the
//!   KIP-848 state: the broker assigns. JoinGroup answers at once, with the member's
//!   epoch as the generation and no leader; SyncGroup returns the partitions the member
//!   may own now; Heartbeat answers REBALANCE_IN_PROGRESS while the member must rejoin
//!   to move on: to give partitions up, or to take ones that became free.
//! - Downgrade: once only classic members are left, they become a classic group again,
//!   which rebalances (`classic_members_only`, used by the coordinator).
//!
//! Reconciliation differs from a KIP-848 member's in one way: a classic member reports
//! what it owns only when it joins (its subscription's owned partitions), so it gives
//! partitions up by rejoining without them.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::ConsumerProtocolSubscription;

use super::{
    new_member, others_hold, ClassicMember, ConsumerGroup, ConsumerMember, Limits, TopicPartition,
    Topics,
};
use crate::group::classic::{ClassicGroup, JoinArgs, JoinReply, SyncReply};

/// The only protocol type a classic member of a KIP-848 group may have.
pub use crate::client::group::CONSUMER_PROTOCOL_TYPE;

/// A consumer's subscription metadata, and its version; `None` if unreadable.
pub fn read_subscription(metadata: &Bytes) -> Option<(i16, ConsumerProtocolSubscription)> {
    crate::client::group::read_subscription(metadata.clone()).ok()
}

/// Partitions named by topic name, as the consumer protocol names them, by topic id;
/// topics that do not exist are left out.
fn by_id<'a>(
    named: impl IntoIterator<Item = (&'a str, &'a [i32])>,
    topics: &Topics,
) -> BTreeSet<TopicPartition> {
    named
        .into_iter()
        .filter_map(|(name, partitions)| Some((topics.get(name)?.id, partitions)))
        .flat_map(|(id, partitions)| partitions.iter().map(move |p| (id, *p)))
        .collect()
}

/// A ConsumerProtocolAssignment of `partitions`, in the version of the member's
/// subscription (as Kafka answers).
pub fn assignment_bytes(
    partitions: &BTreeSet<TopicPartition>,
    topics: &Topics,
    version: i16,
) -> Bytes {
    let names: HashMap<_, &str> = topics
        .iter()
        .map(|(name, info)| (info.id, name.as_str()))
        .collect();
    let assignment: Vec<(String, Vec<i32>)> = super::by_topic(partitions)
        .into_iter()
        .filter_map(|(id, partitions)| Some((names.get(&id)?.to_string(), partitions)))
        .collect();
    crate::client::group::encode_assignment_as(&assignment, version).unwrap_or_default()
}

impl ClassicMember {
    fn first_protocol(&self) -> &str {
        self.protocols.first().map_or("", |(name, _)| name.as_str())
    }

    /// The version of the subscription it joined with.
    fn version(&self) -> i16 {
        self.protocols
            .first()
            .and_then(|(_, metadata)| read_subscription(metadata))
            .map_or(0, |(version, _)| version)
    }
}

impl ConsumerGroup {
    /// The KIP-848 group a classic group becomes (upgrade): its members keep their ids
    /// and assignments, at the generation as epoch; the joining member that caused it
    /// then moves the group on. A member whose subscription or assignment cannot be read
    /// stops the upgrade, as in Kafka (it says which).
    pub fn from_classic(
        group: &ClassicGroup,
        topics: &Topics,
        now: i64,
    ) -> Result<ConsumerGroup, String> {
        let generation = group.generation();
        let protocol = group.protocol().unwrap_or_default();
        let mut upgraded = ConsumerGroup {
            group_epoch: generation,
            assignment_epoch: generation,
            ..ConsumerGroup::default()
        };
        for old in group.members() {
            let Some((_, subscription)) = read_subscription(&old.metadata(protocol)) else {
                return Err(format!("member {}'s subscription cannot be read", old.id));
            };
            let named = crate::client::group::decode_assignment(old.assignment.clone())
                .map_err(|e| format!("member {}'s assignment cannot be read: {e}", old.id))?;
            let assigned = by_id(
                named.iter().map(|(t, p)| (t.as_str(), p.as_slice())),
                topics,
            );
            let mut member = new_member(&old.id, now);
            member.instance_id = old.instance_id.clone();
            member.client_id = old.client_id.clone();
            member.client_host = old.client_host.clone();
            member.subscribed_names = subscription.topics.iter().map(|t| t.to_string()).collect();
            member.rack_id = subscription.rack_id.map(|r| r.to_string());
            member.epoch = generation;
            member.previous_epoch = generation;
            member.target = assigned.clone();
            member.assigned = assigned;
            member.rebalance_timeout_ms = old.rebalance_timeout_ms;
            member.session_deadline_ms = now.saturating_add(old.session_timeout_ms);
            member.assignment_changed = false;
            member.classic = Some(ClassicMember {
                session_timeout_ms: old.session_timeout_ms,
                protocols: old.protocols.clone(),
                deadline_ms: None,
            });
            if let Some(instance) = &old.instance_id {
                upgraded.instances.insert(instance.clone(), old.id.clone());
            }
            upgraded.members.insert(old.id.clone(), member);
        }
        // The classic assignment stands until the group changes.
        upgraded.subscribed = upgraded.subscriptions(topics).1;
        Ok(upgraded)
    }

    /// Downgrade: when every member left speaks the classic protocol, each one as a
    /// classic group takes it (its join, as it would rejoin) and the assignment it
    /// should hold; `None` while any KIP-848 member remains, or none at all.
    pub fn classic_members_only(&self, topics: &Topics) -> Option<Vec<(JoinArgs, Bytes)>> {
        if self.members.is_empty() || self.members.values().any(|m| m.classic.is_none()) {
            return None;
        }
        let members = self.members.values().filter_map(|m| {
            let classic = m.classic.as_ref()?;
            let args = JoinArgs {
                member_id: m.id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: classic.session_timeout_ms,
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
                protocols: classic.protocols.clone(),
                require_known_member_id: false,
                new_member_id: String::new(),
            };
            Some((args, assignment_bytes(&m.target, topics, classic.version())))
        });
        Some(members.collect())
    }

    /// Whether a classic member offering `protocols` fits: every classic member already
    /// here supports one of them.
    fn supports_classic(&self, protocols: &[(String, Bytes)]) -> bool {
        protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .filter_map(|m| m.classic.as_ref())
                .all(|c| c.protocols.iter().any(|(n, _)| n == name))
        })
    }

    /// JoinGroup from a classic member: answered at once.
    pub fn classic_join(
        &mut self,
        args: &JoinArgs,
        topics: &Topics,
        limits: &Limits,
        now: i64,
    ) -> JoinReply {
        let refuse = |error| JoinReply::error(error, &args.member_id);
        if args.protocol_type != CONSUMER_PROTOCOL_TYPE
            || args.protocols.is_empty()
            || !self.supports_classic(&args.protocols)
        {
            return refuse(ResponseError::InconsistentGroupProtocol);
        }
        // Every protocol carries the same subscription; the first one is read.
        let Some((_, subscription)) = read_subscription(&args.protocols[0].1) else {
            return refuse(ResponseError::InconsistentGroupProtocol);
        };
        let id = match self.classic_identity(args, limits, now) {
            Ok(id) => id,
            Err(error) => return JoinReply::error(error, &args.new_member_id),
        };
        let topic_names: Vec<String> = subscription.topics.iter().map(|t| t.to_string()).collect();
        let owned = by_id(
            subscription
                .owned_partitions
                .iter()
                .map(|tp| (tp.topic.0.as_str(), tp.partitions.as_slice())),
            topics,
        );
        let Some(member) = self.members.get_mut(&id) else {
            return refuse(ResponseError::UnknownMemberId);
        };
        let changed = member.subscribed_names != topic_names;
        member.subscribed_names = topic_names;
        member.subscribed_regex = None;
        member.rack_id = subscription.rack_id.map(|r| r.to_string());
        member.instance_id = args.instance_id.clone();
        member.client_id = args.client_id.clone();
        member.client_host = args.client_host.clone();
        member.rebalance_timeout_ms = args.rebalance_timeout_ms;
        member.session_deadline_ms = now.saturating_add(args.session_timeout_ms);
        // Its timers are the classic ones below (a KIP-848 predecessor's revocation
        // deadline does not carry over).
        member.revoke_deadline_ms = None;
        member.classic = Some(ClassicMember {
            session_timeout_ms: args.session_timeout_ms,
            protocols: args.protocols.clone(),
            // The sync timer: it must now fetch its assignment.
            deadline_ms: Some(now.saturating_add(args.rebalance_timeout_ms)),
        });
        if changed {
            self.group_epoch += 1;
        }
        self.refresh_target(topics);
        let held_by_others = others_hold(&self.members, &id);
        let Some(member) = self.members.get_mut(&id) else {
            return refuse(ResponseError::UnknownMemberId);
        };
        reconcile_classic(member, &owned, self.assignment_epoch, &held_by_others);
        JoinReply {
            error: None,
            generation: member.epoch,
            protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()),
            protocol_name: Some(args.protocols[0].0.clone()),
            // No leader: the broker assigns, every member syncs as a follower.
            leader: String::new(),
            member_id: id,
            members: Vec::new(),
        }
    }

    /// Who a joining classic member is: its id, a new member's (KIP-394's
    /// MEMBER_ID_REQUIRED first, for v4+), or a static member's that replaces the one
    /// holding its instance id.
    fn classic_identity(
        &mut self,
        args: &JoinArgs,
        limits: &Limits,
        now: i64,
    ) -> Result<String, ResponseError> {
        let known = !args.member_id.is_empty();
        if let Some(instance) = &args.instance_id {
            let holder = self.instances.get(instance).cloned();
            if known {
                return match holder {
                    Some(h) if h == args.member_id => Ok(h),
                    Some(_) => Err(ResponseError::FencedInstanceId),
                    None => Err(ResponseError::UnknownMemberId),
                };
            }
            let id = args.new_member_id.clone();
            match holder.and_then(|old| self.members.remove(&old)) {
                Some(mut member) => {
                    member.id = id.clone();
                    self.members.insert(id.clone(), member);
                }
                None => self.add_classic(&id, limits, now)?,
            }
            self.instances.insert(instance.clone(), id.clone());
            return Ok(id);
        }
        if !known && args.require_known_member_id {
            return Err(ResponseError::MemberIdRequired);
        }
        let id = if known {
            args.member_id.clone()
        } else {
            args.new_member_id.clone()
        };
        match self.members.get(&id) {
            Some(m) if m.classic.is_none() => Err(ResponseError::UnknownMemberId),
            Some(_) => Ok(id),
            None => self.add_classic(&id, limits, now).map(|()| id),
        }
    }

    fn add_classic(&mut self, id: &str, limits: &Limits, now: i64) -> Result<(), ResponseError> {
        if self.members.len() >= limits.members_max {
            return Err(ResponseError::GroupMaxSizeReached);
        }
        self.members.insert(id.to_string(), new_member(id, now));
        self.group_epoch += 1;
        Ok(())
    }

    /// The classic member a SyncGroup, Heartbeat or commit comes from: UNKNOWN_MEMBER_ID
    /// when there is none (or it speaks KIP-848), FENCED_INSTANCE_ID when its instance id
    /// is another member's.
    fn classic_member(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<&mut ConsumerMember, ResponseError> {
        if let Some(instance) = instance_id {
            self.check_instance(instance, member_id)?;
        }
        self.members
            .get_mut(member_id)
            .filter(|m| m.classic.is_some())
            .ok_or(ResponseError::UnknownMemberId)
    }

    /// SyncGroup from a classic member: the partitions it may own now. What a leader
    /// would send is ignored (the broker assigns).
    pub fn classic_sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        (protocol_type, protocol_name): (Option<&str>, Option<&str>),
        topics: &Topics,
        now: i64,
    ) -> SyncReply {
        let group_epoch = self.group_epoch;
        let member = match self.classic_member(member_id, instance_id) {
            Ok(member) => member,
            Err(error) => return SyncReply::error(error),
        };
        if generation != member.epoch {
            return SyncReply::error(ResponseError::IllegalGeneration);
        }
        let Some(classic) = member.classic.as_mut() else {
            return SyncReply::error(ResponseError::UnknownMemberId);
        };
        let first = classic.first_protocol().to_string();
        if protocol_type.is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE)
            || protocol_name.is_some_and(|n| n != first)
        {
            return SyncReply::error(ResponseError::InconsistentGroupProtocol);
        }
        if group_epoch > member.epoch && member.revoking.is_empty() {
            let rejoin_by = now.saturating_add(member.rebalance_timeout_ms);
            classic.deadline_ms.get_or_insert(rejoin_by);
            return SyncReply::error(ResponseError::RebalanceInProgress);
        }
        classic.deadline_ms = None;
        member.session_deadline_ms = now.saturating_add(classic.session_timeout_ms);
        let version = classic.version();
        SyncReply {
            error: None,
            protocol_type: protocol_type.map(str::to_string),
            protocol_name: protocol_name.map(str::to_string),
            assignment: assignment_bytes(&member.assigned, topics, version),
        }
    }

    /// Heartbeat from a classic member: REBALANCE_IN_PROGRESS when it must rejoin, to
    /// give partitions up or to move to the group's new epoch and take free ones.
    pub fn classic_heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        topics: &Topics,
        now: i64,
    ) -> Result<(), ResponseError> {
        let member = self.classic_member(member_id, instance_id)?;
        if generation != member.epoch {
            return Err(ResponseError::IllegalGeneration);
        }
        if let Some(classic) = &member.classic {
            member.session_deadline_ms = now.saturating_add(classic.session_timeout_ms);
        }
        self.refresh_target(topics);
        let held_by_others = others_hold(&self.members, member_id);
        let assignment_epoch = self.assignment_epoch;
        let Some(member) = self.members.get_mut(member_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        let released = member
            .target
            .iter()
            .any(|tp| !member.assigned.contains(tp) && !held_by_others.contains(tp));
        if member.epoch < assignment_epoch || !member.revoking.is_empty() || released {
            let rejoin_by = now.saturating_add(member.rebalance_timeout_ms);
            if let Some(classic) = member.classic.as_mut() {
                classic.deadline_ms.get_or_insert(rejoin_by);
            }
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
    }

    /// LeaveGroup: the result per (member id, instance id), in order. It removes
    /// KIP-848 members too, as Kafka's does.
    pub fn classic_leave(
        &mut self,
        leaving: &[(String, Option<String>)],
    ) -> Vec<Result<(), ResponseError>> {
        leaving
            .iter()
            .map(|(member_id, instance_id)| {
                let id = match instance_id {
                    Some(instance) => match self.instances.get(instance) {
                        Some(h) if member_id.is_empty() || h == member_id => h.clone(),
                        Some(_) => return Err(ResponseError::FencedInstanceId),
                        None => return Err(ResponseError::UnknownMemberId),
                    },
                    None if self.members.contains_key(member_id) => member_id.clone(),
                    None => return Err(ResponseError::UnknownMemberId),
                };
                self.remove(&id);
                Ok(())
            })
            .collect()
    }
}

/// A classic member's reconciliation at JoinGroup, from what it says it owns: while it
/// still owns partitions it must give up, it keeps its epoch and only what stays its
/// own (it rejoins without the others); then it moves to the assignment epoch and
/// takes what no other member holds.
fn reconcile_classic(
    member: &mut ConsumerMember,
    owned: &BTreeSet<TopicPartition>,
    assignment_epoch: i32,
    held_by_others: &BTreeSet<TopicPartition>,
) {
    let target = &member.target;
    let unrevoked: BTreeSet<TopicPartition> = member
        .assigned
        .iter()
        .chain(&member.revoking)
        .filter(|tp| !target.contains(tp) && owned.contains(tp))
        .copied()
        .collect();
    member.assigned.retain(|tp| target.contains(tp));
    member.revoking = unrevoked;
    if !member.revoking.is_empty() {
        return;
    }
    let free: Vec<TopicPartition> = target
        .iter()
        .filter(|tp| !held_by_others.contains(tp))
        .copied()
        .collect();
    member.assigned.extend(free);
    if member.epoch != assignment_epoch {
        member.previous_epoch = member.epoch;
        member.epoch = assignment_epoch;
    }
}
