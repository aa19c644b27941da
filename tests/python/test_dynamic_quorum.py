"""KIP-853's dynamic metadata quorum: the voters are the log's, not
`controller.quorum.voters`. Three combined nodes name only the first one's controller
listener in `controller.quorum.bootstrap.servers`; the first is formatted as the only
voter (`shoal format --standalone`, Kafka's `kafka-storage.sh format --standalone`), the
other two to join (`--no-initial-controllers`), and start as observers. `shoal
metadata-quorum add-controller` and `remove-controller` (kafka-metadata-quorum.sh's
commands, AddRaftVoter and RemoveRaftVoter) grow the quorum to three voters, take the
dead first voter out, bring it back, and remove the leader itself. Clients: confluent-kafka (librdkafka) produces and
reads across it all; the quorum is watched with `shoal metadata-quorum describe`."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import uuid

import pytest
from confluent_kafka.admin import NewTopic

from clients import consume_all, produce_all, producer, unique_topic, wait_futures
import kafka_wire as kw
from conftest import free_ports, on_cores, shoal_bin
from test_conformance_cluster import (METADATA_LOG, NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT, add_raft_voter, describe_quorum,
                                      remove_raft_voter)
from test_quorum import TOOL_TIMEOUT_S, agreed_leader, describe_cluster, status, wait_for
from test_replication import cluster_admin, full_isr
from test_transactions_v2 import FINALIZED, SUPPORTED, features

NODES = (1, 2, 3)
# A change of the voters waits up to 30 s for its commit on the broker.
CHANGE_TIMEOUT_S = 45.0


def quorum_tool(b, *args: str, config=None) -> subprocess.CompletedProcess:
    extra = ["--command-config", str(config)] if config else []
    return subprocess.run([str(shoal_bin()), "metadata-quorum", "--bootstrap-server", b.bootstrap, *extra, *args],
                          capture_output=True, text=True, timeout=CHANGE_TIMEOUT_S)


def ids(text: str) -> list[int]:
    """The ids in Kafka's list of voters or observers: [{"id": 1, "directoryId": ...}, ...]."""
    return [r["id"] for r in json.loads(text)]


def voters_and_observers(b) -> tuple[list[int], list[int]]:
    s = status(b)
    return ids(s["CurrentVoters"]), ids(s["CurrentObservers"])


def directory_id(tmp_path, node: int) -> str:
    return (tmp_path / f"broker{node - 1}-data" / "__cluster_metadata-0" / "directory-id").read_text().strip()


