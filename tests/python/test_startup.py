"""Starting and stopping: a broker refuses an address or a log directory that another broker
holds, says what to change when the locked-memory limit is too low for io_uring, and obeys
SIGTERM and SIGINT while it is still recovering its logs (through the `shard::open_partition`
failpoint, which holds recovery between two partitions), wakes a shard asleep for good (the
`shard::start` failpoint), and tells systemd when it is ready."""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import signal
import socket
import tempfile
import uuid

import pytest

import clients
from conftest import Broker, BrokerError, shoal_bin


def another(tmp_path, cores, name: str, overrides: dict) -> Broker:
    return Broker(shoal_bin(), tmp_path, name, cores, overrides)


def metrics_port(broker: Broker) -> int:
    m = re.search(r"shoal metrics: listening on 127\.0\.0\.1:(\d+)", broker.log_text())
    assert m, "the broker printed no metrics address"
    return int(m.group(1))


def fails_to_start(broker: Broker) -> str:
    """Starts `broker`, which must exit with code 1 before its ready line; returns its log."""
    try:
        with pytest.raises(BrokerError, match="exited with code 1 before its ready line"):
            broker.start()
        return broker.log_text()
    finally:
        broker.close()


def test_a_second_broker_on_a_taken_address_fails_at_once(start_broker, tmp_path, cores):
    first = start_broker()
    log = fails_to_start(another(tmp_path, cores, "same-port", {"listeners": f"PLAINTEXT://127.0.0.1:{first.port}"}))
    assert f"the listener cannot bind 127.0.0.1:{first.port}: address already in use" in log
    port = metrics_port(first)
    log = fails_to_start(another(tmp_path, cores, "same-metrics-port", {"metrics.port": port}))
    assert f"the metrics listener cannot bind 127.0.0.1:{port}: address already in use" in log
    clients.assert_broker_serves(first)


def test_a_second_broker_fails_while_the_first_is_still_recovering(start_broker, tmp_path, cores):
    first = start_broker({"num.partitions": 1})
    clients.produce_all(clients.producer(first, acks="all"), clients.unique_topic(), [{"value": b"x", "partition": 0}])
    clients.close_all()
    port = first.port
    first.stop()
    first.overrides["listeners"] = f"PLAINTEXT://127.0.0.1:{port}"
    first.env = {"FAILPOINTS": "shard::open_partition=return(600000)"}
    first.launch()
    first.wait_for_stderr(r"failpoint: waiting")
    log = fails_to_start(another(tmp_path, cores, "during-recovery", {"listeners": f"PLAINTEXT://127.0.0.1:{port}"}))
    assert f"the listener cannot bind 127.0.0.1:{port}: address already in use" in log
    first.stop()


def test_a_log_directory_in_use_is_refused_naming_its_holder(start_broker, tmp_path, cores):
    first = start_broker()
    t = clients.unique_topic()
    sent = clients.produce_all(clients.producer(first, acks="all"), t, [{"value": b"kept", "partition": 0}])
    second = another(tmp_path, cores, "same-dir", {"log.dirs": str(first.log_dir)})
    log = fails_to_start(second)
    lock = first.log_dir.resolve() / ".lock"
    assert f"{lock} is locked: another broker (process {first.pid}) uses this log directory" in log
    clients.assert_broker_serves(first)
    clients.close_all()
    first.stop()
    # The lock goes with its process: the next broker on the directory starts and has the data.
    second = another(tmp_path, cores, "same-dir-later", {"log.dirs": str(first.log_dir)})
    try:
        second.start()
        got = clients.consume(second, t, {0: 0}, {0: sent[0].offset + 1})
        assert [r.value for r in got[0]] == [b"kept"]
        clients.close_all()
        second.stop()
    finally:
        second.close()


def test_several_log_directories_are_refused_not_left_unused(tmp_path, cores):
    """Kafka spreads partitions over the directories of `log.dirs`; shoal keeps its logs in
    one, so a list of several stops the start, naming them, rather than fill the first
    disk while the others stay empty."""
    dirs = [tmp_path / "disk-a", tmp_path / "disk-b"]
    log = fails_to_start(another(tmp_path, cores, "two-dirs", {"log.dirs": ",".join(map(str, dirs))}))
    assert f"log.dirs lists 2 directories ({dirs[0]}, {dirs[1]}): shoal keeps every log in one directory" in log


