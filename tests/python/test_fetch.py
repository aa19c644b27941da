"""Fetch from any offset, across partitions, big batches, out-of-range handling, and long-poll at
the log end (confluent-kafka, plus raw Fetch v4 where the exact broker behaviour matters)."""

import random
import threading
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, OFFSET_BEGINNING, OFFSET_END, TopicPartition

import kafka_wire as kw
from clients import consume, consumer, create_topic, produce_all, producer, unique_topic, watermarks


def fill(broker, topic: str, partitions: int, per_partition: int, **pconf) -> dict[int, list[bytes]]:
    create_topic(broker, topic, partitions)
    recs = [{"value": b"%d:%d" % (i % partitions, i // partitions), "partition": i % partitions}
            for i in range(partitions * per_partition)]
    produce_all(producer(broker, **pconf), topic, recs)
    return {p: [b"%d:%d" % (p, i) for i in range(per_partition)] for p in range(partitions)}


def wait_for_eof(c, partitions: set[int], timeout: float = 30.0) -> list:
    """Poll until every partition in `partitions` reported end-of-partition; returns any records."""
    seen, records = set(), []
    deadline = time.monotonic() + timeout
    while seen != partitions:
        assert time.monotonic() < deadline, f"no end-of-partition event for {partitions - seen}"
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                seen.add(m.partition())
                continue
            raise KafkaException(m.error())
        records.append(m)
    return records


def test_fetch_from_middle_beginning_and_end_across_partitions(broker):
    t = unique_topic("fetch")
    data = fill(broker, t, 3, 200, **{"linger.ms": 5})
    # explicit offsets in the middle, a different one per partition
    starts = {0: 17, 1: 100, 2: 199}
    got = consume(broker, t, starts, {p: 200 for p in range(3)})
    for p, start in starts.items():
        assert [r.offset for r in got[p]] == list(range(start, 200))
        assert [r.value for r in got[p]] == data[p][start:]
    # from the beginning
    got = consume(broker, t, {p: OFFSET_BEGINNING for p in range(3)}, {p: 200 for p in range(3)})
    assert {p: [r.value for r in rs] for p, rs in got.items()} == data
    # from the end: only records produced after the consumer reached the end arrive
    c = consumer(broker, **{"enable.partition.eof": True})
    try:
        c.assign([TopicPartition(t, p, OFFSET_END) for p in range(3)])
        assert wait_for_eof(c, {0, 1, 2}) == []
        produce_all(producer(broker), t, [{"value": b"new-%d" % p, "partition": p} for p in range(3)])
        got = {}
        deadline = time.monotonic() + 30
        while len(got) < 3 and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF):
                continue
            assert not m.error(), m.error()
            assert m.partition() not in got, f"extra record {m.value()!r}"
            got[m.partition()] = (m.offset(), m.value())
        assert got == {p: (200, b"new-%d" % p) for p in range(3)}
    finally:
        c.close()


def test_fetch_inside_a_compressed_batch(broker):
    """Starting in the middle of a batch returns that batch; the client skips the records before
    the requested offset, so the first record seen is exactly the one asked for."""
    t = unique_topic("midbatch")
    create_topic(broker, t, 1)
    p = producer(broker, **{"compression.type": "lz4", "linger.ms": 1000, "batch.num.messages": 1000})
    produce_all(p, t, [{"value": b"v%d" % i, "partition": 0} for i in range(100)])
    batches = kw.fetch_all_batches(broker.bootstrap, t, 0)
    assert len(batches) < 100, "records were expected to share batches"
    for start in (37, 99, 0):
        got = consume(broker, t, {0: start}, {0: 100})[0]
        assert [r.value for r in got] == [b"v%d" % i for i in range(start, 100)]


def test_large_batches_bigger_than_fetch_limits(broker, seed):
    """Batches of ~1 MB are returned whole even when the consumer's fetch limits are smaller
    (KIP-74: the first batch is always returned), and every byte comes back."""
    rng = random.Random(seed)
    t = unique_topic("large")
    create_topic(broker, t, 2)
    values = [rng.randbytes(rng.randrange(500, 2000)) for _ in range(4000)]
    p = producer(broker, **{"batch.size": 1_000_000, "linger.ms": 200, "batch.num.messages": 10000,
                            "compression.type": "none", "message.max.bytes": 1_000_000})
    produce_all(p, t, [{"value": v, "partition": i % 2} for i, v in enumerate(values)])
    big = max((b for b in kw.fetch_all_batches(broker.bootstrap, t, 0)), key=lambda b: len(b.raw))
    assert len(big.raw) > 200_000, "producer was expected to send large batches"
    ends = {0: 2000, 1: 2000}
    got = consume(broker, t, {0: 0, 1: 0}, ends, **{"fetch.max.bytes": 100_000, "message.max.bytes": 100_000,
                                                     "max.partition.fetch.bytes": 50_000,
                                                     "receive.message.max.bytes": 10_000_000})
    for q in (0, 1):
        assert [r.offset for r in got[q]] == list(range(2000))
        assert [r.value for r in got[q]] == values[q::2]


def test_fetch_beyond_log_end_is_out_of_range(broker):
    t = unique_topic("oor")
    fill(broker, t, 1, 10)
    # auto.offset.reset=error surfaces the broker's OFFSET_OUT_OF_RANGE
    c = consumer(broker, **{"auto.offset.reset": "error"})
    try:
        c.assign([TopicPartition(t, 0, 100)])
        deadline = time.monotonic() + 30
        err = None
        while err is None and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None:
                assert m.error(), f"got a record at offset {m.offset()} from beyond the log end"
                err = m.error()
        assert err is not None and err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE), err
    finally:
        c.close()
    # earliest resets to the start, latest to the end
    got = consume(broker, t, {0: 100}, {0: 10}, **{"auto.offset.reset": "earliest"})[0]
    assert [r.offset for r in got] == list(range(10))
    # and on the wire, exactly OFFSET_OUT_OF_RANGE (past the end, and negative)
    with kw.Conn(broker.bootstrap) as conn:
        for off in (11, 1000, -5):
            resp = kw.parse_fetch_v4(conn.request(kw.FETCH, 4, kw.fetch_v4(t, 0, off, max_wait_ms=0)))
            assert resp[(t, 0)].error_code == kw.OFFSET_OUT_OF_RANGE, off
        # the log end itself is in range: an empty answer, no error
        resp = kw.parse_fetch_v4(conn.request(kw.FETCH, 4, kw.fetch_v4(t, 0, 10, max_wait_ms=0)))
        assert (resp[(t, 0)].error_code, resp[(t, 0)].high_watermark, resp[(t, 0)].records) == (kw.NONE, 10, b"")


