"""Rows of the conformance docs (docs/conformance/) that no other test checked, each against
one real broker: topic admin (CreateTopics' authorization and name collisions, internal
topics' deletion, CreatePartitions, DeleteRecords, Metadata v8+), CreateAcls' hosts and
duplicates, DescribeConfigs' unknown types and v3 fields, the config APIs' validate_only,
Produce's producer mapping and error messages, ListOffsets' authorization, the transaction
APIs' authorization and checks (InitProducerId, AddOffsetsToTxn, EndTxn, WriteTxnMarkers,
ListTransactions' pattern, markers of deleted topics), and the offset APIs (a KIP-848
member's older epoch, TxnOffsetCommit's group rules, OffsetFetch and OffsetDelete).

Real clients (confluent-kafka) where one sends the request; raw frames (kafka_wire, and the
small encoders below) where none will, or where the answer's exact fields matter. Every
client connects over PLAINTEXT, so a secured broker sees it as User:ANONYMOUS."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, TopicCollection, TopicPartition
from confluent_kafka.admin import (AclOperation, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewPartitions, NewTopic, ResourceType)

import kafka_wire as kw
from clients import (admin, assert_broker_serves, base_conf, consumer, create_topic,
                     future_error, produce_all, produce_one_error, producer, topic_partitions, unique_topic,
                     wait_futures, watermarks)
from test_acls import (CREATE_ACLS, DENY, ME, PREFIXED, binding, cluster_acl, create, create_acls_v1, delete,
                       filt, group_acl, secured, topic_acl)
from test_admin_configs import broker_id, source
from test_admin_topics import topic_id
from test_transactions import add_partitions, end_txn, init_txn, read_committed, txn_producer

TIMEOUT_S = 30

# Error codes kafka_wire does not name.
NOT_ENOUGH_REPLICAS = 19
ILLEGAL_GENERATION = 22
INVALID_GROUP_ID = 24
GROUP_AUTHORIZATION_FAILED = 30
CLUSTER_AUTHORIZATION_FAILED = 31
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
STALE_MEMBER_EPOCH = 113
UNKNOWN_TOPIC_ID = 100
INVALID_REGULAR_EXPRESSION = 128

# API keys kafka_wire does not name.
OFFSET_COMMIT, OFFSET_FETCH, JOIN_GROUP, OFFSET_DELETE = 8, 9, 11, 47
ADD_OFFSETS_TO_TXN, WRITE_TXN_MARKERS = 25, 27
CONSUMER_GROUP_HEARTBEAT = 68

# Kafka's authorized-operations bit sets: bit n is the operation whose code is n.
OPERATIONS_NOT_REQUESTED = -(2**31)
READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE = 3, 4, 5, 6, 7, 8
CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE = 9, 10, 11, 12
TOPIC_OPERATIONS = {READ, WRITE, CREATE, DESCRIBE, DELETE, ALTER, DESCRIBE_CONFIGS, ALTER_CONFIGS}
CLUSTER_OPERATIONS = {CREATE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, ALTER, DESCRIBE}

NULL_ARRAY = kw.uvarint(0)  # a null compact array (or string)


def bits(operations: set[int]) -> int:
    return sum(1 << op for op in operations)


# ------------------------------------------------------- helpers: client calls and raw requests
def create_topics(b, names: list[str]) -> dict[str, int | None]:
    """Each topic's error code (None: created), from confluent-kafka's create_topics."""
    futures = admin(b).create_topics([NewTopic(name, 1, 1) for name in names], operation_timeout=20)
    return {name: (err and err.code()) for name, err in ((n, future_error(f)) for n, f in futures.items())}


def grow(b, names: list[str]) -> dict[str, int | None]:
    """Each topic's error code (None: grown) of a CreatePartitions to 2, from confluent-kafka."""
    futures = admin(b).create_partitions([NewPartitions(name, 2) for name in names], operation_timeout=20)
    return {name: (err and err.code()) for name, err in ((n, future_error(f)) for n, f in futures.items())}


def delete_records(b, deletions: list[tuple[str, int, int]]) -> dict[tuple[str, int], tuple[int, int]]:
    """DeleteRecords v0 of (topic, partition, offset): (topic, partition) -> (error, low watermark)."""
    topics = [kw.string(t) + kw.array([kw.i32(p) + kw.i64(offset)]) for t, p, offset in deletions]
    with kw.Conn(b.bootstrap) as c:
        rd = kw.Reader(c.request(kw.DELETE_RECORDS, 0, kw.array(topics) + kw.i32(10000)))
    rd.i32()  # throttle
    answers = rd.array(lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i64(), q.i16()))))
    return {(t, p): (error, low) for t, parts in answers for p, low, error in parts}


def metadata_request(version: int, topics: list[tuple[str | None, uuid.UUID | None]],
                     cluster_operations: bool = False, topic_operations: bool = False) -> bytes:
    """Metadata v10 to v12 of (name, id) entries (v11 dropped the cluster's authorized
    operations)."""
    entries = kw.compact_array([(tid or uuid.UUID(int=0)).bytes + kw.compact_string(name) + kw.EMPTY_TAGS
                                for name, tid in topics])
    cluster = kw.i8(int(cluster_operations)) if version <= 10 else b""
    return entries + kw.i8(0) + cluster + kw.i8(int(topic_operations)) + kw.EMPTY_TAGS


def parse_metadata(body: bytes, version: int) -> tuple[list[tuple[int, str | None, uuid.UUID, int]], int | None]:
    """([(error, name, topic id, authorized operations)], the cluster's operations (v10))."""
    rd = kw.Reader(body)
    rd.i32()  # throttle
    rd.compact_array(lambda r: (r.i32(), r.compact_string(), r.i32(), r.compact_string(), r.skip_tags()))
    rd.compact_string(), rd.i32()  # cluster id, controller

    def partition(r: kw.Reader):
        r.i16(), r.i32(), r.i32(), r.i32()
        for _ in range(3):
            r.compact_array(lambda q: q.i32())
        r.skip_tags()

    def topic(r: kw.Reader):
        error, name, tid = r.i16(), r.compact_string(), uuid.UUID(bytes=r._take(16))
        r.i8()  # is_internal
        r.compact_array(partition)
        operations = r.i32()
        r.skip_tags()
        return error, name, tid, operations

    topics = rd.compact_array(topic) or []
    cluster = rd.i32() if version <= 10 else None
    rd.skip_tags()
    assert rd.remaining() == 0, f"{rd.remaining()} bytes left in a Metadata v{version} answer"
    return topics, cluster


def metadata(b, version: int, topics, **flags):
    with kw.Conn(b.bootstrap) as c:
        return parse_metadata(c.request(kw.METADATA, version, metadata_request(version, topics, **flags),
                                        flexible=True), version)


def describe_configs_request(resources: list[tuple[int, str, list[str] | None]], version: int,
                             documentation: bool = False) -> bytes:
    """DescribeConfigs v1 to v3 (not flexible): (resource type, name, keys or None for all),
    without synonyms, with documentation when asked (v3)."""
    body = kw.array([kw.i8(rtype) + kw.string(name) + kw.array(None if keys is None else [kw.string(k) for k in keys])
                     for rtype, name, keys in resources]) + kw.i8(0)  # include_synonyms
    return body + kw.i8(int(documentation)) if version >= 3 else body  # include_documentation


