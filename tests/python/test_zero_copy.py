"""The fetch path copies no record bytes in userspace: every record byte a consumer
receives leaves the broker through sendfile, and only response framing is written from
memory. Checked with the broker's own counters, read from its Prometheus endpoint."""

from __future__ import annotations

import re
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
