"""Partition reassignment on three shoal processes, with `shoal reassign` (the options,
JSON files and output of kafka-reassign-partitions.sh) and a real producer: every
partition of a topic moves to another pair of brokers while an idempotent acks=all
producer writes, without a delivery error or a lost record; the replicas left behind
are deleted. A move that cannot finish (its new broker is down) is listed, reported in
progress, and cancelled back to where it was."""

from __future__ import annotations

import json
import subprocess

import pytest
from confluent_kafka.admin import NewTopic

import kafka_wire as kw
from clients import unique_topic, wait_futures
from conftest import shoal_bin
from test_quorum import describe_cluster, wait_for
from test_replication import (Writer, check_acked, cluster_admin, layout, log_bytes, start_cluster,
                              start_cluster_with)

BEFORE = [[1, 2], [2, 3], [3, 1], [1, 2]]
AFTER = [[2, 3], [3, 1], [1, 2], [3, 1]]


def reassign_tool(b, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(shoal_bin()), "reassign", "--bootstrap-server", b.bootstrap, *args]
    return subprocess.run(cmd, capture_output=True, timeout=60, text=True)


def moves_file(tmp_path, topic: str, targets: dict[int, list[int]]):
    path = tmp_path / f"moves-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": p, "replicas": r} for p, r in targets.items()]}))
    return str(path)


@pytest.mark.timeout(300)
def test_partitions_move_to_other_brokers_while_a_producer_writes(start_broker, tmp_path):
    by_id = start_cluster(start_broker)
    brokers = list(by_id.values())
    a = cluster_admin(brokers)
    topic = unique_topic("moving")
    wait_futures(a.create_topics([NewTopic(topic, num_partitions=len(BEFORE), replica_assignment=BEFORE,
                                           config={"min.insync.replicas": "2"})], operation_timeout=20))
    # Created with full ISRs; the tool's broker must have applied the creation too.
    wait_for("every broker knowing the topic", lambda: all(
        layout(cluster_admin([b]), topic) for b in brokers))

    # --generate proposes a spread over the brokers named, keeping each replication factor.
    topics_file = tmp_path / "topics.json"
    topics_file.write_text(json.dumps({"version": 1, "topics": [{"topic": topic}]}))
    out = reassign_tool(by_id[1], "--generate", "--topics-to-move-json-file", str(topics_file),
                        "--broker-list", "1,2,3")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Current partition replica assignment" and lines[3] == "Proposed partition reassignment configuration"
    current = json.loads(lines[1])["partitions"]
    assert [(c["partition"], c["replicas"], c["log_dirs"]) for c in current] == \
        [(p, r, ["any", "any"]) for p, r in enumerate(BEFORE)]
    assert all(len(set(x["replicas"])) == 2 for x in json.loads(lines[4])["partitions"])

    w = Writer(brokers)
    w.topic = topic
    w.start()
    try:
        wait_for("the producer writing", lambda: w.count() > 200)
        plan = moves_file(tmp_path, topic, dict(enumerate(AFTER)))
        out = reassign_tool(by_id[2], "--execute", "--reassignment-json-file", plan)
        assert out.returncode == 0, out.stderr
        assert "Save this to use as the --reassignment-json-file option during rollback" in out.stdout
        rollback = json.loads(out.stdout.split("\n\n")[1])
        assert [x["replicas"] for x in rollback["partitions"]] == BEFORE
        assert out.stdout.strip().endswith(
            "Successfully started partition reassignments for " + ",".join(f"{topic}-{p}" for p in range(4)))
        # Once every move is done, --verify clears the replication throttles (none were set).
        done = ["Status of partition reassignment:", *(
            f"Reassignment of partition {topic}-{p} is completed." for p in range(4)), "",
            "Clearing broker-level throttles on brokers 1,2,3", f"Clearing topic-level throttles on topic {topic}"]
        wait_for("--verify reporting every move completed",
                 lambda: reassign_tool(by_id[3], "--verify", "--reassignment-json-file", plan).stdout.splitlines() == done,
                 deadline_s=90)
        parts = layout(a, topic)
        for p, (leader, replicas, isr) in parts.items():
            assert replicas == AFTER[p] and sorted(isr) == sorted(AFTER[p]) and leader in AFTER[p], parts
        before = w.count()
        wait_for("the producer carrying on", lambda: w.count() > before + 200)
    finally:
        w.stopping.set()
        w.join(180)
    check_acked(w, brokers, topic, len(AFTER))
    for p, (old, new) in enumerate(zip(BEFORE, AFTER)):
        for gone in set(old) - set(new):
            wait_for(f"broker {gone}'s replica of partition {p} deleted",
                     lambda: not (by_id[gone].log_dir / f"{topic}-{p}").exists())
        wait_for(f"partition {p}'s new replicas equal", lambda: len({log_bytes(by_id[b], topic, p) for b in new}) == 1)
    assert reassign_tool(by_id[1], "--list").stdout == "No partition reassignments found.\n"


