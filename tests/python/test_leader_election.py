"""Leader elections an operator asks for, on three shoal processes: preferred-leader
election with `shoal leader-election` (kafka-leader-election.sh's options and output)
and confluent-kafka's AdminClient.elect_leaders; unclean election of a partition whose
only in-sync replica is gone; and the controller's automatic rebalance
(`auto.leader.rebalance.enable`) giving partitions back to their preferred replicas."""

from __future__ import annotations

import subprocess

import pytest
from confluent_kafka import ElectionType, KafkaError, TopicPartition
from confluent_kafka.admin import NewTopic

from clients import consume_all, produce_all, producer, unique_topic, wait_futures
from conftest import shoal_bin
from test_quorum import describe_cluster, wait_for
from test_replication import cluster_admin, full_isr, layout, log_bytes, start_cluster_with

# Elections are the controller's, on shard 0: its tests run once, with two shards a broker (conftest's SHOAL_CORES).
SHOAL_CORES = [2]

PARTITIONS = 4


def election_tool(b, *args: str) -> subprocess.CompletedProcess:
    cmd = [str(shoal_bin()), "leader-election", "--bootstrap-server", b.bootstrap, *args]
    return subprocess.run(cmd, capture_output=True, timeout=60, text=True)


def preferred_moved_away(start_broker, extra: dict):
    """Three brokers and a topic of four partitions on all three; the preferred leader of
    partition 0 stopped (SIGTERM) and started again. Its partitions are led elsewhere
    then: controlled shutdown moved them."""
    by_id = start_cluster_with(start_broker, extra)
    a = cluster_admin(list(by_id.values()))
    topic = unique_topic("elect")
    wait_futures(a.create_topics([NewTopic(topic, PARTITIONS, 3)], operation_timeout=20))
    parts = wait_for("a full ISR", lambda: full_isr(a, topic, set(by_id)))
    preferred = {p: replicas[0] for p, (_, replicas, _) in parts.items()}
    victim = preferred[0]
    by_id[victim].stop()
    moved = wait_for(f"broker {victim}'s partitions led elsewhere", lambda: (lambda parts: parts if parts and all(
        leader != victim for leader, _, _ in parts.values()) else None)(layout(a, topic)))
    assert moved[0][0] != victim
    by_id[victim].start()
    wait_for("the ISR full again", lambda: full_isr(a, topic, set(by_id)), deadline_s=60)
    return by_id, a, topic, preferred, victim


@pytest.mark.timeout(240)
def test_preferred_leaders_are_elected_again_by_the_tool_and_the_admin_client(start_broker):
    by_id, a, topic, preferred, victim = preferred_moved_away(
        start_broker, {"auto.leader.rebalance.enable": "false"})
    parts = layout(a, topic)
    away = sorted(p for p, (leader, _, _) in parts.items() if leader != preferred[p])
    assert 0 in away and all(preferred[p] == victim for p in away), (parts, preferred)

    out = election_tool(by_id[1], "--election-type", "preferred", "--topic", topic, "--partition", "0")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"Successfully completed leader election (PREFERRED) for partitions {topic}-0"
    out = election_tool(by_id[1], "--election-type", "PREFERRED", "--topic", topic, "--partition", "0")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"Valid replica already elected for partitions {topic}-0"

    # The rest through librdkafka's admin API: moved back, or not needed.
    result = a.elect_leaders(ElectionType.PREFERRED,
                             [TopicPartition(topic, p) for p in range(PARTITIONS)]).result(30)
    errors = {tp.partition: (e.code() if e is not None else None) for tp, e in result.items()}
    assert errors == {p: (None if p in away and p != 0 else KafkaError.ELECTION_NOT_NEEDED)
                      for p in range(PARTITIONS)}, errors
    wait_for("every partition led by its preferred replica", lambda: (lambda parts: parts if parts and all(
        leader == preferred[p] for p, (leader, _, _) in parts.items()) else None)(layout(a, topic)))
    # Asked for every partition, the tool lists none: none needed an election.
    out = election_tool(by_id[2], "--election-type", "preferred", "--all-topic-partitions")
    assert out.returncode == 0 and out.stdout == "", (out.stdout, out.stderr)


@pytest.mark.timeout(240)
def test_the_controller_gives_partitions_back_to_their_preferred_replicas(start_broker):
    by_id, a, topic, preferred, _ = preferred_moved_away(
        start_broker, {"leader.imbalance.check.interval.seconds": 1})
    wait_for("every partition led by its preferred replica again", lambda: (lambda parts: parts if parts and all(
        leader == preferred[p] for p, (leader, _, _) in parts.items()) else None)(layout(a, topic)))


@pytest.mark.timeout(240)
def test_an_unclean_election_gives_a_leaderless_partition_a_replica_outside_the_isr(start_broker):
    by_id = start_cluster_with(start_broker, {})
    a = cluster_admin(list(by_id.values()))
    topic = unique_topic("unclean")
    wait_futures(a.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[1, 2]])], operation_timeout=20))
    wait_for("both replicas in the ISR", lambda: (layout(a, topic) or {0: (0, [], [])})[0][2] == [1, 2])
    produce_all(producer(by_id[1], acks="all"), topic, [{"partition": 0, "value": b"on both"}])

    by_id[2].kill9()
    wait_for("the ISR shrinking to broker 1", lambda: (layout(a, topic) or {0: (0, [], [])})[0][2] == [1])
    produce_all(producer(by_id[1], acks="all"), topic, [{"partition": 0, "value": b"on 1 only"}])
    by_id[1].kill9()
    by_id[2].start()
    only_3 = cluster_admin([by_id[3]])
    wait_for("broker 2 back and broker 1 gone", lambda: set(describe_cluster(by_id[3])[1]) == {2, 3})
    leaderless = wait_for("the partition without a leader", lambda: (lambda parts: parts if parts and parts[0][0] == -1
                                                                      else None)(layout(only_3, topic)))
    assert leaderless[0][2] == [1], "the ISR keeps its last member"

    out = election_tool(by_id[3], "--election-type", "preferred", "--topic", topic, "--partition", "0")
    assert out.returncode == 1
    assert out.stdout.startswith(
        f"Error completing leader election (PREFERRED) for partition: {topic}-0: PREFERRED_LEADER_NOT_AVAILABLE"), out.stdout
    assert "1 replica(s) could not be elected" in out.stderr
    out = election_tool(by_id[3], "--election-type", "unclean", "--topic", topic, "--partition", "0")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"Successfully completed leader election (UNCLEAN) for partitions {topic}-0"
    wait_for("broker 2 leading, alone in the ISR",
             lambda: (layout(only_3, topic) or {0: (0, [], [])})[0] == (2, [1, 2], [2]))

    # What only broker 1 had is lost: that is what an unclean election costs.
    produce_all(producer(by_id[2], acks="all"), topic, [{"partition": 0, "value": b"after"}])
    assert [r.value for r in consume_all(by_id[2], topic, [0])[0]] == [b"on both", b"after"]
    # Broker 1 comes back, truncates what the new leader does not have, and rejoins.
    by_id[1].start()
    wait_for("broker 1 back in the ISR", lambda: sorted((layout(a, topic) or {0: (0, [], [])})[0][2]) == [1, 2],
             deadline_s=60)
    wait_for("broker 1's copy equal to the leader's", lambda: log_bytes(by_id[1], topic, 0) == log_bytes(by_id[2], topic, 0))
