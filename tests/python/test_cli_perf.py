"""Kafka's load and verification scripts as shoal's tools: `shoal producer-perf-test`
(kafka-producer-perf-test.sh's flags and window and summary lines), `shoal
consumer-perf-test` (kafka-consumer-perf-test.sh's columns, as a group member), `shoal
verifiable-producer` and `shoal verifiable-consumer` (their JSON events). What they wrote
is read back with confluent-kafka, so the counts they print are checked against a real
client."""

from __future__ import annotations

import datetime
import json
import queue
import re
import signal
import subprocess
import threading
import time

import pytest
from confluent_kafka import TopicPartition

from clients import CLIENT_TIMEOUT_S, consume_all, consumer, create_topic, produce_all, producer, unique_topic
from conftest import shoal_bin
from test_cli import fails, ok, shoal

SUMMARY = re.compile(
    r"^(\d+)( steady state)? records sent, (\d+\.\d{6}) records/sec \((\d+\.\d\d) MB/sec\), "
    r"(\d+\.\d\d) ms avg latency, (\d+\.\d\d) ms max latency, (\d+) ms 50th, (\d+) ms 95th, "
    r"(\d+) ms 99th, (\d+) ms 99\.9th\.$")
WINDOW = re.compile(
    r"^(\d+) records sent, (\d+\.\d) records/sec \((\d+\.\d\d) MB/sec\), (\d+\.\d) ms avg latency, "
    r"(\d+\.\d) ms max latency\.$")
CONSUMER_HEADER = ("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
                   "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec")
DATE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}"


def summaries(out: str) -> list[re.Match]:
    return [m for m in map(SUMMARY.match, out.splitlines()) if m]


