"""Consumer groups with real clients: the classic protocol (confluent-kafka/librdkafka, kcat -G,
kafka-python), committed offsets that survive a restart, and the group Admin APIs.

Every broker here skips Kafka's 3 s initial rebalance delay and accepts short sessions, so a
rebalance takes a round trip and a dead member is noticed within seconds. Waits poll the
clients for a condition with a deadline; nothing sleeps.

The tests of group behaviour take a `protocol` parameter: each runs with librdkafka's classic
member and again with group.protocol=consumer (KIP-848), where the broker assigns.
"""

from __future__ import annotations

import signal
import struct
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka import ConsumerGroupTopicPartitions

import kafka_wire as kw
from clients import (CLIENT_TIMEOUT_S, _OPEN, admin, assert_broker_serves, base_conf, create_topic,
                     kcat_bin, producer, produce_all, unique_topic, wait_futures)

GROUP_OVERRIDES = {
    "group.initial.rebalance.delay.ms": 0,
    "group.min.session.timeout.ms": 1000,
    "num.partitions": 4,
}

SESSION_MS = 3000

# KIP-848 members' session and heartbeat are the broker's to set.
KIP848_OVERRIDES = {**GROUP_OVERRIDES, "group.consumer.session.timeout.ms": SESSION_MS,
                    "group.consumer.heartbeat.interval.ms": 500}


@pytest.fixture
def broker(start_broker):
    return start_broker(KIP848_OVERRIDES)


@pytest.fixture(params=["classic", "consumer"])
def protocol(request) -> str:
    return request.param


