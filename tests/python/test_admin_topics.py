"""CreateTopics / DeleteTopics / CreatePartitions through confluent-kafka's AdminClient, and raw
requests where Kafka's checks of the request itself matter."""

import resource
import uuid

import pytest
from confluent_kafka import KafkaError, TopicCollection
from confluent_kafka.admin import NewPartitions, NewTopic

import kafka_wire as kw
from clients import (admin, consume, create_topic, future_error, produce_all, producer, topic_partitions,
                     unique_topic, wait_futures, watermarks)

INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG = 37, 38, 40
TOPIC_DELETION_DISABLED = 73
INVALID_REPLICA_ASSIGNMENT = 39
TOPIC_ALREADY_EXISTS = 36


def test_create_topic_then_produce_and_consume_every_partition(broker):
    t = unique_topic("created")
    wait_futures(admin(broker).create_topics([NewTopic(t, 5, 1)], operation_timeout=20))
    parts = topic_partitions(broker, t)
    assert parts is not None and sorted(parts) == [0, 1, 2, 3, 4]
    recs = produce_all(producer(broker), t, [{"value": b"p%d" % p, "partition": p} for p in range(5)])
    assert [(r.partition, r.offset) for r in recs] == [(p, 0) for p in range(5)]
    got = consume(broker, t, {p: 0 for p in range(5)}, {p: 1 for p in range(5)})
    assert {p: [r.value for r in rs] for p, rs in got.items()} == {p: [b"p%d" % p] for p in range(5)}


def test_create_validate_only_creates_nothing(broker):
    t = unique_topic("validate")
    res = wait_futures(admin(broker).create_topics([NewTopic(t, 3, 1)], validate_only=True, operation_timeout=20))
    assert res == {t: None}
    assert topic_partitions(broker, t) is None
    # and validation still refuses what a real create would refuse
    err = future_error(admin(broker).create_topics([NewTopic("bad name!", 1, 1)], validate_only=True)["bad name!"])
    assert err is not None and err.code() == KafkaError.TOPIC_EXCEPTION, err


def test_create_existing_topic_is_topic_already_exists(broker):
    t = unique_topic("dup")
    create_topic(broker, t, 2)
    err = future_error(admin(broker).create_topics([NewTopic(t, 4, 1)])[t])
    assert err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS, err
    assert sorted(topic_partitions(broker, t)) == [0, 1], "the failed create must not change the topic"


@pytest.mark.parametrize("name", ["bad name", "bad/name", "x" * 250, "..", ".", "caf\u00e9"],
                         ids=["space", "slash", "too-long", "dotdot", "dot", "non-ascii"])
def test_create_invalid_topic_name_is_invalid_topic_exception(broker, name):
    err = future_error(admin(broker).create_topics([NewTopic(name, 1, 1)])[name])
    assert err is not None and err.code() == KafkaError.TOPIC_EXCEPTION, err
    md = admin(broker).list_topics(timeout=30)
    assert name not in md.topics


def test_create_with_bad_counts_is_refused(broker):
    a = admin(broker)
    t1, t2 = unique_topic("rf"), unique_topic("np")
    err = future_error(a.create_topics([NewTopic(t1, 1, 3)])[t1])
    assert err is not None and err.code() == KafkaError.INVALID_REPLICATION_FACTOR, err
    err = future_error(a.create_topics([NewTopic(t2, 0, 1)])[t2])
    assert err is not None and err.code() == KafkaError.INVALID_PARTITIONS, err
    md = a.list_topics(timeout=30)
    assert t1 not in md.topics and t2 not in md.topics


def test_create_several_topics_in_one_request_reports_each(broker):
    good, dup = unique_topic("multi"), unique_topic("multi")
    create_topic(broker, dup)
    fs = admin(broker).create_topics([NewTopic(good, 2, 1), NewTopic(dup, 1, 1), NewTopic("no way", 1, 1)])
    assert future_error(fs[good]) is None
    assert future_error(fs[dup]).code() == KafkaError.TOPIC_ALREADY_EXISTS
    assert future_error(fs["no way"]).code() == KafkaError.TOPIC_EXCEPTION
    assert sorted(topic_partitions(broker, good)) == [0, 1]


