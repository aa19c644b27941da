"""`shoal groups` (Kafka's kafka-consumer-groups.sh) and `shoal consume --group`, run as the real
binary against the broker fixture. Groups are made and read by confluent-kafka (librdkafka) too,
so what the tool prints and commits is checked against a client written independently of shoal.

Brokers here skip Kafka's initial rebalance delay and accept short sessions, so rebalances take a
round trip. Waits poll for a condition with a deadline; nothing sleeps.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from clients import CLIENT_TIMEOUT_S, _OPEN, base_conf, create_topic, produce_all, producer, unique_topic
from conftest import on_cores, shoal_bin
from test_cli import fails, ok, shoal

GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": 0, "group.min.session.timeout.ms": 1000,
                   "group.consumer.session.timeout.ms": 3000, "group.consumer.heartbeat.interval.ms": 500}
HEADER = ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST",
          "CLIENT-ID"]


@pytest.fixture
def broker(start_broker):
    return start_broker(GROUP_OVERRIDES)


def fill(broker, topic: str, per_partition: int, partitions: int = 4, timestamps: list[int] | None = None) -> None:
    create_topic(broker, topic, partitions)
    records = [{"value": f"{p}-{i}".encode(), "partition": p,
                **({"timestamp": timestamps[i]} if timestamps else {})}
               for p in range(partitions) for i in range(per_partition)]
    produce_all(producer(broker, acks="all"), topic, records)


def group_consumer(broker, group: str, protocol: str = "classic") -> Consumer:
    conf = {"group.id": group, "group.protocol": protocol, "auto.offset.reset": "earliest",
            "enable.auto.commit": False}
    if protocol == "classic":
        conf.update({"session.timeout.ms": 3000, "heartbeat.interval.ms": 500})
    c = Consumer(base_conf(broker, **conf))
    _OPEN.append(c)
    return c


def read(c: Consumer, count: int, timeout: float = CLIENT_TIMEOUT_S) -> list[tuple[int, int]]:
    """Polls until `count` records arrived; returns their (partition, offset)."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        assert time.monotonic() < deadline, f"only {len(got)} of {count} records: {got}"
        m = c.poll(0.2)
        if m is not None:
            assert m.error() is None, m.error()
            got.append((m.partition(), m.offset()))
    return got


def wait_assigned(c: Consumer, partitions: int) -> None:
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while len(c.assignment()) != partitions:
        assert time.monotonic() < deadline, f"assignment {c.assignment()}"
        c.poll(0.1)


def describe(broker, group: str) -> tuple[list[str], list[dict], str]:
    """`--describe`: its lines, its rows as dicts by column, and its stderr."""
    cp = shoal(broker, "groups", "--describe", "--group", group)
    assert cp.returncode == 0, cp.stderr.decode()
    if cp.stdout == b"":  # a group with nothing to show (e.g. rebalancing), as Kafka prints it
        return [], [], cp.stderr.decode()
    lines = cp.stdout.decode().split("\n")
    assert lines[0] == "" and lines[-1] == "", lines
    lines = lines[1:-1]
    assert lines[0].split() == HEADER, lines[0]
    # Kafka aligns the columns: every value starts where its header does
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    for line in lines[1:]:
        assert [m.start() for m in re.finditer(r"\S+", line)] == starts, f"misaligned:\n{lines[0]}\n{line}"
    rows = [dict(zip(HEADER, line.split())) for line in lines[1:]]
    return lines, rows, cp.stderr.decode()


def wait_describe(broker, group: str, done, what: str) -> list[dict]:
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while True:
        cp = shoal(broker, "groups", "--describe", "--group", group)
        # before the first member joins, the group does not exist yet
        rows = describe(broker, group)[1] if cp.returncode == 0 else []
        if done(rows):
            return rows
        assert time.monotonic() < deadline, f"{what}: {rows}"


def reset(broker, group: str, *args: str) -> dict[int, int]:
    """Runs --reset-offsets; returns the NEW-OFFSET column by partition."""
    out = ok(broker, "groups", "--reset-offsets", "--group", group, *args).split("\n")
    assert out[0] == "" and out[1].split() == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"], out
    rows = [line.split() for line in out[2:] if line]
    assert all(r[0] == group for r in rows), rows
    return {int(r[2]): int(r[3]) for r in rows}


def committed(broker, group: str, topic: str, partitions: int = 4) -> dict[int, int]:
    c = group_consumer(broker, group)
    tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=CLIENT_TIMEOUT_S)
    return {tp.partition: tp.offset for tp in tps}


