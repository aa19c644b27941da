#!/usr/bin/env python3
"""Writes grafana/dashboards/*.json from the panel lists below.

The JSON files are what Grafana imports (or provisions, see grafana/provisioning/); this
script is how they are edited, so panel ids and layout stay consistent. After changing
it run `python3 grafana/build_dashboards.py`; tests/python/test_prometheus.py fails when
the JSON and this script disagree, and runs every panel's query against a real
Prometheus scraping a live broker.

Every query filters on the dashboard variables `$job` and `$instance` (and `$topic` or
`$shard`); their "All" value is the regex `.+`. Rates use Grafana's `$__rate_interval`.
"""

from __future__ import annotations

import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parent / "dashboards"

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job=~"$job",instance=~"$instance"'
RATE = "[$__rate_interval]"
# Fetch requests count under Fetch and again under FetchConsumer/FetchFollower (as in Kafka).
NOT_FETCH_SPLIT = 'request!~"FetchConsumer|FetchFollower"'


def q(expr: str, legend: str = "", instant: bool = False) -> dict:
    return {"expr": expr, "legend": legend, "instant": instant}


def stat(title: str, expr: str, unit: str = "none", thresholds: list | None = None, description: str = "") -> dict:
    return {"type": "stat", "title": title, "queries": [q(expr)], "unit": unit, "w": 4, "h": 4,
            "thresholds": thresholds, "description": description}


def series(title: str, queries: list[dict], unit: str = "short", w: int = 12, description: str = "") -> dict:
    return {"type": "timeseries", "title": title, "queries": queries, "unit": unit, "w": w, "h": 8,
            "description": description}


def table(title: str, queries: list[dict], description: str = "") -> dict:
    return {"type": "table", "title": title, "queries": queries, "unit": "short", "w": 24, "h": 10,
            "description": description}


RED_ABOVE_ZERO = [{"color": "green", "value": None}, {"color": "red", "value": 1}]
RED_BELOW_ONE = [{"color": "red", "value": None}, {"color": "green", "value": 1}]


# Kafka's split of a request's time (RequestMetrics), as the exporter names the families.
PHASES = [("requestqueue", "request queue"), ("local", "local"), ("remote", "remote"),
          ("responsequeue", "response queue"), ("responsesend", "response send")]


def phases(request: str) -> dict:
    return series(f"p99 {request} time by phase", [
        q(f'max(kafka_network_requestmetrics_{phase}timems{{{SEL},request="{request}",quantile="0.99"}})', legend)
        for phase, legend in PHASES
    ], unit="ms", description="Where a request's time goes: waiting for its handler, handling it, waiting on "
                              "others (fetch long polls, group rebalances; acks=all fsyncs are local), waiting "
                              "for the responses ahead of it on its connection, and writing it. Each phase's "
                              "p99 on its own, so they need not add up to the total's.")