def test_delete_topic_removes_it_and_its_data(broker):
    t = unique_topic("del")
    create_topic(broker, t, 2)
    produce_all(producer(broker), t, [{"value": b"old", "partition": 0}] * 10)
    assert watermarks(broker, t, 0) == (0, 10)
    wait_futures(admin(broker).delete_topics([t], operation_timeout=20))
    assert topic_partitions(broker, t) is None
    # recreate under the same name: a fresh, empty log
    create_topic(broker, t, 1)
    assert watermarks(broker, t, 0) == (0, 0)
    recs = produce_all(producer(broker), t, [{"value": b"new", "partition": 0}])
    assert recs[0].offset == 0
    assert [r.value for r in consume(broker, t, {0: 0}, {0: 1})[0]] == [b"new"]


def test_delete_topic_survives_restart(broker):
    t = unique_topic("delr")
    create_topic(broker, t, 1)
    produce_all(producer(broker), t, [{"value": b"x", "partition": 0}])
    wait_futures(admin(broker).delete_topics([t], operation_timeout=20))
    broker.restart()
    assert topic_partitions(broker, t) is None


def test_delete_unknown_topic_is_unknown_topic_or_part(broker):
    t = unique_topic("nosuch")
    err = future_error(admin(broker).delete_topics([t])[t])
    assert err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err


def test_create_partitions_grows_topic_and_new_partitions_work(broker):
    t = unique_topic("grow")
    create_topic(broker, t, 2)
    produce_all(producer(broker), t, [{"value": b"before-%d" % p, "partition": p} for p in range(2)])
    wait_futures(admin(broker).create_partitions([NewPartitions(t, 5)], operation_timeout=20))
    assert sorted(topic_partitions(broker, t)) == [0, 1, 2, 3, 4]
    p = producer(broker)
    recs = produce_all(p, t, [{"value": b"after-%d" % i, "partition": i} for i in range(5)])
    assert [(r.partition, r.offset) for r in recs] == [(0, 1), (1, 1), (2, 0), (3, 0), (4, 0)]
    got = consume(broker, t, {i: 0 for i in range(5)}, {0: 2, 1: 2, 2: 1, 3: 1, 4: 1})
    assert [r.value for r in got[0]] == [b"before-0", b"after-0"]
    assert [r.value for r in got[4]] == [b"after-4"]
    # the partition count is durable
    broker.restart()
    assert sorted(topic_partitions(broker, t)) == [0, 1, 2, 3, 4]
    assert watermarks(broker, t, 3) == (0, 1)


def test_create_partitions_cannot_shrink_or_stay(broker):
    t = unique_topic("shrink")
    create_topic(broker, t, 3)
    a = admin(broker)
    for n in (2, 3):
        err = future_error(a.create_partitions([NewPartitions(t, n)])[t])
        assert err is not None and err.code() == KafkaError.INVALID_PARTITIONS, (n, err)
    assert sorted(topic_partitions(broker, t)) == [0, 1, 2]
    missing = unique_topic("nosuch")
    err = future_error(a.create_partitions([NewPartitions(missing, 2)])[missing])
    assert err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err


def test_create_partitions_validate_only(broker):
    t = unique_topic("growv")
    create_topic(broker, t, 1)
    wait_futures(admin(broker).create_partitions([NewPartitions(t, 4)], validate_only=True))
    assert sorted(topic_partitions(broker, t)) == [0]


def test_created_topics_survive_restart(broker):
    t = unique_topic("durable")
    create_topic(broker, t, 3, config={"retention.ms": "7200000"})
    broker.restart()
    assert sorted(topic_partitions(broker, t)) == [0, 1, 2]


def test_create_with_default_counts_uses_num_partitions(start_broker):
    b = start_broker({"num.partitions": 3})
    t = unique_topic("defaults")
    wait_futures(admin(b).create_topics([NewTopic(t)], operation_timeout=20))  # KIP-464: -1/-1
    assert sorted(topic_partitions(b, t)) == [0, 1, 2]


