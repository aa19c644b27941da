"""Replication between three shoal processes, with real clients (confluent-kafka, i.e.
librdkafka): a topic of replication factor 3 is copied to every broker, shard to shard,
and its ISR is full on every node. A partition leader killed with kill -9 while an
idempotent producer writes with acks=all is replaced by an ISR member; the producer
carries on, and every acknowledged record is there once, in order. The killed broker,
restarted, truncates to the new leader's log, catches up and rejoins the ISR. With fewer
in-sync replicas than min.insync.replicas, acks=all is refused with NOT_ENOUGH_REPLICAS.

`SHOAL_TEST_SEED` replays the victims' order of a failed run (the seed is printed)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_wire as kw
from clients import (base_conf, consume_all, produce_all, produce_one_error, producer, unique_topic, wait_futures,
                     watermarks)
from conftest import shoal_bin
from test_quorum import describe_cluster, scrape_value, start_quorum, wait_for

# Replication is shard to shard: its tests run with two shards a broker, once (conftest's SHOAL_CORES).
SHOAL_CORES = [2]

PARTITIONS = 4
# Rounds of kill -9 in the failover test: each run picks its victims from its seed, so CI
# runs add up; SHOAL_FAILOVER_ROUNDS=20 (or more) for a longer walk by hand.
ROUNDS = int(os.environ.get("SHOAL_FAILOVER_ROUNDS", "8"))
LIST_TIMEOUT_S = 5.0


def cluster_admin(brokers) -> AdminClient:
    return AdminClient({**base_conf(brokers[0]), "bootstrap.servers": ",".join(b.bootstrap for b in brokers)})


def layout(a: AdminClient, topic: str) -> dict[int, tuple[int, list[int], list[int]]] | None:
    """partition -> (leader, replicas, isr) as the cluster lists them; None while the
    client finds no broker to ask (it may be trying the one just killed)."""
    try:
        t = a.list_topics(topic, timeout=LIST_TIMEOUT_S).topics.get(topic)
    except KafkaException:
        return None
    if t is None or t.error is not None:
        return None
    return {i: (p.leader, list(p.replicas), sorted(p.isrs)) for i, p in t.partitions.items()}


def full_isr(a: AdminClient, topic: str, brokers: set[int], partitions: int = PARTITIONS):
    parts = layout(a, topic)
    ok = parts is not None and len(parts) == partitions and all(
        leader in brokers and set(isr) == brokers for leader, _, isr in parts.values())
    return parts if ok else None


OFFSET_FETCH, COORDINATOR_LOAD_IN_PROGRESS = 9, 14
# How long a coordinator's load is held back where a test asks (the failpoint).
LOAD_DELAY_MS = 10000


def start_cluster(start_broker):
    return start_cluster_with(start_broker, {})


def start_cluster_with(start_broker, extra: dict, env: dict | None = None):
    brokers, _ = start_quorum(start_broker, extra, env)
    by_id = {i + 1: b for i, b in enumerate(brokers)}
    wait_for("every node registering the three brokers",
             lambda: all(set(describe_cluster(b)[1]) == set(by_id) for b in brokers))
    return by_id


class Writer(threading.Thread):
    """An idempotent acks=all producer writing numbered records until stopped; keeps what
    was acknowledged (partition, offset, value) and any delivery error."""

    def __init__(self, brokers, **conf):
        super().__init__(daemon=True)
        self.p = Producer({**base_conf(brokers[0]), "bootstrap.servers": ",".join(b.bootstrap for b in brokers),
                           "acks": "all", "enable.idempotence": True, "linger.ms": 5, **conf})
        self.topic = None
        self.acked: list[tuple[int, int, bytes]] = []
        self.errors: list = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def on_delivery(self, err, msg):
        with self.lock:
            if err is not None:
                self.errors.append(err)
            else:
                self.acked.append((msg.partition(), msg.offset(), msg.value()))

    def run(self):
        i = 0
        while not self.stopping.is_set():
            try:
                self.p.produce(self.topic, key=str(i % 16).encode(), value=b"%08d" % i, on_delivery=self.on_delivery)
                i += 1
            except BufferError:
                self.p.poll(0.05)
                continue
            self.p.poll(0)
            if i % 200 == 0:
                time.sleep(0.01)
        self.p.flush(120)

    def count(self) -> int:
        with self.lock:
            return len(self.acked)


# Two shards a broker, so replicas of a partition sit on different shards of different
# brokers; once is enough for this long test (the others run with each core count).
@pytest.mark.parametrize("cores", [2], ids=["cores2"])
@pytest.mark.timeout(600)
def test_leaders_killed_during_idempotent_acks_all_production_lose_nothing(start_broker, seed):
    rng = random.Random(seed)
    by_id = start_cluster(start_broker)
    brokers = list(by_id.values())
    a = cluster_admin(brokers)
    topic = unique_topic("failover")
    wait_futures(a.create_topics([NewTopic(topic, PARTITIONS, 3, config={"min.insync.replicas": "2"})],
                                 operation_timeout=20))
    wait_for("every partition with a full ISR", lambda: full_isr(a, topic, set(by_id)))

    w = Writer(brokers)
    w.topic = topic
    w.start()
    try:
        for round_ in range(ROUNDS):
            leaders = {leader for leader, _, _ in layout(a, topic).values()}
            victim = rng.choice(sorted(leaders))
            before = w.count()
            killed_at = time.monotonic()
            by_id[victim].kill9()
            others = set(by_id) - {victim}
            wait_for(f"round {round_}: leaders moving off killed broker {victim}",
                     lambda: (lambda parts: parts if parts and all(
                         leader in others for leader, _, _ in parts.values()) else None)(layout(a, topic)),
                     deadline_s=60)
            wait_for(f"round {round_}: the producer carrying on without broker {victim}",
                     lambda: w.count() > before + 100, deadline_s=60)
            carried_on = time.monotonic() - killed_at
            by_id[victim].start()
            wait_for(f"round {round_}: broker {victim} back in every ISR",
                     lambda: full_isr(a, topic, set(by_id)), deadline_s=60)
            print(f"round {round_}: broker {victim} killed; the producer carried on after {carried_on:.1f} s; "
                  f"back in every ISR {time.monotonic() - killed_at:.1f} s after the kill")
    finally:
        w.stopping.set()
        w.join(180)
    assert len(w.acked) > ROUNDS * 100
    got = check_acked(w, brokers, topic)
    # Each key's records are in the order they were produced.
    for rs in got.values():
        by_key: dict[bytes, list[int]] = {}
        for r in rs:
            by_key.setdefault(r.key, []).append(int(r.value))
        assert all(v == sorted(v) for v in by_key.values())
    # Every replica holds the same bytes: followers store the leader's batches as they are.
    wait_for("every broker's copy of each partition alike", lambda: all(
        len({log_bytes(b, topic, p) for b in brokers}) == 1 for p in range(PARTITIONS)))


def check_acked(w: Writer, brokers, topic: str, partitions: int = PARTITIONS):
    """No delivery error, and every acknowledged record stored once at its offset."""
    assert not w.is_alive(), "the producer did not finish"
    assert not w.errors, f"delivery errors: {w.errors[:5]}"
    got = consume_all(brokers[0], topic, list(range(partitions)))
    stored = {(r.partition, r.offset): r.value for rs in got.values() for r in rs}
    values = [r.value for rs in got.values() for r in rs]
    assert len(values) == len(set(values)), "a record stored twice"
    for partition, offset, value in w.acked:
        assert stored.get((partition, offset)) == value, f"acknowledged {value!r} at {partition}/{offset} is not there"
    return got


@pytest.mark.timeout(300)
def test_a_broker_stopped_with_sigterm_hands_its_leaderships_over_first(start_broker):
    """Controlled shutdown: SIGTERM a broker of three while an acks=all producer writes.
    Before it exits, its leaderships are elsewhere and it is in no ISR, so clients never
    wait for it. The session timeout is 30 s here and the producer gives up on a record
    after 15 s: a broker that stopped leading only when the controller fenced it would
    fail the producer's records."""
    by_id = start_cluster_with(start_broker, {"broker.session.timeout.ms": 30000})
    brokers = list(by_id.values())
    a = cluster_admin(brokers)
    topic = unique_topic("sigterm")
    wait_futures(a.create_topics([NewTopic(topic, PARTITIONS, 3, config={"min.insync.replicas": "2"})],
                                 operation_timeout=20))
    wait_for("every partition with a full ISR", lambda: full_isr(a, topic, set(by_id)))
    w = Writer(brokers, **{"message.timeout.ms": 15000})
    w.topic = topic
    w.start()
    try:
        for victim in sorted(by_id):
            before = w.count()
            by_id[victim].stop()
            assert "this broker leads no partition" in by_id[victim].log_text()
            others = set(by_id) - {victim}
            # Read from another broker at once: the move is the stopped broker's doing,
            # not a fence (that would take the 30 s session).
            asker = cluster_admin([by_id[i] for i in sorted(others)])
            parts = wait_for(f"broker {victim}'s places taken over", lambda: (lambda parts: parts if parts and all(
                leader in others and victim not in isr for leader, _, isr in parts.values()) else None)(
                layout(asker, topic)), deadline_s=10)
            assert all(set(isr) == others for _, _, isr in parts.values()), parts
            wait_for(f"the producer carrying on without broker {victim}", lambda: w.count() > before + 100)
            by_id[victim].start()
            wait_for(f"broker {victim} back in every ISR", lambda: full_isr(a, topic, set(by_id)), deadline_s=60)
    finally:
        w.stopping.set()
        w.join(180)
    check_acked(w, brokers, topic)


