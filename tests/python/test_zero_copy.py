"""The fetch path copies no record bytes in userspace: every record byte a consumer
receives leaves the broker through sendfile, and only response framing is written from
memory. Checked with the broker's own counters, read from its Prometheus endpoint."""

from __future__ import annotations

import re
import socket
import urllib.request

from clients import consume_all, create_topic, produce_all, producer, unique_topic

RECORDS = 4000
VALUE_BYTES = 1000


def metrics(broker) -> dict[str, float]:
    m = re.search(r"shoal metrics: listening on (\S+)", broker.log_text())
    assert m, "the broker printed no metrics address"
    text = urllib.request.urlopen(f"http://{m.group(1)}/metrics", timeout=10).read().decode()
    return {name: float(value) for name, value in re.findall(r"^(\w+) (\S+)$", text, re.M)}


def test_record_bytes_leave_through_sendfile_only(broker):
    topic = unique_topic("zc")
    create_topic(broker, topic, partitions=2)
    records = [{"key": b"k%d" % i, "value": bytes([i % 251]) * VALUE_BYTES} for i in range(RECORDS)]
    produce_all(producer(broker, linger_ms=20, compression_type="none"), topic, records)
    before = metrics(broker)
    got = consume_all(broker, topic, [0, 1])
    after = metrics(broker)
    assert sum(len(v) for v in got.values()) == RECORDS
    sent = after["shoal_fetch_sendfile_bytes_total"] - before["shoal_fetch_sendfile_bytes_total"]
    framing = after["shoal_fetch_framing_bytes_total"] - before["shoal_fetch_framing_bytes_total"]
    # Every value byte went out by sendfile (batches add their own headers on top) ...
    assert sent >= RECORDS * VALUE_BYTES, (sent, framing)
    # ... while what was written from memory is framing: a small fraction of it.
    assert framing < sent / 100, (sent, framing)


def test_consumers_that_stop_reading_hold_up_no_other(broker):
    """Sixteen raw connections each ask for 16 MiB and never read: their sends wait for room
    that never comes. A real consumer with a small socket buffer (so its own sends wait for
    room often) still reads the whole topic. While the waits were poll(2) calls on one
    blocking thread per shard, each of its waits queued behind the stalled ones (a second
    each) and it could not finish in time."""
    import kafka_wire as kw
    from clients import consume
    topic = unique_topic("stall")
    create_topic(broker, topic, partitions=1)
    value = bytes(100 << 10)
    produce_all(producer(broker, linger_ms=20), topic, [{"value": value, "partition": 0}] * 160)
    stalled = [kw.Conn(broker.bootstrap) for _ in range(16)]
    try:
        for conn in stalled:
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            conn.send(kw.FETCH, 4, kw.fetch_v4(topic, 0, 0, max_wait_ms=0, max_bytes=16 << 20,
                                               partition_max_bytes=16 << 20))
        got = consume(broker, topic, {0: 0}, {0: 160}, socket_receive_buffer_bytes=16384,
                      max_partition_fetch_bytes=8 << 20, fetch_max_bytes=16 << 20)
        assert len(got[0]) == 160 and all(r.value == value for r in got[0])
    finally:
        for conn in stalled:
            conn.close()
