"""Transactions through real clients: confluent-kafka's transactional producer (librdkafka)
commits and aborts, read_committed consumers see only committed records and read_uncommitted
ones see everything; a new producer fences the old one; an abandoned transaction times out;
consume-transform-produce with send_offsets_to_transaction; kafka-python's and aiokafka's
transactional producers; and on the wire, the errors Kafka gives a producer that breaks the
rules."""

import asyncio
import pathlib
import random
import subprocess
import sys
import time

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, TopicPartition
from kafka import KafkaProducer

import kafka_wire as kw
from clients import admin, base_conf, create_topic, producer, unique_topic, watermarks

TIMEOUT_S = 30
INVALID_TRANSACTION_TIMEOUT = 50


def txn_producer(broker, **extra):
    return producer(broker, **{"transactional.id": unique_topic("tid"), **extra})


def read_committed(broker, topic: str, partitions: list[int], isolation: str = "read_committed",
                   timeout: float = TIMEOUT_S) -> dict[int, list]:
    """Every record a consumer at `isolation` gets from each partition, until its position
    reaches the partition's end (the high watermark: no transaction may be open). Markers are
    never delivered, so the end is found by the consumer's end-of-partition events."""
    c = Consumer(base_conf(broker, **{"group.id": unique_topic("g"), "isolation.level": isolation,
                                      "enable.auto.commit": False, "enable.partition.eof": True}))
    try:
        ends = {p: high_watermark(broker, topic, p) for p in partitions}
        c.assign([TopicPartition(topic, p, 0) for p in partitions])
        got: dict[int, list] = {p: [] for p in partitions}
        done: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(done) < len(partitions):
            assert time.monotonic() < deadline, f"read_committed of {topic} did not reach {ends}: {got}"
            for m in c.consume(num_messages=500, timeout=0.5):
                if m.error() and m.error().code() == KafkaError._PARTITION_EOF:
                    if m.offset() >= ends[m.partition()]:
                        done.add(m.partition())
                    continue
                if m.error():
                    raise KafkaException(m.error())
                got[m.partition()].append(m)
        return got
    finally:
        c.close()


def high_watermark(broker, topic: str, partition: int) -> int:
    """The high watermark (librdkafka's consumers default to read_committed, whose
    watermark query answers the last stable offset)."""
    c = Consumer(base_conf(broker, **{"group.id": unique_topic("g"), "isolation.level": "read_uncommitted"}))
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT_S, cached=False)[1]
    finally:
        c.close()


def values(records: dict[int, list]) -> list[bytes]:
    return sorted(m.value() for ms in records.values() for m in ms)


def test_committed_and_aborted_transactions_by_isolation_level(broker):
    t = unique_topic("txn")
    create_topic(broker, t, 2)
    p = txn_producer(broker)
    p.init_transactions(TIMEOUT_S)
    p.begin_transaction()
    for i in range(10):
        p.produce(t, value=b"c1-%d" % i, partition=i % 2)
    p.commit_transaction(TIMEOUT_S)
    p.begin_transaction()
    for i in range(10):
        p.produce(t, value=b"ab-%d" % i, partition=i % 2)
    p.flush(TIMEOUT_S)
    p.abort_transaction(TIMEOUT_S)
    p.begin_transaction()
    for i in range(4):
        p.produce(t, value=b"c2-%d" % i, partition=i % 2)
    p.commit_transaction(TIMEOUT_S)
    committed = [b"c1-%d" % i for i in range(10)] + [b"c2-%d" % i for i in range(4)]
    assert values(read_committed(broker, t, [0, 1])) == sorted(committed)
    # read_uncommitted sees the aborted records too; the markers are skipped by the client
    everything = read_committed(broker, t, [0, 1], isolation="read_uncommitted")
    assert values(everything) == sorted(committed + [b"ab-%d" % i for i in range(10)])


