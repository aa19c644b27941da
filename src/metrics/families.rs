//! From every shard's `ShardSample` to Prometheus metric families and their text
//! format: pure, no I/O, no shard state, so it is tested on made-up samples.
//!
//! Kafka's families are named as the Prometheus JMX exporter's Kafka rules name
//! Kafka's beans (lower-cased, `PerSec` counters as `_total`, histogram percentiles as
//! gauges with a `quantile` label, per-topic series next to an all-topics series
//! without the `topic` label). Families with no series are left out: the text format
//! has no way to write one.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram as HistogramProto, LabelPair, Metric, MetricFamily,
    MetricType,
};
use prometheus::{Encoder, TextEncoder};

use super::histogram::{latency_histogram, BucketSample};
use super::requests::PHASE_COUNT;
use super::sample::{ShardSample, IO_OPS};
use super::topics::TopicCounts;

// Replication's families (the controller's view, ISR changes, fetcher lag).
#[path = "families_replication.rs"]
mod replication;
pub use replication::throttle_families;
use replication::{cluster, replication_families};

// Log directories' families (space, and Kafka's LogManager offline gauges).
#[path = "families_log_dirs.rs"]
mod log_dirs;
pub use log_dirs::{log_dir_families, offline_dir_families};

// The metadata quorum's families (Kafka's raft-metrics, also under Strimzi's names).
#[path = "families_quorum.rs"]
mod quorum;
use quorum::quorum_families;

// Kafka's per-partition Partition beans, and the process's disk bytes.
#[path = "families_partition.rs"]
mod partition;
use partition::{disk_families, partition_families};

// Client quotas' families (Kafka's Produce, Fetch and Request quota beans).
#[path = "families_quotas.rs"]
mod quotas;
pub use quotas::quota_families;

/// What the families need to know about the broker beyond its shards' samples.
pub struct Broker<'a> {
    /// The client listener's name (Kafka's `listener` tag), e.g. `PLAINTEXT`.
    pub listener: &'a str,
    /// This broker's `node.id`: the leader kafka_exporter reports for its partitions.
    pub node_id: i32,
}

/// Kafka's request-time percentiles, with the `quantile` label the JMX exporter
/// writes for each (`99thPercentile` becomes "0.99", `999thPercentile` "0.999").
pub const QUANTILES: [(&str, f64); 6] = [
    ("0.50", 0.50),
    ("0.75", 0.75),
    ("0.95", 0.95),
    ("0.98", 0.98),
    ("0.99", 0.99),
    ("0.999", 0.999),
];

/// Kafka's request-time families, one per phase in `RequestTimes::phases` order: name
/// and help.
const PHASE_FAMILIES: [(&str, &str); PHASE_COUNT] = [
    (
        "kafka_network_requestmetrics_requestqueuetimems",
        "Request time in ms from read to its handler's first run, over the last 1-2 minutes (RequestMetrics RequestQueueTimeMs)",
    ),
    (
        "kafka_network_requestmetrics_localtimems",
        "Request time in ms in its handler, less remote time, over the last 1-2 minutes (RequestMetrics LocalTimeMs); acks=all fsyncs are local",
    ),
    (
        "kafka_network_requestmetrics_remotetimems",
        "Request time in ms waiting on others (fetch long polls, group rebalances), over the last 1-2 minutes (RequestMetrics RemoteTimeMs)",
    ),
    (
        "kafka_network_requestmetrics_responsequeuetimems",
        "Request time in ms from handled to its response's turn (responses leave in request order), over the last 1-2 minutes (RequestMetrics ResponseQueueTimeMs)",
    ),
    (
        "kafka_network_requestmetrics_responsesendtimems",
        "Request time in ms writing its response, over the last 1-2 minutes (RequestMetrics ResponseSendTimeMs)",
    ),
    (
        "kafka_network_requestmetrics_totaltimems",
        "Request total time in ms, request read to response written, over the last 1-2 minutes (RequestMetrics TotalTimeMs)",
    ),
];

type TopicField = fn(&TopicCounts) -> u64;
type ShardField = fn(&ShardSample) -> f64;
type MakeMetric = fn(&[(&str, &str)], f64) -> Metric;

