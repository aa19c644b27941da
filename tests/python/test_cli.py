"""shoal's Kafka-style tools (`shoal topics|produce|consume|configs`), run as the real binary
against the broker fixture; their printed output is checked, and cross-checked with
third-party clients: confluent-kafka (librdkafka), kcat and kafka-python's murmur2 (Kafka's
default partitioner, written independently of shoal's)."""

from __future__ import annotations

import base64
import os
import re
import selectors
import socket
import subprocess
import threading
import time

import pytest
from confluent_kafka import TopicCollection, TopicPartition
from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType
from kafka.partitioner.default import murmur2

import kafka_wire
from clients import (admin, consume_all, consumer, create_topic, kcat, kcat_json_lines, produce_all, producer,
                     topic_partitions, unique_topic, watermarks)
from conftest import shoal_bin

CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
TOOL_TIMEOUT_S = 30.0


def shoal(b, tool: str, *args: str, input: bytes | None = None, bootstrap: str | None = None,
          timeout: float = TOOL_TIMEOUT_S, env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs `shoal TOOL` against `b` (or `bootstrap`), with `env` added to its environment."""
    cmd = [str(shoal_bin()), tool, "--bootstrap-server", bootstrap or b.bootstrap, *args]
    return subprocess.run(cmd, input=input or b"", capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def ok(b, tool: str, *args: str, **kwargs) -> str:
    """Runs a tool that must succeed; returns its stdout."""
    cp = shoal(b, tool, *args, **kwargs)
    assert cp.returncode == 0, f"shoal {tool} {' '.join(args)} exited {cp.returncode}: {cp.stderr.decode()}"
    return cp.stdout.decode()


def fails(b, tool: str, *args: str, rc: int = 1, **kwargs) -> str:
    """Runs a tool that must fail with `rc` and one `shoal: ...` line on stderr; returns it."""
    cp = shoal(b, tool, *args, **kwargs)
    err = cp.stderr.decode()
    assert cp.returncode == rc, f"exit {cp.returncode}, wanted {rc}; stderr: {err!r}; stdout: {cp.stdout!r}"
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("shoal: "), err
    return lines[0]


def java_partition(key: bytes, partitions: int) -> int:
    """Where Kafka's default partitioner puts `key` (kafka-python's port of Utils.murmur2)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# ---------------------------------------------------------------------- topics
def test_topics_create_list_describe(broker):
    t = unique_topic("cli")
    out = ok(broker, "topics", "--create", "--topic", t, "--partitions", "4", "--replication-factor", "1",
             "--config", "retention.ms=60000", "--config", "max.message.bytes=200000")
    assert out == f"Created topic {t}.\n"
    # confluent-kafka sees what the tool made
    assert sorted(topic_partitions(broker, t)) == [0, 1, 2, 3]
    assert t in ok(broker, "topics", "--list").splitlines()

    lines = ok(broker, "topics", "--describe", "--topic", t).splitlines()
    assert len(lines) == 5, lines
    m = re.fullmatch(rf"Topic: {t}\tTopicId: (\S+)\tPartitionCount: 4\tReplicationFactor: 1\tConfigs: (.*)", lines[0])
    assert m, lines[0]
    assert sorted(m.group(2).split(",")) == ["max.message.bytes=200000", "retention.ms=60000"]
    desc = admin(broker).describe_topics(TopicCollection([t]))[t].result(TOOL_TIMEOUT_S)
    # Kafka prints topic ids in URL-safe base64 (Uuid.toString); librdkafka in the standard alphabet
    assert base64.urlsafe_b64decode(m.group(1) + "==") == base64.b64decode(str(desc.topic_id) + "==")
    (bid,) = admin(broker).list_topics(timeout=TOOL_TIMEOUT_S).brokers
    assert lines[1:] == [f"\tTopic: {t}\tPartition: {p}\tLeader: {bid}\tReplicas: {bid}\tIsr: {bid}"
                         f"\tElr: N/A\tLastKnownElr: N/A" for p in range(4)]

    # --topic is a regular expression matched against whole names
    other = t + "-other"
    ok(broker, "topics", "--create", "--topic", other, "--partitions", "1")
    assert ok(broker, "topics", "--list", "--topic", re.escape(t)).splitlines() == [t]
    assert ok(broker, "topics", "--list", "--topic", re.escape(t) + ".*").splitlines() == [t, other]
    described = ok(broker, "topics", "--describe", "--topic", f"{t},{other}").splitlines()
    assert [ln.split("\t")[0] for ln in described if not ln.startswith("\t")] == [f"Topic: {t}", f"Topic: {other}"]