def test_a_new_producer_of_the_same_id_fences_the_old_one(broker):
    t = unique_topic("fence")
    create_topic(broker, t, 1)
    tid = unique_topic("tid")
    old = producer(broker, **{"transactional.id": tid})
    old.init_transactions(TIMEOUT_S)
    old.begin_transaction()
    old.produce(t, value=b"from the old producer", partition=0)
    old.flush(TIMEOUT_S)
    new = producer(broker, **{"transactional.id": tid})
    new.init_transactions(TIMEOUT_S)  # aborts the old producer's open transaction
    with pytest.raises(KafkaException) as fenced:
        old.commit_transaction(TIMEOUT_S)
    assert fenced.value.args[0].fatal() or fenced.value.args[0].txn_requires_abort(), fenced.value
    new.begin_transaction()
    new.produce(t, value=b"from the new producer", partition=0)
    new.commit_transaction(TIMEOUT_S)
    assert values(read_committed(broker, t, [0])) == [b"from the new producer"]


def test_an_abandoned_transaction_is_aborted_after_its_timeout(start_broker):
    b = start_broker({"transaction.abort.timed.out.transaction.cleanup.interval.ms": 200})
    t = unique_topic("timeout")
    create_topic(b, t, 1)
    left = txn_producer(b, **{"transaction.timeout.ms": 1500})
    left.init_transactions(TIMEOUT_S)
    left.begin_transaction()
    left.produce(t, value=b"abandoned", partition=0)
    left.flush(TIMEOUT_S)
    # Another producer's records after it wait behind its open transaction, then show up
    # alone once the coordinator has aborted it.
    other = txn_producer(b)
    other.init_transactions(TIMEOUT_S)
    other.begin_transaction()
    other.produce(t, value=b"committed", partition=0)
    other.commit_transaction(TIMEOUT_S)
    assert values(read_committed(b, t, [0])) == [b"committed"]
    with pytest.raises(KafkaException):
        left.commit_transaction(TIMEOUT_S)


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_consume_transform_produce_commits_offsets_with_the_output(broker, protocol):
    source, sink = unique_topic("in"), unique_topic("out")
    create_topic(broker, source, 1)
    create_topic(broker, sink, 1)
    plain = producer(broker)
    for i in range(20):
        plain.produce(source, value=b"%d" % i, partition=0)
    assert plain.flush(TIMEOUT_S) == 0
    group = unique_topic("ctp")
    c = Consumer(base_conf(broker, **{"group.id": group, "isolation.level": "read_committed",
                                      "group.protocol": protocol, "enable.auto.commit": False,
                                      "auto.offset.reset": "earliest"}))
    p = txn_producer(broker)
    p.init_transactions(TIMEOUT_S)
    try:
        c.assign([TopicPartition(source, 0, 0)])
        for attempt, commit in ((0, False), (1, True)):
            batch = []
            deadline = time.monotonic() + TIMEOUT_S
            while len(batch) < 10 and time.monotonic() < deadline:
                batch += [m for m in c.consume(10 - len(batch), timeout=1) if not m.error()]
            assert len(batch) == 10
            p.begin_transaction()
            for m in batch:
                p.produce(sink, value=b"x" + m.value(), partition=0)
            p.send_offsets_to_transaction([TopicPartition(source, 0, batch[-1].offset() + 1)],
                                          c.consumer_group_metadata(), TIMEOUT_S)
            if commit:
                p.commit_transaction(TIMEOUT_S)
            else:
                p.abort_transaction(TIMEOUT_S)
                committed = c.committed([TopicPartition(source, 0)], timeout=TIMEOUT_S)
                assert committed[0].offset < 0, "an aborted transaction commits no offset"
                c.seek(TopicPartition(source, 0, 0))
        committed = c.committed([TopicPartition(source, 0)], timeout=TIMEOUT_S)
        assert committed[0].offset == 10
    finally:
        c.close()
    assert values(read_committed(broker, sink, [0])) == sorted(b"x%d" % i for i in range(10))