def topics_tool(b, *args: str) -> str:
    cp = subprocess.run([str(shoal_bin()), "topics", "--bootstrap-server", b.bootstrap, *args],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout


def log_bytes(broker, topic: str, partition: int) -> bytes:
    """A replica's log, its segments' bytes in order."""
    directory = broker.log_dir / f"{topic}-{partition}"
    return b"".join(f.read_bytes() for f in sorted(directory.glob("*.log")))


@pytest.mark.timeout(180)
def test_acks_all_is_refused_below_min_insync_replicas(start_broker):
    by_id = start_cluster(start_broker)
    brokers = list(by_id.values())
    a = cluster_admin(brokers)
    topic = unique_topic("minisr")
    wait_futures(a.create_topics([NewTopic(topic, 1, 3, config={"min.insync.replicas": "3"})], operation_timeout=20))
    leader = wait_for("a full ISR", lambda: full_isr(a, topic, set(by_id), 1))[0][0]
    strict = producer(by_id[leader], acks="all", **{"message.timeout.ms": 10000})
    assert produce_one_error(strict, topic, value=b"all three") is None

    victim = next(i for i in by_id if i != leader)
    by_id[victim].kill9()
    wait_for("the ISR shrinking to two", lambda: len((layout(a, topic) or {0: (0, [], [1, 2, 3])})[0][2]) == 2)
    # Metadata may come from a broker that applied the shrink before the leader did; the
    # leader checks its own view, which its gauge shows.
    wait_for("the leader seeing the partition under min.insync.replicas", lambda: scrape_value(
        by_id[leader], "kafka_server_replicamanager_underminisrpartitioncount") == 1)
    # librdkafka retries NOT_ENOUGH_REPLICAS until its message times out: without
    # retries the broker's answer is what the application sees.
    once = producer(by_id[leader], acks="all", retries=0)
    err = produce_one_error(once, topic, value=b"two of three")
    assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, err
    relaxed = producer(by_id[leader], acks=1)
    assert produce_one_error(relaxed, topic, value=b"leader only") is None
    # What an operator sees: kafka-topics.sh's partition filters and the leader's metrics.
    line = f"\tTopic: {topic}\tPartition: 0\tLeader: {leader}\t"
    for flag, listed in [("--under-replicated-partitions", True), ("--under-min-isr-partitions", True),
                         ("--at-min-isr-partitions", False), ("--unavailable-partitions", False)]:
        out = topics_tool(by_id[leader], "--describe", flag)
        assert out.startswith(line) == listed and out.count("\n") == int(listed), (flag, out)
    # (The controller's fence took the victim out of the ISR: as in Kafka, that is no
    # shrink of the leader's.)
    replica_manager = {name: scrape_value(by_id[leader], f"kafka_server_replicamanager_{name}")
                       for name in ["underreplicatedpartitions", "underminisrpartitioncount", "isrshrinks_total"]}
    assert replica_manager == {"underreplicatedpartitions": 1, "underminisrpartitioncount": 1,
                               "isrshrinks_total": 0}, replica_manager

    by_id[victim].start()
    wait_for("the ISR full again", lambda: full_isr(a, topic, set(by_id), 1), deadline_s=60)
    assert topics_tool(by_id[leader], "--describe", "--under-replicated-partitions") == ""
    assert scrape_value(by_id[leader], "kafka_server_replicamanager_underreplicatedpartitions") == 0
    assert scrape_value(by_id[leader], "kafka_server_replicamanager_isrexpands_total") == 1
    assert produce_one_error(strict, topic, value=b"all three again") is None
    values = [r.value for r in consume_all(by_id[leader], topic, [0])[0]]
    assert values == [b"all three", b"leader only", b"all three again"]


def test_acks_all_waits_for_the_isr_as_long_as_the_request_timeout_says(start_broker):
    """A follower that stops fetching (SIGSTOP) but is not yet out of the ISR (Kafka's
    30 s replica.lag.time.max.ms, and a session timeout longer than the test) holds the
    high watermark back: an acks=all Produce gets REQUEST_TIMED_OUT after its own
    timeout_ms, as Kafka's DelayedProduce expires. The record stays in the leader's log;
    once the follower runs again it is replicated, and a producer's next write is
    acknowledged."""
    by_id = start_cluster_with(start_broker, {"broker.session.timeout.ms": 60000})
    a = cluster_admin(list(by_id.values()))
    topic = unique_topic("timeout")
    wait_futures(a.create_topics([NewTopic(topic, 1, 3)], operation_timeout=20))
    leader = wait_for("a full ISR", lambda: full_isr(a, topic, set(by_id), 1))[0][0]
    acked = producer(by_id[leader], acks="all")
    assert produce_one_error(acked, topic, value=b"before") is None
    follower = next(i for i in by_id if i != leader)
    os.kill(by_id[follower].pid, signal.SIGSTOP)
    try:
        batch = kw.encode_batch([kw.Record(None, b"timed out")])
        # Well below the 30 s a coordinator's own writes wait.
        with kw.Conn(by_id[leader].bootstrap, timeout=20) as c:
            body = c.request(kw.PRODUCE, 3, kw.produce_v3(topic, 0, batch, acks=-1, timeout_ms=500))
        assert kw.parse_produce_v3(body)[(topic, 0)][0] == kw.REQUEST_TIMED_OUT
    finally:
        os.kill(by_id[follower].pid, signal.SIGCONT)
    assert produce_one_error(acked, topic, value=b"after") is None
    values = [r.value for r in consume_all(by_id[leader], topic, [0])[0]]
    assert values == [b"before", b"timed out", b"after"]


@pytest.mark.timeout(300)
def test_a_group_and_a_transaction_survive_their_coordinators_death(start_broker):
    """The internal topics replicated three times: the broker coordinating a group (the
    leader of its offsets partition) is killed, and a new member of the group, through
    another broker, finds the offsets committed before; the broker coordinating a
    transactional id is killed with a transaction of its open, and the id's next
    producer, through the new coordinator, aborts it and commits a new one, so a
    read_committed consumer sees the committed records only."""
    internal = {"offsets.topic.replication.factor": 3, "offsets.topic.num.partitions": 1,
                "transaction.state.log.replication.factor": 3, "transaction.state.log.num.partitions": 1}
    # A coordinator taking the lead reads its state back slowly: requests meanwhile are
    # told COORDINATOR_LOAD_IN_PROGRESS, never answered from a half-read state.
    slow_load = {"FAILPOINTS": f"shard::load_coordinator=return({LOAD_DELAY_MS})"}
    by_id = start_cluster_with(start_broker, internal, slow_load)
    brokers = list(by_id.values())
    a = cluster_admin(brokers)
    topic = unique_topic("coordinated")
    wait_futures(a.create_topics([NewTopic(topic, 2, 3)], operation_timeout=20))
    wait_for("a full ISR", lambda: full_isr(a, topic, set(by_id), 2))
    everyone = ",".join(b.bootstrap for b in brokers)

    # A group commits offsets; its coordinator dies; the group's next member finds them.
    group = unique_topic("g")
    produce_all(producer(brokers[0], acks="all"), topic,
                [{"partition": i % 2, "value": f"v{i}".encode()} for i in range(20)])
    c = Consumer({**base_conf(brokers[0]), "bootstrap.servers": everyone, "group.id": group,
                  "enable.auto.commit": False})
    # The offsets topic is made by this first commit, and its new leader reads the
    # (empty) partition back slowly too: the commit is refused until it has.
    def committed_once():
        try:
            c.commit(offsets=[TopicPartition(topic, 0, 4), TopicPartition(topic, 1, 6)], asynchronous=False)
            return True
        except KafkaException as e:
            assert e.args[0].code() == KafkaError.COORDINATOR_LOAD_IN_PROGRESS, e
            return None
    wait_for("the first commit", committed_once)
    c.close()
    coordinator = wait_for("the offsets partition with a full ISR",
                           lambda: full_isr(a, "__consumer_offsets", set(by_id), 1))[0][0]
    by_id[coordinator].kill9()
    others = [b for i, b in by_id.items() if i != coordinator]
    successor = wait_for("the offsets partition led elsewhere", lambda: (lambda leader: leader if leader in {
        i for i in by_id if i != coordinator} else None)((layout(a, "__consumer_offsets") or {0: (coordinator,)})[0][0]))
    # The new coordinator is still reading the group back: OffsetFetch v2's answer says so.
    body = kw.string(group) + kw.array([kw.string(topic) + kw.array([kw.i32(0)])])
    with kw.Conn(by_id[successor].bootstrap) as conn:
        rd = kw.Reader(conn.request(OFFSET_FETCH, 2, body))
    rd.array(lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i64(), q.string(), q.i16()))))
    assert rd.i16() == COORDINATOR_LOAD_IN_PROGRESS
    c = Consumer({**base_conf(others[0]), "bootstrap.servers": ",".join(b.bootstrap for b in others),
                  "group.id": group, "enable.auto.commit": False})
    try:
        committed = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=30)
    finally:
        c.close()
    assert {tp.partition: tp.offset for tp in committed} == {0: 4, 1: 6}
    by_id[coordinator].start()
    wait_for("every ISR full again", lambda: full_isr(a, "__consumer_offsets", set(by_id), 1), deadline_s=60)

    # A transaction is left open when its coordinator dies; the id's next producer
    # aborts it and commits its own.
    txn_id = unique_topic("txn")
    first = Producer({**base_conf(brokers[0]), "bootstrap.servers": everyone, "transactional.id": txn_id})
    first.init_transactions(30)
    first.begin_transaction()
    first.produce(topic, value=b"committed", partition=0)
    first.commit_transaction(30)
    first.begin_transaction()
    first.produce(topic, value=b"left open", partition=0)
    first.flush(30)
    coordinator = wait_for("the transaction state partition with a full ISR",
                           lambda: full_isr(a, "__transaction_state", set(by_id), 1))[0][0]
    by_id[coordinator].kill9()
    others = [b for i, b in by_id.items() if i != coordinator]
    second = Producer({**base_conf(others[0]), "bootstrap.servers": ",".join(b.bootstrap for b in others),
                       "transactional.id": txn_id})
    second.init_transactions(60)
    second.begin_transaction()
    second.produce(topic, value=b"after the failover", partition=0)
    second.commit_transaction(30)
    # A record after the last marker: the reader stops at a record it can see.
    produce_all(producer(others[0], acks="all"), topic, [{"partition": 0, "value": b"v-last"}])
    by_id[coordinator].start()
    wait_for("every ISR full again", lambda: full_isr(a, topic, set(by_id), 2), deadline_s=60)
    got = consume_all(others[0], topic, [0], **{"isolation.level": "read_committed"})
    values = [r.value for r in got[0] if not r.value.startswith(b"v")]
    assert values == [b"committed", b"after the failover"], values