def test_a_locked_memory_limit_too_low_for_io_uring(tmp_path, cores):
    low = 64 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    broker = another(tmp_path, cores, "memlock-64k", {})
    broker.limits = {resource.RLIMIT_MEMLOCK: (low, low)}
    log = fails_to_start(broker)
    assert "the locked-memory limit (RLIMIT_MEMLOCK, `ulimit -l`) is 64 KiB; io_uring needs at least 512 KiB" in log
    assert "`ulimit -l 8192`" in log and "LimitMEMLOCK=" in log
    # A low soft limit under a high enough hard one is raised, and the broker runs.
    assert hard == resource.RLIM_INFINITY or hard >= 512 * 1024, f"this machine's hard RLIMIT_MEMLOCK is {hard}"
    broker = another(tmp_path, cores, "memlock-soft-64k", {})
    broker.limits = {resource.RLIMIT_MEMLOCK: (low, hard)}
    try:
        broker.start()
        assert "raised the locked-memory limit (RLIMIT_MEMLOCK) for io_uring" in broker.log_text()
        clients.assert_broker_serves(broker)
        clients.close_all()
        broker.stop()
    finally:
        broker.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_a_broker_that_is_recovering(start_broker, cores, sig):
    broker = start_broker({"num.partitions": 1})
    p = clients.producer(broker, acks="all")
    topics = [clients.unique_topic() for _ in range(3)]
    sent = {t: clients.produce_all(p, t, [{"value": f"{t}-{i}".encode(), "partition": 0} for i in range(20)])
            for t in topics}
    clients.close_all()
    broker.stop()
    # The second partition log a shard opens holds recovery for ten minutes.
    broker.env = {"FAILPOINTS": "shard::open_partition=1*off->return(600000)"}
    broker.launch()
    broker.wait_for_stderr(r"failpoint: waiting")
    broker.stop(sig)
    assert not any(line.startswith("shoal ready") for line in broker.stdout_after_exit())
    broker.env = {}
    broker.start()
    for t in topics:
        got = clients.consume(broker, t, {0: 0}, {0: 20})
        assert [r.value for r in got[0]] == [r.value for r in sent[t]]


def test_a_shard_that_makes_no_start_up_progress_stops_the_broker(start_broker, cores):
    broker = start_broker({"num.partitions": 1})
    t = clients.unique_topic()
    sent = clients.produce_all(clients.producer(broker, acks="all"), t, [{"value": b"kept", "partition": 0}])
    clients.close_all()
    broker.stop()
    # Every partition log a shard opens holds it for ten minutes: no progress, as a shard
    # asleep for good would make none.
    broker.env = {"FAILPOINTS": "shard::open_partition=return(600000)"}
    broker.overrides["startup.stall.timeout.ms"] = "1500"
    with pytest.raises(BrokerError, match="exited with code 1 before its ready line"):
        broker.start()
    assert re.search(r"shard \d made no start-up progress for 1500 ms while opening partition logs "
                     r"\(startup\.stall\.timeout\.ms\): stopping", broker.log_text())
    broker.env = {}
    del broker.overrides["startup.stall.timeout.ms"]
    broker.start()
    got = clients.consume(broker, t, {0: 0}, {0: sent[0].offset + 1})
    assert [r.value for r in got[0]] == [b"kept"]


def test_a_shard_asleep_in_a_system_call_is_woken_and_the_broker_starts(start_broker, cores):
    # Shard 0's thread sleeps in pause(2) as its executor starts, as a shard asleep in
    # io_uring whose wakeup was lost sleeps: nothing but a signal ends it.
    broker = start_broker({"startup.stall.timeout.ms": 30000}, env={"FAILPOINTS": "shard::start=return(0)"})
    log = broker.log_text()
    assert "failpoint: asleep until a signal" in log
    # The line says what the thread was doing (pause(2), not io_uring) and lists the rings.
    woken = r"the shard ran no timer for this long: woken with SIGURG .*shard=0"
    assert re.search(woken + r".*thread=in system call \d+ .*rings=fd \d+ sq \d+/\d+ cq \d+/\d+ polls \d+", log), log
    broker.wait_for_stderr(r"the shard runs again.*shard=0")
    clients.assert_broker_serves(broker)


def test_a_shard_that_panics_stops_the_broker_instead_of_hanging(start_broker, tmp_path, cores):
    """A panic unwinds one shard's thread; the others would wait on it for ever, holding
    the port and the log directory. The broker aborts instead, so its supervisor restarts
    it. (Run outside the fixture's own brokers: their logs must hold no panic.)"""
    broker = another(tmp_path, cores, "panics", {"num.partitions": 1})
    try:
        broker.start()
        clients.create_topic(broker, clients.unique_topic(), partitions=1)
        clients.close_all()
        broker.stop()
        broker.env = {"FAILPOINTS": "shard::open_partition=panic(a test's panic)"}
        with pytest.raises(BrokerError, match=r"exited with code -6 before its ready line"):
            broker.start()
        log = broker.log_text()
        assert "a test's panic" in log and "shoal: a shard panicked; the broker stops" in log
    finally:
        broker.close()