def offsets_in_an_open_transaction(broker, name: str, partitions: int):
    """A topic of `partitions`, a consumer of a new group, and a transactional producer in a
    transaction that sends offset 10 of each partition for the group."""
    source = unique_topic(name)
    create_topic(broker, source, partitions)
    conf = {"group.id": unique_topic(f"{name}-g"), "enable.auto.commit": False}
    c = Consumer(base_conf(broker, **conf))
    p = txn_producer(broker)
    p.init_transactions(TIMEOUT_S)
    p.begin_transaction()
    p.send_offsets_to_transaction([TopicPartition(source, i, 10) for i in range(partitions)],
                                  c.consumer_group_metadata(), TIMEOUT_S)
    return source, conf, c, p


def committed_after_a_restart(broker, conf: dict, partitions: list[TopicPartition]) -> list[int]:
    """The group's committed offsets once the broker restarted (replaying the offsets topic)."""
    broker.restart()
    c = Consumer(base_conf(broker, **conf))
    try:
        return [tp.offset for tp in c.committed(partitions, timeout=TIMEOUT_S)]
    finally:
        c.close()


def test_a_commit_written_after_a_transactions_offsets_outlives_the_transaction(start_broker):
    # Kafka keeps the later record of two commits, whatever order they take effect in; a
    # restart replays them to the same answer.
    broker = start_broker()
    source, conf, c, p = offsets_in_an_open_transaction(broker, "later", 2)
    both = [TopicPartition(source, 0), TopicPartition(source, 1)]
    try:
        # A plain commit of partition 0 while the transaction is open.
        c.commit(offsets=[TopicPartition(source, 0, 15)], asynchronous=False)
        p.commit_transaction(TIMEOUT_S)
        assert [tp.offset for tp in c.committed(both, timeout=TIMEOUT_S)] == [15, 10]
    finally:
        c.close()
    assert committed_after_a_restart(broker, conf, both) == [15, 10]


def test_a_deleted_group_s_offsets_of_an_open_transaction_stay_deleted(start_broker):
    # DeleteGroups deletes the offsets of open transactions too, as Kafka does: neither the
    # transaction's commit nor a restart, which replays the commit marker, brings them back.
    broker = start_broker()
    source, conf, c, p = offsets_in_an_open_transaction(broker, "deleted", 1)
    group = conf["group.id"]
    try:
        deleted = admin(broker).delete_consumer_groups([group], request_timeout=TIMEOUT_S)
        deleted[group].result(TIMEOUT_S)
        p.commit_transaction(TIMEOUT_S)
        assert c.committed([TopicPartition(source, 0)], timeout=TIMEOUT_S)[0].offset == OFFSET_INVALID
    finally:
        c.close()
    assert committed_after_a_restart(broker, conf, [TopicPartition(source, 0)]) == [OFFSET_INVALID]


def test_kafka_python_transactional_producer(broker):
    t = unique_topic("kp-txn")
    create_topic(broker, t, 2)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=unique_topic("kp-tid"))
    try:
        p.init_transactions()
        p.begin_transaction()
        for i in range(6):
            p.send(t, value=b"kept-%d" % i, partition=i % 2)
        p.commit_transaction()
        p.begin_transaction()
        for i in range(6):
            p.send(t, value=b"dropped-%d" % i, partition=i % 2)
        p.abort_transaction()
    finally:
        p.close(10)
    assert values(read_committed(broker, t, [0, 1])) == sorted(b"kept-%d" % i for i in range(6))


def test_aiokafka_transactional_producer(broker):
    t = unique_topic("aio-txn")
    create_topic(broker, t, 2)

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=unique_topic("aio-tid"))
        await p.start()
        try:
            async with p.transaction():
                for i in range(6):
                    await p.send(t, value=b"kept-%d" % i, partition=i % 2)
            await p.begin_transaction()
            for i in range(6):
                await p.send(t, value=b"dropped-%d" % i, partition=i % 2)
            await p.abort_transaction()
        finally:
            await p.stop()

    asyncio.run(run())
    assert values(read_committed(broker, t, [0, 1])) == sorted(b"kept-%d" % i for i in range(6))