def cluster_overview() -> list[dict]:
    all_topics = f'{SEL},topic=""'
    return [
        stat("Brokers up", f'sum(up{{{SEL}}})', thresholds=RED_BELOW_ONE,
             description="Scrape targets answering: each is a shoal broker's metrics endpoint."),
        stat("Active controller", f"sum(kafka_controller_kafkacontroller_activecontrollercount{{{SEL}}})",
             thresholds=RED_BELOW_ONE),
        stat("Partitions", f"sum(kafka_server_replicamanager_partitioncount{{{SEL}}})"),
        stat("Under-replicated partitions", f"sum(kafka_server_replicamanager_underreplicatedpartitions{{{SEL}}})",
             thresholds=RED_ABOVE_ZERO),
        stat("Offline partitions", f"sum(kafka_controller_kafkacontroller_offlinepartitionscount{{{SEL}}})",
             thresholds=RED_ABOVE_ZERO),
        stat("Connections", f"sum(kafka_server_socket_server_metrics_connection_count{{{SEL}}})"),
        series("Throughput in / out", [
            q(f"sum by (instance) (rate(kafka_server_brokertopicmetrics_bytesin_total{{{all_topics}}}{RATE}))",
              "{{instance}} in"),
            q(f"sum by (instance) (rate(kafka_server_brokertopicmetrics_bytesout_total{{{all_topics}}}{RATE}))",
              "{{instance}} out"),
        ], unit="Bps", description="Record bytes appended, and record bytes sent to fetchers."),
        series("Messages in", [
            q(f"sum by (instance) (rate(kafka_server_brokertopicmetrics_messagesin_total{{{all_topics}}}{RATE}))",
              "{{instance}}"),
        ], unit="ops"),
        series("Request rate per API", [
            q(f"sum by (request) (rate(kafka_network_requestmetrics_requests_total{{{SEL},{NOT_FETCH_SPLIT}}}{RATE}))",
              "{{request}}"),
        ], unit="reqps"),
        series("p99 request latency per API", [
            q(f'max by (request) (kafka_network_requestmetrics_totaltimems{{{SEL},quantile="0.99",{NOT_FETCH_SPLIT}}})',
              "{{request}}"),
        ], unit="ms", description="Request read to response written, over the last 1-2 minutes. "
                                  "Fetch includes long-poll waits (max.wait.ms)."),
        phases("Produce"),
        phases("Fetch"),
        series("Failed produce / fetch (partitions)", [
            q(f"sum(rate(kafka_server_brokertopicmetrics_failedproducerequests_total{{{all_topics}}}{RATE}))",
              "produce"),
            q(f"sum(rate(kafka_server_brokertopicmetrics_failedfetchrequests_total{{{all_topics}}}{RATE}))",
              "fetch"),
        ], unit="ops"),
        series("Connections", [
            q(f"sum by (instance) (kafka_server_socket_server_metrics_connection_count{{{SEL}}})", "{{instance}} open"),
            q(f"sum by (instance) (rate(kafka_server_socket_server_metrics_connection_creation_total{{{SEL}}}{RATE}))",
              "{{instance}} new/s"),
        ]),
        series("Under-replicated and offline partitions", [
            q(f"sum(kafka_server_replicamanager_underreplicatedpartitions{{{SEL}}})", "under-replicated"),
            q(f"sum(kafka_controller_kafkacontroller_offlinepartitionscount{{{SEL}}})", "offline"),
        ], w=24),
        # The metadata quorum (Kafka's raft-metrics).
        stat("Quorum leader", f"max(kafka_server_raft_metrics_current_leader{{{SEL}}})",
             description="The node id of the metadata quorum's leader, the active controller (-1: none)."),
        stat("Quorum epoch", f"max(kafka_server_raft_metrics_current_epoch{{{SEL}}})",
             description="Rises with each election of the metadata quorum."),
        series("Metadata log: high watermark and each node's end", [
            q(f"max(kafka_server_raft_metrics_high_watermark{{{SEL}}})", "high watermark"),
            q(f"max by (instance) (kafka_server_raft_metrics_log_end_offset{{{SEL}}})", "{{instance}} end"),
        ], w=16, description="A node whose end falls behind the high watermark is not keeping up with the quorum."),
        # Replication between brokers.
        stat("Active brokers", f"max(kafka_controller_kafkacontroller_activebrokercount{{{SEL}}})",
             thresholds=RED_BELOW_ONE, description="Registered and not fenced, as the active controller sees them."),
        stat("Fenced brokers", f"max(kafka_controller_kafkacontroller_fencedbrokercount{{{SEL}}})",
             thresholds=RED_ABOVE_ZERO, description="Registered but fenced: their sessions ended, or they stopped."),
        stat("Under min ISR", f"sum(kafka_server_replicamanager_underminisrpartitioncount{{{SEL}}})",
             thresholds=RED_ABOVE_ZERO, description="Partitions where acks=all is refused (NOT_ENOUGH_REPLICAS)."),
        stat("At min ISR", f"sum(kafka_server_replicamanager_atminisrpartitioncount{{{SEL}}})",
             description="Partitions one more lost replica away from refusing acks=all."),
        stat("Preferred leader imbalance",
             f"max(kafka_controller_kafkacontroller_preferredreplicaimbalancecount{{{SEL}}})",
             description="Partitions not led by their first replica; auto.leader.rebalance or "
                         "shoal leader-election gives them back."),
        stat("Unclean elections", f"sum(kafka_controller_controllerstats_uncleanleaderelections_total{{{SEL}}})",
             thresholds=RED_ABOVE_ZERO, description="Leaders elected from outside the ISR since the controllers "
                                                    "started: records may have been lost."),
        series("Leaders per broker", [
            q(f"sum by (instance) (kafka_server_replicamanager_leadercount{{{SEL}}})", "{{instance}}"),
        ], w=8),
        series("ISR shrinks / expands and leader elections", [
            q(f"sum(rate(kafka_server_replicamanager_isrshrinks_total{{{SEL}}}{RATE}))", "ISR shrinks"),
            q(f"sum(rate(kafka_server_replicamanager_isrexpands_total{{{SEL}}}{RATE}))", "ISR expands"),
            q(f"sum(rate(kafka_controller_controllerstats_leaderelectionrateandtimems_count{{{SEL}}}{RATE}))",
              "leader elections"),
        ], unit="ops", w=8, description="Followers falling out of and back into sync, and partitions changing "
                                        "leader (failover, controlled shutdown, rebalance)."),
        series("Replica fetcher max lag", [
            q(f"max by (instance) (kafka_server_replicafetchermanager_maxlag{{{SEL}}})", "{{instance}}"),
        ], w=8, description="Records the furthest-behind follower on each broker lacks behind its leader's "
                            "high watermark."),
        *client_quotas(),
    ]


