"""A full disk: the broker's log directory is a small tmpfs, mounted in a mount namespace this
test makes (the namespace's holder process keeps it alive across broker restarts). Produce
gets KAFKA_STORAGE_ERROR and the broker says so once per episode; DeleteRecords, DeleteTopics
and retention free space on the full disk; the broker serves again once space is free, and a
broker restarted on a full disk starts and serves reads."""

import pathlib
import re
import subprocess
import time

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

import kafka_wire as kw
from clients import admin, consume, create_topic, produce_all, producer, unique_topic, wait_futures, watermarks
from conftest import _die_with_parent

STORAGE_ERROR = 56
DISK_MB = 24
HOUR_MS = 3_600_000


class FullDisk:
    """A tmpfs of `size_mb` at `mount_point`, visible only inside the mount namespace of a
    holder process; brokers enter it with `wrapper`, the test reaches it through
    /proc/<holder>/root."""

    def __init__(self, mount_point: pathlib.Path, size_mb: int):
        mount_point.mkdir(parents=True, exist_ok=True)
        script = f"mount -t tmpfs -o size={size_mb}m shoal-test {mount_point} && echo mounted && exec cat"
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, preexec_fn=_die_with_parent)
        line = self.holder.stdout.readline()
        assert line == b"mounted\n", f"no tmpfs in a mount namespace: {line!r}"
        self.mount_point = mount_point
        self.wrapper = ["nsenter", f"--target={self.holder.pid}", "--mount", "--"]

    def path(self, inside: pathlib.Path) -> pathlib.Path:
        """`inside` (a path in the namespace) as this process can reach it."""
        return pathlib.Path(f"/proc/{self.holder.pid}/root") / inside.relative_to("/")

    def fill(self, name: str = "filler") -> None:
        """Writes a file until the tmpfs has no byte left."""
        with open(self.path(self.mount_point / name), "ab", buffering=0) as f:
            try:
                while True:
                    f.write(bytes(1 << 16))
            except OSError as e:
                assert e.errno == 28, e  # ENOSPC

    def free(self, name: str = "filler") -> None:
        self.path(self.mount_point / name).unlink()

    def close(self) -> None:
        self.holder.stdin.close()
        self.holder.wait(timeout=10)


@pytest.fixture
def disk(tmp_path):
    """A full-able disk at the first broker's log directory."""
    d = FullDisk(tmp_path / "broker0-data", DISK_MB)
    yield d
    d.close()


def produce_until_full(b, topic: str) -> int:
    """Produces 256 KiB batches (acks=all) until one gets KAFKA_STORAGE_ERROR; returns how
    many were acknowledged. Any other error fails."""
    batch = kw.encode_batch([kw.Record(None, bytes(256 << 10))])
    acked = 0
    with kw.Conn(b.bootstrap) as c:
        for _ in range(4 * DISK_MB * 4):
            res = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(topic, 0, batch, acks=-1)))
            error, _ = res[(topic, 0)]
            if error == STORAGE_ERROR:
                return acked
            assert error == 0, res
            acked += 1
    pytest.fail(f"{topic}: {acked} batches of 256 KiB on a {DISK_MB} MiB disk and it is not full")


def produce_error(b, topic: str) -> int:
    batch = kw.encode_batch([kw.Record(None, bytes(64 << 10))])
    with kw.Conn(b.bootstrap) as c:
        return kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(topic, 0, batch, acks=-1)))[(topic, 0)][0]


def test_space_is_freed_through_the_kafka_api_on_a_full_disk(start_broker, disk):
    b = start_broker({"num.partitions": 1}, wrapper=disk.wrapper)
    small_segments = {"segment.bytes": str(1 << 20)}
    first, second = unique_topic("full"), unique_topic("full")
    create_topic(b, first, 1, config=small_segments)
    create_topic(b, second, 1, config=small_segments)
    acked = produce_until_full(b, first)
    assert acked > 4
    disk.fill()  # the last bytes: small batches fail too
    # Every produce now fails alike, and the broker said so once.
    for _ in range(20):
        assert produce_error(b, first) == STORAGE_ERROR
    b.wait_for_stderr(r"disk is full")
    assert len(re.findall(r"disk is full", b.log_text())) == 1, b.log_tail(40)
    disk.free()
    disk.fill()
    # DeleteRecords frees the segments below the new start, on the full disk.
    _, high = watermarks(b, first, 0)
    a = admin(b)
    res = wait_futures(a.delete_records([TopicPartition(first, 0, high)]))
    assert all(r.low_watermark == high for r in res.values()), res
    # The broker serves again without a restart.
    assert produce_error(b, first) == 0
    assert produce_error(b, second) == 0
    # Full again; deleting a topic frees its space.
    produce_until_full(b, second)
    wait_futures(a.delete_topics([second], operation_timeout=20))
    assert produce_error(b, first) == 0


def test_retention_frees_space_on_a_full_disk(start_broker, disk):
    """The topic's retention is shortened on the full disk (the metadata write uses space set
    aside for it); retention then deletes the expired segments, though rolling the active one
    fails for want of space, and appends succeed again."""
    b = start_broker({"log.retention.check.interval.ms": 100}, wrapper=disk.wrapper)
    t = unique_topic("aged")
    create_topic(b, t, 1, config={"segment.bytes": str(1 << 20)})
    old = int(time.time() * 1000) - HOUR_MS
    produce_all(producer(b, acks="all"), t,
                [{"value": bytes(256 << 10), "timestamp": old + i, "partition": 0} for i in range(24)])
    disk.fill()
    assert produce_error(b, t) == STORAGE_ERROR
    resource = ConfigResource(ConfigResource.Type.TOPIC, t, incremental_configs=[
        ConfigEntry("retention.ms", "60000", incremental_operation=AlterConfigOpType.SET)])
    wait_futures(admin(b).incremental_alter_configs([resource]))
    deadline = time.monotonic() + 30
    while watermarks(b, t, 0)[0] == 0:
        assert time.monotonic() < deadline, "retention freed nothing on the full disk"
    # The log's start moves before the expired segments' files are gone and their space
    # is back (Kafka deletes them later still, after file.delete.delay.ms): until then an
    # append may still find the disk full.
    while (error := produce_error(b, t)) != 0:
        assert error == STORAGE_ERROR, error
        assert time.monotonic() < deadline, "appends failed after retention freed space"


def test_a_broker_restarted_on_a_full_disk_serves_reads(start_broker, disk):
    b = start_broker({"num.partitions": 1}, wrapper=disk.wrapper)
    kept, doomed = unique_topic("kept"), unique_topic("doomed")
    for t in (kept, doomed):
        create_topic(b, t, 1, config={"segment.bytes": str(1 << 20)})
    sent = produce_all(producer(b, acks="all"), kept, [{"value": b"v%d" % i, "partition": 0} for i in range(100)])
    produce_until_full(b, doomed)
    b.stop()
    disk.fill()
    b.start()
    got = consume(b, kept, {0: 0}, {0: 100})[0]
    assert [r.value for r in got] == [r.value for r in sent]
    assert produce_error(b, kept) == STORAGE_ERROR
    wait_futures(admin(b).delete_topics([doomed], operation_timeout=20))
    assert produce_error(b, kept) == 0