pub(super) const TOPIC_FAMILIES: [(&str, &str, TopicField); 7] = [
    (
        "kafka_server_brokertopicmetrics_messagesin_total",
        "Records appended (BrokerTopicMetrics MessagesInPerSec)",
        |c| c.messages_in,
    ),
    (
        "kafka_server_brokertopicmetrics_bytesin_total",
        "Record batch bytes appended (BrokerTopicMetrics BytesInPerSec)",
        |c| c.bytes_in,
    ),
    (
        "kafka_server_brokertopicmetrics_bytesout_total",
        "Record bytes sent to fetchers (BrokerTopicMetrics BytesOutPerSec)",
        |c| c.bytes_out,
    ),
    (
        "kafka_server_brokertopicmetrics_totalproducerequests_total",
        "Partitions in produce requests (BrokerTopicMetrics TotalProduceRequestsPerSec)",
        |c| c.produce_requests,
    ),
    (
        "kafka_server_brokertopicmetrics_totalfetchrequests_total",
        "Partitions read for fetch requests (BrokerTopicMetrics TotalFetchRequestsPerSec)",
        |c| c.fetch_requests,
    ),
    (
        "kafka_server_brokertopicmetrics_failedproducerequests_total",
        "Partition appends that failed (BrokerTopicMetrics FailedProduceRequestsPerSec)",
        |c| c.failed_produce_requests,
    ),
    (
        "kafka_server_brokertopicmetrics_failedfetchrequests_total",
        "Partition reads that failed (BrokerTopicMetrics FailedFetchRequestsPerSec)",
        |c| c.failed_fetch_requests,
    ),
];

/// Every family, in a fixed order; within a family, series sorted by their labels.
pub fn build(samples: &[ShardSample], broker: &Broker) -> Vec<MetricFamily> {
    let mut families = Vec::new();
    families.extend(topic_families(samples));
    families.extend(request_families(samples));
    families.extend(broker_families(samples, broker));
    families.extend(replication_families(samples, broker));
    families.extend(log_families(samples));
    families.extend(partition_families(samples, broker));
    families.extend(disk_families());
    families.extend(quorum_families(samples, broker));
    families.extend(shard_families(samples));
    families.extend(consumer_group_families(samples));
    families.retain(|f| !f.get_metric().is_empty());
    families
}