def parse_describe_configs(body: bytes, version: int) -> list[tuple[int, int, str, dict[str, tuple]]]:
    """[(error, resource type, name, {key: (value, config_type)})]; v1 and v2 carry no
    config_type (None)."""
    rd = kw.Reader(body)
    rd.i32()  # throttle

    def config(r: kw.Reader):
        name, value = r.string(), r.string()
        r.i8(), r.i8(), r.i8()  # read_only, config_source, is_sensitive
        r.array(lambda q: (q.string(), q.string(), q.i8()))  # synonyms
        config_type = None
        if version >= 3:
            config_type = r.i8()
            # shoal keeps no documentation text: null, asked or not.
            assert r.string() is None, name
        return name, (value, config_type)

    def result(r: kw.Reader):
        error, _message, rtype, name = r.i16(), r.string(), r.i8(), r.string()
        return error, rtype, name, dict(r.array(config) or [])

    results = rd.array(result) or []
    assert rd.remaining() == 0, f"{rd.remaining()} bytes left in a DescribeConfigs v{version} answer"
    return results


def produce_body(tid: str | None, writes: list[tuple[str, int, bytes]], acks: int = -1) -> bytes:
    """Produce v3 to v8 of (topic, partition, batch); a topic named again gets its own entry."""
    topics = [kw.string(t) + kw.array([kw.i32(p) + kw.nbytes(batch)]) for t, p, batch in writes]
    return kw.string(tid) + kw.i16(acks) + kw.i32(10000) + kw.array(topics)


def txn_batch(pid: int, epoch: int, seq: int, value: bytes = b"v") -> bytes:
    return kw.encode_batch([kw.Record(None, value)], producer_id=pid, producer_epoch=epoch, base_sequence=seq,
                           attributes=0x10)


def init_producer_id_v3(c: kw.Conn, tid: str | None, producer_id: int, epoch: int) -> tuple[int, int, int]:
    """InitProducerId v3 (KIP-360: the producer id and epoch the client had): (error, id, epoch)."""
    body = kw.compact_string(tid) + kw.i32(60000) + kw.i64(producer_id) + kw.i16(epoch) + kw.EMPTY_TAGS
    rd = kw.Reader(c.request(kw.INIT_PRODUCER_ID, 3, body, flexible=True))
    rd.i32()  # throttle
    return rd.i16(), rd.i64(), rd.i16()


def init_producer_id(b, tid: str | None) -> int:
    with kw.Conn(b.bootstrap) as c:
        return kw.parse_init_producer_id_v0(c.request(kw.INIT_PRODUCER_ID, 0, kw.init_producer_id_v0(tid)))[0]


def add_offsets_to_txn(c: kw.Conn, tid: str, pid: int, epoch: int, group: str) -> int:
    body = kw.string(tid) + kw.i64(pid) + kw.i16(epoch) + kw.string(group)
    rd = kw.Reader(c.request(ADD_OFFSETS_TO_TXN, 0, body))
    rd.i32()  # throttle
    return rd.i16()


def write_txn_markers(b, pid: int, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """WriteTxnMarkers v1: one abort marker of producer `pid` (epoch 0) on each partition;
    (topic, partition) -> error."""
    topics = [kw.compact_string(t) + kw.compact_array([kw.i32(p)]) + kw.EMPTY_TAGS for t, p in partitions]
    marker = kw.i64(pid) + kw.i16(0) + kw.i8(0) + kw.compact_array(topics) + kw.i32(0) + kw.EMPTY_TAGS
    with kw.Conn(b.bootstrap) as c:
        rd = kw.Reader(c.request(WRITE_TXN_MARKERS, 1, kw.compact_array([marker]) + kw.EMPTY_TAGS, flexible=True))
    answers = rd.compact_array(lambda r: (r.i64(), r.compact_array(lambda q: (
        q.compact_string(), q.compact_array(lambda x: (x.i32(), x.i16(), x.skip_tags())), q.skip_tags())),
        r.skip_tags()))
    return {(t, p): error for _, topics, _ in answers for t, parts, _ in topics for p, error, _ in parts}


def list_transactions_v2(c: kw.Conn, pattern: str | None) -> tuple[int, list[str]]:
    """ListTransactions v2 with a transactional id pattern: (error, the ids listed)."""
    body = kw.compact_array([]) + kw.compact_array([]) + kw.i64(-1) + kw.compact_string(pattern) + kw.EMPTY_TAGS
    error, _, listed = kw.parse_list_transactions_v0(c.request(kw.LIST_TRANSACTIONS, 2, body, flexible=True))
    return error, sorted(tid for tid, _ in listed)


def txn_offset_commit(c: kw.Conn, version: int, tid: str, group: str, pid: int, epoch: int, topic: str,
                      offset: int, generation: int = -1, member: str = "") -> list[int]:
    """TxnOffsetCommit of one partition (0) of `topic`, at v0 or v3+ (flexible, with the
    group's generation and member): each partition's error."""
    if version >= 3:
        part = kw.i32(0) + kw.i64(offset) + kw.i32(-1) + kw.compact_string("") + kw.EMPTY_TAGS
        topics = kw.compact_array([kw.compact_string(topic) + kw.compact_array([part]) + kw.EMPTY_TAGS])
        body = (kw.compact_string(tid) + kw.compact_string(group) + kw.i64(pid) + kw.i16(epoch) + kw.i32(generation)
                + kw.compact_string(member) + kw.compact_string(None) + topics + kw.EMPTY_TAGS)
        rd = kw.Reader(c.request(kw.TXN_OFFSET_COMMIT, version, body, flexible=True))
        rd.i32()
        answers = rd.compact_array(lambda r: (r.compact_string(), r.compact_array(
            lambda q: (q.i32(), q.i16(), q.skip_tags())), r.skip_tags()))
        return [error for _, parts, _ in answers for _, error, _ in parts]
    part = kw.i32(0) + kw.i64(offset) + kw.string("")
    body = (kw.string(tid) + kw.string(group) + kw.i64(pid) + kw.i16(epoch)
            + kw.array([kw.string(topic) + kw.array([part])]))
    rd = kw.Reader(c.request(kw.TXN_OFFSET_COMMIT, version, body))
    rd.i32()
    answers = rd.array(lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i16()))))
    return [error for _, parts in answers for _, error in parts]


def offset_fetch_v9(c: kw.Conn, group: str, member: str | None, epoch: int,
                    topic: str) -> tuple[int, dict[int, tuple[int, int]]]:
    """OffsetFetch v9 of one group's partition 0 of `topic`, as `member` at `epoch`:
    (the group's error, {partition: (offset, error)})."""
    topics = kw.compact_array([kw.compact_string(topic) + kw.compact_array([kw.i32(0)]) + kw.EMPTY_TAGS])
    group_entry = kw.compact_string(group) + kw.compact_string(member) + kw.i32(epoch) + topics + kw.EMPTY_TAGS
    rd = kw.Reader(c.request(OFFSET_FETCH, 9, kw.compact_array([group_entry]) + kw.i8(0) + kw.EMPTY_TAGS,
                             flexible=True))
    rd.i32()  # throttle

    def partition(r: kw.Reader):
        index, offset = r.i32(), r.i64()
        r.i32(), r.compact_string()  # leader epoch, metadata
        error = r.i16()
        r.skip_tags()
        return index, (offset, error)

    def group_answer(r: kw.Reader):
        r.compact_string()
        topics = r.compact_array(lambda q: (q.compact_string(), q.compact_array(partition), q.skip_tags()))
        error = r.i16()
        r.skip_tags()
        return error, {i: answer for _, parts, _ in topics or [] for i, answer in parts}

    ((error, partitions),) = rd.compact_array(group_answer)
    return error, partitions


