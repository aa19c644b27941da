"""The Prometheus exporter and the Grafana dashboards.

A real Prometheus (Debian's package) scrapes a live two-shard broker while confluent-kafka
produces (acks=all) and consumes; then every query of every panel in grafana/dashboards/
runs through Prometheus' HTTP API and must return a series with a number in it. A panel
that would show nothing fails the test. Other tests read /metrics directly and check that
the numbers follow what a real client did.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
from confluent_kafka import TopicPartition

import kafka_wire as kw
import prom
from clients import consumer, create_topic, produce_all, produce_one_error, producer, unique_topic

PANELS_DEADLINE_S = 90.0
LOAD_VALUE = b"v" * 200


@pytest.fixture
def cores() -> int:
    """Two shards, so cross-shard traffic and per-shard series have something to show."""
    return 2


def metrics_address(broker) -> str:
    m = re.search(r"shoal metrics: listening on (\S+)", broker.log_text())
    assert m, "the broker printed no metrics address"
    return m.group(1)


def scrape(broker) -> dict[str, float]:
    """Every sample of /metrics: `name{labels}` as written -> value."""
    status, text = prom.http(f"http://{metrics_address(broker)}/metrics")
    assert status == 200, text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    return samples


class Load:
    """confluent-kafka producing with acks=all and a group member consuming every partition and
    committing, until stopped."""

    def __init__(self, broker, topics: dict[str, int]):
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.produced = self.consumed = 0
        self.p = producer(broker, acks="all", linger_ms=5)
        # A group member with auto-commit, so the consumer-group families have series.
        self.c = consumer(broker, group_id=unique_topic("prom-group"), auto_offset_reset="earliest",
                          fetch_wait_max_ms=100, enable_auto_commit=True, enable_auto_offset_store=True,
                          auto_commit_interval_ms=500)
        self.c.subscribe(list(topics))
        self.topics = list(topics)
        self.threads = [threading.Thread(target=self._guard, args=(f,), daemon=True)
                        for f in (self._produce, self._consume)]
        for t in self.threads:
            t.start()

    def _guard(self, work) -> None:
        try:
            work()
        except BaseException as e:  # reported by close()
            self.errors.append(e)

    def _produce(self) -> None:
        i = 0
        while not self.stop.is_set():
            for topic in self.topics:
                try:
                    self.p.produce(topic, key=b"k%d" % i, value=LOAD_VALUE)
                except BufferError:
                    self.p.poll(0.1)
            i += 1
            self.produced += len(self.topics)
            if i % 50 == 0:
                self.p.flush(10)
                self.stop.wait(0.02)  # paces the load: enough traffic, CPU left for the broker
            self.p.poll(0)

    def _consume(self) -> None:
        while not self.stop.is_set():
            msg = self.c.poll(0.2)
            if msg is not None and msg.error() is None:
                self.consumed += 1

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not self.errors, self.errors


@pytest.mark.timeout(180)
def test_every_dashboard_panel_shows_data_from_a_live_broker(start_broker, tmp_path):
    queries = [(f"{name}: {title}", expr)
               for name, d in prom.dashboards().items() for title, expr in prom.panel_queries(d)]
    variables = [(f"{name}: ${var}", label, selector)
                 for name, d in prom.dashboards().items() for var, label, selector in prom.variable_queries(d)]
    assert len(queries) >= 30, queries
    broker = start_broker()
    # Quotas far above the load, so that the client quota families have series.
    from test_quotas import alter
    roomy = {"producer_byte_rate": 1e12, "consumer_byte_rate": 1e12, "request_percentage": 1e6}
    assert alter(broker, {"client-id": None}, roomy) == (0, None)
    topics = {unique_topic("prom-a"): 4, unique_topic("prom-b"): 3}
    for name, partitions in topics.items():
        create_topic(broker, name, partitions=partitions)
    load = Load(broker, topics)
    prometheus = prom.Prometheus(tmp_path, [metrics_address(broker)])
    try:
        empty = dict(queries)
        empty_vars = {v[0]: v for v in variables}
        last: dict[str, list] = {}
        deadline = time.monotonic() + PANELS_DEADLINE_S
        # Poll until every query has data: rates need a few scrapes, fsync quantiles a few syncs.
        while (empty or empty_vars) and time.monotonic() < deadline:
            assert not load.stop.is_set() and not load.errors, load.errors
            for where, expr in list(empty.items()):
                last[where] = prometheus.query(expr)
                if prom.finite(last[where]):
                    del empty[where]
            for where, (_, label, selector) in list(empty_vars.items()):
                if prometheus.label_values(label, selector):
                    del empty_vars[where]
            if empty or empty_vars:
                load.stop.wait(1.0)
        up = prometheus.query(f'up{{job="{prom.JOB}"}}')
        assert up and up[0]["value"][1] == "1", (up, prometheus.log())
        assert not empty_vars, f"dashboard variables without values: {sorted(empty_vars)}"
        assert not empty, "panels without data after %ss (%d produced, %d consumed):\n%s" % (
            PANELS_DEADLINE_S, load.produced, load.consumed,
            "\n".join(f"  {w}\n    {e}\n    -> {last.get(w)}" for w, e in empty.items()))
    finally:
        load.close()
        prometheus.close()
    assert load.produced > 0 and load.consumed > 0


def test_dashboards_are_what_the_generator_writes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_dashboards", prom.ROOT / "grafana" / "build_dashboards.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    on_disk = {p.name: p.read_text() for p in prom.DASHBOARDS.glob("*.json")}
    assert on_disk == build.rendered(), "run python3 grafana/build_dashboards.py"
    for name, d in prom.dashboards().items():
        kinds = {v["name"]: v["type"] for v in d["templating"]["list"]}
        assert kinds.get("datasource") == "datasource", name
        for panel in d["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", (name, panel["title"])
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_kafka_families_follow_a_real_client(start_broker):
    broker = start_broker()
    topic = unique_topic("counted")
    create_topic(broker, topic, partitions=2, config={"max.message.bytes": "10000"})
    records = [{"key": b"k%d" % i, "value": b"x" * 100, "partition": i % 2} for i in range(40)]
    produce_all(producer(broker, acks="all", linger_ms=0), topic, records)
    assert produce_one_error(producer(broker), topic, value=b"y" * 20000) is not None

    c = consumer(broker)
    c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    got = 0
    deadline = time.monotonic() + 30
    while got < 40 and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is not None and msg.error() is None:
            got += 1
    assert got == 40
    m = scrape(broker)
    t = f'{{topic="{topic}"}}'
    assert m[f"kafka_server_brokertopicmetrics_messagesin_total{t}"] == 40
    assert m[f"kafka_server_brokertopicmetrics_failedproducerequests_total{t}"] >= 1
    bytes_in = m[f"kafka_server_brokertopicmetrics_bytesin_total{t}"]
    assert bytes_in >= 40 * 100
    assert m[f"kafka_server_brokertopicmetrics_bytesout_total{t}"] >= bytes_in
    assert m[f"kafka_server_brokertopicmetrics_totalfetchrequests_total{t}"] >= 2
    assert m["kafka_server_brokertopicmetrics_messagesin_total"] >= 40
    for p in (0, 1):
        labels = f'{{topic="{topic}",partition="{p}"}}'
        assert m[f"kafka_log_log_logendoffset{labels}"] == 20
        assert m[f"kafka_log_log_logstartoffset{labels}"] == 0
        assert m[f"kafka_log_log_size{labels}"] >= 20 * 100
    assert m["kafka_server_replicamanager_partitioncount"] == 2
    assert m["kafka_controller_kafkacontroller_activecontrollercount"] == 1
    assert m["kafka_controller_kafkacontroller_offlinepartitionscount"] == 0
    produce_rate = [v for k, v in m.items() if k.startswith('kafka_network_requestmetrics_requests_total{request="Produce"')]
    assert sum(produce_rate) >= 2
    p99 = m['kafka_network_requestmetrics_totaltimems{request="Produce",quantile="0.99"}']
    assert 0 < p99 < 30_000
    open_now = sum(v for k, v in m.items() if k.startswith("kafka_server_socket_server_metrics_connection_count{"))
    assert open_now >= 1  # the consumer's connection at least
    synced = sum(v for k, v in m.items() if k.startswith("shoal_writer_fdatasync_seconds_count{"))
    assert synced >= 1
    assert sum(v for k, v in m.items() if k.startswith("shoal_shard_busy_seconds_total{")) > 0
    # A scrape is itself a message to every other shard.
    assert sum(v for k, v in m.items() if k.startswith("shoal_shard_cross_shard_messages_received_total{")) >= 1


JOIN_GROUP = 11


def test_request_time_is_split_as_kafka_splits_it(start_broker):
    """A fetch parked at the log end, and a join waiting out the group's initial rebalance delay,
    spend the wait as remote time (Kafka's purgatories), not local time; the phases of a request
    add up to its total, and acks=all has no remote time on a single broker."""
    broker = start_broker({"group.initial.rebalance.delay.ms": 3000})
    topic = unique_topic("phases")
    create_topic(broker, topic, partitions=1)
    produce_all(producer(broker, acks="all", linger_ms=0), topic, [{"value": b"x", "partition": 0}])
    with kw.Conn(broker.bootstrap) as conn:
        request = kw.fetch_v4(topic, 0, 1, max_wait_ms=1500, min_bytes=1)
        resp = kw.parse_fetch_v4(conn.request(kw.FETCH, 4, request, timeout=20))
        assert (resp[(topic, 0)].error_code, resp[(topic, 0)].records) == (kw.NONE, b"")
        # JoinGroup v0 of a new group's first member: answered once
        # group.initial.rebalance.delay.ms (3000, Kafka's code default) has passed.
        protocols = kw.array([kw.string("range") + kw.nbytes(b"\x00" * 8)])
        join = kw.string(unique_topic("phases-group")) + kw.i32(10000) + kw.string("") + kw.string("consumer")
        assert kw.Reader(conn.request(JOIN_GROUP, 0, join + protocols, timeout=20)).i16() == kw.NONE
    m = scrape(broker)

    def ms(phase: str, request: str) -> float:
        return m[f'kafka_network_requestmetrics_{phase}timems{{request="{request}",quantile="0.999"}}']

    # The only Fetch and JoinGroup this broker saw: each quantile is that request's time, within
    # the histogram's 1%.
    assert 1400 <= ms("remote", "Fetch") < 10_000
    assert ms("local", "Fetch") < 500
    parts = sum(ms(p, "Fetch") for p in ("requestqueue", "local", "remote", "responsequeue", "responsesend"))
    assert abs(parts - ms("total", "Fetch")) <= 0.05 * ms("total", "Fetch")
    assert 2700 <= ms("remote", "JoinGroup") < 10_000
    assert ms("local", "JoinGroup") < 500
    assert ms("remote", "Produce") == 0
    assert ms("local", "Produce") > 0  # at least the append and its fsync


def test_health_ready_and_other_paths(broker):
    base = f"http://{metrics_address(broker)}"
    assert prom.http(f"{base}/health") == (200, "ok\n")
    assert prom.http(f"{base}/ready") == (200, "ready\n")
    assert prom.http(f"{base}/nothing-here")[0] == 404
    assert prom.http(f"{base}/metrics", method="POST")[0] == 405


def test_idle_ratios_are_measured_between_scrapes(broker):
    """Kafka's request-handler and network-processor idle ratios: the shards' idle time from
    one scrape to the next, so the first scrape has none."""
    names = ["kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent",
             "kafka_network_socketserver_networkprocessoravgidlepercent"]
    first = scrape(broker)
    assert not [n for n in names if n in first]
    second = scrape(broker)
    for name in names:
        assert 0.0 <= second[name] <= 1.0, (name, second.get(name))
