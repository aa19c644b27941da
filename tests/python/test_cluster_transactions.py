"""Transactions whose partitions, group and coordinator live on different brokers of a
three-node cluster. A partition leader checks each transactional write with the id's
coordinator (KIP-890): on another broker it asks it with AddPartitionsToTxn (version 5, a
broker's request), verifying only for older producers and adding the partition for
transaction version 2's (Produce v12), as Kafka's partition leaders do; a group coordinator
does the same for TxnOffsetCommit. Clients: kafka-python's generated protocol classes for
transaction version 2 (no client here speaks it yet), confluent-kafka (librdkafka) for the
classic protocol, and librdkafka's read_committed consumer for what was written."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewTopic
from kafka.protocol.producer.produce import ProduceResponse

import kafka_wire as kw
from conftest import on_cores
from clients import base_conf, producer, unique_topic, wait_futures
from test_prometheus import scrape
from test_quorum import leaders_listed_by, wait_for
from test_replication import cluster_admin, full_isr, start_cluster
from test_transactions import read_committed, values
from test_transactions_v2 import call, commit_offset, committed, end, init, produce_error, produce_request

PARTITIONS = 3
TIMEOUT_S = 30
GROUP, TRANSACTION = 0, 1


def coordinator(b, key: str, key_type: int) -> int | None:
    """FindCoordinator v1 at broker `b`: the coordinator's node id, None while it has none."""
    with kw.Conn(b.bootstrap, timeout=TIMEOUT_S) as c:
        body = c.request(10, 1, kw.string(key) + kw.i8(key_type))
    r = kw.Reader(body)
    r.i32()  # throttle
    error = r.i16()
    r.string()
    node = r.i32()
    return node if error == 0 else None


def spread_topic(by_id) -> tuple[str, dict[int, int]]:
    """A topic with one single-replica partition on each broker: partition -> leader."""
    topic = unique_topic("spread")
    a = cluster_admin(list(by_id.values()))
    wait_futures(a.create_topics([NewTopic(topic, PARTITIONS, 1)], operation_timeout=20))
    leaders = wait_for("every node listing the topic's leaders", lambda: all(
        len(leaders_listed_by(b, topic) or {}) == PARTITIONS for b in by_id.values())
        and leaders_listed_by(by_id[1], topic))
    assert sorted(leaders.values()) == sorted(by_id), leaders
    return topic, leaders


def ids_apart(by_id) -> tuple[str, int, str, int]:
    """A transactional id and a group whose coordinators are on different brokers."""
    tid = unique_topic("tid")
    txn_home = wait_for("the transaction's coordinator", lambda: coordinator(by_id[1], tid, TRANSACTION))
    for _ in range(100):
        group = unique_topic("g")
        group_home = wait_for("the group's coordinator", lambda: coordinator(by_id[1], group, GROUP))
        if group_home != txn_home:
            # Each coordinator asks the other's broker about its internal topic: every
            # broker has both before the test goes on (a client would retry meanwhile).
            internal = ["__consumer_offsets", "__transaction_state"]
            wait_for("every broker listing the internal topics", lambda: all(
                leaders_listed_by(b, t) is not None for b in by_id.values() for t in internal))
            return tid, txn_home, group, group_home
    raise AssertionError("no group coordinated away from the transaction's coordinator")


def test_version_2_writes_add_their_partitions_at_a_coordinator_on_another_broker(start_broker):
    by_id = start_cluster(start_broker)
    topic, leaders = spread_topic(by_id)
    tid, txn_home, group, group_home = ids_apart(by_id)
    assert any(leader != txn_home for leader in leaders.values())
    with kw.Conn(by_id[txn_home].bootstrap, timeout=TIMEOUT_S) as c:
        pid, epoch = init(c, tid)
    # Each write goes to its partition's leader, which adds the partition at the
    # coordinator (on another broker for at least two of the three).
    for partition, leader in leaders.items():
        request = produce_request(tid, topic, pid, epoch, 0, b"v%d" % partition, partition=partition)
        with kw.Conn(by_id[leader].bootstrap, timeout=TIMEOUT_S) as c:
            assert produce_error(call(c, request, ProduceResponse, 12)) == 0, (partition, leader)
    with kw.Conn(by_id[group_home].bootstrap, timeout=TIMEOUT_S) as c:
        assert commit_offset(c, tid, group, pid, epoch, topic, 1) == 0
    with kw.Conn(by_id[txn_home].bootstrap, timeout=TIMEOUT_S) as c:
        assert end(c, tid, pid, epoch, commit=True) == (0, pid, epoch + 1)
    assert values(read_committed(by_id[1], topic, list(leaders))) == [b"v0", b"v1", b"v2"]
    assert committed(by_id[2], group, topic) == 1


