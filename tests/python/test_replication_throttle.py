"""Replication throttles on three shoal processes, set as operators set them: with a real
admin client (confluent-kafka's IncrementalAlterConfigs on topics and on one broker) and
with `shoal reassign --throttle` (kafka-reassign-partitions.sh's options and output).
A replica that joins a partition copies its log no faster than the throttle allows, from
the leader's side and from the follower's; a replica in the ISR is never held back, even
at 1 byte per second; the tool sets each throttle where Kafka's tool sets it and --verify
clears them once nothing moves."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, NewTopic, ResourceType

from clients import base_conf, unique_topic, wait_futures
from conftest import on_cores
from test_admin_configs import source
from test_quorum import scrape_value, wait_for
from test_reassignment import moves_file, reassign_tool
from test_replication import cluster_admin, layout, start_cluster_with

# 3 MB copied at 400 kB/s: the leader sends a partition at most 1 MB a fetch, and with two
# windows of a second a throttled replica gets one such fetch about every 2 s, so the copy
# takes 4 s or more; unthrottled it takes well under a second here.
LOG_BYTES = 3 << 20
RATE = 400_000
THROTTLED_AT_LEAST_S = 2.5


def fill(brokers, topic: str, nbytes: int, **conf):
    p = Producer({**base_conf(brokers[0]), "bootstrap.servers": ",".join(b.bootstrap for b in brokers),
                  "linger.ms": 20, **conf})
    errors = []
    value = b"r" * 100_000
    for _ in range(nbytes // len(value)):
        p.produce(topic, value, partition=0, on_delivery=lambda err, _m: err and errors.append(err))
        p.poll(0)
    assert p.flush(60) == 0 and not errors, errors


def alter(a, resource_type, name: str, **configs: str | None):
    """IncrementalAlterConfigs: SET each key given a value, DELETE each given None."""
    entries = [ConfigEntry(k.replace("_", "."), v, incremental_operation=(
        AlterConfigOpType.SET if v is not None else AlterConfigOpType.DELETE)) for k, v in configs.items()]
    wait_futures(a.incremental_alter_configs([ConfigResource(resource_type, name, incremental_configs=entries)]))


def own_configs(a, resource_type, name: str) -> dict[str, str]:
    """The keys set on the resource itself (dynamically on a broker, as overrides on a topic)."""
    own = {ResourceType.BROKER: ConfigSource.DYNAMIC_BROKER_CONFIG, ResourceType.TOPIC: ConfigSource.DYNAMIC_TOPIC_CONFIG}
    resource = ConfigResource(resource_type, name)
    entries = a.describe_configs([resource])[resource].result(timeout=20)
    return {k: e.value for k, e in entries.items() if source(e) == own[resource_type]}


def joined(a, topic: str, replicas: list[int]) -> bool:
    parts = layout(a, topic) or {}
    return 0 in parts and parts[0][1] == replicas and sorted(parts[0][2]) == sorted(replicas)


# Two shards: a throttle's rate is the broker's, over its shards.
@on_cores(2)
@pytest.mark.timeout(240)
def test_a_joining_replica_copies_no_faster_than_its_throttle_and_the_isr_is_never_held_back(
        start_broker, tmp_path):
    by_id = start_cluster_with(start_broker, {"replication.quota.window.num": 2})
    brokers = list(by_id.values())
    a = cluster_admin(brokers)
    # leader: broker 1 sends to broker 2, and only broker 1 throttles (as a leader).
    # follower: broker 2 sends to broker 3, and only broker 3 throttles (as a follower).
    for side, (leader, joining) in {"leader": (1, 2), "follower": (2, 3)}.items():
        topic = unique_topic(f"throttled-{side}")
        wait_futures(a.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[leader]])],
                                     operation_timeout=20))
        wait_for("the topic led", lambda: joined(a, topic, [leader]))
        fill(brokers, topic, LOG_BYTES, acks=1)
        throttler = leader if side == "leader" else joining
        alter(a, ResourceType.TOPIC, topic, **{f"{side}_replication_throttled_replicas": f"0:{throttler}"})
        alter(a, ResourceType.BROKER, str(throttler), **{f"{side}_replication_throttled_rate": str(RATE)})
        assert own_configs(a, ResourceType.BROKER, str(throttler)) == {f"{side}.replication.throttled.rate": str(RATE)}

        started = time.monotonic()
        out = reassign_tool(by_id[1], "--execute", "--reassignment-json-file",
                            moves_file(tmp_path, topic, {0: [leader, joining]}))
        assert out.returncode == 0, out.stderr
        series = f"kafka_server_{side}replication_byte_rate"
        wait_for(f"broker {throttler}'s {series} above 0", lambda: scrape_value(by_id[throttler], series) > 0)
        wait_for(f"broker {joining} in the ISR", lambda: joined(a, topic, [leader, joining]), deadline_s=60)
        took = time.monotonic() - started
        assert took >= THROTTLED_AT_LEAST_S, f"{LOG_BYTES} bytes at {RATE} B/s copied in {took:.1f} s"

        # In the ISR now: never held back, even at 1 byte per second on both sides.
        alter(a, ResourceType.TOPIC, topic, leader_replication_throttled_replicas="*",
              follower_replication_throttled_replicas="*")
        for b in (leader, joining):
            alter(a, ResourceType.BROKER, str(b), leader_replication_throttled_rate="1",
                  follower_replication_throttled_rate="1")
        alter(a, ResourceType.TOPIC, topic, min_insync_replicas="2")
        # Past 1 B/s after the first bytes, a held follower would get nothing for a window
        # or two (1-2 s) at each record, and each acks=all record would wait that long:
        # sent one at a time, every one must be acknowledged within a second and a half.
        p = Producer({**base_conf(brokers[0]), "bootstrap.servers": ",".join(b.bootstrap for b in brokers),
                      "acks": "all", "message.timeout.ms": 1500})
        p.list_topics(topic, timeout=10)  # connected to the leader before the clock starts
        errors = []
        for i in range(20):
            p.produce(topic, b"r" * 100_000, partition=0, on_delivery=lambda err, _m: err and errors.append(err))
            assert p.flush(10) == 0 and not errors, (i, errors)
        assert joined(a, topic, [leader, joining])
        for b in (leader, joining):
            alter(a, ResourceType.BROKER, str(b), leader_replication_throttled_rate=None,
                  follower_replication_throttled_rate=None)


@on_cores(2)
@pytest.mark.timeout(180)
def test_the_reassign_tool_sets_throttles_where_kafkas_does_and_verify_clears_them(start_broker, tmp_path):
    by_id = start_cluster_with(start_broker, {})
    brokers = list(by_id.values())
    a = cluster_admin(brokers)
    topic = unique_topic("tool-throttled")
    wait_futures(a.create_topics([NewTopic(topic, num_partitions=2, replica_assignment=[[1, 2], [2, 3]])],
                                 operation_timeout=20))
    wait_for("the ISRs full", lambda: joined(a, topic, [1, 2]))
    # A rate no copy here comes near: the test is of where the throttles go.
    plan = moves_file(tmp_path, topic, {0: [1, 3], 1: [2, 3]})
    out = reassign_tool(by_id[1], "--execute", "--reassignment-json-file", plan, "--throttle", "50000000")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-3:] == [
        "Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.",
        "The inter-broker throttle limit was set to 50000000 B/s",
        # Partition 1 is named, though its replicas stay: Kafka's tool names it too.
        f"Successfully started partition reassignments for {topic}-0,{topic}-1"]
    # Sources leader-throttled, new replicas follower-throttled, every broker of either rated.
    assert own_configs(a, ResourceType.TOPIC, topic) == {
        "leader.replication.throttled.replicas": "0:1,0:2,1:2,1:3",
        "follower.replication.throttled.replicas": "0:3"}
    for b in (1, 2, 3):
        assert own_configs(a, ResourceType.BROKER, str(b)) == {
            "leader.replication.throttled.rate": "50000000", "follower.replication.throttled.rate": "50000000"}

    done = [f"Reassignment of partition {topic}-{p} is completed." for p in (0, 1)]
    out = wait_for("--verify reporting the moves completed", lambda: (
        lambda o: o if o.stdout.splitlines()[1:3] == done else None)(
        reassign_tool(by_id[2], "--verify", "--reassignment-json-file", plan)), deadline_s=60)
    assert out.stdout == "\n".join(["Status of partition reassignment:", *done, "",
                                    "Clearing broker-level throttles on brokers 1,2,3",
                                    f"Clearing topic-level throttles on topic {topic}"]) + "\n"
    assert own_configs(a, ResourceType.TOPIC, topic) == {}
    for b in (1, 2, 3):
        assert own_configs(a, ResourceType.BROKER, str(b)) == {}
    # --preserve-throttles leaves them.
    alter(a, ResourceType.BROKER, "2", leader_replication_throttled_rate="7")
    out = reassign_tool(by_id[2], "--verify", "--reassignment-json-file", plan, "--preserve-throttles")
    assert "Clearing" not in out.stdout
    assert own_configs(a, ResourceType.BROKER, "2") == {"leader.replication.throttled.rate": "7"}
