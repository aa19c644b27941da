"""Produce with acks 0/1/all and every compression codec through confluent-kafka (librdkafka),
checking that keys, values, headers and timestamps come back exactly, and that the broker stores
the producer's batches verbatim (same codec, valid CRC) as seen on the wire."""

import random
import struct
import time

import pytest
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, KafkaError, TopicPartition

import kafka_wire as kw
from clients import (admin, consume, create_topic, produce_all, produce_one_error, producer, unique_topic,
                     wait_futures, watermarks)

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
ACKS = ["0", "1", "all"]
UNSUPPORTED_COMPRESSION_TYPE = 76
RECORD_LIST_TOO_LARGE = 18


def make_records(rng: random.Random, n: int, partitions: int) -> list[dict]:
    """Records with every shape that must round-trip: null vs empty key and value, binary bytes,
    repeated / null / empty headers, explicit increasing create-timestamps. Values are mostly
    compressible, so every batch the producer compresses stays compressed (librdkafka sends a
    batch uncompressed when compression would make it bigger)."""
    now = int(time.time() * 1000) - 120_000
    out = []
    for i in range(n):
        key = rng.choice([None, b"", b"key-%d" % i, rng.randbytes(rng.randrange(1, 64))])
        value = rng.choice([None, b"", b"value-%d " % i * rng.randrange(1, 40),
                            rng.randbytes(rng.randrange(1, 32)) + b"payload " * rng.randrange(10, 400)])
        headers = rng.choice([None, [("h", b"v%d" % i)],
                              [("dup", b"a"), ("dup", b"b"), ("null", None), ("empty", b""), ("bin", rng.randbytes(8))]])
        r = {"key": key, "value": value, "partition": i % partitions, "timestamp": now + i}
        if headers is not None:
            r["headers"] = headers
        out.append(r)
    return out


def by_partition(recs) -> dict[int, list[tuple]]:
    out: dict[int, list[tuple]] = {}
    for r in recs:
        out.setdefault(r.partition, []).append(r.content())
    return out


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("acks", ACKS, ids=lambda a: f"acks{a}")
def test_produce_round_trip(broker, seed, acks, codec):
    rng = random.Random(seed)
    t = unique_topic(f"rt-{codec}")
    create_topic(broker, t, 2)
    records = make_records(rng, 300, 2)
    # batches of exactly 64 records (the remainder at flush): size triggers sends, not time
    p = producer(broker, acks=acks, **{"compression.type": codec, "linger.ms": 2000, "batch.num.messages": 64})
    reports = produce_all(p, t, records)
    counts = {q: sum(1 for r in records if r["partition"] == q) for q in (0, 1)}
    got = consume(broker, t, {0: 0, 1: 0}, counts)
    assert {q: [r.offset for r in rs] for q, rs in got.items()} == {q: list(range(n)) for q, n in counts.items()}
    consumed = [r for rs in got.values() for r in rs]
    assert by_partition(consumed) == by_partition(reports)
    if acks != "0":
        assert sorted((r.partition, r.offset) for r in reports) == sorted((r.partition, r.offset) for r in consumed)
    # on the wire: the producer's batches, stored as they came (codec kept), every CRC valid
    batches = kw.fetch_all_batches(broker.bootstrap, t, 0)
    assert batches and all(b.crc_ok for b in batches)
    # librdkafka sends a batch uncompressed when compressing would not shrink it (a small
    # remainder batch can), so "none" may appear beside the codec; the full batches carry it.
    codecs = [b.codec for b in batches]
    assert set(codecs) <= {kw.CODECS[codec], kw.CODECS["none"]} and kw.CODECS[codec] in codecs, (
        f"stored batches do not carry the producer's codec: {codecs} (note: librdkafka only uses lz4 "
        "when the broker advertises FindCoordinator in ApiVersions, its marker for the LZ4 feature)")
    assert sum(b.record_count for b in batches) == counts[0]
    assert [b.base_offset for b in batches] == sorted(b.base_offset for b in batches)
    raw = [(r.key, r.value, tuple(r.headers), ts) for b in batches for (_, ts, r) in b.records]
    assert raw == [c for c in by_partition(consumed)[0]]


