//! The classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) as a state
//! machine that decides without I/O: every input carries the time, and the outputs are
//! the answer to the request plus replies owed to requests that were left waiting
//! (a JoinGroup waits for the rebalance, a SyncGroup for the leader's assignment).
//! The coordinator shell delivers those replies, persists nothing for membership, and
//! calls `tick` when `next_deadline` passes.
//!
//! States follow Kafka's: Empty -> PreparingRebalance -> CompletingRebalance -> Stable,
//! and back to PreparingRebalance whenever membership or subscriptions change. Every
//! rebalance that completes bumps the generation; requests from an older generation
//! are fenced with ILLEGAL_GENERATION.

use std::collections::HashMap;

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::error::ResponseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl State {
    /// The name Kafka's DescribeGroups and ListGroups use.
    pub fn name(self) -> &'static str {
        match self {
            State::Empty => "Empty",
            State::PreparingRebalance => "PreparingRebalance",
            State::CompletingRebalance => "CompletingRebalance",
            State::Stable => "Stable",
        }
    }
}

/// Bounds the broker puts on what members ask for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub session_timeout_ms_min: i64,
    pub session_timeout_ms_max: i64,
    /// How long the first rebalance of an empty group waits for more members.
    pub initial_rebalance_delay_ms: i64,
    /// Members one group may have, at most.
    pub members_max: usize,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i64,
    pub rebalance_timeout_ms: i64,
    /// (protocol name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    awaiting_join: bool,
    awaiting_sync: bool,
    heartbeat_deadline_ms: i64,
}

impl Member {
    fn new(id: &str, args: &JoinArgs, now: i64) -> Member {
        let mut member = Member {
            id: id.to_string(),
            instance_id: args.instance_id.clone(),
            client_id: String::new(),
            client_host: String::new(),
            session_timeout_ms: 0,
            rebalance_timeout_ms: 0,
            protocols: Vec::new(),
            assignment: Bytes::new(),
            awaiting_join: false,
            awaiting_sync: false,
            heartbeat_deadline_ms: now,
        };
        update_member(&mut member, args, now);
        member
    }

    /// This member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }
}

pub use super::classic_messages::{
    Answer, JoinArgs, JoinReply, JoinedMember, Reply, Step, SyncReply,
};

#[derive(Debug, Clone)]
pub struct ClassicGroup {
    state: State,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    /// In join order: the first member becomes leader when there is none.
    members: IndexMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, with the time they lapse.
    pending: HashMap<String, i64>,
    /// Static members: group.instance.id -> member id.
    instances: HashMap<String, String>,
    /// PreparingRebalance: do not complete before this (the initial delay).
    join_not_before_ms: i64,
    /// PreparingRebalance: complete by this, without the members that did not rejoin.
    /// CompletingRebalance: members that have not synced by this are removed.
    phase_deadline_ms: i64,
    replies: Vec<Reply>,
}

impl Default for ClassicGroup {
    fn default() -> Self {
        ClassicGroup::new()
    }
}

impl ClassicGroup {
    pub fn new() -> ClassicGroup {
        ClassicGroup {
            state: State::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: IndexMap::new(),
            pending: HashMap::new(),
            instances: HashMap::new(),
            join_not_before_ms: 0,
            phase_deadline_ms: 0,
            replies: Vec::new(),
        }
    }

    /// The classic group a KIP-848 group left with only classic members becomes
    /// (downgrade): those members, each with the join it would rejoin with and its
    /// assignment, at `generation` (the group epoch); stable with those assignments, or
    /// rebalancing at once if `rebalance`.
    pub fn converted(
        generation: i32,
        members: Vec<(JoinArgs, Bytes)>,
        limits: &Limits,
        rebalance: bool,
        now: i64,
    ) -> ClassicGroup {
        let mut group = ClassicGroup::new();
        group.generation = generation;
        for (args, assignment) in members {
            let mut member = Member::new(&args.member_id, &args, now);
            member.assignment = assignment;
            if let Some(instance) = &args.instance_id {
                group.instances.insert(instance.clone(), member.id.clone());
            }
            group.protocol_type = Some(args.protocol_type);
            group.members.insert(member.id.clone(), member);
        }
        group.leader = group.members.keys().next().cloned();
        group.protocol = group.select_protocol();
        group.state = State::Stable;
        if rebalance {
            group.prepare_rebalance(limits, now);
        }
        group
    }