def group_consumer(broker, group: str, protocol: str = "classic", **extra) -> Consumer:
    conf = {
        "group.id": group,
        "group.protocol": protocol,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    if protocol == "classic":
        conf.update({"session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 500})
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    c = Consumer(base_conf(broker, **conf))
    _OPEN.append(c)
    return c


def fill(broker, topic: str, per_partition: int, partitions: int = 4) -> None:
    create_topic(broker, topic, partitions)
    records = [{"value": f"{p}-{i}".encode(), "partition": p}
               for p in range(partitions) for i in range(per_partition)]
    produce_all(producer(broker, acks="all"), topic, records)


def poll_until(consumers: list[Consumer], done, what: str, timeout: float = CLIENT_TIMEOUT_S) -> list[list]:
    """Polls every consumer, collecting (partition, offset, value) per consumer, until done(got)."""
    got: list[list] = [[] for _ in consumers]
    deadline = time.monotonic() + timeout
    while not done(got):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: got {[len(g) for g in got]} records, "
                                 f"assignments {[assigned(c) for c in consumers]}")
        for i, c in enumerate(consumers):
            m = c.poll(0.1)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            got[i].append((m.partition(), m.offset(), m.value()))
    return got


def assigned(c: Consumer) -> set[int]:
    return {tp.partition for tp in c.assignment()}


def total(n: int):
    return lambda got: sum(len(g) for g in got) >= n


def test_members_split_partitions_and_groups_read_independently(broker, protocol):
    topic = unique_topic("split")
    create_topic(broker, topic, 4)
    first, second = unique_topic("split-1"), unique_topic("split-2")
    a, b = group_consumer(broker, first, protocol), group_consumer(broker, first, protocol)
    for c in (a, b):
        c.subscribe([topic])
    # Records are produced once both members own partitions: a member alone at first owns
    # all four, and what it reads then would not be its share.
    poll_until([a, b], lambda g: len(assigned(a)) == 2 and len(assigned(b)) == 2, "both members' shares")
    records = [{"value": f"{p}-{i}".encode(), "partition": p} for p in range(4) for i in range(10)]
    produce_all(producer(broker, acks="all"), topic, records)
    got = poll_until([a, b], total(40), "40 records in group 1")
    assert assigned(a) | assigned(b) == {0, 1, 2, 3}
    assert not assigned(a) & assigned(b), "a partition went to two members"
    for c, mine in zip((a, b), got):
        assert {p for p, _, _ in mine} <= assigned(c), "a member read a partition it does not own"
    values = sorted(v for records in got for _, _, v in records)
    assert values == sorted(f"{p}-{i}".encode() for p in range(4) for i in range(10))

    other = group_consumer(broker, second, protocol)
    other.subscribe([topic])
    (alone,) = poll_until([other], total(40), "40 records in group 2")
    assert sorted(v for _, _, v in alone) == values
    assert assigned(other) == {0, 1, 2, 3}


@pytest.mark.parametrize("protocol,strategy", [
    ("classic", "range"), ("classic", "roundrobin"), ("classic", "cooperative-sticky"),
    ("consumer", "uniform"), ("consumer", "range")])
def test_assignors_give_each_partition_to_one_member(broker, protocol, strategy):
    topic = unique_topic("assign")
    fill(broker, topic, per_partition=5)
    group = unique_topic("g")
    key = "partition_assignment_strategy" if protocol == "classic" else "group_remote_assignor"
    members = [group_consumer(broker, group, protocol, **{key: strategy}) for _ in range(3)]
    for c in members:
        c.subscribe([topic])
    poll_until(members, lambda g: total(20)(g) and sum(len(assigned(c)) for c in members) == 4
               and all(assigned(c) for c in members[:2]), f"{strategy} assignment")
    owned = [assigned(c) for c in members]
    assert set().union(*owned) == {0, 1, 2, 3}
    assert sum(len(o) for o in owned) == 4, f"overlapping assignment {owned}"


def test_a_pattern_subscription_follows_topics_created_and_deleted(broker, protocol):
    """A subscription to `^prefix.*`: under the consumer protocol librdkafka sends the pattern
    and the broker resolves it (KIP-848's SubscribedTopicRegex, matched against whole names);
    under the classic protocol the client matches it against metadata. Either way the
    member owns exactly the matching topics' partitions, as topics come and go."""
    prefix = unique_topic("rx")
    first, second, other = f"{prefix}-a", f"{prefix}-b", f"x{prefix}-a"
    create_topic(broker, first, 2)
    create_topic(broker, other, 2)
    group = unique_topic("g")
    c = group_consumer(broker, group, protocol, topic_metadata_refresh_interval_ms=500)
    c.subscribe([f"^{prefix}-.*"])

    def owned():
        return {(tp.topic, tp.partition) for tp in c.assignment()}

    poll_until([c], lambda g: owned() == {(first, 0), (first, 1)}, "the first matching topic")
    create_topic(broker, second, 1)
    poll_until([c], lambda g: owned() == {(first, 0), (first, 1), (second, 0)}, "the new matching topic")
    wait_futures(admin(broker).delete_topics([first], operation_timeout=20))
    # The client reports the deleted topic's partitions as unknown until they leave the
    # assignment: those errors are expected, any other is not.
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while owned() != {(second, 0)}:
        assert time.monotonic() < deadline, f"the deleted topic is still assigned: {owned()}"
        m = c.poll(0.1)
        if m is not None and m.error() and m.error().code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise KafkaException(m.error())
    if protocol == "consumer":
        desc = admin(broker).describe_consumer_groups([group])[group].result(timeout=CLIENT_TIMEOUT_S)
        (member,) = desc.members
        assert {tp.topic for tp in member.assignment.topic_partitions} == {second}


def test_consumer_resumes_at_its_committed_offset_after_a_restart(broker, protocol):
    topic = unique_topic("resume")
    fill(broker, topic, per_partition=10, partitions=2)
    group = unique_topic("resume")
    c = group_consumer(broker, group, protocol)
    c.subscribe([topic])
    poll_until([c], total(20), "the first read")
    commits = [TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 7)]
    c.commit(offsets=commits, asynchronous=False)
    c.close()
    _OPEN.remove(c)

    broker.restart()
    # After a restart the group is back, empty, and still a consumer group (not a simple one).
    listed = {g.group_id: g for g in admin(broker).list_consumer_groups().result(timeout=CLIENT_TIMEOUT_S).valid}
    assert listed[group].state.name == "EMPTY" and not listed[group].is_simple_consumer_group
    assert listed[group].type.name == protocol.upper(), "the group came back with its type"
    again = group_consumer(broker, group, protocol)
    committed = again.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=CLIENT_TIMEOUT_S)
    assert [(tp.partition, tp.offset) for tp in committed] == [(0, 4), (1, 7)]
    again.subscribe([topic])
    (got,) = poll_until([again], total(6 + 3), "the rest after the restart")
    firsts = {p: min(o for q, o, _ in got if q == p) for p in (0, 1)}
    assert firsts == {0: 4, 1: 7}
    assert len(got) == 9


