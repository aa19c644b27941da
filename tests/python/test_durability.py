"""Crash and shutdown tests: kill -9 mid-stream loses nothing acknowledged with acks=all; a torn
or corrupt segment tail is cut back to the last whole batch on restart and never served;
SIGTERM/SIGINT exit 0 with everything flushed."""

import random
import re
import signal
import threading
import time
import urllib.request

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

import kafka_wire as kw
from clients import (consume, consume_all, consumer, create_topic, produce_all, producer, unique_topic,
                     watermarks)

PARTITIONS = 4


def payload(seed: int, i: int) -> bytes:
    """Record i's value, recomputable from (seed, i) alone."""
    r = random.Random(seed * 1_000_003 + i)
    return b"%d|" % i + r.randbytes(r.randrange(10, 2000))


@pytest.mark.timeout(180)
def test_kill9_mid_stream_loses_no_acknowledged_record(start_broker, seed):
    b = start_broker()
    t = unique_topic("crash")
    create_topic(b, t, PARTITIONS)
    kill_after = 3000 + random.Random(seed).randrange(2000)
    print(f"kill -9 after {kill_after} acknowledged records")

    acked: dict[tuple[int, int], int] = {}  # (partition, offset) -> record index
    enough = threading.Event()
    killed = threading.Event()

    def on_delivery(err, msg):
        if err is None:
            acked[(msg.partition(), msg.offset())] = int(msg.key())
            if len(acked) >= kill_after:
                enough.set()

    def killer():
        if enough.wait(60):
            b.kill9()
        killed.set()

    th = threading.Thread(target=killer)
    th.start()
    p = producer(b, acks="all", **{"linger.ms": 2, "batch.num.messages": 200, "message.timeout.ms": 30000,
                                   "queue.buffering.max.messages": 20000})
    i = 0
    try:
        while not killed.is_set():
            try:
                p.produce(t, key=b"%d" % i, value=payload(seed, i), partition=i % PARTITIONS, on_delivery=on_delivery)
                i += 1
            except BufferError:
                p.poll(0.05)
            p.poll(0)
        # reports for responses that arrived before the kill; nothing unacknowledged counts
        for _ in range(50):
            if not p.poll(0.1):
                break
        p.purge()
        p.flush(5)
    finally:
        th.join(70)
    assert killed.is_set() and enough.is_set(), f"only {len(acked)} records acknowledged before the deadline"
    print(f"produced {i}, acknowledged {len(acked)} before kill -9")

    b.start()  # same log dir: recovery runs
    check_log(b, t, seed, acked)
    # the log takes new appends at its recovered end, and survives a clean restart too
    ends = {q: watermarks(b, t, q)[1] for q in range(PARTITIONS)}
    nxt = i + PARTITIONS - i % PARTITIONS  # record j always goes to partition j % PARTITIONS
    more = produce_all(producer(b, acks="all"), t, [{"key": b"%d" % (nxt + q), "value": payload(seed, nxt + q),
                                                     "partition": q} for q in range(PARTITIONS)])
    assert {r.partition: r.offset for r in more} == ends
    for r in more:
        acked[(r.partition, r.offset)] = int(r.key)
    b.restart()
    check_log(b, t, seed, acked)


def check_log(b, topic: str, seed: int, acked: dict[tuple[int, int], int]) -> None:
    """Every acknowledged record is there with its value; every record served (acknowledged or
    not) is one that was produced, intact; offsets have no holes."""
    got = consume_all(b, topic, list(range(PARTITIONS)), **{"check.crcs": True})
    served = {}
    for q, recs in got.items():
        lo, hi = watermarks(b, topic, q)
        assert lo == 0
        assert [r.offset for r in recs] == list(range(hi)), f"partition {q}: holes or duplicates in offsets"
        for r in recs:
            idx = int(r.key)
            assert r.value == payload(seed, idx), f"partition {q} offset {r.offset}: corrupt value"
            assert idx % PARTITIONS == q
            served[(q, r.offset)] = idx
    lost = {k: v for k, v in acked.items() if served.get(k) != v}
    assert not lost, f"{len(lost)} acknowledged records lost or changed, e.g. {sorted(lost.items())[:5]}"


def segment_files(b, topic: str, partition: int) -> list:
    files = sorted((b.log_dir / f"{topic}-{partition}").glob("*.log"))
    assert files, f"no segment files under {b.log_dir / f'{topic}-{partition}'}"
    return files


@pytest.mark.parametrize("damage", ["truncate-mid-batch", "flip-last-byte", "append-garbage", "append-zeros",
                                    "truncate-mid-header"])
