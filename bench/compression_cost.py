#!/usr/bin/env python3
"""What a topic's compression.type costs the broker: produce lz4-compressed batches with
confluent-kafka (librdkafka) to a topic that keeps them as sent (compression.type=producer)
and to topics the broker recompresses them for (zstd, gzip), on one broker, in interleaved
rounds so the machine's drift hits each alike.

    SHOAL_BIN=target/release/shoal .venv/bin/python bench/compression_cost.py --rounds 3 --megabytes 256

Records are 1 KiB of text that compresses about 4:1, sent with acks=1 and 1 MiB batches to
a fresh one-partition topic per run. The broker's CPU seconds over the produce (from
/proc/PID/stat) are divided by the uncompressed bytes produced. Prints each run, the
medians, and each recompressing topic's ratio to `producer`.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from tls_cost import Broker, cpu_seconds  # noqa: E402

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

RECORD = 1024
TARGETS = ["producer", "zstd", "gzip"]


def values(count: int) -> list[bytes]:
    """Records of words drawn from a small vocabulary: text-like, about 4:1 under lz4."""
    rng = random.Random(7)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randrange(3, 9)))
             for _ in range(512)]
    out = []
    for _ in range(count):
        text = b" ".join(rng.choice(words) for _ in range(RECORD // 4))
        out.append(text[:RECORD])
    return out


def run(broker: Broker, target: str, megabytes: int, n: int, records: list[bytes]) -> dict:
    conf = {"bootstrap.servers": broker.bootstrap}
    topic = f"compression-{target}-{n}-{time.monotonic_ns()}"
    admin = AdminClient(conf)  # kept alive until its answer comes
    admin.create_topics([NewTopic(topic, 1, 1, config={"compression.type": target})])[topic].result(30)
    count = megabytes * 1024 * 1024 // RECORD
    p = Producer({**conf, "acks": 1, "linger.ms": 5, "batch.size": 1 << 20, "compression.type": "lz4",
                  "queue.buffering.max.kbytes": 1 << 20})
    start_cpu, start = cpu_seconds(broker.proc.pid), time.monotonic()
    for i in range(count):
        while True:
            try:
                p.produce(topic, records[i % len(records)], partition=0)
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(300) == 0
    seconds, cpu = time.monotonic() - start, cpu_seconds(broker.proc.pid) - start_cpu
    return {"mb_s": count * RECORD / 1e6 / seconds, "cpu_per_gb": cpu / (count * RECORD / 1e9)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--megabytes", type=int, default=256)
    args = parser.parse_args()
    binary = os.environ.get("SHOAL_BIN", "target/release/shoal")
    records = values(4096)
    with tempfile.TemporaryDirectory() as folder:
        broker = Broker(binary, pathlib.Path(folder), "broker", {"listeners": "PLAINTEXT://127.0.0.1:0"})
        try:
            results: dict[str, list[dict]] = {t: [] for t in TARGETS}
            for n in range(args.rounds):
                order = TARGETS if n % 2 == 0 else list(reversed(TARGETS))
                for target in order:
                    r = run(broker, target, args.megabytes, n, records)
                    results[target].append(r)
                    print(f"round {n} {target:9} {r['mb_s']:7.1f} MB/s {r['cpu_per_gb']:6.2f} cpu-s/GB", flush=True)
        finally:
            broker.stop()
    medians = {t: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for t, rs in results.items()}
    for target, m in medians.items():
        print(f"median {target:9} {m['mb_s']:7.1f} MB/s {m['cpu_per_gb']:6.2f} cpu-s/GB")
    base = medians["producer"]
    for target in TARGETS[1:]:
        m = medians[target]
        print(f"{target} / producer: throughput {m['mb_s'] / base['mb_s']:.2f}x, "
              f"CPU per GB {m['cpu_per_gb'] / base['cpu_per_gb']:.2f}x")


if __name__ == "__main__":
    main()