def test_a_dead_members_partitions_move_to_the_survivor(broker, protocol):
    """Under the consumer protocol, kcat's classic member joins the survivor's KIP-848 group
    (an online upgrade) and its session expires there."""
    topic = unique_topic("death")
    fill(broker, topic, per_partition=2)
    group = unique_topic("g")
    survivor = group_consumer(broker, group, protocol)
    survivor.subscribe([topic])
    poll_until([survivor], lambda g: assigned(survivor) == {0, 1, 2, 3}, "the first member's assignment")
    # kcat's balanced consumer joins, takes half, and is then killed without leaving.
    doomed = subprocess.Popen(
        [kcat_bin(), "-b", broker.bootstrap, "-X", "broker.address.family=v4", "-G", group,
         "-X", f"session.timeout.ms={SESSION_MS}", "-X", "heartbeat.interval.ms=500", "-q", topic],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        poll_until([survivor], lambda g: len(assigned(survivor)) == 2, "kcat to take two partitions")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    poll_until([survivor], lambda g: assigned(survivor) == {0, 1, 2, 3},
               "the dead member's partitions to come back", timeout=SESSION_MS / 1000 + CLIENT_TIMEOUT_S)


def test_static_member_rejoins_under_its_instance_id(broker, protocol):
    topic = unique_topic("static")
    fill(broker, topic, per_partition=1)
    group = unique_topic("g")
    session = {"session_timeout_ms": 30000} if protocol == "classic" else {}
    first = group_consumer(broker, group, protocol, group_instance_id="instance-1", **session)
    first.subscribe([topic])
    poll_until([first], lambda g: assigned(first) == {0, 1, 2, 3}, "the static member's assignment")
    first.close()  # a static member does not leave the group when it closes
    _OPEN.remove(first)
    second = group_consumer(broker, group, protocol, group_instance_id="instance-1", **session)
    second.subscribe([topic])
    poll_until([second], lambda g: assigned(second) == {0, 1, 2, 3}, "the restarted member's assignment")
    desc = admin(broker).describe_consumer_groups([group])[group].result(timeout=CLIENT_TIMEOUT_S)
    assert [m.group_instance_id for m in desc.members] == ["instance-1"]


def test_admin_lists_describes_alters_and_deletes_groups(broker, protocol):
    topic = unique_topic("admin")
    fill(broker, topic, per_partition=3, partitions=2)
    group = unique_topic("g")
    c = group_consumer(broker, group, protocol, client_id="describe-me")
    c.subscribe([topic])
    poll_until([c], total(6), "the group's records")
    a = admin(broker)

    listed = {g.group_id: g for g in a.list_consumer_groups().result(timeout=CLIENT_TIMEOUT_S).valid}
    assert group in listed and listed[group].state.name == "STABLE"
    desc = a.describe_consumer_groups([group])[group].result(timeout=CLIENT_TIMEOUT_S)
    # The classic leader's choice, or the broker's default server-side assignor.
    assignor = "range" if protocol == "classic" else "uniform"
    assert desc.state.name == "STABLE" and desc.partition_assignor == assignor
    assert desc.type.name == protocol.upper()
    (member,) = desc.members
    assert member.client_id == "describe-me" and member.host == "/127.0.0.1"
    assert sorted(tp.partition for tp in member.assignment.topic_partitions) == [0, 1]

    err = a.delete_consumer_groups([group])[group].exception(timeout=CLIENT_TIMEOUT_S)
    assert err is not None and err.args[0].code() == KafkaError.NON_EMPTY_GROUP
    c.close()
    _OPEN.remove(c)
    listed = {g.group_id: g for g in a.list_consumer_groups().result(timeout=CLIENT_TIMEOUT_S).valid}
    assert listed[group].state.name == "EMPTY"
    assert not listed[group].is_simple_consumer_group, "an empty consumer group keeps its protocol type"

    # An admin tool may commit for an empty group; the committed offsets read back.
    wanted = [TopicPartition(topic, 0, 1), TopicPartition(topic, 1, 2)]
    a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, wanted)])[group].result(
        timeout=CLIENT_TIMEOUT_S)
    listed = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(
        timeout=CLIENT_TIMEOUT_S)
    assert sorted((tp.partition, tp.offset) for tp in listed.topic_partitions) == [(0, 1), (1, 2)]

    a.delete_consumer_groups([group])[group].result(timeout=CLIENT_TIMEOUT_S)
    listed = {g.group_id for g in a.list_consumer_groups().result(timeout=CLIENT_TIMEOUT_S).valid}
    assert group not in listed
    unknown = a.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])])[group].result(timeout=CLIENT_TIMEOUT_S)
    assert [tp.offset for tp in unknown.topic_partitions] == [-1001], "nothing committed: OFFSET_INVALID"

    broker.restart()
    a = admin(broker)
    listed = {g.group_id for g in a.list_consumer_groups().result(timeout=CLIENT_TIMEOUT_S).valid}
    assert group not in listed, "a deleted group came back after a restart"


def test_shift_back_by_two_rereads_two_records_per_partition(broker, protocol):
    topic = unique_topic("shift")
    fill(broker, topic, per_partition=5)
    group = unique_topic("g")
    c = group_consumer(broker, group, protocol)
    c.subscribe([topic])
    poll_until([c], total(20), "everything")
    c.commit(asynchronous=False)
    c.close()
    _OPEN.remove(c)
    a = admin(broker)
    back = [TopicPartition(topic, p, 5 - 2) for p in range(4)]
    a.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, back)])[group].result(timeout=CLIENT_TIMEOUT_S)
    again = group_consumer(broker, group, protocol)
    again.subscribe([topic])
    (got,) = poll_until([again], total(8), "two records per partition")
    assert sorted((p, o) for p, o, _ in got) == [(p, o) for p in range(4) for o in (3, 4)]


