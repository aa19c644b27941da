//! Classic members in a KIP-848 group (online migration), driven by hand.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_protocol_subscription::TopicPartition as Owned;
use kafka_protocol::messages::{ConsumerProtocolSubscription, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::*;
use crate::group::CommitKind;

const V9: CommitKind = CommitKind::Offsets { version: 9 };
use crate::group::classic::{self, Answer, ClassicGroup, JoinArgs, Reply};

const CLASSIC_LIMITS: classic::Limits = classic::Limits {
    session_timeout_ms_min: 1_000,
    session_timeout_ms_max: 60_000,
    initial_rebalance_delay_ms: 0,
    members_max: 10,
};
const REBALANCE_MS: i64 = 5_000;

/// A v1 subscription to "orders" owning `owned` of its partitions.
fn subscription(owned: &BTreeSet<i32>) -> Bytes {
    let subscription = ConsumerProtocolSubscription::default()
        .with_topics(vec![StrBytes::from_static_str("orders")])
        .with_owned_partitions(vec![Owned::default()
            .with_topic(TopicName(StrBytes::from_static_str("orders")))
            .with_partitions(owned.iter().copied().collect())]);
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    subscription.encode(&mut buf, 1).unwrap();
    buf.freeze()
}

fn join_args(id: &str, owned: &BTreeSet<i32>) -> JoinArgs {
    JoinArgs {
        member_id: id.to_string(),
        instance_id: None,
        client_id: "classic-client".to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".to_string(),
        protocols: vec![("range".to_string(), subscription(owned))],
        require_known_member_id: false,
        new_member_id: id.to_string(),
    }
}

/// The "orders" partitions an assignment names.
fn orders(assignment: Bytes) -> BTreeSet<i32> {
    let named = crate::client::group::decode_assignment(assignment).unwrap();
    named
        .into_iter()
        .filter(|(topic, _)| topic == "orders")
        .flat_map(|(_, partitions)| partitions)
        .collect()
}

/// A classic consumer as librdkafka's cooperative one behaves: it reports what it owns
/// when it joins, and owns what SyncGroup gave it.
struct ClassicClient {
    id: String,
    generation: i32,
    owned: BTreeSet<i32>,
}

impl ClassicClient {
    fn rejoin(&mut self, group: &mut ConsumerGroup, now: i64) {
        let reply = group.classic_join(&join_args(&self.id, &self.owned), &topics(), &LIMITS, now);
        assert_eq!(reply.error, None);
        assert_eq!(reply.leader, "", "the broker assigns: no member leads");
        assert!(reply.members.is_empty());
        assert_eq!(reply.protocol_name.as_deref(), Some("range"));
        self.generation = reply.generation;
        let synced = group.classic_sync(
            &self.id,
            None,
            self.generation,
            (Some("consumer"), Some("range")),
            &topics(),
            now,
        );
        assert_eq!(synced.error, None);
        self.owned = orders(synced.assignment);
    }

    fn beat(&self, group: &mut ConsumerGroup, now: i64) -> Result<(), ResponseError> {
        group.classic_heartbeat(&self.id, None, self.generation, &topics(), now)
    }
}

fn owned_by(client: &Client) -> BTreeSet<i32> {
    client.owned.iter().map(|(_, p)| *p).collect()
}

/// A stable classic group whose one member, "c", owns all of "orders" at generation 1.
fn classic_group_of_one() -> ClassicGroup {
    let mut group = ClassicGroup::new();
    let mut first = join_args("", &BTreeSet::new());
    first.new_member_id = "c".to_string();
    let step = group.join(first, &CLASSIC_LIMITS, 0);
    assert_eq!(step.answer, Answer::Later("c".to_string()));
    let id = match &step.replies[..] {
        [Reply::Join(id, reply)] => {
            assert_eq!(reply.generation, 1);
            id.clone()
        }
        other => panic!("the lone member's join completes at once: {other:?}"),
    };
    let all = crate::client::group::encode_assignment(&vec![("orders".into(), vec![0, 1, 2, 3])])
        .unwrap();
    let step = group.sync(&id, None, 1, None, None, vec![(id.clone(), all)], 1);
    assert!(matches!(step.replies[..], [Reply::Sync(..)]));
    group
}

#[test]
fn an_upgraded_classic_member_keeps_its_partitions_and_gives_half_up_by_rejoining() {
    let classic = classic_group_of_one();
    let mut group = ConsumerGroup::from_classic(&classic, &topics(), 2).unwrap();
    let c_member = group.members().next().unwrap();
    assert_eq!((c_member.epoch, c_member.assigned.len()), (1, 4));
    assert!(c_member.classic.is_some());
    let mut c = ClassicClient {
        id: "c".to_string(),
        generation: 1,
        owned: [0, 1, 2, 3].into(),
    };
    assert_eq!(c.beat(&mut group, 3), Ok(()), "nothing changed yet");

    // A KIP-848 member joins: c must give two partitions up before k gets them.
    let mut k = Client::join(&mut group, "k", 4);
    assert!(k.owned.is_empty(), "c still holds every partition");
    assert_eq!(
        c.beat(&mut group, 5),
        Err(ResponseError::RebalanceInProgress)
    );
    assert_eq!(
        group.check_commit("c", None, c.generation + 1, V9),
        Err(ResponseError::IllegalGeneration),
        "a classic member's commit names its generation"
    );
    c.rejoin(&mut group, 6);
    assert_eq!(c.generation, 1, "it still owns what it must give up");
    assert_eq!(c.owned.len(), 2);
    assert_eq!(
        c.beat(&mut group, 7),
        Err(ResponseError::RebalanceInProgress)
    );
    c.rejoin(&mut group, 8);
    assert!(c.generation > 1, "given up: c moves to the group's epoch");
    assert_eq!(c.owned.len(), 2);
    assert_eq!(c.beat(&mut group, 9), Ok(()));

    k.beat(&mut group, 10);
    assert_eq!(owned_by(&k).len(), 2);
    assert!(owned_by(&k).is_disjoint(&c.owned));
    assert_eq!(group.state(), "Stable");
}

/// A KIP-848 group whose member "k" owns every partition, and the classic member "c"
/// that joined it next.
fn kip848_then_classic() -> (ConsumerGroup, Client, ClassicClient) {
    let mut group = ConsumerGroup::default();
    let k = Client::join(&mut group, "k", 0);
    let mut c = ClassicClient {
        id: "c".to_string(),
        generation: -1,
        owned: BTreeSet::new(),
    };
    c.rejoin(&mut group, 1);
    (group, k, c)
}

#[test]
fn a_classic_member_takes_partitions_once_a_kip848_member_released_them() {
    let (mut group, mut k, mut c) = kip848_then_classic();
    assert_eq!(k.owned.len(), 4);
    assert!(c.owned.is_empty(), "k holds them all");
    assert_eq!(c.beat(&mut group, 2), Ok(()), "nothing to take yet");
    k.beat(&mut group, 3);
    k.beat(&mut group, 4);
    assert_eq!(k.owned.len(), 2);
    assert_eq!(
        c.beat(&mut group, 5),
        Err(ResponseError::RebalanceInProgress)
    );
    c.rejoin(&mut group, 6);
    assert_eq!(c.owned.len(), 2);
    assert!(c.owned.is_disjoint(&owned_by(&k)));
    assert_eq!(c.beat(&mut group, 7), Ok(()));
}

#[test]
fn the_last_kip848_member_leaving_leaves_a_classic_group_that_rebalances() {
    let (mut group, k, c) = kip848_then_classic();
    assert!(group.classic_members_only(&topics()).is_none());
    let epoch_before = group.group_epoch();
    assert_eq!(c.generation, epoch_before, "c is up to date");
    let leave = beat("k", LEAVE_EPOCH, &k.owned);
    assert_eq!(group.heartbeat(leave, &topics(), &LIMITS, 2).error, None);

    let members = group.classic_members_only(&topics()).unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].0.member_id, "c");
    // Converted without a rebalance (a static member's replacement that kept the
    // subscriptions), the group is stable and c up to date.
    let kept = members.clone();
    let mut stable = ClassicGroup::converted(epoch_before, kept, &CLASSIC_LIMITS, false, 3);
    assert_eq!(stable.state(), classic::State::Stable);
    assert_eq!(stable.heartbeat("c", None, c.generation, 3), Ok(()));
    // The coordinator converts at the epoch from before the leave, as Kafka does.
    let mut classic = ClassicGroup::converted(epoch_before, members, &CLASSIC_LIMITS, true, 3);
    assert_eq!(classic.state(), classic::State::PreparingRebalance);
    assert_eq!(classic.protocol(), Some("range"));
    assert_eq!(
        classic.heartbeat("c", None, c.generation, 3),
        Err(ResponseError::RebalanceInProgress),
        "c is told to rejoin, not fenced"
    );
    let step = classic.join(join_args("c", &BTreeSet::new()), &CLASSIC_LIMITS, 4);
    assert!(
        matches!(&step.replies[..], [Reply::Join(id, r)] if id == "c" && r.leader == "c"),
        "c rejoins, completes the rebalance and leads: {:?}",
        step.replies
    );
}