@pytest.mark.timeout(240)
def test_a_consumer_protocol_member_reads_on_through_its_coordinators_death(start_broker):
    """KIP-848 (librdkafka's group.protocol=consumer) over a coordinator's failover: a
    subscribed member reads and commits; the broker coordinating its group is killed;
    the new coordinator reads the group back without members (membership is not
    persisted), so the member's next heartbeat is told UNKNOWN_MEMBER_ID and it joins
    again. It then reads every record produced since, and none it had committed, with
    no fatal error."""
    by_id = start_cluster_with(start_broker, {"offsets.topic.replication.factor": 3,
                                              "offsets.topic.num.partitions": 1})
    brokers = list(by_id.values())
    a = cluster_admin(brokers)
    topic = unique_topic("followed")
    wait_futures(a.create_topics([NewTopic(topic, 2, 3)], operation_timeout=20))
    wait_for("a full ISR", lambda: full_isr(a, topic, set(by_id), 2))
    before = [f"before-{i}".encode() for i in range(10)]

    def spread(values: list[bytes]) -> list[dict]:
        return [{"partition": i % 2, "value": v} for i, v in enumerate(values)]

    produce_all(producer(brokers[0], acks="all"), topic, spread(before))
    errors = []
    c = Consumer({**base_conf(brokers[0]), "bootstrap.servers": ",".join(b.bootstrap for b in brokers),
                  "group.id": unique_topic("g"), "group.protocol": "consumer", "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "error_cb": errors.append})

    events = []

    def rejoined() -> bool:
        return ("lost", 2) in events and events[-1] == ("assigned", 2)

    def read_until(wanted: set[bytes], also=lambda: True) -> list[bytes]:
        got = []
        deadline = time.monotonic() + 60
        while not (wanted <= set(got) and also()) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m.value())
            assert not any(e.fatal() for e in errors), errors
        return got

    try:
        c.subscribe([topic], on_assign=lambda _c, ps: events.append(("assigned", len(ps))),
                    on_lost=lambda _c, ps: events.append(("lost", len(ps))))
        assert sorted(read_until(set(before))) == sorted(before)
        c.commit(asynchronous=False)
        coordinator = wait_for("the offsets partition with a full ISR",
                               lambda: full_isr(a, "__consumer_offsets", set(by_id), 1))[0][0]
        by_id[coordinator].kill9()
        survivor = next(b for i, b in by_id.items() if i != coordinator)
        after = [f"after-{i}".encode() for i in range(10)]
        produce_all(producer(survivor, acks="all"), topic, spread(after))
        got = read_until(set(after), also=rejoined)
        assert rejoined(), events
        # At least once: records read before the member joined again may come twice.
        assert set(got) == set(after), sorted(set(got) ^ set(after))
    finally:
        c.close()


@pytest.mark.timeout(240)
def test_a_follower_behind_the_leaders_log_start_starts_over_there(start_broker):
    """Records are deleted on the leader (DeleteRecords) past the end of a follower that
    is down: back, the follower finds the leader's log starting after its own end,
    starts its log over at the leader's start (Kafka's truncateFullyAndStartAt, the
    batch holding that start included), catches up and rejoins the ISR. Led by it next,
    the partition serves every record from the new start."""
    by_id = start_cluster(start_broker)
    a = cluster_admin(list(by_id.values()))
    topic = unique_topic("behind")
    wait_futures(a.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[1, 2]])],
                                 operation_timeout=20))
    wait_for("both replicas in the ISR", lambda: (layout(a, topic) or {0: (0, [], [])})[0][2] == [1, 2])
    p = producer(by_id[1], acks="all", linger_ms=20)
    produce_all(p, topic, [{"partition": 0, "value": b"before-%03d" % i} for i in range(100)])
    by_id[2].kill9()
    wait_for("the ISR shrinking to broker 1", lambda: (layout(a, topic) or {0: (0, [], [])})[0][2] == [1])
    produce_all(p, topic, [{"partition": 0, "value": b"after-%03d" % i} for i in range(200)])
    # The new start falls inside a batch (linger batches records): the follower's first
    # fetch gets a batch that begins before it.
    deleted = wait_futures(a.delete_records([TopicPartition(topic, 0, 250)]))
    assert [r.low_watermark for r in deleted.values()] == [250]
    by_id[2].start()
    wait_for("broker 2 back in the ISR", lambda: (layout(a, topic) or {0: (0, [], [])})[0][2] == [1, 2],
             deadline_s=60)
    assert "starting this replica's log over at the leader's" in by_id[2].log_text()
    by_id[1].kill9()
    wait_for("broker 2 leading", lambda: (layout(cluster_admin([by_id[2], by_id[3]]), topic) or {0: (0,)})[0][0] == 2)
    values = [r.value for r in consume_all(by_id[2], topic, [0])[0]]
    assert values == [b"after-%03d" % i for i in range(150, 200)], values[:3]