def test_kafka_python_group_commits_and_offset_delete(broker):
    from kafka import KafkaAdminClient, KafkaConsumer
    from kafka.structs import TopicPartition as KTopicPartition

    topic = unique_topic("kpy")
    fill(broker, topic, per_partition=4, partitions=2)
    group = unique_topic("g")
    c = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=int(CLIENT_TIMEOUT_S * 1000))
    seen = []
    for m in c:
        seen.append((m.partition, m.offset))
        if len(seen) == 8:
            break
    c.commit()
    tps = [KTopicPartition(topic, 0), KTopicPartition(topic, 1)]
    assert [c.committed(tp) for tp in tps] == [4, 4]
    c.close()

    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        offsets = a.list_group_offsets(group)[group]
        assert {tp.partition: om.offset for tp, om in offsets.items()} == {0: 4, 1: 4}
        result = a.delete_group_offsets(group, [KTopicPartition(topic, 0)])
        assert [err.errno for err in result.values()] == [0], result
        offsets = a.list_group_offsets(group)[group]
        assert {tp.partition: om.offset for tp, om in offsets.items()} == {1: 4}
    finally:
        a.close()


# ------------------------------------------------------------------- bad input (raw frames)
HEARTBEAT, JOIN_GROUP, OFFSET_COMMIT, OFFSET_FETCH = 12, 11, 8, 9
ILLEGAL_GENERATION, INVALID_GROUP_ID, UNKNOWN_MEMBER_ID = 22, 24, 25
INVALID_SESSION_TIMEOUT, OFFSET_METADATA_TOO_LARGE = 26, 12


def offset_commit_v2(group: str, generation: int, member: str, topic: str, partition: int, offset: int,
                     metadata: str = "") -> bytes:
    partitions = kw.array([kw.i32(partition) + kw.i64(offset) + kw.string(metadata)])
    return (kw.string(group) + kw.i32(generation) + kw.string(member) + kw.i64(-1)
            + kw.array([kw.string(topic) + partitions]))


def commit_error(conn, body: bytes) -> int:
    rd = kw.Reader(conn.request(OFFSET_COMMIT, 2, body))
    topics = rd.array(lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i16()))))
    return topics[0][1][0][1]


def join_group_v0(group: str, session_ms: int, protocol_type: str = "consumer") -> bytes:
    protocols = kw.array([kw.string("range") + kw.nbytes(b"\x00\x00\x00\x00\x00\x00\x00\x00")])
    return kw.string(group) + kw.i32(session_ms) + kw.string("") + kw.string(protocol_type) + protocols


def test_group_requests_with_bad_input_get_kafkas_errors(broker):
    topic = unique_topic("bad")
    create_topic(broker, topic, 1)
    with kw.Conn(broker.bootstrap) as conn:
        rd = kw.Reader(conn.request(HEARTBEAT, 0, kw.string("no-such-group") + kw.i32(1) + kw.string("m")))
        assert rd.i16() == UNKNOWN_MEMBER_ID

        rd = kw.Reader(conn.request(JOIN_GROUP, 0, join_group_v0("", 10000)))
        assert rd.i16() == INVALID_GROUP_ID
        rd = kw.Reader(conn.request(JOIN_GROUP, 0, join_group_v0("g-bad", 10)))
        assert rd.i16() == INVALID_SESSION_TIMEOUT

        # A refused join leaves no group behind: a generation of a group that never was is illegal.
        assert commit_error(conn, offset_commit_v2("g-bad", 5, "ghost", topic, 0, 1)) == ILLEGAL_GENERATION
        assert commit_error(conn, offset_commit_v2("g-bad", -1, "", "no-such-topic", 0, 1)) == \
            kw.UNKNOWN_TOPIC_OR_PARTITION
        assert commit_error(conn, offset_commit_v2("g-bad", -1, "", topic, 7, 1)) == kw.UNKNOWN_TOPIC_OR_PARTITION
        assert commit_error(conn, offset_commit_v2("g-bad", -1, "", topic, 0, 1, "m" * 5000)) == \
            OFFSET_METADATA_TOO_LARGE
        # Kafka's bound counts the string's UTF-16 units, not its bytes.
        assert commit_error(conn, offset_commit_v2("g-bad", -1, "", topic, 0, 1, "é" * 3000)) == kw.NONE
        assert commit_error(conn, offset_commit_v2("g-bad", -1, "", topic, 0, 1)) == kw.NONE

        # OffsetFetch v1 for a group that never committed: offset -1, no error.
        body = kw.string("never-committed") + kw.array([kw.string(topic) + kw.array([kw.i32(0)])])
        rd = kw.Reader(conn.request(OFFSET_FETCH, 1, body))
        (name, ((partition, offset, metadata, error),)), = rd.array(
            lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i64(), q.string(), q.i16()))))
        assert (name, partition, offset, error) == (topic, 0, -1, kw.NONE)

        # Clients may not write to the offsets topic.
        batch = kw.encode_batch([kw.Record(b"k", b"v")])
        rd = kw.parse_produce_v3(conn.request(kw.PRODUCE, 3, kw.produce_v3("__consumer_offsets", 0, batch)))
        assert rd[("__consumer_offsets", 0)][0] == kw.INVALID_TOPIC_EXCEPTION

        # A join whose protocol list claims 2^31 entries is unreadable: the connection closes.
        hostile = kw.string("g-bad") + kw.i32(10000) + kw.string("") + kw.string("consumer") + struct.pack(">i", 2**31 - 1)
        conn.send(JOIN_GROUP, 0, hostile)
        conn.wait_closed()
    assert_broker_serves(broker)