def client_quotas() -> list[dict]:
    """Kafka's quota families: each client (user, client id) a quota applies to, as the
    broker measures it over the quota windows; none without quotas."""
    by_client = "sum by (user, client_id)"
    return [
        series("Client quotas: bytes per second", [
            q(f"{by_client} (kafka_server_produce_byte_rate{{{SEL}}})", "produce {{user}} {{client_id}}"),
            q(f"{by_client} (kafka_server_fetch_byte_rate{{{SEL}}})", "fetch {{user}} {{client_id}}"),
        ], unit="Bps", w=8, description="Produce and fetch bytes of each client under producer_byte_rate or "
                                         "consumer_byte_rate, summed over the brokers (each enforces its share)."),
        series("Client quotas: request time", [
            q(f"{by_client} (kafka_server_request_request_time{{{SEL}}})", "{{user}} {{client_id}}"),
        ], unit="percent", w=8, description="Each client's handler time under request_percentage, in percent "
                                             "of one thread (100 = a whole core)."),
        series("Client quotas: throttle time", [
            q(f"max by (user, client_id) (kafka_server_{kind}_throttle_time{{{SEL}}})",
              f"{kind} {{{{user}}}} {{{{client_id}}}}")
            for kind in ("produce", "fetch", "request")
        ], unit="ms", w=8, description="Mean time a client was throttled (its connection muted, and told in "
                                        "throttle_time_ms) over the quota windows: above zero, it is over quota."),
    ]


