"""The metric families that dashboards and alert rules operators already run query, each
asked of a real Prometheus scraping a loaded broker, the way those panels aggregate them:

- Strimzi's Kafka dashboard (strimzi-kafka.json): its Kafka panels and template
  variables (the JVM and Kubernetes panels read families only a JVM or the kubelet has);
- Strimzi's Kafka alert rules (those on the broker's own families);
- kafka_exporter's "Kafka Exporter Overview" (grafana.com 7589), Strimzi's variant of it,
  and the alerts written for kafka_exporter;
- Strimzi's KRaft families (its rules' `kafka_server_raftmetrics_*` names) that shoal measures.

The queries are written here from the families and aggregations those files use (the README
says which dashboards work unchanged); every one must return data."""

from __future__ import annotations

import time

import pytest

import prom
from clients import create_topic, unique_topic
from test_prometheus import PANELS_DEADLINE_S, Load, metrics_address

BROKER_TOPIC_COUNTERS = ["bytesin", "bytesout", "messagesin", "totalproducerequests", "failedproducerequests",
                         "totalfetchrequests", "failedfetchrequests"]

QUERIES = [
    # Strimzi's Kafka dashboard: the top row.
    ("strimzi: brokers online", "count(kafka_server_replicamanager_leadercount)"),
    ("strimzi: active controllers", "sum(kafka_controller_kafkacontroller_activecontrollercount)"),
    ("strimzi: unclean leader election rate",
     "sum(irate(kafka_controller_controllerstats_uncleanleaderelections_total[5m]))"),
    ("strimzi: online replicas", "sum(kafka_server_replicamanager_partitioncount)"),
    ("strimzi: under-replicated partitions", "sum(kafka_server_replicamanager_underreplicatedpartitions)"),
    ("strimzi: partitions at min ISR", "sum(kafka_cluster_partition_atminisr)"),
    ("strimzi: partitions under min ISR", "sum(kafka_cluster_partition_underminisr)"),
    ("strimzi: offline partitions", "sum(kafka_controller_kafkacontroller_offlinepartitionscount)"),
    # Strimzi's Kafka dashboard: the process panels a broker without a JVM can fill.
    ("strimzi: CPU", "sum(rate(process_cpu_seconds_total[5m]))"),
    ("strimzi: open file descriptors", "sum(process_open_fds)"),
    # Strimzi's Kafka dashboard: throughput, per-topic series only.
    *[(f"strimzi: {name}", f'sum(irate(kafka_server_brokertopicmetrics_{name}_total{{topic!=""}}[1m]))')
      for name in BROKER_TOPIC_COUNTERS],
    # Strimzi's Kafka dashboard: the broker's internals.
    ("strimzi: network processor idle", "sum(kafka_network_socketserver_networkprocessoravgidle_percent) * 100"),
    ("strimzi: request handler idle", "sum(kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent) * 100"),
    ("strimzi: disk writes", "sum(irate(kafka_server_kafkaserver_linux_disk_write_bytes[1m]))"),
    ("strimzi: disk reads", "sum(irate(kafka_server_kafkaserver_linux_disk_read_bytes[1m]))"),
    ("strimzi: connections per listener", "sum by (listener) (kafka_server_socket_server_metrics_connection_count)"),
    ("strimzi: log size", "kafka_log_log_size"),
    # Strimzi's alert rules on the broker's families.
    ("strimzi alert: under-replicated", "kafka_server_replicamanager_underreplicatedpartitions"),
    ("strimzi alert: controller", "sum(kafka_controller_kafkacontroller_activecontrollercount)"),
    ("strimzi alert: offline partitions", "sum(kafka_controller_kafkacontroller_offlinepartitionscount)"),
    ("strimzi alert: under min ISR", "kafka_server_replicamanager_underminisrpartitioncount"),
    ("strimzi alert: offline log dirs", "kafka_log_logmanager_offlinelogdirectorycount"),
    # kafka_exporter's overview dashboard.
    ("7589: lag by group", "sum by (consumergroup, topic) (kafka_consumergroup_lag)"),
    ("7589: consumed per minute", "sum by (consumergroup, topic) (delta(kafka_consumergroup_current_offset[5m]) / 5)"),
    ("7589: produced per minute", "sum by (topic) (delta(kafka_topic_partition_current_offset[5m]) / 5)"),
    ("7589: partitions per topic", "sum by (topic) (kafka_topic_partitions)"),
    # Strimzi's kafka_exporter dashboard.
    ("strimzi exporter: topics", "count(kafka_topic_partitions)"),
    ("strimzi exporter: replicas", "sum(kafka_topic_partition_replicas)"),
    ("strimzi exporter: in-sync replicas", "sum(kafka_topic_partition_in_sync_replica)"),
    ("strimzi exporter: under-replicated", "sum(kafka_topic_partition_under_replicated_partition)"),
    ("strimzi exporter: not on preferred node", "sum(kafka_topic_partition_leader_is_preferred < bool 1)"),
    ("strimzi exporter: messages in", "sum by (topic) (rate(kafka_topic_partition_current_offset[1m]))"),
    ("strimzi exporter: consumed", "sum by (consumergroup, topic) (delta(kafka_consumergroup_current_offset[1m]) / 60)"),
    ("strimzi exporter: group offsets", "sum by (consumergroup, topic, partition) (kafka_consumergroup_current_offset)"),
    ("strimzi exporter: oldest offsets", "sum by (topic, partition) (kafka_topic_partition_oldest_offset)"),
    ("strimzi exporter: its variable", "count(kafka_exporter_build_info)"),
    # Strimzi's KRaft families (its JMX-exporter rules' names): the quorum's state, leader,
    # epoch and metadata log as its KRaft dashboard reads them.
    ("strimzi kraft: state", "count by (current_state) (kafka_server_raftmetrics_current_state)"),
    ("strimzi kraft: leader", "max(kafka_server_raftmetrics_current_leader)"),
    ("strimzi kraft: epoch", "max(kafka_server_raftmetrics_current_epoch)"),
    ("strimzi kraft: high watermark", "max(kafka_server_raftmetrics_high_watermark)"),
    ("strimzi kraft: log end", "max(kafka_server_raftmetrics_log_end_offset)"),
    ("strimzi kraft: voters", "max(kafka_server_raftmetrics_number_of_voters)"),
    # The alerts written for kafka_exporter.
    ("exporter alert: under-replicated", "kafka_topic_partition_under_replicated_partition"),
    ("exporter alert: group lag", "kafka_consumergroup_lag"),
    ("exporter alert: no message", "changes(kafka_topic_partition_current_offset[10m])"),
    ("exporter alert: ISR difference", "kafka_topic_partition_in_sync_replica - kafka_topic_partition_replicas"),
    ("exporter alert: brokers", "kafka_brokers"),
]