def consumer_heartbeat(c: kw.Conn, group: str, member: str, epoch: int, topics: list[str],
                       owned: list[tuple[uuid.UUID, list[int]]] | None) -> tuple[int, str, int, dict | None]:
    """ConsumerGroupHeartbeat v0: (error, member id, member epoch, {topic id: partitions} or None)."""
    owned_bytes = NULL_ARRAY if owned is None else kw.compact_array(
        [tid.bytes + kw.compact_array([kw.i32(p) for p in parts]) + kw.EMPTY_TAGS for tid, parts in owned])
    body = (kw.compact_string(group) + kw.compact_string(member) + kw.i32(epoch) + kw.compact_string(None)
            + kw.compact_string(None) + kw.i32(5000) + kw.compact_array([kw.compact_string(t) for t in topics])
            + kw.compact_string(None) + owned_bytes + kw.EMPTY_TAGS)
    rd = kw.Reader(c.request(CONSUMER_GROUP_HEARTBEAT, 0, body, flexible=True))
    rd.i32()  # throttle
    error, _message, member_id, member_epoch = rd.i16(), rd.compact_string(), rd.compact_string(), rd.i32()
    rd.i32()  # heartbeat interval
    assignment = None
    if rd.i8() >= 0:
        parts = rd.compact_array(lambda r: (uuid.UUID(bytes=r._take(16)), r.compact_array(lambda q: q.i32()),
                                            r.skip_tags()))
        rd.skip_tags()
        assignment = {tid: sorted(ps or []) for tid, ps, _ in parts or []}
    return error, member_id, member_epoch, assignment


def offset_commit_v9(c: kw.Conn, group: str, epoch: int, member: str, topic: str, partition: int) -> int:
    part = kw.i32(partition) + kw.i64(5) + kw.i32(-1) + kw.compact_string("") + kw.EMPTY_TAGS
    topics = kw.compact_array([kw.compact_string(topic) + kw.compact_array([part]) + kw.EMPTY_TAGS])
    body = (kw.compact_string(group) + kw.i32(epoch) + kw.compact_string(member) + kw.compact_string(None)
            + topics + kw.EMPTY_TAGS)
    rd = kw.Reader(c.request(OFFSET_COMMIT, 9, body, flexible=True))
    rd.i32()  # throttle
    ((_, ((_, error, _),), _),) = rd.compact_array(lambda r: (r.compact_string(), r.compact_array(
        lambda q: (q.i32(), q.i16(), q.skip_tags())), r.skip_tags()))
    return error


def offset_delete(c: kw.Conn, group: str, topic: str) -> tuple[int, list[tuple[str, int, int]]]:
    """OffsetDelete v0 of partition 0 of `topic`: (the group's error, [(topic, partition, error)])."""
    body = kw.string(group) + kw.array([kw.string(topic) + kw.array([kw.i32(0)])])
    rd = kw.Reader(c.request(OFFSET_DELETE, 0, body))
    error = rd.i16()
    rd.i32()  # throttle
    topics = rd.array(lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i16())))) or []
    return error, [(t, p, e) for t, parts in topics for p, e in parts]


def join_group_v0(group: str, protocol_type: str) -> bytes:
    protocols = kw.array([kw.string("p") + kw.nbytes(b"")])
    return kw.string(group) + kw.i32(10000) + kw.string("") + kw.string(protocol_type) + protocols


# ---------------------------------------------------------------------- topic admin
def test_create_topics_needs_create_on_the_cluster_or_on_each_topic_before_the_name_counts(start_broker):
    """CreateTopics: without CREATE on the cluster, each topic needs CREATE on itself, else
    TOPIC_AUTHORIZATION_FAILED, before its name is looked at (an invalid name or an
    existing topic is refused for authorization, not INVALID_TOPIC_EXCEPTION or
    TOPIC_ALREADY_EXISTS). CREATE on the cluster allows every topic, even one whose own
    ACLs deny CREATE."""
    b = secured(start_broker)
    denied = unique_topic("denied") + "-"
    existing, new, bad, open_topic = denied + "old", denied + "new", denied + "bad name!", unique_topic("open")
    create_topic(b, existing)
    # The cluster gets an ACL that does not grant CREATE (ALTER keeps our right to change
    # ACLs), so allow-everyone stops covering it; the denied prefix may be described.
    assert create(b, cluster_acl(AclOperation.ALTER), topic_acl(denied, AclOperation.CREATE, DENY, pattern=PREFIXED),
                  topic_acl(denied, AclOperation.DESCRIBE, pattern=PREFIXED)) == [None] * 3
    assert create_topics(b, [new, bad, existing, open_topic]) == {
        new: KafkaError.TOPIC_AUTHORIZATION_FAILED, bad: KafkaError.TOPIC_AUTHORIZATION_FAILED,
        existing: KafkaError.TOPIC_AUTHORIZATION_FAILED, open_topic: None}
    assert topic_partitions(b, new) is None and sorted(topic_partitions(b, open_topic)) == [0]
    # CREATE on the cluster: every topic passes authorization, and Kafka's own checks follow.
    assert create(b, cluster_acl(AclOperation.CREATE)) == [None]
    assert create_topics(b, [new, bad, existing]) == {
        new: None, bad: KafkaError.TOPIC_EXCEPTION, existing: KafkaError.TOPIC_ALREADY_EXISTS}
    assert sorted(topic_partitions(b, new)) == [0]


def test_a_name_that_differs_from_a_topics_only_by_dot_against_underscore_is_invalid(broker):
    """CreateTopics: a name that collides with an existing topic's once `.` and `_` are
    taken as one (Kafka's metric names would clash) is INVALID_TOPIC_EXCEPTION, either
    way round, and nothing is created; a name that differs otherwise is fine."""
    base = unique_topic("collide")
    create_topic(broker, f"{base}.dot")
    create_topic(broker, f"{base}_under")
    a = admin(broker)
    for name in (f"{base}_dot", f"{base}.under"):
        err = future_error(a.create_topics([NewTopic(name, 1, 1)])[name])
        assert err is not None and err.code() == KafkaError.TOPIC_EXCEPTION, (name, err)
        assert topic_partitions(broker, name) is None
    wait_futures(a.create_topics([NewTopic(f"{base}-dot", 1, 1)], operation_timeout=20))


def test_internal_topics_are_deleted_like_any_other(broker):
    """DeleteTopics: the broker deletes the internal topics (__consumer_offsets,
    __transaction_state) as it deletes any topic: only the tools refuse."""
    t = unique_topic("internal")
    create_topic(broker, t)
    c = consumer(broker)
    c.commit(offsets=[TopicPartition(t, 0, 1)], asynchronous=False)  # the offsets topic exists
    p = txn_producer(broker)
    p.init_transactions(TIMEOUT_S)  # the transaction state topic exists
    internal = ["__consumer_offsets", "__transaction_state"]
    listed = admin(broker).list_topics(timeout=TIMEOUT_S).topics
    assert set(internal) <= set(listed), sorted(listed)
    deleted = wait_futures(admin(broker).delete_topics(internal, operation_timeout=20))
    assert deleted == {name: None for name in internal}
    listed = admin(broker).list_topics(timeout=TIMEOUT_S).topics
    assert not set(internal) & set(listed), sorted(listed)
    assert_broker_serves(broker)


