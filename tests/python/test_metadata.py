"""Metadata and topic auto-creation, seen by kcat and confluent-kafka."""

import json
import uuid

from confluent_kafka import KafkaError, OFFSET_BEGINNING

import kafka_wire as kw
from clients import (admin, consume, create_topic, kcat, produce_all, produce_one_error, producer,
                     topic_partitions, unique_topic)


def test_kcat_lists_the_broker(broker):
    doc = json.loads(kcat(broker, "-L", "-J").stdout)
    assert [b["name"] for b in doc["brokers"]] == [broker.bootstrap]
    plain = kcat(broker, "-L").stdout.decode()
    assert "1 brokers:" in plain, plain
    assert f"at {broker.bootstrap}" in plain, plain


def test_admin_list_topics_shows_broker_and_topics(broker):
    t = unique_topic()
    produce_all(producer(broker), t, [{"value": b"x", "partition": 0}])
    md = admin(broker).list_topics(timeout=30)
    assert len(md.brokers) == 1
    (bid, b), = md.brokers.items()
    assert (b.host, b.port) == ("127.0.0.1", broker.port)
    assert md.controller_id == bid, "a one-node cluster's controller is that node"
    assert md.cluster_id, "Metadata v2+ carries a cluster id"
    assert t in md.topics and md.topics[t].error is None
    for p in md.topics[t].partitions.values():
        assert p.error is None
        assert (p.leader, p.replicas, p.isrs) == (bid, [bid], [bid])


def test_node_id_override_is_the_broker_id(start_broker):
    b = start_broker({"node.id": 7})
    md = admin(b).list_topics(timeout=30)
    assert list(md.brokers) == [7]
    doc = json.loads(kcat(b, "-L", "-J").stdout)
    assert [x["id"] for x in doc["brokers"]] == [7] and doc["controllerid"] == 7


def test_metadata_v1_raw_for_old_clients(start_broker):
    broker = start_broker({"num.partitions": 2})
    t = unique_topic()
    produce_all(producer(broker), t, [{"value": b"x", "partition": 0}])
    with kw.Conn(broker.bootstrap) as c:
        md = kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1(None)))
        assert [(h, p) for _, h, p in md.brokers] == [("127.0.0.1", broker.port)]
        err, parts = md.topics[t]
        assert err == kw.NONE and sorted(p[0] for p in parts) == [0, 1]
        assert all(p[1] == kw.NONE and p[2] == md.brokers[0][0] for p in parts)
        # a topic list naming one topic returns just that one
        md = kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1([t])))
        assert list(md.topics) == [t]


def test_auto_create_on_first_produce_uses_num_partitions(start_broker):
    b = start_broker({"num.partitions": 3})
    t = unique_topic("auto")
    assert topic_partitions(b, t) is None  # listing all topics creates nothing
    recs = produce_all(producer(b), t, [{"key": b"k%d" % i, "value": b"v%d" % i} for i in range(30)])
    parts = topic_partitions(b, t)
    assert parts is not None and sorted(parts) == [0, 1, 2]
    got = consume(b, t, {p: OFFSET_BEGINNING for p in parts},
                  {p: 1 + max([r.offset for r in recs if r.partition == p], default=-1) for p in parts})
    assert sorted(r.value for rs in got.values() for r in rs) == sorted(r.value for r in recs)
    # kcat sees the same three partitions
    assert kcat(b, "-L", "-t", t).stdout.decode().count("partition ") == 3


def test_metadata_that_creates_a_topic_answers_leader_not_available_first(start_broker):
    # As Kafka: the request that auto-creates a topic says its leader is not available yet
    # (no partitions); the client asks again and finds it whole.
    b = start_broker({"num.partitions": 2})
    t = unique_topic("lna")
    with kw.Conn(b.bootstrap) as c:
        err, parts = kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1([t]))).topics[t]
        assert (err, parts) == (kw.LEADER_NOT_AVAILABLE, [])
        err, parts = kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1([t]))).topics[t]
        assert err == kw.NONE and sorted(p[0] for p in parts) == [0, 1]


def test_auto_create_disabled_refuses_unknown_topic(start_broker):
    b = start_broker({"auto.create.topics.enable": "false"})
    t = unique_topic("noauto")
    p = producer(b, **{"topic.metadata.propagation.max.ms": 1000, "message.timeout.ms": 10000})
    err = produce_one_error(p, t, value=b"x")
    assert err is not None and err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), err
    assert topic_partitions(b, t) is None
    # and on the wire: Metadata answers UNKNOWN_TOPIC_OR_PARTITION, Produce too, still nothing created
    with kw.Conn(b.bootstrap) as c:
        md = kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1([t])))
        assert md.topics[t][0] == kw.UNKNOWN_TOPIC_OR_PARTITION
        res = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(t, 0, kw.encode_batch([kw.Record(None, b"x")]))))
        assert res[(t, 0)][0] == kw.UNKNOWN_TOPIC_OR_PARTITION
    assert topic_partitions(b, t) is None


def test_topic_ids_in_a_request_before_version_12_are_refused(broker):
    """Metadata takes topic ids from version 12: before, Kafka refuses a request naming a
    topic by id (or with no name) with INVALID_REQUEST for every topic asked."""
    t = unique_topic("by-name")
    create_topic(broker, t)
    some_id = uuid.UUID(int=7)
    with kw.Conn(broker.bootstrap) as c:
        def ask(*topics) -> list:
            request = kw.metadata_v10(list(topics))
            return kw.parse_metadata_v10_errors(c.request(kw.METADATA, 10, request, flexible=True))
        assert ask((t, some_id), (t, None)) == [(t, kw.INVALID_REQUEST), (t, kw.INVALID_REQUEST)]
        # Its answer's name may not be null before v12: Kafka sends an empty one.
        assert ask((None, some_id)) == [("", kw.INVALID_REQUEST)]
        assert ask((t, None)) == [(t, kw.NONE)]


