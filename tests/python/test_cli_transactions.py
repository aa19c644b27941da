"""`shoal transactions` (Kafka's kafka-transactions.sh), run as the real binary against the
broker fixture. Transactions are made by confluent-kafka's transactional producer (librdkafka);
hanging ones, which no well-behaved client makes, are written on the wire (kafka_wire) to a
broker that skips KIP-890's partition verification, as a pre-3.6 broker or a buggy client
would have let them in. What the tool prints is checked against what the clients did, and an
abort is checked by the last stable offset moving and a read_committed consumer reading past
the transaction.

Waits poll for a condition with a deadline; nothing sleeps.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

import kafka_wire as kw
from clients import CLIENT_TIMEOUT_S, base_conf, create_topic, produce_all, producer, unique_topic, watermarks
from test_cli import fails, ok, shoal

LIST = ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
DESCRIBE = ["CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
            "TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TransactionDurationMs", "TopicPartitions"]
PRODUCERS = ["ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence", "LastTimestamp",
             "CurrentTransactionStartOffset"]
HANGING = ["Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch", "StartOffset", "LastTimestamp",
           "Duration(min)"]
TXN_TIMEOUT_MS = 60000
# The broker answers the abort of a hanging transaction only without KIP-890's check, which
# would refuse to let one in.
UNVERIFIED = {"transaction.partition.verification.enable": "false"}


def table(out: str, header: list[str]) -> list[dict[str, str]]:
    """The rows of one of the tool's tables, as dicts by column. Checks Kafka's layout on the
    way: the header first, every cell padded with spaces to its column's widest value and
    followed by a tab, nothing else."""
    lines = out.split("\n")
    assert lines[-1] == "", out
    cells = []
    for line in lines[:-1]:
        assert line.endswith("\t"), repr(line)
        cells.append(line[:-1].split("\t"))
    assert [c.rstrip() for c in cells[0]] == header, cells[0]
    widths = [max(len(row[i].rstrip()) for row in cells) for i in range(len(header))]
    for row in cells:
        assert [len(c) for c in row] == widths, (row, widths)
    return [dict(zip(header, (c.rstrip() for c in row))) for row in cells[1:]]


def transactions(broker, *args: str, header: list[str]) -> list[dict[str, str]]:
    return table(ok(broker, "transactions", *args), header)


def txn_producer(broker, tid: str):
    p = producer(broker, **{"transactional.id": tid, "transaction.timeout.ms": TXN_TIMEOUT_MS})
    p.init_transactions(CLIENT_TIMEOUT_S)
    return p


def open_transaction(broker, tid: str, topic: str, partition: int, count: int):
    """A producer of `tid` with `count` records to `partition` written in a transaction left open."""
    p = txn_producer(broker, tid)
    p.begin_transaction()
    for i in range(count):
        p.produce(topic, value=b"open-%d" % i, partition=partition)
    assert p.flush(CLIENT_TIMEOUT_S) == 0
    return p


def last_stable_offset(broker, topic: str, partition: int) -> int:
    """librdkafka's consumers default to read_committed, whose high watermark is the LSO."""
    return watermarks(broker, topic, partition)[1]


def read_committed(broker, topic: str, partition: int, end: int) -> list[bytes]:
    """The values a read_committed consumer gets from `partition` until its position reaches
    `end` (a stable offset: the consumer cannot get there while a transaction before it is open)."""
    c = Consumer(base_conf(broker, **{"group.id": unique_topic("g"), "isolation.level": "read_committed",
                                      "enable.auto.commit": False, "enable.partition.eof": True}))
    try:
        c.assign([TopicPartition(topic, partition, 0)])
        got = []
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while True:
            assert time.monotonic() < deadline, f"read_committed of {topic}-{partition} did not reach {end}: {got}"
            for m in c.consume(num_messages=100, timeout=0.5):
                if m.error() and m.error().code() == KafkaError._PARTITION_EOF:
                    if m.offset() >= end:
                        return got
                    continue
                if m.error():
                    raise KafkaException(m.error())
                got.append(m.value())
    finally:
        c.close()


def eventually(condition, what: str):
    """Polls `condition` (a tool run, itself a round trip) until it returns a truthy value."""
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen within {CLIENT_TIMEOUT_S}s"


# ---------------------------------------------------------------------- on the wire
def idempotent_producer_id(c: kw.Conn) -> tuple[int, int]:
    """A producer id that belongs to no transactional id (InitProducerId without one)."""
    err, pid, epoch = kw.parse_init_producer_id_v0(c.request(kw.INIT_PRODUCER_ID, 0, kw.init_producer_id_v0(None)))
    assert err == kw.NONE, err
    return pid, epoch


