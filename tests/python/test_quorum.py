"""The metadata quorum of three shoal processes on loopback, each a voter of
`controller.quorum.voters` and listening for the others on its controller listener.
Observed as an operator does, with `shoal metadata-quorum describe` (Kafka's
kafka-metadata-quorum.sh): the three agree on a leader; when it is killed with SIGKILL
the other two elect another at a higher epoch; the killed node, restarted on its files,
follows the new leader and catches up. A peer's frame that does not decode, or that
declares a hostile length, costs only its connection."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time

import pytest

from kafka.protocol.admin import DescribeClusterRequest, DescribeClusterResponse
from kafka.protocol.metadata import MetadataRequest, MetadataResponse

import kafka_wire as kw
import prom
from conftest import free_ports, on_cores, shoal_bin
from test_transactions_v2 import FINALIZED, SUPPORTED, features

TOOL_TIMEOUT_S = 30.0
# An election takes 1 to 2 s of silence plus a round trip; a loaded machine gets margin.
ELECTION_DEADLINE_S = 30.0
POLL_S = 0.2


def describe(b, mode: str) -> str:
    cp = subprocess.run([str(shoal_bin()), "metadata-quorum", "--bootstrap-server", b.bootstrap,
                         "describe", f"--{mode}"], capture_output=True, timeout=TOOL_TIMEOUT_S)
    assert cp.returncode == 0, cp.stderr.decode()
    return cp.stdout.decode()


def status(b) -> dict[str, str]:
    return dict(re.match(r"(\w+):\s+(.*)", line).groups() for line in describe(b, "status").splitlines())


def replication(b) -> dict[int, tuple[int, str]]:
    """node -> (log end offset, Leader|Follower), from Kafka's columns (NodeId, DirectoryId,
    LogEndOffset, ...)."""
    rows = [line.split() for line in describe(b, "replication").splitlines()[1:]]
    return {int(r[0]): (int(r[2]), r[-1]) for r in rows}


def wait_for(what: str, check, deadline_s: float = ELECTION_DEADLINE_S):
    """Polls `check` until it returns something truthy; fails naming `what` and the last answer."""
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(POLL_S)
    pytest.fail(f"{what} within {deadline_s} s; last answer: {last!r}")


def scrape_value(b, series: str) -> float:
    address = re.search(r"shoal metrics: listening on (\S+)", b.log_text()).group(1)
    code, text = prom.http(f"http://{address}/metrics")
    assert code == 200, text
    return next(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(series + " "))


def raft_metrics(b) -> dict[str, float]:
    """The broker's raft-metrics and active-controller samples from its /metrics."""
    address = re.search(r"shoal metrics: listening on (\S+)", b.log_text()).group(1)
    code, text = prom.http(f"http://{address}/metrics")
    assert code == 200, text
    wanted = ("kafka_server_raft_metrics_", "kafka_server_raftmetrics_",
              "kafka_controller_kafkacontroller_activecontrollercount")
    return {series: float(value) for series, value in (line.rsplit(" ", 1) for line in text.splitlines()
                                                      if line.startswith(wanted))}


def describe_cluster(b) -> tuple[int, dict[int, int]]:
    """DescribeCluster, encoded and decoded by kafka-python: (controller, {broker: port})."""
    with kw.Conn(b.bootstrap, timeout=TOOL_TIMEOUT_S) as c:
        request = DescribeClusterRequest(include_cluster_authorized_operations=False)
        request.with_header(correlation_id=1, client_id="shoal-tests")
        c.send_raw(request.encode(version=0, header=True, framed=True))
        r = DescribeClusterResponse.decode(c.recv_frame(), version=0, header=True)
    assert r.error_code == 0, r
    return r.controller_id, {x.broker_id: x.port for x in r.brokers}


def topic_listed_by(b, topic: str, auto_create: bool = False):
    """Metadata v4 asking node `b` itself for `topic`, encoded and decoded by kafka-python:
    the topic's entry. An admin client's list_topics asks whichever broker it is connected
    to, so what one node lists is read this way."""
    with kw.Conn(b.bootstrap, timeout=TOOL_TIMEOUT_S) as c:
        request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                                  allow_auto_topic_creation=auto_create)
        request.with_header(correlation_id=1, client_id="shoal-tests")
        c.send_raw(request.encode(version=4, header=True, framed=True))
        r = MetadataResponse.decode(c.recv_frame(), version=4, header=True)
    (t,) = r.topics
    return t


