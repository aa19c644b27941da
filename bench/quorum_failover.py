#!/usr/bin/env python3
"""Time from killing the metadata quorum's leader (SIGKILL) to the survivors agreeing on
a new one, over repeated kills, on a local cluster run by ops/cluster.sh.

    CLUSTER_BIN=target/release/shoal python3 bench/quorum_failover.py --kills 20

Each round: wait until every node names the same leader, SIGKILL it, poll the other
nodes' DescribeQuorum (shoal metadata-quorum describe --status) every 20 ms until they name the
same other node at a higher epoch, restart the killed node and wait until it follows.
Prints each time and the distribution. Runs in a fresh CLUSTER_DIR (default: a temporary
directory) on the ports ops/cluster.sh uses unless CLUSTER_*_PORT say otherwise.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "ops" / "cluster.sh"


def run(env: dict, *args: str) -> str:
    cp = subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=180)
    if cp.returncode != 0:
        sys.exit(f"cluster.sh {' '.join(args)} failed: {cp.stdout}{cp.stderr}")
    return cp.stdout


def status(env: dict, port: int) -> tuple[int, int] | None:
    cp = subprocess.run([env["CLUSTER_BIN"], "metadata-quorum", "--bootstrap-server", f"127.0.0.1:{port}",
                         "--request-timeout-ms", "2000", "describe", "--status"], capture_output=True, text=True)
    if cp.returncode != 0:
        return None
    leader = re.search(r"LeaderId:\s+(-?\d+)", cp.stdout)
    epoch = re.search(r"LeaderEpoch:\s+(\d+)", cp.stdout)
    return (int(leader.group(1)), int(epoch.group(1))) if leader and epoch else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("CLUSTER_BIN", str(ROOT / "target" / "release" / "shoal"))
    env.setdefault("CLUSTER_DIR", tempfile.mkdtemp(prefix="shoal-failover-"))
    base = int(env.get("CLUSTER_CLIENT_PORT", "9092"))
    ports = {i: base + i - 1 for i in range(1, args.nodes + 1)}
    run(env, "start", str(args.nodes))
    times = []
    try:
        for round_ in range(args.kills):
            # Every node names the same leader: the cluster is whole again.
            while True:
                seen = {status(env, p) for p in ports.values()}
                if len(seen) == 1 and None not in seen and next(iter(seen))[0] != -1:
                    (leader, epoch), = seen
                    break
                time.sleep(0.02)
            # The clock starts at the signal: the killed process takes a while longer to be
            # gone (cluster.sh kill waits for that, below).
            pid = int((pathlib.Path(env["CLUSTER_DIR"]) / f"node-{leader}.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            others = [p for i, p in ports.items() if i != leader]
            while True:
                seen = {status(env, p) for p in others}
                if len(seen) == 1:
                    (new, new_epoch), = seen
                    if new not in (leader, -1) and new_epoch > epoch:
                        break
                time.sleep(0.02)
            elapsed = (time.monotonic() - killed_at) * 1000
            times.append(elapsed)
            print(f"kill {round_ + 1}: node {leader} -> node {new} in {elapsed:.0f} ms", flush=True)
            run(env, "kill", str(leader))
            run(env, "restart", str(leader))
    finally:
        run(env, "stop")
    q = statistics.quantiles(times, n=20)
    print(f"failover over {len(times)} kills: min {min(times):.0f} ms, median {statistics.median(times):.0f} ms, "
          f"p95 {q[18]:.0f} ms, max {max(times):.0f} ms")


if __name__ == "__main__":
    main()