# (what, label, selector): the dashboards' template variables.
VARIABLES = [
    ("strimzi: $kafka_topic", "topic", "kafka_cluster_partition_replicascount"),
    ("strimzi: $kafka_partition", "partition", "kafka_log_log_size"),
    ("7589: $topic", "topic", "kafka_topic_partition_current_offset"),
    ("7589: $consumergroup", "consumergroup", "kafka_consumergroup_current_offset"),
]


@pytest.mark.timeout(180)
def test_third_party_dashboards_and_alerts_show_data(start_broker, tmp_path):
    broker = start_broker()
    topics = {unique_topic("third-a"): 3, unique_topic("third-b"): 2}
    for name, partitions in topics.items():
        create_topic(broker, name, partitions=partitions)
    load = Load(broker, topics)
    prometheus = prom.Prometheus(tmp_path, [metrics_address(broker)])
    try:
        empty = dict(QUERIES)
        empty_vars = {what: (label, selector) for what, label, selector in VARIABLES}
        last: dict[str, list] = {}
        deadline = time.monotonic() + PANELS_DEADLINE_S
        while (empty or empty_vars) and time.monotonic() < deadline:
            assert not load.stop.is_set() and not load.errors, load.errors
            for what, expr in list(empty.items()):
                last[what] = prometheus.query(expr)
                if prom.finite(last[what]):
                    del empty[what]
            for what, (label, selector) in list(empty_vars.items()):
                if prometheus.label_values(label, selector):
                    del empty_vars[what]
            if empty or empty_vars:
                load.stop.wait(1.0)
        assert not empty_vars, f"variables without values: {sorted(empty_vars)}"
        assert not empty, "queries without data:\n" + "\n".join(
            f"  {w}: {e} -> {last.get(w)}" for w, e in empty.items())
        # What the single-stat panels show for one healthy broker.
        value = lambda expr: float(prometheus.query(expr)[0]["value"][1])  # noqa: E731
        assert value("count(kafka_server_replicamanager_leadercount)") == 1
        assert value("sum(kafka_controller_kafkacontroller_activecontrollercount)") == 1
        # The two topics' five partitions and the group's offsets topic, a log each.
        assert value("sum(kafka_server_replicamanager_partitioncount)") == value("count(kafka_log_log_size)") >= 5
        assert value("sum(kafka_cluster_partition_underminisr)") == 0
        assert value("count(kafka_topic_partitions)") >= 2
    finally:
        load.close()
        prometheus.close()
    assert load.produced > 0 and load.consumed > 0