# ---------------------------------------------------------------------- on the wire
def init_txn(c, tid: str) -> tuple[int, int]:
    err, pid, epoch = kw.parse_init_producer_id_v0(c.request(kw.INIT_PRODUCER_ID, 0, kw.init_producer_id_v0(tid)))
    assert err == 0, err
    return pid, epoch


def add_partitions(c, tid: str, pid: int, epoch: int, topic: str, partition: int, version: int = 1) -> int:
    body = kw.string(tid) + kw.i64(pid) + kw.i16(epoch) + kw.array([kw.string(topic) + kw.array([kw.i32(partition)])])
    rd = kw.Reader(c.request(kw.ADD_PARTITIONS_TO_TXN, version, body))
    rd.i32()
    [(_, [(_, err)])] = rd.array(lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i16()))))
    return err


def end_txn(c, tid: str, pid: int, epoch: int, commit: bool, version: int = 1) -> int:
    body = kw.string(tid) + kw.i64(pid) + kw.i16(epoch) + kw.i8(1 if commit else 0)
    rd = kw.Reader(c.request(kw.END_TXN, version, body))
    rd.i32()
    return rd.i16()


def txn_produce(c, tid: str | None, topic: str, pid: int, epoch: int, seq: int, version: int = 3) -> int:
    batch = kw.encode_batch([kw.Record(None, b"t%d" % seq)], producer_id=pid, producer_epoch=epoch,
                            base_sequence=seq, attributes=0x10)
    body = kw.string(tid) + kw.i16(-1) + kw.i32(10000) + kw.array(
        [kw.string(topic) + kw.array([kw.i32(0) + kw.nbytes(batch)])])
    return kw.parse_produce_v3(c.request(kw.PRODUCE, version, body))[(topic, 0)][0]


def test_the_errors_a_producer_that_breaks_the_rules_gets(broker):
    t = unique_topic("rules")
    create_topic(broker, t, 1)
    tid = unique_topic("tid")
    with kw.Conn(broker.bootstrap) as c:
        # InitProducerId: an empty transactional id (INVALID_REQUEST, before the timeout
        # is looked at), a timeout outside 1..transaction.max.timeout.ms.
        for asked, timeout, error in (("", 0, kw.INVALID_REQUEST), (tid, 0, INVALID_TRANSACTION_TIMEOUT),
                                      (tid, 1 << 30, INVALID_TRANSACTION_TIMEOUT)):
            request = kw.init_producer_id_v0(asked, timeout)
            assert kw.parse_init_producer_id_v0(c.request(kw.INIT_PRODUCER_ID, 0, request))[0] == error
        pid, epoch = init_txn(c, tid)
        # Writing to a partition the transaction does not hold (KIP-890's check).
        assert txn_produce(c, tid, t, pid, epoch, 0) == kw.INVALID_TXN_STATE
        # Transactional records without a transactional id.
        assert txn_produce(c, None, t, pid, epoch, 0) == kw.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        assert add_partitions(c, tid, pid, epoch, t, 0) == 0
        assert add_partitions(c, tid, pid + 1, epoch, t, 0) == kw.INVALID_PRODUCER_ID_MAPPING
        assert add_partitions(c, tid, pid, epoch, "no-such-topic", 0) == kw.UNKNOWN_TOPIC_OR_PARTITION
        # An internal topic's partition is never a client's to add (AddOffsetsToTxn adds
        # the offsets topic's): TOPIC_AUTHORIZATION_FAILED, whether it exists or not.
        assert add_partitions(c, tid, pid, epoch, "__transaction_state", 0) == kw.TOPIC_AUTHORIZATION_FAILED
        assert txn_produce(c, tid, t, pid, epoch, 0) == 0
        assert end_txn(c, tid, pid, epoch, commit=False) == 0
        # A retried EndTxn of the other kind, an unknown id, an epoch from the past.
        assert end_txn(c, tid, pid, epoch, commit=True) == kw.INVALID_TXN_STATE
        assert end_txn(c, unique_topic("nobody"), pid, epoch, commit=True) == kw.INVALID_PRODUCER_ID_MAPPING
        new_pid, new_epoch = init_txn(c, tid)
        assert (new_pid, new_epoch) == (pid, epoch + 1)
        assert end_txn(c, tid, pid, epoch, commit=True, version=1) == kw.INVALID_PRODUCER_EPOCH
        assert end_txn(c, tid, pid, epoch, commit=True, version=2) == kw.PRODUCER_FENCED
        assert txn_produce(c, tid, t, pid, epoch, 1) == kw.INVALID_PRODUCER_EPOCH
    assert watermarks(broker, t, 0) == (0, 2), "one record and its abort marker"