def partition_dirs(broker: Broker, topic: str) -> list:
    return sorted(p.name for p in broker.log_dir.iterdir() if p.is_dir() and p.name.startswith(f"{topic}-"))


def test_a_cluster_state_that_disagrees_with_the_data_deletes_nothing(start_broker):
    """An old backup of cluster.json, then one that lists no topics: every partition it does
    not list is kept aside as Kafka keeps stray logs (`<dir>.<id>-stray`), never deleted."""
    broker = start_broker({"num.partitions": 1})
    p = clients.producer(broker, acks="all")
    old, new = clients.unique_topic("old"), clients.unique_topic("new")
    clients.produce_all(p, old, [{"value": b"old", "partition": 0}])
    clients.close_all()
    broker.stop()
    backup = (broker.log_dir / "cluster.json").read_bytes()
    broker.start()
    clients.produce_all(clients.producer(broker, acks="all"), new, [{"value": b"new", "partition": 0}])
    clients.close_all()
    broker.stop()
    (broker.log_dir / "cluster.json").write_bytes(backup)
    broker.start()
    assert partition_dirs(broker, old) == [f"{old}-0"]
    [stray] = partition_dirs(broker, new)
    assert re.fullmatch(rf"{new}-0\.[0-9a-f]{{32}}-stray", stray), stray
    assert any(p.name.endswith(".log") for p in (broker.log_dir / stray).iterdir())
    assert "a partition directory that cluster.json does not list is kept aside" in broker.log_text()
    assert clients.topic_partitions(broker, new) is None
    clients.assert_broker_serves(broker)
    clients.close_all()
    broker.stop()
    # A state that lists no topics: the old topic's data is kept aside too.
    state = json.loads((broker.log_dir / "cluster.json").read_text())
    state["topics"] = {}
    (broker.log_dir / "cluster.json").write_text(json.dumps(state))
    broker.start()
    assert len([d for d in partition_dirs(broker, old) if d.endswith("-stray")]) == 1
    assert (broker.log_dir / stray).is_dir()


def test_partition_metadata_names_the_topic_a_directory_belongs_to(start_broker):
    """Each partition directory keeps Kafka's `partition.metadata` (the topic id). A state
    file rebuilt from the directories keeps that id; a directory whose file names another
    topic of the same name is kept aside, and the topic starts empty instead of serving
    the other topic's records."""
    broker = start_broker({"num.partitions": 1})
    t = clients.unique_topic()
    clients.produce_all(clients.producer(broker, acks="all"), t, [{"value": b"first", "partition": 0}])
    clients.close_all()
    broker.stop()
    state = json.loads((broker.log_dir / "cluster.json").read_text())
    topic_id = uuid.UUID(state["topics"][t]["id"])
    written = (broker.log_dir / f"{t}-0" / "partition.metadata").read_text()
    encoded = base64.urlsafe_b64encode(topic_id.bytes).decode().rstrip("=")
    assert written == f"version: 0\ntopic_id: {encoded}\n"

    # The state file lost: rebuilt from the directories, with the id they keep.
    (broker.log_dir / "cluster.json").unlink()
    broker.start()
    clients.close_all()
    broker.stop()
    rebuilt = json.loads((broker.log_dir / "cluster.json").read_text())
    assert uuid.UUID(rebuilt["topics"][t]["id"]) == topic_id

    # The directory claims another topic: kept aside, and the topic starts empty.
    other = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    (broker.log_dir / f"{t}-0" / "partition.metadata").write_text(f"version: 0\ntopic_id: {other}\n")
    broker.start()
    stray = [d for d in partition_dirs(broker, t) if d.endswith("-stray")]
    assert len(stray) == 1 and any(p.name.endswith(".log") for p in (broker.log_dir / stray[0]).iterdir())
    assert "holds another topic of the same name" in broker.log_text()
    clients.produce_all(clients.producer(broker, acks="all"), t, [{"value": b"second", "partition": 0}])
    got = clients.consume(broker, t, {0: 0}, {0: 1})
    assert [r.value for r in got[0]] == [b"second"]