def test_acks0_then_acks1_to_one_partition(broker):
    t = unique_topic("acks01")
    create_topic(broker, t, 1)
    p0 = producer(broker, acks="0")
    first = produce_all(p0, t, [{"value": b"zero-%d" % i, "partition": 0} for i in range(50)])
    p1 = producer(broker, acks="1")
    second = produce_all(p1, t, [{"value": b"one-%d" % i, "partition": 0} for i in range(50)])
    assert all(r.offset >= 0 for r in second)
    got = consume(broker, t, {0: 0}, {0: 100})[0]
    assert [r.offset for r in got] == list(range(100))
    values = [r.value for r in got]
    assert sorted(values) == sorted([r.value for r in first] + [r.value for r in second])
    # each producer's records keep their order
    assert [v for v in values if v.startswith(b"zero-")] == [r.value for r in first]
    assert [v for v in values if v.startswith(b"one-")] == [r.value for r in second]
    assert [got[r.offset].value for r in second] == [r.value for r in second]


def test_acks_all_offsets_are_contiguous_across_flushes(broker):
    t = unique_topic("contig")
    create_topic(broker, t, 1)
    p = producer(broker, acks="all", **{"linger.ms": 0})
    offsets = []
    for round_ in range(5):
        offsets += [r.offset for r in produce_all(p, t, [{"value": b"%d" % round_, "partition": 0}] * (round_ + 1))]
    assert offsets == list(range(15))


def test_record_over_message_max_bytes_is_refused(start_broker):
    b = start_broker({"message.max.bytes": 20000})
    t = unique_topic("big")
    create_topic(b, t, 1)
    p = producer(b, **{"message.max.bytes": 5_000_000, "compression.type": "none"})
    err = produce_one_error(p, t, value=b"x" * 50000, partition=0)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    assert produce_one_error(p, t, value=b"y" * 1000, partition=0) is None
    got = consume(b, t, {0: 0}, {0: 1})[0]
    assert [r.value for r in got] == [b"y" * 1000]


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_log_append_time_topic_stamps_the_broker_clock(broker, codec):
    """With message.timestamp.type=LogAppendTime the broker's clock becomes each batch's max
    timestamp (the CRC recomputed around the client's unchanged records), the produce answer
    carries it, and consumers read it as a log-append time."""
    t = unique_topic(f"lat-{codec}")
    create_topic(broker, t, 1, {"message.timestamp.type": "LogAppendTime"})
    records = [{"value": b"value-%d " % i * 20, "partition": 0, "timestamp": 1_000 + i} for i in range(40)]
    reports = []
    p = producer(broker, acks="all", **{"compression.type": codec, "linger.ms": 50})
    before = int(time.time() * 1000)
    for r in records:
        p.produce(t, on_delivery=lambda err, msg: reports.append((err, msg.timestamp())), **r)
    assert p.flush(30) == 0
    after = int(time.time() * 1000)
    assert [err for err, _ in reports] == [None] * len(records)
    assert {ts_type for _, (ts_type, _) in reports} == {TIMESTAMP_LOG_APPEND_TIME}
    assert all(before <= ts <= after for _, (_, ts) in reports), reports
    got = consume(broker, t, {0: 0}, {0: len(records)})[0]
    assert [r.value for r in got] == [r["value"] for r in records]
    assert all(before <= r.timestamp <= after for r in got), [r.timestamp for r in got]
    batches = kw.fetch_all_batches(broker.bootstrap, t, 0)
    assert batches and all(b.crc_ok for b in batches)
    assert all(b.attributes & 0x08 and before <= b.max_timestamp <= after for b in batches)
    assert {b.codec for b in batches} <= {kw.CODECS[codec], kw.CODECS["none"]}