/// The text exposition format (version 0.0.4) of `families`, none of them empty.
pub fn encode(families: &[MetricFamily]) -> String {
    let mut out = Vec::new();
    // Writing to a Vec fails only for a family without series; `build` drops those.
    let _ = TextEncoder::new().encode(families, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn topic_families(samples: &[ShardSample]) -> Vec<MetricFamily> {
    let mut all = TopicCounts::default();
    let mut topics: BTreeMap<&str, TopicCounts> = BTreeMap::new();
    for s in samples {
        all += s.all_topics;
        for (topic, counts) in &s.topics {
            *topics.entry(topic).or_default() += *counts;
        }
    }
    TOPIC_FAMILIES
        .iter()
        .map(|(name, help, field)| {
            let mut series = vec![counter(&[], field(&all) as f64)];
            series.extend(
                topics
                    .iter()
                    .map(|(topic, c)| counter(&[("topic", topic)], field(c) as f64)),
            );
            family(name, help, MetricType::COUNTER, series)
        })
        .collect()
}

fn request_families(samples: &[ShardSample]) -> Vec<MetricFamily> {
    let mut versions: BTreeMap<(&str, i16), u64> = BTreeMap::new();
    let mut times: BTreeMap<&str, [Histogram<u64>; PHASE_COUNT]> = BTreeMap::new();
    for r in samples.iter().flat_map(|s| &s.requests) {
        for (version, n) in &r.versions {
            *versions.entry((&r.request, *version)).or_default() += n;
        }
        let merged = times
            .entry(&r.request)
            .or_insert_with(|| std::array::from_fn(|_| latency_histogram()));
        for (merged, phase) in merged.iter_mut().zip(&r.times_us) {
            // Every latency histogram comes from `latency_histogram`: same bounds, no error.
            let _ = merged.add(phase);
        }
    }
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for ((request, _), n) in &versions {
        *counts.entry(request).or_default() += n;
    }
    let rates = versions
        .iter()
        .map(|((request, version), n)| {
            let version = version.to_string();
            counter(&[("request", request), ("version", &version)], *n as f64)
        })
        .collect();
    let quantiles = |phase: usize| -> Vec<Metric> {
        times
            .iter()
            .map(|(request, h)| (request, &h[phase]))
            .filter(|(_, h)| !h.is_empty())
            .flat_map(|(request, h)| {
                QUANTILES.iter().map(move |(label, q)| {
                    let ms = h.value_at_quantile(*q) as f64 / 1000.0;
                    gauge(&[("request", request), ("quantile", label)], ms)
                })
            })
            .collect()
    };
    let totals = counts
        .iter()
        .map(|(request, n)| counter(&[("request", request)], *n as f64))
        .collect();
    let mut families = vec![family(
        "kafka_network_requestmetrics_requests_total",
        "Requests answered, per API and version (RequestMetrics RequestsPerSec)",
        MetricType::COUNTER,
        rates,
    )];
    families.extend(
        PHASE_FAMILIES
            .iter()
            .enumerate()
            .map(|(phase, (name, help))| family(name, help, MetricType::GAUGE, quantiles(phase))),
    );
    families.push(family(
        "kafka_network_requestmetrics_totaltimems_count",
        "Requests timed, per API (RequestMetrics TotalTimeMs Count)",
        MetricType::COUNTER,
        totals,
    ));
    families
}

fn broker_families(samples: &[ShardSample], broker: &Broker) -> Vec<MetricFamily> {
    let partitions: usize = samples.iter().map(|s| s.partitions.len()).sum();
    // As Kafka's ReplicaManager counts them: of the partitions this broker leads.
    let led = || {
        samples
            .iter()
            .flat_map(|s| &s.partitions)
            .filter(|p| p.leader == broker.node_id)
    };
    let under_replicated = led().filter(|p| p.in_sync_replicas < p.replicas).count();
    let under_min_isr = led()
        .filter(|p| p.in_sync_replicas < p.min_insync_replicas)
        .count();
    let at_min_isr = led()
        .filter(|p| p.in_sync_replicas == p.min_insync_replicas)
        .count();
    // Logs this broker cannot serve, and on the active controller partitions without a
    // leader.
    let offline: u64 = samples.iter().map(|s| s.offline_partitions).sum::<u64>()
        + cluster(samples).offline_partitions;
    // The active controller: the quorum's leader (a cluster of one leads itself).
    let controllers = samples
        .iter()
        .filter(|s| s.quorum.as_ref().is_some_and(|q| q.state == "leader"))
        .count();
    let per_processor = |value: ShardField, make: MakeMetric| -> Vec<Metric> {
        samples
            .iter()
            .map(|s| {
                let processor = s.shard.to_string();
                let labels = [
                    ("listener", broker.listener),
                    ("networkprocessor", &processor),
                ];
                make(&labels, value(s))
            })
            .collect()
    };
    vec![
        single(
            "kafka_server_replicamanager_partitioncount",
            "Partitions on this broker (ReplicaManager PartitionCount)",
            partitions as f64,
        ),
        single(
            "kafka_server_replicamanager_leadercount",
            "Partitions this broker leads (ReplicaManager LeaderCount)",
            led().count() as f64,
        ),
        single(
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Partitions led here with fewer in-sync replicas than replicas (ReplicaManager UnderReplicatedPartitions)",
            under_replicated as f64,
        ),
        single(
            "kafka_server_replicamanager_underminisrpartitioncount",
            "Partitions led here with fewer in-sync replicas than min.insync.replicas (ReplicaManager UnderMinIsrPartitionCount)",
            under_min_isr as f64,
        ),
        single(
            "kafka_server_replicamanager_atminisrpartitioncount",
            "Partitions led here with exactly min.insync.replicas in-sync replicas (ReplicaManager AtMinIsrPartitionCount)",
            at_min_isr as f64,
        ),
        single(
            "kafka_server_replicamanager_replicacount",
            "Replicas on this broker, leaders and followers (ReplicaManager ReplicaCount)",
            partitions as f64,
        ),
        single(
            "kafka_brokers",
            "Brokers in the cluster, registered and not fenced (kafka_exporter's name)",
            samples.iter().find_map(|s| s.registered_brokers).unwrap_or(1) as f64,
        ),
        // kafka_exporter's own identity series, which dashboards written for it use to
        // find the exporter: here the broker that serves its families.
        single_labelled(
            "kafka_exporter_build_info",
            "1, labelled with the version of shoal, which serves kafka_exporter's families (kafka_exporter's build info)",
            &[("program", "shoal"), ("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        ),
        single(
            "kafka_controller_kafkacontroller_activecontrollercount",
            "1 on the broker whose controller is active (KafkaController ActiveControllerCount)",
            controllers as f64,
        ),
        single(
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            "Partitions without a serving leader: logs this broker cannot serve, and on the active controller partitions without a leader (KafkaController OfflinePartitionsCount)",
            offline as f64,
        ),
        family(
            "kafka_server_socket_server_metrics_connection_count",
            "Open client connections per listener and shard (socket-server-metrics connection-count)",
            MetricType::GAUGE,
            per_processor(|s| s.connections as f64, gauge),
        ),
        family(
            "kafka_server_socket_server_metrics_connection_creation_total",
            "Client connections accepted per listener and shard (socket-server-metrics connection-creation-total)",
            MetricType::COUNTER,
            per_processor(|s| s.connections_created as f64, counter),
        ),
        family(
            "kafka_server_socket_server_metrics_successful_authentication_total",
            "SASL logins and TLS handshakes that succeeded per listener and shard (socket-server-metrics successful-authentication-total)",
            MetricType::COUNTER,
            per_processor(|s| s.authentications_succeeded as f64, counter),
        ),
        family(
            "kafka_server_socket_server_metrics_failed_authentication_total",
            "SASL logins and TLS handshakes that failed per listener and shard (socket-server-metrics failed-authentication-total)",
            MetricType::COUNTER,
            per_processor(|s| s.authentications_failed as f64, counter),
        ),
    ]
}

fn log_families(samples: &[ShardSample]) -> Vec<MetricFamily> {
    let mut partitions: Vec<_> = samples.iter().flat_map(|s| &s.partitions).collect();
    partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let mut per_topic: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut size, mut start, mut end, mut isr) = (vec![], vec![], vec![], vec![]);
    let (mut replicas, mut leader, mut under, mut preferred) = (vec![], vec![], vec![], vec![]);
    for p in partitions {
        *per_topic.entry(&p.topic).or_default() += 1;
        let labels = [
            ("topic", p.topic.as_str()),
            ("partition", &p.partition.to_string()),
        ];
        size.push(gauge(&labels, p.size_bytes as f64));
        start.push(gauge(&labels, p.log_start_offset as f64));
        end.push(gauge(&labels, p.log_end_offset as f64));
        isr.push(gauge(&labels, f64::from(p.in_sync_replicas)));
        replicas.push(gauge(&labels, f64::from(p.replicas)));
        leader.push(gauge(&labels, f64::from(p.leader)));
        let under_replicated = p.in_sync_replicas < p.replicas;
        under.push(gauge(&labels, f64::from(u8::from(under_replicated))));
        let is_preferred = p.leader == p.preferred_leader;
        preferred.push(gauge(&labels, f64::from(u8::from(is_preferred))));
    }
    let counts = per_topic
        .iter()
        .map(|(topic, n)| gauge(&[("topic", topic)], *n as f64))
        .collect();
    // kafka_exporter's per-partition families: its offsets are the log's ends.
    let kafka_exporter = [
        (
            "kafka_topic_partition_current_offset",
            "The partition's log end offset (kafka_exporter's name)",
            end.clone(),
        ),
        (
            "kafka_topic_partition_oldest_offset",
            "The partition's log start offset (kafka_exporter's name)",
            start.clone(),
        ),
        (
            "kafka_topic_partition_in_sync_replica",
            "In-sync replicas of the partition (kafka_exporter's name)",
            isr,
        ),
        (
            "kafka_topic_partition_replicas",
            "Replicas of the partition (kafka_exporter's name)",
            replicas,
        ),
        (
            "kafka_topic_partition_leader",
            "Node id of the partition's leader (kafka_exporter's name)",
            leader,
        ),
        (
            "kafka_topic_partition_under_replicated_partition",
            "1 if the partition is under-replicated (kafka_exporter's name)",
            under,
        ),
        (
            "kafka_topic_partition_leader_is_preferred",
            "1 if the partition's leader is its preferred replica (kafka_exporter's name)",
            preferred,
        ),
    ];
    let mut families = vec![
        family(
            "kafka_log_log_size",
            "Bytes of the partition's log on disk (Log Size)",
            MetricType::GAUGE,
            size,
        ),
        family(
            "kafka_log_log_logstartoffset",
            "The partition's first offset (Log LogStartOffset)",
            MetricType::GAUGE,
            start,
        ),
        family(
            "kafka_log_log_logendoffset",
            "The offset the partition's next record gets (Log LogEndOffset)",
            MetricType::GAUGE,
            end,
        ),
        family(
            "kafka_topic_partitions",
            "Partitions of the topic (kafka_exporter's name)",
            MetricType::GAUGE,
            counts,
        ),
    ];
    families.extend(
        kafka_exporter
            .into_iter()
            .map(|(name, help, series)| family(name, help, MetricType::GAUGE, series)),
    );
    families
}

const SHARD_COUNTERS: [(&str, &str, ShardField); 8] = [
    (
        "shoal_shard_busy_seconds_total",
        "Time the shard's executor ran tasks or polled I/O (not parked): its rate is the busy ratio",
        |s| s.runtime.busy_seconds,
    ),
    (
        "shoal_shard_task_seconds_total",
        "Time the shard's executor spent inside tasks",
        |s| s.runtime.task_seconds,
    ),
    (
        "shoal_shard_tasks_executed_total",
        "Tasks the shard's executor ran",
        |s| s.runtime.tasks_executed as f64,
    ),
    (
        "shoal_shard_scheduler_runs_total",
        "Times the shard's scheduler picked a task queue to run",
        |s| s.runtime.scheduler_runs as f64,
    ),
    (
        "shoal_shard_cross_shard_messages_sent_total",
        "Jobs this shard shipped to another shard: invoke_on calls and their answers",
        |s| s.cross_shard_sent as f64,
    ),
    (
        "shoal_shard_cross_shard_messages_received_total",
        "Jobs other shards shipped to this one: calls and answers",
        |s| s.cross_shard_received as f64,
    ),
    (
        "shoal_writer_group_commits_total",
        "Group commits of the shard's writer (one fdatasync of one log each)",
        |s| s.group_commits as f64,
    ),
    (
        "shoal_writer_group_committed_appends_total",
        "acks=all appends answered by the writer's group commits",
        |s| s.group_committed_appends as f64,
    ),
];

const SHARD_GAUGES: [(&str, &str, ShardField); 3] = [
    (
        "shoal_shard_requests_in_flight",
        "Requests read from the shard's connections and not answered yet",
        |s| s.requests_in_flight as f64,
    ),
    (
        "shoal_shard_cross_shard_jobs_running",
        "Jobs from other shards running on this shard now",
        |s| s.cross_shard_running as f64,
    ),
    (
        "shoal_shard_partitions",
        "Partitions whose log this shard owns",
        |s| s.partitions.len() as f64,
    ),
];

fn shard_families(samples: &[ShardSample]) -> Vec<MetricFamily> {
    let per_shard = |field: ShardField, make: MakeMetric| -> Vec<Metric> {
        samples
            .iter()
            .map(|s| make(&[("shard", &s.shard.to_string())], field(s)))
            .collect()
    };
    let mut families = vec![
        family(
            "shoal_fetch_sendfile_bytes_total",
            "Record bytes sent to fetchers straight from segment files with sendfile",
            MetricType::COUNTER,
            vec![counter(
                &[],
                samples.iter().map(|s| s.fetch_sendfile_bytes).sum::<u64>() as f64,
            )],
        ),
        family(
            "shoal_fetch_copied_bytes_total",
            "Record bytes copied from segment files through userspace, for TLS connections",
            MetricType::COUNTER,
            vec![counter(
                &[],
                samples.iter().map(|s| s.fetch_copied_bytes).sum::<u64>() as f64,
            )],
        ),
        family(
            "shoal_fetch_framing_bytes_total",
            "Fetch response bytes written from memory (framing only)",
            MetricType::COUNTER,
            vec![counter(
                &[],
                samples.iter().map(|s| s.fetch_framing_bytes).sum::<u64>() as f64,
            )],
        ),
    ];
    for (name, help, field) in SHARD_COUNTERS {
        families.push(family(
            name,
            help,
            MetricType::COUNTER,
            per_shard(field, counter),
        ));
    }
    for (name, help, field) in SHARD_GAUGES {
        families.push(family(
            name,
            help,
            MetricType::GAUGE,
            per_shard(field, gauge),
        ));
    }
    let (mut ops, mut bytes, mut queued, mut syncs) = (vec![], vec![], vec![], vec![]);
    for s in samples {
        let shard = s.shard.to_string();
        for (op, io) in IO_OPS.iter().zip(&s.runtime.io) {
            ops.push(counter(&[("shard", &shard), ("op", op)], io.ops as f64));
            if !matches!(*op, "open" | "close") {
                bytes.push(counter(&[("shard", &shard), ("op", op)], io.bytes as f64));
            }
        }
        for (queue, depth) in [
            ("append", s.writer_queued_appends),
            ("sync", s.writer_queued_syncs),
        ] {
            queued.push(gauge(&[("shard", &shard), ("queue", queue)], depth as f64));
        }
        syncs.push(histogram(&[("shard", &shard)], &s.fdatasync));
    }
    families.extend([
        family(
            "shoal_io_uring_file_ops_total",
            "File operations the shard's io_uring rings completed, by kind (glommio IoStats)",
            MetricType::COUNTER,
            ops,
        ),
        family(
            "shoal_io_uring_file_bytes_total",
            "Bytes the shard's io_uring file operations moved, by kind (glommio IoStats)",
            MetricType::COUNTER,
            bytes,
        ),
        family(
            "shoal_writer_queue_depth",
            "Appends waiting for the shard's writer, and acks=all appends waiting for a sync",
            MetricType::GAUGE,
            queued,
        ),
        family(
            "shoal_writer_fdatasync_seconds",
            "Duration of each group-commit fdatasync of one log by the shard's writer",
            MetricType::HISTOGRAM,
            syncs,
        ),
    ]);
    families
}

/// Consumer-group positions, as kafka_exporter names them (label `consumergroup`), and
/// lag in seconds as shoal's own family.
fn consumer_group_families(samples: &[ShardSample]) -> Vec<MetricFamily> {
    let log_ends: HashMap<(&str, i32), i64> = samples
        .iter()
        .flat_map(|s| &s.partitions)
        .map(|p| ((p.topic.as_str(), p.partition), p.log_end_offset))
        .collect();
    let mut groups: Vec<_> = samples.iter().flat_map(|s| &s.consumer_groups).collect();
    groups
        .sort_by(|a, b| (&a.group, &a.topic, a.partition).cmp(&(&b.group, &b.topic, b.partition)));
    let (mut offset, mut lag, mut lag_seconds) = (vec![], vec![], vec![]);
    // (group, topic) -> (offsets, lag): kafka_exporter's `_sum` families.
    let mut sums: BTreeMap<(&str, &str), (i64, Option<i64>)> = BTreeMap::new();
    for g in groups {
        let partition = g.partition.to_string();
        let labels = [
            ("consumergroup", g.group.as_str()),
            ("topic", &g.topic),
            ("partition", &partition),
        ];
        offset.push(gauge(&labels, g.current_offset as f64));
        let computed = || {
            let end = log_ends.get(&(g.topic.as_str(), g.partition))?;
            Some(end.saturating_sub(g.current_offset).max(0))
        };
        let records = g.lag.or_else(computed);
        let sum = sums.entry((&g.group, &g.topic)).or_insert((0, None));
        sum.0 = sum.0.saturating_add(g.current_offset);
        if let Some(records) = records {
            lag.push(gauge(&labels, records as f64));
            sum.1 = Some(sum.1.unwrap_or(0).saturating_add(records));
        }
        if let Some(seconds) = g.lag_seconds {
            lag_seconds.push(gauge(&labels, seconds));
        }
    }
    let mut members: Vec<(&str, usize)> = samples
        .iter()
        .flat_map(|s| &s.group_members)
        .map(|(group, count)| (group.as_str(), *count))
        .collect();
    members.sort();
    let members = members
        .into_iter()
        .map(|(group, count)| gauge(&[("consumergroup", group)], count as f64))
        .collect();
    let (mut offset_sums, mut lag_sums) = (vec![], vec![]);
    for ((group, topic), (offsets, lag)) in sums {
        let labels = [("consumergroup", group), ("topic", topic)];
        offset_sums.push(gauge(&labels, offsets as f64));
        if let Some(lag) = lag {
            lag_sums.push(gauge(&labels, lag as f64));
        }
    }
    vec![
        family(
            "kafka_consumergroup_current_offset",
            "The group's committed offset on the partition",
            MetricType::GAUGE,
            offset,
        ),
        family(
            "kafka_consumergroup_current_offset_sum",
            "The group's committed offsets on the topic, summed over its partitions",
            MetricType::GAUGE,
            offset_sums,
        ),
        family(
            "kafka_consumergroup_lag",
            "Records between the group's committed offset and the log end",
            MetricType::GAUGE,
            lag,
        ),
        family(
            "kafka_consumergroup_lag_sum",
            "Records the group has not consumed on the topic, summed over its partitions",
            MetricType::GAUGE,
            lag_sums,
        ),
        family(
            "kafka_consumergroup_members",
            "Members of the group, each group counted by the shard that coordinates it",
            MetricType::GAUGE,
            members,
        ),
        family(
            "shoal_consumergroup_lag_seconds",
            "Age of the oldest record the group has not consumed on the partition",
            MetricType::GAUGE,
            lag_seconds,
        ),
    ]
}

/// Kafka's idle ratios (0 to 1) of its request handler pool and network processors,
/// as the JMX exporter names them: for shoal, the shards' idle time since the last scrape.
pub fn idle_families(idle: f64) -> Vec<MetricFamily> {
    vec![
        single(
            "kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent",
            "Fraction of time the request handlers were idle (KafkaRequestHandlerPool RequestHandlerAvgIdlePercent): the shards', since the previous scrape",
            idle,
        ),
        single(
            "kafka_network_socketserver_networkprocessoravgidlepercent",
            "Fraction of time the network processors were idle (SocketServer NetworkProcessorAvgIdlePercent): the shards', since the previous scrape",
            idle,
        ),
        // The same under the names Strimzi's JMX-exporter rules give them (`..._percent`),
        // which its Kafka dashboard reads.
        single(
            "kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent",
            "The request handlers' idle fraction, under Strimzi's name",
            idle,
        ),
        single(
            "kafka_network_socketserver_networkprocessoravgidle_percent",
            "The network processors' idle fraction, under Strimzi's name",
            idle,
        ),
    ]
}

/// Leaves out every series that names a topic (a `topic` label), and the families left
/// with none (`metrics.topic.names=false`): a scraper learns no topic's name.
pub fn without_topics(families: &mut Vec<MetricFamily>) {
    for family in families.iter_mut() {
        let kept: Vec<Metric> = family
            .take_metric()
            .into_iter()
            .filter(|m| !m.get_label().iter().any(|l| l.name() == "topic"))
            .collect();
        family.set_metric(kept);
    }
    families.retain(|f| !f.get_metric().is_empty());
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn single_labelled(name: &str, help: &str, labels: &[(&str, &str)], value: f64) -> MetricFamily {
    family(name, help, MetricType::GAUGE, vec![gauge(labels, value)])
}

fn single(name: &str, help: &str, value: f64) -> MetricFamily {
    family(name, help, MetricType::GAUGE, vec![gauge(&[], value)])
}

fn labelled(labels: &[(&str, &str)]) -> Metric {
    let pairs = labels
        .iter()
        .map(|(name, value)| {
            let mut pair = LabelPair::default();
            pair.set_name(name.to_string());
            pair.set_value(value.to_string());
            pair
        })
        .collect();
    Metric::from_label(pairs)
}

fn counter(labels: &[(&str, &str)], value: f64) -> Metric {
    let mut metric = labelled(labels);
    let mut c = Counter::default();
    c.set_value(value);
    metric.set_counter(c);
    metric
}

fn gauge(labels: &[(&str, &str)], value: f64) -> Metric {
    let mut metric = labelled(labels);
    let mut g = Gauge::default();
    g.set_value(value);
    metric.set_gauge(g);
    metric
}

fn histogram(labels: &[(&str, &str)], sample: &BucketSample) -> Metric {
    let mut metric = labelled(labels);
    let buckets = sample
        .cumulative()
        .into_iter()
        .map(|(bound, count)| {
            let mut b = Bucket::default();
            b.set_upper_bound(bound);
            b.set_cumulative_count(count);
            b
        })
        .collect();
    let mut h = HistogramProto::default();
    h.set_bucket(buckets);
    h.set_sample_count(sample.count());
    h.set_sample_sum(sample.sum_seconds);
    metric.set_histogram(h);
    metric
}