def test_create_partitions_needs_alter_on_the_topic_before_its_existence(start_broker):
    """CreatePartitions: without ALTER on the topic, TOPIC_AUTHORIZATION_FAILED, whether it
    exists or not (ALTER on the cluster does not stand in for it); a topic that does not
    exist, where ALTER is allowed: UNKNOWN_TOPIC_OR_PARTITION. Nothing refused grows."""
    b = secured(start_broker)
    denied, described = unique_topic("noalter"), unique_topic("described")
    prefix = unique_topic("absent") + "-"
    create_topic(b, denied)
    create_topic(b, described)
    # `described` gets an ACL that grants no ALTER; the cluster's ALTER is granted.
    assert create(b, topic_acl(denied, AclOperation.ALTER, DENY), topic_acl(denied, AclOperation.DESCRIBE),
                  topic_acl(described, AclOperation.DESCRIBE), cluster_acl(AclOperation.ALTER),
                  topic_acl(prefix, AclOperation.ALTER, DENY, pattern=PREFIXED)) == [None] * 5
    missing = unique_topic("missing")
    assert grow(b, [denied, described, prefix + "t", missing]) == {
        denied: KafkaError.TOPIC_AUTHORIZATION_FAILED, described: KafkaError.TOPIC_AUTHORIZATION_FAILED,
        prefix + "t": KafkaError.TOPIC_AUTHORIZATION_FAILED, missing: KafkaError.UNKNOWN_TOPIC_OR_PART}
    assert sorted(topic_partitions(b, denied)) == [0] and sorted(topic_partitions(b, described)) == [0]
    assert create(b, topic_acl(described, AclOperation.ALTER)) == [None]
    assert grow(b, [described]) == {described: None}
    assert sorted(topic_partitions(b, described)) == [0, 1]


def test_delete_records_needs_delete_on_the_topic_then_the_partition_must_exist(start_broker):
    """DeleteRecords: without DELETE on the topic, TOPIC_AUTHORIZATION_FAILED and low
    watermark -1, whether the topic exists or not; then a partition that does not exist
    (of a topic that does, or of one that does not): UNKNOWN_TOPIC_OR_PARTITION, -1."""
    b = secured(start_broker)
    guarded, open_topic = unique_topic("nodelete"), unique_topic("open")
    prefix = unique_topic("absent") + "-"
    for t in (guarded, open_topic):
        create_topic(b, t)
        produce_all(producer(b), t, [{"value": b"%d" % i, "partition": 0} for i in range(5)])
    assert create(b, topic_acl(guarded, AclOperation.DELETE, DENY), topic_acl(guarded, AclOperation.DESCRIBE),
                  topic_acl(prefix, AclOperation.DELETE, DENY, pattern=PREFIXED)) == [None] * 3
    missing = unique_topic("missing")
    got = delete_records(b, [(guarded, 0, 2), (prefix + "t", 0, 2), (open_topic, 7, 2), (missing, 0, 2),
                             (open_topic, 0, 2)])
    assert got == {(guarded, 0): (kw.TOPIC_AUTHORIZATION_FAILED, -1),
                   (prefix + "t", 0): (kw.TOPIC_AUTHORIZATION_FAILED, -1),
                   (open_topic, 7): (kw.UNKNOWN_TOPIC_OR_PARTITION, -1),
                   (missing, 0): (kw.UNKNOWN_TOPIC_OR_PARTITION, -1),
                   (open_topic, 0): (kw.NONE, 2)}
    assert watermarks(b, guarded, 0) == (0, 5)
    assert watermarks(b, open_topic, 0) == (2, 5)


def test_metadata_answers_authorized_operations_only_when_asked(start_broker):
    """Metadata v8+: authorized operations only when asked (else Kafka's -2^31): a
    describable topic's are what the caller may do on it (also through a real client,
    confluent-kafka's describe_topics); the cluster's (v8 to v10) when the caller may
    describe the cluster, else 0."""
    b = secured(start_broker)
    shown = unique_topic("shown")
    create_topic(b, shown)

    # Everything on the topic but WRITE.
    assert create(b, topic_acl(shown, AclOperation.ALL), topic_acl(shown, AclOperation.WRITE, DENY)) == [None] * 2
    described = wait_futures(admin(b).describe_topics(TopicCollection([shown]), include_authorized_operations=True))
    assert {op.value for op in described[shown].authorized_operations} == TOPIC_OPERATIONS - {WRITE}
    ((_, _, _, operations),), cluster = metadata(b, 10, [(shown, None)], cluster_operations=True,
                                                 topic_operations=True)
    # The cluster has no ACL: allow-everyone grants it all.
    assert (operations, cluster) == (bits(TOPIC_OPERATIONS - {WRITE}), bits(CLUSTER_OPERATIONS))
    ((_, _, _, operations),), cluster = metadata(b, 10, [(shown, None)])
    assert (operations, cluster) == (OPERATIONS_NOT_REQUESTED, OPERATIONS_NOT_REQUESTED)
    answer, cluster = metadata(b, 12, [(shown, None)], topic_operations=True)
    assert [ops for _, _, _, ops in answer] == [bits(TOPIC_OPERATIONS - {WRITE})] and cluster is None

    # A topic the caller may not describe: refused, with no authorized operations.
    hidden = unique_topic("hidden")
    create_topic(b, hidden)
    assert create(b, topic_acl(hidden, AclOperation.DESCRIBE, DENY)) == [None]
    ((error, name, _, operations),), _ = metadata(b, 10, [(hidden, None)], topic_operations=True)
    assert (error, name, operations) == (kw.TOPIC_AUTHORIZATION_FAILED, hidden, OPERATIONS_NOT_REQUESTED)
    # v12, an id naming no topic: UNKNOWN_TOPIC_ID, no name, and the id asked.
    nowhere = uuid.uuid4()
    ((error, name, tid, _),), _ = metadata(b, 12, [(None, nowhere)])
    assert (error, name, tid) == (UNKNOWN_TOPIC_ID, None, nowhere)

    # Who may not describe the cluster is told 0 for its operations.
    assert create(b, cluster_acl(AclOperation.ALTER), cluster_acl(AclOperation.DESCRIBE, DENY)) == [None] * 2
    _, cluster = metadata(b, 10, [(shown, None)], cluster_operations=True)
    assert cluster == 0