def cluster_and_a_partition_on_1_and_2(start_broker, name: str, extra: dict | None = None):
    """Three brokers (with `extra` settings), their admin client, and a topic of one
    partition on brokers 1 and 2, both in its ISR."""
    by_id = start_cluster_with(start_broker, extra or {})
    a = cluster_admin(list(by_id.values()))
    topic = unique_topic(name)
    wait_futures(a.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[1, 2]])],
                                 operation_timeout=20))
    wait_for("the ISR full", lambda: (layout(a, topic) or {0: (0, [], [])})[0][2] == [1, 2])
    return by_id, a, topic


@pytest.mark.timeout(240)
def test_a_move_to_a_broker_that_is_down_is_listed_and_can_be_cancelled(start_broker, tmp_path):
    by_id, a, topic = cluster_and_a_partition_on_1_and_2(start_broker, "stuck")
    by_id[3].kill9()
    # Once fenced, the quorum has a leader other than the killed broker (if it was it).
    wait_for("broker 3 fenced", lambda: set(describe_cluster(by_id[1])[1]) == {1, 2})
    plan = moves_file(tmp_path, topic, {0: [1, 3]})
    out = reassign_tool(by_id[1], "--execute", "--reassignment-json-file", plan)
    assert out.returncode == 0, out.stderr
    listed = f"Current partition reassignments:\n{topic}-0: replicas: 1,3,2. adding: 3. removing: 2.\n"
    # Broker 2 answers from its own copy of the metadata, which may trail broker 1's by a fetch.
    wait_for("broker 2 listing the move", lambda: reassign_tool(by_id[2], "--list").stdout == listed)
    # Named in the request, a topic and a partition are listed as often as asked, in order.
    assert list_reassignments_v0(by_id[2], [(topic, [0, 0, 1]), ("no-such-topic", [0]), (topic, [0])]) == \
        [(topic, [(0, [1, 3, 2], [3], [2])] * 2), (topic, [(0, [1, 3, 2], [3], [2])])]
    out = reassign_tool(by_id[2], "--verify", "--reassignment-json-file", plan)
    assert out.stdout.splitlines()[1] == f"Reassignment of partition {topic}-0 is still in progress."
    # A second move while one is in progress needs --additional.
    out = reassign_tool(by_id[1], "--execute", "--reassignment-json-file", plan)
    assert out.returncode == 1 and "Use --additional" in out.stderr
    out = reassign_tool(by_id[1], "--cancel", "--reassignment-json-file", plan)
    # --cancel clears the throttles too: those of the brokers up (broker 3 is named on stderr).
    cleared = ["None of the specified partition moves are active.", "Clearing broker-level throttles on brokers 1,2",
               f"Clearing topic-level throttles on topic {topic}"]
    assert out.stdout.splitlines() == [f"Successfully cancelled partition reassignment for: {topic}-0", *cleared], \
        out.stderr
    assert "Broker 3 is not in the cluster now" in out.stderr
    wait_for("the original replicas back", lambda: (layout(a, topic) or {0: (0, [], [])})[0][1:] == ([1, 2], [1, 2]))
    out = reassign_tool(by_id[1], "--verify", "--reassignment-json-file", plan)
    assert out.stdout.splitlines()[1] == (f"There is no active reassignment of partition {topic}-0, "
                                          "but replica set is 1,2 rather than 1,3.")
    assert reassign_tool(by_id[1], "--cancel", "--reassignment-json-file", plan).stdout.splitlines() == \
        ["None of the specified partition reassignments are active.", *cleared]


ALTER_PARTITION_REASSIGNMENTS, ELECT_LEADERS, LIST_PARTITION_REASSIGNMENTS = 45, 43, 46
ELECTION_NOT_NEEDED = 84


