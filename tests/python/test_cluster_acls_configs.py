"""ACLs and dynamic broker configs of a three-node cluster are the metadata quorum's, as in
Kafka's KRaft mode: made through one broker, ACLs and cluster-wide defaults hold on every
broker (described there, and enforced there), removed through another they are gone
everywhere, a broker restarted on its files has them from its copy of the metadata log,
and a broker's own config survives the loss of its state file. Clients are
confluent-kafka's AdminClient and Producer (librdkafka)."""

from __future__ import annotations

from confluent_kafka import KafkaError
from confluent_kafka.admin import AclOperation, ConfigResource, ConfigSource, NewTopic, ResourceType

from clients import admin, produce_one_error, producer, unique_topic, wait_futures
from test_cli import ok
from test_acls import AUTHORIZER, DENY, create, delete, describe, filt, topic_acl
from test_quorum import (TOOL_TIMEOUT_S, describe_cluster, leaders_listed_by, on_a_new_client_port, start_quorum,
                         wait_for)

SECURED = {"authorizer.class.name": AUTHORIZER, "allow.everyone.if.no.acl.found": "true"}


def set_default(b, key: str, value: str | None) -> None:
    """Sets (or with None deletes) cluster-wide broker default `key` through broker `b`,
    with the configs tool (confluent-kafka will not name the "" broker resource)."""
    change = ["--add-config", f"{key}={value}"] if value is not None else ["--delete-config", key]
    assert ok(b, "configs", "--alter", "--broker-defaults", *change) == \
        "Completed updating default config for brokers in the cluster.\n"


def effective(b, node: int, key: str) -> tuple[str, int] | None:
    """Broker `node`'s value of `key` and its source, as broker `node` describes it."""
    resource = ConfigResource(ResourceType.BROKER, str(node))
    entries = list(admin(b).describe_configs([resource]).values())[0].result(timeout=TOOL_TIMEOUT_S)
    entry = entries.get(key)
    return (entry.value, entry.source) if entry else None


def restart(by_id, node: int) -> None:
    """Starts a killed broker again (on a new client port), and waits until every node
    has its new registration: a client told of its old port could not reach it."""
    on_a_new_client_port(by_id[node])
    by_id[node].restart()
    port = int(by_id[node].bootstrap.rsplit(":", 1)[1])
    wait_for("every node registering the restarted broker at its new port",
             lambda: all(describe_cluster(b)[1].get(node) == port for b in by_id.values()))


def test_acls_and_broker_defaults_made_through_one_broker_hold_on_every_broker(start_broker):
    brokers, _ = start_quorum(start_broker, SECURED)
    by_id = {i + 1: b for i, b in enumerate(brokers)}
    wait_for("every node registering the three brokers",
             lambda: all(set(describe_cluster(b)[1]) == set(by_id) for b in brokers))

    topic = unique_topic("guarded")
    wait_futures(admin(by_id[1]).create_topics([NewTopic(topic, 1, 3)], operation_timeout=20))
    wait_for("every node listing the topic with a leader",
             lambda: all((leaders_listed_by(b, topic) or {}).get(0, -1) > 0 for b in brokers))

    # An ACL made through broker 1 is listed by, and enforced on, every broker.
    deny = topic_acl(topic, AclOperation.WRITE, DENY)
    assert create(by_id[1], deny) == [None]
    every = filt()
    wait_for("every broker listing the ACL", lambda: all(describe(b, every) == {deny} for b in brokers))
    for b in brokers:
        err = produce_one_error(producer(b, retries=0), topic, value=b"refused")
        assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err

    # A cluster-wide default set through broker 2 is every broker's, with its source.
    set_default(by_id[2], "log.retention.ms", "5000")
    wanted = ("5000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value)
    wait_for("every broker taking the cluster-wide default",
             lambda: all(effective(b, i, "log.retention.ms") == wanted for i, b in by_id.items()))

    # Both come back from the metadata log with a broker restarted on its files.
    by_id[3].kill9()
    restart(by_id, 3)
    wait_for("the restarted broker listing the ACL", lambda: describe(by_id[3], every) == {deny})
    assert effective(by_id[3], 3, "log.retention.ms") == wanted

    # A broker's own config is the quorum's too: broker 2 keeps it with its state file
    # lost.
    assert ok(by_id[2], "configs", "--alter", "--broker", "2", "--add-config", "log.retention.ms=7000") == \
        "Completed updating config for broker 2.\n"
    own = ("7000", ConfigSource.DYNAMIC_BROKER_CONFIG.value)
    assert effective(by_id[2], 2, "log.retention.ms") == own
    assert effective(by_id[1], 1, "log.retention.ms") == wanted
    by_id[2].kill9()
    (by_id[2].log_dir / "cluster.json").unlink()
    restart(by_id, 2)
    assert effective(by_id[2], 2, "log.retention.ms") == own

    # A group's own configs (KIP-848) are the quorum's too: set through broker 1, every
    # broker shows them.
    group = unique_topic("configured")
    assert ok(by_id[1], "configs", "--alter", "--entity-type", "groups", "--entity-name", group, "--add-config",
              "consumer.session.timeout.ms=50000") == f"Completed updating config for group {group}.\n"
    wait_for("every broker showing the group's config", lambda: all(
        "consumer.session.timeout.ms=50000" in ok(b, "configs", "--describe", "--entity-type", "groups",
                                                 "--entity-name", group) for b in brokers))

    # Deleted through broker 3, they are gone everywhere, and producing is allowed again.
    assert delete(by_id[3], every) == {deny}
    wait_for("every broker forgetting the ACL", lambda: all(describe(b, every) == set() for b in brokers))
    set_default(by_id[3], "log.retention.ms", None)
    wait_for("every broker dropping the cluster-wide default",
             lambda: all(effective(b, i, "log.retention.ms")[1] != wanted[1] for i, b in by_id.items()))
    for b in brokers:
        assert produce_one_error(producer(b, acks="all"), topic, value=b"allowed") is None
