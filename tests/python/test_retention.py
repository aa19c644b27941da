"""Retention by time empties an idle topic: the expired active segment is rolled and
deleted, the low watermark moves to the end, and new records still append there."""

from __future__ import annotations

import time

from confluent_kafka import TopicPartition

from clients import CLIENT_TIMEOUT_S, consume, consumer, create_topic, produce_all, producer, unique_topic

HOUR_MS = 3_600_000


def test_time_retention_ages_out_an_idle_topic(start_broker):
    b = start_broker({"log.retention.check.interval.ms": 100})
    t = unique_topic("ret")
    create_topic(b, t, 1, config={"retention.ms": "60000"})
    old = int(time.time() * 1000) - HOUR_MS
    produce_all(producer(b), t, [{"value": b"old-%d" % i, "timestamp": old + i, "partition": 0} for i in range(10)])
    # The broker's retention task runs every 100 ms; each check is a ListOffsets round trip.
    c = consumer(b)
    marks = lambda: c.get_watermark_offsets(TopicPartition(t, 0), timeout=CLIENT_TIMEOUT_S, cached=False)  # noqa: E731
    deadline = time.monotonic() + 30
    while marks() != (10, 10):
        assert time.monotonic() < deadline, f"retention did not run: watermarks {marks()}"
    fresh = produce_all(producer(b), t, [{"value": b"new", "partition": 0}])
    assert fresh[0].offset == 10
    got = consume(b, t, {0: 10}, {0: 11})
    assert [r.value for r in got[0]] == [b"new"]
