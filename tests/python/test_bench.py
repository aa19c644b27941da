"""`shoal bench`, the load harness, run briefly against the broker fixture in each scenario.

Each run's JSON report is checked for the fields bench/README.md documents, and what the
bench says it did is cross-checked with confluent-kafka (librdkafka): the records it
produced are in the log (end offsets), keyed records sit where Kafka's default
partitioner (kafka-python's murmur2) puts them, and what it consumed is what a third-party
producer wrote. No timing is asserted: speed is what the bench reports, not a test.
"""

from __future__ import annotations

import json
import struct
import subprocess
import time

from confluent_kafka import TopicPartition
from kafka.partitioner.default import murmur2

import kafka_wire as kw
from clients import consume_all, consumer, create_topic, produce_all, producer, unique_topic, watermarks
from conftest import shoal_bin

BENCH_TIMEOUT_S = 120.0
KEY_BYTES = len(b"key-0000000000")
PERCENTILES = ["p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms"]


def bench(b, tmp_path, scenario: str, *args: str) -> dict:
    """Runs `shoal bench SCENARIO` to completion; returns its JSON report."""
    report = tmp_path / f"{scenario}-{time.monotonic_ns()}.json"
    cmd = [str(shoal_bin()), "bench", scenario, "--bootstrap-server", b.bootstrap, "--json", str(report), *args]
    cp = subprocess.run(cmd, capture_output=True, timeout=BENCH_TIMEOUT_S)
    assert cp.returncode == 0, f"{' '.join(cmd)} exited {cp.returncode}: {cp.stderr.decode()}"
    table = cp.stdout.decode()
    assert "records/s" in table and "harness cpu" in table, table
    return json.loads(report.read_text())


def end_offsets(b, topic: str, partitions: int) -> list[int]:
    return [watermarks(b, topic, p)[1] for p in range(partitions)]


def check_latency(latency: dict, count: int) -> None:
    assert latency["count"] == count
    values = [latency[k] for k in PERCENTILES]
    assert values == sorted(values), latency
    assert values[0] > 0