def test_a_deletion_a_stop_interrupted_is_finished_at_the_next_start(start_broker):
    broker = start_broker({"num.partitions": 1})
    t = clients.unique_topic()
    clients.produce_all(clients.producer(broker, acks="all"), t, [{"value": b"gone", "partition": 0}])
    clients.close_all()
    broker.stop()
    # What a stop between the rename and the removal leaves: the topic gone from the state,
    # its directory renamed.
    state = json.loads((broker.log_dir / "cluster.json").read_text())
    del state["topics"][t]
    (broker.log_dir / "cluster.json").write_text(json.dumps(state))
    doomed = broker.log_dir / f"{t}-0"
    doomed.rename(broker.log_dir / f"{t}-0.{'ab' * 16}-delete")
    broker.start()
    assert partition_dirs(broker, t) == []
    assert "finishing the deletion of a partition" in broker.log_text()


def test_with_an_authorizer_a_lost_cluster_state_fails_closed(start_broker):
    secured = {"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
               "allow.everyone.if.no.acl.found": "true", "num.partitions": 1}
    broker = start_broker(secured)
    t = clients.unique_topic()
    clients.produce_all(clients.producer(broker, acks="all"), t, [{"value": b"kept", "partition": 0}])
    clients.close_all()
    broker.stop()
    (broker.log_dir / "cluster.json").unlink()
    with pytest.raises(BrokerError, match="exited with code 1 before its ready line"):
        broker.start()
    assert "cluster.json is missing but" in broker.log_text()
    assert "an authorizer is configured: its ACLs were in that file" in broker.log_text()
    # Without the authorizer the topics are rebuilt from the directories.
    del broker.overrides["authorizer.class.name"]
    broker.start()
    got = clients.consume(broker, t, {0: 0}, {0: 1})
    assert [r.value for r in got[0]] == [b"kept"]


def test_a_log_start_checkpoint_that_does_not_parse_or_lies_stops_the_broker_naming_it(start_broker):
    broker = start_broker({"num.partitions": 1})
    t = clients.unique_topic()
    clients.produce_all(clients.producer(broker, acks="all"), t, [{"value": b"%d" % i, "partition": 0} for i in range(3)])
    clients.close_all()
    broker.stop()
    checkpoint = broker.log_dir.resolve() / f"{t}-0" / "log-start-offset"
    for text, says in [("garbage\n", "is not an offset"), ("1000\n", "the log start 1000 is past the log's end 3")]:
        checkpoint.write_text(text)
        with pytest.raises(BrokerError, match="exited with code 1 before its ready line"):
            broker.start()
        assert f"{checkpoint}: " in broker.log_text() and says in broker.log_text()
    # A checkpoint within the log is obeyed.
    checkpoint.write_text("1\n")
    broker.start()
    assert clients.watermarks(broker, t, 0) == (1, 3)


def test_log_lines_are_plain_off_a_terminal_and_json_when_asked(start_broker):
    """Off a terminal (here a pipe) the log has no colour codes; SHOAL_LOG_FORMAT=json makes
    each line one JSON object: timestamp, level, target and fields."""
    b = start_broker()
    b.stop()
    text = b.log_text()
    assert "stopping" in text and "\x1b[" not in text
    b.env = {"SHOAL_LOG_FORMAT": "json"}
    b.start()
    b.stop()
    second = b.log_text().split("==== start #2")[1]
    lines = [line[len("[err] "):] for line in second.splitlines() if line.startswith("[err] ")]
    assert lines, second
    events = [json.loads(line) for line in lines]
    assert any(e["level"] == "INFO" and e["fields"]["message"] == "stopping" for e in events), events
    assert all({"timestamp", "level", "target"} <= e.keys() for e in events)


def test_systemd_hears_when_the_broker_is_ready_and_when_it_stops(tmp_path, cores):
    """With NOTIFY_SOCKET set (a Type=notify unit, ops/shoal.service), the broker sends
    READY=1 once it serves, with its address as STATUS, and STOPPING=1 at SIGTERM."""
    with tempfile.TemporaryDirectory(prefix="sd") as short:  # a socket path fits in 108 bytes
        path = os.path.join(short, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(60)
        b = another(tmp_path, cores, "notified", {})
        b.env = {"NOTIFY_SOCKET": path}
        try:
            b.start()
            ready = sock.recv(4096).decode().splitlines()
            assert ready == ["READY=1", f"STATUS=listening on 127.0.0.1:{b.port}"], ready
            b.stop()
            assert sock.recv(4096).decode().splitlines() == ["STOPPING=1"]
        finally:
            b.close()
            sock.close()