def leaders_listed_by(b, topic: str) -> dict[int, int] | None:
    """partition -> leader (-1: none) as node `b` itself lists `topic`, or None when it
    does not list it."""
    t = topic_listed_by(b, topic)
    if t.error_code != 0:
        return None
    return {p.partition_index: p.leader_id for p in t.partitions}


def fenced_listing(b, include_fenced: bool) -> dict[int, bool]:
    """DescribeCluster v2's brokers, each with whether it is fenced."""
    body = kw.i8(0) + kw.i8(1) + kw.i8(int(include_fenced)) + kw.EMPTY_TAGS
    with kw.Conn(b.bootstrap, timeout=TOOL_TIMEOUT_S) as c:
        rd = kw.Reader(c.request(kw.DESCRIBE_CLUSTER, 2, body, flexible=True))
    rd.i32()
    assert rd.i16() == 0
    rd.compact_string(), rd.i8(), rd.compact_string(), rd.i32()
    brokers = rd.compact_array(lambda r: (r.i32(), r.compact_string(), r.i32(), r.compact_string(), r.i8(),
                                          r.skip_tags()))
    return {broker: bool(fenced) for broker, _, _, _, fenced, _ in brokers}


def agreed_leader(brokers) -> tuple[int, int] | None:
    """(leader, epoch) when every running broker names the same leader at the same epoch."""
    seen = {(int(s["LeaderId"]), int(s["LeaderEpoch"])) for s in (status(b) for b in brokers)}
    if len(seen) == 1:
        leader, epoch = seen.pop()
        if leader >= 0:
            return leader, epoch
    return None


def start_quorum(start_broker, extra: dict | None = None, env: dict | None = None, node_settings=lambda i: {}):
    """Three nodes, each broker and voter, node i with `node_settings(i)` too. Each keeps
    its client port across restarts, as a deployed broker does: a client that knows only
    the addresses it was given (and learned) reaches a restarted broker there."""
    ports = free_ports(6)
    ports, client_ports = ports[:3], ports[3:]
    voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(ports))
    brokers = []
    for i, (port, client_port) in enumerate(zip(ports, client_ports)):
        brokers.append(start_broker({
            "node.id": i + 1,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{client_port},CONTROLLER://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            # Fenced 2 s after its last word, not Kafka's 9 s: the test waits for it.
            "broker.session.timeout.ms": 2000,
            **(extra or {}),
            **node_settings(i),
        }, env=env))
    return brokers, ports


def on_a_new_client_port(b) -> None:
    """Its next start listens for clients on a port the kernel picks: a test sees from the
    address a node lists whether it holds that node's new registration."""
    b.overrides["listeners"] = b.overrides["listeners"].replace(f"PLAINTEXT://127.0.0.1:{b.port}",
                                                                "PLAINTEXT://127.0.0.1:0")


@pytest.fixture
def quorum(start_broker):
    return start_quorum(start_broker)


