"""A network partition: three brokers, each in a network namespace of its own, and the
clients in a fourth, joined by a bridge in a fifth (all made by the test with `ip netns`
and veth pairs, and removed after it). The leader of a replicated partition is cut off
from the other two brokers (blackhole routes both ways), while the clients still reach
every broker. The majority elects another leader and an idempotent acks=all producer
carries on with it. The old leader acknowledges nothing its followers did not copy (a
producer that reaches only it gets no acknowledgement), and once cut off for a session
it takes itself for fenced and stops leading, so clients go to the new leader. After healing, it
truncates what it appended alone, catches up and rejoins the ISR; no acknowledged record
is lost or duplicated and the three copies are equal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import pathlib
import threading

import pytest

from clients import unique_topic
from conftest import shoal_bin
from test_quorum import wait_for
from test_replication import log_bytes

BROKERS = [1, 2, 3]
# Long enough for a producer to reach the cut-off leader before it knows.
SESSION_MS = 8000
CLIENT = "c"
SUBNET = "10.77.0"
HELPER = pathlib.Path(__file__).with_name("netns_client.py")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class Network:
    """Namespaces for `nodes` on one bridge; node n of the brokers is SUBNET.n, the client
    SUBNET.100."""

    def __init__(self, nodes: list[str]):
        self.prefix = f"shoal{os.getpid()}-"
        self.names: list[str] = []
        hub = self._add("hub")
        ip("-n", hub, "link", "add", "br0", "type", "bridge")
        ip("-n", hub, "link", "set", "br0", "up")
        for node in nodes:
            ns = self._add(node)
            ip("-n", hub, "link", "add", f"v{node}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            ip("-n", hub, "link", "set", f"v{node}", "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{self.address(node)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")

    def _add(self, node: str) -> str:
        ns = self.prefix + node
        ip("netns", "add", ns)
        self.names.append(ns)
        ip("-n", ns, "link", "set", "lo", "up")
        return ns

    def address(self, node) -> str:
        return f"{SUBNET}.{100 if str(node) == CLIENT else node}"

    def run_in(self, node) -> list[str]:
        return ["ip", "netns", "exec", self.prefix + str(node)]

    def _routes(self, action: str, a, others) -> None:
        for b in others:
            ip("-n", self.prefix + str(a), "route", action, "blackhole", f"{self.address(b)}/32")
            ip("-n", self.prefix + str(b), "route", action, "blackhole", f"{self.address(a)}/32")

    def cut(self, a, others) -> None:
        """No packet between `a` and any of `others`, either way."""
        self._routes("add", a, others)

    def heal(self, a, others) -> None:
        self._routes("del", a, others)

    def close(self) -> None:
        for ns in reversed(self.names):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


class ClientProcess:
    """netns_client.py in the client namespace; its JSON lines collected as they come."""

    def __init__(self, network: Network, *args: str):
        self.proc = subprocess.Popen([*network.run_in(CLIENT), sys.executable, str(HELPER), *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.acked: list[tuple[int, int, str]] = []
        self.records: list[tuple[int, int, str]] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            item = json.loads(line)
            with self.lock:
                if "acked" in item:
                    self.acked.append(tuple(item["acked"]))
                elif "record" in item:
                    self.records.append(tuple(item["record"]))
                else:
                    self.errors.append(item["error"])

    def count(self) -> int:
        with self.lock:
            return len(self.acked)

    def finish(self, timeout: float = 300) -> None:
        """Closes its stdin (a producer flushes and exits) and waits for it."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        assert self.proc.wait(timeout=timeout) == 0
        self.reader.join(timeout=30)


@pytest.fixture
def network():
    net = Network([*map(str, BROKERS), CLIENT])
    yield net
    net.close()


def partition_0(network: Network, bootstrap: str, topic: str) -> tuple[int, list[int]] | None:
    """(leader, sorted ISR) of the topic's partition 0 as the brokers of `bootstrap` say."""
    cp = subprocess.run([*network.run_in(CLIENT), str(shoal_bin()), "topics", "--bootstrap-server", bootstrap,
                         "--describe", "--topic", topic, "--request-timeout-ms", "5000"],
                        capture_output=True, text=True, timeout=60)
    for line in cp.stdout.splitlines():
        fields = dict(f.split(": ", 1) for f in line.strip().split("\t") if ": " in f)
        if fields.get("Partition") == "0":
            leader = -1 if fields["Leader"] == "none" else int(fields["Leader"])
            return leader, sorted(int(b) for b in fields["Isr"].split(","))
    return None