# ------------------------------------------------------------------------------ ACLs
def test_create_acls_does_not_check_hosts_and_stores_a_binding_once(start_broker):
    """CreateAcls: the host is not checked (an empty one, or one that is no address, is
    stored, and matches no client); a binding that exists already, or is given twice in
    one request, is a success each time and stored once."""
    b = secured(start_broker)
    t = unique_topic("hosts")
    create_topic(b, t)
    topic, literal, write, deny = 2, 3, 4, 2
    creations = [(topic, t, literal, ME, host, write, deny) for host in ("", "not-an-address")]
    with kw.Conn(b.bootstrap) as c:
        rd = kw.Reader(c.request(CREATE_ACLS, 1, create_acls_v1(*creations, creations[0])))
        rd.i32()  # throttle
        assert rd.array(lambda r: (r.i16(), r.string())) == [(kw.NONE, None)] * 3
    # Again: the bindings exist already.
    with kw.Conn(b.bootstrap) as c:
        rd = kw.Reader(c.request(CREATE_ACLS, 1, create_acls_v1(*creations)))
        rd.i32()
        assert rd.array(lambda r: (r.i16(), r.string())) == [(kw.NONE, None)] * 2
    listed = admin(b).describe_acls(filt(), request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S)
    assert sorted(a.host for a in listed) == ["", "not-an-address"], listed
    # Neither host is this client's (127.0.0.1): with WRITE granted to every host, the
    # denials do not apply; one naming the client's address does.
    assert create(b, topic_acl(t, AclOperation.ALL)) == [None]
    assert produce_one_error(producer(b), t, value=b"v") is None
    assert create(b, binding(ResourceType.TOPIC, t, ME, AclOperation.WRITE, DENY, host="127.0.0.1")) == [None]
    assert produce_one_error(producer(b), t, value=b"v").code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


# ------------------------------------------------------------------------------ configs
def test_describe_configs_types_each_value_from_v3(broker):
    """DescribeConfigs: from v3 each value carries its `config_type` as Kafka's ConfigDef
    types it; v1 carries no such field. (A resource type Kafka does not know:
    test_conformance_configs.py.)"""
    t = unique_topic("typed")
    create_topic(broker, t, config={"retention.ms": "3600000"})
    keys = {"retention.ms": 5, "segment.bytes": 3, "cleanup.policy": 7, "min.cleanable.dirty.ratio": 6,
            "unclean.leader.election.enable": 1, "compression.type": 2}  # LONG INT LIST DOUBLE BOOLEAN STRING
    resources = [(kw.RESOURCE_TOPIC, t, list(keys))]
    with kw.Conn(broker.bootstrap) as c:
        request = describe_configs_request(resources, 3)
        (topic,) = parse_describe_configs(c.request(kw.DESCRIBE_CONFIGS, 3, request), 3)
        error, _, name, configs = topic
        assert (error, name, set(configs)) == (kw.NONE, t, set(keys))
        assert {k: config_type for k, (_, config_type) in configs.items()} == keys
        assert configs["retention.ms"][0] == "3600000"
        documented = describe_configs_request(resources, 3, documentation=True)
        assert parse_describe_configs(c.request(kw.DESCRIBE_CONFIGS, 3, documented), 3)[0][0] == kw.NONE
        # v1: the same answer without the v3 fields (the parser checks every byte is read).
        request = describe_configs_request(resources, 1)
        ((error, _, _, configs),) = parse_describe_configs(c.request(kw.DESCRIBE_CONFIGS, 1, request), 1)
        assert error == kw.NONE and configs["retention.ms"] == ("3600000", None)


def test_validate_only_config_changes_run_every_check_and_apply_nothing(broker):
    """AlterConfigs and IncrementalAlterConfigs with validate_only: a valid change succeeds
    and changes nothing (the legacy API's replacement of the whole set included); an
    invalid one gets the error it would get without validate_only (INVALID_CONFIG for a
    bad value or unknown key, UNKNOWN_TOPIC_OR_PARTITION, INVALID_REQUEST for a resource
    named twice and for a broker config's bad value)."""
    t = unique_topic("validate")
    create_topic(broker, t, config={"retention.ms": "3600000", "segment.bytes": "2097152"})
    a = admin(broker)

    def incremental(name: str, ops: list, rtype=ResourceType.TOPIC):
        entries = [ConfigEntry(k, v, incremental_operation=op) for k, v, op in ops]
        r = ConfigResource(rtype, name, incremental_configs=entries)
        return future_error(a.incremental_alter_configs([r], validate_only=True)[r])

    def legacy(name: str, configs: dict):
        r = ConfigResource(ResourceType.TOPIC, name, set_config=configs)
        return future_error(a.alter_configs([r], validate_only=True)[r])

    def topic_config():
        r = ConfigResource(ResourceType.TOPIC, t)
        return {k: (e.value, source(e)) for k, e in wait_futures(a.describe_configs([r]))[r].items()
                if k in ("retention.ms", "segment.bytes", "retention.bytes")}

    before = topic_config()
    assert before["retention.ms"] == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert incremental(t, [("retention.ms", "60000", AlterConfigOpType.SET),
                           ("segment.bytes", None, AlterConfigOpType.DELETE)]) is None
    assert legacy(t, {"retention.bytes": "1048576"}) is None
    assert topic_config() == before
    for name, ops in [(t, [("retention.ms", "soon", AlterConfigOpType.SET)]),
                      (t, [("no.such.config", "1", AlterConfigOpType.SET)]),
                      (t, [("retention.ms", "1", AlterConfigOpType.APPEND)])]:
        err = incremental(name, ops)
        assert err is not None and err.code() == KafkaError.INVALID_CONFIG, (ops, err)
    missing = unique_topic("missing")
    err = incremental(missing, [("retention.ms", "60000", AlterConfigOpType.SET)])
    assert err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err
    err = legacy(t, {"retention.ms": "soon"})
    assert err is not None and err.code() == KafkaError.INVALID_CONFIG, err
    with kw.Conn(broker.bootstrap) as c:
        retention = [("retention.ms", kw.SET, "1000")]
        request = kw.incremental_alter_configs_v0([(kw.RESOURCE_TOPIC, t, retention)] * 2, validate_only=True)
        assert kw.parse_alter_configs_v0(c.request(kw.INCREMENTAL_ALTER_CONFIGS, 0, request)) == \
            [(kw.RESOURCE_TOPIC, t, kw.INVALID_REQUEST, "Each resource must appear at most once.")] * 2
        for value, code in (("soon", kw.INVALID_REQUEST), ("7200000", kw.NONE)):
            request = kw.incremental_alter_configs_v0([(kw.RESOURCE_BROKER, "", [("log.retention.ms", kw.SET, value)])],
                                                      validate_only=True)
            ((_, _, error, _),) = kw.parse_alter_configs_v0(c.request(kw.INCREMENTAL_ALTER_CONFIGS, 0, request))
            assert error == code, (value, error)
    assert topic_config() == before
    r = ConfigResource(ResourceType.BROKER, broker_id(broker))
    retention = wait_futures(a.describe_configs([r]))[r]["log.retention.ms"]
    assert retention.value != "7200000" and source(retention) == ConfigSource.DEFAULT_CONFIG, retention
    # The same change without validate_only is applied: validate_only was what kept it out.
    r = ConfigResource(ResourceType.TOPIC, t, incremental_configs=[
        ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)])
    assert future_error(a.incremental_alter_configs([r])[r]) is None
    assert topic_config()["retention.ms"] == ("60000", ConfigSource.DYNAMIC_TOPIC_CONFIG)