def test_topics_create_errors_and_if_not_exists(broker):
    t = unique_topic("dup")
    ok(broker, "topics", "--create", "--topic", t, "--partitions", "2")
    line = fails(broker, "topics", "--create", "--topic", t, "--partitions", "2")
    assert line.startswith(f"shoal: cannot create topic '{t}': TOPIC_ALREADY_EXISTS"), line
    assert ok(broker, "topics", "--create", "--topic", t, "--partitions", "2", "--if-not-exists") == ""
    line = fails(broker, "topics", "--create", "--topic", unique_topic("bad"), "--config", "retention.ms=soon")
    assert "INVALID_CONFIG" in line, line
    assert fails(broker, "topics", "--create", "--topic", "x", "--partitions", "0") == \
        "shoal: the partitions must be greater than 0"
    assert fails(broker, "topics", "--create", "--topic", "x", "--replication-factor", "40000") == \
        "shoal: the replication factor must be between 1 and 32767 inclusive"
    assert fails(broker, "topics", "--list", "--partitions", "3") == \
        "shoal: --partitions can only be used with --create or --alter"
    assert fails(broker, "topics", "--delete") == "shoal: --topic is required with --create, --alter and --delete"


def test_topics_alter_and_delete(broker):
    t = unique_topic("alter")
    ok(broker, "topics", "--create", "--topic", t, "--partitions", "2", "--replication-factor", "1")
    assert ok(broker, "topics", "--alter", "--topic", t, "--partitions", "5") == ""
    assert sorted(topic_partitions(broker, t)) == [0, 1, 2, 3, 4]
    assert "PartitionCount: 5\t" in ok(broker, "topics", "--describe", "--topic", t).splitlines()[0]
    line = fails(broker, "topics", "--alter", "--topic", t, "--partitions", "3")
    assert line.startswith(f"shoal: cannot alter topic '{t}': INVALID_PARTITIONS"), line

    missing = unique_topic("missing")
    for action in ("--alter", "--delete", "--describe"):
        extra = ["--partitions", "9"] if action == "--alter" else []
        assert fails(broker, "topics", action, "--topic", missing, *extra) == \
            f"shoal: Topic '{missing}' does not exist as expected"
        assert ok(broker, "topics", action, "--topic", missing, "--if-exists", *extra) == ""

    assert ok(broker, "topics", "--delete", "--topic", t) == ""
    assert topic_partitions(broker, t) is None
    assert t not in ok(broker, "topics", "--list").splitlines()


def test_topics_replica_assignment_places_partitions_by_hand(broker):
    """--replica-assignment as kafka-topics.sh reads it: each partition's brokers for
    --create; for --alter the list names every partition and the existing ones are skipped.
    Its own mistakes are refused by the tool, a broker the cluster lacks by the broker."""
    (bid,) = admin(broker).list_topics(timeout=TOOL_TIMEOUT_S).brokers
    t = unique_topic("placed")
    assert ok(broker, "topics", "--create", "--topic", t, "--replica-assignment", f"{bid},{bid}") == \
        f"Created topic {t}.\n"
    assert sorted(topic_partitions(broker, t)) == [0, 1]
    assert ok(broker, "topics", "--alter", "--topic", t, "--partitions", "3",
              "--replica-assignment", f"{bid},{bid},{bid}") == ""
    lines = ok(broker, "topics", "--describe", "--topic", t).splitlines()
    assert [ln.split("\t")[4] for ln in lines[1:]] == [f"Replicas: {bid}"] * 3
    line = fails(broker, "topics", "--create", "--topic", unique_topic("elsewhere"), "--replica-assignment",
                 str(bid + 1))
    assert "INVALID_REPLICA_ASSIGNMENT" in line, line
    assert fails(broker, "topics", "--create", "--topic", "x", "--replica-assignment", f"{bid}:{bid}") == \
        f"shoal: Partition replica lists may not contain duplicate entries: {bid}"
    assert fails(broker, "topics", "--create", "--topic", "x", "--replica-assignment", f"{bid},{bid}:{bid + 1}") == \
        f"shoal: Partition 1 has different replication factor: [{bid}, {bid + 1}]"
    assert fails(broker, "topics", "--create", "--topic", "x", "--replica-assignment", "1", "--partitions", "1") == \
        "shoal: --replica-assignment can't be used with --partitions or --replication-factor"


