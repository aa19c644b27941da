"""Measures how long a scrape of the broker's /metrics takes with many partitions.

Not a test (speed is checked by measuring, never by timed tests): a measured run to report.

    cargo build --release
    SHOAL_BIN=target/release/shoal .venv/bin/python tests/python/measure_scrape.py --partitions 10000

Starts the broker (the test harness' Broker, cores=2 by default) on a temporary log dir,
creates the partitions in topics of 1,000, writes one record to every partition, then scrapes
/metrics repeatedly and prints the time per scrape and the size of the answer.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from conftest import Broker, shoal_bin  # noqa: E402

TOPIC_PARTITIONS = 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partitions", type=int, default=10_000)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--scrapes", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="shoal-scrape-") as tmp:
        broker = Broker(shoal_bin(), pathlib.Path(tmp), "broker", args.cores, {})
        broker.start(timeout=300)
        try:
            measure(broker, args)
        finally:
            broker.stop(timeout=300)
            broker.close()


def measure(broker: Broker, args) -> None:
    conf = {"bootstrap.servers": broker.bootstrap, "broker.address.family": "v4"}
    admin = AdminClient(conf)
    topics = []
    left = args.partitions
    while left > 0:
        n = min(left, TOPIC_PARTITIONS)
        topics.append((f"scrape-{len(topics)}", n))
        left -= n
    t0 = time.monotonic()
    for name, n in topics:
        for fut in admin.create_topics([NewTopic(name, n, 1)], operation_timeout=300).values():
            fut.result(timeout=300)
    print(f"created {args.partitions} partitions in {len(topics)} topics in {time.monotonic() - t0:.1f}s")
    producer = Producer({**conf, "linger.ms": 50})
    for name, n in topics:
        for p in range(n):
            while True:
                try:
                    producer.produce(name, value=b"x" * 100, partition=p)
                    break
                except BufferError:
                    producer.poll(0.1)
    assert producer.flush(300) == 0, "records left undelivered"
    print(f"one record in each partition after {time.monotonic() - t0:.1f}s")

    address = broker.log_text().split("shoal metrics: listening on ")[1].split()[0]
    times, size = [], 0
    for _ in range(args.scrapes):
        start = time.perf_counter()
        with urllib.request.urlopen(f"http://{address}/metrics", timeout=60) as r:
            body = r.read()
        times.append(time.perf_counter() - start)
        size = len(body)
    lines = body.count(b"\n")
    print(f"{args.scrapes} scrapes of {size / 1e6:.2f} MB ({lines} lines), cores={args.cores}, {broker.binary}:")
    print(f"  min {min(times) * 1e3:.1f} ms, median {statistics.median(times) * 1e3:.1f} ms, "
          f"max {max(times) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