# ------------------------------------------------------------------- KIP-848 (group.protocol=consumer)

DELETE_GROUPS, FIND_COORDINATOR = 42, 10
GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, MEMBER_ID_REQUIRED = 69, 68, 79


def delete_groups_v1(conn, groups: list[str]) -> list[tuple[str, int]]:
    rd = kw.Reader(conn.request(DELETE_GROUPS, 1, kw.array([kw.string(g) for g in groups])))
    rd.i32()
    return rd.array(lambda r: (r.string(), r.i16()))


def test_delete_groups_and_find_coordinator_follow_kafkas_rules(broker):
    """A group named twice is deleted and answered once; the empty id, which Kafka keeps for
    old clients, names a group like any other; a classic group whose only member has yet
    to join with the id MEMBER_ID_REQUIRED gave it is Empty, so it goes; FindCoordinator
    refuses the share-group key type, which shoal does not serve."""
    topic = unique_topic("del-groups")
    create_topic(broker, topic, 1)
    committed, pending = unique_topic("del-committed"), unique_topic("del-pending")
    with kw.Conn(broker.bootstrap) as conn:
        assert commit_error(conn, offset_commit_v2(committed, -1, "", topic, 0, 1)) == kw.NONE
        join_v4 = (kw.string(pending) + kw.i32(10000) + kw.i32(10000) + kw.string("") + kw.string("consumer")
                   + kw.array([kw.string("range") + kw.nbytes(b"\x00\x00\x00\x00\x00\x00\x00\x00")]))
        rd = kw.Reader(conn.request(JOIN_GROUP, 4, join_v4))
        rd.i32()
        assert rd.i16() == MEMBER_ID_REQUIRED
        assert delete_groups_v1(conn, [committed, committed, "", "no-such-group", pending]) == [
            (committed, kw.NONE), ("", GROUP_ID_NOT_FOUND), ("no-such-group", GROUP_ID_NOT_FOUND),
            (pending, kw.NONE)]
        assert delete_groups_v1(conn, [committed]) == [(committed, GROUP_ID_NOT_FOUND)]
        # The empty group id, kept for old clients: offsets are committed, fetched and
        # deleted under it as under any other; joining it is refused.
        assert commit_error(conn, offset_commit_v2("", -1, "", topic, 0, 7)) == kw.NONE
        body = kw.string("") + kw.array([kw.string(topic) + kw.array([kw.i32(0)])])
        rd = kw.Reader(conn.request(OFFSET_FETCH, 1, body))
        (_, ((_, offset, _, error),)), = rd.array(
            lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i64(), q.string(), q.i16()))))
        assert (offset, error) == (7, kw.NONE)
        assert kw.Reader(conn.request(JOIN_GROUP, 0, join_group_v0("", 10000))).i16() == INVALID_GROUP_ID
        assert delete_groups_v1(conn, [""]) == [("", kw.NONE)]
        assert delete_groups_v1(conn, [""]) == [("", GROUP_ID_NOT_FOUND)]
        for key_type, error in [(0, kw.NONE), (1, kw.NONE), (2, kw.INVALID_REQUEST)]:
            rd = kw.Reader(conn.request(FIND_COORDINATOR, 1, kw.string("key") + kw.i8(key_type)))
            rd.i32()
            assert rd.i16() == error, key_type


DOOMED_MEMBER = """
import sys
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "group.protocol": "consumer",
              "broker.address.family": "v4"})
c.subscribe([sys.argv[3]])
while True:
    c.poll(0.1)
"""


def kip848_consumer(broker, group: str, **extra) -> Consumer:
    conf = {"group.id": group, "group.protocol": "consumer", "auto.offset.reset": "earliest",
            "enable.auto.commit": False}
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    c = Consumer(base_conf(broker, **conf))
    _OPEN.append(c)
    return c