def test_fetch_unknown_partition_is_an_error(broker):
    t = unique_topic("unk")
    fill(broker, t, 1, 1)
    with kw.Conn(broker.bootstrap) as conn:
        for topic, part in ((t, 7), (unique_topic("nosuch"), 0)):
            resp = kw.parse_fetch_v4(conn.request(kw.FETCH, 4, kw.fetch_v4(topic, part, 0, max_wait_ms=0)))
            assert resp[(topic, part)].error_code == kw.UNKNOWN_TOPIC_OR_PARTITION


def test_long_poll_consumer_wakes_for_new_record(broker):
    """A consumer parked at the log end with a long fetch.wait.max.ms gets a record produced after
    it got there, promptly: the broker answers the parked fetch when data arrives."""
    t = unique_topic("longpoll")
    fill(broker, t, 1, 5)
    c = consumer(broker, **{"fetch.wait.max.ms": 30000})
    try:
        # read the last record: the consumer's next fetch is then at the log end, and waits
        c.assign([TopicPartition(t, 0, 4)])
        first = next_records(c, 1)
        assert [(m.offset(), m.value()) for m in first] == [(4, b"0:4")]
        received: list = []

        def poll_loop():
            received.extend((time.monotonic(), m.offset(), m.value()) for m in next_records(c, 1, 40))

        th = threading.Thread(target=poll_loop)
        th.start()
        produced_at = time.monotonic()
        produce_all(producer(broker, acks="all"), t, [{"value": b"wake up", "partition": 0}])
        th.join(45)
        assert received, "the parked consumer never received the new record"
        at, offset, value = received[0]
        assert (offset, value) == (5, b"wake up")
        assert at - produced_at < 10, f"record arrived {at - produced_at:.1f}s after produce (fetch.wait.max.ms=30000)"
    finally:
        c.close()


def test_raw_fetch_waits_max_wait_then_returns_empty(broker):
    t = unique_topic("maxwait")
    fill(broker, t, 1, 3)
    with kw.Conn(broker.bootstrap) as conn:
        t0 = time.monotonic()
        resp = kw.parse_fetch_v4(conn.request(kw.FETCH, 4, kw.fetch_v4(t, 0, 3, max_wait_ms=1500, min_bytes=1),
                                              timeout=20))
        waited = time.monotonic() - t0
    p = resp[(t, 0)]
    assert (p.error_code, p.high_watermark, p.records) == (kw.NONE, 3, b"")
    assert 1.2 <= waited < 10, f"a fetch at the log end with max_wait_ms=1500 returned after {waited:.2f}s"


