"""Topics of a three-node cluster, kept by its metadata quorum and used with real clients
(confluent-kafka, i.e. librdkafka): a topic created through any node is placed over the
three brokers, every node's Metadata lists the same leaders, a producer that bootstraps
from one node writes to every partition through their leaders, a consumer group that
bootstraps from another finds its coordinator wherever the offsets topic put it, reads
everything back and commits, and a deletion through a third node removes the topic
everywhere. Changes go through followers of the quorum, whose proposals Raft forwards to
its leader. A replication factor above the brokers there are is refused (replication
itself: test_replication.py)."""

from __future__ import annotations

import json

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (AclOperation, ConfigResource, ConfigSource, NewPartitions, NewTopic, ResourceType,
                                  ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion)
from kafka.protocol.metadata import MetadataRequest, MetadataResponse

from clients import (CLIENT_TIMEOUT_S, admin, base_conf, consume, future_error, produce_all, producer,
                     topic_partitions, unique_topic, wait_futures)
import kafka_wire as kw
from conftest import free_ports
from test_quorum import agreed_leader, describe_cluster, leaders_listed_by, start_quorum, topic_listed_by, wait_for
from test_acls import DENY, create, describe, filt, topic_acl
from test_cluster_acls_configs import SECURED, effective, set_default
from test_reassignment import reassign_tool

PARTITIONS = 6
RECORDS = 60


def leaders(b, topic: str) -> dict[int, int] | None:
    """partition -> leader as node `b` lists them, once it lists every partition with one."""
    parts = leaders_listed_by(b, topic)
    if parts is None or len(parts) != PARTITIONS or any(leader < 0 for leader in parts.values()):
        return None
    return parts


def auto_create(b, topic: str) -> int:
    """Metadata v4 asking node `b` for `topic` with auto-creation allowed, encoded and
    decoded by kafka-python: the topic's error code."""
    return topic_listed_by(b, topic, auto_create=True).error_code