def test_three_voters_elect_a_leader_and_elect_another_when_it_is_killed(quorum):
    brokers, _ = quorum
    by_id = {i + 1: b for i, b in enumerate(brokers)}
    leader, epoch = wait_for("the three voters agreeing on a leader", lambda: agreed_leader(brokers))
    assert "ClusterId:" in describe(by_id[leader], "status")
    # ApiVersions: voters fixed by controller.quorum.voters are kraft.version 0, not listed as
    # finalized; the epoch of the levels is an offset of the metadata log.
    supported, finalized, features_epoch, _ = features(by_id[leader])
    assert (supported, finalized) == (SUPPORTED, FINALIZED) and features_epoch > 0

    # Their metrics say the same: one active controller, the leader, in state "leader".
    # (Compared with what the tool says at the same moment: a loaded machine may hold an
    # election in between.)
    def metrics_agree():
        m = {i: raft_metrics(b) for i, b in by_id.items()}
        now = agreed_leader(brokers)
        same = now is not None and all(x["kafka_server_raft_metrics_current_leader"] == now[0] and
                                       x["kafka_server_raft_metrics_current_epoch"] == now[1] for x in m.values())
        return (now[0], m) if same else None
    current, m = wait_for("the metrics naming the same leader", metrics_agree)
    active = {i for i, x in m.items() if x["kafka_controller_kafkacontroller_activecontrollercount"] == 1}
    assert active == {current}, m
    assert m[current]['kafka_server_raft_metrics_current_state{state="leader"}'] == 1
    assert all(m[i]['kafka_server_raft_metrics_current_state{state="follower"}'] == 1 for i in by_id if i != current)
    # And under Strimzi's names: the same values, and one current_state series per node.
    for i, x in m.items():
        strimzi = {k.replace("raftmetrics", "raft_metrics"): v for k, v in x.items() if "_raftmetrics_" in k
                   and "current_state" not in k}
        assert strimzi and all(x[k] == v for k, v in strimzi.items()), x
        states = {k: v for k, v in x.items() if k.startswith("kafka_server_raftmetrics_current_state")}
        want = "leader" if i == current else "follower"
        assert states == {f'kafka_server_raftmetrics_current_state{{current_state="{want}"}}': 1}, x
    # Kafka's list of voters: each with its id and its controller listener.
    voters = json.loads(status(by_id[leader])["CurrentVoters"])
    assert {v["id"] for v in voters} == set(by_id), voters
    assert all(len(v["endpoints"]) == 1 and v["endpoints"][0].startswith("CONTROLLER://") for v in voters), voters
    assert all(m[i]["kafka_server_raft_metrics_number_of_voters"] == 3 for i in by_id), m
    # controller.quorum.voters fixes the voters (Kafka's kraft.version 0): RemoveRaftVoter is refused.
    cp = subprocess.run([str(shoal_bin()), "metadata-quorum", "--bootstrap-server", by_id[leader].bootstrap,
                         "remove-controller", "--controller-id", str(leader), "--controller-directory-id",
                         "1b4e28ba-2fa1-11d2-883f-0016d3cca427"], capture_output=True, text=True,
                        timeout=TOOL_TIMEOUT_S)
    assert cp.returncode != 0 and "UNSUPPORTED_VERSION" in cp.stderr, cp

    # The leader knows every voter's log end; all reach its own.
    def caught_up():
        agreed = agreed_leader(brokers)
        if agreed is None:
            return None
        rows = replication(by_id[agreed[0]])
        ends = {end for end, _ in rows.values()}
        return agreed if len(ends) == 1 and rows[agreed[0]][1] == "Leader" else None
    leader, epoch = wait_for("every voter holding the leader's log", caught_up)
    # Asked through a follower, as through a Kafka broker, the answer is the leader's own:
    # every voter's log end (a follower knows only its own).
    for i in (i for i in by_id if i != leader):
        rows = replication(by_id[i])
        assert rows[leader][1] == "Leader" and all(end >= 0 for end, _ in rows.values()), (i, rows)

    # Each node registered itself through the quorum: every node lists all three, with
    # the quorum's leader as the controller, and counts them in kafka_brokers.
    ports = {i: b.port for i, b in by_id.items()}
    def all_registered():
        seen = [describe_cluster(b) for b in brokers]
        agreed = agreed_leader(brokers)
        listed = agreed is not None and all(c == agreed[0] and listed == ports for c, listed in seen)
        return seen if listed else None
    wait_for("every node listing the three registered brokers, and the leader as controller", all_registered)
    assert all(scrape_value(b, "kafka_brokers") == 3 for b in brokers)

    by_id[leader].kill9()
    rest = [b for i, b in by_id.items() if i != leader]
    # Until their election timeout the survivors still name the dead leader.
    def new_leader_elected():
        agreed = agreed_leader(rest)
        return agreed if agreed and agreed[0] != leader else None
    new_leader, new_epoch = wait_for("the two survivors electing a new leader", new_leader_elected)
    assert new_epoch > epoch
    # The new active controller fences the dead broker once its session has run out.
    survivors = {i: p for i, p in ports.items() if i != leader}
    wait_for("the dead broker fenced", lambda: all(describe_cluster(b)[1] == survivors for b in rest))
    assert all(scrape_value(b, "kafka_brokers") == 2 for b in rest)
    # DescribeCluster v2 lists it when asked, marked fenced (KIP-1073).
    assert fenced_listing(rest[0], True) == {**{i: False for i in survivors}, leader: True}
    assert fenced_listing(rest[0], False) == {i: False for i in survivors}

    # Restarted on its files (and on another client port, to see its registration carry
    # its new address), the old leader follows and catches up with the new one.
    on_a_new_client_port(by_id[leader])
    by_id[leader].restart()
    kept = [p.name for p in by_id[leader].log_dir.iterdir()]
    assert "__cluster_metadata-0" in kept and not any(name.endswith("-stray") for name in kept), kept

    def rejoined():
        agreed = agreed_leader(brokers)
        if agreed is None or agreed[1] < new_epoch:
            return None
        rows = replication(by_id[agreed[0]])
        return rows if rows[leader][0] == rows[agreed[0]][0] else None
    wait_for("the restarted node following the new leader with its whole log", rejoined)
    # Registered again under a new incarnation, and unfenced once it caught up.
    ports[leader] = by_id[leader].port
    wait_for("the restarted broker listed again", lambda: all(describe_cluster(b)[1] == ports for b in brokers))