def checkpointed_high_watermark(broker, topic: str, partition: int) -> str | None:
    try:
        return (broker.log_dir / f"{topic}-{partition}" / "high-watermark").read_text()
    except FileNotFoundError:
        return None


def test_replicas_checkpoint_the_high_watermark_and_a_restarted_leader_moves_on_from_it(start_broker):
    """Every replica writes its high watermark beside its log (Kafka's
    replication-offset-checkpoint) every replica.high.watermark.checkpoint.interval.ms.
    Restarted with checkpoints behind their logs (a crash before the next write), the
    partitions commit their records again (the single replica of the second topic, with
    no follower to fetch, too) and the checkpoints catch up. That a restarted replica
    starts from its checkpoint is the unit tests' (src/partition/tests.rs)."""
    by_id = start_cluster_with(start_broker, {"replica.high.watermark.checkpoint.interval.ms": 200})
    a = cluster_admin(list(by_id.values()))
    three, one = unique_topic("hwcheckpoint"), unique_topic("hwcheckpoint")
    wait_futures(a.create_topics([NewTopic(three, num_partitions=1, replica_assignment=[[1, 2, 3]]),
                                  NewTopic(one, num_partitions=1, replica_assignment=[[2]])], operation_timeout=20))
    wait_for("a full ISR", lambda: (layout(a, three) or {0: (0, [], [])})[0][2] == [1, 2, 3])
    p = producer(by_id[1], acks="all")
    produce_all(p, three, [{"partition": 0, "value": b"%03d" % i} for i in range(10)])
    produce_all(p, one, [{"partition": 0, "value": b"%03d" % i} for i in range(10)])
    replicas = [(1, three), (2, three), (3, three), (2, one)]
    wait_for("every replica checkpointing 10", lambda: all(
        checkpointed_high_watermark(by_id[b], topic, 0) == "10\n" for b, topic in replicas))
    for b in by_id.values():
        b.kill9()
    # As if each had crashed before its checkpoint caught up with the high watermark.
    for b, topic in replicas:
        (by_id[b].log_dir / f"{topic}-0" / "high-watermark").write_text("3\n")
    for b in by_id.values():
        b.start()
    def committed(topic):
        try:
            return watermarks(by_id[1], topic, 0) == (0, 10)
        except KafkaException as e:
            # The broker asked not yet caught up with the metadata, or a new leader whose
            # high watermark has not reached its epoch's start yet.
            assert e.args[0].code() in (KafkaError._UNKNOWN_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                                        KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.OFFSET_NOT_AVAILABLE), e
            return False

    for topic in (three, one):
        wait_for(f"{topic} committing its 10 records again", lambda: committed(topic), deadline_s=60)
        values = [r.value for r in consume_all(by_id[1], topic, [0])[0]]
        assert values == [b"%03d" % n for n in range(10)]
    wait_for("the checkpoints catching up", lambda: all(
        checkpointed_high_watermark(by_id[b], topic, 0) == "10\n" for b, topic in replicas))