# ----------------------------------------------------------------------- produce, list offsets
def test_transactional_batches_of_two_producers_refuse_the_whole_request(broker):
    """Produce: transactional batches of more than one producer id in one request:
    INVALID_PRODUCER_ID_MAPPING for every partition of the request (a non-transactional
    batch in it included), and nothing is written."""
    t = unique_topic("two-producers")
    create_topic(broker, t, 3)
    tid = unique_topic("tid")
    with kw.Conn(broker.bootstrap) as c:
        pid, epoch = init_txn(c, tid)
        for p in (0, 1):
            assert add_partitions(c, tid, pid, epoch, t, p) == kw.NONE
        writes = [(t, 0, txn_batch(pid, epoch, 0)), (t, 1, txn_batch(pid + 1, epoch, 0)),
                  (t, 2, kw.encode_batch([kw.Record(None, b"plain")]))]
        answer = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, produce_body(tid, writes)))
        assert {tp: error for tp, (error, _) in answer.items()} == \
            {(t, p): kw.INVALID_PRODUCER_ID_MAPPING for p in (0, 1, 2)}
        assert [watermarks(broker, t, p) for p in (0, 1, 2)] == [(0, 0)] * 3
        # One producer: written.
        writes[1] = (t, 1, txn_batch(pid, epoch, 0))
        answer = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, produce_body(tid, writes)))
        assert {tp: error for tp, (error, _) in answer.items()} == {(t, p): kw.NONE for p in (0, 1, 2)}


def test_produce_error_messages_are_null_but_where_kafka_or_shoal_says_why(broker):
    """Produce v8's `error_message`: null for a success and for a partition that does not
    exist; Kafka's for KIP-467's refusals and for the transaction verification's; shoal
    also says why it refuses a batch (a CRC that does not match, a base offset other than
    0), a producer (a sequence that does not follow) and a partition (fewer in-sync
    replicas than min.insync.replicas)."""
    t, compacted, guarded = unique_topic("msg"), unique_topic("msg-compact"), unique_topic("msg-isr")
    create_topic(broker, t, 1)
    create_topic(broker, compacted, 1, {"cleanup.policy": "compact"})
    create_topic(broker, guarded, 1, {"min.insync.replicas": "2"})
    with kw.Conn(broker.bootstrap) as c:
        def produce(topic: str, partition: int, batch: bytes, tid: str | None = None) -> kw.ProducedV8:
            return kw.parse_produce_v8(c.request(kw.PRODUCE, 8, produce_body(tid, [(topic, partition, batch)])))[
                (topic, partition)]

        plain = kw.encode_batch([kw.Record(b"k", b"v")])
        written = produce(t, 0, plain)
        assert (written.error_code, written.error_message) == (kw.NONE, None)
        missing = produce(t, 5, plain)
        assert (missing.error_code, missing.error_message) == (kw.UNKNOWN_TOPIC_OR_PARTITION, None)
        keyless = produce(compacted, 0, kw.encode_batch([kw.Record(None, b"v")]))
        assert keyless.error_code == kw.INVALID_RECORD
        assert keyless.error_message.startswith("One or more records have been rejected"), keyless
        tid = unique_topic("tid")
        txn_pid, txn_epoch = init_txn(c, tid)
        unverified = produce(t, 0, txn_batch(txn_pid, txn_epoch, 0), tid)  # the partition was not added
        assert (unverified.error_code, unverified.error_message) == \
            (kw.INVALID_TXN_STATE, "Partition was not added to the transaction")
        corrupt = bytearray(plain)
        corrupt[-1] ^= 1
        shifted = kw.encode_batch([kw.Record(b"k", b"v")], base_offset=5)
        _, pid, epoch = kw.parse_init_producer_id_v0(c.request(kw.INIT_PRODUCER_ID, 0, kw.init_producer_id_v0(None)))
        first = kw.encode_batch([kw.Record(b"k", b"v")], producer_id=pid, producer_epoch=epoch, base_sequence=0)
        assert produce(t, 0, first).error_code == kw.NONE
        gap = kw.encode_batch([kw.Record(b"k", b"v")], producer_id=pid, producer_epoch=epoch, base_sequence=5)
        for topic, batch, code in [(t, bytes(corrupt), kw.CORRUPT_MESSAGE), (t, shifted, kw.INVALID_RECORD),
                                   (t, gap, kw.OUT_OF_ORDER_SEQUENCE_NUMBER), (guarded, plain, NOT_ENOUGH_REPLICAS)]:
            got = produce(topic, 0, batch)
            assert got.error_code == code and got.error_message, (code, got)


def test_list_offsets_needs_describe_on_the_topic(start_broker):
    """ListOffsets: without DESCRIBE on the topic, TOPIC_AUTHORIZATION_FAILED, whether the
    topic exists or not; a topic that may be described is answered (one that does not
    exist: UNKNOWN_TOPIC_OR_PARTITION)."""
    b = secured(start_broker)
    hidden, open_topic = unique_topic("hidden"), unique_topic("open")
    prefix = unique_topic("absent") + "-"
    for t in (hidden, open_topic):
        create_topic(b, t)
        produce_all(producer(b), t, [{"value": b"v", "partition": 0}] * 3)
    assert create(b, topic_acl(hidden, AclOperation.DESCRIBE, DENY),
                  topic_acl(prefix, AclOperation.DESCRIBE, DENY, pattern=PREFIXED)) == [None] * 2
    missing = unique_topic("missing")
    # Raw: a client would look the partitions' leaders up first, and Metadata refuses too.
    with kw.Conn(b.bootstrap) as c:
        request = kw.list_offsets_v5([(hidden, 0, -1), (prefix + "t", 0, -1), (open_topic, 0, -1), (missing, 0, -1)])
        got = kw.parse_list_offsets_v5(c.request(kw.LIST_OFFSETS, 5, request))
    assert [(t, error) for t, _, error, _, _ in got] == [
        (hidden, kw.TOPIC_AUTHORIZATION_FAILED), (prefix + "t", kw.TOPIC_AUTHORIZATION_FAILED),
        (open_topic, kw.NONE), (missing, kw.UNKNOWN_TOPIC_OR_PARTITION)]
    assert [offset for t, _, _, _, offset in got if t == open_topic] == [3]


# ------------------------------------------------------------------------------ transactions
def test_init_producer_id_needs_write_on_the_id_or_idempotent_write(start_broker):
    """InitProducerId: a transactional id needs WRITE on it, else
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED; without one (idempotence), IDEMPOTENT_WRITE on
    the cluster or WRITE on some topic, else CLUSTER_AUTHORIZATION_FAILED. The broker runs
    without allow-everyone, so nothing is granted but what the ACLs say."""
    b = secured(start_broker)
    assert create(b, cluster_acl(AclOperation.ALTER)) == [None]
    b.overrides["allow.everyone.if.no.acl.found"] = "false"
    b.restart()
    tid = unique_topic("tid")
    assert init_producer_id(b, None) == CLUSTER_AUTHORIZATION_FAILED
    assert init_producer_id(b, tid) == kw.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    # WRITE on some topic (here, any topic with a prefix).
    some_topic = topic_acl(unique_topic("w") + "-", AclOperation.WRITE, pattern=PREFIXED)
    assert create(b, some_topic) == [None]
    assert init_producer_id(b, None) == kw.NONE
    assert delete(b, filt(ResourceType.TOPIC)) == {some_topic}
    assert init_producer_id(b, None) == CLUSTER_AUTHORIZATION_FAILED
    assert create(b, cluster_acl(AclOperation.IDEMPOTENT_WRITE)) == [None]
    assert init_producer_id(b, None) == kw.NONE
    # IDEMPOTENT_WRITE is not WRITE on a transactional id; WRITE on it is.
    assert init_producer_id(b, tid) == kw.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    assert create(b, binding(ResourceType.TRANSACTIONAL_ID, tid, op=AclOperation.WRITE)) == [None]
    assert init_producer_id(b, tid) == kw.NONE