def test_producer_perf_test_prints_kafkas_summary_and_the_records_arrive(broker):
    t = unique_topic("perf")
    create_topic(broker, t, 3)
    # Kafka's way of naming the broker: in --producer-props, with no --bootstrap-server.
    cp = subprocess.run([str(shoal_bin()), "producer-perf-test", "--topic", t, "--num-records", "5000",
                         "--record-size", "100", "--throughput", "-1", "--producer-props",
                         f"bootstrap.servers={broker.bootstrap}", "acks=all", "--print-metrics"],
                        capture_output=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout.decode()
    [summary] = summaries(out)
    assert summary.group(1) == "5000", out
    p50, p95, p99, p999 = (int(summary.group(i)) for i in (7, 8, 9, 10))
    assert p50 <= p95 <= p99 <= p999 <= float(summary.group(6)) + 1, out
    metrics = out.split("\n\n", 1)[1].splitlines()
    assert re.match(r"^Metric Name +Value$", metrics[0]), metrics
    row = "producer-metrics:record-send-total:{client-id=perf-producer-client}"
    assert any(re.match(rf"^{re.escape(row)} +: 5000\.000$", line) for line in metrics), metrics

    records = consume_all(broker, t, [0, 1, 2])
    values = [r.value for rs in records.values() for r in rs]
    assert len(values) == 5000
    assert all(re.fullmatch(rb"[A-Z]{100}", v) for v in values)
    assert len(set(values)) > 4900, "records should differ, as Kafka's tool makes them"
    # Unkeyed records stick to a partition per batch, then move on: every partition gets some.
    assert all(records[p] for p in range(3)), {p: len(rs) for p, rs in records.items()}


def test_producer_perf_test_throttles_and_prints_a_line_per_window(broker):
    t = unique_topic("perf-rate")
    create_topic(broker, t, 1)
    out = ok(broker, "producer-perf-test", "--topic", t, "--num-records", "12000", "--payload-monotonic",
             "--throughput", "2000", timeout=60)
    lines = out.splitlines()
    windows = [m for m in map(WINDOW.match, lines) if m]
    # 12000 records at 2000/s take at least 6 s: the first 5 s window ends before the last.
    assert windows and lines[-1] == summaries(out)[0].group(0), out
    [summary] = summaries(out)
    assert summary.group(1) == "12000"
    # The schedule lets record i go no earlier than i/2000 s in.
    assert float(summary.group(3)) <= 2000 * 12000 / 11999 + 0.01, out
    # --payload-monotonic: the values are the records' indexes, in order on one partition.
    [got] = consume_all(broker, t, [0]).values()
    assert [r.value for r in got] == [str(i).encode() for i in range(12000)]


def test_producer_perf_test_warmup_transactions_and_payload_file(broker, tmp_path):
    t = unique_topic("perf-txn")
    create_topic(broker, t, 2)
    payloads = tmp_path / "payloads.txt"
    payloads.write_text("alpha\nbeta\ngamma\n")
    out = ok(broker, "producer-perf-test", "--topic", t, "--num-records", "1000", "--payload-file",
             str(payloads), "--throughput", "2000", "--warmup-records", "100", "--transactional-id",
             "perf-txn-id", "--transaction-duration-ms", "100", timeout=60)
    lines = out.splitlines()
    assert lines[:3] == [f"Reading payloads from: {payloads}", "Number of messages read: 3",
                         "Warmup first 100 records. Steady state results will print after the complete "
                         "test summary."], out
    overall, steady = summaries(out)
    assert (overall.group(1), overall.group(2)) == ("1000", None), out
    assert (steady.group(1), steady.group(2)) == ("900", " steady state"), out
    # Every record was committed, in transactions of 0.1 s over the half second: a
    # read_committed reader sees them all, and each partition ends with a commit marker.
    values = read_committed(broker, t, [0, 1])
    assert len(values) == 1000 and set(values) <= {b"alpha", b"beta", b"gamma"}, len(values)
    listed = ok(broker, "transactions", "list")
    [row] = [line.split() for line in listed.splitlines() if line.startswith("perf-txn-id")]
    assert row[-1] == "CompleteCommit", listed


def read_committed(broker, topic: str, partitions: list[int]) -> list[bytes]:
    """The values a read_committed reader gets from each partition up to its high watermark
    (past the last transaction's marker, which is no record)."""
    c = consumer(broker, isolation_level="read_committed")
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=CLIENT_TIMEOUT_S)[1] for p in partitions}
    c.assign([TopicPartition(topic, p, 0) for p in partitions])
    values: list[bytes] = []
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while any(c.position([TopicPartition(topic, p)])[0].offset < end for p, end in ends.items()):
        assert time.monotonic() < deadline, f"reading {topic} timed out; ends {ends}"
        for m in c.consume(num_messages=1000, timeout=0.5):
            assert not m.error(), m.error()
            values.append(m.value())
    return values


def test_producer_perf_test_refuses_what_kafkas_refuses(broker):
    t = unique_topic("perf-bad")
    base = ["--topic", t, "--num-records", "10", "--throughput", "-1"]
    # Exactly one of --record-size, --payload-file, --payload-monotonic.
    assert shoal(broker, "producer-perf-test", *base).returncode == 2
    assert shoal(broker, "producer-perf-test", *base, "--record-size", "1", "--payload-monotonic").returncode == 2
    assert "strictly fewer than the number of records" in fails(
        broker, "producer-perf-test", *base, "--record-size", "1", "--warmup-records", "10")
    assert "needs acks=all" in fails(
        broker, "producer-perf-test", *base, "--record-size", "1", "--producer-props", "acks=1",
        "enable.idempotence=true")
    cp = subprocess.run([str(shoal_bin()), "producer-perf-test", *base, "--record-size", "1"],
                        capture_output=True, timeout=30)
    assert cp.returncode == 1 and b"no broker to connect to" in cp.stderr, cp.stderr