def test_raw_parked_fetch_is_answered_by_a_produce(broker):
    t = unique_topic("parked")
    fill(broker, t, 1, 3)
    with kw.Conn(broker.bootstrap) as conn:
        corr = conn.send(kw.FETCH, 4, kw.fetch_v4(t, 0, 3, max_wait_ms=30000, min_bytes=1))
        t0 = time.monotonic()
        produce_all(producer(broker, acks="1"), t, [{"value": b"late", "partition": 0}])
        resp = kw.parse_fetch_v4(conn.recv_response(corr, timeout=25))
        waited = time.monotonic() - t0
    p = resp[(t, 0)]
    assert p.error_code == kw.NONE and p.high_watermark == 4
    [b] = kw.decode_batches(p.records)
    assert b.crc_ok and [(off, r.value) for off, _, r in b.records] == [(3, b"late")]
    assert waited < 10, f"parked fetch answered {waited:.1f}s after the produce"


@pytest.mark.parametrize("partitions", [2, 6])
def test_parked_fetch_over_partitions_on_several_shards(broker, partitions):
    """One fetch naming partitions that different shards own is answered when any of them gets
    data, with exactly that data."""
    t = unique_topic("fanin")
    create_topic(broker, t, partitions)
    produce_all(producer(broker), t, [{"value": b"first", "partition": p} for p in range(partitions)])
    c = consumer(broker, **{"fetch.wait.max.ms": 30000})
    try:
        c.assign([TopicPartition(t, p, 0) for p in range(partitions)])
        assert sorted(m.partition() for m in next_records(c, partitions)) == list(range(partitions))
        last = partitions - 1
        t0 = time.monotonic()
        produce_all(producer(broker), t, [{"value": b"only-%d" % last, "partition": last}])
        got = [(m.partition(), m.offset(), m.value()) for m in next_records(c, 1, 15)]
        assert got == [(last, 1, b"only-%d" % last)]
        assert time.monotonic() - t0 < 10
        assert [watermarks(broker, t, p)[1] for p in range(partitions)] == [1] * last + [2]
    finally:
        c.close()


def next_records(c, n: int, timeout: float = 30.0) -> list:
    """The next n records a consumer delivers (errors other than end-of-partition fail)."""
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(min(0.5, max(deadline - time.monotonic(), 0.01)))
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(m.error())
        out.append(m)
    return out


def test_a_consumers_last_fetched_epoch_is_checked_as_kafka_checks_it(broker):
    """Fetch v12+ may name the epoch of the last batch the consumer read: Kafka checks it for
    consumers as for followers. Where the log parts from what the consumer read, the answer
    is the diverging epoch and where it ends, answered at once; an epoch the log never had is
    out of range."""
    t = unique_topic("last-epoch")
    fill(broker, t, 1, 3)
    with kw.Conn(broker.bootstrap) as conn:
        def fetch(offset: int, epoch: int, leader_epoch: int = -1, max_wait_ms: int = 0) -> kw.FetchedV12:
            request = kw.fetch_v12(t, 0, offset, last_fetched_epoch=epoch, current_leader_epoch=leader_epoch,
                                   max_wait_ms=max_wait_ms)
            return kw.parse_fetch_v12(conn.request(kw.FETCH, 12, request, flexible=True))[(t, 0)]

        records = fetch(0, -1).records
        (epoch,) = {b.partition_leader_epoch for b in kw.decode_batches(records, decode_records=False)}
        read = fetch(1, epoch)
        assert (read.error_code, read.diverging_epoch) == (kw.NONE, (-1, -1)) and read.records, read
        # Past the end of the epoch the consumer names: it parts where the epoch ends, and
        # hears it at once, not after the fetch's wait (Kafka answers a diverging log at once).
        sent = time.monotonic()
        parted = fetch(5, epoch, max_wait_ms=20_000)
        assert time.monotonic() - sent < 10, "a diverging log was answered only after the fetch's wait"
        assert (parted.error_code, parted.diverging_epoch, parted.records) == (kw.NONE, (epoch, 3), b""), parted
        assert parted.high_watermark == 3 and parted.log_start_offset == 0, parted
        unknown = fetch(1, epoch + 7)
        assert (unknown.error_code, unknown.records) == (kw.OFFSET_OUT_OF_RANGE, b""), unknown
        # The leader epoch the consumer believes current is checked first.
        ahead = fetch(1, epoch, leader_epoch=epoch + 1)
        assert (ahead.error_code, ahead.high_watermark) == (kw.UNKNOWN_LEADER_EPOCH, -1), ahead
        assert fetch(1, epoch, leader_epoch=epoch).error_code == kw.NONE