def topics() -> list[dict]:
    t = f'{SEL},topic=~"$topic"'

    def per_topic(family: str) -> str:
        return f"sum by (topic) (rate({family}{{{t}}}{RATE}))"

    return [
        series("Bytes in per topic", [q(per_topic("kafka_server_brokertopicmetrics_bytesin_total"), "{{topic}}")],
               unit="Bps"),
        series("Bytes out per topic", [q(per_topic("kafka_server_brokertopicmetrics_bytesout_total"), "{{topic}}")],
               unit="Bps"),
        series("Messages in per topic", [q(per_topic("kafka_server_brokertopicmetrics_messagesin_total"), "{{topic}}")],
               unit="ops"),
        series("Produce / fetch requests per topic", [
            q(per_topic("kafka_server_brokertopicmetrics_totalproducerequests_total"), "{{topic}} produce"),
            q(per_topic("kafka_server_brokertopicmetrics_totalfetchrequests_total"), "{{topic}} fetch"),
        ], unit="ops", description="Partitions named in produce requests and read for fetch requests."),
        series("Failed produce / fetch per topic", [
            q(per_topic("kafka_server_brokertopicmetrics_failedproducerequests_total"), "{{topic}} produce"),
            q(per_topic("kafka_server_brokertopicmetrics_failedfetchrequests_total"), "{{topic}} fetch"),
        ], unit="ops"),
        series("Log size per topic", [q(f"sum by (topic) (kafka_log_log_size{{{t}}})", "{{topic}}")], unit="bytes"),
        series("Records retained per topic", [
            q(f"sum by (topic) (kafka_log_log_logendoffset{{{t}}} - kafka_log_log_logstartoffset{{{t}}})", "{{topic}}"),
        ], description="Log end offset minus log start offset, summed over partitions."),
        series("Partitions per topic", [q(f"count by (topic) (kafka_log_log_size{{{t}}})", "{{topic}}")]),
        table("Partitions", [
            q(f"kafka_log_log_size{{{t}}}", "size", instant=True),
            q(f"kafka_log_log_logstartoffset{{{t}}}", "start offset", instant=True),
            q(f"kafka_log_log_logendoffset{{{t}}}", "end offset", instant=True),
        ], description="Per partition: bytes on disk, log start offset, log end offset."),
    ]


def shards() -> list[dict]:
    s = f'{SEL},shard=~"$shard"'
    legend = "{{instance}} shard {{shard}}"
    return [
        series("Busy ratio per shard", [q(f"rate(shoal_shard_busy_seconds_total{{{s}}}{RATE})", legend)],
               unit="percentunit",
               description="Share of wall time each shard's executor ran tasks or polled io_uring (not parked)."),
        series("Time in tasks per shard", [q(f"rate(shoal_shard_task_seconds_total{{{s}}}{RATE})", legend)],
               unit="percentunit"),
        series("Tasks executed per shard", [q(f"rate(shoal_shard_tasks_executed_total{{{s}}}{RATE})", legend)],
               unit="ops"),
        series("Tasks queued per shard", [
            q(f"shoal_shard_requests_in_flight{{{s}}}", legend + " requests in flight"),
            q(f"shoal_shard_cross_shard_jobs_running{{{s}}}", legend + " cross-shard jobs"),
            q(f"sum by (instance, shard) (shoal_writer_queue_depth{{{s}}})", legend + " writer queue"),
        ], description="Kafka requests read and not yet answered, jobs from other shards running, "
                       "appends and syncs waiting for the writer."),
        series("io_uring file operations per shard", [
            q(f"sum by (instance, shard, op) (rate(shoal_io_uring_file_ops_total{{{s}}}{RATE}))",
              legend + " {{op}}"),
        ], unit="ops", description="File operations completed by each shard's io_uring rings (glommio IoStats)."),
        series("io_uring file bytes per shard", [
            q(f"sum by (instance, shard, op) (rate(shoal_io_uring_file_bytes_total{{{s}}}{RATE}))",
              legend + " {{op}}"),
        ], unit="Bps"),
        series("Writer queue depth", [q(f"shoal_writer_queue_depth{{{s}}}", legend + " {{queue}}")]),
        series("Cross-shard messages", [
            q(f"rate(shoal_shard_cross_shard_messages_sent_total{{{s}}}{RATE})", legend + " sent"),
            q(f"rate(shoal_shard_cross_shard_messages_received_total{{{s}}}{RATE})", legend + " received"),
        ], unit="ops"),
        series("fsync latency (group commit)", [
            q(f"histogram_quantile(0.5, sum by (instance, shard, le) "
              f"(rate(shoal_writer_fdatasync_seconds_bucket{{{s}}}{RATE})))", legend + " p50"),
            q(f"histogram_quantile(0.99, sum by (instance, shard, le) "
              f"(rate(shoal_writer_fdatasync_seconds_bucket{{{s}}}{RATE})))", legend + " p99"),
        ], unit="s", description="fdatasync of one log by the shard's writer in a group commit."),
        series("fsyncs and appends per group commit", [
            q(f"rate(shoal_writer_fdatasync_seconds_count{{{s}}}{RATE})", legend + " fsyncs/s"),
            q(f"rate(shoal_writer_group_committed_appends_total{{{s}}}{RATE}) / "
              f"rate(shoal_writer_group_commits_total{{{s}}}{RATE})", legend + " appends per commit"),
        ]),
        series("Partitions and connections per shard", [
            q(f"shoal_shard_partitions{{{s}}}", legend + " partitions"),
            q(f'label_replace(kafka_server_socket_server_metrics_connection_count{{{SEL}}}, '
              f'"shard", "$1", "networkprocessor", "(.*)")', "{{instance}} shard {{shard}} connections"),
        ]),
        series("Fetch bytes: sendfile vs framing", [
            q(f"sum by (instance) (rate(shoal_fetch_sendfile_bytes_total{{{SEL}}}{RATE}))", "{{instance}} sendfile"),
            q(f"sum by (instance) (rate(shoal_fetch_framing_bytes_total{{{SEL}}}{RATE}))", "{{instance}} framing"),
        ], unit="Bps", description="Record bytes leave by sendfile from segment files; only framing is copied."),
    ]