def transactional_write(c: kw.Conn, tid: str, topic: str, partition: int, pid: int, epoch: int,
                        values: list[bytes], timestamp_ms: int) -> int:
    """Produce v3 of one transactional batch; returns its base offset."""
    batch = kw.encode_batch([kw.Record(None, v) for v in values], base_timestamp=timestamp_ms, producer_id=pid,
                            producer_epoch=epoch, base_sequence=0, attributes=0x10)
    body = kw.string(tid) + kw.i16(-1) + kw.i32(10000) + kw.array(
        [kw.string(topic) + kw.array([kw.i32(partition) + kw.nbytes(batch)])])
    err, base = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, body))[(topic, partition)]
    assert err == kw.NONE, err
    return base


# ---------------------------------------------------------------------- list and describe
def test_list_and_describe_show_each_transactional_ids_state(broker):
    t = unique_topic("txn")
    create_topic(broker, t, 2)
    ongoing, committed, idle = (unique_topic(name) for name in ("ongoing", "committed", "idle"))
    open_transaction(broker, ongoing, t, 1, 3)
    done = txn_producer(broker, committed)
    done.begin_transaction()
    produce_all(done, t, [{"value": b"kept", "partition": 0}])
    done.commit_transaction(CLIENT_TIMEOUT_S)
    txn_producer(broker, idle)

    rows = transactions(broker, "list", header=LIST)
    listed = {r["TransactionalId"]: r for r in rows}
    assert {i: listed[i]["TransactionState"] for i in (ongoing, committed, idle)} == {
        ongoing: "Ongoing", committed: "CompleteCommit", idle: "Empty"}
    # The flag spelling is the same command.
    assert transactions(broker, "--list", header=LIST) == rows
    # KIP-1152's pattern, matched against whole ids by the broker (ListTransactions v2).
    picked = transactions(broker, "list", "--transactional-id-pattern", f"{ongoing}|{idle}", header=LIST)
    assert sorted(r["TransactionalId"] for r in picked) == sorted([ongoing, idle]), picked
    assert transactions(broker, "list", "--transactional-id-pattern", ongoing[:-1], header=LIST) == []
    error = fails(broker, "transactions", "list", "--transactional-id-pattern", "(")
    assert "INVALID_REGULAR_EXPRESSION" in error, error

    [described] = transactions(broker, "describe", "--transactional-id", ongoing, header=DESCRIBE)
    assert described["TransactionalId"] == ongoing
    assert described["CoordinatorId"] == listed[ongoing]["Coordinator"]
    assert described["ProducerId"] == listed[ongoing]["ProducerId"]
    assert described["ProducerEpoch"].isdigit()
    assert described["TransactionState"] == "Ongoing"
    assert described["TransactionTimeoutMs"] == str(TXN_TIMEOUT_MS)
    assert described["TopicPartitions"] == f"{t}-1"
    start = int(described["CurrentTransactionStartTimeMs"])
    assert 0 <= time.time() * 1000 - start < CLIENT_TIMEOUT_S * 1000 * 4
    assert int(described["TransactionDurationMs"]) >= 0

    [empty] = transactions(broker, "--describe", "--transactional-id", idle, header=DESCRIBE)
    assert (empty["TransactionState"], empty["CurrentTransactionStartTimeMs"], empty["TransactionDurationMs"],
            empty["TopicPartitions"]) == ("Empty", "None", "None", "")
    [complete] = transactions(broker, "describe", "--transactional-id", committed, header=DESCRIBE)
    assert (complete["TransactionState"], complete["TopicPartitions"]) == ("CompleteCommit", "")

    error = fails(broker, "transactions", "describe", "--transactional-id", unique_topic("nobody"))
    assert "TRANSACTIONAL_ID_NOT_FOUND" in error, error


def test_describe_producers_shows_the_open_transactions_start_offset(broker):
    t = unique_topic("txn")
    create_topic(broker, t, 2)
    produce_all(producer(broker, acks="all", enable_idempotence=True), t, [{"value": b"plain-%d" % i, "partition": 1} for i in range(2)])
    tid = unique_topic("open")
    open_transaction(broker, tid, t, 1, 3)
    [described] = transactions(broker, "describe", "--transactional-id", tid, header=DESCRIBE)

    rows = transactions(broker, "describe-producers", "--topic", t, "--partition", "1", header=PRODUCERS)
    by_id = {r["ProducerId"]: r for r in rows}
    mine = by_id[described["ProducerId"]]
    assert mine["ProducerEpoch"] == described["ProducerEpoch"]
    assert mine["CurrentTransactionStartOffset"] == "2", "after the two plain records"
    assert mine["LastSequence"] == "2"
    assert mine["LatestCoordinatorEpoch"] == "-1", "no marker yet"
    assert abs(int(mine["LastTimestamp"]) - time.time() * 1000) < CLIENT_TIMEOUT_S * 1000 * 4
    # The idempotent producer of the plain records has no transaction open.
    others = [r for r in rows if r["ProducerId"] != described["ProducerId"]]
    assert [r["CurrentTransactionStartOffset"] for r in others] == ["None"]
    # Asking the leader by id gives the same answer.
    assert transactions(broker, "--describe-producers", "--topic", t, "--partition", "1",
                        "--broker-id", described["CoordinatorId"], header=PRODUCERS) == rows
    assert transactions(broker, "describe-producers", "--topic", t, "--partition", "0", header=PRODUCERS) == []

    assert "does not exist" in fails(broker, "transactions", "describe-producers", "--topic", t, "--partition", "7")
    assert "does not exist" in fails(broker, "transactions", "describe-producers", "--topic", unique_topic("none"),
                                     "--partition", "0")


