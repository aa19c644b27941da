"""The crash-consistency walk: the broker is killed (SIGKILL, from a failpoint) at a named
point on each write path -- a produce's segment write and fdatasync, a roll's index files and
recovery point, retention's unlink and log-start checkpoint, compaction's output and swap, the
metadata file's rename -- while an idempotent producer writes with acks=all to a topic that
rolls, retention trims and the cleaner compacts, and topics are created and reconfigured.
After a restart without faults, every acknowledged record is served unless retention or
compaction removed it as configured, with its value; compaction kept each key's last
acknowledged record or a later one; every created topic exists; and everything served passes
the client's CRC check."""

from __future__ import annotations

import subprocess
import time

import pytest
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from clients import admin, consume_all, create_topic, producer, unique_topic

# The workload runs in rounds until the broker dies, for at most this long: retention and
# compaction reach their points in the shard's upkeep, every 100 ms but after the
# compactions before them, and a point met on a later pass (retention moving the log
# start a second time) needs records written after the first.
WORKLOAD_S = 40
# How long after the workload a point in the shard's upkeep may still be reached.
HOUSEKEEPING_GRACE_S = 5

# (failpoint, fault with the text a path must contain, hits let through first). `{log}` and
# `{compacted}` are the topics' names.
POINTS = [
    ("storage::write", "die@0.log", 30),
    ("storage::fdatasync", "die@{log}-0/", 10),
    ("storage::write", "die@.index", 0),
    ("storage::rename", "die@{log}-0/recovery-point-offset", 2),
    ("storage::unlink", "die@{log}-0/", 1),
    ("storage::rename", "die@{log}-0/log-start-offset", 1),
    ("storage::write", "die@.cleaned", 0),
    ("storage::rename", "die@.cleaned", 0),
    ("storage::rename", "die@cluster.json", 2),
]


def point_id(point) -> str:
    """`write-0.log-30`: the point, what the path contains, the hits let through."""
    text = point[1].split("@")[1].split("/")[-1] or "segment"
    return f"{point[0].split('::')[1]}-{text}-{point[2]}"


# Each point once, on one shard and on two in turn: the write paths are a shard's own, and
# both runtimes are walked without walking every point twice.
WALK = [(1 + i % 2, p) for i, p in enumerate(POINTS)]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("cores", "point"), WALK, indirect=["cores"],
                         ids=[f"cores{c}-{point_id(p)}" for c, p in WALK])
def test_a_crash_at_each_write_point_loses_nothing_acknowledged(start_broker, point):
    name, fault, skip = point[:3]
    b = start_broker({"log.retention.check.interval.ms": 100})
    log, compacted = unique_topic("walk"), unique_topic("walkc")
    create_topic(b, log, 1, {"segment.bytes": "1024", "retention.bytes": "4096"})
    create_topic(b, compacted, 1, {"cleanup.policy": "compact", "segment.bytes": "1024"})
    fault = fault.format(log=log, compacted=compacted)
    b.stop()
    b.env = {"FAILPOINTS": f"{name}={skip}*off->return({fault})" if skip else f"{name}=return({fault})"}
    b.start()

    acked: dict[tuple[str, int], tuple[bytes | None, bytes]] = {}
    created: list[str] = []

    def delivered(err, msg):
        if err is None:
            acked[(msg.topic(), msg.offset())] = (msg.key(), msg.value())

    p = producer(b, acks="all", enable_idempotence=True, linger_ms=0, message_timeout_ms=5000)
    a = admin(b)
    deadline = time.monotonic() + WORKLOAD_S
    r = 0
    while b.running and time.monotonic() < deadline:
        for i in range(10):
            p.produce(log, value=b"log %d.%d|" % (r, i) + bytes(150), partition=0, on_delivery=delivered)
            p.produce(compacted, key=b"k%d" % i, value=b"c %d.%d" % (r, i), partition=0, on_delivery=delivered)
        p.flush(10)
        if r % 10 == 9 and b.running:
            meta = f"{log}-meta-{r}"
            retention = ConfigResource(ConfigResource.Type.TOPIC, log, incremental_configs=[
                ConfigEntry("retention.bytes", str(4096 + r), incremental_operation=AlterConfigOpType.SET)])
            try:
                a.create_topics([NewTopic(meta, 1, 1)])[meta].result(10)
                created.append(meta)
                a.incremental_alter_configs([retention])[retention].result(10)
            except Exception:  # the broker died during the call
                assert not b.running
        r += 1
    p.flush(10)
    try:
        exited = b.proc.wait(HOUSEKEEPING_GRACE_S)
    except subprocess.TimeoutExpired:
        exited = None
    assert exited is not None, f"the workload never reached {name}={fault}"
    assert exited == -9, "the broker exited, but not from the failpoint's SIGKILL"
    b.expect_exit = True
    assert b.log_text().count("failpoint: killing the process") == 1

    b.env = {}
    b.start()
    served_log = {r.offset: r.value for r in consume_all(b, log, [0])[0]}
    served_compacted = {r.offset: (r.key, r.value) for r in consume_all(b, compacted, [0])[0]}
    low = min(served_log, default=None)
    for (topic, offset), (key, value) in sorted(acked.items()):
        if topic == log and low is not None and offset >= low:
            assert served_log.get(offset) == value, f"{log} offset {offset}: acknowledged, then lost or changed"
        if topic == compacted and offset in served_compacted:
            assert served_compacted[offset] == (key, value), f"{compacted} offset {offset} changed"
    last_acked: dict[bytes, int] = {}
    for (topic, offset), (key, _) in acked.items():
        if topic == compacted:
            last_acked[key] = max(offset, last_acked.get(key, -1))
    last_served: dict[bytes, int] = {}
    for offset, (key, _) in served_compacted.items():
        last_served[key] = max(offset, last_served.get(key, -1))
    for key, offset in last_acked.items():
        assert last_served.get(key, -1) >= offset, f"{compacted}: key {key!r} lost its last acknowledged record"
    listed = admin(b).list_topics(timeout=30).topics
    assert all(t in listed for t in created), "a created topic is gone"
    assert acked, "nothing was acknowledged before the crash"