@pytest.mark.parametrize("acks", [1, -1], ids=lambda a: f"acks{a}")
def test_pipelined_produce_requests_reach_each_partition_in_request_order(broker, acks):
    """Produce requests written back to back on one connection, each holding a batch for every
    partition (spread over the shards), are appended to each partition in the order they were
    sent: base offsets and the values read back both follow the request order."""
    t = unique_topic("order")
    partitions = 6
    create_topic(broker, t, partitions)
    requests = 60
    with kw.Conn(broker.bootstrap) as c:
        corrs = []
        for i in range(requests):
            parts = [kw.i32(p) + kw.nbytes(kw.encode_batch([kw.Record(None, b"%d" % i)])) for p in range(partitions)]
            body = kw.string(None) + kw.i16(acks) + kw.i32(10000) + kw.array([kw.string(t) + kw.array(parts)])
            corrs.append(c.send(kw.PRODUCE, 3, body))
        answers = []
        for corr in corrs:
            frame = c.recv_frame(30)
            assert struct.unpack(">i", frame[:4])[0] == corr
            answers.append(kw.parse_produce_v3(frame[4:]))
    for p in range(partitions):
        assert [a[(t, p)] for a in answers] == [(0, i) for i in range(requests)], p
        values = [r.value for b in kw.fetch_all_batches(broker.bootstrap, t, p) for _, _, r in b.records]
        assert values == [b"%d" % i for i in range(requests)], p


def test_acks_all_below_min_insync_replicas_is_not_enough_replicas(broker):
    """With min.insync.replicas above the replicas in sync (one broker: one), Kafka refuses
    acks=all with NOT_ENOUGH_REPLICAS (19) and appends nothing; acks=1 is served. Lowering the
    setting serves acks=all again."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    t = unique_topic("minisr")
    create_topic(broker, t, 1, config={"min.insync.replicas": "2"})
    batch = kw.encode_batch([kw.Record(b"k", b"v")])
    with kw.Conn(broker.bootstrap) as c:
        res = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(t, 0, batch, acks=-1)))
        assert res[(t, 0)][0] == 19, res
        res = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(t, 0, batch, acks=1)))
        assert res[(t, 0)] == (0, 0), res
    [rec] = produce_all(producer(broker, acks=1), t, [{"value": b"leader only", "partition": 0}])
    assert rec.offset == 1
    resource = ConfigResource(ConfigResource.Type.TOPIC, t, incremental_configs=[
        ConfigEntry("min.insync.replicas", "1", incremental_operation=AlterConfigOpType.SET)])
    wait_futures(admin(broker).incremental_alter_configs([resource]))
    [rec] = produce_all(producer(broker, acks="all"), t, [{"value": b"all", "partition": 0}])
    assert rec.offset == 2


@pytest.mark.parametrize("target", ["zstd", "gzip", "uncompressed"])
def test_a_topic_s_compression_type_recompresses_what_producers_send(broker, seed, target):
    """compression.type other than `producer` stores every produced batch with the topic's
    codec, as Kafka's broker recompresses: librdkafka sends lz4 (an idempotent producer,
    whose sequences survive), kafka-python reads back exactly what was sent; `producer`
    keeps the client's codec, and a change of the topic's setting applies to the next
    appends. A zstd topic is refused to fetches older than v10, as Kafka refuses them."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
    from kafka import KafkaConsumer, TopicPartition as KTopicPartition

    rng = random.Random(seed)
    t = unique_topic(f"recompress-{target}")
    create_topic(broker, t, 1, config={"compression.type": target})
    records = make_records(rng, 200, 1)
    p = producer(broker, acks="all", **{"compression.type": "lz4", "enable.idempotence": True,
                                        "linger.ms": 200, "batch.num.messages": 50})
    reports = produce_all(p, t, records)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=10000)
    c.assign([KTopicPartition(t, 0)])
    got = []
    for message in c:
        got.append((message.key, message.value, message.timestamp))
        if len(got) == len(records):
            break
    c.close()
    sent = sorted((r.offset, r.key, r.value) for r in reports)
    assert [(k, v) for k, v, _ in got] == [(k, v) for _, k, v in sent]
    assert [ts for _, _, ts in got] == [r["timestamp"] for r in records]
    with kw.Conn(broker.bootstrap) as conn:
        old = kw.parse_fetch_v4(conn.request(kw.FETCH, 4, kw.fetch_v4(t, 0, 0)))[(t, 0)]
    assert old.error_code == (UNSUPPORTED_COMPRESSION_TYPE if target == "zstd" else 0)
    # Back to `producer`: the next batches are stored as sent.
    resource = ConfigResource("topic", t, incremental_configs=[
        ConfigEntry("compression.type", "producer", incremental_operation=AlterConfigOpType.SET)])
    wait_futures(admin(broker).incremental_alter_configs([resource]))
    produce_all(p, t, records[:50])
    batches = kw.fetch_all_batches(broker.bootstrap, t, 0)
    stored = [b for b in batches if b.base_offset < len(records)]
    codec = kw.CODECS["none" if target == "uncompressed" else target]
    assert stored and all(b.crc_ok and b.codec == codec for b in stored), [b.codec for b in stored]
    # The producer's id and sequences are kept: batch after batch, no gap.
    sequences = [struct.unpack(">i", b.raw[53:57])[0] for b in stored]
    counts = [b.record_count for b in stored]
    assert sequences == [sum(counts[:i]) for i in range(len(counts))], (sequences, counts)
    later = [b.codec for b in batches if b.base_offset >= len(records)]
    # (librdkafka may send a small batch uncompressed, when lz4 would not shrink it.)
    assert kw.CODECS["lz4"] in later and set(later) <= {kw.CODECS["lz4"], kw.CODECS["none"]}, later