# ---------------------------------------------------------------------- hanging transactions
@pytest.fixture
def unverified(start_broker):
    return start_broker(UNVERIFIED)


def test_find_hanging_and_abort_them(unverified):
    broker = unverified
    t = unique_topic("hang")
    create_topic(broker, t, 2)
    # A transaction that will end normally: its coordinator holds t-1.
    tid = unique_topic("tid")
    legit = open_transaction(broker, tid, t, 1, 1)
    [described] = transactions(broker, "describe", "--transactional-id", tid, header=DESCRIBE)
    tid_pid, tid_epoch = int(described["ProducerId"]), int(described["ProducerEpoch"])
    two_minutes_ago = int(time.time() * 1000) - 120_000
    with kw.Conn(broker.bootstrap) as c:
        # 1: a producer id no transactional id maps to holds t-0 open from offset 0.
        ghost_pid, ghost_epoch = idempotent_producer_id(c)
        assert transactional_write(c, unique_topic("ghost"), t, 0, ghost_pid, ghost_epoch, [b"ghost"],
                                   two_minutes_ago) == 0
        # 2: tid's producer holds t-0 open too, which its transaction does not contain.
        assert transactional_write(c, tid, t, 0, tid_pid, tid_epoch, [b"stray-0", b"stray-1"], two_minutes_ago) == 1
    produce_all(producer(broker, acks="all"), t, [{"value": b"after-%d" % i, "partition": 0} for i in range(3)])
    assert last_stable_offset(broker, t, 0) == 0

    # Idle for two minutes: not past the default 15.
    assert transactions(broker, "find-hanging", "--topic", t, header=HANGING) == []
    found = transactions(broker, "find-hanging", "--topic", t, "--max-transaction-timeout", "0", header=HANGING)
    expected = [
        {"Topic": t, "Partition": "0", "ProducerId": str(pid), "ProducerEpoch": str(epoch), "CoordinatorEpoch": "-1",
         "StartOffset": str(start), "LastTimestamp": str(two_minutes_ago), "Duration(min)": "2"}
        for pid, epoch, start in ((ghost_pid, ghost_epoch, 0), (tid_pid, tid_epoch, 1))
    ]
    assert found == sorted(expected, key=lambda r: int(r["ProducerId"])), "in the broker's order, by producer id"
    # The same, searched by broker, and for the one partition; tid's open transaction on t-1
    # is known to its coordinator, so it is not hanging.
    broker_id = described["CoordinatorId"]
    assert transactions(broker, "--find-hanging", "--broker-id", broker_id, "--max-transaction-timeout", "0",
                        header=HANGING) == found
    assert transactions(broker, "find-hanging", "--topic", t, "--partition", "1", "--max-transaction-timeout", "0",
                        header=HANGING) == []

    missing = fails(broker, "transactions", "abort", "--topic", t, "--partition", "0", "--start-offset", "2")
    assert missing == f"shoal: Could not find any open transactions starting at offset 2 on partition {t}-0"
    ok(broker, "transactions", "abort", "--topic", t, "--partition", "0", "--start-offset", "0")
    assert last_stable_offset(broker, t, 0) == 1, "the next open transaction starts at 1"
    ok(broker, "transactions", "--abort", "--topic", t, "--partition", "0", "--producer-id", str(tid_pid),
       "--producer-epoch", str(tid_epoch), "--coordinator-epoch", "-1")
    # The ghost's record, tid's two strays, three plain records and two abort markers.
    assert last_stable_offset(broker, t, 0) == 8
    assert read_committed(broker, t, 0, 8) == [b"after-0", b"after-1", b"after-2"]
    assert transactions(broker, "find-hanging", "--topic", t, "--max-transaction-timeout", "0", header=HANGING) == []

    # tid's own transaction still ends normally.
    legit.commit_transaction(CLIENT_TIMEOUT_S)
    assert read_committed(broker, t, 1, last_stable_offset(broker, t, 1)) == [b"open-0"]


def test_usage_errors(broker):
    for args in (["find-hanging"], ["find-hanging", "--broker-id", "1", "--partition", "0"],
                 ["abort", "--topic", "t", "--partition", "0"],
                 ["abort", "--topic", "t", "--partition", "0", "--producer-id", "1"],
                 ["describe"], []):
        cp = shoal(broker, "transactions", *args)
        assert cp.returncode == 2, (args, cp.stderr)
        lines = cp.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("shoal: "), (args, lines)
