"""DescribeConfigs / AlterConfigs / IncrementalAlterConfigs (topic and broker), DeleteRecords,
DescribeCluster and DescribeTopicPartitions, through confluent-kafka's AdminClient."""

import time

from confluent_kafka import KafkaError, OFFSET_BEGINNING, OFFSET_END, TopicCollection, TopicPartition
from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, NewTopic, OffsetSpec,
                                   ResourceType)

import kafka_wire as kw
from clients import (admin, consume, consumer, create_topic, future_error, produce_all, produce_one_error, producer,
                     unique_topic, wait_futures, watermarks)

TOPIC_KEYS = {"cleanup.policy", "retention.ms", "retention.bytes", "segment.bytes", "max.message.bytes"}


def source(e: ConfigEntry) -> ConfigSource:
    return e.source if isinstance(e.source, ConfigSource) else ConfigSource(int(e.source))


def describe(b, rtype: ResourceType, name: str) -> dict[str, ConfigEntry]:
    r = ConfigResource(rtype, name)
    return wait_futures(admin(b).describe_configs([r]))[r]


def incremental(b, rtype: ResourceType, name: str, ops: list[tuple[str, str | None, AlterConfigOpType]],
                **kwargs) -> KafkaError | None:
    entries = [ConfigEntry(k, v, incremental_operation=op) for k, v, op in ops]
    r = ConfigResource(rtype, name, incremental_configs=entries)
    return future_error(admin(b).incremental_alter_configs([r], **kwargs)[r])


def broker_id(b) -> str:
    (bid,) = admin(b).list_topics(timeout=30).brokers
    return str(bid)


