"""kafka-python (3.x, pure-Python protocol stack, negotiates high API versions) and aiokafka
against the broker: produce + consume round trips with compression, and kafka-python's admin
client for DescribeTopicPartitions, DeleteRecords and DescribeCluster."""

import asyncio
import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTopicPartition

from clients import consume, create_topic, unique_topic, watermarks

CODECS = [None, "gzip", "snappy", "lz4", "zstd"]


def records(n: int, tag: str) -> list[dict]:
    base = int(time.time() * 1000) - 300_000
    return [{"key": None if i % 5 == 0 else b"k%d" % i,
             "value": b"" if i % 7 == 0 else (b"%s-%d " % (tag.encode(), i)) * (1 + i % 13),
             "headers": [("i", b"%d" % i)] if i % 2 else [],
             "timestamp_ms": base + i} for i in range(n)]


def as_tuples(recs) -> list[tuple]:
    return [(r["key"], r["value"], tuple(r["headers"]), r["timestamp_ms"]) for r in recs]


def kp_consume(bootstrap: str, topic: str, partition: int, count: int, timeout_s: float = 30) -> list:
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", request_timeout_ms=30000)
    try:
        tp = KTopicPartition(topic, partition)
        c.assign([tp])
        c.seek_to_beginning(tp)
        out = []
        deadline = time.monotonic() + timeout_s
        while len(out) < count and time.monotonic() < deadline:
            for batch in c.poll(timeout_ms=1000).values():
                out.extend(batch)
        return out
    finally:
        c.close()


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c or "none")
def test_kafka_python_round_trip(broker, codec):
    t = unique_topic(f"kp-{codec or 'none'}")
    create_topic(broker, t, 2)
    recs = records(120, "kp")
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", compression_type=codec, linger_ms=20,
                      enable_idempotence=False)  # kafka-python 3 defaults to idempotence: not in issue 2
    try:
        futures = [p.send(t, partition=0, **r) for r in recs]
        p.flush(30)
        metas = [f.get(timeout=30) for f in futures]
    finally:
        p.close(10)
    assert [m.offset for m in metas] == list(range(120))
    got = kp_consume(broker.bootstrap, t, 0, 120)
    assert [m.offset for m in got] == list(range(120))
    assert [(m.key, m.value, tuple((k, v) for k, v in m.headers), m.timestamp) for m in got] == as_tuples(recs)
    # librdkafka reads kafka-python's batches the same way
    other = consume(broker, t, {0: 0}, {0: 120})[0]
    assert [(r.key, r.value) for r in other] == [(r["key"], r["value"]) for r in recs]


def test_kafka_python_admin(broker):
    t = unique_topic("kpa")
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=30000)
    try:
        from kafka.admin import NewTopic

        a.create_topics([NewTopic(t, 3, 1)])
        # DescribeTopicPartitions (KIP-966)
        res = a.describe_topic_partitions([t])
        [desc] = res["topics"]
        assert desc["error_code"] == 0 and desc["name"] == t
        assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1, 2]
        assert all(p["error_code"] == 0 and p["leader_id"] >= 0 for p in desc["partitions"])
        # DescribeCluster
        cluster = a.describe_cluster()
        assert cluster["cluster_id"]
        assert [(x["host"], x["port"]) for x in cluster["brokers"]] == [("127.0.0.1", broker.port)]
        # DeleteRecords
        p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=False)
        for i in range(10):
            p.send(t, value=b"%d" % i, partition=1)
        p.flush(30)
        p.close(10)
        a.delete_records({KTopicPartition(t, 1): 6})
        assert watermarks(broker, t, 1) == (6, 10)
    finally:
        a.close()


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c or "none")
def test_aiokafka_round_trip(broker, codec):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as ATopicPartition

    t = unique_topic(f"aio-{codec or 'none'}")
    create_topic(broker, t, 1)
    recs = records(80, "aio")

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", compression_type=codec, linger_ms=10)
        await p.start()
        try:
            metas = [await f for f in [await p.send(t, partition=0, **r) for r in recs]]
        finally:
            await p.stop()
        c = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
        await c.start()
        try:
            tp = ATopicPartition(t, 0)
            c.assign([tp])
            await c.seek_to_beginning(tp)
            got = []
            deadline = time.monotonic() + 30
            while len(got) < len(recs) and time.monotonic() < deadline:
                for batch in (await c.getmany(timeout_ms=1000)).values():
                    got.extend(batch)
            return metas, got
        finally:
            await c.stop()

    metas, got = asyncio.run(asyncio.wait_for(run(), 50))
    assert [m.offset for m in metas] == list(range(80))
    assert [m.offset for m in got] == list(range(80))
    assert [(m.key, m.value, tuple(m.headers), m.timestamp) for m in got] == as_tuples(recs)