# ---------------------------------------------------------------------- produce / consume
def test_produce_keys_land_where_javas_partitioner_puts_them(broker):
    t, twin = unique_topic("keys"), unique_topic("keys-rdkafka")
    partitions = 6
    for name in (t, twin):
        ok(broker, "topics", "--create", "--topic", name, "--partitions", str(partitions))
    keys = [f"user-{i}".encode() for i in range(120)] + [b"", b"\xc3\xa9t\xc3\xa9", b"21", b"foobar"]
    lines = b"".join(k + b":" + b"value-%d\n" % i for i, k in enumerate(keys))
    assert ok(broker, "produce", "--topic", t, "--property", "parse.key=true", "--property", "key.separator=:",
              input=lines) == ""

    # read back by librdkafka: same keys and values, each on murmur2's partition
    got = consume_all(broker, t, list(range(partitions)))
    placed = {r.key: (p, r.value) for p, recs in got.items() for r in recs}
    assert placed == {k: (java_partition(k, partitions), b"value-%d" % i) for i, k in enumerate(keys)}
    # and librdkafka's Java-compatible partitioner agrees, key for key
    produce_all(producer(broker, partitioner="murmur2_random"), twin, [{"key": k, "value": b"x"} for k in keys])
    twin_got = consume_all(broker, twin, list(range(partitions)))
    assert {r.key: p for p, recs in twin_got.items() for r in recs} == {k: p for k, (p, _) in placed.items()}

    # shoal consume prints key and value with the separator, in order within each partition
    out = ok(broker, "consume", "--topic", t, "--from-beginning", "--max-messages", str(len(keys)),
             "--property", "print.key=true", "--property", "print.partition=true", "--property", "key.separator=|")
    printed = [ln.split("|") for ln in out.splitlines()]
    want = {p: [f"Partition:{p}|{r.key.decode()}|{r.value.decode()}".split("|") for r in recs]
            for p, recs in got.items()}
    for p in range(partitions):
        assert [x for x in printed if x[0] == f"Partition:{p}"] == want[p]
    assert len(printed) == len(keys)


def test_unkeyed_lines_spread_over_partitions_in_batches(broker):
    t = unique_topic("unkeyed")
    ok(broker, "topics", "--create", "--topic", t, "--partitions", "3")
    # --sync sends each line as its own batch, so consecutive lines move on to the next partition
    ok(broker, "produce", "--topic", t, "--sync", input=b"".join(b"m%d\n" % i for i in range(9)))
    got = consume_all(broker, t, [0, 1, 2])
    assert sorted(len(v) for v in got.values()) == [3, 3, 3]
    assert sorted(r.value for v in got.values() for r in v) == sorted(b"m%d" % i for i in range(9))


@pytest.mark.parametrize("codec", list(CODECS))
def test_every_codec_round_trips(broker, codec):
    t = unique_topic(f"codec-{codec}")
    ok(broker, "topics", "--create", "--topic", t, "--partitions", "1")
    lines = [f"k{i}\t{'payload ' * (i % 9)}{i}" for i in range(400)]
    ok(broker, "produce", "--topic", t, "--compression", codec, "--batch-size", "4096", "--property", "parse.key=true",
       input="".join(ln + "\n" for ln in lines).encode())
    # the batches on the broker really are compressed with the codec asked for
    batches = kafka_wire.fetch_all_batches(broker.bootstrap, t, 0)
    assert len(batches) > 1 and {b.codec for b in batches} == {CODECS[codec]}
    # shoal reads them back (default key separator: tab) ...
    out = ok(broker, "consume", "--topic", t, "--from-beginning", "--max-messages", "400",
             "--property", "print.key=true", "--property", "print.offset=true")
    assert out.splitlines() == [f"Offset:{i}\t{ln}" for i, ln in enumerate(lines)]
    # ... and so does kcat
    recs = kcat_json_lines(kcat(broker, "-C", "-t", t, "-p", "0", "-o", "beginning", "-e", "-q", "-J"))
    assert [f"{r['key']}\t{r['payload']}" for r in recs] == lines


