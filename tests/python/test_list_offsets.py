"""ListOffsets: earliest, latest, and by timestamp — the exact first record at or after the time,
even when it sits in the middle of a batch, and across segments."""

import time

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import OffsetSpec

import kafka_wire as kw
from clients import admin, consumer, create_topic, kcat, produce_all, producer, unique_topic, wait_futures, watermarks

STEP_MS = 10


def offsets_for_times(broker, topic: str, partition: int, stamps: list[int]) -> list[int]:
    c = consumer(broker)
    try:
        out = []
        for ts in stamps:
            [r] = c.offsets_for_times([TopicPartition(topic, partition, ts)], timeout=30)
            assert r.error is None, r.error
            out.append(r.offset)
        return out
    finally:
        c.close()


def admin_offsets(broker, topic: str, partition: int, spec) -> int:
    res = wait_futures(admin(broker).list_offsets({TopicPartition(topic, partition): spec}))
    return next(iter(res.values())).offset


def expected_offset(stamps: list[int], target: int) -> int:
    """Kafka's rule: the first offset whose timestamp is >= target; -1 when there is none."""
    return next((off for off, ts in enumerate(stamps) if ts >= target), -1)


def produce_one_batch(broker, topic: str, stamps: list[int], codec: str = "none") -> None:
    """All records in exactly one batch: built by hand (a client's batching depends on timing),
    value i at timestamp stamps[i]."""
    base = stamps[0]
    recs = [kw.Record(None, b"%d" % i, [], ts - base) for i, ts in enumerate(stamps)]
    with kw.Conn(broker.bootstrap) as c:
        # Version 8 (the request is version 3's): zstd needs version 7.
        body = kw.produce_v3(topic, 0, kw.encode_batch(recs, base_timestamp=base, codec=codec))
        res = kw.parse_produce_v8(c.request(kw.PRODUCE, 8, body))
    assert res[(topic, 0)].error_code == kw.NONE, res


def test_earliest_and_latest(broker):
    t = unique_topic("lo")
    create_topic(broker, t, 2)
    assert watermarks(broker, t, 0) == (0, 0)
    produce_all(producer(broker), t, [{"value": b"x", "partition": 0}] * 25)
    assert watermarks(broker, t, 0) == (0, 25)
    assert watermarks(broker, t, 1) == (0, 0)
    assert admin_offsets(broker, t, 0, OffsetSpec.earliest()) == 0
    assert admin_offsets(broker, t, 0, OffsetSpec.latest()) == 25
    assert admin_offsets(broker, t, 1, OffsetSpec.latest()) == 0


@pytest.mark.parametrize("codec", ["none", "gzip", "zstd"])
def test_offset_by_time_inside_one_batch(broker, codec):
    t = unique_topic("bytime")
    create_topic(broker, t, 1)
    base = int(time.time() * 1000) - 600_000
    stamps = [base + STEP_MS * i for i in range(100)]
    produce_one_batch(broker, t, stamps, codec)
    batches = kw.fetch_all_batches(broker.bootstrap, t, 0)
    assert len(batches) == 1, f"expected the 100 records in one batch, got {len(batches)} batches"
    probes = [base - 10_000, base, base + 1, base + STEP_MS * 37, base + STEP_MS * 37 - 3, base + STEP_MS * 37 + 3,
              base + STEP_MS * 99, base + STEP_MS * 99 + 1, base + 10_000_000]
    want = [expected_offset(stamps, ts) for ts in probes]
    assert want == [0, 0, 1, 37, 37, 38, 99, -1, -1]
    assert offsets_for_times(broker, t, 0, probes) == want
    assert [admin_offsets(broker, t, 0, OffsetSpec.for_timestamp(ts)) for ts in probes] == want


def test_offset_by_time_with_out_of_order_timestamps(broker):
    """Timestamps inside a batch need not increase: the answer is still the first record in
    offset order whose timestamp is >= the target."""
    t = unique_topic("disorder")
    create_topic(broker, t, 1)
    base = int(time.time() * 1000) - 600_000
    stamps = [base + d for d in (100, 300, 200, 400, 50, 500)]
    produce_one_batch(broker, t, stamps)
    probes = [base + d for d in (0, 60, 150, 250, 300, 350, 450, 600)]
    want = [expected_offset(stamps, ts) for ts in probes]
    assert want == [0, 0, 1, 1, 1, 3, 5, -1]
    assert offsets_for_times(broker, t, 0, probes) == want