def start_dynamic_quorum(start_broker, tmp_path, extra: dict | None = None):
    """Node 1 formatted as the only voter, nodes 2 and 3 formatted to join and started as
    observers (with `extra` settings). Each node's server properties are written to a file
    too: add-controller reads the new controller's id, listener and directory from them, as
    Kafka's tool does."""
    ports = free_ports(6)
    controller_ports, client_ports = ports[:3], ports[3:]
    configs, files = {}, {}
    for node, cport, port in zip(NODES, controller_ports, client_ports):
        configs[node] = {
            "node.id": node,
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
            "controller.listener.names": "CONTROLLER",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_ports[0]}",
            # Fenced 2 s after its last word, not Kafka's 9 s: the test waits for it.
            "broker.session.timeout.ms": 2000,
            # The start_broker factory names node N's data directory broker{N-1}-data.
            "log.dirs": str(tmp_path / f"broker{node - 1}-data"),
            **(extra or {}),
        }
        files[node] = tmp_path / f"node{node}.properties"
        files[node].write_text("".join(f"{k}={v}\n" for k, v in configs[node].items()))
    formatted = subprocess.run([str(shoal_bin()), "format", "--config", str(files[1]), "--standalone"],
                               capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert formatted.returncode == 0, formatted.stderr
    assert "node 1 the quorum's only voter" in formatted.stdout, formatted.stdout
    again = subprocess.run([str(shoal_bin()), "format", "--config", str(files[1]), "--standalone"],
                           capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert again.returncode != 0 and "already formatted" in again.stderr, again
    # The others join: a combined node that was not formatted would be a cluster of one.
    for node in NODES[1:]:
        joining = subprocess.run([str(shoal_bin()), "format", "--config", str(files[node]),
                                  "--no-initial-controllers"], capture_output=True, text=True,
                                 timeout=TOOL_TIMEOUT_S)
        assert joining.returncode == 0, joining.stderr
    nodes = {node: start_broker(configs[node]) for node in NODES}
    return nodes, files


def add_controller(via, node: int, files, tmp_path) -> None:
    cp = quorum_tool(via, "add-controller", config=files[node])
    assert cp.returncode == 0, cp.stderr
    listener = re.search(r"CONTROLLER://127\.0\.0\.1:\d+", files[node].read_text()).group(0)
    line = cp.stdout.strip()
    assert re.fullmatch(rf"Added controller {node} with directory id [\w-]{{22}} and endpoints: {listener}",
                        line), line


@on_cores(1)
def test_a_quorum_grows_from_one_controller_loses_its_first_voter_and_its_leader(start_broker, tmp_path):
    nodes, files = start_dynamic_quorum(start_broker, tmp_path)
    wait_for("node 1 leading, nodes 2 and 3 following as observers",
             lambda: all(voters_and_observers(b) == ([1], [2, 3]) for b in nodes.values()))

    # A dry run says what it would do and changes nothing.
    dry = quorum_tool(nodes[1], "add-controller", "--dry-run", config=files[2])
    assert dry.returncode == 0 and dry.stdout.startswith("DRY RUN of adding controller 2 with directory id "), dry
    dry = quorum_tool(nodes[1], "remove-controller", "--controller-id", "1", "--controller-directory-id",
                      directory_id(tmp_path, 1), "--dry-run")
    assert dry.returncode == 0 and dry.stdout.startswith("DRY RUN of removing  KRaft controller 1 "), dry
    assert voters_and_observers(nodes[1]) == ([1], [2, 3])
    # Kafka's refusals: the only voter cannot go (no voter left to remove), and a
    # directory id of zeros names no voter.
    only = quorum_tool(nodes[1], "remove-controller", "--controller-id", "1", "--controller-directory-id",
                       directory_id(tmp_path, 1))
    assert only.returncode != 0 and "VOTER_NOT_FOUND" in only.stderr, only
    nil = quorum_tool(nodes[1], "remove-controller", "--controller-id", "2", "--controller-directory-id",
                      str(uuid.UUID(int=0)))
    assert nil.returncode != 0 and "INVALID_REQUEST" in nil.stderr, nil
    # Kafka's --status lists each voter with its directory id and controller listener.
    [first] = json.loads(status(nodes[1])["CurrentVoters"])
    kafka_id = base64.urlsafe_b64encode(uuid.UUID(directory_id(tmp_path, 1)).bytes).rstrip(b"=").decode()
    assert first == {"id": 1, "directoryId": kafka_id,
                     "endpoints": [re.search(r"CONTROLLER://127\.0\.0\.1:\d+", files[1].read_text()).group(0)]}, first

    # Node 2 is added through the leader, node 3 through itself, an observer whose
    # member forwards the change to the leader.
    add_controller(nodes[1], 2, files, tmp_path)
    add_controller(nodes[3], 3, files, tmp_path)
    wait_for("three voters on every node",
             lambda: all(voters_and_observers(b) == ([1, 2, 3], []) for b in nodes.values()))
    # ApiVersions: a quorum whose voters change is kraft.version 1.
    supported, finalized, _, _ = features(nodes[2])
    assert (supported, finalized) == (SUPPORTED, [*FINALIZED[:1], ("kraft.version", 1), *FINALIZED[1:]])
    again = quorum_tool(nodes[2], "add-controller", config=files[3])
    assert again.returncode != 0 and "DUPLICATE_VOTER" in again.stderr, again

    wait_for("three brokers unfenced", lambda: set(describe_cluster(nodes[1])[1]) == set(NODES))
    a = cluster_admin(list(nodes.values()))
    topic = unique_topic("dynamic")
    wait_futures(a.create_topics([NewTopic(topic, 2, 3, config={"min.insync.replicas": "2"})],
                                 operation_timeout=20))
    wait_for("a full ISR", lambda: full_isr(a, topic, set(NODES), 2))
    p = producer(nodes[2], acks="all", enable_idempotence=True)
    produce_all(p, topic, [{"partition": i % 2, "value": b"first-%d" % i} for i in range(40)])

    # The first voter dies: the two it added elect a leader without it, and take it out.
    nodes[1].kill9()
    others = [nodes[2], nodes[3]]
    wait_for("nodes 2 and 3 agreeing on a leader among them",
             lambda: (lambda agreed: agreed and agreed[0] != 1)(agreed_leader(others)))
    removed = quorum_tool(nodes[3], "remove-controller", "--controller-id", "1",
                          "--controller-directory-id", directory_id(tmp_path, 1))
    assert removed.returncode == 0, removed.stderr
    assert re.fullmatch(r"Removed  KRaft controller 1 with directory id [\w-]{22}", removed.stdout.strip()), removed
    wait_for("nodes 2 and 3 the only voters", lambda: all(voters_and_observers(b)[0] == [2, 3] for b in others))
    gone = quorum_tool(nodes[2], "remove-controller", "--controller-id", "1",
                       "--controller-directory-id", directory_id(tmp_path, 1))
    assert gone.returncode != 0 and "VOTER_NOT_FOUND" in gone.stderr, gone
    produce_all(p, topic, [{"partition": i % 2, "value": b"second-%d" % i} for i in range(40)])

    # Restarted on its files, node 1 follows as an observer, holds every record again,
    # and can be added back.
    nodes[1].start()
    wait_for("node 1 an observer", lambda: all(voters_and_observers(b) == ([2, 3], [1]) for b in nodes.values()))
    wait_for("a full ISR again", lambda: full_isr(a, topic, set(NODES), 2), deadline_s=60)
    got = consume_all(nodes[1], topic, [0, 1])
    values = sorted(r.value for rs in got.values() for r in rs)
    assert values == sorted([b"first-%d" % i for i in range(40)] + [b"second-%d" % i for i in range(40)])
    add_controller(nodes[2], 1, files, tmp_path)
    wait_for("three voters again", lambda: all(voters_and_observers(b) == ([1, 2, 3], []) for b in nodes.values()))

    # The leader removes itself: it steps aside, and the other two elect one of them.
    leader, _ = wait_for("one leader", lambda: agreed_leader(nodes.values()))
    removed = quorum_tool(nodes[leader], "remove-controller", "--controller-id", str(leader),
                          "--controller-directory-id", directory_id(tmp_path, leader))
    assert removed.returncode == 0, removed.stderr
    rest = [b for n, b in nodes.items() if n != leader]
    new, _ = wait_for("a leader among the other two",
                      lambda: (lambda agreed: agreed and agreed[0] != leader and agreed)(agreed_leader(nodes.values())))
    assert voters_and_observers(nodes[new]) == (sorted(n for n in NODES if n != leader), [leader])
    produce_all(p, topic, [{"partition": i % 2, "value": b"third-%d" % i} for i in range(10)])

    # A voter restarted (SIGTERM) reads the voters back from its files.
    restarted = rest[0] if rest[0] is not nodes[new] else rest[1]
    restarted.stop()
    restarted.start()
    wait_for("the voters unchanged after a restart",
             lambda: voters_and_observers(restarted)[0] == sorted(n for n in NODES if n != leader)
             and agreed_leader(nodes.values()))


# The voters' changes are the quorum's, on shard 0 whatever the shard count: run once.
@on_cores(2)
@pytest.mark.timeout(180)
def test_a_change_of_the_voters_that_cannot_commit_times_out_and_completes_later(start_broker, tmp_path):
    """Kafka's REQUEST_TIMED_OUT for a change of the voters not committed in time: a
    RemoveRaftVoter after 30 s (the request names no time), an AddRaftVoter after its own
    timeout_ms. The other voter is stopped (SIGSTOP) so the leader cannot commit; with a
    3 s election timeout the leader stays one long enough to take the change. Once the
    voter runs again, the change commits, as Kafka's does."""
    nodes, files = start_dynamic_quorum(start_broker, tmp_path, {"controller.quorum.election.timeout.ms": 3000})
    wait_for("node 1 leading, nodes 2 and 3 following as observers",
             lambda: all(voters_and_observers(b) == ([1], [2, 3]) for b in nodes.values()))
    add_controller(nodes[1], 2, files, tmp_path)
    led_by_1 = lambda: (agreed_leader([nodes[1], nodes[2]]) or (None,))[0] == 1  # noqa: E731
    wait_for("voters 1 and 2 led by 1", lambda: voters_and_observers(nodes[1]) == ([1, 2], [3]) and led_by_1())
    directories = {n: uuid.UUID(directory_id(tmp_path, n)) for n in NODES}

    with kw.Conn(nodes[1].bootstrap) as c:
        os.kill(nodes[2].pid, signal.SIGSTOP)
        try:
            error, message = remove_raft_voter(c, 2, directories[2])
        finally:
            os.kill(nodes[2].pid, signal.SIGCONT)
        assert (error, message) == (REQUEST_TIMED_OUT, "the change of the voters was not committed within 30s")
    wait_for("the removal committed once voter 2 runs again",
             lambda: all(voters_and_observers(b) == ([1], [2, 3]) for b in nodes.values()))
    # Voter 2 may have led the term that committed its own removal (the appends sent
    # while it was stopped waited in its socket): it then hands the lead to voter 1, and a
    # change forwarded to it meanwhile would be lost (the asker times out).
    wait_for("node 1 leading", lambda: (agreed_leader(nodes.values()) or (None,))[0] == 1)

    add_controller(nodes[1], 2, files, tmp_path)
    wait_for("voters 1 and 2 again", lambda: voters_and_observers(nodes[1]) == ([1, 2], [3]) and led_by_1())

    def caught_up_under_1(node: int) -> bool:
        """Leader 1 has seen `node` hold its log (Kafka's leader takes a new voter only then)."""
        with kw.Conn(nodes[1].bootstrap) as c:
            p = describe_quorum(c, METADATA_LOG).topics[0].partitions[0]
        return p.leader_id == 1 and any(o.replica_id == node and o.log_end_offset == p.high_watermark
                                        for o in p.observers)
    wait_for("node 3 holding leader 1's log", lambda: caught_up_under_1(3))
    listener = re.search(r"CONTROLLER://127\.0\.0\.1:(\d+)", files[3].read_text())
    with kw.Conn(nodes[1].bootstrap) as c:
        os.kill(nodes[2].pid, signal.SIGSTOP)
        try:
            error, message = add_raft_voter(c, 3, directories[3], [("CONTROLLER", "127.0.0.1", int(listener.group(1)))],
                                            timeout_ms=1000)
        finally:
            os.kill(nodes[2].pid, signal.SIGCONT)
        assert (error, message) == (REQUEST_TIMED_OUT, "the change of the voters was not committed within 1s")
    wait_for("voter 3 added once voter 2 runs again",
             lambda: all(voters_and_observers(b) == ([1, 2, 3], []) for b in nodes.values()))


# The voters' changes are the quorum's, on shard 0 whatever the shard count: run once.
@on_cores(2)
@pytest.mark.timeout(180)
def test_a_change_forwarded_to_a_leader_that_stops_is_answered_not_leader_once_another_leads(start_broker, tmp_path):
    """Kafka's leader answers a change of the voters still pending when it resigns with
    NOT_LEADER_OR_FOLLOWER. Voters 1, 2 and 3 led by 1; 1 is stopped (SIGSTOP) and voter 3
    asked at once to remove voter 2. Voter 3 forwards the change to 1, where it waits unread;
    once 2 and 3 have elected a leader, 3 learns from it that the change was not committed
    and answers so. When 1 runs again and reads the forwarded change, it leads no more and
    drops it (only a leader takes one): the voters stay. Asked again, the change is made."""
    nodes, files = start_dynamic_quorum(start_broker, tmp_path, {"controller.quorum.election.timeout.ms": 3000})
    wait_for("node 1 leading, nodes 2 and 3 following as observers",
             lambda: all(voters_and_observers(b) == ([1], [2, 3]) for b in nodes.values()))
    add_controller(nodes[1], 2, files, tmp_path)
    add_controller(nodes[1], 3, files, tmp_path)
    wait_for("voters 1, 2 and 3 led by 1", lambda: all(voters_and_observers(b) == ([1, 2, 3], [])
                                                       for b in nodes.values())
             and (agreed_leader(nodes.values()) or (None,))[0] == 1)
    directories = {n: uuid.UUID(directory_id(tmp_path, n)) for n in NODES}

    with kw.Conn(nodes[3].bootstrap) as c:
        os.kill(nodes[1].pid, signal.SIGSTOP)
        try:
            error, message = remove_raft_voter(c, 2, directories[2])
            assert (agreed_leader([nodes[2], nodes[3]]) or (None,))[0] in (2, 3)
        finally:
            os.kill(nodes[1].pid, signal.SIGCONT)
    assert (error, message) == (NOT_LEADER_OR_FOLLOWER,
                                "the quorum's leader changed before the change of the voters was committed")
    wait_for("the three agreeing on a leader", lambda: agreed_leader(nodes.values()))
    assert all(voters_and_observers(b) == ([1, 2, 3], []) for b in nodes.values())

    with kw.Conn(nodes[3].bootstrap) as c:
        assert remove_raft_voter(c, 2, directories[2]) == (0, None)
    wait_for("voter 2 removed", lambda: all(voters_and_observers(b) == ([1, 3], [2]) for b in nodes.values()))


def test_the_voters_of_a_cluster_of_one_do_not_change(start_broker, tmp_path):
    """(A quorum of controller.quorum.voters refuses too: test_quorum.py.)"""
    b = start_broker()
    config = tmp_path / "controller.properties"
    config.write_text("node.id=7\nprocess.roles=controller\nlisteners=CONTROLLER://127.0.0.1:1\n"
                      "controller.listener.names=CONTROLLER\ncontroller.quorum.bootstrap.servers=127.0.0.1:1\n"
                      f"log.dirs={tmp_path / 'seven'}\n")
    (tmp_path / "seven" / "__cluster_metadata-0").mkdir(parents=True)
    (tmp_path / "seven" / "__cluster_metadata-0" / "directory-id").write_text(
        "1b4e28ba-2fa1-11d2-883f-0016d3cca427\n")
    added = quorum_tool(b, "add-controller", config=config)
    assert added.returncode != 0 and "UNSUPPORTED_VERSION" in added.stderr, added
    removed = quorum_tool(b, "remove-controller", "--controller-id", "1",
                          "--controller-directory-id", "1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    assert removed.returncode != 0 and "UNSUPPORTED_VERSION" in removed.stderr, removed


@on_cores(1)
def test_separate_controllers_and_brokers_find_a_dynamic_quorum_through_bootstrap_servers(start_broker, tmp_path):
    """Kafka's other layout with a dynamic quorum: controller-only nodes (the first formatted
    alone, the second joining without a format step, as a controller-only node may) and
    broker-only nodes that know only the bootstrap servers."""
    ports = free_ports(2)
    bootstrap = ",".join(f"127.0.0.1:{p}" for p in ports)
    controllers, files = {}, {}
    for node, port in zip((1, 2), ports):
        config = {"node.id": node, "process.roles": "controller", "listeners": f"CONTROLLER://127.0.0.1:{port}",
                  "controller.listener.names": "CONTROLLER", "controller.quorum.bootstrap.servers": bootstrap,
                  "broker.session.timeout.ms": 2000, "log.dirs": str(tmp_path / f"broker{node - 1}-data")}
        files[node] = tmp_path / f"controller{node}.properties"
        files[node].write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        if node == 1:
            formatted = subprocess.run([str(shoal_bin()), "format", "--config", str(files[1]), "--standalone"],
                                       capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
            assert formatted.returncode == 0, formatted.stderr
        controllers[node] = start_broker(config)
    brokers = {node: start_broker({"node.id": node, "process.roles": "broker", "listeners": "PLAINTEXT://127.0.0.1:0",
                                   "controller.listener.names": "CONTROLLER",
                                   "controller.quorum.bootstrap.servers": bootstrap,
                                   "broker.session.timeout.ms": 2000})
               for node in (3, 4)}
    wait_for("the brokers registered and unfenced",
             lambda: set(describe_cluster(brokers[3])[1]) == {3, 4} and set(describe_cluster(brokers[4])[1]) == {3, 4})
    wait_for("controller 2 and the brokers observing",
             lambda: voters_and_observers(controllers[1]) == ([1], [2, 3, 4]))
    add_controller(brokers[3], 2, files, tmp_path)
    wait_for("two voters", lambda: all(voters_and_observers(c) == ([1, 2], [3, 4]) for c in controllers.values()))
    a = cluster_admin(list(brokers.values()))
    topic = unique_topic("split-dynamic")
    wait_futures(a.create_topics([NewTopic(topic, 2, 2, config={"min.insync.replicas": "2"})], operation_timeout=20))
    wait_for("a full ISR on the brokers", lambda: full_isr(a, topic, {3, 4}, 2))
    p = producer(brokers[4], acks="all")
    produce_all(p, topic, [{"partition": i % 2, "value": b"v%d" % i} for i in range(20)])
    got = consume_all(brokers[3], topic, [0, 1])
    assert sorted(r.value for rs in got.values() for r in rs) == sorted(b"v%d" % i for i in range(20))
