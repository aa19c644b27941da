"""Idempotent producers: confluent-kafka (librdkafka), kcat, kafka-python and aiokafka with
enable.idempotence and five requests in flight write every record once, in order; retries are
answered with their first offsets, gaps and old epochs are refused with Kafka's errors, and all of
it holds across kill -9 and clean restarts of the broker."""

import asyncio
import random
import struct
import time

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaProducer

import kafka_wire as kw
from clients import consume_all, create_topic, kcat, producer, unique_topic, watermarks

PARTITIONS = 3


def key_of(i: int) -> bytes:
    return b"%08d" % i


def check_once_in_order(broker, topic: str, total: int) -> None:
    """Record i went to partition i % PARTITIONS: each partition holds exactly its records, in
    order, at consecutive offsets from 0."""
    got = consume_all(broker, topic, list(range(PARTITIONS)))
    for q in range(PARTITIONS):
        keys = [r.key for r in got[q]]
        want = [key_of(i) for i in range(q, total, PARTITIONS)]
        dupes = len(keys) - len(set(keys))
        assert keys == want, f"partition {q}: {len(keys)} records ({dupes} duplicated), {len(want)} wanted"
        assert [r.offset for r in got[q]] == list(range(len(want)))


def stored_producer_ids(broker, topic: str, partition: int) -> set[int]:
    """The producer ids in the headers of the partition's stored batches."""
    ids = set()
    for b in kw.fetch_all_batches(broker.bootstrap, topic, partition):
        ids.add(struct.unpack(">q", b.raw[43:51])[0])
    return ids


def test_confluent_kafka_idempotent_producer(broker):
    t = unique_topic("idem-ck")
    create_topic(broker, t, PARTITIONS)
    total = 3000
    p = producer(broker, **{"enable.idempotence": True, "acks": "all", "linger.ms": 1,
                            "max.in.flight.requests.per.connection": 5, "batch.num.messages": 40})
    errors = []
    for i in range(total):
        p.produce(t, key=key_of(i), value=b"v%d" % i, partition=i % PARTITIONS,
                  on_delivery=lambda err, msg: err and errors.append(err))
        p.poll(0)
    assert p.flush(60) == 0 and not errors, errors
    check_once_in_order(broker, t, total)
    ids = set().union(*(stored_producer_ids(broker, t, q) for q in range(PARTITIONS)))
    assert len(ids) == 1 and min(ids) >= 0, f"batches carry producer ids {ids}"


def test_kafka_python_idempotent_producer(broker):
    t = unique_topic("idem-kp")
    create_topic(broker, t, PARTITIONS)
    total = 600
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True, acks="all",
                      max_in_flight_requests_per_connection=5, linger_ms=2)
    try:
        futures = [p.send(t, key=key_of(i), value=b"v", partition=i % PARTITIONS) for i in range(total)]
        p.flush(60)
        [f.get(timeout=30) for f in futures]
    finally:
        p.close(10)
    check_once_in_order(broker, t, total)
    assert all(min(stored_producer_ids(broker, t, q)) >= 0 for q in range(PARTITIONS))


def test_aiokafka_idempotent_producer(broker):
    t = unique_topic("idem-aio")
    create_topic(broker, t, PARTITIONS)
    total = 600

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=True, linger_ms=2)
        await p.start()
        try:
            sends = [await p.send(t, key=key_of(i), value=b"v", partition=i % PARTITIONS) for i in range(total)]
            await asyncio.gather(*sends)
        finally:
            await p.stop()

    asyncio.run(run())
    check_once_in_order(broker, t, total)
    assert all(min(stored_producer_ids(broker, t, q)) >= 0 for q in range(PARTITIONS))


def test_kcat_idempotent_producer(broker):
    t = unique_topic("idem-kcat")
    create_topic(broker, t, PARTITIONS)
    total = 900
    lines = b"".join(b"%s:v%d\n" % (key_of(i), i) for i in range(total))
    # -p -1 with keys: librdkafka's partitioner spreads them; the order within each partition
    # is the order kcat read them in.
    kcat(broker, "-P", "-t", t, "-K:", "-X", "enable.idempotence=true", "-X", "linger.ms=2", input=lines)
    got = consume_all(broker, t, list(range(PARTITIONS)))
    keys = [r.key for rs in got.values() for r in rs]
    assert sorted(keys) == sorted(key_of(i) for i in range(total)), "each record once"
    for rs in got.values():
        assert [r.key for r in rs] == sorted(r.key for r in rs), "in order within a partition"
    ids = set().union(*(stored_producer_ids(broker, t, q) for q in range(PARTITIONS)))
    assert len(ids) == 1 and min(ids) >= 0, f"batches carry producer ids {ids}"


def init_producer_id(broker) -> tuple[int, int]:
    with kw.Conn(broker.bootstrap) as c:
        err, pid, epoch = kw.parse_init_producer_id_v0(c.request(kw.INIT_PRODUCER_ID, 0, kw.init_producer_id_v0()))
    assert err == 0 and pid >= 0 and epoch == 0, (err, pid, epoch)
    return pid, epoch