def alter_reassignments_v0(b, topic: str, moves: list[tuple[int, list[int] | None]]) -> list[tuple[int, int]]:
    """A raw AlterPartitionReassignments v0, partitions in the order given (a partition may
    be named twice): each answer's (partition, error)."""
    parts = [kw.i32(p) + (kw.uvarint(0) if r is None else kw.compact_array([kw.i32(x) for x in r])) + kw.EMPTY_TAGS
             for p, r in moves]
    body = kw.i32(30000) + kw.compact_array([kw.compact_string(topic) + kw.compact_array(parts) + kw.EMPTY_TAGS])
    with kw.Conn(b.bootstrap) as c:
        rd = kw.Reader(c.request(ALTER_PARTITION_REASSIGNMENTS, 0, body + kw.EMPTY_TAGS, flexible=True))
    rd.i32()
    assert rd.i16() == kw.NONE
    rd.compact_string()
    topics = rd.compact_array(lambda r: (r.compact_string(), r.compact_array(
        lambda q: (q.i32(), q.i16(), q.compact_string(), q.skip_tags())), r.skip_tags()))
    return [(p, e) for _, ps, _ in topics for p, e, _, _ in ps]


def list_reassignments_v0(b, topics: list[tuple[str, list[int]]]) -> list[tuple[str, list]]:
    """A raw ListPartitionReassignments v0 naming `topics` (a name may come twice): each
    topic entry answered, with its partitions' (index, replicas, adding, removing)."""
    asked = [kw.compact_string(t) + kw.compact_array([kw.i32(p) for p in ps]) + kw.EMPTY_TAGS for t, ps in topics]
    body = kw.i32(30000) + kw.compact_array(asked) + kw.EMPTY_TAGS
    with kw.Conn(b.bootstrap) as c:
        rd = kw.Reader(c.request(LIST_PARTITION_REASSIGNMENTS, 0, body, flexible=True))
    rd.i32()
    assert rd.i16() == kw.NONE
    rd.compact_string()
    brokers = lambda r: r.compact_array(lambda q: q.i32())  # noqa: E731
    partition = lambda r: ((r.i32(), brokers(r), brokers(r), brokers(r)), r.skip_tags())[0]  # noqa: E731
    return rd.compact_array(lambda r: ((r.compact_string(), r.compact_array(partition)), r.skip_tags())[0])


def elect_preferred_v0(b, topic: str, partitions: list[int]) -> list[tuple[int, int]]:
    """A raw ElectLeaders v0, which carries no election type (Kafka runs a preferred one)
    and has no error of its own: each partition's (index, error)."""
    body = kw.array([kw.string(topic) + kw.array([kw.i32(p) for p in partitions])]) + kw.i32(30000)
    with kw.Conn(b.bootstrap) as c:
        rd = kw.Reader(c.request(ELECT_LEADERS, 0, body))
    rd.i32()
    topics = rd.array(lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i16(), q.string()))))
    return [(p, e) for _, ps in topics for p, e, _ in ps]


@pytest.mark.timeout(240)
def test_a_partition_named_twice_is_moved_and_elected_once(start_broker):
    """Kafka answers both copies of a partition named twice in AlterPartitionReassignments
    and ElectLeaders with the one change made."""
    # No automatic rebalance: the preferred leader is elected by the request alone.
    by_id, a, topic = cluster_and_a_partition_on_1_and_2(start_broker, "twice",
                                                         {"auto.leader.rebalance.enable": "false"})
    # Each node answers from its own metadata image, which may not hold what the admin
    # client saw yet: asked again while it does not know the partition.
    def known(answer):
        return answer if any(error != kw.UNKNOWN_TOPIC_OR_PARTITION for _, error in answer) else None
    moved = wait_for("broker 1 knowing the topic",
                     lambda: known(alter_reassignments_v0(by_id[1], topic, [(0, [2, 3]), (0, [2, 3])])))
    assert moved == [(0, kw.NONE), (0, kw.NONE)]
    wait_for("the move done", lambda: (layout(a, topic) or {0: (0, [], [])})[0][1:] == ([2, 3], [2, 3]))
    # The same replicas in another order: 3 preferred, 2 still leading.
    assert alter_reassignments_v0(by_id[2], topic, [(0, [3, 2])]) == [(0, kw.NONE)]
    wait_for("3 preferred", lambda: (layout(a, topic) or {0: (0, [], [])})[0][:2] == (2, [3, 2]))
    # Broker 3's image may still hold the old order, where no election is needed: asked
    # again until it holds the new one.
    elected = wait_for("broker 3 knowing the new order", lambda: (
        lambda answer: answer if any(error != ELECTION_NOT_NEEDED for _, error in answer) else None)(
        elect_preferred_v0(by_id[3], topic, [0, 0])))
    assert elected == [(0, kw.NONE), (0, kw.NONE)]
    wait_for("3 leading", lambda: (layout(a, topic) or {0: (0, [], [])})[0][0] == 3)