# The controller listener's limit is the node's, whatever its shards.
@on_cores(2)
def test_connections_that_are_not_voters_cannot_crowd_them_out(quorum):
    """The controller listener holds at most 32 connections: 40 idle ones from a stranger
    leave the quorum working, and those past the limit are closed at once."""
    brokers, ports = quorum
    wait_for("a leader", lambda: agreed_leader(brokers))
    flood = [socket.create_connection(("127.0.0.1", ports[0]), timeout=TOOL_TIMEOUT_S) for _ in range(40)]
    try:
        closed = 0
        for s in flood:
            s.settimeout(0.5)
            try:
                closed += s.recv(1) == b""
            except TimeoutError:
                pass  # held open, idle
            except ConnectionResetError:
                closed += 1
        # Its peers' connections count too, so at least the last 8 were refused.
        assert closed >= 8, closed
        # The voters still agree, and a node killed and restarted rejoins.
        leader, epoch = wait_for("the voters agreeing on a leader", lambda: agreed_leader(brokers))
        follower = next(b for i, b in enumerate(brokers, 1) if i != leader)
        follower.kill9()
        follower.restart()
        wait_for("the restarted node following again",
                 lambda: (agreed := agreed_leader(brokers)) is not None and agreed[1] >= epoch)
    finally:
        for s in flood:
            s.close()


def test_a_peer_frame_that_does_not_decode_costs_only_its_connection(quorum):
    brokers, ports = quorum
    wait_for("a leader", lambda: agreed_leader(brokers))
    not_for_me = bytes([0, 3]) + (7).to_bytes(8, "big") * 2 + bytes(8 * 6 + 1 + 8 + 8 + 4 + 4 + 1)
    for frame in (b"\x00\x00\x00\x05hello",           # not a quorum message
                  len(not_for_me).to_bytes(4, "big") + not_for_me,  # well formed, from no voter
                  b"\x7f\xff\xff\xff" + b"x" * 64,    # a 2 GiB length: refused, not allocated
                  b"\xff\xff\xff\xff"):               # a negative length
        with socket.create_connection(("127.0.0.1", ports[0]), timeout=TOOL_TIMEOUT_S) as s:
            s.sendall(frame)
            try:
                answer = s.recv(1)
            except ConnectionResetError:  # closed with bytes unread: the kernel resets it
                answer = b""
            assert answer == b"", "the member closes a connection whose frame is refused"
    assert all(b.running for b in brokers)
    wait_for("the voters still agreeing on a leader", lambda: agreed_leader(brokers))


def test_a_node_behind_the_leaders_snapshot_catches_up_from_it(start_broker):
    """With snapshots every 100 bytes of records, the leader's log is cut past what a
    stopped node holds; started again, that node is sent the snapshot of the image and
    lists the brokers registered while it was away."""
    brokers, _ = start_quorum(start_broker, {"metadata.log.max.record.bytes.between.snapshots": 100})
    by_id = {i + 1: b for i, b in enumerate(brokers)}
    ports = {i: b.port for i, b in by_id.items()}
    wait_for("every node listing the three brokers",
             lambda: all(describe_cluster(b)[1] == ports for b in brokers))
    leader, _ = wait_for("a leader", lambda: agreed_leader(brokers))
    away, other = [i for i in by_id if i != leader]
    by_id[away].stop()
    # Records while it is away: it is fenced, the other follower restarts (a new
    # registration), and each batch cuts the leader's log to a snapshot.
    wait_for("the stopped node fenced", lambda: away not in describe_cluster(by_id[leader])[1])
    on_a_new_client_port(by_id[other])
    by_id[other].restart()
    ports[other] = by_id[other].port
    present = {i: p for i, p in ports.items() if i != away}
    wait_for("the restarted follower registered again",
             lambda: describe_cluster(by_id[leader])[1] == present)
    assert "metadata log cut to a snapshot of the image" in by_id[leader].log_text()

    on_a_new_client_port(by_id[away])
    by_id[away].restart()
    ports[away] = by_id[away].port
    wait_for("the node that was away listing every broker",
             lambda: describe_cluster(by_id[away])[1] == ports)
    assert "installed the leader's snapshot of the metadata image" in by_id[away].log_text()