def test_partitions_past_max_broker_partitions_are_a_policy_violation(start_broker):
    b = start_broker({"max.broker.partitions": 10})
    a = admin(b)
    first, second = unique_topic("budget"), unique_topic("budget")
    wait_futures(a.create_topics([NewTopic(first, 8, 1)], operation_timeout=20))
    err = future_error(a.create_topics([NewTopic(second, 5, 1)])[second])
    assert err is not None and err.code() == KafkaError.POLICY_VIOLATION, err
    assert "max.broker.partitions is 10" in err.str()
    err = future_error(a.create_partitions([NewPartitions(first, 11)])[first])
    assert err is not None and err.code() == KafkaError.POLICY_VIOLATION, err
    wait_futures(a.create_partitions([NewPartitions(first, 10)]))
    assert sorted(topic_partitions(b, first)) == list(range(10))
    assert topic_partitions(b, second) is None
    b.restart()
    assert sorted(topic_partitions(b, first)) == list(range(10))


def test_partitions_past_the_descriptor_limit_are_refused_not_half_applied(start_broker):
    """With 600 descriptors, a topic of 1000 partitions could not be opened: the broker would
    fail every start. It is refused, naming the limit; the broker serves and restarts."""
    b = start_broker()
    b.stop()
    b.limits = {resource.RLIMIT_NOFILE: (600, 600)}
    b.start()
    a = admin(b)
    big, small = unique_topic("fds"), unique_topic("fds")
    err = future_error(a.create_topics([NewTopic(big, 1000, 1)])[big])
    assert err is not None and err.code() == KafkaError.POLICY_VIOLATION, err
    assert "RLIMIT_NOFILE" in err.str(), err
    assert topic_partitions(b, big) is None
    wait_futures(a.create_topics([NewTopic(small, 10, 1)], operation_timeout=20))
    b.restart()
    recs = produce_all(producer(b), small, [{"value": b"v", "partition": p} for p in range(10)])
    assert len(recs) == 10


def test_manual_replica_assignments_are_validated(broker):
    """INVALID_REPLICA_ASSIGNMENT, as Kafka answers, for a broker that does not exist, a
    broker named twice, replica counts that differ, and a CreatePartitions whose assignments
    do not cover exactly the partitions it adds. Valid ones are applied."""
    a = admin(broker)
    (node,) = a.list_topics(timeout=30).brokers
    bad = [[[node], [node, node]], [[node + 7]], [[node], [node + 7]]]
    for assignment in bad:
        t = unique_topic("assign")
        err = future_error(a.create_topics([NewTopic(t, num_partitions=len(assignment), replica_assignment=assignment)])[t])
        assert err is not None and err.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT, (assignment, err)
        assert topic_partitions(broker, t) is None
    t = unique_topic("assign")
    wait_futures(a.create_topics([NewTopic(t, num_partitions=2, replica_assignment=[[node], [node]])], operation_timeout=20))
    assert sorted(topic_partitions(broker, t)) == [0, 1]
    for assignment in ([[node]], [[node], [node], [node]], [[node], [node + 7]], [[node], [node, node]]):
        err = future_error(a.create_partitions([NewPartitions(t, 4, replica_assignment=assignment)])[t])
        assert err is not None and err.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT, (assignment, err)
    wait_futures(a.create_partitions([NewPartitions(t, 4, replica_assignment=[[node], [node]])]))
    assert sorted(topic_partitions(broker, t)) == [0, 1, 2, 3]


def create_raw(broker, topics: list[kw.NewTopicRaw]) -> list[kw.CreatedTopic]:
    with kw.Conn(broker.bootstrap) as c:
        return kw.parse_create_topics_v5(c.request(kw.CREATE_TOPICS, 5, kw.create_topics_v5(topics), flexible=True))