def test_init_producer_id_refuses_a_producer_id_without_its_epoch(broker):
    """InitProducerId v3+ (KIP-360): a producer id without an epoch, or an epoch without a
    producer id, is INVALID_REQUEST, with a transactional id or without; both -1 asks for
    the id's producer, and its own id and epoch get the epoch bumped."""
    tid = unique_topic("tid")
    with kw.Conn(broker.bootstrap) as c:
        for given in ((5, -1), (-1, 3)):
            assert init_producer_id_v3(c, tid, *given)[0] == kw.INVALID_REQUEST, given
        error, pid, epoch = init_producer_id_v3(c, tid, -1, -1)
        assert error == kw.NONE and pid >= 0 and epoch >= 0
        # Its own producer id and epoch: the epoch is bumped.
        assert init_producer_id_v3(c, tid, pid, epoch) == (kw.NONE, pid, epoch + 1)
        # An idempotent producer (no transactional id) is held to the same pair rule.
        for given in ((5, -1), (-1, 3)):
            assert init_producer_id_v3(c, None, *given)[0] == kw.INVALID_REQUEST, given
        assert init_producer_id_v3(c, None, -1, -1)[0] == kw.NONE


def test_add_offsets_to_txn_and_end_txn_need_write_on_the_id_then_read_on_the_group(start_broker):
    """AddOffsetsToTxn: WRITE on the transactional id (else
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED, before the id's state or the group are looked
    at), then READ on the group (else GROUP_AUTHORIZATION_FAILED). EndTxn: WRITE on the
    id, else TRANSACTIONAL_ID_AUTHORIZATION_FAILED."""
    b = secured(start_broker)
    allowed_id, denied_id = unique_topic("tid-ok"), unique_topic("tid-denied")
    allowed_group, denied_group = unique_topic("g-ok"), unique_topic("g-denied")
    assert create(b, binding(ResourceType.TRANSACTIONAL_ID, denied_id, op=AclOperation.WRITE, perm=DENY),
                  group_acl(denied_group, AclOperation.READ, DENY)) == [None] * 2
    with kw.Conn(b.bootstrap) as c:
        # The denied id was never initialised: its state would say INVALID_PRODUCER_ID_MAPPING.
        assert add_offsets_to_txn(c, denied_id, 1000, 0, denied_group) == kw.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        assert add_offsets_to_txn(c, denied_id, 1000, 0, allowed_group) == kw.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        assert end_txn(c, denied_id, 1000, 0, commit=True) == kw.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        pid, epoch = init_txn(c, allowed_id)
        assert add_offsets_to_txn(c, allowed_id, pid, epoch, denied_group) == GROUP_AUTHORIZATION_FAILED
        assert add_offsets_to_txn(c, allowed_id, pid, epoch, allowed_group) == kw.NONE
        assert end_txn(c, allowed_id, pid, epoch, commit=True) == kw.NONE


def test_write_txn_markers_needs_cluster_action_or_alter_on_the_cluster(start_broker):
    """WriteTxnMarkers: CLUSTER_ACTION or ALTER on the cluster lets the markers through
    (a partition that does not exist is then UNKNOWN_TOPIC_OR_PARTITION); with neither,
    CLUSTER_AUTHORIZATION_FAILED on every partition. Taking ALTER away takes away the
    right to change ACLs too, so a restart as a super user gives it back between steps."""
    b = secured(start_broker)
    t = unique_topic("markers")
    create_topic(b, t)
    asked = [(t, 3), (unique_topic("missing"), 0)]
    let_through = {tp: kw.UNKNOWN_TOPIC_OR_PARTITION for tp in asked}
    # ALTER alone.
    assert create(b, cluster_acl(AclOperation.ALTER), cluster_acl(AclOperation.CLUSTER_ACTION, DENY)) == [None] * 2
    assert write_txn_markers(b, 1000, asked) == let_through
    # Neither (the DENY of ALTER is the last ACL change this principal may make).
    assert create(b, cluster_acl(AclOperation.ALTER, DENY)) == [None]
    assert write_txn_markers(b, 1000, asked) == {tp: CLUSTER_AUTHORIZATION_FAILED for tp in asked}
    # CLUSTER_ACTION alone.
    b.overrides["super.users"] = ME
    b.restart()
    assert delete(b, filt(ResourceType.BROKER, op=AclOperation.CLUSTER_ACTION)) == \
        {cluster_acl(AclOperation.CLUSTER_ACTION, DENY)}
    assert create(b, cluster_acl(AclOperation.CLUSTER_ACTION)) == [None]
    del b.overrides["super.users"]
    b.restart()
    assert write_txn_markers(b, 1000, asked) == let_through


def test_the_coordinator_leaves_out_the_markers_of_a_deleted_topic(broker):
    """A transaction that wrote to a topic deleted before its commit: the coordinator
    writes the markers of the partitions that are left and completes the commit (a
    confluent-kafka transactional producer)."""
    kept, doomed = unique_topic("kept"), unique_topic("doomed")
    create_topic(broker, kept)
    create_topic(broker, doomed)
    p = txn_producer(broker)
    p.init_transactions(TIMEOUT_S)
    p.begin_transaction()
    p.produce(kept, value=b"kept", partition=0)
    p.produce(doomed, value=b"doomed", partition=0)
    assert p.flush(TIMEOUT_S) == 0
    wait_futures(admin(broker).delete_topics([doomed], operation_timeout=20))
    p.commit_transaction(TIMEOUT_S)
    assert [m.value() for m in read_committed(broker, kept, [0])[0]] == [b"kept"]
    # The id goes on: its next transaction commits too.
    p.begin_transaction()
    p.produce(kept, value=b"next", partition=0)
    p.commit_transaction(TIMEOUT_S)
    assert [m.value() for m in read_committed(broker, kept, [0])[0]] == [b"kept", b"next"]


def test_list_transactions_filters_by_a_whole_id_pattern(broker):
    """ListTransactions v2: the transactional id pattern is a regular expression the whole
    id must match; an invalid one is INVALID_REGULAR_EXPRESSION with nothing listed."""
    base = unique_topic("listed")
    ids = [f"{base}-alpha", f"{base}-beta", f"x{base}-alpha"]
    with kw.Conn(broker.bootstrap) as c:
        for tid in ids:
            init_txn(c, tid)
        assert list_transactions_v2(c, f"{base}-a.*") == (kw.NONE, [f"{base}-alpha"])
        assert list_transactions_v2(c, f"{base}-al") == (kw.NONE, [])  # a part of the id is no match
        assert list_transactions_v2(c, f".*{base}-(alpha|beta)") == (kw.NONE, sorted(ids))
        assert list_transactions_v2(c, f"{base}-(alpha") == (INVALID_REGULAR_EXPRESSION, [])