def send(broker, topic: str, pid: int, epoch: int, seq: int, count: int, attributes: int = 0) -> tuple[int, int]:
    """Produces one batch of `count` records with the given producer fields: (error, base offset)."""
    batch = kw.encode_batch([kw.Record(None, b"s%d" % (seq + i)) for i in range(count)], producer_id=pid,
                            producer_epoch=epoch, base_sequence=seq, attributes=attributes)
    return send_raw(broker, topic, batch)


def send_raw(broker, topic: str, records: bytes) -> tuple[int, int]:
    with kw.Conn(broker.bootstrap) as c:
        return kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(topic, 0, records)))[(topic, 0)]


def test_retries_gaps_and_old_epochs_get_kafkas_answers(broker):
    t = unique_topic("idem-wire")
    create_topic(broker, t, 1)
    pid, _ = init_producer_id(broker)
    assert init_producer_id(broker)[0] != pid, "every idempotent producer gets its own id"
    assert send(broker, t, pid, 0, 0, 3) == (0, 0)
    assert send(broker, t, pid, 0, 3, 2) == (0, 3)
    # a retry of either of them: their first offsets, nothing written again
    assert send(broker, t, pid, 0, 0, 3) == (0, 0)
    assert send(broker, t, pid, 0, 3, 2) == (0, 3)
    assert watermarks(broker, t, 0) == (0, 5)
    assert send(broker, t, pid, 0, 7, 1)[0] == kw.OUT_OF_ORDER_SEQUENCE_NUMBER
    # the producer bumps its epoch (as librdkafka does after an error): sequences restart at 0
    assert send(broker, t, pid, 1, 5, 1)[0] == kw.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert send(broker, t, pid, 1, 0, 1) == (0, 5)
    assert send(broker, t, pid, 0, 5, 1)[0] == kw.INVALID_PRODUCER_EPOCH
    assert watermarks(broker, t, 0) == (0, 6)
    # what Kafka refuses outright: two batches for a partition, control batches, no sequence
    two = kw.encode_batch([kw.Record(None, b"a")]) + kw.encode_batch([kw.Record(None, b"b")])
    assert send_raw(broker, t, two)[0] == kw.INVALID_RECORD
    assert send(broker, t, pid, 1, 1, 1, attributes=0x20)[0] == kw.INVALID_RECORD
    assert send(broker, t, pid, 1, -1, 1)[0] == kw.INVALID_RECORD
    assert watermarks(broker, t, 0) == (0, 6)


@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_deduplication_survives_a_restart(start_broker, how):
    """The producer state comes back after a restart: from the log alone after kill -9, from the
    snapshot written at shutdown after SIGTERM."""
    b = start_broker()
    t = unique_topic(f"idem-{how}")
    create_topic(b, t, 1)
    pid, _ = init_producer_id(b)
    for i in range(8):
        assert send(b, t, pid, 0, 2 * i, 2) == (0, 2 * i)
    if how == "kill9":
        b.kill9()
        b.start()
    else:
        b.restart()
    for i in range(3, 8):
        assert send(b, t, pid, 0, 2 * i, 2) == (0, 2 * i), f"retry of batch {i}"
    assert send(b, t, pid, 0, 17, 1)[0] == kw.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert send(b, t, pid, 0, 16, 1) == (0, 16)
    assert watermarks(b, t, 0) == (0, 17)
    files = sorted(p.name for p in (b.log_dir / f"{t}-0").glob("*.snapshot"))
    assert files == (["00000000000000000016.snapshot"] if how == "sigterm" else []), files


@pytest.mark.timeout(300)
def test_kill9_during_idempotent_production_leaves_every_record_once(start_broker, seed):
    """librdkafka keeps producing through a kill -9 and restart of the broker (same port): the
    requests in flight at the kill are retried, and whichever of them the broker had already
    written are answered as duplicates. Every record ends up in the log exactly once, in order."""
    b = start_broker()
    t = unique_topic("idem-crash")
    create_topic(b, t, PARTITIONS)
    b.overrides["listeners"] = f"PLAINTEXT://127.0.0.1:{b.port}"
    total = 20_000
    kill_at = 4000 + random.Random(seed).randrange(4000)
    print(f"kill -9 after {kill_at} delivered records")
    p = producer(b, **{"enable.idempotence": True, "acks": "all", "linger.ms": 2, "batch.num.messages": 100,
                       "max.in.flight.requests.per.connection": 5, "message.timeout.ms": 120000,
                       "queue.buffering.max.messages": 100000})
    delivered, errors = [0], []

    def on_delivery(err, msg):
        if err:
            errors.append(err)
        else:
            delivered[0] += 1

    killed = False
    for i in range(total):
        # At most 2000 records queued: the kill lands while records are still being produced.
        while len(p) > 2000:
            p.poll(0.05)
        p.produce(t, key=key_of(i), value=b"%d" % i * 20, partition=i % PARTITIONS, on_delivery=on_delivery)
        p.poll(0)
        if not killed and delivered[0] >= kill_at:
            b.kill9()
            b.start()
            killed = True
    assert p.flush(120) == 0, "records still queued"
    assert killed, f"only {delivered[0]} delivered before the producer was done"
    assert not errors and delivered[0] == total, (delivered[0], errors[:5])
    check_once_in_order(b, t, total)
