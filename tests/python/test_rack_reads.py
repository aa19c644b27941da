"""Fetching from the closest replica (KIP-392), on three brokers in racks a, b and c with
`replica.selector.class` set to Kafka's RackAwareReplicaSelector: a partition's leader sends
a consumer of another rack (`client.rack`, Fetch v11+) to the in-sync replica of its rack,
and that follower serves it up to its high watermark. Raw Fetch requests check the protocol;
a librdkafka consumer (confluent-kafka with `client.rack`) reads a topic through its rack's
follower."""

from __future__ import annotations

import json
import time

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewTopic

import kafka_wire as kw
from clients import CLIENT_TIMEOUT_S, admin, base_conf, produce_all, producer, unique_topic, wait_futures
from test_conformance_cluster import describe_topic_partitions
from test_quorum import describe_cluster, start_quorum, wait_for

RACKS = {1: "a", 2: "b", 3: "c"}
RACK_AWARE = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
RECORDS = 10
NOT_LEADER_OR_FOLLOWER = 6


def fetch(b, topic: str, rack: str, offset: int = 0) -> kw.FetchedV12:
    with kw.Conn(b.bootstrap) as c:
        return kw.parse_fetch_v12(c.request(kw.FETCH, 12, kw.fetch_v12(topic, 0, offset, rack=rack), flexible=True))[
            (topic, 0)]


def values(fetched: kw.FetchedV12) -> list[bytes]:
    return [r.value for batch in kw.decode_batches(fetched.records) for _, _, r in batch.records]


def test_a_consumer_is_sent_to_the_replica_of_its_rack_and_reads_there(start_broker):
    brokers, _ = start_quorum(start_broker, {"replica.selector.class": RACK_AWARE},
                              node_settings=lambda i: {"broker.rack": RACKS[i + 1]})
    by_id = {i + 1: b for i, b in enumerate(brokers)}
    wait_for("every node registering the three brokers",
             lambda: all(set(describe_cluster(b)[1]) == set(RACKS) for b in brokers))
    topic = unique_topic("near")
    wait_futures(admin(by_id[1]).create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[1, 2, 3]])],
                                               operation_timeout=20))

    def led_by_1_in_sync(b) -> bool:
        with kw.Conn(b.bootstrap) as c:
            (t,) = describe_topic_partitions(c, [topic])
        return [(p.leader_id, sorted(p.isr_nodes)) for p in t.partitions] == [(1, [1, 2, 3])]
    wait_for("broker 1 leading with every replica in sync", lambda: all(led_by_1_in_sync(b) for b in brokers))
    produce_all(producer(by_id[1], acks="all"), topic, [{"partition": 0, "value": b"%d" % i} for i in range(RECORDS)])
    written = [b"%d" % i for i in range(RECORDS)]

    # The follower in rack c learns the high watermark on its next fetch from the leader.
    near = wait_for("broker 3 serving every record", lambda: (
        lambda f: f if f.error_code == 0 and values(f) == written else None)(fetch(by_id[3], topic, "c")))
    assert (near.high_watermark, near.preferred_read_replica) == (RECORDS, -1)
    # The leader sends a consumer of rack c to broker 3, without records; one of its own
    # rack, or of a rack without a replica, or naming none, it serves.
    sent = fetch(by_id[1], topic, "c")
    assert (sent.error_code, sent.preferred_read_replica, sent.high_watermark, sent.records) == (0, 3, RECORDS, b"")
    assert fetch(by_id[1], topic, "b").preferred_read_replica == 2
    for rack in ("a", "z", ""):
        served = fetch(by_id[1], topic, rack)
        assert (served.preferred_read_replica, values(served)) == (-1, written), rack
    # A consumer's fetch before v11 carries no rack, and only the leader serves it.
    with kw.Conn(by_id[3].bootstrap) as c:
        old = kw.parse_fetch_v4(c.request(kw.FETCH, 4, kw.fetch_v4(topic, 0, 0)))[(topic, 0)]
    assert old.error_code == NOT_LEADER_OR_FOLLOWER

    # librdkafka in rack c: sent to broker 3 by the leader, it reads everything there.
    stats: list[dict] = []
    conf = base_conf(by_id[1], **{"group.id": unique_topic("g"), "client.rack": "c", "enable.auto.commit": False,
                                  "statistics.interval.ms": 100})
    c = Consumer({**conf, "stats_cb": lambda s: stats.append(json.loads(s))})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got: list[bytes] = []
        deadline = time.monotonic() + CLIENT_TIMEOUT_S
        while len(got) < RECORDS:
            assert time.monotonic() < deadline, f"read {got}"
            for m in c.consume(num_messages=100, timeout=1.0):
                assert m.error() is None, m.error()
                got.append(m.value())

        def fetching_from() -> int | None:
            c.poll(0.2)
            partition = stats[-1]["topics"][topic]["partitions"]["0"] if stats else None
            return partition["broker"] if partition and partition["broker"] == 3 else None
        wait_for("librdkafka fetching from broker 3", fetching_from)
    finally:
        c.close()
    assert got == written