    /// Empties the group for its members to move to a KIP-848 group (upgrade); the
    /// requests they left waiting are answered with `error`, to send them there.
    pub fn dissolve(&mut self, error: ResponseError) -> Vec<Reply> {
        let members = std::mem::take(&mut self.members);
        for member in members.values() {
            self.fail_waiting(member, member.awaiting_join, error);
        }
        let replies = std::mem::take(&mut self.replies);
        *self = ClassicGroup::new();
        replies
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    /// Sets the protocol type of a group restored without members (start-up).
    pub fn restore_protocol_type(&mut self, protocol_type: String) {
        if self.members.is_empty() {
            self.protocol_type = Some(protocol_type);
        }
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.pending.is_empty()
    }

    /// The earliest time `tick` has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        let phase = match self.state {
            State::PreparingRebalance => Some(self.phase_deadline_ms.min(
                // Once the initial delay is over, a fully joined group completes.
                if self.all_joined() {
                    self.join_not_before_ms
                } else {
                    i64::MAX
                },
            )),
            State::CompletingRebalance => Some(self.phase_deadline_ms),
            State::Empty | State::Stable => None,
        };
        let sessions = self.members.values().map(|m| m.heartbeat_deadline_ms);
        sessions
            .chain(self.pending.values().copied())
            .chain(phase)
            .min()
    }

    pub fn join(&mut self, args: JoinArgs, limits: &Limits, now: i64) -> Step<JoinReply> {
        tracing::debug!(member = %args.member_id, state = ?self.state, pending = self.pending.len(), members = self.members.len(), "join");
        let answer = self.join_inner(args, limits, now);
        tracing::debug!(state = ?self.state, generation = self.generation, "joined");
        self.step(answer)
    }

    fn join_inner(&mut self, args: JoinArgs, limits: &Limits, now: i64) -> Answer<JoinReply> {
        if args.session_timeout_ms < limits.session_timeout_ms_min
            || args.session_timeout_ms > limits.session_timeout_ms_max
        {
            return Answer::Now(JoinReply::error(
                ResponseError::InvalidSessionTimeout,
                &args.member_id,
            ));
        }
        if !self.supports(&args.protocol_type, &args.protocols) {
            return Answer::Now(JoinReply::error(
                ResponseError::InconsistentGroupProtocol,
                &args.member_id,
            ));
        }
        if args.member_id.is_empty() {
            return self.join_unknown(args, limits, now);
        }
        if let Some(instance) = &args.instance_id {
            if self.instances.get(instance) != Some(&args.member_id) {
                return Answer::Now(JoinReply::error(
                    ResponseError::FencedInstanceId,
                    &args.member_id,
                ));
            }
        }
        if self.pending.remove(&args.member_id).is_some() {
            return self.add_member(args.member_id.clone(), args, limits, now);
        }
        let Some(member) = self.members.get_mut(&args.member_id) else {
            return Answer::Now(JoinReply::error(
                ResponseError::UnknownMemberId,
                &args.member_id,
            ));
        };
        let changed = member.protocols != args.protocols;
        update_member(member, &args, now);
        let is_leader = self.leader.as_deref() == Some(args.member_id.as_str());
        match self.state {
            State::CompletingRebalance if !changed => {
                Answer::Now(self.join_reply_for(&args.member_id))
            }
            State::Stable if !changed && !is_leader => {
                Answer::Now(self.join_reply_for(&args.member_id))
            }
            _ => {
                self.awaiting_join(&args.member_id, now);
                self.prepare_rebalance(limits, now);
                Answer::Later(args.member_id)
            }
        }
    }

    /// A JoinGroup without a member id: a new member, or a static member coming back.
    fn join_unknown(&mut self, args: JoinArgs, limits: &Limits, now: i64) -> Answer<JoinReply> {
        let new_id = args.new_member_id.clone();
        if let Some(instance) = args.instance_id.clone() {
            if let Some(old_id) = self.instances.get(&instance).cloned() {
                return self.replace_static_member(&old_id, args, limits, now);
            }
            self.instances.insert(instance, new_id.clone());
            return self.add_member(new_id, args, limits, now);
        }
        if args.require_known_member_id {
            let lapses = now.saturating_add(args.session_timeout_ms);
            if self.members.len() + self.pending.len() >= limits.members_max {
                return Answer::Now(JoinReply::error(ResponseError::GroupMaxSizeReached, ""));
            }
            self.pending.insert(new_id.clone(), lapses);
            return Answer::Now(JoinReply::error(ResponseError::MemberIdRequired, &new_id));
        }
        self.add_member(new_id, args, limits, now)
    }

    /// A static member rejoined without its member id (it restarted): it takes a new id
    /// and the old one is fenced. A stable group keeps its assignment: no rebalance.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        args: JoinArgs,
        limits: &Limits,
        now: i64,
    ) -> Answer<JoinReply> {
        let new_id = args.new_member_id.clone();
        let Some(mut member) = self.members.shift_remove(old_id) else {
            return Answer::Now(JoinReply::error(ResponseError::UnknownMemberId, ""));
        };
        self.fail_waiting(
            &member,
            member.awaiting_join,
            ResponseError::FencedInstanceId,
        );
        let changed = member.protocols != args.protocols;
        member.id = new_id.clone();
        member.awaiting_join = false;
        member.awaiting_sync = false;
        update_member(&mut member, &args, now);
        self.members.insert(new_id.clone(), member);
        if let Some(instance) = &args.instance_id {
            self.instances.insert(instance.clone(), new_id.clone());
        }
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        if self.state == State::Stable && !changed {
            return Answer::Now(self.join_reply_for(&new_id));
        }
        self.awaiting_join(&new_id, now);
        self.prepare_rebalance(limits, now);
        Answer::Later(new_id)
    }

    fn add_member(
        &mut self,
        id: String,
        args: JoinArgs,
        limits: &Limits,
        now: i64,
    ) -> Answer<JoinReply> {
        if self.members.len() >= limits.members_max {
            if let Some(instance) = &args.instance_id {
                self.instances.remove(instance);
            }
            return Answer::Now(JoinReply::error(ResponseError::GroupMaxSizeReached, &id));
        }
        if self.members.is_empty() {
            self.protocol_type = Some(args.protocol_type.clone());
        }
        self.members
            .insert(id.clone(), Member::new(&id, &args, now));
        self.awaiting_join(&id, now);
        self.prepare_rebalance(limits, now);
        Answer::Later(id)
    }

    fn awaiting_join(&mut self, id: &str, now: i64) {
        if let Some(member) = self.members.get_mut(id) {
            member.awaiting_join = true;
            member.heartbeat_deadline_ms = now.saturating_add(member.session_timeout_ms);
        }
    }

    /// Whether a member with these protocols can be in this group.
    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(name, _)| self.supported_by_all(name))
    }

    fn supported_by_all(&self, protocol: &str) -> bool {
        self.members
            .values()
            .all(|m| m.protocols.iter().any(|(name, _)| name == protocol))
    }

    /// Starts a rebalance unless one is under way. Members waiting for a SyncGroup of
    /// the generation that ends are told REBALANCE_IN_PROGRESS.
    fn prepare_rebalance(&mut self, limits: &Limits, now: i64) {
        match self.state {
            State::PreparingRebalance => {}
            State::Empty => {
                let timeout = self.rebalance_timeout_ms();
                self.join_not_before_ms =
                    now.saturating_add(limits.initial_rebalance_delay_ms.min(timeout));
                self.phase_deadline_ms = now.saturating_add(timeout);
                self.state = State::PreparingRebalance;
            }
            State::Stable | State::CompletingRebalance => {
                for member in self.members.values_mut() {
                    if std::mem::take(&mut member.awaiting_sync) {
                        self.replies.push(Reply::Sync(
                            member.id.clone(),
                            SyncReply::error(ResponseError::RebalanceInProgress),
                        ));
                    }
                }
                self.join_not_before_ms = now;
                self.phase_deadline_ms = now.saturating_add(self.rebalance_timeout_ms());
                self.state = State::PreparingRebalance;
            }
        }
        self.try_complete_join(now);
    }

    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    fn all_joined(&self) -> bool {
        self.pending.is_empty() && self.members.values().all(|m| m.awaiting_join)
    }

    fn try_complete_join(&mut self, now: i64) {
        let due =
            now >= self.phase_deadline_ms || (self.all_joined() && now >= self.join_not_before_ms);
        if self.state == State::PreparingRebalance && due {
            self.complete_join(now);
        }
    }

    /// Ends PreparingRebalance: members that did not rejoin are dropped, the
    /// generation advances, and every member gets its JoinGroup answer.
    fn complete_join(&mut self, now: i64) {
        self.remove_members_where(|m| !m.awaiting_join);
        self.pending.clear();
        self.generation = self.generation.wrapping_add(1);
        if self.members.is_empty() {
            self.state = State::Empty;
            // The protocol type stays, as in Kafka: ListGroups still shows an empty
            // consumer group as one.
            self.protocol = None;
            self.leader = None;
            return;
        }
        self.protocol = self.select_protocol();
        let leader_stays = self
            .leader
            .as_ref()
            .is_some_and(|leader| self.members.contains_key(leader));
        if !leader_stays {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = State::CompletingRebalance;
        self.phase_deadline_ms = now.saturating_add(self.rebalance_timeout_ms());
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let reply = self.join_reply_for(&id);
            if let Some(member) = self.members.get_mut(&id) {
                member.awaiting_join = false;
                member.heartbeat_deadline_ms = now.saturating_add(member.session_timeout_ms);
            }
            self.replies.push(Reply::Join(id, reply));
        }
    }

    /// The protocol most members prefer among those every member supports.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| self.supported_by_all(name))
            .collect();
        let votes = |candidate: &str| {
            self.members
                .values()
                .filter(|m| {
                    m.protocols
                        .iter()
                        .map(|(name, _)| name.as_str())
                        .find(|name| candidates.contains(name))
                        == Some(candidate)
                })
                .count()
        };
        // max_by_key keeps the last of equals; iterate in reverse so the first wins.
        candidates
            .iter()
            .rev()
            .max_by_key(|c| votes(c))
            .map(|c| c.to_string())
    }

    fn join_reply_for(&self, id: &str) -> JoinReply {
        let protocol = self.protocol.clone().unwrap_or_default();
        let members = if self.leader.as_deref() == Some(id) {
            self.members
                .values()
                .map(|m| JoinedMember {
                    id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    metadata: m.metadata(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinReply {
            error: None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: id.to_string(),
            members,
        }
    }

    /// Checks that a request comes from a current member of the current generation.
    fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        if let Some(instance) = instance_id {
            match self.instances.get(instance) {
                Some(id) if id == member_id => {}
                Some(_) => return Err(ResponseError::FencedInstanceId),
                None => return Err(ResponseError::UnknownMemberId),
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation != self.generation {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: i64,
    ) -> Step<SyncReply> {
        let answer = self.sync_inner(
            member_id,
            instance_id,
            generation,
            (protocol_type, protocol_name),
            assignments,
            now,
        );
        self.step(answer)
    }

    fn sync_inner(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        (protocol_type, protocol_name): (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
        now: i64,
    ) -> Answer<SyncReply> {
        if let Err(error) = self.check_member(member_id, instance_id, generation) {
            return Answer::Now(SyncReply::error(error));
        }
        let mismatch = |asked: Option<&str>, actual: &Option<String>| {
            asked.is_some_and(|asked| Some(asked) != actual.as_deref())
        };
        if mismatch(protocol_type, &self.protocol_type) || mismatch(protocol_name, &self.protocol) {
            return Answer::Now(SyncReply::error(ResponseError::InconsistentGroupProtocol));
        }
        self.heartbeat_from(member_id, now);
        match self.state {
            State::Empty => Answer::Now(SyncReply::error(ResponseError::UnknownMemberId)),
            State::PreparingRebalance => {
                Answer::Now(SyncReply::error(ResponseError::RebalanceInProgress))
            }
            State::Stable => Answer::Now(self.sync_reply_for(member_id)),
            State::CompletingRebalance => {
                if let Some(member) = self.members.get_mut(member_id) {
                    member.awaiting_sync = true;
                }
                if self.leader.as_deref() == Some(member_id) {
                    self.complete_sync(assignments);
                }
                Answer::Later(member_id.to_string())
            }
        }
    }

    /// The leader's assignment arrived: the group is stable and every member waiting
    /// in SyncGroup gets its share.
    fn complete_sync(&mut self, assignments: Vec<(String, Bytes)>) {
        let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
        for member in self.members.values_mut() {
            member.assignment = assignments.remove(&member.id).unwrap_or_default();
        }
        self.state = State::Stable;
        let waiting: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_sync)
            .map(|m| m.id.clone())
            .collect();
        for id in waiting {
            let reply = self.sync_reply_for(&id);
            if let Some(member) = self.members.get_mut(&id) {
                member.awaiting_sync = false;
            }
            self.replies.push(Reply::Sync(id, reply));
        }
    }

    fn sync_reply_for(&self, id: &str) -> SyncReply {
        SyncReply {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            assignment: self
                .members
                .get(id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    fn heartbeat_from(&mut self, member_id: &str, now: i64) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.heartbeat_deadline_ms = now.saturating_add(member.session_timeout_ms);
        }
    }

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: i64,
    ) -> Result<(), ResponseError> {
        tracing::debug!(member = member_id, state = ?self.state, generation, "heartbeat");
        if self.state == State::Empty {
            return Err(ResponseError::UnknownMemberId);
        }
        self.check_member(member_id, instance_id, generation)?;
        self.heartbeat_from(member_id, now);
        if self.state == State::PreparingRebalance {
            return Err(ResponseError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Whether an OffsetCommit may be accepted. A commit without a generation (an admin
    /// tool's, or a consumer's that assigned its partitions itself, whatever member id
    /// it sends) is only accepted while the group has no members, as in Kafka; a
    /// TxnOffsetCommit without generation or member is accepted whatever the group holds,
    /// and is not held back by a rebalance completing, as in Kafka too.
    pub fn check_commit(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        kind: super::CommitKind,
        now: i64,
    ) -> Result<(), ResponseError> {
        let transactional = kind == super::CommitKind::Transactional;
        if generation < 0 && self.state == State::Empty {
            return Ok(());
        }
        if generation < 0 && member_id.is_empty() && instance_id.is_none() {
            return if transactional {
                Ok(())
            } else {
                Err(ResponseError::UnknownMemberId)
            };
        }
        self.check_member(member_id, instance_id, generation)?;
        if self.state == State::CompletingRebalance && !transactional {
            return Err(ResponseError::RebalanceInProgress);
        }
        self.heartbeat_from(member_id, now);
        Ok(())
    }

    /// LeaveGroup for each (member id, instance id): the result per member, in order.
    pub fn leave(
        &mut self,
        leaving: &[(String, Option<String>)],
        limits: &Limits,
        now: i64,
    ) -> Step<Vec<Result<(), ResponseError>>> {
        let mut results = Vec::with_capacity(leaving.len());
        let mut removed = false;
        for (member_id, instance_id) in leaving {
            let result = self.leave_one(member_id, instance_id.as_deref());
            removed |= result.is_ok();
            results.push(result);
        }
        if removed {
            self.membership_changed(limits, now);
        }
        self.step(Answer::Now(results))
    }

    fn leave_one(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        let id = match instance_id {
            Some(instance) => match self.instances.get(instance) {
                Some(id) if member_id.is_empty() || id == member_id => id.clone(),
                Some(_) => return Err(ResponseError::FencedInstanceId),
                None => return Err(ResponseError::UnknownMemberId),
            },
            None => member_id.to_string(),
        };
        if self.pending.remove(&id).is_some() {
            return Ok(());
        }
        if !self.members.contains_key(&id) {
            return Err(ResponseError::UnknownMemberId);
        }
        self.remove_member(&id);
        Ok(())
    }

    fn remove_members_where(&mut self, doomed: impl Fn(&Member) -> bool) {
        let ids: Vec<String> = self
            .members
            .values()
            .filter(|m| doomed(m))
            .map(|m| m.id.clone())
            .collect();
        for id in ids {
            self.remove_member(&id);
        }
    }

    /// Drops a member; a request it left waiting is told UNKNOWN_MEMBER_ID.
    fn remove_member(&mut self, id: &str) {
        let Some(member) = self.members.shift_remove(id) else {
            return;
        };
        if let Some(instance) = &member.instance_id {
            if self.instances.get(instance).map(String::as_str) == Some(id) {
                self.instances.remove(instance);
            }
        }
        let joining = member.awaiting_join && self.state == State::PreparingRebalance;
        self.fail_waiting(&member, joining, ResponseError::UnknownMemberId);
        if self.leader.as_deref() == Some(id) {
            self.leader = None;
        }
    }

    /// Answers with `error` the JoinGroup (when `joining`) and SyncGroup a member left
    /// waiting.
    fn fail_waiting(&mut self, member: &Member, joining: bool, error: ResponseError) {
        if joining {
            let reply = JoinReply::error(error, &member.id);
            self.replies.push(Reply::Join(member.id.clone(), reply));
        }
        if member.awaiting_sync {
            self.replies
                .push(Reply::Sync(member.id.clone(), SyncReply::error(error)));
        }
    }

    fn membership_changed(&mut self, limits: &Limits, now: i64) {
        match self.state {
            State::Stable | State::CompletingRebalance => self.prepare_rebalance(limits, now),
            State::PreparingRebalance => self.try_complete_join(now),
            State::Empty => {}
        }
    }

    /// Acts on every deadline that has passed: expired sessions, the end of a join
    /// phase, a leader that never synced.
    pub fn tick(&mut self, limits: &Limits, now: i64) -> Vec<Reply> {
        self.pending.retain(|_, lapses| *lapses > now);
        let preparing = self.state == State::PreparingRebalance;
        let before = self.members.len();
        self.remove_members_where(|m| {
            m.heartbeat_deadline_ms <= now && !(preparing && m.awaiting_join)
        });
        let expired = self.members.len() < before;
        if self.state == State::CompletingRebalance && now >= self.phase_deadline_ms {
            self.remove_members_where(|m| !m.awaiting_sync);
            self.prepare_rebalance(limits, now);
        } else if expired {
            self.membership_changed(limits, now);
        } else {
            self.try_complete_join(now);
        }
        std::mem::take(&mut self.replies)
    }

    fn step<T>(&mut self, answer: Answer<T>) -> Step<T> {
        Step {
            answer,
            replies: std::mem::take(&mut self.replies),
        }
    }
}

fn update_member(member: &mut Member, args: &JoinArgs, now: i64) {
    member.client_id = args.client_id.clone();
    member.client_host = args.client_host.clone();
    member.session_timeout_ms = args.session_timeout_ms;
    member.rebalance_timeout_ms = args.rebalance_timeout_ms;
    member.protocols = args.protocols.clone();
    member.heartbeat_deadline_ms = now.saturating_add(args.session_timeout_ms);
}

#[cfg(test)]
#[path = "classic_tests.rs"]
mod tests;
