"""Incremental cooperative rebalancing (KIP-429) with confluent-kafka's cooperative-sticky
assignor, and the same with KIP-848's consumer protocol: members join and leave one after
another, and after each change the group
converges within the session and rebalance timeouts to a balanced assignment, every
partition owned once; no partition is ever given to a member before the member that
held it revoked it (the callbacks' order, across all members, is checked); and a member
that stays keeps the partitions it still owns (sticky), only losing what moves."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer

from clients import base_conf, create_topic, unique_topic
from conftest import on_cores

PARTITIONS = 6
CONVERGE_S = 30.0


class Member(threading.Thread):
    """A cooperative-sticky member polling on its own thread; its rebalance callbacks go
    to the shared `Ledger` in the order they run."""

    def __init__(self, broker, group: str, topic: str, name: str, ledger: Ledger, protocol: dict):
        super().__init__(daemon=True, name=name)
        self.c = Consumer({**base_conf(broker), "group.id": group, "auto.offset.reset": "earliest", **protocol})
        self.ledger, self.topic, self.stopping = ledger, topic, threading.Event()

    def run(self):
        self.c.subscribe([self.topic], on_assign=lambda c, ps: self.ledger.assigned(self.name, ps),
                         on_revoke=lambda c, ps: self.ledger.revoked(self.name, ps),
                         on_lost=lambda c, ps: self.ledger.revoked(self.name, ps))
        while not self.stopping.is_set():
            self.c.poll(0.1)
        self.c.close()  # leaves the group (its revocation runs first)

    def stop(self):
        self.stopping.set()
        self.join(30)
        assert not self.is_alive(), f"{self.name} did not close"


class Ledger:
    """Who owns which partition, from the callbacks; a partition assigned while another
    member still owns it is recorded as a violation."""

    def __init__(self):
        self.lock = threading.Lock()
        self.owner: dict[int, str] = {}
        self.violations: list[str] = []

    def assigned(self, member: str, partitions):
        with self.lock:
            for tp in partitions:
                held = self.owner.get(tp.partition)
                if held is not None and held != member:
                    self.violations.append(f"{tp.partition} given to {member} while {held} owns it")
                self.owner[tp.partition] = member

    def revoked(self, member: str, partitions):
        with self.lock:
            for tp in partitions:
                if self.owner.get(tp.partition) == member:
                    del self.owner[tp.partition]

    def by_member(self) -> dict[str, set[int]]:
        with self.lock:
            out: dict[str, set[int]] = {}
            for p, m in self.owner.items():
                out.setdefault(m, set()).add(p)
            return out


def converged(ledger: Ledger, members: list[str]) -> dict[str, set[int]]:
    """Waits until every partition is owned by one of `members`, evenly."""
    deadline = time.monotonic() + CONVERGE_S
    while time.monotonic() < deadline:
        owned = ledger.by_member()
        sizes = sorted(len(owned.get(m, ())) for m in members)
        if set(owned) <= set(members) and sum(sizes) == PARTITIONS and sizes[-1] - sizes[0] <= 1:
            return owned
        time.sleep(0.1)
    raise AssertionError(f"no balanced assignment over {members} within {CONVERGE_S} s: {ledger.by_member()}")


# The classic protocol with the cooperative-sticky assignor, and KIP-848's consumer
# protocol, whose assignments are incremental too (the broker's uniform assignor).
PROTOCOLS = {
    "classic": {"partition.assignment.strategy": "cooperative-sticky", "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500},
    "consumer": {"group.protocol": "consumer"},
}


@on_cores(2)
@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_members_joining_and_leaving_converge_with_revocation_before_reassignment(start_broker, protocol):
    # KIP-848 members heartbeat every second here (Kafka's default, 5 s, only slows the
    # test down: each change takes a few heartbeats to reconcile).
    broker = start_broker({"group.consumer.min.heartbeat.interval.ms": 500,
                           "group.consumer.heartbeat.interval.ms": 1000})
    topic, group = unique_topic("coop"), unique_topic("coop-g")
    create_topic(broker, topic, PARTITIONS)
    ledger = Ledger()
    members: dict[str, Member] = {}

    def start(name: str):
        members[name] = Member(broker, group, topic, name, ledger, PROTOCOLS[protocol])
        members[name].start()

    try:
        start("a")
        assert converged(ledger, ["a"]) == {"a": set(range(PARTITIONS))}
        for name, live in [("b", ["a", "b"]), ("c", ["a", "b", "c"])]:
            before = ledger.by_member()
            start(name)
            after = converged(ledger, live)
            # Sticky: a member that stays keeps what it still owns, and only gives up.
            for kept in before:
                assert after[kept] <= before[kept], (before, after)
        members.pop("b").stop()
        converged(ledger, ["a", "c"])
        start("d")
        converged(ledger, ["a", "c", "d"])
        assert ledger.violations == []
    finally:
        for m in members.values():
            m.stopping.set()
        for m in members.values():
            m.join(30)