# Two shards a broker; once is enough for this test.
@pytest.mark.parametrize("cores", [2], ids=["cores2"])
@pytest.mark.timeout(300)
def test_a_leader_cut_off_from_the_majority_acknowledges_nothing_and_truncates_after_healing(network, start_broker):
    voters = ",".join(f"{i}@{network.address(i)}:9093" for i in BROKERS)
    by_id = {}
    for i in BROKERS:
        a = network.address(i)
        by_id[i] = start_broker({
            "node.id": i, "controller.quorum.voters": voters, "controller.listener.names": "CONTROLLER",
            "listeners": f"PLAINTEXT://{a}:9092,CONTROLLER://{a}:9093",
            "broker.session.timeout.ms": SESSION_MS,
        }, wrapper=network.run_in(i))
    everyone = ",".join(f"{network.address(i)}:9092" for i in BROKERS)
    topic = unique_topic("cut")
    create = [*network.run_in(CLIENT), str(shoal_bin()), "topics", "--bootstrap-server", everyone, "--create",
              "--if-not-exists", "--topic", topic, "--partitions", "1", "--replication-factor", "3",
              "--config", "min.insync.replicas=2"]
    # Refused (INVALID_REPLICATION_FACTOR) until the three brokers are registered.
    wait_for("the topic created on three brokers",
             lambda: subprocess.run(create, capture_output=True, timeout=60).returncode == 0)
    leader = wait_for("a full ISR", lambda: (lambda p: p[0] if p and p[1] == BROKERS else None)(
        partition_0(network, everyone, topic)))

    writer = ClientProcess(network, "produce", everyone, topic, "message.timeout.ms=120000")
    try:
        wait_for("the producer writing", lambda: writer.count() > 300)
        others = [i for i in BROKERS if i != leader]
        majority = ",".join(f"{network.address(i)}:9092" for i in others)
        network.cut(leader, others)
        # For a session the old leader does not know it is cut off: a producer that
        # reaches only it has its records appended there, and never acknowledged.
        alone = ClientProcess(network, "produce", f"{network.address(leader)}:9092", topic,
                              "message.timeout.ms=2000", "enable.idempotence=false")
        wait_for("the cut-off leader's producer timing out", lambda: alone.errors, deadline_s=SESSION_MS / 1000)
        alone.finish()
        assert alone.acked == [], alone.acked[:5]
        new = wait_for("another leader elected by the majority", lambda: (lambda p: p[0] if p and p[0] in others
                                                                          else None)(
            partition_0(network, majority, topic)))
        # The old leader, cut off for a session, takes itself for fenced and stops
        # leading: clients asking it are sent to the new leader.
        by_id[leader].wait_for_stderr("cut off from the metadata quorum")
        before = writer.count()
        wait_for(f"the producer carrying on with broker {new}", lambda: writer.count() > before + 300)

        network.heal(leader, others)
        # In touch again only once it holds what the quorum committed meanwhile: its
        # metadata then names the new leader, never itself on the old epoch.
        by_id[leader].wait_for_stderr("back in touch with the metadata quorum", timeout=90)
        assert partition_0(network, f"{network.address(leader)}:9092", topic)[0] == new
        # It follows the new leader, which tells it where their logs part: it cuts what
        # it appended alone.
        by_id[leader].wait_for_stderr("truncating where the leader's log parts", timeout=90)
        wait_for(f"broker {leader} back in the ISR", lambda: (lambda p: p if p and p[1] == BROKERS else None)(
            partition_0(network, everyone, topic)), deadline_s=90)
        before = writer.count()
        wait_for("the producer writing after the healing", lambda: writer.count() > before + 300)
    finally:
        writer.finish()
    assert not writer.errors, writer.errors[:5]

    reader = ClientProcess(network, "consume", everyone, topic, "0")
    reader.finish()
    stored = {(p, o): v for p, o, v in reader.records}
    values = [v for _, _, v in reader.records]
    assert len(values) == len(set(values)), "a record stored twice"
    for p, o, v in writer.acked:
        assert stored.get((p, o)) == v, f"acknowledged {v} at {p}/{o} is not there"
    wait_for("the three copies equal", lambda: len({log_bytes(b, topic, 0) for b in by_id.values()}) == 1)