def test_offset_by_time_across_batches_and_segments(start_broker):
    """Many batches over several segments (log.segment.bytes=1 MiB): every record's own
    timestamp maps back to its offset, and gaps map to the next record."""
    b = start_broker({"log.segment.bytes": 1048576})
    t = unique_topic("segs")
    create_topic(b, t, 1)
    base = int(time.time() * 1000) - 3_600_000
    n = 3000
    stamps = [base + STEP_MS * i for i in range(n)]
    p = producer(b, **{"linger.ms": 5, "batch.num.messages": 97})
    produce_all(p, t, [{"value": b"%05d" % i + b"." * 1000, "partition": 0, "timestamp": ts}
                       for i, ts in enumerate(stamps)])
    segments = sorted((b.log_dir / f"{t}-0").glob("*.log"))
    assert len(segments) >= 3, f"expected several segments, found {[s.name for s in segments]}"
    probes = [stamps[i] for i in range(0, n, 97)] + [stamps[i] + 1 for i in range(5, n, 211)] + [stamps[-1] + 1]
    want = [expected_offset(stamps, ts) for ts in probes]
    assert offsets_for_times(b, t, 0, probes) == want
    # still right after a restart, from indexes rebuilt or reloaded from disk
    b.restart()
    assert offsets_for_times(b, t, 0, probes) == want


def test_kcat_query_offset_by_time(broker):
    t = unique_topic("kq")
    create_topic(broker, t, 1)
    base = int(time.time() * 1000) - 600_000
    stamps = [base + STEP_MS * i for i in range(20)]
    produce_one_batch(broker, t, stamps)
    for probe, want in ((base + STEP_MS * 7, 7), (base + STEP_MS * 7 + 1, 8), (base - 1, 0)):
        out = kcat(broker, "-Q", "-t", f"{t}:0:{probe}").stdout.decode()
        assert f"{t} [0] offset {want}" in out, out


def test_a_partition_named_twice_and_timestamps_the_version_does_not_know(broker):
    """Kafka's checks before it looks a partition up: a partition the request names twice is
    answered once, with INVALID_REQUEST; a special timestamp newer than the request's version
    (-3 max timestamp from v7, -4 from v8, -5 from v9) or any other negative one is
    UNSUPPORTED_VERSION."""
    t = unique_topic("lo-rules")
    create_topic(broker, t, 2)
    base = int(time.time() * 1000) - 60_000
    produce_all(producer(broker), t, [{"value": b"x", "partition": 0, "timestamp": base + d} for d in (0, 5, 2)])
    queries = [(t, 0, -1), (t, 1, -2), (t, 0, -2), (t, 1, -3), (t, 1, -4), (t, 1, -5), (t, 1, -9), (t, 7, -1)]
    with kw.Conn(broker.bootstrap) as conn:
        # Each query is its own topic entry, so (t, 1) is named five times: one answer.
        answers = kw.parse_list_offsets_v5(conn.request(kw.LIST_OFFSETS, 5, kw.list_offsets_v5(queries)))
        assert answers == [(t, 0, kw.INVALID_REQUEST, -1, -1), (t, 1, kw.INVALID_REQUEST, -1, -1),
                           (t, 7, kw.UNKNOWN_TOPIC_OR_PARTITION, -1, -1)], answers
        for stamp in (-3, -4, -5, -9):
            (answer,) = kw.parse_list_offsets_v5(conn.request(kw.LIST_OFFSETS, 5, kw.list_offsets_v5([(t, 0, stamp)])))
            assert answer == (t, 0, kw.UNSUPPORTED_VERSION, -1, -1), (stamp, answer)
        (answer,) = kw.parse_list_offsets_v5(conn.request(kw.LIST_OFFSETS, 5, kw.list_offsets_v5([(t, 0, -1)])))
        assert answer == (t, 0, kw.NONE, -1, 3), answer
    # The special timestamps where the version knows them, through librdkafka's admin client.
    assert admin_offsets(broker, t, 0, OffsetSpec.max_timestamp()) == 1