def test_consumer_perf_test_reads_as_a_group_member(broker):
    t = unique_topic("cperf")
    create_topic(broker, t, 2)
    produce_all(producer(broker, acks="all"), t,
                [{"key": b"k" * 10, "value": b"v" * 50, "partition": i % 2} for i in range(2000)])
    group = unique_topic("cperf-group")
    out = ok(broker, "consumer-perf-test", "--topic", t, "--num-records", "2000", "--group", group, timeout=60)
    header, line = out.splitlines()
    assert header == CONSUMER_HEADER
    fields = line.split(", ")
    assert re.fullmatch(DATE, fields[0]) and re.fullmatch(DATE, fields[1]), line
    assert fields[2] == f"{2000 * 60 / 1024 / 1024:.4f}" and fields[4] == "2000", line
    # rebalance.time.ms and fetch.time.ms split the time between the two dates.
    dates = [datetime.datetime.strptime(f, "%Y-%m-%d %H:%M:%S:%f") for f in fields[:2]]
    elapsed_ms = (dates[1] - dates[0]) / datetime.timedelta(milliseconds=1)
    assert abs(int(fields[6]) + int(fields[7]) - elapsed_ms) <= 20, line
    # The member committed what it read, as Kafka's consumer auto-commits on close.
    c = consumer(broker, group_id=group)
    committed = c.committed([TopicPartition(t, 0), TopicPartition(t, 1)], timeout=CLIENT_TIMEOUT_S)
    assert [tp.offset for tp in committed] == [1000, 1000], committed

    # Asked for more than there is: Kafka's warning when no record came for --timeout ms, and
    # --show-detailed-stats' lines instead of the summary.
    out = ok(broker, "consumer-perf-test", "--topic", t, "--messages", "5000", "--timeout", "1000",
             "--show-detailed-stats", "--reporting-interval", "1", "--date-format", "yyyy 'year'",
             "--hide-header", timeout=60)
    lines = out.splitlines()
    assert lines[-1] == ("WARNING: Exiting before consuming the expected number of records: timeout "
                         "(1000 ms) exceeded. You can use the --timeout option to increase the timeout."), out
    detailed = [line.split(", ") for line in lines[:-1]]
    assert detailed and all(re.fullmatch(r"\d{4} year", d[0]) and d[1] == "0" for d in detailed), out
    # Cumulative counts; a line comes with the records of a poll, so the last poll's may
    # have had none of its own.
    counts = [int(d[4]) for d in detailed]
    assert counts == sorted(counts) and 0 < counts[-1] <= 2000, out


def test_consumer_perf_test_include_reads_every_matching_topic(broker):
    prefix = unique_topic("cperf-incl")
    for name in (f"{prefix}-x", f"{prefix}-y", f"not-{prefix}"):
        create_topic(broker, name, 2)
        produce_all(producer(broker, acks="all"), name,
                    [{"value": b"v" * 10, "partition": i % 2} for i in range(100)])
    group = unique_topic("cperf-incl-group")
    out = ok(broker, "consumer-perf-test", "--include", f"{prefix}-.*", "--num-records", "200",
             "--group", group, "--hide-header", timeout=60)
    (line,) = out.splitlines()
    assert line.split(", ")[4] == "200", line
    committed = consumer(broker, group_id=group).committed(
        [TopicPartition(f"{prefix}-{t}", p) for t in "xy" for p in (0, 1)], timeout=CLIENT_TIMEOUT_S)
    assert [tp.offset for tp in committed] == [50] * 4, committed
    # Kafka's tool takes exactly one of --topic and --include.
    cp = shoal(broker, "consumer-perf-test", "--topic", "a", "--include", "a", "--num-records", "1")
    assert cp.returncode == 2 and b"--include" in cp.stderr, cp.stderr


