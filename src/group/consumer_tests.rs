//! The KIP-848 machine driven by hand with a fake clock.

#[path = "consumer_classic_tests.rs"]
mod classic_members;

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::*;

/// OffsetCommit's current version.
const V9: crate::group::CommitKind = crate::group::CommitKind::Offsets { version: 9 };

const LIMITS: Limits = Limits {
    session_timeout_ms: 10_000,
    heartbeat_interval_ms: 1_000,
    members_max: 10,
};

fn topics() -> Topics {
    [
        (
            "orders".to_string(),
            TopicInfo {
                id: Uuid::from_u128(1),
                partitions: 4,
            },
        ),
        (
            "other".to_string(),
            TopicInfo {
                id: Uuid::from_u128(2),
                partitions: 2,
            },
        ),
    ]
    .into()
}

fn join(id: &str, subscription: &[&str]) -> HeartbeatArgs {
    HeartbeatArgs {
        member_id: id.to_string(),
        member_epoch: JOIN_EPOCH,
        rebalance_timeout_ms: 5_000,
        subscribed_topic_names: Some(subscription.iter().map(|s| s.to_string()).collect()),
        owned: Some(Vec::new()),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        ..HeartbeatArgs::default()
    }
}

fn beat(id: &str, epoch: i32, owned: &BTreeSet<TopicPartition>) -> HeartbeatArgs {
    HeartbeatArgs {
        member_id: id.to_string(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        owned: Some(owned.iter().copied().collect()),
        ..HeartbeatArgs::default()
    }
}

/// Heartbeats as a well-behaved client: owns exactly what it was last told.
struct Client {
    id: String,
    epoch: i32,
    owned: BTreeSet<TopicPartition>,
}

impl Client {
    fn join(group: &mut ConsumerGroup, id: &str, now: i64) -> Client {
        let reply = group.heartbeat(join(id, &["orders"]), &topics(), &LIMITS, now);
        assert_eq!(reply.error, None);
        let mut client = Client {
            id: reply.member_id.clone(),
            epoch: 0,
            owned: BTreeSet::new(),
        };
        client.absorb(reply);
        client
    }

    fn beat(&mut self, group: &mut ConsumerGroup, now: i64) -> HeartbeatReply {
        let reply = group.heartbeat(
            beat(&self.id, self.epoch, &self.owned),
            &topics(),
            &LIMITS,
            now,
        );
        assert_eq!(reply.error, None, "{} at epoch {}", self.id, self.epoch);
        self.absorb(reply.clone());
        reply
    }

    fn absorb(&mut self, reply: HeartbeatReply) {
        self.epoch = reply.member_epoch;
        if let Some(assignment) = reply.assignment {
            self.owned = assignment;
        }
    }
}

#[test]
fn a_second_member_gets_partitions_only_after_the_first_revokes_them() {
    let mut group = ConsumerGroup::default();
    let mut a = Client::join(&mut group, "a", 0);
    assert_eq!(a.owned.len(), 4, "a lone member owns every partition");
    assert_eq!(group.state(), "Stable");

    let mut b = Client::join(&mut group, "b", 1);
    assert!(b.owned.is_empty(), "b must wait for a to revoke");
    assert_eq!(group.state(), "Reconciling");
    let epoch_before = a.epoch;
    a.beat(&mut group, 2);
    assert_eq!(a.owned.len(), 2, "a is told to give up two partitions");
    assert_eq!(a.epoch, epoch_before, "the epoch waits for the revocation");
    b.beat(&mut group, 3);
    assert!(b.owned.is_empty(), "a has not confirmed yet");
    a.beat(&mut group, 4);
    assert!(
        a.epoch > epoch_before,
        "confirmed: a moves to the new epoch"
    );
    b.beat(&mut group, 5);
    assert_eq!(b.owned.len(), 2);
    assert!(a.owned.is_disjoint(&b.owned));
    assert_eq!(a.epoch, b.epoch);
    assert_eq!(group.state(), "Stable");
}

#[test]
fn a_full_heartbeat_is_answered_with_the_assignment_again() {
    let mut group = ConsumerGroup::default();
    let mut a = Client::join(&mut group, "a", 0);
    let partial = a.beat(&mut group, 1);
    assert_eq!(partial.assignment, None, "unchanged: not sent again");
    // A full request (rebalance timeout, subscription and owned partitions), as a
    // member sends after an error: the assignment comes again, as Kafka sends it.
    let full = HeartbeatArgs {
        member_epoch: a.epoch,
        ..join(&a.id, &["orders"])
    };
    let reply = group.heartbeat(full, &topics(), &LIMITS, 2);
    assert_eq!(reply.error, None);
    assert_eq!(reply.assignment.as_ref(), Some(&a.owned));
}

#[test]
fn a_join_refused_for_its_assignor_or_pattern_leaves_no_member() {
    let mut group = ConsumerGroup::default();
    let bad_assignor = HeartbeatArgs {
        server_assignor: Some("nonsense".into()),
        ..join("a", &["orders"])
    };
    let reply = group.heartbeat(bad_assignor, &topics(), &LIMITS, 0);
    assert_eq!(
        reply.error.map(|e| e.0),
        Some(ResponseError::UnsupportedAssignor)
    );
    let bad_pattern = HeartbeatArgs {
        subscribed_topic_names: None,
        subscribed_topic_regex: Some("(".into()),
        ..join("b", &[])
    };
    let reply = group.heartbeat(bad_pattern, &topics(), &LIMITS, 1);
    assert_eq!(
        reply.error.map(|e| e.0),
        Some(ResponseError::InvalidRegularExpression)
    );
    assert!(group.is_empty());
    assert_eq!(group.group_epoch(), 0);
}

#[test]
fn wrong_epochs_and_strangers_are_fenced() {
    let mut group = ConsumerGroup::default();
    let mut a = Client::join(&mut group, "a", 0);
    a.beat(&mut group, 1);
    let reply = group.heartbeat(beat("a", a.epoch + 5, &a.owned), &topics(), &LIMITS, 2);
    assert_eq!(
        reply.error.map(|e| e.0),
        Some(ResponseError::FencedMemberEpoch)
    );
    let reply = group.heartbeat(beat("nobody", 3, &BTreeSet::new()), &topics(), &LIMITS, 2);
    assert_eq!(
        reply.error.map(|e| e.0),
        Some(ResponseError::UnknownMemberId)
    );
    assert_eq!(group.check_commit("a", None, a.epoch, V9), Ok(()));
    assert_eq!(
        group.check_commit("a", None, a.epoch - 1, V9),
        Err(ResponseError::StaleMemberEpoch)
    );
    assert_eq!(
        group.check_commit("", None, -1, V9),
        Err(ResponseError::UnknownMemberId)
    );
    // Epoch -1 with a member id (a consumer that assigned its partitions itself) is
    // refused while the group has members, and accepted once it is empty.
    assert_eq!(
        group.check_commit("self-assigned", None, -1, V9),
        Err(ResponseError::UnknownMemberId)
    );
    assert!(ConsumerGroup::default()
        .check_commit("self-assigned", None, -1, V9)
        .is_ok());
    // Kafka's other rules: a KIP-848 member commits with v9 or later; in a transaction
    // a wrong epoch is ILLEGAL_GENERATION, and no member at all is accepted.
    let v8 = crate::group::CommitKind::Offsets { version: 8 };
    let txn = crate::group::CommitKind::Transactional;
    assert_eq!(
        group.check_commit("a", None, a.epoch, v8),
        Err(ResponseError::UnsupportedVersion)
    );
    assert_eq!(
        group.check_commit("a", None, a.epoch - 1, txn),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(group.check_commit("a", None, a.epoch, txn), Ok(()));
    assert_eq!(group.check_commit("", None, -1, txn), Ok(()));
    // OffsetFetch v9 checks the member that names itself.
    assert_eq!(group.check_fetch(None, -1), Ok(()));
    assert_eq!(group.check_fetch(Some("a"), a.epoch), Ok(()));
    assert_eq!(
        group.check_fetch(Some("a"), a.epoch - 1),
        Err(ResponseError::StaleMemberEpoch)
    );
    assert_eq!(
        group.check_fetch(Some("nobody"), 3),
        Err(ResponseError::UnknownMemberId)
    );
}

#[test]
fn an_expired_member_leaves_its_partitions_to_the_others() {
    let mut group = ConsumerGroup::default();
    let mut a = Client::join(&mut group, "a", 0);
    let mut b = Client::join(&mut group, "b", 0);
    for now in [1, 2, 3] {
        a.beat(&mut group, now);
        b.beat(&mut group, now);
    }
    assert_eq!((a.owned.len(), b.owned.len()), (2, 2));
    // b goes silent; a keeps beating.
    for now in (1_000..=12_000).step_by(1_000) {
        group.tick(now);
        a.beat(&mut group, now);
    }
    assert_eq!(group.members().count(), 1);
    assert_eq!(a.owned.len(), 4);
}

#[test]
fn leaving_frees_partitions_at_once() {
    let mut group = ConsumerGroup::default();
    let mut a = Client::join(&mut group, "a", 0);
    let mut b = Client::join(&mut group, "b", 0);
    for now in [1, 2, 3] {
        a.beat(&mut group, now);
        b.beat(&mut group, now);
    }
    let reply = group.heartbeat(beat("b", LEAVE_EPOCH, &b.owned), &topics(), &LIMITS, 4);
    assert_eq!((reply.error, reply.member_epoch), (None, LEAVE_EPOCH));
    a.beat(&mut group, 5);
    assert_eq!(a.owned.len(), 4);
}

#[test]
fn a_pattern_subscribes_to_matching_topics_and_bad_patterns_are_refused() {
    let mut group = ConsumerGroup::default();
    let mut args = join("p", &[]);
    args.subscribed_topic_names = None;
    args.subscribed_topic_regex = Some("ord.*".into());
    let reply = group.heartbeat(args.clone(), &topics(), &LIMITS, 0);
    let owned = reply.assignment.expect("an assignment");
    assert!(owned.iter().all(|(id, _)| *id == Uuid::from_u128(1)));
    assert_eq!(owned.len(), 4);

    args.member_id = "q".into();
    args.subscribed_topic_regex = Some("(".into());
    let reply = group.heartbeat(args, &topics(), &LIMITS, 0);
    assert_eq!(
        reply.error.map(|e| e.0),
        Some(ResponseError::InvalidRegularExpression)
    );
}

#[test]
fn a_joining_member_must_say_what_it_subscribes_to() {
    let mut group = ConsumerGroup::default();
    let mut args = join("x", &[]);
    args.subscribed_topic_names = None;
    let reply = group.heartbeat(args, &topics(), &LIMITS, 0);
    assert_eq!(
        reply.error.map(|e| e.0),
        Some(ResponseError::InvalidRequest)
    );
    assert!(group.is_empty());
}

#[test]
fn new_partitions_are_assigned_without_a_membership_change() {
    let mut group = ConsumerGroup::default();
    let mut a = Client::join(&mut group, "a", 0);
    let mut grown = topics();
    grown.get_mut("orders").expect("orders").partitions = 6;
    let reply = group.heartbeat(beat("a", a.epoch, &a.owned), &grown, &LIMITS, 1);
    a.absorb(reply);
    assert_eq!(a.owned.len(), 6);
}

#[test]
fn a_static_members_instance_id_is_its_own_until_it_leaves() {
    let mut group = ConsumerGroup::default();
    let as_static = |mut args: HeartbeatArgs| {
        args.instance_id = Some("i1".into());
        args
    };
    let code = |reply: HeartbeatReply| reply.error.map(|e| e.0);
    let first = group.heartbeat(as_static(join("m1", &["orders"])), &topics(), &LIMITS, 0);
    assert_eq!(first.error, None);
    let owned = first.assignment.clone().expect("an assignment");
    assert_eq!(owned.len(), 4);
    // Another member claiming the instance id while m1 is in the group is refused,
    // and m1 keeps it.
    let second = group.heartbeat(as_static(join("m2", &["orders"])), &topics(), &LIMITS, 1);
    assert_eq!(code(second), Some(ResponseError::UnreleasedInstanceId));
    let stranger = group.heartbeat(as_static(beat("m2", 1, &owned)), &topics(), &LIMITS, 1);
    assert_eq!(code(stranger), Some(ResponseError::FencedInstanceId));
    let unknown = HeartbeatArgs {
        instance_id: Some("i9".into()),
        ..beat("m1", first.member_epoch, &owned)
    };
    let unknown = group.heartbeat(unknown, &topics(), &LIMITS, 1);
    assert_eq!(code(unknown), Some(ResponseError::UnknownMemberId));
    // m1 steps out (epoch -2): it stays in the group with its partitions, and the
    // member coming back under the instance id takes them over.
    let out = group.heartbeat(
        as_static(beat("m1", STATIC_LEAVE_EPOCH, &owned)),
        &topics(),
        &LIMITS,
        2,
    );
    assert_eq!((out.error, out.member_epoch), (None, STATIC_LEAVE_EPOCH));
    let back = group.heartbeat(as_static(join("m2", &["orders"])), &topics(), &LIMITS, 3);
    assert_eq!(back.error, None);
    assert_eq!(
        (back.member_id.as_str(), back.assignment),
        ("m2", Some(owned.clone()))
    );
    assert!(back.member_epoch > 0);
    // Leaving for good (epoch -1) releases the instance id.
    let gone = group.heartbeat(
        as_static(beat("m2", LEAVE_EPOCH, &owned)),
        &topics(),
        &LIMITS,
        4,
    );
    assert_eq!(gone.error, None);
    let after = group.heartbeat(as_static(beat("m2", 1, &owned)), &topics(), &LIMITS, 5);
    assert_eq!(code(after), Some(ResponseError::UnknownMemberId));
}
