"""Kafka's BROKER_LOGGER config resource (KIP-412): a broker's loggers and their levels,
described and altered in the running process with kafka-python's admin client (which
speaks DescribeConfigs and IncrementalAlterConfigs for resource type 8) and with `shoal
configs --entity-type broker-loggers`, as kafka-configs.sh does. A change reaches the
broker's log filter at once: at WARN, the broker's own INFO line about the change is not
written."""

from __future__ import annotations

import re

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from clients import admin
from test_cli import fails, ok

CHANGED = "log levels changed"


def node_id(broker) -> str:
    (bid,) = admin(broker).list_topics(timeout=10).brokers
    return str(bid)


def loggers(client, bid: str) -> dict[str, str]:
    described = client.describe_configs([ConfigResource(ConfigResourceType.BROKER_LOGGER, bid)],
                                        config_filter="all")
    entries = described["broker_logger"][bid]
    return {name: entry["value"] for name, entry in entries.items()}


def alter(client, bid: str, **levels: str | None):
    """SET each logger given a level, DELETE each given None (`_` stands for `.`)."""
    configs = {k.replace("_", "."): (("SET", v) if v is not None else ("DELETE", None)) for k, v in levels.items()}
    result = client.alter_configs([ConfigResource(ConfigResourceType.BROKER_LOGGER, bid, configs=configs)],
                                  raise_on_unknown=False, incremental=True)
    outcome = result["broker_logger"][bid]
    assert outcome == "OK", outcome


def test_loggers_are_described_and_their_levels_change_the_running_filter(broker):
    bid = node_id(broker)
    client = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        levels = loggers(client, bid)
        assert levels["root"] == "INFO" and levels["shoal.replication"] == "INFO", levels

        alter(client, bid, shoal_quorum="TRACE")
        assert loggers(client, bid)["shoal.quorum"] == "TRACE"
        # The broker logs the change before it answers, but its stderr reaches the test
        # through a reader thread: wait for the line rather than read the file at once.
        assert broker.wait_for_stderr(CHANGED).endswith("filter=info,shoal::quorum=trace")
        # At WARN the broker's INFO line about this very change is filtered out.
        alter(client, bid, root="WARN")
        levels = loggers(client, bid)
        assert (levels["root"], levels["shoal.storage"], levels["shoal.quorum"]) == ("WARN", "WARN", "TRACE")
        # DELETE takes a logger's own level away: it follows the root again.
        alter(client, bid, shoal_quorum=None)
        assert loggers(client, bid)["shoal.quorum"] == "WARN"
        alter(client, bid, root="INFO")
        # The next such line is this change's: the changes at WARN printed none.
        assert broker.wait_for_stderr(CHANGED).endswith("filter=info")
        assert broker.log_text().count(CHANGED) == 2

        # kafka-python reports each resource's error as "[Error N] Name: message".
        for levels, error in [({"root": None}, "[Error 42] InvalidRequestError: Removing the log level of the root"),
                              ({"shoal_server": "LOUD"}, "[Error 40] InvalidConfigurationError: Cannot set the log"),
                              ({"kafka.server": "DEBUG"}, "[Error 40] InvalidConfigurationError: Logger kafka.server")]:
            with pytest.raises(AssertionError, match=re.escape(error)):
                alter(client, bid, **levels)
        assert loggers(client, bid)["root"] == "INFO"
        # KIP-412: the old AlterConfigs does not alter loggers.
        resource = ConfigResource(ConfigResourceType.BROKER_LOGGER, bid, configs={"root": "DEBUG"})
        result = client.alter_configs([resource], raise_on_unknown=False, incremental=False)
        assert result["broker_logger"][bid].startswith("[Error 42] InvalidRequestError"), result
        assert loggers(client, bid)["root"] == "INFO"
    finally:
        client.close()


def test_the_configs_tool_reads_and_sets_broker_loggers_as_kafka_configs_does(broker):
    bid = node_id(broker)
    out = ok(broker, "configs", "--entity-type", "broker-loggers", "--entity-name", bid, "--describe").splitlines()
    assert out[0] == f"Dynamic configs for broker-logger {bid} are:"
    assert "  root=INFO sensitive=false synonyms={}" in out
    assert ok(broker, "configs", "--entity-type", "broker-loggers", "--entity-name", bid, "--alter",
              "--add-config", "shoal.replication=DEBUG") == f"Completed updating config for broker-logger {bid}.\n"
    out = ok(broker, "configs", "--entity-type", "broker-loggers", "--entity-name", bid, "--describe")
    assert "  shoal.replication=DEBUG sensitive=false synonyms={}" in out.splitlines()
    assert fails(broker, "configs", "--entity-type", "broker-loggers", "--entity-name", bid, "--alter",
                 "--add-config", "nope=DEBUG") == "shoal: Invalid broker logger(s): nope"
    assert ok(broker, "configs", "--entity-type", "broker-loggers", "--entity-name", bid, "--alter",
              "--delete-config", "shoal.replication") == f"Completed updating config for broker-logger {bid}.\n"
