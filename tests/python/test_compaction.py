"""Log compaction with real clients: a `cleanup.policy=compact` topic keeps the last value of
every key, in offset order, with offsets unchanged; `compact,delete` does too. The broker's
cleaner runs every `log.retention.check.interval.ms` (set short here); the test polls the topic
until the cleaner has visibly run, with a deadline."""

from __future__ import annotations

import time

import pytest

from clients import CLIENT_TIMEOUT_S, consume_all, create_topic, producer, produce_all, unique_topic

KEYS = 10
ROUNDS = 30


@pytest.mark.parametrize("policy", ["compact", "compact,delete"])
def test_compaction_keeps_the_last_value_per_key(start_broker, policy):
    broker = start_broker({"log.retention.check.interval.ms": 100})
    topic = unique_topic("compact")
    create_topic(broker, topic, 1, {"cleanup.policy": policy, "segment.bytes": 1024})
    p = producer(broker, acks="all", linger_ms=0)
    sent = []
    for r in range(ROUNDS):
        records = [{"key": f"k{k}".encode(), "value": f"v{r}-{k}".encode(), "partition": 0} for k in range(KEYS)]
        sent += produce_all(p, topic, records)
    last = {rec.key: rec for rec in sent}

    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while True:
        got = consume_all(broker, topic, [0])[0]
        if len(got) < len(sent):
            break
        assert time.monotonic() < deadline, "the cleaner never removed a superseded record"
    offsets = [r.offset for r in got]
    assert offsets == sorted(offsets), "compaction reordered records"
    by_offset = {r.offset: r for r in sent}
    for r in got:
        assert (r.key, r.value) == (by_offset[r.offset].key, by_offset[r.offset].value), "a record changed"
    for key, rec in last.items():
        assert any(r.offset == rec.offset and r.value == rec.value for r in got), f"{key} lost its last value"
    # Reading by key: the last value read for each key is the last one written.
    seen = {}
    for r in got:
        seen[r.key] = r.value
    assert seen == {k: rec.value for k, rec in last.items()}


def test_a_compacted_topic_refuses_records_without_a_key(broker):
    from confluent_kafka import KafkaError

    from clients import produce_one_error

    topic = unique_topic("compact-nokey")
    create_topic(broker, topic, 1, {"cleanup.policy": "compact"})
    p = producer(broker, acks="all", retries=0)
    err = produce_one_error(p, topic, value=b"no key", partition=0)
    assert err is not None and err.code() == KafkaError.INVALID_RECORD, err
    assert produce_one_error(p, topic, key=b"k", value=b"keyed", partition=0) is None


def test_a_key_map_smaller_than_the_key_space_still_compacts_everything(start_broker):
    # 1 MiB of dedupe buffer holds 32768 keys (16384 a shard with two): fewer than the 50000
    # keys written, so the cleaner must stop at a full map and go on in later runs.
    broker = start_broker({"log.retention.check.interval.ms": 100, "log.cleaner.dedupe.buffer.size": 1 << 20})
    topic = unique_topic("compact-bounded")
    create_topic(broker, topic, 1, {"cleanup.policy": "compact", "segment.bytes": 65536})
    # Batches smaller than a segment: Kafka refuses a larger one (RECORD_LIST_TOO_LARGE).
    p = producer(broker, acks="all", linger_ms=5, **{"batch.size": 32768})
    keys = 50_000
    sent = []
    for r in range(2):
        sent += produce_all(p, topic, [{"key": b"k%d" % k, "value": b"v%d" % r, "partition": 0} for k in range(keys)])
    # Records under new keys, more than a segment of them, so that every second value is in
    # a sealed segment: as in Kafka, what supersedes records from the active segment is not
    # promised to be mapped, and the active segment is never cleaned.
    fillers = produce_all(p, topic, [{"key": b"f%d" % i, "value": b"x" * 100, "partition": 0} for i in range(1000)])
    last = {rec.key: rec for rec in sent + fillers}
    assert len(last) == keys + len(fillers)

    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while True:
        got = consume_all(broker, topic, [0])[0]
        if len(got) == len(last):
            break
        assert time.monotonic() < deadline, f"{len(got)} records left, {len(last)} expected once compacted"
    assert {(r.key, r.offset, r.value) for r in got} == {(k, rec.offset, rec.value) for k, rec in last.items()}
