"""The config APIs' refusals in Kafka's own words (docs/conformance/configs.md): what
kafka-configs.sh and the admin clients print is the broker's error message, so each
refusal carries the text Kafka's broker or controller sends, read in Kafka's
`ConfigAdminManager`, `ConfigurationControlManager`, `LogConfig`, `GroupConfig`,
`ConfigDef` and `RuntimeLoggerManager`. Topics and the broker through confluent-kafka,
groups and loggers through kafka-python (the one whose admin speaks their resource
types)."""

from __future__ import annotations

from confluent_kafka import KafkaError
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
from kafka.admin import ConfigResource as PyResource, ConfigResourceType, KafkaAdminClient

import kafka_wire as kw
from clients import admin, create_topic, future_error, unique_topic
from test_admin_configs import broker_id

SET, DELETE, APPEND = AlterConfigOpType.SET, AlterConfigOpType.DELETE, AlterConfigOpType.APPEND
BROKER, LOGGER, CLIENT_METRICS, GROUP = 4, 8, 16, 32
INVALID_CONFIG = 40
# Kafka's text for INVALID_REQUEST, which it sends where a handler throws.
MALFORMED = ("This most likely occurs because of a request being malformed by the client library or the message "
             "was sent to an incompatible broker. See the broker logs for more details.")


def incremental(b, rtype, name: str, ops: list) -> tuple[int, str] | None:
    """The (code, message) an IncrementalAlterConfigs of `ops` is refused with, or None."""
    entries = [ConfigEntry(k, v, incremental_operation=op) for k, v, op in ops]
    r = ConfigResource(rtype, name, incremental_configs=entries)
    error = future_error(admin(b).incremental_alter_configs([r])[r])
    return None if error is None else (error.code(), error.str())


def test_topic_config_refusals_are_kafkas(broker):
    t = unique_topic("worded")
    create_topic(broker, t)
    topic = lambda ops: incremental(broker, ResourceType.TOPIC, t, ops)  # noqa: E731
    invalid = KafkaError.INVALID_CONFIG
    assert topic([("retention.msec", "1", SET)]) == (invalid, "Unknown topic config name: retention.msec")
    assert topic([("retention.ms", "soon", SET)]) == (
        invalid, "Invalid value soon for configuration retention.ms: Not a number of type LONG")
    assert topic([("retention.ms", "-2", SET)]) == (
        invalid, "Invalid value -2 for configuration retention.ms: Value must be at least -1")
    assert topic([("unclean.leader.election.enable", "sure", SET)]) == (
        invalid, "Invalid value sure for configuration unclean.leader.election.enable: "
                 "Expected value to be either true or false")
    assert topic([("cleanup.policy", "delete,shred", SET)]) == (
        invalid, "Invalid value shred for configuration cleanup.policy: String must be one of: compact, delete")
    assert topic([("message.timestamp.type", "Now", SET)]) == (
        invalid, "Invalid value Now for configuration message.timestamp.type: "
                 "String must be one of: CreateTime, LogAppendTime")
    assert topic([("retention.ms", "1", APPEND)]) == (
        invalid, "Can't APPEND to key retention.ms because its type is not LIST.")
    assert topic([("min.compaction.lag.ms", "500", SET), ("max.compaction.lag.ms", "100", SET)]) == (
        invalid, "conflict topic config setting min.compaction.lag.ms (500) > max.compaction.lag.ms (100)")
    assert topic([("retention.ms", "1" * 32768, SET)]) == (
        invalid, "The configuration value cannot be added because it exceeds the maximum value size of 32767 bytes.")
    # Removing a key that is not set, known or not, changes nothing (Kafka validates
    # what is left).
    assert topic([("retention.msec", None, DELETE)]) is None
    missing = unique_topic("missing")
    assert incremental(broker, ResourceType.TOPIC, missing, [("retention.ms", "1", SET)]) == (
        KafkaError.UNKNOWN_TOPIC_OR_PART, f"The topic '{missing}' does not exist.")


def test_broker_config_refusals_are_kafkas(broker):
    bid = broker_id(broker)
    brokers = lambda name, ops: incremental(broker, ResourceType.BROKER, name, ops)  # noqa: E731
    request = KafkaError.INVALID_REQUEST
    # confluent-kafka sends a broker's resource to that broker: other ids are sent raw.
    assert raw_alter(broker, [(BROKER, "99", [("log.retention.ms", 0, "1")])]) == [
        (BROKER, "99", kw.INVALID_REQUEST, f"Unexpected broker id, expected {bid}, but received 99")]
    assert raw_alter(broker, [(BROKER, "one", [("log.retention.ms", 0, "1")])]) == [
        (BROKER, "one", kw.INVALID_REQUEST, "Node id must be an integer, but it is: one")]
    assert raw_alter(broker, [(BROKER, bid, [("log.retention.ms", 9, "1")])]) == [
        (BROKER, bid, kw.INVALID_REQUEST, "Unknown operations type 9")]
    assert brokers(bid, [("log.dirs", "/elsewhere", SET)]) == (
        request, "Cannot update these configs dynamically: Set(log.dirs)")
    assert brokers(bid, [("log.retention.ms", "1", APPEND)]) == (
        KafkaError.INVALID_CONFIG, "Config value append is not allowed for config key: log.retention.ms")
    assert brokers(bid, [("log.retention.ms", "soon", SET)]) == (
        request, "Invalid value soon for configuration log.retention.ms: Not a number of type LONG")


