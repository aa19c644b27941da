#!/usr/bin/env python3
"""What replication costs: acks=all produce to a topic of replication factor 3 against
one of replication factor 1, on the same local three-node cluster (ops/cluster.sh), in
interleaved pairs so the machine's drift hits both alike.

    CLUSTER_BIN=target/release/shoal python3 bench/replication_cost.py --pairs 3 --seconds 10

Each run is `shoal bench produce` (acks=all, closed loop, or open loop with --rate for
latency) against one topic; the brokers' CPU seconds (all three processes, from
/proc/PID/stat) over the run are divided by the bytes produced. Prints, per run and as
medians, MB/s, broker CPU seconds per GB produced, and p99 produce latency, and the
RF 3 / RF 1 ratios. Runs in a fresh CLUSTER_DIR (default: a temporary directory, removed
at the end); each run's topic is deleted after it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "ops" / "cluster.sh"


def cluster(*args: str, env: dict) -> str:
    return subprocess.run([str(SCRIPT), *args], env=env, check=True, capture_output=True, text=True).stdout


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU seconds of the processes so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def create_everywhere(binary: str, ports: list[int], topic: str, rf: int, partitions: int) -> None:
    """Creates the topic, then waits until every node lists it: the bench's producers
    stop at the first error, and a leader that has not applied the creation yet answers
    UNKNOWN_TOPIC_OR_PARTITION (a Kafka client would retry)."""
    created = subprocess.run([binary, "topics", "--bootstrap-server", f"127.0.0.1:{ports[0]}", "--create",
                              "--topic", topic, "--partitions", str(partitions), "--replication-factor", str(rf)],
                             capture_output=True, text=True)
    if created.returncode != 0:
        raise SystemExit(f"creating {topic}: {created.stderr}")
    deadline = time.monotonic() + 30
    for port in ports:
        while subprocess.run([binary, "topics", "--bootstrap-server", f"127.0.0.1:{port}", "--describe",
                              "--topic", topic], capture_output=True, text=True).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"node on port {port} does not list {topic}")
            time.sleep(0.1)


def bench(binary: str, bootstrap: str, topic: str, rf: int, args, report: pathlib.Path) -> dict:
    cmd = [binary, "bench", "produce", "--bootstrap-server", bootstrap, "--topic", topic,
           "--replication-factor", str(rf), "--partitions", str(args.partitions), "--acks", "all",
           "--producers", str(args.producers), "--duration", str(args.seconds),
           "--batch-size", str(args.batch_size), "--json", str(report)]
    if args.rate:
        cmd += ["--rate", str(args.rate)]
    ran = subprocess.run(cmd, capture_output=True, text=True)
    if ran.returncode != 0:
        raise SystemExit(f"shoal bench failed (exit {ran.returncode}):\n{ran.stdout}{ran.stderr}")
    return json.loads(report.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=262144)
    parser.add_argument("--rate", type=int, default=0, help="records/s (open loop); 0: closed loop")
    args = parser.parse_args()

    binary = os.environ.get("CLUSTER_BIN", str(ROOT / "target" / "release" / "shoal"))
    own_dir = not os.environ.get("CLUSTER_DIR")
    work = pathlib.Path(os.environ.get("CLUSTER_DIR") or tempfile.mkdtemp(prefix="shoal-replication-"))
    env = {**os.environ, "CLUSTER_BIN": binary, "CLUSTER_DIR": str(work)}
    client_port = int(env.get("CLUSTER_CLIENT_PORT", "9092"))
    bootstrap = f"127.0.0.1:{client_port}"
    ports = [client_port + i for i in range(3)]
    cluster("start", "3", env=env)
    try:
        pids = [int((work / f"node-{i}.pid").read_text()) for i in (1, 2, 3)]
        # Every broker registered and unfenced before a topic of three replicas is made.
        deadline = time.monotonic() + 60
        while True:
            probe = subprocess.run([binary, "topics", "--bootstrap-server", bootstrap, "--create",
                                        "--topic", "rf3-probe", "--partitions", "1", "--replication-factor", "3"],
                                       capture_output=True, text=True)
            if probe.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        rows = {1: [], 3: []}
        for pair in range(args.pairs):
            for rf in (1, 3):
                report = work / f"rf{rf}-{pair}.json"
                create_everywhere(binary, ports, f"rf{rf}-{pair}", rf, args.partitions)
                # Not measured: a new topic's followers may ask before its leader knows it
                # and wait out the fetch backoff (1 s), which holds acks=all that long.
                warm = argparse.Namespace(**{**vars(args), "seconds": 2})
                bench(binary, bootstrap, f"rf{rf}-{pair}", rf, warm, report)
                before = cpu_seconds(pids)
                result = bench(binary, bootstrap, f"rf{rf}-{pair}", rf, args, report)
                used = cpu_seconds(pids) - before
                flow = result["produce"]
                row = {
                    "mb_per_s": flow["mb_per_s"],
                    "cpu_s_per_gb": used / (flow["bytes"] / 1e9),
                    "p99_ms": (flow.get("latency") or {}).get("p99_ms"),
                }
                rows[rf].append(row)
                # Its data goes, so runs at a GB/s do not fill the disk.
                subprocess.run([binary, "topics", "--bootstrap-server", bootstrap, "--delete",
                                "--topic", f"rf{rf}-{pair}"], capture_output=True, text=True)
                print(f"pair {pair} RF {rf}: {row['mb_per_s']:.1f} MB/s, {row['cpu_s_per_gb']:.1f} broker CPU s/GB, "
                      f"p99 {row['p99_ms']} ms", flush=True)
        med = {rf: {k: statistics.median(r[k] for r in rows[rf] if r[k] is not None) for k in rows[rf][0]}
               for rf in rows}
        for rf in (1, 3):
            m = med[rf]
            print(f"median RF {rf}: {m['mb_per_s']:.1f} MB/s, {m['cpu_s_per_gb']:.1f} CPU s/GB, p99 {m['p99_ms']:.1f} ms")
        print(f"RF 3 / RF 1: throughput {med[3]['mb_per_s'] / med[1]['mb_per_s']:.2f}x, "
              f"CPU per GB {med[3]['cpu_s_per_gb'] / med[1]['cpu_s_per_gb']:.2f}x, "
              f"p99 {med[3]['p99_ms'] / med[1]['p99_ms']:.2f}x")
    finally:
        cluster("stop", env=env)
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