def test_kip848_members_split_commit_and_a_dead_one_is_replaced(start_broker):
    import sys

    broker = start_broker(KIP848_OVERRIDES)
    topic = unique_topic("kip848")
    create_topic(broker, topic, 4)
    group = unique_topic("g")
    a, b = kip848_consumer(broker, group), kip848_consumer(broker, group)
    for c in (a, b):
        c.subscribe([topic])
    # Records are produced once the split is done: a first member alone owns all four
    # partitions, and without commits the next owner would read them again.
    poll_until([a, b], lambda g: len(assigned(a)) == 2 and len(assigned(b)) == 2,
               "two KIP-848 members to split four partitions")
    assert assigned(a) | assigned(b) == {0, 1, 2, 3}
    records = [{"value": f"{p}-{i}".encode(), "partition": p} for p in range(4) for i in range(5)]
    produce_all(producer(broker, acks="all"), topic, records)
    got = poll_until([a, b], total(20), "the twenty records")
    assert sorted(v for records in got for _, _, v in records) == sorted(r["value"] for r in records)
    for c, mine in zip((a, b), got):
        assert {p for p, _, _ in mine} <= assigned(c), "a member read a partition it does not own"

    desc = admin(broker).describe_consumer_groups([group])[group].result(timeout=CLIENT_TIMEOUT_S)
    assert desc.type.name == "CONSUMER" and len(desc.members) == 2
    listed = {g.group_id: g for g in admin(broker).list_consumer_groups().result(timeout=CLIENT_TIMEOUT_S).valid}
    assert listed[group].type.name == "CONSUMER"

    a.commit(asynchronous=False)
    committed = a.committed([TopicPartition(topic, p) for p in sorted(assigned(a))], timeout=CLIENT_TIMEOUT_S)
    assert [tp.offset for tp in committed] == [5, 5]

    b.close()
    _OPEN.remove(b)
    poll_until([a], lambda g: assigned(a) == {0, 1, 2, 3}, "the leaver's partitions to move")

    doomed = subprocess.Popen([sys.executable, "-c", DOOMED_MEMBER, broker.bootstrap, group, topic])
    try:
        poll_until([a], lambda g: len(assigned(a)) == 2, "a second member to take two partitions")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    poll_until([a], lambda g: assigned(a) == {0, 1, 2, 3}, "the dead member's partitions to come back",
               timeout=SESSION_MS / 1000 + CLIENT_TIMEOUT_S)


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_a_consumer_that_assigns_its_partitions_commits_to_an_empty_group(broker, protocol):
    """assign() and commit, no subscription: librdkafka commits with generation -1 and,
    under the consumer protocol, its own member id. Kafka accepts that while the group
    has no members (or does not exist yet), and so must shoal."""
    t, group = unique_topic("assigned"), unique_topic("g")
    create_topic(broker, t, 1)
    c = Consumer(base_conf(broker, **{"group.id": group, "group.protocol": protocol,
                                      "enable.auto.commit": False}))
    try:
        c.assign([TopicPartition(t, 0, 0)])
        for offset in (5, 7):
            [done] = c.commit(offsets=[TopicPartition(t, 0, offset)], asynchronous=False)
            assert done.error is None, done.error
        [committed] = c.committed([TopicPartition(t, 0)], timeout=CLIENT_TIMEOUT_S)
        assert committed.offset == 7
    finally:
        c.close()


def test_kip848_static_member_keeps_its_instance_id_until_it_leaves(broker):
    """Under the consumer protocol a second member claiming a static member's
    group.instance.id while it is in the group gets UNRELEASED_INSTANCE_ID (Kafka's new
    coordinator does not fence the holder); closed, the holder only steps out (epoch -2),
    and its successor under the same id gets its whole assignment."""
    topic = unique_topic("static848")
    fill(broker, topic, per_partition=1)
    group = unique_topic("g")
    first = kip848_consumer(broker, group, group_instance_id="instance-1")
    first.subscribe([topic])
    poll_until([first], lambda g: assigned(first) == {0, 1, 2, 3}, "the static member's assignment")
    rival = kip848_consumer(broker, group, group_instance_id="instance-1")
    rival.subscribe([topic])
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    refused = None
    while refused is None and time.monotonic() < deadline:
        poll_until([first], lambda g: True, "a poll")
        m = rival.poll(0.2)
        if m is not None and m.error() is not None:
            refused = m.error()
    assert refused is not None, "the rival was never refused"
    # librdkafka makes it fatal and names it by its description (error 111's).
    assert refused.code() == KafkaError._FATAL, refused
    assert "The instance ID is still used by another member" in refused.str(), refused
    assert assigned(first) == {0, 1, 2, 3}
    rival.close()
    _OPEN.remove(rival)
    first.close()
    _OPEN.remove(first)
    second = kip848_consumer(broker, group, group_instance_id="instance-1")
    second.subscribe([topic])
    poll_until([second], lambda g: assigned(second) == {0, 1, 2, 3}, "the successor's assignment")