def test_topics_live_in_the_quorum_and_clients_follow_their_leaders(start_broker):
    brokers, _ = start_quorum(start_broker)
    by_id = {i + 1: b for i, b in enumerate(brokers)}
    wait_for("every node registering the three brokers",
             lambda: all(set(describe_cluster(b)[1]) == set(by_id) for b in brokers))
    leader, _ = wait_for("the three agreeing on a leader", lambda: agreed_leader(brokers))
    first, second = (i for i in sorted(by_id) if i != leader)

    topic = unique_topic("spread")
    wait_futures(admin(by_id[first]).create_topics([NewTopic(topic, PARTITIONS, 1)], operation_timeout=20))
    placed = wait_for("every node listing the topic's leaders alike",
                      lambda: (lambda seen: seen[0] if seen[0] and seen.count(seen[0]) == 3 else None)(
                          [leaders(b, topic) for b in brokers]))
    # Striped over the brokers, as Kafka's placer does: each leads two of the six.
    assert sorted(placed.values()) == sorted(list(by_id) * 2), placed

    p = producer(by_id[leader], acks="all")
    records = [{"partition": i % PARTITIONS, "key": f"k{i}".encode(), "value": f"v{i}".encode()}
               for i in range(RECORDS)]
    reports = produce_all(p, topic, records)
    assert [r.partition for r in reports] == [i % PARTITIONS for i in range(RECORDS)]

    group = unique_topic("g")
    c = Consumer({**base_conf(by_id[second]), "group.id": group, "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        got = set()
        deadline_polls = int(CLIENT_TIMEOUT_S * 4)
        for _ in range(deadline_polls):
            m = c.poll(0.25)
            if m is None:
                if len(got) == RECORDS:
                    break
                continue
            assert m.error() is None, m.error()
            got.add(m.value().decode())
        assert got == {f"v{i}" for i in range(RECORDS)}
        c.commit(asynchronous=False)
        committed = c.committed([TopicPartition(topic, i) for i in range(PARTITIONS)], timeout=CLIENT_TIMEOUT_S)
        assert {tp.partition: tp.offset for tp in committed} == {i: RECORDS // PARTITIONS for i in range(PARTITIONS)}
    finally:
        c.close()

    # Auto-creation at a follower: its proposal reaches the leader through Raft, and the
    # new topic reaches every node. Kafka answers the creating request LEADER_NOT_AVAILABLE.
    auto = unique_topic("auto")
    assert auto_create(by_id[second], auto) == KafkaError.LEADER_NOT_AVAILABLE
    wait_for("every node listing the auto-created topic",
             lambda: all(leaders_listed_by(b, auto) is not None for b in brokers))

    # More replicas than brokers is refused, with Kafka's error and words.
    rf4 = unique_topic("rf4")
    err = future_error(admin(by_id[first]).create_topics([NewTopic(rf4, 1, 4)])[rf4])
    assert err is not None and err.code() == KafkaError.INVALID_REPLICATION_FACTOR, err
    assert err.str() == ("Unable to replicate the partition 4 time(s): The target replication factor of 4 cannot "
                         "be reached because only 3 broker(s) are registered."), err

    # Partitions assigned by hand have as many replicas as the topic's.
    wide = unique_topic("wide")
    wait_futures(admin(by_id[first]).create_topics([NewTopic(wide, 1, 3)], operation_timeout=20))
    short = future_error(
        admin(by_id[first]).create_partitions([NewPartitions(wide, 2, replica_assignment=[[1, 2]])])[wide])
    assert short is not None and short.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT, short
    assert short.str() == ("The manual partition assignment includes a partition with 2 replica(s), but this is not "
                           "consistent with previous partitions, which have 3 replica(s)."), short
    wait_futures(admin(by_id[second]).create_partitions([NewPartitions(wide, 2, replica_assignment=[[3, 1, 2]])],
                                                       operation_timeout=20))
    grown = wait_for("every node listing the assigned partition",
                     lambda: all(len(leaders_listed_by(b, wide) or {}) == 2 for b in brokers)
                     and topic_partitions(brokers[0], wide))
    assert grown[1].replicas == [3, 1, 2], grown[1]

    wait_futures(admin(by_id[second]).delete_topics([topic], operation_timeout=20))
    wait_for("every node forgetting the deleted topic",
             lambda: all(leaders_listed_by(b, topic) is None for b in brokers))


def test_a_broker_killed_and_restarted_leads_its_partitions_again_with_their_records(start_broker):
    """RF 1: a killed broker's partitions have no leader while it is fenced (Metadata says
    LEADER_NOT_AVAILABLE); restarted on its files (and on a new client port), it reads
    its partitions from its copy of the metadata log, registers anew, leads them again,
    and serves every record written before the kill."""
    brokers, _ = start_quorum(start_broker)
    by_id = {i + 1: b for i, b in enumerate(brokers)}
    wait_for("every node registering the three brokers",
             lambda: all(set(describe_cluster(b)[1]) == set(by_id) for b in brokers))
    leader, _ = wait_for("the three agreeing on a leader", lambda: agreed_leader(brokers))

    topic = unique_topic("restart")
    wait_futures(admin(by_id[leader]).create_topics([NewTopic(topic, 3, 1)], operation_timeout=20))
    placed = wait_for("every node listing the topic's leaders",
                      lambda: all(len(leaders_listed_by(b, topic) or {}) == 3 for b in brokers)
                      and leaders_listed_by(brokers[0], topic))
    assert sorted(placed.values()) == sorted(by_id), placed
    records = [{"partition": i % 3, "value": f"v{i}".encode()} for i in range(30)]
    produce_all(producer(by_id[leader], acks="all"), topic, records)

    victim = next(i for i in sorted(by_id) if i != leader)
    lost = next(p for p, b in placed.items() if b == victim)
    by_id[victim].kill9()
    survivors = [b for i, b in by_id.items() if i != victim]
    wait_for(f"partition {lost} left without a leader once broker {victim} is fenced",
             lambda: all((leaders_listed_by(b, topic) or {}).get(lost) == -1 for b in survivors))

    by_id[victim].restart()
    wait_for("every node listing the first leaders again",
             lambda: all(leaders_listed_by(b, topic) == placed for b in brokers))
    got = consume(by_id[leader], topic, {p: 0 for p in range(3)}, {p: 10 for p in range(3)})
    assert {p: [r.value for r in rs] for p, rs in got.items()} == \
        {p: [f"v{i}".encode() for i in range(p, 30, 3)] for p in range(3)}


def test_a_cluster_of_one_joining_a_quorum_brings_its_topics_and_groups(start_broker):
    """A broker that ran alone, restarted as node 1 of a three-node quorum on the same log
    dir: its topics (its cluster.json's) are carried into the quorum under their ids, all
    on node 1, where their logs are; every node lists them, their records are read
    through another node, and a group's committed offsets, kept in its offsets topic,
    are found through the third. Its ACLs and dynamic broker configs become the
    quorum's, listed and applied by the other nodes, and so do its SCRAM users and client
    quotas."""
    alone = start_broker({"num.partitions": 2, **SECURED})
    topic = unique_topic("carried")
    records = [{"partition": i % 2, "value": f"v{i}".encode()} for i in range(20)]
    produce_all(producer(alone, acks="all"), topic, records)
    group = unique_topic("g")
    c = Consumer({**base_conf(alone), "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 7), TopicPartition(topic, 1, 3)], asynchronous=False)
    finally:
        c.close()
    # Its ACLs and dynamic broker configs (the defaults and its own) come along too.
    deny = topic_acl("elsewhere", AclOperation.WRITE, DENY)
    assert create(alone, deny) == [None]
    set_default(alone, "log.retention.ms", "5000")
    # And its SCRAM users.
    upsert = UserScramCredentialUpsertion("mia", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"pw")
    admin(alone).alter_user_scram_credentials([upsert])["mia"].result(CLIENT_TIMEOUT_S)
    # And its client quotas.
    from test_quotas import alter as alter_quotas, described as described_quotas
    assert alter_quotas(alone, {"user": "mia"}, {"producer_byte_rate": 1024.0}) == (0, None)
    alone.stop()

    ports = free_ports(3)
    voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(ports))

    def quorum_node(i: int) -> dict:
        return {"node.id": i + 1, "controller.quorum.voters": voters,
                "listeners": f"PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{ports[i]}",
                "controller.listener.names": "CONTROLLER", "broker.session.timeout.ms": 2000, **SECURED}

    alone.overrides.update({k: str(v) for k, v in quorum_node(0).items()})
    brokers = [alone.start(), start_broker(quorum_node(1)), start_broker(quorum_node(2))]
    wait_for("every node listing the carried topic on node 1",
             lambda: all(leaders_listed_by(b, topic) == {0: 1, 1: 1} for b in brokers))
    got = consume(brokers[1], topic, {0: 0, 1: 0}, {0: 10, 1: 10})
    assert {p: [r.value for r in rs] for p, rs in got.items()} == \
        {p: [f"v{i}".encode() for i in range(p, 20, 2)] for p in range(2)}
    c = Consumer({**base_conf(brokers[2]), "group.id": group, "enable.auto.commit": False})
    try:
        committed = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=CLIENT_TIMEOUT_S)
    finally:
        c.close()
    assert {tp.partition: tp.offset for tp in committed} == {0: 7, 1: 3}
    assert "cluster.json's topic carried into the metadata quorum" in alone.log_text()
    wait_for("the other nodes listing the carried ACL", lambda: describe(brokers[2], filt()) == {deny})
    wanted = ("5000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    wait_for("the other nodes taking the carried default", lambda: effective(brokers[1], 2, "log.retention.ms") == wanted)
    def described() -> list | None:
        users = admin(brokers[2]).describe_user_scram_credentials(["mia"])
        try:
            infos = users["mia"].result(CLIENT_TIMEOUT_S).scram_credential_infos
        except KafkaException:  # not carried yet: RESOURCE_NOT_FOUND
            return None
        return [(i.mechanism, i.iterations) for i in infos]
    assert wait_for("the other nodes listing the carried SCRAM user", described) == \
        [(ScramMechanism.SCRAM_SHA_256, 4096)]
    quota = {frozenset({("user", "mia")}): {"producer_byte_rate": 1024.0}}
    wait_for("the other nodes listing the carried client quota", lambda: described_quotas(brokers[2]) == quota)
    assert "cluster.json's ACLs, broker configs, SCRAM users and client quotas carried into the metadata quorum" \
        in alone.log_text()


def test_max_broker_partitions_counts_each_brokers_replicas(start_broker):
    """max.broker.partitions bounds the replicas each broker holds, as Kafka's controller
    checks it (KIP-578), not the partitions of the whole cluster: six single-replica
    partitions over three brokers with a limit of 4 are two each; growing them to nine
    is three each; two more partitions with three replicas each would be five on every
    broker and are refused with POLICY_VIOLATION, and nothing of them is created."""
    brokers, _ = start_quorum(start_broker, {"max.broker.partitions": 4})
    by_id = {i + 1: b for i, b in enumerate(brokers)}
    wait_for("every node registering the three brokers",
             lambda: all(set(describe_cluster(b)[1]) == set(by_id) for b in brokers))
    a = admin(by_id[1])
    spread = unique_topic("spread")
    wait_futures(a.create_topics([NewTopic(spread, 6, 1)], operation_timeout=20))
    wait_futures(a.create_partitions([NewPartitions(spread, 9)], operation_timeout=20))
    wide = unique_topic("wide")
    err = future_error(a.create_topics([NewTopic(wide, 2, 3)], operation_timeout=20)[wide])
    assert err is not None and err.code() == KafkaError.POLICY_VIOLATION, err
    assert "max.broker.partitions is 4" in err.str(), err
    placed = wait_for("every node listing nine partitions",
                      lambda: all(len(leaders_listed_by(b, spread) or {}) == 9 for b in brokers)
                      and topic_partitions(brokers[0], spread))
    assert sorted(p.leader for p in placed.values()) == sorted(list(by_id) * 3), placed
    assert topic_partitions(by_id[2], wide) is None


def test_replicas_go_to_every_rack_and_clients_are_told_each_broker_s_rack(start_broker, tmp_path):
    """broker.rack: nodes 1 and 2 in rack a, node 3 in rack b. Every partition of a topic of
    replication factor 2 created without an assignment has a replica in each rack, so one
    on node 3 (plain striping would put some on nodes 1 and 2 only); leaders still take
    turns over the three brokers. DescribeCluster (confluent-kafka) and Metadata v9
    (kafka-python's encoding) name each broker's rack, DescribeConfigs shows the key, and
    `shoal reassign --generate` proposes rack-aware spreads."""
    racks = {1: "a", 2: "a", 3: "b"}
    brokers, _ = start_quorum(start_broker, node_settings=lambda i: {"broker.rack": racks[i + 1]})
    wait_for("every node registering the three brokers",
             lambda: all(set(describe_cluster(b)[1]) == set(racks) for b in brokers))
    a = admin(brokers[0])
    topic = unique_topic("racks")
    wait_futures(a.create_topics([NewTopic(topic, PARTITIONS, 2)], operation_timeout=20))
    placed = wait_for("every partition placed", lambda: (
        lambda parts: parts if parts and len(parts) == PARTITIONS else None)(topic_partitions(brokers[0], topic)))
    assert all(sorted(racks[r] for r in p.replicas) == ["a", "b"] for p in placed.values()), \
        {i: p.replicas for i, p in placed.items()}
    assert sorted(p.leader for p in placed.values()) == [1, 1, 2, 2, 3, 3], placed

    assert {n.id: n.rack for n in a.describe_cluster().result(CLIENT_TIMEOUT_S).nodes} == racks
    with kw.Conn(brokers[1].bootstrap) as c:
        request = MetadataRequest(topics=[], allow_auto_topic_creation=False)
        request.with_header(correlation_id=1, client_id="shoal-tests")
        c.send_raw(request.encode(version=9, header=True, framed=True))
        r = MetadataResponse.decode(c.recv_frame(), version=9, header=True)
    assert {b.node_id: b.rack for b in r.brokers} == racks
    config = a.describe_configs([ConfigResource(ResourceType.BROKER, "3")])
    (entries,) = [f.result(CLIENT_TIMEOUT_S) for f in config.values()]
    assert (entries["broker.rack"].value, entries["broker.rack"].is_read_only) == ("b", True)

    # `shoal reassign --generate` spreads replicas over the racks too, as Kafka's tool does
    # unless told --disable-rack-aware: plain striping over three brokers puts some
    # partition on nodes 1 and 2, rack a only. A broker the cluster does not list is left out.
    topics_file = tmp_path / "topics.json"
    topics_file.write_text(json.dumps({"version": 1, "topics": [{"topic": topic}]}))

    def proposal(*flags: str) -> list[list[int]]:
        out = reassign_tool(brokers[0], "--generate", "--topics-to-move-json-file", str(topics_file), *flags)
        assert out.returncode == 0, out.stderr
        return [p["replicas"] for p in json.loads(out.stdout.splitlines()[4])["partitions"]]

    spread = proposal("--broker-list", "1,2,3,9")
    assert all(sorted(racks[r] for r in replicas) == ["a", "b"] for replicas in spread), spread
    plain = proposal("--broker-list", "1,2,3", "--disable-rack-aware")
    assert any(3 not in replicas for replicas in plain), plain
    twice = reassign_tool(brokers[0], "--generate", "--topics-to-move-json-file", str(topics_file),
                          "--broker-list", "1,2,1")
    assert twice.returncode != 0 and "Broker list contains duplicate entries: [1]" in twice.stderr, twice