def test_kcat_records_with_headers_are_printed_by_consume(broker):
    t = unique_topic("fromkcat")
    create_topic(broker, t, 2)
    kcat(broker, "-P", "-t", t, "-p", "1", "-K", "=", "-z", "lz4", "-H", "origin=kcat",
         input=b"".join(b"key%d=value %d\n" % (i, i) for i in range(20)))
    out = ok(broker, "consume", "--topic", t, "--partition", "1", "--offset", "earliest", "--max-messages", "20",
             "--property", "print.key=true", "--property", "print.headers=true", "--property", "print.timestamp=true",
             "--property", "key.separator= | ")
    lines = out.splitlines()
    assert len(lines) == 20
    for i, line in enumerate(lines):
        assert re.fullmatch(rf"CreateTime:\d{{13}} \| origin:kcat \| key{i} \| value {i}", line), line


def test_consume_from_partition_and_offset(broker):
    t = unique_topic("offsets")
    create_topic(broker, t, 3)
    kcat(broker, "-P", "-t", t, "-p", "1", input=b"".join(b"m%d\n" % i for i in range(10)))
    kcat(broker, "-P", "-t", t, "-p", "2", input=b"other\n")

    def read(*args: str) -> list[str]:
        return ok(broker, "consume", "--topic", t, *args).splitlines()

    assert read("--partition", "1", "--offset", "3", "--max-messages", "7") == [f"m{i}" for i in range(3, 10)]
    assert read("--partition", "1", "--offset", "earliest", "--max-messages", "2") == ["m0", "m1"]
    assert read("--partition", "1", "--from-beginning", "--timeout-ms", "1500") == [f"m{i}" for i in range(10)]
    assert read("--partition", "1", "--offset", "latest", "--timeout-ms", "1000") == []
    assert read("--partition", "1", "--offset", "9", "--property", "print.offset=true", "--max-messages", "1") == \
        ["Offset:9\tm9"]
    assert sorted(read("--from-beginning", "--timeout-ms", "1500")) == sorted([f"m{i}" for i in range(10)] + ["other"])

    # past the end: reset to the end (no --from-beginning), as Kafka's console consumer does
    cp = shoal(broker, "consume", "--topic", t, "--partition", "1", "--offset", "50", "--timeout-ms", "1000")
    assert cp.returncode == 0 and cp.stdout == b""
    assert f"offset 50 is out of range for {t}-1; resetting to 10" in cp.stderr.decode()
    assert cp.stderr.decode().splitlines()[-1] == "Processed a total of 0 messages"

    assert fails(broker, "consume", "--topic", t, "--partition", "7") == \
        f"shoal: partition 7 of topic '{t}' does not exist (it has 3)"
    assert fails(broker, "consume", "--topic", t, "--partition", "1", "--offset", "-4").startswith(
        "shoal: the offset '-4' is not valid")
    assert "--partition" in fails(broker, "consume", "--topic", t, "--offset", "3", rc=2)
    assert "--from-beginning" in fails(broker, "consume", "--topic", t, "--partition", "1", "--offset", "3",
                                       "--from-beginning", rc=2)


def test_consume_ends_quietly_on_a_closed_output_and_tells_system_tests_it_has_closed(broker):
    """As Kafka's console consumer: --enable-systest-events prints `shutdown_complete`
    once the consumer has closed; --skip-message-on-error is taken (shoal's formatter fails
    on no record); a standard output that takes no more ends the consumer with exit 0 and
    Kafka's "Unable to write to standard out, closing consumer." line."""
    t = unique_topic("closed")
    create_topic(broker, t, 1)
    kcat(broker, "-P", "-t", t, "-p", "0", input=b"".join(b"m%d\n" % i for i in range(5)))
    out = ok(broker, "consume", "--topic", t, "--from-beginning", "--max-messages", "5", "--enable-systest-events",
             "--skip-message-on-error")
    assert out.splitlines() == [f"m{i}" for i in range(5)] + ["shutdown_complete"]

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        cp = subprocess.run([str(shoal_bin()), "consume", "--bootstrap-server", broker.bootstrap, "--topic", t,
                             "--from-beginning", "--max-messages", "5", "--enable-systest-events"],
                            stdin=subprocess.DEVNULL, stdout=write_end, stderr=subprocess.PIPE, timeout=TOOL_TIMEOUT_S)
    finally:
        os.close(write_end)
    err = cp.stderr.decode().splitlines()
    assert cp.returncode == 0, err
    assert err[-2].startswith("Unable to write to standard out, closing consumer. ("), err
    assert err[-1].startswith("Processed a total of "), err


