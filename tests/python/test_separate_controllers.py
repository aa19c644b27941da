"""Kafka's other KRaft layout: three controller-only nodes (`process.roles=controller`,
only a controller listener) hold the metadata quorum, and two broker-only nodes
(`process.roles=broker`) follow its log as learners and serve the clients. Only the brokers
are registered and hold partitions; the brokers carry on through the death of the quorum's
leader, and a broker killed and restarted catches up with the log and rejoins the ISR.
Clients: confluent-kafka (librdkafka), kafka-python's protocol classes for DescribeCluster,
and `shoal metadata-quorum` for the quorum."""

from __future__ import annotations

from confluent_kafka.admin import NewTopic

from clients import consume_all, produce_all, producer, unique_topic, wait_futures
from conftest import free_ports
from test_quorum import agreed_leader, describe_cluster, wait_for
from test_replication import cluster_admin, full_isr, layout

CONTROLLERS = (1, 2, 3)
BROKERS = (4, 5)


def start_layout(start_broker):
    ports = free_ports(len(CONTROLLERS))
    voters = ",".join(f"{i}@127.0.0.1:{p}" for i, p in zip(CONTROLLERS, ports))
    common = {"controller.quorum.voters": voters, "controller.listener.names": "CONTROLLER",
              "broker.session.timeout.ms": 2000}
    controllers = {i: start_broker({**common, "node.id": i, "process.roles": "controller",
                                    "listeners": f"CONTROLLER://127.0.0.1:{p}"})
                   for i, p in zip(CONTROLLERS, ports)}
    brokers = {i: start_broker({**common, "node.id": i, "process.roles": "broker",
                                "listeners": "PLAINTEXT://127.0.0.1:0"})
               for i in BROKERS}
    return controllers, brokers


def test_controller_only_and_broker_only_nodes_make_a_cluster(start_broker):
    controllers, brokers = start_layout(start_broker)
    leader, _ = wait_for("the controllers agreeing on a leader", lambda: agreed_leader(controllers.values()))
    assert leader in CONTROLLERS
    # Only the brokers register: clients see two brokers, wherever they ask.
    wait_for("every node listing the two brokers",
             lambda: all(set(describe_cluster(b)[1]) == set(BROKERS)
                         for b in [*controllers.values(), *brokers.values()]))
    a = cluster_admin(list(brokers.values()))
    topic = unique_topic("split")
    wait_futures(a.create_topics([NewTopic(topic, 2, 2, config={"min.insync.replicas": "2"})],
                                 operation_timeout=20))
    wait_for("a full ISR on the brokers", lambda: full_isr(a, topic, set(BROKERS), 2))
    p = producer(brokers[4], acks="all")
    produce_all(p, topic, [{"partition": i % 2, "value": b"first-%d" % i} for i in range(20)])

    # The quorum's leader dies: the other two elect another, and the brokers carry on.
    controllers[leader].kill9()
    others = [b for i, b in controllers.items() if i != leader]
    wait_for("the two controllers left agreeing on a new leader",
             lambda: (lambda agreed: agreed and agreed[0] != leader)(agreed_leader(others)))
    produce_all(p, topic, [{"partition": i % 2, "value": b"second-%d" % i} for i in range(20)])
    later = unique_topic("later")
    wait_futures(a.create_topics([NewTopic(later, 1, 2)], operation_timeout=20))
    controllers[leader].start()

    # A broker killed and restarted follows the log again and rejoins every ISR.
    brokers[5].kill9()
    wait_for("the ISR shrinking to broker 4", lambda: all(
        isr == [4] for _, _, isr in (layout(a, topic) or {0: (0, [], [])}).values()))
    brokers[5].start()
    wait_for("the ISR full again", lambda: full_isr(a, topic, set(BROKERS), 2), deadline_s=60)
    got = consume_all(brokers[5], topic, [0, 1])
    values = sorted(r.value for rs in got.values() for r in rs)
    assert values == sorted([b"first-%d" % i for i in range(20)] + [b"second-%d" % i for i in range(20)])