#[test]
fn classic_requests_that_do_not_fit_are_refused_as_kafka_refuses_them() {
    let (mut group, k, c) = kip848_then_classic();
    let stale = c.generation - 1;
    let topics = topics();
    assert_eq!(
        group.classic_heartbeat("c", None, stale, &topics, 2),
        Err(ResponseError::IllegalGeneration)
    );
    let sync = group.classic_sync("c", None, stale, (None, None), &topics, 2);
    assert_eq!(sync.error, Some(ResponseError::IllegalGeneration));
    let sync = group.classic_sync(
        "c",
        None,
        c.generation,
        (None, Some("roundrobin")),
        &topics,
        2,
    );
    assert_eq!(sync.error, Some(ResponseError::InconsistentGroupProtocol));
    assert_eq!(
        group.classic_heartbeat("k", None, k.epoch, &topics, 2),
        Err(ResponseError::UnknownMemberId),
        "k speaks KIP-848"
    );
    let reply = group.heartbeat(
        beat("c", c.generation, &BTreeSet::new()),
        &topics,
        &LIMITS,
        2,
    );
    assert_eq!(
        reply.error.map(|e| e.0),
        Some(ResponseError::UnknownMemberId)
    );

    let mut connect = join_args("x", &BTreeSet::new());
    connect.protocol_type = "connect".to_string();
    let reply = group.classic_join(&connect, &topics, &LIMITS, 2);
    assert_eq!(reply.error, Some(ResponseError::InconsistentGroupProtocol));
    let mut other_assignor = join_args("x", &BTreeSet::new());
    other_assignor.protocols[0].0 = "roundrobin".to_string();
    let reply = group.classic_join(&other_assignor, &topics, &LIMITS, 2);
    assert_eq!(reply.error, Some(ResponseError::InconsistentGroupProtocol));
    let mut new_v4 = join_args("", &BTreeSet::new());
    new_v4.require_known_member_id = true;
    new_v4.new_member_id = "fresh".to_string();
    let reply = group.classic_join(&new_v4, &topics, &LIMITS, 2);
    assert_eq!(reply.error, Some(ResponseError::MemberIdRequired));
    assert_eq!(reply.member_id, "fresh");
    assert!(
        group.members().all(|m| m.id != "fresh"),
        "no state for it yet"
    );

    assert_eq!(
        group.classic_leave(&[("nobody".into(), None), ("c".into(), None)]),
        vec![Err(ResponseError::UnknownMemberId), Ok(())]
    );
    assert!(group.members().all(|m| m.id != "c"));
}

