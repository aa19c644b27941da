//! The classic group machine driven by hand with a fake clock.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::*;

/// OffsetCommit's current version.
const V9: crate::group::CommitKind = crate::group::CommitKind::Offsets { version: 9 };

const SESSION: i64 = 10_000;
const REBALANCE: i64 = 30_000;

fn limits(initial_delay_ms: i64) -> Limits {
    Limits {
        session_timeout_ms_min: 1_000,
        session_timeout_ms_max: 60_000,
        initial_rebalance_delay_ms: initial_delay_ms,
        members_max: 10,
    }
}

fn args(member_id: &str, new_id: &str, protocols: &[&str]) -> JoinArgs {
    let owner = if member_id.is_empty() {
        new_id
    } else {
        member_id
    };
    JoinArgs {
        member_id: member_id.to_string(),
        instance_id: None,
        client_id: "client".to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".to_string(),
        protocols: protocols
            .iter()
            .map(|p| (p.to_string(), Bytes::from(format!("{owner}:{p}"))))
            .collect(),
        require_known_member_id: true,
        new_member_id: new_id.to_string(),
    }
}

fn joined(replies: &[Reply], id: &str) -> Option<JoinReply> {
    replies.iter().find_map(|r| match r {
        Reply::Join(to, reply) if to == id => Some(reply.clone()),
        _ => None,
    })
}

fn synced(replies: &[Reply], id: &str) -> Option<SyncReply> {
    replies.iter().find_map(|r| match r {
        Reply::Sync(to, reply) if to == id => Some(reply.clone()),
        _ => None,
    })
}

/// Joins a new member the way v4+ clients do: learn the id, then join with it.
fn join_new(group: &mut ClassicGroup, id: &str, now: i64) -> Step<JoinReply> {
    let first = group.join(args("", id, &["range"]), &limits(0), now);
    match first.answer {
        Answer::Now(reply) => {
            assert_eq!(reply.error, Some(ResponseError::MemberIdRequired));
            assert_eq!(reply.member_id, id);
        }
        Answer::Later(_) => panic!("a new member must learn its id first"),
    }
    let second = group.join(args(id, "unused", &["range"]), &limits(0), now);
    assert_eq!(second.answer, Answer::Later(id.to_string()));
    second
}

/// A stable group of members `ids` (the first leads) at generation `ids.len()`.
fn stable_group(ids: &[&str]) -> ClassicGroup {
    let mut group = ClassicGroup::new();
    for (i, id) in ids.iter().enumerate() {
        join_new(&mut group, id, 0);
        // Everyone already in rejoins for the rebalance the newcomer started.
        let mut replies = Vec::new();
        for earlier in &ids[..i] {
            let step = group.join(args(earlier, "unused", &["range"]), &limits(0), 0);
            replies.extend(step.replies);
        }
        if i > 0 {
            assert!(joined(&replies, id).is_some(), "{id} joined");
        }
    }
    assert_eq!(group.state(), State::CompletingRebalance);
    let assignments = ids
        .iter()
        .map(|id| (id.to_string(), Bytes::from(format!("for {id}"))))
        .collect();
    for id in ids.iter().skip(1) {
        let step = group.sync(id, None, group.generation(), None, None, Vec::new(), 0);
        assert_eq!(step.answer, Answer::Later(id.to_string()));
    }
    let leader = ids[0];
    let step = group.sync(leader, None, group.generation(), None, None, assignments, 0);
    assert_eq!(group.state(), State::Stable);
    for id in ids {
        let reply = synced(&step.replies, id).expect("every member gets its assignment");
        assert_eq!(reply.assignment, Bytes::from(format!("for {id}")));
    }
    group
}

#[test]
fn first_member_learns_its_id_then_leads_generation_one() {
    let mut group = ClassicGroup::new();
    let step = join_new(&mut group, "a", 0);
    let reply = joined(&step.replies, "a").expect("the join completes at once");
    assert_eq!(reply.error, None);
    assert_eq!(reply.generation, 1);
    assert_eq!(reply.leader, "a");
    assert_eq!(reply.protocol_name.as_deref(), Some("range"));
    assert_eq!(reply.members.len(), 1);
    assert_eq!(reply.members[0].metadata, Bytes::from("a:range"));
    assert_eq!(group.state(), State::CompletingRebalance);
}

#[test]
fn second_member_triggers_a_rebalance_that_waits_for_the_first() {
    let mut group = stable_group(&["a"]);
    join_new(&mut group, "b", 0);
    assert_eq!(group.state(), State::PreparingRebalance);
    assert_eq!(
        group.heartbeat("a", None, 1, 5),
        Err(ResponseError::RebalanceInProgress)
    );
    let step = group.join(args("a", "unused", &["range"]), &limits(0), 6);
    let to_a = joined(&step.replies, "a").expect("a rejoined");
    let to_b = joined(&step.replies, "b").expect("b waited for a");
    assert_eq!(to_a.generation, 2);
    assert_eq!(to_a.leader, "a");
    assert_eq!(to_a.members.len(), 2, "the leader sees every member");
    assert!(to_b.members.is_empty(), "followers see no members");
    // Until the leader syncs, offset commits wait; transactional ones do not (Kafka).
    assert_eq!(group.state(), State::CompletingRebalance);
    assert_eq!(
        group.check_commit("a", None, 2, V9, 7),
        Err(ResponseError::RebalanceInProgress)
    );
    let txn = crate::group::CommitKind::Transactional;
    assert_eq!(group.check_commit("a", None, 2, txn, 7), Ok(()));
}