def test_create_topics_checks_in_kafkas_order(broker):
    """A name given twice is answered once and not created; __cluster_metadata is never a
    topic; configs are checked before the counts, the replication factor before the
    partition count; a created topic's answer carries its counts and configs (v5). Each
    refusal carries the message Kafka's controller gives."""
    twice, once = unique_topic("twice"), unique_topic("once")
    got = create_raw(broker, [kw.NewTopicRaw(twice, 1), kw.NewTopicRaw(once, 2), kw.NewTopicRaw(twice, 2)])
    assert [(g.name, g.error_code, g.error_message) for g in got] == \
        [(twice, kw.INVALID_REQUEST, "Duplicate topic name."), (once, kw.NONE, None)], got
    assert topic_partitions(broker, twice) is None and sorted(topic_partitions(broker, once)) == [0, 1]
    created = got[1]
    assert (created.num_partitions, created.replication_factor, created.config_error_code) == (2, 1, 0), created
    assert created.configs["cleanup.policy"] == "delete", created
    assert (got[0].num_partitions, got[0].replication_factor) == (-1, -1), got[0]
    (meta,) = create_raw(broker, [kw.NewTopicRaw("__cluster_metadata", 1, 1)])
    assert meta.error_code == kw.INVALID_REQUEST, meta
    t = unique_topic("order")
    (node,) = admin(broker).list_topics(timeout=30).brokers
    stranger = node + 7
    assignment = "The manual partition assignment includes"
    # Kafka's controller's messages, word for word.
    cases = [
        (kw.NewTopicRaw(t, 0, 0, configs={"cleanup.policy": "nonsense"}), INVALID_CONFIG, None),
        (kw.NewTopicRaw(t, 0, 0), INVALID_REPLICATION_FACTOR,
         "Replication factor must be larger than 0, or -1 to use the default value."),
        (kw.NewTopicRaw(t, 0, 1), INVALID_PARTITIONS, "Number of partitions was set to an invalid non-positive value."),
        (kw.NewTopicRaw(t, 1, 3), INVALID_REPLICATION_FACTOR,
         "Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached "
         "because only 1 broker(s) are registered."),
        (kw.NewTopicRaw(t, 1, 1, assignments=[(0, [node])]), kw.INVALID_REQUEST,
         "A manual partition assignment was specified, but replication factor was not set to -1."),
        (kw.NewTopicRaw(t, 1, -1, assignments=[(0, [node])]), kw.INVALID_REQUEST,
         "A manual partition assignment was specified, but numPartitions was not set to -1."),
        (kw.NewTopicRaw(t, assignments=[(0, [node]), (0, [node])]), INVALID_REPLICA_ASSIGNMENT,
         "Found multiple manual partition assignments for partition 0"),
        (kw.NewTopicRaw(t, assignments=[(0, [node]), (2, [node])]), INVALID_REPLICA_ASSIGNMENT,
         "partitions should be a consecutive 0-based integer sequence"),
        (kw.NewTopicRaw(t, assignments=[(0, []), (1, [])]), INVALID_REPLICA_ASSIGNMENT,
         f"{assignment} an empty replica list."),
        (kw.NewTopicRaw(t, assignments=[(0, [stranger, node])]), INVALID_REPLICA_ASSIGNMENT,
         f"{assignment} broker {stranger}, but no such broker is registered."),
        (kw.NewTopicRaw(t, assignments=[(0, [node, node])]), INVALID_REPLICA_ASSIGNMENT,
         f"{assignment} the broker {node} more than once."),
    ]
    for topic, code, message in cases:
        (answer,) = create_raw(broker, [topic])
        assert answer.error_code == code, (topic, answer)
        if message is not None:
            assert answer.error_message == message, (topic, answer)
    assert topic_partitions(broker, t) is None
    # Kafka's words for a name in use, one that differs only by '.' against '_', and one
    # that breaks its rules.
    (again,) = create_raw(broker, [kw.NewTopicRaw(once, 1, 1)])
    assert (again.error_code, again.error_message) == (TOPIC_ALREADY_EXISTS, f"Topic '{once}' already exists.")
    dotted = unique_topic("dot.ted")
    assert create_raw(broker, [kw.NewTopicRaw(dotted, 1, 1)])[0].error_code == kw.NONE
    (collides,) = create_raw(broker, [kw.NewTopicRaw(dotted.replace(".", "_"), 1, 1)])
    assert (collides.error_code, collides.error_message) == \
        (kw.INVALID_TOPIC_EXCEPTION, f"Topic '{dotted.replace('.', '_')}' collides with existing topic: {dotted}")
    (bad,) = create_raw(broker, [kw.NewTopicRaw("a b", 1, 1)])
    assert (bad.error_code, bad.error_message) == (kw.INVALID_TOPIC_EXCEPTION, "Topic name is invalid: 'a b' contains "
                                                   "one or more characters other than ASCII alphanumerics, '.', '_' and '-'")