def test_consume_from_latest_sees_only_new_records(broker):
    t = unique_topic("latest")
    create_topic(broker, t, 2)
    p = producer(broker)
    produce_all(p, t, [{"value": b"old", "partition": 0}])
    proc = subprocess.Popen([str(shoal_bin()), "consume", "--bootstrap-server", broker.bootstrap, "--topic", t,
                             "--max-messages", "1", "--timeout-ms", "30000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # the consumer starts at the end once it has looked: keep producing until it prints one
        deadline = time.monotonic() + TOOL_TIMEOUT_S
        i = 0
        while proc.poll() is None and time.monotonic() < deadline:
            produce_all(p, t, [{"value": b"new-%d" % i, "partition": i % 2}])
            i += 1
            try:
                proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    (line,) = out.decode().splitlines()
    assert re.fullmatch(r"new-\d+", line), line
    assert err.decode().splitlines()[-1] == "Processed a total of 1 messages"


def read_lines(proc: subprocess.Popen, count: int, timeout: float = TOOL_TIMEOUT_S) -> list[str]:
    """The next `count` lines `proc` prints, failing if they do not come within `timeout`.
    `proc` must be started with bufsize=0: a buffered pipe would hold lines select() does
    not see."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while len(lines) < count:
            left = deadline - time.monotonic()
            assert left > 0 and sel.select(left), f"{len(lines)} of {count} lines came: {lines}"
            line = proc.stdout.readline()
            assert line, f"the tool exited after {len(lines)} of {count} lines: {lines}"
            lines.append(line.decode().rstrip("\n"))
    return lines


@pytest.mark.parametrize("group", [None, "classic", "consumer"], ids=["assigned", "group", "consumer-group"])
def test_consume_include_reads_every_matching_topic_and_those_created_later(broker, group):
    prefix = unique_topic("incl")
    create_topic(broker, f"{prefix}-a", 2)
    create_topic(broker, f"{prefix}-b", 1)
    create_topic(broker, f"other-{prefix}", 1)
    p = producer(broker, acks="all")
    produce_all(p, f"{prefix}-a", [{"value": b"a%d" % i, "partition": i % 2} for i in range(6)])
    produce_all(p, f"{prefix}-b", [{"value": b"b%d" % i} for i in range(3)])
    produce_all(p, f"other-{prefix}", [{"value": b"not-matched"}])
    group_id = unique_topic("incl-group")
    args = ["--group", group_id, "--consumer-property", f"group.protocol={group}"] if group else []
    proc = subprocess.Popen([str(shoal_bin()), "consume", "--bootstrap-server", broker.bootstrap,
                             "--include", f"{prefix}-.*", "--from-beginning", "--max-messages", "13",
                             "--consumer-property", "metadata.max.age.ms=300", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    try:
        first = read_lines(proc, 9)
        assert sorted(first) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(3)])
        # A topic the pattern matches, created while the consumer reads: read from its start.
        create_topic(broker, f"{prefix}-c", 2)
        produce_all(p, f"{prefix}-c", [{"value": b"c%d" % i, "partition": i % 2} for i in range(4)])
        assert sorted(read_lines(proc, 4)) == [f"c{i}" for i in range(4)]
        assert proc.wait(timeout=TOOL_TIMEOUT_S) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr.read().decode().splitlines()[-1] == "Processed a total of 13 messages"
    if group:
        # The member committed what it printed in every topic it read.
        c = consumer(broker, group_id=group_id)
        wanted = [TopicPartition(f"{prefix}-a", 0), TopicPartition(f"{prefix}-a", 1),
                  TopicPartition(f"{prefix}-b", 0), TopicPartition(f"{prefix}-c", 0),
                  TopicPartition(f"{prefix}-c", 1)]
        committed = c.committed(wanted, timeout=30)
        assert [tp.offset for tp in committed] == [3, 3, 3, 2, 2], committed
    assert fails(broker, "consume", "--include", "x", "--partition", "0") == \
        "shoal: The topic is required when partition is specified."
    assert "--include" in fails(broker, "consume", "--include", "x", "--topic", "x", rc=2)
    assert fails(broker, "consume", "--include", "(").startswith(
        "shoal: --include '(' is not a valid regular expression")


@pytest.mark.parametrize("acks", ["0", "1", "all", "-1"])
def test_produce_acks(broker, acks):
    t = unique_topic("acks")
    create_topic(broker, t, 1)
    ok(broker, "produce", "--topic", t, "--acks", acks, input=b"a\nb\nc\n")
    # acks=0 gets no answer: wait for the records to be there, with a deadline
    deadline = time.monotonic() + TOOL_TIMEOUT_S
    while watermarks(broker, t, 0)[1] < 3:
        assert time.monotonic() < deadline, "records never arrived"
    assert [r.value for r in consume_all(broker, t, [0])[0]] == [b"a", b"b", b"c"]


def test_produce_null_marker_and_headers(broker):
    t = unique_topic("marker")
    create_topic(broker, t, 1)
    ok(broker, "produce", "--topic", t, "--property", "parse.key=true", "--property", "parse.headers=true",
       "--property", "null.marker=<null>",
       input=b"h1:x,h2:<null>\tk1\tv1\n<null>\t<null>\tv2\nh:y\tk3\t<null>\n")
    recs = consume_all(broker, t, [0])[0]
    assert [(r.key, r.value, r.headers) for r in recs] == [
        (b"k1", b"v1", (("h1", b"x"), ("h2", None))),
        (None, b"v2", ()),
        (b"k3", None, (("h", b"y"),)),
    ]


# ---------------------------------------------------------------------- configs
def described_lines(b, rtype: ResourceType, name: str, source: ConfigSource) -> list[str]:
    """kafka-configs.sh's lines for `name`'s configs from `source`, built from what
    confluent-kafka's describe_configs (librdkafka asks for synonyms) reports."""
    r = ConfigResource(rtype, name)
    entries = admin(b).describe_configs([r])[r].result(TOOL_TIMEOUT_S)
    lines = []
    for e in sorted(entries.values(), key=lambda e: e.name):
        if e.source != source.value:
            continue
        syn = ", ".join(f"{ConfigSource(s.source).name}:{s.name}={s.value}" for s in e.synonyms.values())
        lines.append(f"  {e.name}={e.value} sensitive={str(e.is_sensitive).lower()} synonyms={{{syn}}}")
    return lines


def test_configs_topic_describe_alter_delete(broker):
    t = unique_topic("cfg")
    ok(broker, "topics", "--create", "--topic", t, "--partitions", "1")
    describe = ("configs", "--describe", "--entity-type", "topics", "--entity-name", t)
    assert ok(broker, *describe) == f"Dynamic configs for topic {t} are:\n"

    out = ok(broker, "configs", "--alter", "--entity-type", "topics", "--entity-name", t,
             "--add-config", "retention.ms=60000,cleanup.policy=[compact,delete],segment.bytes=2097152")
    assert out == f"Completed updating config for topic {t}.\n"
    lines = ok(broker, *describe).splitlines()
    assert lines[0] == f"Dynamic configs for topic {t} are:"
    assert [ln.split("=")[0].strip() for ln in lines[1:]] == ["cleanup.policy", "retention.ms", "segment.bytes"]
    assert lines[1].startswith("  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
                               "cleanup.policy=compact,delete"), lines[1]
    assert lines[1:] == described_lines(broker, ResourceType.TOPIC, t, ConfigSource.DYNAMIC_TOPIC_CONFIG)
    # the shorter --topic spelling names the same entity
    assert ok(broker, "configs", "--describe", "--topic", t).splitlines() == lines

    ok(broker, "configs", "--alter", "--topic", t, "--delete-config", "segment.bytes,cleanup.policy")
    lines = ok(broker, *describe).splitlines()
    assert [ln.split("=")[0].strip() for ln in lines[1:]] == ["retention.ms"]
    assert lines[1].startswith("  retention.ms=60000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=60000")

    # --all lists every config, defaults included
    every = ok(broker, *describe, "--all").splitlines()
    assert every[0] == f"All configs for topic {t} are:"
    assert any(ln.startswith("  retention.ms=60000 ") for ln in every) and len(every) > 10

    assert fails(broker, "configs", "--alter", "--topic", t, "--delete-config", "segment.bytes,nope") == \
        "shoal: Invalid config(s): segment.bytes,nope"
    assert "INVALID_CONFIG" in fails(broker, "configs", "--alter", "--topic", t, "--add-config", "retention.ms=soon")
    assert fails(broker, "configs", "--alter", "--topic", t, "--add-config", "a=b=c").startswith(
        "shoal: Invalid entity config")
    missing = unique_topic("nocfg")
    assert ok(broker, "configs", "--describe", "--topic", missing) == \
        f"The topic '{missing}' doesn't exist and doesn't have dynamic config.\n"
    assert f"'{missing}'" in fails(broker, "configs", "--alter", "--topic", missing, "--add-config", "retention.ms=1")


def test_configs_broker_describe_alter_delete(broker):
    (bid,) = admin(broker).list_topics(timeout=TOOL_TIMEOUT_S).brokers
    describe = ("configs", "--describe", "--entity-type", "brokers", "--entity-name", str(bid))
    assert ok(broker, *describe) == f"Dynamic configs for broker {bid} are:\n"
    assert ok(broker, "configs", "--alter", "--entity-type", "brokers", "--entity-name", str(bid),
              "--add-config", "log.retention.ms=7200000") == f"Completed updating config for broker {bid}.\n"
    lines = ok(broker, *describe).splitlines()
    assert lines[1:] == described_lines(broker, ResourceType.BROKER, str(bid), ConfigSource.DYNAMIC_BROKER_CONFIG)
    assert lines[1].startswith("  log.retention.ms=7200000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:"
                               "log.retention.ms=7200000"), lines
    # every broker, then the cluster-wide default block
    listed = ok(broker, "configs", "--describe", "--entity-type", "brokers").splitlines()
    assert listed[:2] == lines[:2] and "Default configs for brokers in the cluster are:" in listed
    ok(broker, "configs", "--alter", "--broker", str(bid), "--delete-config", "log.retention.ms")
    assert ok(broker, *describe) == f"Dynamic configs for broker {bid} are:\n"
    assert fails(broker, "configs", "--describe", "--entity-type", "brokers", "--entity-name", "one") == \
        "shoal: The entity name for brokers must be a valid integer broker id, but it is: one"
    assert ok(broker, "configs", "--describe", "--broker", "4242") == \
        "The broker '4242' doesn't exist and doesn't have dynamic config.\n"


def test_configs_cluster_default_is_its_own_layer(broker):
    (bid,) = admin(broker).list_topics(timeout=TOOL_TIMEOUT_S).brokers
    assert ok(broker, "configs", "--alter", "--broker-defaults", "--add-config", "log.retention.ms=5000") == \
        "Completed updating default config for brokers in the cluster.\n"
    defaults = ok(broker, "configs", "--describe", "--broker-defaults").splitlines()
    assert defaults[0] == "Default configs for brokers in the cluster are:"
    assert defaults[1].startswith("  log.retention.ms=5000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:"
                                  "log.retention.ms=5000"), defaults
    # The broker has no value of its own; its effective value comes from the default.
    assert ok(broker, "configs", "--describe", "--broker", str(bid)) == f"Dynamic configs for broker {bid} are:\n"
    c = admin(broker).describe_configs([ConfigResource(ResourceType.BROKER, str(bid))])
    entries = list(c.values())[0].result(timeout=TOOL_TIMEOUT_S)
    assert entries["log.retention.ms"].value == "5000"
    assert entries["log.retention.ms"].source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value
    ok(broker, "configs", "--alter", "--broker-defaults", "--delete-config", "log.retention.ms")
    assert ok(broker, "configs", "--describe", "--broker-defaults") == \
        "Default configs for brokers in the cluster are:\n"


# ---------------------------------------------------------------------- errors and help
def test_errors_are_one_line_and_non_zero(start_broker):
    b = start_broker({"auto.create.topics.enable": "false"})
    t = unique_topic("err")
    assert fails(b, "consume", "--topic", t, "--timeout-ms", "500") == f"shoal: topic '{t}' does not exist"
    assert fails(b, "produce", "--topic", t, input=b"x\n") == f"shoal: topic '{t}' does not exist"
    assert fails(b, "topics", "--list", "--bogus", rc=2) == "shoal: unexpected argument '--bogus' found (see --help)"
    assert fails(b, "produce", "--topic", t, "--acks", "2", rc=2).startswith("shoal: invalid value '2' for '--acks")
    assert fails(b, "produce", "--topic", t, "--property", "parse.kee=true").startswith(
        "shoal: unknown property 'parse.kee'")

    ok(b, "topics", "--create", "--topic", t, "--partitions", "1")
    # a line without the key separator stops the producer; the lines before it were sent
    line = fails(b, "produce", "--topic", t, "--property", "parse.key=true", "--property", "key.separator=:",
                 input=b"k:first\nno separator here\nk:never\n")
    assert line == "shoal: No key separator found on line number 2: 'no separator here'"
    assert [r.value for r in consume_all(b, t, [0])[0]] == [b"first"]
    assert "MESSAGE_TOO_LARGE" in fails(b, "produce", "--topic", t, input=b"x" * 2_000_000 + b"\n")

    # broker down: every tool says it cannot connect, naming the address. The port is held
    # bound but not listening, so nothing else on the machine can take it meanwhile.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        down = "127.0.0.1:%d" % held.getsockname()[1]
        for tool, args in (("topics", ["--list"]), ("produce", ["--topic", t]), ("consume", ["--topic", t]),
                           ("configs", ["--describe", "--topic", t])):
            line = fails(b, tool, *args, bootstrap=down, input=b"x\n")
            assert line.startswith(f"shoal: cannot connect to {down}: Connection refused"), line


def test_broker_dying_mid_consume_is_an_error(broker):
    t = unique_topic("dies")
    create_topic(broker, t, 1)
    produce_all(producer(broker), t, [{"value": b"before", "partition": 0}])
    proc = subprocess.Popen([str(shoal_bin()), "consume", "--bootstrap-server", broker.bootstrap, "--topic", t,
                             "--from-beginning"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # readline returns once the consumer has printed (and flushed) the record
        line = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(TOOL_TIMEOUT_S)
        assert line == [b"before\n"]
        broker.kill9()
        rc = proc.wait(timeout=TOOL_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read().decode().splitlines()
    assert rc == 1, err
    assert err[-1].startswith("shoal: ") and broker.bootstrap in err[-1], err


HELP = {
    "topics": ["--bootstrap-server", "--request-timeout-ms", "--create", "--list", "--describe", "--alter", "--delete",
               "--topic", "--partitions", "--replication-factor", "--config", "--if-exists", "--if-not-exists",
               "--exclude-internal", "--replica-assignment", "--topic-id"],
    "produce": ["--bootstrap-server", "--topic", "--property", "--acks", "--compression", "--batch-size",
                "--linger-ms", "--sync", "parse.key", "key.separator", "null.marker", "--producer-property",
                "--producer.config", "--reader-config", "--message-send-max-retries", "--retry-backoff-ms",
                "--metadata-expiry-ms", "--max-block-ms", "--max-memory-bytes", "--socket-buffer-size"],
    "consume": ["--bootstrap-server", "--topic", "--include", "--from-beginning", "--property", "--max-messages", "--partition",
                "--offset", "--timeout-ms", "--group", "print.key", "key.separator", "--isolation-level",
                "--formatter", "--formatter-config", "--consumer-property", "--consumer.config"],
    "configs": ["--bootstrap-server", "--describe", "--alter", "--all", "--entity-type", "--entity-name",
                "--entity-default", "--topic", "--broker", "--broker-defaults", "--broker-logger", "--group",
                "--add-config", "--add-config-file", "--delete-config"],
    "producer-perf-test": ["--topic", "--num-records", "--record-size", "--payload-file", "--payload-monotonic",
                           "--payload-delimiter", "--throughput", "--producer-props", "--producer.config",
                           "--print-metrics", "--transactional-id", "--transaction-duration-ms",
                           "--warmup-records", "--bootstrap-server", "--command-config"],
    "consumer-perf-test": ["--bootstrap-server", "--topic", "--include", "--group", "--fetch-size", "--from-latest",
                           "--socket-buffer-size", "--consumer.config", "--command-config", "--command-property",
                           "--print-metrics", "--show-detailed-stats", "--timeout", "--num-records",
                           "--reporting-interval", "--date-format", "--hide-header"],
    "verifiable-consumer": ["--bootstrap-server", "--topic", "--group-id", "--group-protocol",
                            "--group-remote-assignor", "--group-instance-id", "--max-messages", "--session-timeout",
                            "--verbose", "--enable-autocommit", "--reset-policy", "--assignment-strategy",
                            "--consumer.config", "--command-config"],
    "verifiable-producer": ["--bootstrap-server", "--topic", "--max-messages", "--throughput", "--acks",
                            "--producer.config", "--command-config", "--message-create-time", "--value-prefix",
                            "--repeating-keys"],
}


@pytest.mark.parametrize("tool", list(HELP))
def test_help_documents_every_flag(tool):
    cp = subprocess.run([str(shoal_bin()), tool, "--help"], capture_output=True, timeout=TOOL_TIMEOUT_S)
    assert cp.returncode == 0, cp.stderr
    text = cp.stdout.decode()
    for flag in HELP[tool]:
        assert flag in text, f"shoal {tool} --help does not mention {flag}"