# ---------------------------------------------------------------------- describe
@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_describe_shows_lag_of_a_confluent_group(broker, protocol):
    t, g = unique_topic("lag"), unique_topic("g")
    fill(broker, t, 5)
    c = group_consumer(broker, g, protocol)
    c.subscribe([t])
    read(c, 20)
    # partition p committed at p+1: lag 4-p
    c.commit(offsets=[TopicPartition(t, p, p + 1) for p in range(4)], asynchronous=False)
    wait_assigned(c, 4)

    _, rows, err = describe(broker, g)
    assert err == ""
    assert [(r["TOPIC"], r["PARTITION"], r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"]) for r in rows] == \
        [(t, str(p), str(p + 1), "5", str(4 - p)) for p in range(4)]
    (member,) = {r["CONSUMER-ID"] for r in rows}
    # The classic coordinator names a member after its client id; a KIP-848 member names itself.
    assert member.startswith("rdkafka-") == (protocol == "classic"), member
    assert {(r["GROUP"], r["HOST"], r["CLIENT-ID"]) for r in rows} == {(g, "/127.0.0.1", "rdkafka")}

    # --verbose adds each commit's leader epoch: none for offsets committed without one,
    # the records' epoch for the positions librdkafka commits after reading them.
    def leader_epochs() -> set[str]:
        lines = ok(broker, "groups", "--describe", "--group", g, "--offsets", "--verbose").split("\n")
        assert lines[1].split()[:7] == ["GROUP", "TOPIC", "PARTITION", "LEADER-EPOCH", "CURRENT-OFFSET",
                                        "LOG-END-OFFSET", "LAG"], lines
        return {line.split()[3] for line in lines[2:-1]}

    assert leader_epochs() == {"-"}
    c.commit(asynchronous=False)
    assert all(epoch.isdigit() for epoch in leader_epochs())
    c.commit(offsets=[TopicPartition(t, p, p + 1) for p in range(4)], asynchronous=False)

    c.close()
    _, rows, err = describe(broker, g)
    assert err == f"\nConsumer group '{g}' has no active members.\n"
    assert [(r["PARTITION"], r["LAG"], r["CONSUMER-ID"], r["HOST"], r["CLIENT-ID"]) for r in rows] == \
        [(str(p), str(4 - p), "-", "-", "-") for p in range(4)]


def test_list_shows_groups_and_states(broker):
    t, g = unique_topic("list"), unique_topic("g")
    fill(broker, t, 1)
    assert reset(broker, g, "--topic", t, "--to-earliest", "--execute") == {p: 0 for p in range(4)}
    assert g in ok(broker, "groups", "--list").splitlines()
    lines = ok(broker, "groups", "--list", "--state").splitlines()
    assert lines[0].split() == ["GROUP", "STATE"]
    assert [g, "Empty"] in [line.split() for line in lines[1:]]
    assert ok(broker, "groups", "--list", "--state", "Stable").splitlines()[1:] == []


def test_list_by_type_and_state_and_validate_regex(broker):
    t = unique_topic("types")
    fill(broker, t, 2)
    classic, consumer = unique_topic("g"), unique_topic("g")
    for group, protocol in ((classic, "classic"), (consumer, "consumer")):
        c = group_consumer(broker, group, protocol)
        c.subscribe([t])
        wait_assigned(c, 4)

    def table(*flags):
        lines = ok(broker, "groups", "--list", *flags).splitlines()
        groups = [line.split()[0] for line in lines[1:]]
        # Kafka's layout: the group column 10 wider than the longest id (at least 15), then
        # each other column 20 wide, padded to its width.
        width = max([15] + [len(g) for g in groups]) + 10
        header = f"{'GROUP':<{width}}" + "".join(f" {h:<20}" for h in flags_columns(flags))
        assert lines[0] == header, lines
        return {line.split()[0]: line.split()[1:] for line in lines[1:]}

    def flags_columns(flags):
        return [name for flag, name in (("--type", "TYPE"), ("--state", "STATE")) if flag in flags]

    listed = table("--type")
    assert listed[classic] == ["Classic"] and listed[consumer] == ["Consumer"], listed
    assert set(table("--type", "consumer")) == {consumer}
    assert table("--type", "Consumer,classic", "--state", "Stable") == {
        classic: ["Classic", "Stable"], consumer: ["Consumer", "Stable"]}
    assert fails(broker, "groups", "--list", "--type", "share") == \
        "shoal: Invalid types list 'share'. Valid types are: Classic, Consumer"
    assert fails(broker, "groups", "--list", "--state", "Sleeping").startswith(
        "shoal: Invalid state list 'Sleeping'. Valid states are: Unknown, PreparingRebalance,")

    # --validate-regex asks no broker.
    valid = subprocess.run([str(shoal_bin()), "groups", "--validate-regex", "orders-.*"], capture_output=True,
                           timeout=CLIENT_TIMEOUT_S)
    assert (valid.returncode, valid.stdout) == (0, b"The regular expression `orders-.*` is valid.\n"), valid
    invalid = subprocess.run([str(shoal_bin()), "groups", "--validate-regex", "orders-("], capture_output=True,
                             timeout=CLIENT_TIMEOUT_S)
    text = invalid.stdout.decode()
    assert invalid.returncode == 0 and text.startswith("The regular expression `orders-(` is invalid: ") \
        and text.endswith(".\n") and len(text.splitlines()) == 1, invalid


# ---------------------------------------------------------------------- reset
@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_shift_by_minus_two_rereads_two_records_per_partition(broker, protocol):
    t, g = unique_topic("shift"), unique_topic("g")
    fill(broker, t, 5)
    c = group_consumer(broker, g, protocol)
    c.subscribe([t])
    read(c, 20)
    c.commit(asynchronous=False)
    c.close()
    assert committed(broker, g, t) == {p: 5 for p in range(4)}

    assert reset(broker, g, "--topic", t, "--shift-by", "-2", "--execute") == {p: 3 for p in range(4)}
    c = group_consumer(broker, g, protocol)
    c.subscribe([t])
    got = read(c, 8)
    # each partition holds offsets 0..4: reading from 3 gives exactly 3 and 4
    assert sorted(got) == [(p, o) for p in range(4) for o in (3, 4)]


def test_reset_targets_and_dry_run(broker):
    t, g = unique_topic("reset"), unique_topic("g")
    base = 1_700_000_000_000  # 2023-11-14T22:13:20Z
    fill(broker, t, 5, timestamps=[base + i * 1000 for i in range(5)])
    assert reset(broker, g, "--topic", t, "--to-offset", "2", "--execute") == {p: 2 for p in range(4)}
    assert committed(broker, g, t) == {p: 2 for p in range(4)}

    # --dry-run (and no --execute) print the plan and commit nothing
    assert reset(broker, g, "--topic", t, "--to-latest", "--dry-run") == {p: 5 for p in range(4)}
    cp = shoal(broker, "groups", "--reset-offsets", "--group", g, "--topic", t, "--to-earliest")
    assert cp.returncode == 0 and b"WARN" in cp.stderr
    assert committed(broker, g, t) == {p: 2 for p in range(4)}

    assert reset(broker, g, "--topic", t, "--to-latest", "--execute") == {p: 5 for p in range(4)}
    assert committed(broker, g, t) == {p: 5 for p in range(4)}
    assert reset(broker, g, "--topic", f"{t}:1,3", "--to-earliest", "--execute") == {1: 0, 3: 0}
    assert committed(broker, g, t) == {0: 5, 1: 0, 2: 5, 3: 0}
    # kept within the log, as Kafka keeps them
    assert reset(broker, g, "--topic", t, "--to-offset", "99", "--execute") == {p: 5 for p in range(4)}
    assert reset(broker, g, "--all-topics", "--shift-by", "-9", "--execute") == {p: 0 for p in range(4)}
    # the first record at or after 2.5 s past `base` is offset 3, in UTC and in +01:00
    assert reset(broker, g, "--topic", t, "--to-datetime", "2023-11-14T22:13:22.500", "--execute") == \
        {p: 3 for p in range(4)}
    assert committed(broker, g, t) == {p: 3 for p in range(4)}
    assert reset(broker, g, "--topic", t, "--to-datetime", "2023-11-14T23:13:21.001+01:00", "--dry-run") == \
        {p: 2 for p in range(4)}
    # after every record: the log end
    assert reset(broker, g, "--topic", t, "--to-datetime", "2030-01-01T00:00:00Z", "--dry-run") == \
        {p: 5 for p in range(4)}
    assert committed(broker, g, t) == {p: 3 for p in range(4)}


# ---------------------------------------------------------------------- delete
@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_delete_refused_while_active_then_accepted(broker, protocol):
    t, g = unique_topic("del"), unique_topic("g")
    fill(broker, t, 2)
    c = group_consumer(broker, g, protocol)
    c.subscribe([t])
    read(c, 8)
    c.commit(asynchronous=False)
    wait_assigned(c, 4)
    line = fails(broker, "groups", "--delete", "--group", g)
    assert line == f"shoal: Deletion of some consumer groups failed: Group '{g}' could not be deleted due to: NON_EMPTY_GROUP"
    c.close()
    assert ok(broker, "groups", "--delete", "--group", g) == \
        f"Deletion of requested consumer groups ('{g}') was successful.\n"
    assert g not in ok(broker, "groups", "--list").splitlines()
    assert committed(broker, g, t) == {p: -1001 for p in range(4)}  # librdkafka's OFFSET_INVALID


# ---------------------------------------------------------------------- errors
def test_errors_are_one_line(broker):
    t, g = unique_topic("err"), unique_topic("g")
    fill(broker, t, 2)
    assert fails(broker, "groups", "--describe", "--group", "no-such-group") == \
        "shoal: Consumer group 'no-such-group' does not exist."
    assert fails(broker, "groups", "--reset-offsets", "--group", g, "--topic", t, "--to-datetime",
                 "yesterday", "--execute").startswith("shoal: 'yesterday' is not a date and time")
    c = group_consumer(broker, g)
    c.subscribe([t])
    read(c, 8)
    wait_assigned(c, 4)
    assert fails(broker, "groups", "--reset-offsets", "--group", g, "--topic", t, "--to-earliest", "--execute") == \
        f"shoal: Assignments can only be reset if the group '{g}' is inactive, but the current state is Stable."
    # bad usage: exit 2
    assert "--group" in fails(broker, "groups", "--describe", rc=2)
    fails(broker, "groups", "--reset-offsets", "--group", g, "--topic", t, rc=2)
    fails(broker, "groups", "--list", "--delete", rc=2)


# ---------------------------------------------------------------------- consume --group
class Member:
    """A `shoal consume --group` process whose printed lines are collected by a thread."""

    def __init__(self, broker, topic: str, group: str, *args: str):
        cmd = [str(shoal_bin()), "consume", "--bootstrap-server", broker.bootstrap, "--topic", topic,
               "--group", group, "--from-beginning", "--property", "print.partition=true", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            self.lines.append(raw.decode().rstrip("\n"))

    def records(self) -> list[tuple[int, str]]:
        out = []
        for line in list(self.lines):
            part, value = line.split("\t")
            out.append((int(part.removeprefix("Partition:")), value))
        return out

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(CLIENT_TIMEOUT_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        self.reader.join(CLIENT_TIMEOUT_S)
        err = self.proc.stderr.read().decode()
        assert self.proc.returncode == 0, err
        return err


def test_two_members_split_four_partitions(broker):
    t, g = unique_topic("split"), unique_topic("g")
    fill(broker, t, 3)
    a = Member(broker, t, g)
    b = None
    try:
        wait_describe(broker, g, lambda rows: len(rows) == 4 and rows[0]["CONSUMER-ID"] != "-"
                      and all(r["LAG"] == "0" for r in rows), "first member owns and reads all four")
        b = Member(broker, t, g)
        rows = wait_describe(broker, g, lambda rows: len({r["CONSUMER-ID"] for r in rows}) == 2
                             and all(r["PARTITION"] != "-" for r in rows), "two members split the topic")
        owners: dict[str, set[int]] = {}
        for r in rows:
            owners.setdefault(r["CONSUMER-ID"], set()).add(int(r["PARTITION"]))
        # range: each member takes two consecutive partitions
        assert sorted(map(sorted, owners.values())) == [[0, 1], [2, 3]]
        before = len(a.lines), len(b.lines)
        records = [{"value": f"new-{p}-{i}".encode(), "partition": p} for p in range(4) for i in range(2)]
        produce_all(producer(broker, acks="all"), t, records)
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while len(a.lines) - before[0] + len(b.lines) - before[1] < 8:
            assert time.monotonic() < deadline, (a.lines, b.lines)
            time.sleep(0.05)  # polling the reader threads' progress, not synchronising them
        new = {name: {p for p, v in m.records() if v.startswith("new-")} for name, m in (("a", a), ("b", b))}
        assert sorted(map(sorted, new.values())) == [[0, 1], [2, 3]], new
    finally:
        a.stop()
        if b is not None:
            b.stop()
    # both left and committed what they printed
    _, rows, err = describe(broker, g)
    assert "has no active members" in err
    assert [(r["PARTITION"], r["CURRENT-OFFSET"], r["LAG"]) for r in rows] == [(str(p), "5", "0") for p in range(4)]


def test_restarted_member_resumes_at_its_committed_offset(broker):
    t, g = unique_topic("resume"), unique_topic("g")
    fill(broker, t, 10)
    first = Member(broker, t, g, "--max-messages", "13")
    first.proc.wait(CLIENT_TIMEOUT_S)
    assert "Processed a total of 13 messages" in first.stop()
    _, rows, _ = describe(broker, g)
    assert sum(int(r["CURRENT-OFFSET"]) for r in rows if r["CURRENT-OFFSET"] != "-") == 13

    second = Member(broker, t, g, "--max-messages", "27")
    second.proc.wait(CLIENT_TIMEOUT_S)
    second.stop()
    everything = sorted(first.records() + second.records())
    assert everything == sorted((p, f"{p}-{i}") for p in range(4) for i in range(10))
    _, rows, _ = describe(broker, g)
    assert [(r["CURRENT-OFFSET"], r["LAG"]) for r in rows] == [("10", "0")] * 4


def test_help_documents_every_flag():
    cp = subprocess.run([str(shoal_bin()), "groups", "--help"], capture_output=True, timeout=CLIENT_TIMEOUT_S)
    assert cp.returncode == 0, cp.stderr
    text = cp.stdout.decode()
    for flag in ["--bootstrap-server", "--list", "--state", "--type", "--validate-regex", "--describe",
                 "--reset-offsets", "--delete", "--group",
                 "--topic", "--all-topics", "--to-earliest", "--to-latest", "--to-offset", "--shift-by",
                 "--to-datetime", "--dry-run", "--execute", "--timeout"]:
        assert flag in text, f"shoal groups --help does not mention {flag}"


def owners_of(rows: list[dict]) -> dict[str, set[int]]:
    owners: dict[str, set[int]] = {}
    for r in rows:
        if r["PARTITION"] != "-":
            owners.setdefault(r["CONSUMER-ID"], set()).add(int(r["PARTITION"]))
    return owners


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_shoal_and_librdkafka_members_share_a_group(broker, protocol):
    """shoal's member and librdkafka's agree on the range protocol, whichever of them leads.
    Under the consumer protocol, librdkafka's member joining upgrades the group, shoal's
    classic member stays in it, and the broker assigns; its leaving downgrades the group."""
    t, g = unique_topic("mixed"), unique_topic("g")
    fill(broker, t, 3)
    m = Member(broker, t, g)
    try:
        wait_describe(broker, g, lambda rows: len(owners_of(rows)) == 1 and "-" not in owners_of(rows),
                      "shoal's member owns the topic")
        c = group_consumer(broker, g, protocol)
        c.subscribe([t])
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while len(c.assignment()) != 2:
            assert time.monotonic() < deadline, f"librdkafka's assignment {c.assignment()}"
            c.poll(0.1)
        rows = wait_describe(broker, g, lambda rows: len(owners_of(rows)) == 2, "two members")
        owners = owners_of(rows)
        assert sorted(map(sorted, owners.values())) == [[0, 1], [2, 3]]
        rdkafka = {tp.partition for tp in c.assignment()}
        rdkafka_members = {r["CONSUMER-ID"] for r in rows if r["CLIENT-ID"] == "rdkafka"}
        assert [ps for member, ps in owners.items() if member in rdkafka_members] == [rdkafka]
        c.close()
        wait_describe(broker, g, lambda rows: owners_of(rows) and list(owners_of(rows).values()) == [{0, 1, 2, 3}],
                      "shoal's member takes all four back after librdkafka leaves")
    finally:
        m.stop()


# A session's expiry is the group coordinator's alone: one run, with two shards.
@on_cores(2)
def test_a_dead_members_partitions_move_within_the_session(broker):
    t, g = unique_topic("death"), unique_topic("g")
    fill(broker, t, 3)
    a, b = Member(broker, t, g), Member(broker, t, g)
    try:
        wait_describe(broker, g, lambda rows: len(owners_of(rows)) == 2, "two members split the topic")
        b.proc.kill()  # no LeaveGroup: the coordinator must notice the silence
        b.proc.wait(CLIENT_TIMEOUT_S)
        wait_describe(broker, g, lambda rows: list(owners_of(rows).values()) == [{0, 1, 2, 3}],
                      "the survivor owns all four after the dead member's session expires")
    finally:
        a.stop()
        if b.proc.poll() is None:
            b.proc.kill()
    # every record was printed by one member or the other (the dead one may have printed some it
    # never committed, which the survivor then printed again)
    assert {v for _, v in a.records()} | {v for _, v in b.records()} >= {f"{p}-{i}" for p in range(4) for i in range(3)}