@pytest.mark.timeout(300)
def test_a_loop_killed_mid_transaction_yields_each_result_exactly_once(start_broker, seed):
    """A consume-transform-produce loop (eos_loop.py) is kill -9ed inside transactions (its
    results written and its offsets sent, not committed) and restarted each time; once the
    broker is kill -9ed and restarted inside a transaction instead, which then commits. When
    the loop is done, the output holds each input record's result exactly once."""
    b = start_broker()
    b.overrides["listeners"] = f"PLAINTEXT://127.0.0.1:{b.port}"
    source, sink = unique_topic("eos-in"), unique_topic("eos-out")
    create_topic(b, source, 2)
    create_topic(b, sink, 2)
    total = 1000
    plain = producer(b, **{"linger.ms": 5})
    for i in range(total):
        plain.produce(source, key=b"%d" % i, value=b"%d" % i, partition=i % 2)
    assert plain.flush(TIMEOUT_S) == 0
    ends = [high_watermark(b, source, q) for q in (0, 1)]
    rng = random.Random(seed)
    group, tid = unique_topic("eos-g"), unique_topic("eos-tid")
    argv = [sys.executable, str(pathlib.Path(__file__).with_name("eos_loop.py")), b.bootstrap, source, sink,
            group, tid, "2", ",".join(map(str, ends))]
    # Which transactions of the whole run are interrupted: loop kills, and one broker kill.
    interrupted = sorted(rng.sample(range(3, 120), 5))
    broker_kill = interrupted.pop(rng.randrange(len(interrupted)))
    print(f"loop killed in transactions {interrupted}, the broker in {broker_kill}")
    transactions, runs, output = 0, 0, []
    while True:
        runs += 1
        assert runs <= len(interrupted) + 1, "the loop failed:\n" + "".join(output[-20:])
        loop = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        try:
            output = []
            for line in loop.stdout:
                output.append(line)
                if not line.startswith("sent"):
                    continue
                transactions += 1
                if transactions in interrupted:
                    loop.kill()
                    break
                if transactions == broker_kill:
                    b.kill9()
                    b.start()
                loop.stdin.write("commit\n")
                loop.stdin.flush()
            rc = loop.wait(TIMEOUT_S)
        finally:
            if loop.poll() is None:
                loop.kill()
                loop.wait()
        if rc == 0:
            break
    assert transactions > max(interrupted + [broker_kill]), "every interruption happened"
    got = read_committed(b, sink, [0, 1])
    results = sorted(m.value() for ms in got.values() for m in ms)
    assert results == sorted(b"out-%d" % i for i in range(total)), (
        f"{len(results)} results for {total} records, {len(results) - len(set(results))} duplicated")


def test_list_transactions_filters_by_kafkas_state_names(broker):
    """ListTransactions lists back the state names it does not know, and filters naming
    only those match nothing (Kafka's filter is "asked for and not matched")."""
    tid = unique_topic("listed")
    with kw.Conn(broker.bootstrap) as c:
        init_txn(c, tid)

        def listed(*states: str) -> tuple:
            body = c.request(kw.LIST_TRANSACTIONS, 0, kw.list_transactions_v0(list(states)), flexible=True)
            error, unknown, txns = kw.parse_list_transactions_v0(body)
            return error, unknown, [state for t, state in txns if t == tid]

        assert listed("Bogus") == (0, ["Bogus"], [])
        assert listed("Empty", "Bogus") == (0, ["Bogus"], ["Empty"])
        assert listed("Ongoing") == (0, [], [])
        assert listed() == (0, [], ["Empty"])
