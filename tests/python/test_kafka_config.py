"""Kafka's configuration as operators have it: a stock KRaft server.properties starts a
broker, Kafka's keys without meaning here are accepted with a notice, ZooKeeper and
unknown names stop the broker with a message, and `shoal serve` without settings behaves
like Kafka's quick start."""

import pathlib
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer

import clients
from conftest import Broker, BrokerError, shoal_bin

# What Kafka 4's shipped config/server.properties sets (combined broker and controller),
# shared with the config parser's unit tests.
CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "config"
KAFKA_4_SERVER_PROPERTIES = (CONFIG_DIR / "kafka-4-server.properties").read_text()

# Kafka 3's config/kraft/server.properties names its voters instead of bootstrap servers.
KAFKA_3_VOTERS = KAFKA_4_SERVER_PROPERTIES.replace(
    "controller.quorum.bootstrap.servers=localhost:9093", "controller.quorum.voters=1@localhost:9093")

# The test brokers listen on free ports: the file's fixed ports are overridden, and its
# other settings (log.dirs aside, which the harness sets) are read as written.
FREE_PORTS = {"listeners": "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0",
              "advertised.listeners": "PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0"}


def config_broker(tmp_path, cores, text: str, overrides: dict, name: str = "b") -> Broker:
    path = tmp_path / f"{name}.properties"
    path.write_text(text)
    b = Broker(shoal_bin(), tmp_path, name, cores, overrides)
    b.config_file = path
    return b


def noticed_once(log: str, notices: list[str]) -> None:
    for notice in notices:
        assert log.count(notice) == 1, f"{notice!r} once in\n{log}"


def refused(b: Broker) -> str:
    """Starts `b`, which must stop with exit code 2 (a config error); returns its stderr."""
    try:
        with pytest.raises(BrokerError, match="exited with code 2 before its ready line"):
            b.start()
        return b.log_text()
    finally:
        b.close()


def round_trip(bootstrap: str, topic: str, n: int) -> list[bytes]:
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    try:
        for i in range(n):
            p.send(topic, value=b"v%d" % i)
        p.flush(30)
    finally:
        p.close(10)
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=clients.unique_topic("g"),
                      auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    try:
        got = []
        for record in c:
            got.append(record.value)
            if len(got) == n:
                break
        return got
    finally:
        c.close()


@pytest.mark.parametrize("text", [KAFKA_4_SERVER_PROPERTIES, KAFKA_3_VOTERS], ids=["kafka4", "kafka3-voters"])
def test_a_stock_kraft_server_properties_starts_a_broker(tmp_path, cores, text):
    b = config_broker(tmp_path, cores, text, FREE_PORTS)
    try:
        b.start()
        assert round_trip(b.bootstrap, "quick-start-events", 5) == [b"v%d" % i for i in range(5)]
        noticed_once(b.log_text(), ["num.network.threads=3 is accepted and has no effect",
                                    "num.io.threads=8 is accepted and has no effect",
                                    "transaction.state.log.min.isr=1 is accepted and has no effect",
                                    "controller listener CONTROLLER://127.0.0.1:0 is not opened",
                                    "inter.broker.listener.name=PLAINTEXT has no effect"])
        # The file's settings that mean something are in force.
        a = clients.admin(b)
        from confluent_kafka.admin import ConfigResource, ResourceType
        res = ConfigResource(ResourceType.BROKER, "1")
        entries = a.describe_configs([res])[res].result(timeout=30)
        assert entries["log.retention.hours"].value == "168"
        assert entries["process.roles"].value == "broker,controller"
        assert entries["controller.listener.names"].value == "CONTROLLER"
        b.stop()
    finally:
        b.close()