MISMATCHED_ENDPOINT_TYPE, UNSUPPORTED_ENDPOINT_TYPE = 114, 115


def describe_cluster_v1(conn, endpoint_type: int) -> tuple[int, str | None, int, int, list[int]]:
    """(error, message, endpoint type, controller id, broker ids) of a DescribeCluster v1."""
    body = kw.i8(0) + kw.i8(endpoint_type) + kw.EMPTY_TAGS
    rd = kw.Reader(conn.request(kw.DESCRIBE_CLUSTER, 1, body, flexible=True))
    rd.i32()
    error, message, answered = rd.i16(), rd.compact_string(), rd.i8()
    rd.compact_string()
    controller = rd.i32()
    brokers = rd.compact_array(lambda r: (r.i32(), r.compact_string(), r.i32(), r.compact_string(), r.skip_tags()))
    return error, message, answered, controller, [b[0] for b in brokers or []]


def test_describe_cluster_checks_the_endpoint_type_as_kafka_does(broker):
    """v1's endpoint type: a broker answers for brokers (1); a controller's endpoint (2) is the
    mismatch Kafka names, any other type unsupported."""
    with kw.Conn(broker.bootstrap) as c:
        error, message, answered, controller, brokers = describe_cluster_v1(c, 1)
        assert (error, message, answered) == (kw.NONE, None, 1)
        assert controller in brokers and brokers, (controller, brokers)
        error, message, answered, _, brokers = describe_cluster_v1(c, 2)
        assert (error, answered, brokers) == (MISMATCHED_ENDPOINT_TYPE, 2, []), message
        assert message == ("The request was sent to an endpoint of type BROKER, but we wanted an endpoint "
                           "of type CONTROLLER")
        assert describe_cluster_v1(c, 7)[:3] == (UNSUPPORTED_ENDPOINT_TYPE, "Unsupported endpoint type 7", 7)


def describe_topic_partitions_v0(conn, topics: list[str], limit: int,
                                 cursor: tuple[str, int] | None = None) -> tuple[list, tuple | None]:
    """[(error, name, [partition, ...])] and the next cursor of a DescribeTopicPartitions v0."""
    body = kw.compact_array([kw.compact_string(t) + kw.EMPTY_TAGS for t in topics]) + kw.i32(limit)
    body += kw.i8(-1) if cursor is None else (kw.i8(1) + kw.compact_string(cursor[0]) + kw.i32(cursor[1])
                                              + kw.EMPTY_TAGS)
    rd = kw.Reader(conn.request(kw.DESCRIBE_TOPIC_PARTITIONS, 0, body + kw.EMPTY_TAGS, flexible=True))
    rd.i32()

    def partition(r):
        error, index = r.i16(), r.i32()
        r.i32(), r.i32()
        for _ in range(5):
            r.compact_array(lambda q: q.i32())
        r.skip_tags()
        return index

    def topic(r):
        error, name = r.i16(), r.compact_string()
        r._take(17)
        partitions = r.compact_array(partition)
        r.i32()
        r.skip_tags()
        return error, name, partitions

    topics = rd.compact_array(topic)
    nxt = None
    if rd.i8() >= 0:
        nxt = (rd.compact_string(), rd.i32())
        rd.skip_tags()
    return topics, nxt


def test_describe_topic_partitions_pages_and_checks_as_kafka_does(broker):
    """Topics once each, in name order; a page ends inside a topic or, when the limit runs
    out at a topic's end, before the next; a bad name is INVALID_TOPIC_EXCEPTION, an unknown
    one UNKNOWN_TOPIC_OR_PARTITION; a cursor Kafka cannot follow refuses every topic."""
    p = unique_topic("dtp")
    a, b, bad, unknown = f"{p}-a", f"{p}-b", f"{p}-c?", f"{p}-d"
    create_topic(broker, a, 2)
    create_topic(broker, b, 2)
    named = [b, a, a, bad, unknown]
    with kw.Conn(broker.bootstrap) as c:
        topics, nxt = describe_topic_partitions_v0(c, named, 3)
        assert (topics, nxt) == ([(kw.NONE, a, [0, 1]), (kw.NONE, b, [0])], (b, 1))
        topics, nxt = describe_topic_partitions_v0(c, named, 2)
        assert (topics, nxt) == ([(kw.NONE, a, [0, 1])], (b, 0))
        topics, nxt = describe_topic_partitions_v0(c, named, 10, (b, 0))
        assert (topics, nxt) == ([(kw.NONE, b, [0, 1]), (kw.INVALID_TOPIC_EXCEPTION, bad, []),
                                  (kw.UNKNOWN_TOPIC_OR_PARTITION, unknown, [])], None)
        for cursor in [(b, -1), (f"{p}-z", 0)]:
            topics, nxt = describe_topic_partitions_v0(c, [a, b], 10, cursor)
            assert (topics, nxt) == ([(kw.INVALID_REQUEST, a, []), (kw.INVALID_REQUEST, b, [])], None), cursor


def test_elect_leaders_for_every_partition_lists_every_topic(broker):
    """Asked for every partition (a null list), Kafka answers each topic, leaving out the
    partitions that need no election: a cluster of one needs none."""
    t = unique_topic("elect-all")
    create_topic(broker, t, 2)
    with kw.Conn(broker.bootstrap) as c:
        rd = kw.Reader(c.request(43, 1, kw.i8(0) + kw.array(None) + kw.i32(10000)))
    rd.i32()
    assert rd.i16() == kw.NONE
    topics = dict(rd.array(lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i16(), q.string())))))
    assert topics[t] == [], topics
