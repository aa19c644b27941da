"""KIP-848's GROUP config resource (type 32): a consumer group's own
`consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms`, described and
altered with kafka-python's admin client and `shoal configs --entity-type groups`, checked
against the broker's `group.consumer.{min,max}.*` bounds, kept across a restart, and
obeyed: a group whose session timeout is 2 s hands a killed member's partitions on within
seconds, though the broker's default is 45 s."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from clients import base_conf, create_topic, unique_topic
from test_cli import fails, ok
from test_groups import DOOMED_MEMBER

SESSION, HEARTBEAT = "consumer.session.timeout.ms", "consumer.heartbeat.interval.ms"


def described(client, group: str) -> dict[str, tuple[str, int]]:
    result = client.describe_configs([ConfigResource(ConfigResourceType.GROUP, group)], config_filter="all")
    return {name: (e["value"], e["config_source"]) for name, e in result["group"][group].items()}


def alter(client, group: str, **configs) -> str:
    """SET each key given a value, DELETE each given None (`_` for `.`); the outcome."""
    ops = {k.replace("_", "."): (("SET", v) if v is not None else ("DELETE", None)) for k, v in configs.items()}
    result = client.alter_configs([ConfigResource(ConfigResourceType.GROUP, group, configs=ops)],
                                  raise_on_unknown=False, incremental=True)
    return result["group"][group]


def test_a_group_s_configs_are_described_altered_within_bounds_and_kept(start_broker):
    b = start_broker()
    client = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    group = unique_topic("configured")
    try:
        # A group that sets nothing shows the broker's values (DEFAULT_CONFIG).
        assert described(client, group) == {HEARTBEAT: ("5000", "DEFAULT_CONFIG"), SESSION: ("45000", "DEFAULT_CONFIG")}
        assert alter(client, group, consumer_session_timeout_ms="50000") == "OK"
        assert described(client, group)[SESSION] == ("50000", "DYNAMIC_GROUP_CONFIG")
        for configs, error in [({"consumer_session_timeout_ms": "1000"}, "[Error 40] InvalidConfigurationError"),
                               ({"consumer_heartbeat_interval_ms": "99999"}, "[Error 40] InvalidConfigurationError"),
                               ({"share_session_timeout_ms": "50000"}, "[Error 40] InvalidConfigurationError")]:
            assert alter(client, group, **configs).startswith(error)
        assert described(client, group)[SESSION] == ("50000", "DYNAMIC_GROUP_CONFIG")
    finally:
        client.close()
    # Kept across a restart, and shown by the tool as kafka-configs.sh shows it.
    b.restart()
    out = ok(b, "configs", "--entity-type", "groups", "--entity-name", group, "--describe").splitlines()
    assert out == [f"Dynamic configs for group {group} are:",
                   "  consumer.session.timeout.ms=50000 sensitive=false synonyms={}"]
    assert ok(b, "configs", "--entity-type", "groups", "--entity-name", group, "--alter",
              "--add-config", f"{HEARTBEAT}=6000", "--delete-config", SESSION) == \
        f"Completed updating config for group {group}.\n"
    out = ok(b, "configs", "--entity-type", "groups", "--entity-name", group, "--describe").splitlines()
    assert out[1:] == ["  consumer.heartbeat.interval.ms=6000 sensitive=false synonyms={}"]
    assert "INVALID_CONFIG" in fails(b, "configs", "--entity-type", "groups", "--entity-name", group, "--alter",
                                     "--add-config", f"{HEARTBEAT}=1")


def test_a_group_s_session_timeout_is_obeyed(start_broker):
    # The bounds let a group ask for a 2 s session; the broker's own default stays 45 s.
    b = start_broker({"group.consumer.min.session.timeout.ms": 1000, "group.consumer.min.heartbeat.interval.ms": 500})
    topic, group = unique_topic("obeyed"), unique_topic("obeyed-g")
    create_topic(b, topic, 4)
    client = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        assert alter(client, group, consumer_session_timeout_ms="2000", consumer_heartbeat_interval_ms="500") == "OK"
    finally:
        client.close()
    survivor = Consumer({**base_conf(b), "group.id": group, "group.protocol": "consumer"})
    survivor.subscribe([topic])
    # A member in a process of its own, killed without leaving.
    doomed = subprocess.Popen([sys.executable, "-c", DOOMED_MEMBER, b.bootstrap, group, topic])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(survivor.assignment()) != 2:
            survivor.poll(0.2)
        assert len(survivor.assignment()) == 2, survivor.assignment()
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    killed = time.monotonic()
    while time.monotonic() - killed < 15 and len(survivor.assignment()) != 4:
        survivor.poll(0.2)
    # Within the group's 2 s session and a reconciliation, far inside the broker's 45 s.
    assert len(survivor.assignment()) == 4, survivor.assignment()
    survivor.close()