def consumer_groups() -> list[dict]:
    g = f'{SEL},consumergroup=~"$group"'
    return [
        stat("Groups with commits", f"count(count by (consumergroup) (kafka_consumergroup_current_offset{{{g}}}))",
             description="Groups with at least one committed offset on the selected brokers."),
        stat("Total lag (records)", f"sum(kafka_consumergroup_lag_sum{{{g}}})"),
        stat("Oldest unconsumed record", f"max(shoal_consumergroup_lag_seconds{{{g}}})", unit="s",
             description="Age of the oldest record any selected group has not consumed yet."),
        stat("Members", f"sum(kafka_consumergroup_members{{{g}}})",
             description="Consumers in the selected groups, classic and KIP-848."),
        series("Lag per group (records)", [q(f"sum by (consumergroup) (kafka_consumergroup_lag{{{g}}})", "{{consumergroup}}")]),
        series("Lag per group (seconds)", [q(f"max by (consumergroup) (shoal_consumergroup_lag_seconds{{{g}}})", "{{consumergroup}}")],
               unit="s", description="Age of each group's oldest unconsumed record."),
        series("Lag per group and topic", [
            q(f"sum by (consumergroup, topic) (kafka_consumergroup_lag{{{g}}})", "{{consumergroup}} {{topic}}"),
        ], w=24),
        series("Commit rate per group", [
            q(f"sum by (consumergroup) (rate(kafka_consumergroup_current_offset{{{g}}}{RATE}))", "{{consumergroup}}"),
        ], unit="ops", w=24, description="How fast each group's committed offsets move (records per second)."),
        table("Partitions", [
            q(f"kafka_consumergroup_current_offset{{{g}}}", "committed offset", instant=True),
            q(f"kafka_consumergroup_lag{{{g}}}", "lag", instant=True),
            q(f"shoal_consumergroup_lag_seconds{{{g}}}", "lag seconds", instant=True),
        ], description="Per group and partition: committed offset, lag in records and in seconds."),
    ]


def variable(name: str, label: str, query: str) -> dict:
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-variable"}, "definition": query,
        "refresh": 2, "sort": 1, "includeAll": True, "allValue": ".+", "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "options": [], "hide": 0,
    }