def test_a_classic_transaction_is_verified_at_a_coordinator_on_another_broker(start_broker):
    by_id = start_cluster(start_broker)
    topic, leaders = spread_topic(by_id)
    tid, _, group, _ = ids_apart(by_id)
    bootstrap = ",".join(b.bootstrap for b in by_id.values())
    p = producer(by_id[1], **{"bootstrap.servers": bootstrap, "transactional.id": tid})
    member = Consumer(base_conf(by_id[1], **{"bootstrap.servers": bootstrap, "group.id": group}))
    try:
        p.init_transactions(TIMEOUT_S)
        p.begin_transaction()
        for partition in leaders:
            p.produce(topic, value=b"kept-%d" % partition, partition=partition)
        p.send_offsets_to_transaction([TopicPartition(topic, 0, 2)], member.consumer_group_metadata(),
                                      TIMEOUT_S)
        p.commit_transaction(TIMEOUT_S)
        p.begin_transaction()
        for partition in leaders:
            p.produce(topic, value=b"dropped-%d" % partition, partition=partition)
        p.abort_transaction(TIMEOUT_S)
    finally:
        member.close()
    assert values(read_committed(by_id[2], topic, list(leaders))) == [b"kept-0", b"kept-1", b"kept-2"]
    assert committed(by_id[3], group, topic) == 2


def summed(by_id, prefix: str) -> float:
    """The sum over every broker of the samples whose series starts with `prefix`."""
    return sum(v for b in by_id.values() for k, v in scrape(b).items() if k.startswith(prefix))


def test_brokers_keep_their_connections_to_each_other_across_transactions(start_broker):
    """Each transaction has its partitions' leaders verify it with a coordinator on another
    broker, and the coordinator write markers to those leaders: broker-to-broker calls,
    which go over connections each shard keeps to the others rather than one per call."""
    by_id = start_cluster(start_broker)
    topic, leaders = spread_topic(by_id)
    tid = unique_topic("tid")
    bootstrap = ",".join(b.bootstrap for b in by_id.values())
    p = producer(by_id[1], **{"bootstrap.servers": bootstrap, "transactional.id": tid})
    p.init_transactions(TIMEOUT_S)

    def transaction(n: int) -> None:
        p.begin_transaction()
        for partition in leaders:
            p.produce(topic, value=b"%d-%d" % (n, partition), partition=partition)
        p.commit_transaction(TIMEOUT_S)

    # The client's own connections, and the fetchers', are all made by now.
    transaction(0)
    created = "kafka_server_socket_server_metrics_connection_creation_total"
    calls = ('kafka_network_requestmetrics_requests_total{request="WriteTxnMarkers"',
             'kafka_network_requestmetrics_requests_total{request="AddPartitionsToTxn"')
    connections_before = summed(by_id, created)
    calls_before = sum(summed(by_id, c) for c in calls)
    for n in range(1, 31):
        transaction(n)
    # Two of the three partitions' leaders are away from the coordinator: each
    # transaction makes at least two markers calls and two verifications across brokers.
    remote_calls = sum(summed(by_id, c) for c in calls) - calls_before
    assert remote_calls >= 30 * 4, remote_calls
    # The first transaction made the connections these use (one per call made 120 here).
    new_connections = summed(by_id, created) - connections_before
    assert new_connections <= 6, (new_connections, remote_calls)
    assert len(values(read_committed(by_id[2], topic, list(leaders)))) == 31 * 3


# The coordinator's retries, whatever the shard count: run once.
@on_cores(2)
def test_a_commit_reaches_a_partition_whose_leader_died_through_its_new_leader(start_broker):
    """The coordinator writes a commit's markers to each partition's leader. The leader of
    the transaction's partition (not the coordinator's broker) is killed just before the
    commit: markers sent to it fail, and the coordinator writes them again, at the leader
    elected in its place, so a read_committed consumer there reads the transaction."""
    by_id = start_cluster(start_broker)
    brokers = list(by_id.values())
    tid = unique_topic("tid")
    p = producer(by_id[1], **{"bootstrap.servers": ",".join(b.bootstrap for b in brokers), "transactional.id": tid})
    p.init_transactions(TIMEOUT_S)
    home = wait_for("the transaction's coordinator", lambda: coordinator(by_id[1], tid, TRANSACTION))
    victim, heir = [i for i in sorted(by_id) if i != home]
    topic = unique_topic("moved")
    a = cluster_admin(brokers)
    wait_futures(a.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[victim, heir, home]])],
                                 operation_timeout=20))
    wait_for(f"broker {victim} leading the partition with a full ISR",
             lambda: (full_isr(a, topic, set(by_id), 1) or {0: (None,)})[0][0] == victim)
    p.begin_transaction()
    kept = [b"kept-%d" % i for i in range(5)]
    for value in kept:
        p.produce(topic, value=value, partition=0)
    assert p.flush(TIMEOUT_S) == 0
    by_id[victim].kill9()
    p.commit_transaction(TIMEOUT_S)
    assert values(read_committed(by_id[heir], topic, [0])) == kept