def verifiable_events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_verifiable_producer_prints_each_acknowledgement(broker):
    t = unique_topic("vp")
    create_topic(broker, t, 2)
    out = ok(broker, "verifiable-producer", "--topic", t, "--max-messages", "50", "--repeating-keys", "3",
             "--value-prefix", "4", "--acks", "-1", timeout=60)
    events = verifiable_events(out)
    assert [e["name"] for e in events[:1] + events[-2:]] == ["startup_complete", "shutdown_complete", "tool_data"]
    assert all(set(e) >= {"timestamp", "name"} and list(e)[:2] == ["timestamp", "name"] for e in events)
    # Acknowledgements come a partition's batch at a time, as Kafka's callbacks do.
    sent = sorted((e for e in events if e["name"] == "producer_send_success"),
                  key=lambda e: int(e["value"].split(".")[1]))
    assert [e["value"] for e in sent] == [f"4.{i}" for i in range(50)]
    assert [e["key"] for e in sent] == [str(i % 3) for i in range(50)]
    tool = events[-1]
    assert (tool["sent"], tool["acked"], tool["target_throughput"]) == (50, 50, -1), tool
    # Each acknowledged (partition, offset) holds that record, as a real consumer reads it.
    read = consume_all(broker, t, [0, 1])
    at = {(p, r.offset): (r.key.decode(), r.value.decode()) for p, rs in read.items() for r in rs}
    assert {(e["partition"], e["offset"]): (e["key"], e["value"]) for e in sent} == at


def test_verifiable_producer_reports_failed_records_and_stops_on_sigterm(broker):
    t = unique_topic("vp-fail")
    # Two in-sync replicas asked of a topic that has one: acks=all is refused.
    create_topic(broker, t, 1, config={"min.insync.replicas": "2"})
    out = ok(broker, "verifiable-producer", "--topic", t, "--max-messages", "3", timeout=60)
    events = verifiable_events(out)
    failed = [e for e in events if e["name"] == "producer_send_error"]
    assert [e["value"] for e in failed] == ["0", "1", "2"], events
    assert all(e["exception"] == "NOT_ENOUGH_REPLICAS" and e["topic"] == t for e in failed), failed
    assert events[-1]["name"] == "tool_data" and (events[-1]["sent"], events[-1]["acked"]) == (3, 0)

    # Unbounded: SIGTERM ends it with its last two events, as Kafka's shutdown hook prints them.
    ok_topic = unique_topic("vp-run")
    create_topic(broker, ok_topic, 1)
    run = subprocess.Popen([str(shoal_bin()), "verifiable-producer", "--bootstrap-server", broker.bootstrap,
                            "--topic", ok_topic, "--throughput", "200"], stdout=subprocess.PIPE)
    try:
        successes = 0
        while successes < 20:
            line = run.stdout.readline()
            assert line, "the producer stopped early"
            successes += json.loads(line)["name"] == "producer_send_success"
        run.send_signal(signal.SIGTERM)
        rest, _ = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0
    tail = verifiable_events(rest.decode())
    assert [e["name"] for e in tail[-2:]] == ["shutdown_complete", "tool_data"], tail
    assert tail[-1]["sent"] == tail[-1]["acked"] >= 20, tail[-1]