def whole_batches(records: bytes) -> list[int]:
    """The sizes of the whole batches `records` begins with (a fetch may end in part of one)."""
    sizes, at = [], 0
    while at + 12 <= len(records):
        size = 12 + int.from_bytes(records[at + 8:at + 12], "big")
        if at + size > len(records):
            break
        sizes.append(size)
        at += size
    return sizes


def test_fetch_limits_bound_the_answer_but_the_first_batch_comes_whole(broker):
    """`max_bytes` and `partition_max_bytes` bound what a fetch returns (an answer may end
    in part of a batch, as Kafka's may), yet the first batch comes whole however small
    the limits (KIP-74), so a consumer never stalls on a big batch."""
    t = unique_topic("limits")
    create_topic(broker, t, 1)
    p = producer(broker, **{"compression.type": "none", "linger.ms": 0})
    for _ in range(6):
        produce_all(p, t, [{"value": b"x" * 10_000}])  # one batch each
    with kw.Conn(broker.bootstrap) as conn:
        def fetched(**limits) -> bytes:
            got = kw.parse_fetch_v4(conn.request(kw.FETCH, 4, kw.fetch_v4(t, 0, 0, **limits)))[(t, 0)]
            assert got.error_code == kw.NONE, limits
            return got.records

        everything = whole_batches(fetched())
        assert len(everything) == 6 and all(10_000 < size < 10_200 for size in everything), everything
        for limits in [{"max_bytes": 25_000}, {"partition_max_bytes": 25_000}]:
            got = fetched(**limits)
            assert len(got) <= 25_000 and whole_batches(got) == everything[:2], (limits, len(got))
        for limits in [{"max_bytes": 1000}, {"partition_max_bytes": 1000}, {"max_bytes": 1, "partition_max_bytes": 1}]:
            got = fetched(**limits)
            assert (len(got), whole_batches(got)) == (everything[0], everything[:1]), limits


def fetch_v4_partitions(topic: str, partitions: list[int], max_bytes: int) -> bytes:
    """A Fetch v4 from offset 0 of each of `partitions`, in that order."""
    parts = [kw.i32(p) + kw.i64(0) + kw.i32(10 * 1024 * 1024) for p in partitions]
    return (kw.i32(-1) + kw.i32(500) + kw.i32(1) + kw.i32(max_bytes) + kw.i8(0)
            + kw.array([kw.string(topic) + kw.array(parts)]))


def test_a_partition_whose_first_batch_does_not_fit_what_is_left_gets_no_records(broker):
    """After the first partition with data, a partition whose first batch is larger than
    what `max_bytes` leaves gets no records, not a cut batch (Kafka's ReplicaManager sends
    none: the Java and kafka-python consumers fail on a partition holding only part of a
    batch), and a later partition whose batch fits still gets it. kafka-python, fetching
    three partitions with a small fetch_max_bytes, reads every record."""
    from kafka import KafkaConsumer, TopicPartition as PyPartition

    t = unique_topic("budget")
    create_topic(broker, t, 3)
    p = producer(broker, **{"compression.type": "none", "linger.ms": 0})
    for partition, size in [(0, 10_000), (1, 10_000), (2, 100)]:
        produce_all(p, t, [{"partition": partition, "value": b"x" * size}])
    with kw.Conn(broker.bootstrap) as conn:
        got = kw.parse_fetch_v4(conn.request(kw.FETCH, 4, fetch_v4_partitions(t, [0, 1, 2], 15_000)))
    sizes = {partition: (len(got[(t, partition)].records), whole_batches(got[(t, partition)].records))
             for partition in range(3)}
    assert sizes[1] == (0, []), sizes
    assert [len(sizes[p][1]) for p in (0, 2)] == [1, 1] and all(sizes[p][0] == sizes[p][1][0] for p in (0, 2)), sizes

    for partition in range(3):
        produce_all(p, t, [{"partition": partition, "value": b"y" * 10_000} for _ in range(3)])
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, fetch_max_bytes=15_000, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=15_000)
    try:
        c.assign([PyPartition(t, partition) for partition in range(3)])
        read = {partition: 0 for partition in range(3)}
        for record in c:
            read[record.partition] += 1
            if sum(read.values()) == 12:
                break
    finally:
        c.close()
    assert read == {0: 4, 1: 4, 2: 4}, read