def templating(extra: list[dict]) -> dict:
    base = [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "options": [], "refresh": 1, "hide": 0, "regex": ""},
        variable("job", "Job", "label_values(kafka_server_replicamanager_partitioncount, job)"),
        variable("instance", "Broker",
                 'label_values(kafka_server_replicamanager_partitioncount{job=~"$job"}, instance)'),
    ]
    return {"list": base + extra}


def panel_json(p: dict, pid: int, x: int, y: int) -> dict:
    targets = []
    for i, query in enumerate(p["queries"]):
        t = {"datasource": DATASOURCE, "refId": chr(ord("A") + i), "expr": query["expr"],
             "legendFormat": query["legend"] or "__auto", "range": not query["instant"],
             "instant": query["instant"]}
        if p["type"] == "table":
            t["format"] = "table"
        targets.append(t)
    defaults: dict = {"unit": p["unit"]}
    if p.get("thresholds"):
        defaults["thresholds"] = {"mode": "absolute", "steps": p["thresholds"]}
        defaults["color"] = {"mode": "thresholds"}
    out = {
        "id": pid, "type": p["type"], "title": p["title"], "description": p["description"],
        "datasource": DATASOURCE, "gridPos": {"h": p["h"], "w": p["w"], "x": x, "y": y},
        "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": []},
    }
    if p["type"] == "stat":
        out["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "colorMode": "background", "graphMode": "none", "textMode": "auto"}
    elif p["type"] == "timeseries":
        out["options"] = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                          "tooltip": {"mode": "multi", "sort": "desc"}}
    else:
        out["options"] = {"showHeader": True}
        out["transformations"] = [{"id": "merge", "options": {}},
                                  {"id": "organize", "options": {"excludeByName": {"Time": True}}}]
    return out


def layout(panels: list[dict]) -> list[dict]:
    out, x, y, row_h = [], 0, 0, 0
    for pid, p in enumerate(panels, start=1):
        if x + p["w"] > 24:
            x, y, row_h = 0, y + row_h, 0
        out.append(panel_json(p, pid, x, y))
        x += p["w"]
        row_h = max(row_h, p["h"])
    return out


def dashboard(uid: str, title: str, description: str, panels: list[dict], extra_vars: list[dict]) -> dict:
    return {
        "uid": uid, "title": title, "description": description, "tags": ["shoal", "kafka"],
        "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1,
        "time": {"from": "now-1h", "to": "now"}, "refresh": "30s", "timezone": "browser",
        "templating": templating(extra_vars), "annotations": {"list": []}, "links": [],
        "panels": layout(panels),
    }


def dashboards() -> dict[str, dict]:
    topic_var = variable("topic", "Topic", 'label_values(kafka_log_log_size{job=~"$job",instance=~"$instance"}, topic)')
    shard_var = variable("shard", "Shard",
                         'label_values(shoal_shard_busy_seconds_total{job=~"$job",instance=~"$instance"}, shard)')
    group_var = variable("group", "Group",
                         'label_values(kafka_consumergroup_current_offset{job=~"$job",instance=~"$instance"}, consumergroup)')
    return {
        "consumer-groups.json": dashboard(
            "shoal-consumer-groups", "shoal / Consumer groups",
            "Committed offsets and lag, in records and in seconds, per group, topic and partition.",
            consumer_groups(), [group_var]),
        "cluster-overview.json": dashboard(
            "shoal-cluster", "shoal / Cluster overview",
            "Brokers, throughput, requests and latency per API, partition health, connections, "
            "replication, the metadata quorum and client quotas.",
            cluster_overview(), []),
        "topics.json": dashboard(
            "shoal-topics", "shoal / Topics", "Per-topic rates and sizes.", topics(), [topic_var]),
        "shards.json": dashboard(
            "shoal-shards", "shoal / Shards",
            "Thread-per-core signals: busy ratio, queues, io_uring, cross-shard traffic, fsync latency.",
            shards(), [shard_var]),
    }


def rendered() -> dict[str, str]:
    return {name: json.dumps(d, indent=2) + "\n" for name, d in dashboards().items()}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT.name}/{name}")


if __name__ == "__main__":
    main()