def test_kip848_heartbeat_bad_input(broker):
    """Kafka's checks of a ConsumerGroupHeartbeat's fields (INVALID_REQUEST, with its
    messages), then of the member and its epoch, each in Kafka's words."""
    from kafka_wire import compact_array, compact_string, uvarint

    CONSUMER_GROUP_HEARTBEAT = 68
    FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER, INVALID_REQUEST = 110, 25, 42
    EMPTY, NULL = compact_array([]), uvarint(0)

    def heartbeat(member: str, epoch: int, topics: list[str] | None, owned: bytes = EMPTY,
                  rebalance_ms: int = 5000, instance: str | None = None, version: int = 0,
                  group: str = "g-848", regex: str | None = None):
        names = compact_array([compact_string(t) for t in topics]) if topics is not None else NULL
        regex = compact_string(regex) if version >= 1 else b""
        body = (compact_string(group) + compact_string(member) + kw.i32(epoch) + compact_string(instance)
                + compact_string(None) + kw.i32(rebalance_ms) + names + regex + compact_string(None) + owned
                + uvarint(0))
        rd = kw.Reader(conn.request(CONSUMER_GROUP_HEARTBEAT, version, body, flexible=True))
        rd.i32()  # throttle
        code = rd.i16()
        return code, rd.compact_string(), rd

    def refused(*args, **kwargs) -> str:
        code, message, _ = heartbeat(*args, **kwargs)
        assert code == INVALID_REQUEST, (code, message)
        return message

    with kw.Conn(broker.bootstrap) as conn:
        assert refused("", 0, None) == \
            "Either SubscribedTopicNames or SubscribedTopicRegex must be non-null when (re-)joining."
        assert refused("", 0, ["t"], owned=NULL) == "TopicPartitions must be empty when (re-)joining."
        assert refused("", 0, ["t"], rebalance_ms=-1) == "RebalanceTimeoutMs must be provided in first request."
        assert refused("m", -2, None, owned=NULL) == "InstanceId can't be null."
        assert refused("m", -3, None, owned=NULL) == "MemberEpoch is invalid."
        assert refused("", 3, ["t"]) == "MemberId can't be empty."
        assert refused("", 0, ["t"], version=1) == "MemberId can't be empty.", "v1 members name themselves"
        assert refused("m", 0, ["t"], instance=" ") == "InstanceId can't be empty."
        assert refused("m", 0, ["t"], group=" ") == "GroupId can't be empty."
        assert heartbeat("ghost", 3, ["t"])[:2] == (UNKNOWN_MEMBER, "Member ghost is not a member of group g-848.")
        assert heartbeat("m", 0, None, version=1, regex="a(")[:2] == (
            128, "SubscribedTopicRegex `a(` is not a valid regular expression: unclosed group.")
        code, _, rd = heartbeat("", 0, ["t"])
        assert code == kw.NONE
        member = rd.compact_string()
        epoch = rd.i32()
        assert member and epoch > 0
        assert heartbeat(member, epoch + 7, ["t"])[:2] == (
            FENCED_MEMBER_EPOCH, f"The consumer group member has a greater member epoch ({epoch + 7}) than the one "
            f"known by the group coordinator ({epoch}). The member must abandon all its partitions and rejoin.")

        # The offset APIs check a KIP-848 member as Kafka does: OffsetFetch v9 its id and
        # epoch (a fetch naming no member is anyone's), OffsetCommit its version.
        def fetch_error(member_id: str | None, member_epoch: int) -> int:
            body = (compact_array([compact_string("g-848") + compact_string(member_id) + kw.i32(member_epoch)
                                   + NULL + uvarint(0)]) + b"\x00" + uvarint(0))
            rd = kw.Reader(conn.request(9, 9, body, flexible=True))
            rd.i32()  # throttle
            assert rd.uvarint() == 2, "one group"
            assert rd.compact_string() == "g-848"
            assert rd.uvarint() == 1, "no topics"
            return rd.i16()

        assert fetch_error(None, -1) == kw.NONE
        assert fetch_error(member, epoch) == kw.NONE
        assert fetch_error(member, epoch - 1) == 113, "STALE_MEMBER_EPOCH"
        assert fetch_error("ghost", epoch) == UNKNOWN_MEMBER
        partitions = compact_array([kw.i32(0) + kw.i64(5) + kw.i32(-1) + compact_string("") + uvarint(0)])
        body = (compact_string("g-848") + kw.i32(epoch) + compact_string(member) + compact_string(None)
                + compact_array([compact_string("t") + partitions + uvarint(0)]) + uvarint(0))
        rd = kw.Reader(conn.request(8, 8, body, flexible=True))
        rd.i32()  # throttle
        assert rd.uvarint() == 2 and rd.compact_string() == "t"
        assert rd.uvarint() == 2 and rd.i32() == 0
        assert rd.i16() == 35, "UNSUPPORTED_VERSION: a KIP-848 member commits with v9"
    assert_broker_serves(broker)


