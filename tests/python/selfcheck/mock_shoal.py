#!/usr/bin/env python3
"""Harness self-check only, never a stand-in for the broker in CI.

Behaves like `shoal serve --override ...` as far as the fixtures can tell (prints the ready line,
exits 0 on SIGTERM/SIGINT) but serves librdkafka's built-in mock cluster, which speaks Metadata,
Produce, Fetch and ListOffsets and keeps data in memory. Run the suite against it to check the
harness and the client-side logic of the tests while the real broker is not runnable:

    SHOAL_BIN=tests/python/selfcheck/mock_shoal.py .venv/bin/python -m pytest tests/python

Tests of the Admin APIs, configs, durability and bad input fail against it by design.
"""
import signal
import sys
import threading

from confluent_kafka import Producer


def main() -> int:
    if sys.argv[1:2] != ["serve"]:
        print("usage: mock_shoal.py serve [--override k=v]...", file=sys.stderr)
        return 2
    p = Producer({"test.mock.num.brokers": 1, "log_level": 3})
    broker = next(iter(p.list_topics(timeout=10).brokers.values()))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"shoal ready: listening on {broker.host}:{broker.port}", flush=True)
    while not stop.wait(0.5):
        p.poll(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