def delete_v6(broker, topics: list[tuple[str | None, uuid.UUID | None]]) -> list:
    with kw.Conn(broker.bootstrap) as c:
        return kw.parse_delete_topics_v6(c.request(kw.DELETE_TOPICS, 6, kw.delete_topics_v6(topics), flexible=True))


def topic_id(broker, name: str) -> uuid.UUID:
    (desc,) = admin(broker).describe_topics(TopicCollection([name])).values()
    tid = desc.result(timeout=30).topic_id
    mask = (1 << 64) - 1
    return uuid.UUID(int=((tid.get_most_significant_bits() & mask) << 64) | (tid.get_least_significant_bits() & mask))


def test_delete_topics_checks_the_request_as_kafka_does(broker):
    """An entry naming both a name and an id, or neither, is INVALID_REQUEST; a name or id
    given twice is answered once with INVALID_REQUEST and nothing is deleted; by id alone,
    the topic goes. Each refusal names the topic as the request did (by id: no name)."""
    t = unique_topic("del-rules")
    create_topic(broker, t)
    tid = topic_id(broker, t)
    nil = uuid.UUID(int=0)
    assert delete_v6(broker, [(t, tid)]) == \
        [(t, tid, kw.INVALID_REQUEST, "You may not specify both topic name and topic id.")]
    assert delete_v6(broker, [(None, None)]) == \
        [(None, nil, kw.INVALID_REQUEST, "Neither topic name nor id were specified.")]
    assert delete_v6(broker, [(t, None), (t, None)]) == [(t, nil, kw.INVALID_REQUEST, "Duplicate topic name.")]
    assert delete_v6(broker, [(None, tid), (None, tid)]) == [(None, tid, kw.INVALID_REQUEST, "Duplicate topic id.")]
    maps = "The provided topic name maps to an ID that was already supplied."
    assert delete_v6(broker, [(t, None), (None, tid)]) == [(t, nil, kw.INVALID_REQUEST, maps)]
    assert delete_v6(broker, [(None, tid), (t, None)]) == [(None, tid, kw.INVALID_REQUEST, maps)]
    assert topic_partitions(broker, t) is not None
    assert delete_v6(broker, [(None, tid)]) == [(t, tid, kw.NONE, None)]
    assert topic_partitions(broker, t) is None


def test_with_deletion_disabled_every_topic_is_refused_in_the_versions_terms(start_broker):
    b = start_broker({"delete.topic.enable": "false"})
    t = unique_topic("kept")
    create_topic(b, t)
    assert [(name, code) for name, _, code, _ in delete_v6(b, [(t, None), ("nothing", None)])] == \
        [(t, TOPIC_DELETION_DISABLED), ("nothing", TOPIC_DELETION_DISABLED)]
    with kw.Conn(b.bootstrap) as c:
        # DeleteTopics v1 knows no TOPIC_DELETION_DISABLED: Kafka answers INVALID_REQUEST.
        assert kw.parse_delete_topics_v1(c.request(kw.DELETE_TOPICS, 1, kw.delete_topics_v1([t]))) == \
            [(t, kw.INVALID_REQUEST)]
    assert topic_partitions(b, t) is not None


def test_create_partitions_answers_a_topic_named_twice_once_and_kafkas_messages(broker):
    t = unique_topic("grow-rules")
    create_topic(broker, t)
    with kw.Conn(broker.bootstrap) as c:
        def grow(*changes: tuple[str, int]) -> list:
            request = kw.create_partitions_v1(list(changes))
            return kw.parse_create_partitions_v1(c.request(kw.CREATE_PARTITIONS, 1, request))
        assert grow((t, 3), (t, 4)) == [(t, kw.INVALID_REQUEST, "Duplicate topic name.")]
        assert grow((t, 1)) == [(t, INVALID_PARTITIONS, "Topic already has 1 partition(s).")]
        assert grow((t, 0)) == [(t, INVALID_PARTITIONS,
                                 f"The topic {t} currently has 1 partition(s); 0 would not be an increase.")]
        assert sorted(topic_partitions(broker, t)) == [0]
        assert grow((t, 2)) == [(t, kw.NONE, None)]
    assert sorted(topic_partitions(broker, t)) == [0, 1]