def test_describe_topic_configs_overrides_and_inherited_defaults(start_broker):
    b = start_broker({"log.retention.hours": 5})
    t, plain = unique_topic("cfg"), unique_topic("plain")
    create_topic(b, t, 1, config={"retention.ms": "3600000", "segment.bytes": "2097152"})
    create_topic(b, plain, 1)
    cfg = describe(b, ResourceType.TOPIC, t)
    assert TOPIC_KEYS <= set(cfg), sorted(cfg)
    assert (cfg["retention.ms"].value, source(cfg["retention.ms"])) == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert (cfg["segment.bytes"].value, source(cfg["segment.bytes"])) == ("2097152", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    dflt = describe(b, ResourceType.TOPIC, plain)
    assert dflt["retention.ms"].value == str(5 * 3600 * 1000), "topic default follows the broker's log.retention.hours"
    assert source(dflt["retention.ms"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert dflt["cleanup.policy"].value == "delete"


def test_describe_configs_of_unknown_topic_fails(broker):
    r = ConfigResource(ResourceType.TOPIC, unique_topic("nosuch"))
    err = future_error(admin(broker).describe_configs([r])[r])
    assert err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err


def test_alter_configs_replaces_the_whole_set(broker):
    t = unique_topic("alter")
    create_topic(broker, t, 1, config={"retention.ms": "3600000", "segment.bytes": "2097152"})
    r = ConfigResource(ResourceType.TOPIC, t, set_config={"retention.bytes": "10485760"})
    wait_futures(admin(broker).alter_configs([r]))
    cfg = describe(broker, ResourceType.TOPIC, t)
    assert (cfg["retention.bytes"].value, source(cfg["retention.bytes"])) == ("10485760", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    # legacy AlterConfigs is a full replacement: overrides not named are dropped
    assert source(cfg["retention.ms"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert source(cfg["segment.bytes"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert cfg["segment.bytes"].value != "2097152"


def test_incremental_alter_configs_set_and_delete(broker):
    t = unique_topic("incr")
    create_topic(broker, t, 1, config={"retention.ms": "3600000", "segment.bytes": "2097152"})
    err = incremental(broker, ResourceType.TOPIC, t, [("retention.bytes", "1048576", AlterConfigOpType.SET),
                                                       ("segment.bytes", None, AlterConfigOpType.DELETE)])
    assert err is None, err
    cfg = describe(broker, ResourceType.TOPIC, t)
    assert (cfg["retention.ms"].value, source(cfg["retention.ms"])) == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert (cfg["retention.bytes"].value, source(cfg["retention.bytes"])) == ("1048576", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert source(cfg["segment.bytes"]) != ConfigSource.DYNAMIC_TOPIC_CONFIG
    # validate_only changes nothing
    err = incremental(broker, ResourceType.TOPIC, t, [("retention.ms", "60000", AlterConfigOpType.SET)], validate_only=True)
    assert err is None, err
    assert describe(broker, ResourceType.TOPIC, t)["retention.ms"].value == "3600000"
    # and the overrides are durable
    broker.restart()
    cfg = describe(broker, ResourceType.TOPIC, t)
    assert cfg["retention.ms"].value == "3600000" and cfg["retention.bytes"].value == "1048576"


def test_subtract_may_empty_the_cleanup_policy(start_broker):
    """As in Kafka 4.2, an empty cleanup.policy is accepted and keeps data forever: retention
    deletes nothing however old it is. A control topic of four partitions (on every shard)
    with the delete policy shows retention ran."""
    b = start_broker({"log.retention.check.interval.ms": 100})
    t = unique_topic("keep")
    create_topic(b, t, 1, config={"cleanup.policy": "delete", "retention.ms": "1000", "segment.bytes": "1024"})
    err = incremental(b, ResourceType.TOPIC, t, [("cleanup.policy", "delete", AlterConfigOpType.SUBTRACT)])
    assert err is None, err
    assert describe(b, ResourceType.TOPIC, t)["cleanup.policy"].value == ""
    control = unique_topic("aged")
    create_topic(b, control, 4, config={"cleanup.policy": "delete", "retention.ms": "1000", "segment.bytes": "1024"})
    old = int(time.time() * 1000) - 3_600_000
    records = [{"key": b"k", "value": b"v%d" % i, "timestamp": old, "partition": 0} for i in range(50)]
    sent = produce_all(producer(b), t, records)
    produce_all(producer(b), control, [dict(r, partition=p) for p in range(4) for r in records])
    # Once retention has trimmed every control partition, it has run on every shard.
    deadline = time.monotonic() + 30
    while any(watermarks(b, control, p)[0] == 0 for p in range(4)):
        assert time.monotonic() < deadline, "retention never ran"
    assert watermarks(b, t, 0) == (0, 50)
    assert [r.value for r in consume(b, t, {0: 0}, {0: 50})[0]] == [r.value for r in sent]


def test_invalid_topic_configs_are_refused(broker):
    t = unique_topic("badcfg")
    create_topic(broker, t, 1, config={"retention.ms": "3600000"})
    for key, value in [("no.such.config", "1"), ("retention.ms", "not-a-number"), ("cleanup.policy", "sometimes")]:
        err = incremental(broker, ResourceType.TOPIC, t, [(key, value, AlterConfigOpType.SET)])
        assert err is not None and err.code() in (KafkaError.INVALID_CONFIG, KafkaError.INVALID_REQUEST), (key, err)
    assert describe(broker, ResourceType.TOPIC, t)["retention.ms"].value == "3600000"
    # a create with a bad config creates nothing
    bad = unique_topic("badcreate")
    err = future_error(admin(broker).create_topics([NewTopic(bad, 1, 1, config={"retention.ms": "soon"})])[bad])
    assert err is not None and err.code() == KafkaError.INVALID_CONFIG, err
    assert bad not in admin(broker).list_topics(timeout=30).topics


def test_topic_max_message_bytes_is_enforced_and_alterable(broker):
    t = unique_topic("maxmsg")
    create_topic(broker, t, 1, config={"max.message.bytes": "10000"})
    p = producer(broker, **{"message.max.bytes": 5_000_000, "compression.type": "none"})
    err = produce_one_error(p, t, value=b"x" * 20000, partition=0)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    assert incremental(broker, ResourceType.TOPIC, t, [("max.message.bytes", "100000", AlterConfigOpType.SET)]) is None
    assert produce_one_error(p, t, value=b"x" * 20000, partition=0) is None
    assert watermarks(broker, t, 0) == (0, 1)


def test_broker_configs_describe_and_alter(start_broker):
    b = start_broker({"num.partitions": 3, "message.max.bytes": 500000})
    bid = broker_id(b)
    cfg = describe(b, ResourceType.BROKER, bid)
    assert cfg["num.partitions"].value == "3"
    assert source(cfg["num.partitions"]) == ConfigSource.STATIC_BROKER_CONFIG
    assert cfg["message.max.bytes"].value == "500000"
    assert "log.retention.hours" in cfg or "log.retention.ms" in cfg
    # a dynamic broker-level default, inherited by topics without an override
    err = incremental(b, ResourceType.BROKER, bid, [("log.retention.ms", "7200000", AlterConfigOpType.SET)])
    assert err is None, err
    cfg = describe(b, ResourceType.BROKER, bid)
    assert cfg["log.retention.ms"].value == "7200000"
    assert source(cfg["log.retention.ms"]) == ConfigSource.DYNAMIC_BROKER_CONFIG
    t = unique_topic("inherit")
    create_topic(b, t, 1)
    assert describe(b, ResourceType.TOPIC, t)["retention.ms"].value == "7200000"
    # legacy AlterConfigs on the broker too
    r = ConfigResource(ResourceType.BROKER, bid, set_config={"log.retention.ms": "3600000"})
    wait_futures(admin(b).alter_configs([r]))
    assert describe(b, ResourceType.BROKER, bid)["log.retention.ms"].value == "3600000"
    # unknown broker keys are refused
    err = incremental(b, ResourceType.BROKER, bid, [("no.such.broker.key", "1", AlterConfigOpType.SET)])
    assert err is not None and err.code() in (KafkaError.INVALID_CONFIG, KafkaError.INVALID_REQUEST), err


def test_delete_records_moves_low_watermark(broker):
    t = unique_topic("delrec")
    create_topic(broker, t, 2)
    p = producer(broker)
    produce_all(p, t, [{"value": b"%d" % i, "partition": 0} for i in range(100)])
    produce_all(p, t, [{"value": b"%d" % i, "partition": 1} for i in range(10)])
    a = admin(broker)
    res = wait_futures(a.delete_records([TopicPartition(t, 0, 40), TopicPartition(t, 1, OFFSET_END)]))
    assert {tp.partition: r.low_watermark for tp, r in res.items()} == {0: 40, 1: 10}
    assert watermarks(broker, t, 0) == (40, 100)
    assert watermarks(broker, t, 1) == (10, 10)
    lo = wait_futures(a.list_offsets({TopicPartition(t, 0): OffsetSpec.earliest()}))
    assert [r.offset for r in lo.values()] == [40]
    got = consume(broker, t, {0: OFFSET_BEGINNING}, {0: 100})[0]
    assert [r.offset for r in got] == list(range(40, 100))
    assert got[0].value == b"40"
    # a fetch below the new start is out of range: 'earliest' resets to the new start
    got = consume(broker, t, {0: 5}, {0: 100}, **{"auto.offset.reset": "earliest"})[0]
    assert got[0].offset == 40
    # an offset below the log start succeeds and answers the current low watermark, as Kafka does
    res = wait_futures(a.delete_records([TopicPartition(t, 0, 10)]))
    assert [r.low_watermark for r in res.values()] == [40]
    # deleting past the high watermark is refused
    res = a.delete_records([TopicPartition(t, 0, 1000)])
    err = future_error(next(iter(res.values())))
    assert err is not None and err.code() == KafkaError.OFFSET_OUT_OF_RANGE, err
    # the log start offset is durable
    broker.restart()
    assert watermarks(broker, t, 0) == (40, 100)
    assert watermarks(broker, t, 1) == (10, 10)


def test_describe_cluster(broker):
    a = admin(broker)
    d = a.describe_cluster().result(timeout=30)
    md = a.list_topics(timeout=30)
    assert d.cluster_id and d.cluster_id == md.cluster_id
    assert [(n.id, n.host, n.port) for n in d.nodes] == [(bid, "127.0.0.1", broker.port) for bid in md.brokers]
    assert d.controller is not None and d.controller.id == d.nodes[0].id
    # a node keeps its cluster id across restarts
    cid = d.cluster_id
    broker.restart()
    assert admin(broker).describe_cluster().result(timeout=30).cluster_id == cid


def test_describe_topics(broker):
    t = unique_topic("desc")
    create_topic(broker, t, 3)
    a = admin(broker)
    bid = int(broker_id(broker))
    d = wait_futures(a.describe_topics(TopicCollection([t])))[t]
    assert d.name == t and not d.is_internal
    assert str(d.topic_id) not in ("", "AAAAAAAAAAAAAAAAAAAAAA"), "a topic has a non-zero id"
    assert [p.id for p in d.partitions] == [0, 1, 2]
    for p in d.partitions:
        assert p.leader.id == bid
        assert [n.id for n in p.replicas] == [bid] and [n.id for n in p.isr] == [bid]
    missing = unique_topic("nosuch")
    err = future_error(a.describe_topics(TopicCollection([missing]))[missing])
    assert err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err


def test_synonyms_are_listed_as_kafka_lists_them(start_broker):
    """DescribeConfigs with include_synonyms (kafka-python asks for them): a topic value's
    sources, highest precedence first: its override, then the broker key it falls back
    to, dynamic before static before the default. As in Kafka, a topic's retention.ms
    lists the broker's values from log.retention.ms on, so a broker that sets only
    log.retention.hours leaves it none."""
    from kafka.admin import ConfigResource as KConfigResource, ConfigResourceType, KafkaAdminClient

    b = start_broker({"log.segment.bytes": "2097152", "log.retention.hours": "2"})
    t = unique_topic("synonyms")
    create_topic(b, t, 1, {"max.message.bytes": "5000"})
    bid = broker_id(b)
    assert incremental(b, ResourceType.BROKER, bid, [("log.segment.bytes", "4194304", AlterConfigOpType.SET)]) is None
    a = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        topic = a.describe_configs([KConfigResource(ConfigResourceType.TOPIC, t)], include_synonyms=True,
                                   config_filter="all")["topic"][t]
        broker = a.describe_configs([KConfigResource(ConfigResourceType.BROKER, bid)], include_synonyms=True,
                                    config_filter="all")["broker"][bid]
    finally:
        a.close()

    def listed(entry: dict) -> list[tuple[str, str, str]]:
        return [(s["source"], s["name"], s["value"]) for s in entry["synonyms"]]

    assert listed(topic["max.message.bytes"]) == [
        ("DYNAMIC_TOPIC_CONFIG", "max.message.bytes", "5000"), ("DEFAULT_CONFIG", "message.max.bytes", "1048588")]
    assert topic["segment.bytes"]["config_source"] == "DYNAMIC_BROKER_CONFIG"
    assert listed(topic["segment.bytes"]) == [
        ("DYNAMIC_BROKER_CONFIG", "log.segment.bytes", "4194304"),
        ("STATIC_BROKER_CONFIG", "log.segment.bytes", "2097152"),
        ("DEFAULT_CONFIG", "log.segment.bytes", "1073741824")]
    assert (topic["retention.ms"]["value"], topic["retention.ms"]["config_source"]) == ("7200000", "DEFAULT_CONFIG")
    assert listed(topic["retention.ms"]) == []
    assert listed(broker["log.retention.hours"]) == [
        ("STATIC_BROKER_CONFIG", "log.retention.hours", "2"), ("DEFAULT_CONFIG", "log.retention.hours", "168")]
    assert listed(broker["log.retention.ms"]) == []
    assert broker["log.segment.bytes"]["read_only"] is False and broker["num.partitions"]["read_only"] is True


def test_delete_records_is_refused_where_kafka_refuses_it(broker):
    """Kafka deletes records only where `cleanup.policy` has delete (POLICY_VIOLATION
    elsewhere), and never from an internal topic (INVALID_TOPIC_EXCEPTION)."""
    compacted = unique_topic("delrec-compact")
    create_topic(broker, compacted, 1, {"cleanup.policy": "compact"})
    produce_all(producer(broker), compacted, [{"key": b"k", "value": b"%d" % i, "partition": 0} for i in range(3)])
    a = admin(broker)
    err = future_error(next(iter(a.delete_records([TopicPartition(compacted, 0, 1)]).values())))
    assert err is not None and err.code() == KafkaError.POLICY_VIOLATION, err
    assert watermarks(broker, compacted, 0) == (0, 3)
    both = unique_topic("delrec-both")
    create_topic(broker, both, 1, {"cleanup.policy": "compact,delete"})
    produce_all(producer(broker), both, [{"key": b"k", "value": b"%d" % i, "partition": 0} for i in range(3)])
    assert [r.low_watermark for r in wait_futures(a.delete_records([TopicPartition(both, 0, 2)])).values()] == [2]
    # A group's commit makes the offsets topic exist.
    c = consumer(broker, group_id=unique_topic("delrec-group"))
    c.commit(offsets=[TopicPartition(both, 0, 3)], asynchronous=False)
    err = future_error(next(iter(a.delete_records([TopicPartition("__consumer_offsets", 0, 0)]).values())))
    assert err is not None and err.code() == KafkaError.TOPIC_EXCEPTION, err


def test_config_changes_kafka_refuses_before_looking_at_them(broker):
    """Kafka's first checks of AlterConfigs and IncrementalAlterConfigs: a resource named
    twice (every copy refused), a key twice in one resource, a null value where a value is
    needed, and a topic resource without a name: INVALID_REQUEST, and nothing changes."""
    t = unique_topic("cfg-rules")
    create_topic(broker, t)
    topic = kw.RESOURCE_TOPIC
    with kw.Conn(broker.bootstrap) as c:
        def incremental(*resources) -> list:
            request = kw.incremental_alter_configs_v0(list(resources))
            return kw.parse_alter_configs_v0(c.request(kw.INCREMENTAL_ALTER_CONFIGS, 0, request))

        def legacy(*resources) -> list:
            return kw.parse_alter_configs_v0(c.request(kw.ALTER_CONFIGS, 0, kw.alter_configs_v0(list(resources))))

        retention = [("retention.ms", kw.SET, "1000")]
        assert incremental((topic, t, retention), (topic, t, retention)) == \
            [(topic, t, kw.INVALID_REQUEST, "Each resource must appear at most once.")] * 2
        assert incremental((topic, t, retention + [("retention.ms", kw.DELETE, None)])) == \
            [(topic, t, kw.INVALID_REQUEST, "Error due to duplicate config keys")]
        assert incremental((topic, t, [("retention.ms", kw.SET, None), ("segment.ms", kw.APPEND, None)])) == \
            [(topic, t, kw.INVALID_REQUEST, "Null value not supported for : retention.ms, segment.ms")]
        assert legacy((topic, t, [("retention.ms", None)])) == \
            [(topic, t, kw.INVALID_REQUEST, "Null value not supported for : retention.ms")]
        assert incremental((topic, "", retention)) == \
            [(topic, "", kw.INVALID_REQUEST, "Default topic resources are not allowed.")]
        # A broker config that cannot change while the broker runs, or a bad value:
        # INVALID_REQUEST, as Kafka's broker refuses a broker config change.
        for key, value in (("log.dirs", "/elsewhere"), ("log.retention.ms", "soon")):
            ((_, _, code, _),) = incremental((kw.RESOURCE_BROKER, "", [(key, kw.SET, value)]))
            assert code == kw.INVALID_REQUEST, (key, code)
        # Nothing refused was applied.
        assert source(describe(broker, ResourceType.TOPIC, t)["retention.ms"]) == ConfigSource.DEFAULT_CONFIG
        # A DELETE needs no value, and deleting a key that is not set changes nothing.
        assert incremental((topic, t, [("retention.ms", kw.DELETE, None)])) == [(topic, t, kw.NONE, None)]
        assert source(describe(broker, ResourceType.TOPIC, t)["retention.ms"]) == ConfigSource.DEFAULT_CONFIG
        # The legacy API has no rule against a key given twice: the last value is set
        # (librdkafka's test 0092 sends a key it read back and then sets it again).
        assert legacy((topic, t, [("retention.ms", "1000"), ("retention.ms", "2000")])) == [(topic, t, kw.NONE, None)]
    assert describe(broker, ResourceType.TOPIC, t)["retention.ms"].value == "2000"