class JsonLines:
    """A running verifiable tool whose stdout events are read by a thread as they come."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([str(shoal_bin()), *args], stdout=subprocess.PIPE)
        self.events: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.events.put(json.loads(line))
        self.events.put(None)

    def until(self, done, what: str, timeout: float = CLIENT_TIMEOUT_S) -> list[dict]:
        """Events until `done(event)` holds for one (that one included)."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {what} within {timeout}s; events: {self.seen[-5:]}") from None
            assert event is not None, f"the tool ended before {what}; events: {self.seen[-5:]}"
            self.seen.append(event)
            got.append(event)
            if done(event):
                return got

    def stop(self) -> list[dict]:
        """SIGTERM; the events it printed until it exited 0."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=CLIENT_TIMEOUT_S) == 0
        rest = []
        while (event := self.events.get(timeout=CLIENT_TIMEOUT_S)) is not None:
            rest.append(event)
        self.seen += rest
        return rest

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def read_offsets(events: list[dict]) -> list[tuple[int, int]]:
    """The (partition, offset) of every record the records_consumed events account for."""
    return [(p["partition"], o) for e in events if e["name"] == "records_consumed"
            for p in e["partitions"] for o in range(p["minOffset"], p["maxOffset"] + 1)]


def partitions_of(event: dict) -> set[int]:
    return {x["partition"] for x in event["partitions"]}


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_verifiable_consumers_share_a_group_and_commit_what_they_read(broker, protocol):
    """Two members share the topic's partitions. The classic protocol takes every
    partition away and gives each member its share; KIP-848's moves only the partitions
    the newcomer gets, and the tool names only those, as Kafka's does."""
    t, group = unique_topic("vc"), unique_topic("vc-group")
    create_topic(broker, t, 4)
    p = producer(broker, acks="all")
    produce_all(p, t, [{"value": str(i).encode(), "partition": i % 4} for i in range(100)])
    tool = ["verifiable-consumer", "--bootstrap-server", broker.bootstrap, "--topic", t, "--group-id", group,
            "--session-timeout", "10000", "--group-protocol", protocol]
    a = JsonLines(*tool)
    b = None
    try:
        first = a.until(lambda e: e["name"] == "startup_complete", "startup")
        assert first == a.seen[:1]
        assigned = a.until(lambda e: e["name"] == "partitions_assigned", "an assignment")[-1]
        assert sorted(x["partition"] for x in assigned["partitions"]) == [0, 1, 2, 3]
        a.until(lambda e: len(read_offsets(a.seen)) >= 100 and e["name"] == "offsets_committed", "100 records")
        commits = [e for e in a.seen if e["name"] == "offsets_committed"]
        assert all(e["success"] and "error" not in e for e in commits), commits

        b = JsonLines(*tool)
        b_assigned = b.until(lambda e: e["name"] == "partitions_assigned" and e["partitions"], "b's assignment")
        theirs = partitions_of(b_assigned[-1])
        if protocol == "classic":
            # The first member gives its partitions up and gets half back.
            a_moved = a.until(lambda e: e["name"] == "partitions_assigned", "a's new assignment")
            assert [e["name"] for e in a_moved[-2:]] == ["partitions_revoked", "partitions_assigned"], a_moved
            mine = partitions_of(a_moved[-1])
        else:
            # The first member gives up only the newcomer's half, which the newcomer gets
            # once it was given up.
            a_moved = a.until(lambda e: e["name"] == "partitions_revoked", "a's revocation")
            mine = {0, 1, 2, 3} - partitions_of(a_moved[-1])
            assert partitions_of(a_moved[-1]) == theirs, (a_moved, b_assigned)
            assert not [e for e in a_moved if e["name"] == "partitions_assigned"], a_moved
            assert [e["partitions"] for e in b_assigned if e["name"] == "partitions_assigned"][:-1] in ([], [[]])
        assert len(mine) == len(theirs) == 2 and mine | theirs == {0, 1, 2, 3}, (mine, theirs)

        before = len(read_offsets(a.seen))
        produce_all(p, t, [{"value": str(i).encode(), "partition": i % 4} for i in range(100, 200)])
        a.until(lambda e: len(read_offsets(a.seen)) - before >= 50, "a's 50 new records")
        b.until(lambda e: len(read_offsets(b.seen)) >= 50, "b's 50 records")
        a_tail, b_tail = a.stop(), b.stop()
        assert a_tail[-1]["name"] == b_tail[-1]["name"] == "shutdown_complete"
    finally:
        a.kill()
        if b:
            b.kill()
    # Every record read exactly once between the two, and the group's offsets at the end.
    read = read_offsets(a.seen) + read_offsets(b.seen)
    assert sorted(read) == sorted((p, o) for p in range(4) for o in range(50)), len(read)
    c = consumer(broker, group_id=group)
    committed = c.committed([TopicPartition(t, i) for i in range(4)], timeout=CLIENT_TIMEOUT_S)
    assert [tp.offset for tp in committed] == [50] * 4, committed


def test_verifiable_consumer_refuses_what_this_member_cannot_do(broker):
    t = unique_topic("vc-bad")
    base = ["--topic", t, "--group-id", "g"]
    assert "classic or consumer" in fails(broker, "verifiable-consumer", *base, "--group-protocol", "modern")
    assert "static membership" in fails(broker, "verifiable-consumer", *base, "--group-instance-id", "i1")
    assert "range assignor only" in fails(broker, "verifiable-consumer", *base, "--assignment-strategy",
                                          "org.apache.kafka.clients.consumer.RoundRobinAssignor")
