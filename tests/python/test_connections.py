"""Connections a client cannot hold on to: `connections.max.idle.ms` closes idle ones;
`max.connections.per.ip` (with its overrides) closes those past an address's limit;
`max.connections` makes accepting wait for a connection to close, as Kafka's acceptor does;
and a broker out of file descriptors keeps serving the connections it has, says so once,
and accepts again when descriptors free up."""

from __future__ import annotations

import contextlib
import os
import resource
import select
import selectors
import time

import pytest

import kafka_wire as kw


def answered(conn: kw.Conn, timeout: float = 10.0) -> bool:
    """An ApiVersions request on `conn` is answered within `timeout` (False: not answered)."""
    try:
        kw.parse_api_versions(conn.request(kw.API_VERSIONS, 0, kw.api_versions_v0(), timeout=timeout), 0)
        return True
    except TimeoutError:
        return False


@contextlib.contextmanager
def held(broker, count: int):
    """`count` raw connections, each answered once, closed at the end."""
    conns = [kw.Conn(broker.bootstrap) for _ in range(count)]
    try:
        assert all(answered(c) for c in conns)
        yield conns
    finally:
        for c in conns:
            c.close()


def refused(broker) -> None:
    """A new connection's request gets the connection closed."""
    with kw.Conn(broker.bootstrap) as conn:
        conn.send(kw.API_VERSIONS, 0, kw.api_versions_v0())
        conn.wait_closed(timeout=10)


def test_an_idle_connection_is_closed_and_a_busy_one_kept(start_broker):
    broker = start_broker({"connections.max.idle.ms": 1000})
    with kw.Conn(broker.bootstrap) as idle, kw.Conn(broker.bootstrap) as busy:
        assert answered(idle)
        # Requests 300 ms apart keep the busy one open well past the idle time.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert answered(busy)
            time.sleep(0.3)  # pacing the requests, not waiting for the broker
        idle.wait_closed(timeout=10)
        assert answered(busy)


def test_an_address_past_max_connections_per_ip_is_refused(start_broker):
    broker = start_broker({"max.connections.per.ip": 3})
    with held(broker, 3) as conns:
        refused(broker)
        conns.pop().close()
        # The broker sees the close when it reads it: until then a new connection is refused.
        deadline = time.monotonic() + 10
        while True:
            with kw.Conn(broker.bootstrap) as again:
                try:
                    if answered(again, timeout=5):
                        break
                except kw.Closed:
                    pass
            assert time.monotonic() < deadline, "no place came back after a connection closed"
    assert "connection refused: its address holds max.connections.per.ip" in broker.log_text()


def test_an_override_raises_one_addresss_limit(start_broker):
    broker = start_broker({"max.connections.per.ip": 1, "max.connections.per.ip.overrides": "127.0.0.1:4"})
    with held(broker, 4):
        refused(broker)


def test_max_connections_makes_accepting_wait_for_a_close(start_broker):
    broker = start_broker({"max.connections": 3})
    with held(broker, 3) as conns, kw.Conn(broker.bootstrap) as waiting:
        corr = waiting.send(kw.API_VERSIONS, 0, kw.api_versions_v0())
        # Not served while the broker holds three (the kernel has the connection queued).
        with pytest.raises(TimeoutError):
            waiting.recv_response(corr, timeout=2)
        conns.pop().close()
        kw.parse_api_versions(waiting.recv_response(corr, timeout=10), 0)


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_out_of_descriptors_the_broker_serves_what_it_has_and_recovers(start_broker, cores):
    broker = start_broker()
    baseline = open_descriptors(broker.pid)
    broker.stop()
    # Room for a handful of connections beyond what the broker holds when idle.
    limit = baseline + 5
    broker.limits = {resource.RLIMIT_NOFILE: (limit, limit)}
    broker.start()
    conns = [kw.Conn(broker.bootstrap) for _ in range(9)]
    try:
        served = [c for c in conns if answered(c, timeout=2)]
        stuck = [c for c in conns if c not in served]
        assert served and stuck, f"{len(served)} connections served with RLIMIT_NOFILE {limit}"
        broker.wait_for_stderr(r"cannot accept connections: serving the open ones")
        # Retried every 100 ms meanwhile, said once by each shard's acceptor.
        said = broker.log_text().count("cannot accept connections")
        assert said <= cores, f"said {said} times by {cores} shards in one episode"
        # The connections it has are still served.
        assert answered(served[0])
        # Descriptors free up: connections waiting in the backlogs are served (their
        # request from before is answered). Which ones depends on which shard's acceptor
        # retries first, so any of them may be.
        for c in served[1:]:
            c.close()
        freed = len(served) - 1
        deadline = time.monotonic() + 10
        answered_now: set = set()
        with selectors.DefaultSelector() as sel:
            for c in stuck:
                sel.register(c.sock, selectors.EVENT_READ, c)
            while len(answered_now) < freed:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(answered_now)} of {freed} waiting connections served"
                for key, _ in sel.select(left):
                    key.data.recv_frame(timeout=10)
                    answered_now.add(key.data)
                    sel.unregister(key.fileobj)
        broker.wait_for_stderr(r"accepting connections again")
    finally:
        for c in conns:
            c.close()
    # With every descriptor back, a new connection is served (a topic's logs would need
    # more descriptors than this limit leaves).
    with kw.Conn(broker.bootstrap) as fresh:
        assert answered(fresh)


def test_requests_past_the_shards_byte_budget_wait_unread(start_broker):
    """queued.max.request.bytes: with 1 MiB for one shard, a produce request of 1.5 MiB held
    before its answer (failpoint `produce::answer`, for its topic only) holds more than the
    budget, so a second one, on another connection and to a topic that is not held, is not
    read until the first is answered. Without the budget the second would be answered first."""
    from clients import create_topic, unique_topic
    held_topic, free_topic = unique_topic("held"), unique_topic("free")
    b = start_broker({"cores": 1, "queued.max.request.bytes": 1 << 20})
    for t in (held_topic, free_topic):
        create_topic(b, t, 1, config={"max.message.bytes": str(2 << 20)})
    b.stop()
    b.env = {"FAILPOINTS": f"produce::answer=return(3000@{held_topic})"}
    b.start()
    batch = kw.encode_batch([kw.Record(None, bytes(1_500_000))])
    with kw.Conn(b.bootstrap, timeout=30) as first, kw.Conn(b.bootstrap, timeout=30) as second:
        first_corr = first.send(kw.PRODUCE, 3, kw.produce_v3(held_topic, 0, batch))
        b.wait_for_stderr(r"failpoint: waiting")
        second_corr = second.send(kw.PRODUCE, 3, kw.produce_v3(free_topic, 0, batch))
        readable, _, _ = select.select([first.sock, second.sock], [], [], 30)
        assert first.sock in readable, "the second request was read past the budget and answered first"
        for conn, corr, t in ((first, first_corr, held_topic), (second, second_corr, free_topic)):
            res = kw.parse_produce_v3(conn.recv_response(corr))
            assert res[(t, 0)] == (0, 0), res