def test_a_refused_kip848_join_leaves_an_empty_classic_group_as_it_was(broker):
    """A ConsumerGroupHeartbeat that joins nothing (refused, or from an unknown member)
    does not turn a group that only holds offsets into a KIP-848 group, now or after a
    restart."""
    from kafka_wire import compact_array, compact_string, uvarint

    topic, group = unique_topic("keep"), unique_topic("g")
    create_topic(broker, topic, 1)
    admin(broker).alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 0)])])[group].result(timeout=CLIENT_TIMEOUT_S)

    def heartbeat(member: str, epoch: int, topics: list[str] | None) -> int:
        names = compact_array([compact_string(t) for t in topics]) if topics is not None else uvarint(0)
        body = (compact_string(group) + compact_string(member) + kw.i32(epoch) + compact_string(None)
                + compact_string(None) + kw.i32(5000) + names + compact_string(None) + uvarint(0) + uvarint(0))
        rd = kw.Reader(conn.request(68, 0, body, flexible=True))
        rd.i32()  # throttle
        return rd.i16()

    with kw.Conn(broker.bootstrap) as conn:
        assert heartbeat("", 0, None) == 42, "INVALID_REQUEST: a join names its subscription"
        assert heartbeat("ghost", 3, [topic]) == 25, "UNKNOWN_MEMBER_ID"

    def listing():
        listed = admin(broker).list_consumer_groups().result(timeout=CLIENT_TIMEOUT_S).valid
        return {g.group_id: g for g in listed}[group]

    assert (listing().type.name, listing().is_simple_consumer_group) == ("CLASSIC", True)
    broker.restart()
    assert (listing().type.name, listing().is_simple_consumer_group) == ("CLASSIC", True)


def test_lag_is_exported_per_group_and_partition(broker, protocol):
    import re
    import urllib.request

    topic = unique_topic("lag")
    create_topic(broker, topic, 2)
    hour_ago = int(time.time() * 1000) - 3_600_000
    records = [{"value": b"v", "partition": p, "timestamp": hour_ago + i} for p in (0, 1) for i in range(10)]
    produce_all(producer(broker, acks="all"), topic, records)
    group = unique_topic("g")
    c = group_consumer(broker, group, protocol)
    c.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 10)], asynchronous=False)
    m = re.search(r"shoal metrics: listening on (\S+)", broker.log_text())
    assert m, "the broker printed no metrics address"
    text = urllib.request.urlopen(f"http://{m.group(1)}/metrics", timeout=10).read().decode()

    def gauge(name: str, partition: int) -> float:
        labels = f'{{consumergroup="{group}",topic="{topic}",partition="{partition}"}}'
        found = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.M)
        assert found, f"{name}{labels} not exported"
        return float(found.group(1))

    assert [gauge("kafka_consumergroup_current_offset", p) for p in (0, 1)] == [4, 10]
    assert [gauge("kafka_consumergroup_lag", p) for p in (0, 1)] == [6, 0]
    # The oldest unconsumed record of partition 0 (offset 4) is an hour old; partition 1 has none.
    age = gauge("shoal_consumergroup_lag_seconds", 0)
    assert 3600 - 0.004 <= age < 3600 + CLIENT_TIMEOUT_S, age
    assert gauge("shoal_consumergroup_lag_seconds", 1) == 0

    # Offsets are the client's to choose: an absurd one must not break the scrape.
    with kw.Conn(broker.bootstrap) as conn:
        assert commit_error(conn, offset_commit_v2(group, -1, "", topic, 0, -2**63)) == kw.NONE
    text = urllib.request.urlopen(f"http://{m.group(1)}/metrics", timeout=10).read().decode()
    assert gauge("kafka_consumergroup_current_offset", 0) == -2**63

    # kafka_exporter's member count: none in the group that only committed, one in a
    # group whose consumer subscribed and got its assignment.
    joined = unique_topic("g")
    member = group_consumer(broker, joined)
    member.subscribe([topic])
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while not member.assignment() and time.monotonic() < deadline:
        member.poll(0.2)
    assert member.assignment(), "the consumer got no assignment"
    text = urllib.request.urlopen(f"http://{m.group(1)}/metrics", timeout=10).read().decode()

    def members(g: str) -> float:
        found = re.search(rf'^kafka_consumergroup_members{{consumergroup="{g}"}} (\S+)$', text, re.M)
        assert found, f"no member count for {g}"
        return float(found.group(1))

    assert (members(group), members(joined)) == (0, 1)
    assert_broker_serves(broker)