# ------------------------------------------------------------------------------ offsets
def test_a_kip848_commit_at_an_older_epoch_is_stale_even_for_a_partition_held_since(broker):
    """OffsetCommit v9 from a KIP-848 member: shoal keeps Kafka 4.x's strict equality, so an
    epoch older than the member's is STALE_MEMBER_EPOCH even for a partition the member
    has held since that epoch (KIP-1251, after Kafka 4.2, would take it)."""
    first, second = unique_topic("held"), unique_topic("added")
    create_topic(broker, first, 2)
    create_topic(broker, second, 1)
    first_id, second_id = topic_id(broker, first), topic_id(broker, second)
    group = unique_topic("g")
    with kw.Conn(broker.bootstrap) as c:
        def heartbeat_until(member: str, epoch: int, topics: list[str], owned, done) -> tuple[str, int, dict]:
            deadline = time.monotonic() + TIMEOUT_S
            assignment = owned
            while True:
                error, member, epoch, got = consumer_heartbeat(c, group, member, epoch, topics,
                                                               list(assignment.items()) if assignment else [])
                assert error == kw.NONE, error
                assignment = got if got is not None else assignment
                if done(epoch, assignment or {}):
                    return member, epoch, assignment
                assert time.monotonic() < deadline, (epoch, assignment)

        member, held_since, assignment = heartbeat_until("", 0, [first], None,
                                                         lambda e, a: a.get(first_id) == [0, 1])
        member, epoch, assignment = heartbeat_until(member, held_since, [first, second], assignment,
                                                    lambda e, a: e > held_since and a.get(second_id) == [0])
        assert assignment[first_id] == [0, 1], "the first topic's partitions stayed the member's"
        assert offset_commit_v9(c, group, held_since, member, first, 0) == STALE_MEMBER_EPOCH
        assert offset_commit_v9(c, group, epoch, member, first, 0) == kw.NONE


def test_txn_offset_commit_refuses_an_empty_group_and_a_generation_of_a_group_that_is_not(broker):
    """TxnOffsetCommit: an empty group id is INVALID_GROUP_ID (every partition). A group
    that does not exist: a generation below 0 (and every version before 3, which has
    none) creates it, with the offset once the transaction commits; any other generation
    is ILLEGAL_GENERATION, in every version (v3, and v5 of transaction version 2)."""
    t = unique_topic("txn-commit")
    create_topic(broker, t)
    tid = unique_topic("tid")
    created, old_client, never = unique_topic("g-new"), unique_topic("g-v0"), unique_topic("g-never")
    with kw.Conn(broker.bootstrap) as c:
        pid, epoch = init_txn(c, tid)
        for version in (0, 3):
            assert txn_offset_commit(c, version, tid, "", pid, epoch, t, 1) == [INVALID_GROUP_ID], version
        for group in (created, old_client):
            assert add_offsets_to_txn(c, tid, pid, epoch, group) == kw.NONE
        assert txn_offset_commit(c, 3, tid, created, pid, epoch, t, 4, generation=5, member="m") == \
            [ILLEGAL_GENERATION]
        assert txn_offset_commit(c, 3, tid, created, pid, epoch, t, 4) == [kw.NONE]
        assert txn_offset_commit(c, 0, tid, old_client, pid, epoch, t, 6) == [kw.NONE]
        assert end_txn(c, tid, pid, epoch, commit=True) == kw.NONE
        # Version 5 adds the group's partition to the transaction itself.
        assert txn_offset_commit(c, 5, tid, never, pid, epoch, t, 1, generation=7, member="m") == \
            [ILLEGAL_GENERATION]
    for group, offset in ((created, 4), (old_client, 6), (never, -1001)):
        reader = Consumer(base_conf(broker, **{"group.id": group}))
        try:
            assert reader.committed([TopicPartition(t, 0)], timeout=TIMEOUT_S)[0].offset == offset, group
        finally:
            reader.close()
    listed = {g.group_id for g in admin(broker).list_consumer_groups().result(timeout=TIMEOUT_S).valid}
    assert {created, old_client} <= listed and never not in listed


def test_classic_groups_offset_fetch_and_offset_delete(start_broker):
    """OffsetFetch v9 of a classic group: its member id and epoch are not checked (a
    stranger at any epoch reads the offsets). OffsetDelete: a group that does not exist is
    GROUP_ID_NOT_FOUND; a classic group with members whose protocol type is not `consumer`
    is NON_EMPTY_GROUP (a consumer group's offsets of a topic it does not subscribe to go)."""
    b = start_broker({"group.initial.rebalance.delay.ms": 0, "group.min.session.timeout.ms": 1000})
    subscribed, other = unique_topic("sub"), unique_topic("other")
    create_topic(b, subscribed)
    create_topic(b, other)
    group = unique_topic("classic")
    c = consumer(b, **{"group.id": group, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                       "auto.offset.reset": "earliest"})
    c.subscribe([subscribed])
    deadline = time.monotonic() + TIMEOUT_S
    while not c.assignment():
        assert time.monotonic() < deadline, "the classic member got no assignment"
        c.poll(0.1)
    c.commit(offsets=[TopicPartition(subscribed, 0, 3), TopicPartition(other, 0, 2)], asynchronous=False)
    with kw.Conn(b.bootstrap) as conn:
        for member, epoch in (("ghost", 42), (None, -1), ("", 0)):
            assert offset_fetch_v9(conn, group, member, epoch, subscribed) == (kw.NONE, {0: (3, kw.NONE)}), member
        assert offset_delete(conn, unique_topic("nobody"), other) == (GROUP_ID_NOT_FOUND, [])
        connect = unique_topic("connect")
        assert kw.Reader(conn.request(JOIN_GROUP, 0, join_group_v0(connect, "connect"))).i16() == kw.NONE
        assert offset_delete(conn, connect, other) == (NON_EMPTY_GROUP, [])
        assert offset_delete(conn, group, other) == (kw.NONE, [(other, 0, kw.NONE)])
        assert offset_fetch_v9(conn, group, None, -1, other) == (kw.NONE, {0: (-1, kw.NONE)})


def test_offset_fetch_refuses_or_leaves_out_topics_the_caller_may_not_describe(start_broker):
    """OffsetFetch: a topic the caller may not DESCRIBE is TOPIC_AUTHORIZATION_FAILED when
    asked for by name, and left out of an answer for all topics (confluent-kafka's
    list_consumer_group_offsets)."""
    b = secured(start_broker)
    shown, hidden = unique_topic("shown"), unique_topic("hidden")
    create_topic(b, shown)
    create_topic(b, hidden)
    group = unique_topic("g")
    c = consumer(b, **{"group.id": group})
    c.commit(offsets=[TopicPartition(shown, 0, 1), TopicPartition(hidden, 0, 2)], asynchronous=False)
    assert create(b, topic_acl(hidden, AclOperation.DESCRIBE, DENY)) == [None]
    a = admin(b)

    def listed(partitions):
        request = ConsumerGroupTopicPartitions(group, partitions)
        result = a.list_consumer_group_offsets([request], request_timeout=TIMEOUT_S)[group].result(timeout=TIMEOUT_S)
        return sorted((tp.topic, tp.offset, tp.error and tp.error.code()) for tp in result.topic_partitions)

    assert listed([TopicPartition(shown, 0), TopicPartition(hidden, 0)]) == sorted(
        [(shown, 1, None), (hidden, -1001, KafkaError.TOPIC_AUTHORIZATION_FAILED)])
    assert listed(None) == [(shown, 1, None)]