@pytest.mark.parametrize(("codec", "fast", "small"), [("gzip", 1, 9), ("lz4", 1, 17), ("zstd", -5, 19)])
def test_a_topic_s_compression_level_is_the_broker_s_effort_when_it_compresses(broker, codec, fast, small):
    """KIP-390's compression.<codec>.level: the same uncompressed batch stored on two topics
    of the codec, one at a fast level and one at a thorough one, takes fewer bytes on the
    thorough one, and both read back the same records. A level outside the codec's range is
    refused with INVALID_CONFIG, as Kafka refuses it."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

    records = [kw.Record(f"key-{i % 37}".encode(),
                         f"order {i} of customer {i * 7919 % 1000} shipped to {i * 104729 % 313}".encode())
               for i in range(500)]
    batch = kw.encode_batch(records)
    stored = {}
    for level in (fast, small):
        t = unique_topic(f"level-{codec}")
        create_topic(broker, t, 1, config={"compression.type": codec, f"compression.{codec}.level": str(level)})
        with kw.Conn(broker.bootstrap) as c:
            res = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(t, 0, batch, acks=1)))
        assert res[(t, 0)] == (0, 0), res
        # Fetch v4 may read a zstd batch once the topic is no longer zstd.
        wait_futures(admin(broker).incremental_alter_configs([ConfigResource("topic", t, incremental_configs=[
            ConfigEntry("compression.type", "producer", incremental_operation=AlterConfigOpType.SET)])]))
        [b] = kw.fetch_all_batches(broker.bootstrap, t, 0)
        assert b.crc_ok and b.codec == kw.CODECS[codec] and b.record_count == len(records)
        stored[level] = b
    assert len(stored[small].raw) < len(stored[fast].raw), {lvl: len(b.raw) for lvl, b in stored.items()}
    for b in stored.values():  # decoded by Python's gzip, lz4 and zstandard
        assert [(r.key, r.value) for _, _, r in b.records] == [(r.key, r.value) for r in records]

    bad = {"gzip": "0", "lz4": "18", "zstd": "23"}[codec]
    fs = admin(broker).create_topics([NewTopic(unique_topic("bad-level"), 1, 1,
                                               config={f"compression.{codec}.level": bad})])
    with pytest.raises(KafkaException) as refused:
        wait_futures(fs)
    assert refused.value.args[0].code() == KafkaError.INVALID_CONFIG


def produce_v8(broker, topic: str, batch: bytes, partition: int = 0, acks: int = -1) -> kw.ProducedV8:
    with kw.Conn(broker.bootstrap) as c:
        body = c.request(kw.PRODUCE, 8, kw.produce_v3(topic, partition, batch, acks=acks), timeout=30)
    return kw.parse_produce_v8(body)[(topic, partition)]


def test_kafkas_produce_rules_in_kafkas_order(broker):
    """The rules of docs/conformance/produce-fetch.md that no client exercises: each refusal
    is Kafka's, nothing refused is appended, and the log start offset comes back where Kafka
    sends it."""
    t = unique_topic("produce-rules")
    create_topic(broker, t, 1)
    one = kw.encode_batch([kw.Record(None, b"v")])
    assert produce_v8(broker, t, one).error_code == kw.NONE
    # A client's batch sits at base offset 0: the broker assigns offsets.
    moved = produce_v8(broker, t, kw.encode_batch([kw.Record(None, b"x")], base_offset=5))
    assert moved.error_code == kw.INVALID_RECORD and moved.log_start_offset == 0, moved
    # zstd needs Produce v7: older clients cannot have asked for it.
    zstd = kw.encode_batch([kw.Record(None, b"z" * 100)], codec="zstd")
    with kw.Conn(broker.bootstrap) as c:
        old = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(t, 0, zstd)))
    assert old[(t, 0)][0] == kw.UNSUPPORTED_COMPRESSION_TYPE, old
    assert produce_v8(broker, t, zstd).error_code == kw.NONE
    # acks outside -1, 0, 1: refused after the partition is found, with no log start offset.
    unknown = produce_v8(broker, t, one, partition=9, acks=2)
    assert unknown.error_code == kw.UNKNOWN_TOPIC_OR_PARTITION and unknown.log_start_offset == -1, unknown
    bad_acks = produce_v8(broker, t, one, acks=2)
    assert bad_acks.error_code == kw.INVALID_REQUIRED_ACKS and bad_acks.log_start_offset == -1, bad_acks
    # A producer's sequence refused: the answer says where the log starts now.
    wait_futures(admin(broker).delete_records([TopicPartition(t, 0, 1)]))
    with kw.Conn(broker.bootstrap) as c:
        err, pid, epoch = kw.parse_init_producer_id_v0(c.request(kw.INIT_PRODUCER_ID, 0, kw.init_producer_id_v0()))
    assert err == 0
    first = kw.encode_batch([kw.Record(None, b"i")], producer_id=pid, producer_epoch=epoch, base_sequence=0)
    assert produce_v8(broker, t, first).error_code == kw.NONE
    gap = kw.encode_batch([kw.Record(None, b"j")], producer_id=pid, producer_epoch=epoch, base_sequence=5)
    refused = produce_v8(broker, t, gap)
    assert refused.error_code == kw.OUT_OF_ORDER_SEQUENCE_NUMBER and refused.log_start_offset == 1, refused
    assert watermarks(broker, t, 0) == (1, 3)
    # What one request writes must fit in a segment.
    small = unique_topic("small-segments")
    create_topic(broker, small, 1, {"segment.bytes": "2048"})
    big = produce_v8(broker, small, kw.encode_batch([kw.Record(None, bytes(range(256)) * 12)]))
    assert big.error_code == RECORD_LIST_TOO_LARGE and big.log_start_offset == -1, big
    assert produce_v8(broker, small, one).error_code == kw.NONE
    assert watermarks(broker, small, 0) == (0, 1)


def test_a_compressed_batch_numbered_otherwise_than_0_1_2_is_written_again_where_its_records_are_read(broker):
    """Kafka writes a compressed batch whose records' offsets are not 0, 1, 2 ... again (some
    older clients number them so), with the topic's codec or its own. shoal reads a batch's
    records only when a check or the topic's codec needs them (a compacted topic here, or
    a topic recompressing to lz4), and there does the same; elsewhere it stores the batch as
    sent (docs/conformance/produce-fetch.md)."""
    records = [kw.Record(b"k%d" % i, b"v%d" % i) for i in range(3)]
    skipping = kw.encode_batch(records, codec="gzip", offset_deltas=[0, 0, 2])
    for config, codec in (({"cleanup.policy": "compact"}, "gzip"), ({"compression.type": "lz4"}, "lz4")):
        t = unique_topic("inner-offsets")
        create_topic(broker, t, 1, config)
        assert produce_v8(broker, t, skipping).error_code == kw.NONE
        [stored] = kw.fetch_all_batches(broker.bootstrap, t, 0)
        assert stored.crc_ok and stored.codec == kw.CODECS[codec], stored
        assert [(offset, r.key, r.value) for offset, _, r in stored.records] == \
            [(i, r.key, r.value) for i, r in enumerate(records)]
    t = unique_topic("inner-offsets-as-sent")
    create_topic(broker, t, 1)
    assert produce_v8(broker, t, skipping).error_code == kw.NONE
    [stored] = kw.fetch_all_batches(broker.bootstrap, t, 0)
    assert [offset for offset, _, _ in stored.records] == [0, 0, 2]


def test_acks0_failure_closes_the_connection_as_kafka_does(broker):
    """A producer with acks=0 gets no answer, so Kafka closes its connection when a write
    fails; one that succeeds leaves the connection open."""
    t = unique_topic("acks0-close")
    create_topic(broker, t, 1)
    batch = kw.encode_batch([kw.Record(None, b"v")])
    with kw.Conn(broker.bootstrap) as c:
        c.send(kw.PRODUCE, 3, kw.produce_v3(t, 0, batch, acks=0))
        # The next request is answered: the acks=0 write succeeded and sent nothing.
        res = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(t, 0, batch, acks=1)))
        assert res[(t, 0)] == (kw.NONE, 1), res
        c.send(kw.PRODUCE, 3, kw.produce_v3(t, 7, batch, acks=0))
        assert c.wait_closed() == b""
    assert watermarks(broker, t, 0) == (0, 2)


def test_a_partition_named_twice_is_appended_once_with_the_last_records(broker):
    """Kafka keys a Produce request's partitions, so a partition named twice is written
    and answered once, with the records given last."""
    t = unique_topic("produce-twice")
    create_topic(broker, t, 1)
    first = kw.encode_batch([kw.Record(None, b"first")])
    last = kw.encode_batch([kw.Record(None, b"last-1"), kw.Record(None, b"last-2")])
    parts = [kw.i32(0) + kw.nbytes(first), kw.i32(0) + kw.nbytes(last)]
    body = kw.string(None) + kw.i16(1) + kw.i32(10000) + kw.array([kw.string(t) + kw.array(parts)])
    with kw.Conn(broker.bootstrap) as c:
        rd = kw.Reader(c.request(kw.PRODUCE, 3, body))
    answers = [(name, p) for name, ps in rd.array(lambda r: (r.string(), r.array(
        lambda q: (q.i32(), q.i16(), q.i64(), q.i64())))) for p in ps]
    assert answers == [(t, (0, kw.NONE, 0, -1))], answers
    assert watermarks(broker, t, 0) == (0, 2)
    got = consume(broker, t, {0: 0}, {0: 2})
    assert [r.value for r in got[0]] == [b"last-1", b"last-2"]