def test_a_production_server_properties_starts_a_broker(tmp_path, cores):
    """The tuning keys production configs carry (threads, purgatories, replica fetch sizes,
    quorum timers, cleaner settings at Kafka's defaults): each accepted with one notice
    line that says why it has no effect here, or that shoal behaves as the value says."""
    text = (CONFIG_DIR / "kafka-4-production.properties").read_text()
    b = config_broker(tmp_path, cores, text, FREE_PORTS)
    try:
        b.start()
        # num.partitions=3: the records spread over three partitions.
        assert sorted(round_trip(b.bootstrap, "production-events", 3)) == [b"v%d" % i for i in range(3)]
        noticed_once(b.log_text(), ["replica.fetch.max.bytes=10485760 is accepted and has no effect",
                                    "group.coordinator.threads=4 is accepted and has no effect",
                                    "log.cleaner.enable=true is accepted: the cleaner always runs",
                                    "unclean.leader.election.enable=false is accepted",
                                    "broker.id=-1 is accepted: node.id names the node"])
        b.stop()
    finally:
        b.close()


@pytest.mark.parametrize("overrides, says", [
    ({"zookeeper.connect": "localhost:2181"}, 'config key "zookeeper.connect" is not accepted: shoal needs no ZooKeeper'),
    ({"unclean.leader.election.enable": "true"},
     'Invalid value true for configuration unclean.leader.election.enable: shoal takes only "false": '
     "shoal reads only the topic's unclean.leader.election.enable"),
    ({"create.topic.policy.class.name": "com.example.Policy"},
     "configuration create.topic.policy.class.name: shoal takes only \"\": a Java class, which shoal cannot load"),
    ({"num.partition": "3"}, 'unknown config key "num.partition"; did you mean "num.partitions"?'),
    ({"process.roles": "broker"},
     "unless controller.quorum.voters or controller.quorum.bootstrap.servers names the controllers"),
    ({"broker.id": "3", "node.id": "4"},
     "Invalid value 3 for configuration broker.id: expected the value of node.id (4)"),
], ids=["zookeeper", "unclean-by-default", "policy-class", "misspelt", "broker-only-without-controllers",
        "broker-id-disagrees"])
def test_settings_shoal_cannot_honour_stop_it_with_a_message(tmp_path, cores, overrides, says):
    b = Broker(shoal_bin(), tmp_path, "b", cores, overrides)
    log = refused(b)
    assert says in log, log


def test_an_unknown_shoal_variable_stops_the_broker(tmp_path, cores):
    b = Broker(shoal_bin(), tmp_path, "b", cores, {})
    b.env = {"SHOAL_NUM_PARTITION": "3"}
    log = refused(b)
    assert 'unknown environment variable SHOAL_NUM_PARTITION; did you mean "SHOAL_NUM_PARTITIONS"?' in log, log


def test_a_misspelt_key_in_the_file_names_the_closest(tmp_path, cores):
    b = config_broker(tmp_path, cores, "log.retention.hour=24\n", {})
    log = refused(b)
    assert 'unknown config key "log.retention.hour"; did you mean "log.retention.hours"?' in log, log


def test_a_new_groups_first_consumer_gets_records_at_once(broker):
    """Kafka's quick start sets group.initial.rebalance.delay.ms=0, and tutorials write a
    kafka-python consumer with consumer_timeout_ms=1000: it must print the records, not
    stop empty while the group waits out a 3 s delay. The embedded defaults are the quick
    start's."""
    t = clients.unique_topic("tutorial")
    clients.create_topic(broker, t, 1)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False)
    try:
        for i in range(3):
            p.send(t, value=b"hello %d" % i)
        p.flush(30)
    finally:
        p.close(10)
    started = time.monotonic()
    c = KafkaConsumer(t, bootstrap_servers=broker.bootstrap, group_id=clients.unique_topic("tutorial-group"),
                      auto_offset_reset="earliest", consumer_timeout_ms=2500)
    try:
        got = [record.value for record in c]
    finally:
        c.close()
    assert got == [b"hello 0", b"hello 1", b"hello 2"], f"got {got} in {time.monotonic() - started:.1f}s"