def test_recovery_cuts_a_damaged_tail(start_broker, seed, damage):
    """20 records, one batch each; then the last segment's tail is damaged while the broker is
    down. On restart the broker serves exactly the whole, valid batches and appends after them."""
    b = start_broker()
    t = unique_topic("torn")
    create_topic(b, t, 1)
    p = producer(b, acks="all", **{"linger.ms": 0})
    for i in range(20):
        produce_all(p, t, [{"value": b"record-%d" % i, "partition": 0}])
    b.stop()
    seg = segment_files(b, t, 0)[-1]
    data = seg.read_bytes()
    end = kw.valid_log_end(data)
    batches = kw.decode_batches(data[:end], decode_records=False)
    assert sum(x.record_count for x in batches) == 20 and batches[-1].last_offset == 19
    rng = random.Random(seed)
    last_len = len(batches[-1].raw)
    if damage == "truncate-mid-batch":
        new, survivors = data[: end - last_len // 2], 19
    elif damage == "truncate-mid-header":
        new, survivors = data[: end - last_len + 7], 19
    elif damage == "flip-last-byte":
        new, survivors = data[: end - 1] + bytes([data[end - 1] ^ 0xFF]) + data[end:], 19
    elif damage == "append-garbage":
        new, survivors = data[:end] + rng.randbytes(rng.randrange(1, 500)), 20
    else:
        new, survivors = data[:end] + bytes(4096), 20
    seg.write_bytes(new)

    b.start()
    assert watermarks(b, t, 0) == (0, survivors)
    got = consume(b, t, {0: OFFSET_BEGINNING}, {0: survivors}, **{"check.crcs": True})[0]
    assert [r.value for r in got] == [b"record-%d" % i for i in range(survivors)]
    # nothing past the cut is served, even on a direct fetch of the old offset
    with kw.Conn(b.bootstrap) as c:
        resp = kw.parse_fetch_v4(c.request(kw.FETCH, 4, kw.fetch_v4(t, 0, 0, max_wait_ms=0)))[(t, 0)]
    assert resp.high_watermark == survivors
    served = kw.decode_batches(resp.records)
    assert all(x.crc_ok for x in served) and served[-1].last_offset == survivors - 1
    # appends continue right after the last whole batch
    [r] = produce_all(producer(b, acks="all"), t, [{"value": b"after", "partition": 0}])
    assert r.offset == survivors
    got = consume(b, t, {0: 0}, {0: survivors + 1})[0]
    assert [x.value for x in got][-2:] == [b"record-%d" % (survivors - 1), b"after"]


@pytest.mark.parametrize("damage,recovery_point", [("cut", "kept"), ("length", "lost"), ("base-offset", "kept"),
                                                    ("payload", "lost")])
def test_damage_in_an_older_segment_takes_the_log_offline(start_broker, damage, recovery_point):
    """A sealed segment is damaged while the broker is down: the file cut inside a batch, a
    batch's length or base offset changed, a record byte flipped. With the recovery point kept
    (past the damage), the segment is checked when a fetch first reaches it; with it lost, every
    segment is checked at start-up. Either way the log goes offline: KAFKA_STORAGE_ERROR (56)
    for fetch and produce, the broker's log names the file and the offset, the offline-partition
    gauge counts it, and the other topics are served. Nothing damaged or past the damage is
    served."""
    storage_error = 56
    b = start_broker()
    t = unique_topic("rot")
    create_topic(b, t, 1, config={"segment.bytes": "1024"})
    p = producer(b, acks="all", **{"linger.ms": 0})
    for i in range(40):
        produce_all(p, t, [{"value": b"record-%02d|" % i + bytes(80), "partition": 0}])
    b.stop()
    files = segment_files(b, t, 0)
    assert len(files) > 2, files
    data = files[0].read_bytes()
    batches = kw.decode_batches(data, decode_records=False)
    at = sum(len(x.raw) for x in batches[:2])
    third = batches[2]
    if damage == "cut":
        data = data[: at + len(third.raw) // 2]
    elif damage == "length":
        data = data[: at + 11] + bytes([data[at + 11] ^ 1]) + data[at + 12:]
    elif damage == "base-offset":
        data = data[: at + 7] + bytes([data[at + 7] ^ 0x40]) + data[at + 8:]
    else:
        data = data[:-1] + bytes([data[-1] ^ 0xFF])
    files[0].write_bytes(data)
    if recovery_point == "lost":
        (b.log_dir / f"{t}-0" / "recovery-point-offset").unlink()

    b.start()
    batch = kw.encode_batch([kw.Record(b"k", b"v")])
    with kw.Conn(b.bootstrap) as c:
        fetched = kw.parse_fetch_v4(c.request(kw.FETCH, 4, kw.fetch_v4(t, 0, 0, max_wait_ms=0)))[(t, 0)]
        assert fetched.error_code == storage_error and not fetched.records, fetched
        res = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(t, 0, batch, acks=-1)))
        assert res[(t, 0)][0] == storage_error, res
    b.wait_for_stderr(rf"the log is offline.*{re.escape(str(files[0]))}: .*offset \d+")
    text = b.log_text()
    metrics = re.findall(r"shoal metrics: listening on (\S+)", text)[-1]  # this start's
    body = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10).read().decode()
    assert "kafka_controller_kafkacontroller_offlinepartitionscount 1" in body
    other = unique_topic("fine")
    [r] = produce_all(producer(b, acks="all"), other, [{"value": b"ok", "partition": 0}])
    assert [x.value for x in consume(b, other, {0: 0}, {0: 1})[0]] == [b"ok"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_shutdown_keeps_acked_data(start_broker, sig):
    b = start_broker()
    t = unique_topic("graceful")
    create_topic(b, t, 3)
    recs = produce_all(producer(b, acks="all"), t, [{"value": b"v%d" % i, "partition": i % 3} for i in range(600)])
    assert b.stop(sig) == 0
    b.start()
    got = consume_all(b, t, [0, 1, 2])
    assert sorted((r.partition, r.offset, r.value) for rs in got.values() for r in rs) == \
        sorted((r.partition, r.offset, r.value) for r in recs)


def test_shutdown_with_busy_clients_is_prompt(start_broker):
    """SIGTERM while a consumer is parked in a long fetch and a producer is connected: the broker
    still exits 0 promptly (it does not wait out the fetch), and nothing acked is lost."""
    b = start_broker()
    t = unique_topic("busy")
    create_topic(b, t, 1)
    p = producer(b, acks="all")
    produce_all(p, t, [{"value": b"before", "partition": 0}])
    c = consumer(b, **{"fetch.wait.max.ms": 60000})
    c.assign([TopicPartition(t, 0, 0)])
    m = c.poll(30)
    assert m is not None and not m.error() and m.value() == b"before"
    with kw.Conn(b.bootstrap) as raw:
        raw.send(kw.FETCH, 4, kw.fetch_v4(t, 0, 1, max_wait_ms=60000))
        t0 = time.monotonic()
        assert b.stop(signal.SIGTERM, timeout=20) == 0
        assert time.monotonic() - t0 < 20
        # the parked fetch is either answered (empty) or its connection is closed, never left hanging
        try:
            raw.wait_closed(timeout=10)
        except TimeoutError:
            pytest.fail("a client connection outlived the broker process")
    c.close()
    b.start()
    assert watermarks(b, t, 0) == (0, 1)


def test_a_failed_fdatasync_takes_the_log_offline_and_acknowledges_nothing_more(start_broker):
    """The `storage::fdatasync` failpoint fails the fdatasync of one topic's segments (EIO).
    Retried, an fdatasync after a failure can succeed without the pages Linux dropped, so the
    log goes offline instead: KAFKA_STORAGE_ERROR (56) for every produce and fetch, while the
    broker serves its other topics; the offline-partition gauge counts it, and the offline
    log-directory gauges its directory. A restart recovers it."""
    storage_error = 56
    doomed = unique_topic("doomed")
    b = start_broker({"num.partitions": 1})
    b.stop()
    b.env = {"FAILPOINTS": f"storage::fdatasync=return(eio@{doomed}-0)"}
    b.start()
    batch = kw.encode_batch([kw.Record(b"k", b"v")])
    with kw.Conn(b.bootstrap) as c:
        kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1([doomed])))  # auto-creates
        for acks in (-1, -1, 1):
            res = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(doomed, 0, batch, acks=acks)))
            assert res[(doomed, 0)][0] == storage_error, (acks, res)
        fetched = kw.parse_fetch_v4(c.request(kw.FETCH, 4, kw.fetch_v4(doomed, 0, 0, max_wait_ms=0)))
        assert fetched[(doomed, 0)].error_code == storage_error
    b.wait_for_stderr(rf"the log is offline.*{doomed}-0.*fdatasync failed")
    text = b.log_text()
    assert text.count("failpoint: failing with EIO") == 1, "the failed fdatasync was retried"
    metrics = re.findall(r"shoal metrics: listening on (\S+)", text)[-1]  # this start's
    body = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10).read().decode()
    assert "kafka_controller_kafkacontroller_offlinepartitionscount 1" in body
    # Its log directory counts as offline while it holds the offline log.
    assert "kafka_log_logmanager_offlinelogdirectorycount 1" in body
    assert f'kafka_log_logmanager_logdirectoryoffline{{logDirectory="{b.log_dir}"}} 1' in body, body
    # The rest of the broker serves.
    other = unique_topic("fine")
    produce_all(producer(b, acks="all"), other, [{"value": b"ok", "partition": 0}])
    # A restart without the fault recovers the log, which serves again.
    b.stop()
    b.env = {}
    b.start()
    sent = produce_all(producer(b, acks="all"), doomed, [{"value": b"after", "partition": 0}])
    got = consume(b, doomed, {0: sent[0].offset}, {0: sent[0].offset + 1})
    assert [r.value for r in got[0]] == [b"after"]
    metrics = re.findall(r"shoal metrics: listening on (\S+)", b.log_text())[-1]
    body = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=10).read().decode()
    assert "kafka_log_logmanager_offlinelogdirectorycount 0" in body