def check_request_latency(report: dict) -> None:
    """One sample per Produce request, from its writing to its answer."""
    requests = report["request_latency"]
    records = report["produce"]["records"]
    per_batch = report["parameters"]["records_per_batch"]
    assert -(-records // per_batch) <= requests["count"] <= records, requests
    check_latency(requests, requests["count"])
    # A record is made before its request is written, so it never waits less.
    assert requests["max_ms"] <= report["produce"]["latency"]["max_ms"], requests


def strings(value) -> list[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def check_common(report: dict, scenario: str) -> None:
    assert report["scenario"] == scenario
    assert report["tool"].startswith("shoal bench")
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["kernel"].startswith("Linux")
    # The machine is described, never located: no path of it in the report.
    assert not [s for s in strings(machine) if s.startswith("/")], machine
    cpu = report["harness_cpu"]
    assert cpu["user_seconds"] >= 0 and cpu["system_seconds"] >= 0
    assert cpu["seconds_per_mb"] >= 0 and 0 <= cpu["share_of_machine"]
    params = report["parameters"]
    for key in ["bootstrap_server", "topic", "partitions", "message_size", "producers", "consumers", "acks",
                "compression", "batch_size", "linger_ms", "in_flight", "rate", "loop", "messages",
                "key_distribution", "key_space", "seed", "records_per_batch"]:
        assert key in params, key


def test_produce_puts_every_record_in_the_log(broker, tmp_path):
    topic = unique_topic("bench")
    report = bench(broker, tmp_path, "produce", "--topic", topic, "--partitions", "4", "--messages", "2000",
                   "--message-size", "200", "--key-distribution", "sequential", "--key-space", "50",
                   "--producers", "2", "--acks", "all", "--in-flight", "3")
    check_common(report, "produce")
    produce = report["produce"]
    assert produce["records"] == 2000
    assert produce["bytes"] == 2000 * (200 + KEY_BYTES)
    assert produce["mb_per_s"] > 0 and produce["records_per_s"] > 0
    check_latency(produce["latency"], 2000)
    check_request_latency(report)
    assert report["consume"] is None and report["end_to_end_latency"] is None
    assert report["schedule_lag"] is None  # closed loop: no schedule to lag behind
    assert report["parameters"]["loop"] == "closed" and report["parameters"]["acks"] == "all"
    assert sum(end_offsets(broker, topic, 4)) == 2000
    # Keyed records landed where Kafka's default partitioner puts them, and carry the
    # producer's µs timestamp in their first 8 bytes.
    got = consume_all(broker, topic, [0, 1, 2, 3])
    keys = set()
    for partition, records in got.items():
        for r in records:
            assert len(r.key) == KEY_BYTES and len(r.value) == 200
            assert (murmur2(r.key) & 0x7FFFFFFF) % 4 == partition, r.key
            stamp_us = int.from_bytes(r.value[:8], "big")
            assert abs(stamp_us // 1000 - r.timestamp) <= 1
            keys.add(r.key)
    assert len(keys) == 50


def test_consume_reads_what_another_client_wrote(broker, tmp_path):
    topic = unique_topic("bench")
    create_topic(broker, topic, partitions=3)
    p = producer(broker, acks="all")
    produce_all(p, topic, [{"value": b"v" * (i % 100 + 1), "partition": i % 3} for i in range(900)])
    value_bytes = sum(i % 100 + 1 for i in range(900))
    report = bench(broker, tmp_path, "consume", "--topic", topic, "--consumers", "2", "--duration", "60")
    check_common(report, "consume")
    consume = report["consume"]
    # The log's end comes before 60 s: the bench stops there, having read everything.
    assert consume["records"] == 900 and consume["bytes"] == value_bytes
    assert report["produce"] is None and report["request_latency"] is None
    limited = bench(broker, tmp_path, "consume", "--topic", topic, "--messages", "300")
    assert 300 <= limited["consume"]["records"] <= 900


def test_end_to_end_reads_back_every_record(broker, tmp_path):
    topic = unique_topic("bench")
    # One request in flight: the producer and its reader hand over each slot directly.
    report = bench(broker, tmp_path, "end-to-end", "--topic", topic, "--partitions", "3", "--messages", "2000",
                   "--rate", "4000", "--consumers", "2", "--key-distribution", "random", "--linger-ms", "2",
                   "--in-flight", "1")
    check_common(report, "end-to-end")
    assert report["parameters"]["loop"] == "open" and report["parameters"]["rate"] == 4000
    assert report["produce"]["records"] == 2000 and report["consume"]["records"] == 2000
    assert report["consume"]["bytes"] == report["produce"]["bytes"]
    check_latency(report["produce"]["latency"], 2000)
    check_request_latency(report)
    check_latency(report["end_to_end_latency"], 2000)
    check_latency(report["schedule_lag"], 2000)
    assert sum(end_offsets(broker, topic, 3)) == 2000


def test_end_to_end_without_acks_and_compressed(broker, tmp_path):
    topic = unique_topic("bench")
    report = bench(broker, tmp_path, "end-to-end", "--topic", topic, "--partitions", "2", "--messages", "1000",
                   "--acks", "0", "--compression", "lz4", "--message-size", "100")
    # acks=0: no acknowledgement latency to report, but every record still comes back.
    assert report["produce"]["records"] == 1000 and report["produce"]["latency"] is None
    assert report["request_latency"] is None
    assert report["consume"]["records"] == 1000
    check_latency(report["end_to_end_latency"], 1000)
    assert report["parameters"]["compression"] == "lz4"
    assert sum(end_offsets(broker, topic, 2)) == 1000


def test_consuming_a_missing_topic_fails_cleanly(broker, tmp_path):
    cmd = [str(shoal_bin()), "bench", "consume", "--bootstrap-server", broker.bootstrap,
           "--topic", unique_topic("absent"), "--messages", "10"]
    cp = subprocess.run(cmd, capture_output=True, timeout=BENCH_TIMEOUT_S)
    assert cp.returncode == 1
    assert cp.stderr.decode().startswith("shoal: topic ") and "does not exist" in cp.stderr.decode()


def test_idempotent_and_transactional_producers(broker, tmp_path):
    """--idempotent writes batches with a producer id and sequences the broker checks;
    --transactional commits transactions of the given size, which a read_committed consumer
    (librdkafka's default) reads whole, and reports one commit latency per transaction."""
    t = unique_topic("bench-idem")
    report = bench(broker, tmp_path, "produce", "--topic", t, "--partitions", "3", "--messages", "3000",
                   "--idempotent", "--in-flight", "5")
    assert report["parameters"]["idempotent"] is True and report["transactions"] is None
    assert sum(end_offsets(broker, t, 3)) == 3000
    got = consume_all(broker, t, [0, 1, 2])
    assert sum(len(rs) for rs in got.values()) == 3000
    with_ids = [b for q in range(3) for b in kw.fetch_all_batches(broker.bootstrap, t, q)]
    assert all(struct.unpack(">q", b.raw[43:51])[0] >= 0 for b in with_ids)

    t = unique_topic("bench-txn")
    report = bench(broker, tmp_path, "produce", "--topic", t, "--partitions", "2", "--messages", "1000",
                   "--transactional", "100", "--producers", "2")
    txns = report["transactions"]
    assert txns["count"] == 10 and report["parameters"]["records_per_transaction"] == 100
    check_latency(txns["commit_latency"], 10)
    # Each partition ends with a commit marker after the records; librdkafka's consumers read
    # committed records only, and find all 1000.
    c = consumer(broker, **{"isolation.level": "read_committed", "enable.partition.eof": True})
    try:
        c.assign([TopicPartition(t, q, 0) for q in (0, 1)])
        records, eof = 0, set()
        deadline = time.monotonic() + BENCH_TIMEOUT_S
        while len(eof) < 2 and time.monotonic() < deadline:
            for m in c.consume(500, timeout=0.5):
                if m.error():
                    eof.add(m.partition())
                else:
                    records += 1
        assert records == 1000 and eof == {0, 1}
    finally:
        c.close()
    refused = subprocess.run([str(shoal_bin()), "bench", "produce", "--bootstrap-server", broker.bootstrap,
                              "--topic", t, "--idempotent", "--acks", "1"], capture_output=True, timeout=60)
    assert refused.returncode == 1 and b"need --acks all" in refused.stderr, refused.stderr