def raw_alter(b, resources: list) -> list:
    """IncrementalAlterConfigs v0, sent as is: [(type, name, error, message)]."""
    with kw.Conn(b.bootstrap) as c:
        return kw.parse_alter_configs_v0(c.request(kw.INCREMENTAL_ALTER_CONFIGS, 0,
                                                   kw.incremental_alter_configs_v0(resources)))


def test_group_and_logger_refusals_are_kafkas(broker):
    group, session = unique_topic("grouped"), "consumer.session.timeout.ms"
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        result = client.alter_configs([PyResource(ConfigResourceType.GROUP, group, configs={session: ("APPEND", "1")})],
                                      raise_on_unknown=False, incremental=True)
        assert result["group"][group] == \
            f"[Error 40] InvalidConfigurationError: Can't APPEND to key {session} because its type is not LIST."
    finally:
        client.close()
    invalid = INVALID_CONFIG
    for ops, error, message in [
            ([(session, 0, "1000")], invalid,
             f"{session} must be greater than or equal to group.consumer.min.session.timeout.ms"),
            ([(session, 0, "600000")], invalid,
             f"{session} must be less than or equal to group.consumer.max.session.timeout.ms"),
            ([(session, 0, "soon")], invalid,
             f"Invalid value soon for configuration {session}: Not a number of type INT"),
            ([("share.session.timeout.ms", 0, "1")], invalid, "Unknown group config name: share.session.timeout.ms")]:
        assert raw_alter(broker, [(GROUP, group, ops)]) == [(GROUP, group, error, message)], ops
    assert raw_alter(broker, [(GROUP, "", [(session, 0, "50000")])]) == [
        (GROUP, "", kw.INVALID_REQUEST, "Default group resources are not allowed.")]
    bid = broker_id(broker)
    for ops, error, message in [
            ([("root", 2, "DEBUG")], kw.INVALID_REQUEST,
             "APPEND operation is not allowed for the BROKER_LOGGER resource"),
            ([("root", 3, "DEBUG")], kw.INVALID_REQUEST,
             "SUBTRACT operation is not allowed for the BROKER_LOGGER resource"),
            ([("root", 7, "DEBUG")], kw.INVALID_REQUEST,
             "Unknown operation type 7 is not allowed for the BROKER_LOGGER resource"),
            ([("no.such.logger", 0, "DEBUG")], invalid, "Logger no.such.logger does not exist!")]:
        assert raw_alter(broker, [(LOGGER, bid, ops)]) == [(LOGGER, bid, error, message)], ops
    assert raw_alter(broker, [(LOGGER, "99", [("root", 0, "INFO")])]) == [
        (LOGGER, "99", kw.INVALID_REQUEST, f"Unexpected node id. Expected {bid}, but received 99")]


def described_refusals(broker, resources: list[tuple[int, str]]) -> list[tuple[int, str | None]]:
    """(error, message) per resource of a DescribeConfigs v1 asking for `resources`, each
    answered without configs."""
    with kw.Conn(broker.bootstrap) as c:
        request = kw.array([kw.i8(rtype) + kw.string(name) + kw.array(None) for rtype, name in resources])
        rd = kw.Reader(c.request(kw.DESCRIBE_CONFIGS, 1, request + kw.i8(0)))
    rd.i32()

    def result(r: kw.Reader):
        error, message, _rtype, _name = r.i16(), r.string(), r.i8(), r.string()
        assert not r.array(lambda q: q), "no configs with an error"
        return error, message
    return rd.array(result)


def test_describe_configs_refusals_are_kafkas(broker):
    """DescribeConfigs: a topic that does not exist has no message; other brokers' ids,
    a group without a name, a broker logger's resource without an id, in Kafka's
    words; a client metrics subscription (a type Kafka knows, shoal does not serve) is
    refused for itself. A resource type Kafka does not know fails the whole request, as
    Kafka's handler throws for it: every resource INVALID_REQUEST with the error's text."""
    bid = broker_id(broker)
    missing = unique_topic("missing")
    assert described_refusals(broker, [(kw.RESOURCE_TOPIC, missing), (BROKER, "99"), (BROKER, "x"), (GROUP, ""),
                                       (LOGGER, ""), (LOGGER, "99"), (CLIENT_METRICS, "sub")]) == [
        (kw.UNKNOWN_TOPIC_OR_PARTITION, None),
        (kw.INVALID_REQUEST, f"Unexpected broker id, expected {bid} or empty string, but received 99"),
        (kw.INVALID_REQUEST, "Broker id must be an integer, but it is: x"),
        (kw.INVALID_REQUEST, "Group name must not be empty"),
        (kw.INVALID_REQUEST, "Broker id must not be empty"),
        (kw.INVALID_REQUEST, f"Unexpected broker id, expected {bid} but received 99"),
        (kw.INVALID_REQUEST, "Client metrics subscriptions (KIP-714) are not served by this broker: sub")]
    for unknown in (3, 99):
        assert described_refusals(broker, [(kw.RESOURCE_TOPIC, missing), (unknown, "x"), (BROKER, str(bid))]) == \
            [(kw.INVALID_REQUEST, MALFORMED)] * 3, unknown