#[test]
fn stale_generations_and_strangers_are_fenced() {
    let mut group = stable_group(&["a", "b"]);
    assert_eq!(group.heartbeat("a", None, 2, 1), Ok(()));
    assert_eq!(
        group.heartbeat("a", None, 1, 1),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        group.heartbeat("zed", None, 2, 1),
        Err(ResponseError::UnknownMemberId)
    );
    let step = group.sync("a", None, 1, None, None, Vec::new(), 1);
    assert_eq!(
        step.answer,
        Answer::Now(SyncReply::error(ResponseError::IllegalGeneration))
    );
    assert_eq!(
        group.check_commit("b", None, 1, V9, 1),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(group.check_commit("b", None, 2, V9, 1), Ok(()));
    assert_eq!(
        group.check_commit("", None, -1, V9, 1),
        Err(ResponseError::UnknownMemberId),
        "admin commits wait for an empty group"
    );
    // A TxnOffsetCommit naming no member is accepted whatever the group holds.
    let txn = crate::group::CommitKind::Transactional;
    assert_eq!(group.check_commit("", None, -1, txn, 1), Ok(()));
    assert_eq!(
        group.check_commit("b", None, 1, txn, 1),
        Err(ResponseError::IllegalGeneration)
    );
}

#[test]
fn a_silent_member_expires_and_its_partitions_move() {
    let mut group = stable_group(&["a", "b"]);
    let mut now = 0;
    // a keeps heartbeating; b says nothing.
    while now < SESSION - 1000 {
        now += 3000;
        assert_eq!(group.heartbeat("a", None, 2, now), Ok(()));
    }
    assert_eq!(group.next_deadline(), Some(SESSION));
    let replies = group.tick(&limits(0), SESSION);
    assert!(replies.is_empty());
    assert_eq!(group.state(), State::PreparingRebalance);
    assert_eq!(group.members().count(), 1);
    let step = group.join(args("a", "unused", &["range"]), &limits(0), SESSION + 1);
    let reply = joined(&step.replies, "a").expect("a alone completes the rebalance");
    assert_eq!(reply.generation, 3);
    assert_eq!(reply.members.len(), 1);
}

#[test]
fn members_that_do_not_rejoin_are_dropped_at_the_rebalance_timeout() {
    let mut group = stable_group(&["a", "b"]);
    let step = group.join(args("a", "unused", &["range", "roundrobin"]), &limits(0), 0);
    assert_eq!(step.answer, Answer::Later("a".to_string()));
    // b heartbeats (REBALANCE_IN_PROGRESS) but never rejoins.
    let mut now = 0;
    while now + 3000 < REBALANCE {
        now += 3000;
        assert_eq!(
            group.heartbeat("b", None, 2, now),
            Err(ResponseError::RebalanceInProgress)
        );
    }
    assert!(group.tick(&limits(0), REBALANCE - 1).is_empty());
    let replies = group.tick(&limits(0), REBALANCE);
    let reply = joined(&replies, "a").expect("the rebalance ends without b");
    assert_eq!(reply.members.len(), 1);
    assert_eq!(group.members().count(), 1);
}

#[test]
fn a_leader_that_never_syncs_restarts_the_rebalance() {
    let mut group = ClassicGroup::new();
    let quick = |member: &str, new_id: &str| JoinArgs {
        rebalance_timeout_ms: 5_000,
        ..args(member, new_id, &["range"])
    };
    group.join(quick("", "a"), &limits(0), 0);
    group.join(quick("a", ""), &limits(0), 0);
    group.join(quick("", "b"), &limits(0), 0);
    group.join(quick("b", ""), &limits(0), 0);
    let step = group.join(quick("a", ""), &limits(0), 0);
    assert!(joined(&step.replies, "b").is_some());
    let step = group.sync("b", None, group.generation(), None, None, Vec::new(), 1);
    assert_eq!(step.answer, Answer::Later("b".to_string()));
    assert!(group.tick(&limits(0), 4_999).is_empty());
    let replies = group.tick(&limits(0), 5_000);
    let to_b = synced(&replies, "b").expect("b's sync is answered");
    assert_eq!(to_b.error, Some(ResponseError::RebalanceInProgress));
    let left: Vec<&str> = group.members().map(|m| m.id.as_str()).collect();
    assert_eq!(left, ["b"]);
}

#[test]
fn leaving_rebalances_and_the_last_leaves_an_empty_group() {
    let mut group = stable_group(&["a", "b"]);
    let step = group.leave(&[("b".to_string(), None)], &limits(0), 1);
    assert_eq!(step.answer, Answer::Now(vec![Ok(())]));
    assert_eq!(group.state(), State::PreparingRebalance);
    let step = group.leave(
        &[("a".to_string(), None), ("zed".to_string(), None)],
        &limits(0),
        2,
    );
    assert_eq!(
        step.answer,
        Answer::Now(vec![Ok(()), Err(ResponseError::UnknownMemberId)])
    );
    assert_eq!(group.state(), State::Empty);
    assert_eq!(
        group.protocol_type(),
        Some("consumer"),
        "an empty group keeps its type"
    );
    assert_eq!(group.check_commit("", None, -1, V9, 3), Ok(()));
    // So does one with a member id but no generation (librdkafka after assign()).
    assert_eq!(group.check_commit("self-assigned", None, -1, V9, 3), Ok(()));
}

#[test]
fn a_static_member_restarting_keeps_its_assignment_without_a_rebalance() {
    let mut group = ClassicGroup::new();
    let mut join = args("", "s1", &["range"]);
    join.instance_id = Some("instance-1".to_string());
    let step = group.join(join.clone(), &limits(0), 0);
    assert_eq!(
        step.answer,
        Answer::Later("s1".to_string()),
        "no id round trip"
    );
    group.sync(
        "s1",
        Some("instance-1"),
        1,
        None,
        None,
        vec![("s1".into(), Bytes::from("p0"))],
        0,
    );
    assert_eq!(group.state(), State::Stable);

    join.new_member_id = "s2".to_string();
    let step = group.join(join, &limits(0), 100);
    let Answer::Now(reply) = step.answer else {
        panic!("a stable static member is answered at once");
    };
    assert_eq!((reply.member_id.as_str(), reply.generation), ("s2", 1));
    assert_eq!(group.state(), State::Stable);
    assert_eq!(
        group.heartbeat("s1", Some("instance-1"), 1, 101),
        Err(ResponseError::FencedInstanceId)
    );
    let step = group.sync("s2", Some("instance-1"), 1, None, None, Vec::new(), 102);
    assert_eq!(
        step.answer,
        Answer::Now(SyncReply {
            error: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignment: Bytes::from("p0"),
        })
    );
}

#[test]
fn the_initial_delay_holds_the_first_rebalance() {
    let mut group = ClassicGroup::new();
    group.join(args("", "a", &["range"]), &limits(3000), 0);
    let step = group.join(args("a", "unused", &["range"]), &limits(3000), 0);
    assert!(step.replies.is_empty(), "the first join waits for company");
    assert_eq!(group.next_deadline(), Some(3000));
    assert!(group.tick(&limits(3000), 2999).is_empty());
    let replies = group.tick(&limits(3000), 3000);
    assert_eq!(joined(&replies, "a").map(|r| r.generation), Some(1));
}

#[test]
fn protocols_must_match_the_group() {
    let mut group = stable_group(&["a"]);
    let mut other = args("", "x", &["roundrobin"]);
    let step = group.join(other.clone(), &limits(0), 0);
    assert_eq!(
        step.answer,
        Answer::Now(JoinReply::error(
            ResponseError::InconsistentGroupProtocol,
            ""
        ))
    );
    other.protocol_type = "connect".into();
    other.protocols = vec![("range".into(), Bytes::new())];
    let step = group.join(other, &limits(0), 0);
    assert!(matches!(
        step.answer,
        Answer::Now(JoinReply {
            error: Some(ResponseError::InconsistentGroupProtocol),
            ..
        })
    ));
    let mut bad = args("", "y", &["range"]);
    bad.session_timeout_ms = 100;
    let step = group.join(bad, &limits(0), 0);
    assert!(matches!(
        step.answer,
        Answer::Now(JoinReply {
            error: Some(ResponseError::InvalidSessionTimeout),
            ..
        })
    ));
}

#[test]
fn the_protocol_most_members_prefer_wins() {
    let mut group = ClassicGroup::new();
    group.join(args("", "a", &["range", "roundrobin"]), &limits(0), 0);
    group.join(args("a", "", &["range", "roundrobin"]), &limits(0), 0);
    group.join(args("", "b", &["roundrobin", "range"]), &limits(0), 0);
    group.join(args("b", "", &["roundrobin", "range"]), &limits(0), 0);
    group.join(args("", "c", &["roundrobin", "range"]), &limits(0), 0);
    group.join(args("c", "", &["roundrobin", "range"]), &limits(0), 0);
    let step = group.join(args("a", "", &["range", "roundrobin"]), &limits(0), 0);
    let reply = joined(&step.replies, "c").expect("complete");
    assert_eq!(reply.protocol_name.as_deref(), Some("roundrobin"));
}

#[test]
fn a_full_group_refuses_new_members() {
    let mut group = ClassicGroup::new();
    let small = Limits {
        members_max: 1,
        ..limits(0)
    };
    group.join(args("", "a", &["range"]), &small, 0);
    let step = group.join(args("", "b", &["range"]), &small, 0);
    assert!(matches!(
        step.answer,
        Answer::Now(JoinReply {
            error: Some(ResponseError::GroupMaxSizeReached),
            ..
        })
    ));
}