#[test]
fn a_classic_member_that_never_syncs_is_removed_after_its_rebalance_timeout() {
    let mut group = ConsumerGroup::default();
    let _k = Client::join(&mut group, "k", 0);
    let reply = group.classic_join(&join_args("c", &BTreeSet::new()), &topics(), &LIMITS, 100);
    assert_eq!(reply.error, None);
    let due = 100 + REBALANCE_MS;
    assert_eq!(group.next_deadline(), Some(due));
    group.tick(due - 1);
    assert!(group.members().any(|m| m.id == "c"));
    group.tick(due);
    assert!(group.members().all(|m| m.id != "c"), "it never synced");
}

#[test]
fn a_classic_group_whose_subscriptions_cannot_be_read_is_not_upgraded() {
    let mut group = ClassicGroup::new();
    let mut odd = join_args("", &BTreeSet::new());
    odd.new_member_id = "odd".to_string();
    odd.protocols = vec![("range".to_string(), Bytes::from_static(b"\x00"))];
    group.join(odd, &CLASSIC_LIMITS, 0);
    assert_eq!(group.members().count(), 1);
    let refused = ConsumerGroup::from_classic(&group, &topics(), 1).unwrap_err();
    assert!(refused.contains("member odd's subscription"), "{refused}");
}

#[test]
fn a_kip848_static_member_takes_over_a_classic_one_under_its_instance_id() {
    let classic = {
        let mut group = ClassicGroup::new();
        let mut first = join_args("", &BTreeSet::new());
        first.new_member_id = "c".to_string();
        first.instance_id = Some("i-1".to_string());
        group.join(first, &CLASSIC_LIMITS, 0);
        let all =
            crate::client::group::encode_assignment(&vec![("orders".into(), vec![0, 1, 2, 3])])
                .unwrap();
        group.sync(
            "c",
            Some("i-1"),
            1,
            None,
            None,
            vec![("c".to_string(), all)],
            1,
        );
        group
    };
    let mut group = ConsumerGroup::from_classic(&classic, &topics(), 2).unwrap();
    let mut args = join("k", &["orders"]);
    args.instance_id = Some("i-1".to_string());
    let reply = group.heartbeat(args, &topics(), &LIMITS, 3);
    assert_eq!(
        reply.error, None,
        "a classic member's instance id is released at once"
    );
    let k = group.members().find(|m| m.id == "k").unwrap();
    assert!(k.classic.is_none(), "it speaks KIP-848 now");
    assert_eq!(
        reply.assignment.map(|a| a.len()),
        Some(4),
        "with the classic member's partitions"
    );
    assert!(group.members().all(|m| m.id != "c"));
    assert!(group.classic_members_only(&topics()).is_none());
}
