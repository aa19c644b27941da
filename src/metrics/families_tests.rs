//! Tests of the Prometheus families built from made-up shard samples.

use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;

use super::families::{build, encode, Broker, QUANTILES, TOPIC_FAMILIES};
use super::histogram::DurationHistogram;
use super::requests::{RequestMetrics, RequestTimes};
use super::sample::{ClusterSample, GroupOffsets, PartitionSample, ShardSample};
use super::topics::TopicCounts;
use crate::quorum::member::{QuorumStatus, VoterStatus};

const BROKER: Broker = Broker {
    listener: "PLAINTEXT",
    node_id: 7,
};

fn render(samples: &[ShardSample], broker: &Broker) -> String {
    encode(&build(samples, broker))
}

/// `(series as written: name{labels}, value)` for every sample line.
fn lines(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line has a value");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

fn value(text: &str, series: &str) -> f64 {
    let found: Vec<f64> = lines(text)
        .into_iter()
        .filter(|(s, _)| s == series)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(found.len(), 1, "{series} in:\n{text}");
    found[0]
}

fn counts(bytes_in: u64, bytes_out: u64) -> TopicCounts {
    TopicCounts {
        bytes_in,
        bytes_out,
        messages_in: 1,
        produce_requests: 1,
        ..TopicCounts::default()
    }
}

fn shard(id: usize) -> ShardSample {
    ShardSample {
        shard: id,
        ..ShardSample::default()
    }
}

#[test]
fn topic_counters_are_summed_over_shards_with_an_all_topics_series() {
    let mut s0 = shard(0);
    s0.all_topics = counts(30, 5);
    s0.topics = vec![("a".into(), counts(10, 5)), ("b".into(), counts(20, 0))];
    let mut s1 = shard(1);
    s1.all_topics = counts(7, 0);
    s1.topics = vec![("a".into(), counts(7, 0))];
    let text = render(&[s0, s1], &BROKER);
    let bytes_in = "kafka_server_brokertopicmetrics_bytesin_total";
    assert_eq!(value(&text, bytes_in), 37.0);
    assert_eq!(value(&text, &format!("{bytes_in}{{topic=\"a\"}}")), 17.0);
    assert_eq!(value(&text, &format!("{bytes_in}{{topic=\"b\"}}")), 20.0);
    let out = "kafka_server_brokertopicmetrics_bytesout_total{topic=\"a\"}";
    assert_eq!(value(&text, out), 5.0);
    for (name, _, _) in TOPIC_FAMILIES {
        assert!(text.contains(&format!("# TYPE {name} counter\n")), "{name}");
    }
    let failed = "kafka_server_brokertopicmetrics_failedfetchrequests_total{topic=\"b\"}";
    assert_eq!(value(&text, failed), 0.0);
}

#[test]
fn without_topics_leaves_out_every_series_naming_a_topic() {
    let mut s0 = shard(0);
    s0.all_topics = counts(30, 5);
    s0.topics = vec![("secret".into(), counts(30, 5))];
    let mut families = build(&[s0], &BROKER);
    super::families::without_topics(&mut families);
    let text = encode(&families);
    assert!(
        !text.contains("secret") && !text.contains("topic=\""),
        "{text}"
    );
    assert_eq!(
        value(&text, "kafka_server_brokertopicmetrics_bytesin_total"),
        30.0
    );
}

#[test]
fn request_latency_quantiles_merge_every_shards_histogram() {
    let now = Instant::now();
    let (m0, m1) = (RequestMetrics::default(), RequestMetrics::default());
    for ms in 1..=50 {
        m0.record(
            ApiKey::Produce,
            9,
            &handled_in(Duration::from_millis(ms)),
            now,
        );
    }
    for ms in 51..=100 {
        m1.record(
            ApiKey::Produce,
            7,
            &handled_in(Duration::from_millis(ms)),
            now,
        );
    }
    m1.record(
        ApiKey::Fetch,
        12,
        &handled_in(Duration::from_micros(500)),
        now,
    );
    let mut s0 = shard(0);
    s0.requests = m0.sample(now);
    let mut s1 = shard(1);
    s1.requests = m1.sample(now);
    let text = render(&[s0, s1], &BROKER);
    let q = |request: &str, quantile: &str| {
        let series = format!(
            "kafka_network_requestmetrics_totaltimems{{request=\"{request}\",quantile=\"{quantile}\"}}"
        );
        value(&text, &series)
    };
    assert!(
        (q("Produce", "0.50") - 50.0).abs() <= 0.5,
        "{}",
        q("Produce", "0.50")
    );
    assert!((q("Produce", "0.99") - 99.0).abs() <= 1.0);
    assert!(q("Produce", "0.999") >= q("Produce", "0.99"));
    assert!((q("FetchConsumer", "0.75") - 0.5).abs() <= 0.01);
    for (label, _) in QUANTILES {
        q("Fetch", label);
    }
    let rate = |request: &str, version: i16| {
        let series = format!(
            "kafka_network_requestmetrics_requests_total{{request=\"{request}\",version=\"{version}\"}}"
        );
        value(&text, &series)
    };
    assert_eq!(rate("Produce", 9), 50.0);
    assert_eq!(rate("Produce", 7), 50.0);
    assert_eq!(rate("Fetch", 12), 1.0);
    let count = "kafka_network_requestmetrics_totaltimems_count{request=\"Produce\"}";
    assert_eq!(value(&text, count), 100.0);
    // Each phase has its own family; these requests spent all their time in a handler.
    let phase = |family: &str| {
        let series = format!(
            "kafka_network_requestmetrics_{family}{{request=\"Produce\",quantile=\"0.99\"}}"
        );
        value(&text, &series)
    };
    assert_eq!(phase("localtimems"), q("Produce", "0.99"));
    for family in [
        "requestqueuetimems",
        "remotetimems",
        "responsequeuetimems",
        "responsesendtimems",
    ] {
        assert_eq!(phase(family), 0.0, "{family}");
    }
}

/// A request's times when all of it went in its handler.
fn handled_in(time: Duration) -> RequestTimes {
    RequestTimes {
        local: time,
        total: time,
        ..RequestTimes::default()
    }
}

fn quorum(state: &'static str) -> QuorumStatus {
    QuorumStatus {
        state,
        leader: Some(2),
        epoch: 4,
        high_watermark: 17,
        voters: vec![
            VoterStatus {
                node: 7,
                log_end: 15,
                last_heard_ms: -1,
                last_caught_up_ms: -1,
            },
            VoterStatus {
                node: 2,
                log_end: 18,
                last_heard_ms: -1,
                last_caught_up_ms: -1,
            },
        ],
        observers: Vec::new(),
        controllers: Vec::new(),
    }
}

#[test]
fn the_quorum_families_are_kafkas_raft_metrics_and_only_its_leader_is_active() {
    let mut s0 = shard(0);
    s0.controller = true;
    s0.quorum = Some(quorum("follower"));
    let text = render(&[s0], &BROKER);
    assert_eq!(
        value(&text, "kafka_server_raft_metrics_current_leader"),
        2.0
    );
    assert_eq!(value(&text, "kafka_server_raft_metrics_current_epoch"), 4.0);
    assert_eq!(
        value(&text, "kafka_server_raft_metrics_high_watermark"),
        17.0
    );
    assert_eq!(
        value(&text, "kafka_server_raft_metrics_log_end_offset"),
        15.0,
        "the node's own log end (node 7)"
    );
    assert_eq!(
        value(
            &text,
            "kafka_server_raft_metrics_current_state{state=\"follower\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "kafka_server_raft_metrics_current_state{state=\"leader\"}"
        ),
        0.0
    );
    assert_eq!(
        value(&text, "kafka_server_raft_metrics_number_of_voters"),
        2.0
    );
    assert_eq!(
        value(&text, "kafka_server_raft_metrics_number_of_observers"),
        0.0
    );
    assert_eq!(
        value(
            &text,
            "kafka_controller_kafkacontroller_activecontrollercount"
        ),
        0.0
    );
}

#[test]
fn broker_gauges_and_connections_per_network_processor() {
    let mut s0 = shard(0);
    s0.controller = true;
    s0.quorum = Some(quorum("leader"));
    s0.connections = 3;
    s0.connections_created = 10;
    s0.offline_partitions = 1;
    let partition = |topic: &str, partition, end| PartitionSample {
        topic: topic.into(),
        partition,
        size_bytes: 1000,
        log_start_offset: 2,
        log_end_offset: end,
        in_sync_replicas: 1,
        min_insync_replicas: if topic == "s" { 2 } else { 1 },
        replicas: 1,
        leader: 7,
        preferred_leader: 7,
        fetch_lag: 0,
    };
    s0.partitions = vec![partition("t", 1, 40), partition("t", 0, 30)];
    let mut s1 = shard(1);
    s1.partitions = vec![partition("s", 0, 5)];
    let text = render(&[s0, s1], &BROKER);
    assert_eq!(
        value(&text, "kafka_server_replicamanager_partitioncount"),
        3.0
    );
    assert_eq!(value(&text, "kafka_server_replicamanager_leadercount"), 3.0);
    assert_eq!(
        value(
            &text,
            "kafka_server_replicamanager_underreplicatedpartitions"
        ),
        0.0
    );
    assert_eq!(
        value(
            &text,
            "kafka_controller_kafkacontroller_activecontrollercount"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "kafka_controller_kafkacontroller_offlinepartitionscount"
        ),
        1.0
    );
    let conn = "kafka_server_socket_server_metrics_connection_count{listener=\"PLAINTEXT\",networkprocessor=\"0\"}";
    assert_eq!(value(&text, conn), 3.0);
    let created = "kafka_server_socket_server_metrics_connection_creation_total{listener=\"PLAINTEXT\",networkprocessor=\"0\"}";
    assert_eq!(value(&text, created), 10.0);
    assert_eq!(
        value(
            &text,
            "kafka_log_log_logendoffset{topic=\"t\",partition=\"1\"}"
        ),
        40.0
    );
    assert_eq!(
        value(
            &text,
            "kafka_log_log_logstartoffset{topic=\"s\",partition=\"0\"}"
        ),
        2.0
    );
    assert_eq!(
        value(&text, "kafka_log_log_size{topic=\"t\",partition=\"0\"}"),
        1000.0
    );
    let order: Vec<String> = lines(&text)
        .into_iter()
        .map(|(s, _)| s)
        .filter(|s| s.starts_with("kafka_log_log_size"))
        .collect();
    assert_eq!(
        order,
        [
            "kafka_log_log_size{topic=\"s\",partition=\"0\"}",
            "kafka_log_log_size{topic=\"t\",partition=\"0\"}",
            "kafka_log_log_size{topic=\"t\",partition=\"1\"}",
        ]
    );
    assert_eq!(value(&text, "shoal_shard_partitions{shard=\"1\"}"), 1.0);
    // "s" wants two in-sync replicas and has one; "t"'s two partitions are at one of one.
    let replica_manager = |name: &str| value(&text, &format!("kafka_server_replicamanager_{name}"));
    assert_eq!(replica_manager("underminisrpartitioncount"), 1.0);
    assert_eq!(replica_manager("atminisrpartitioncount"), 2.0);
    assert_eq!(replica_manager("replicacount"), 3.0);
    assert_eq!(
        value(
            &text,
            "kafka_controller_controllerstats_uncleanleaderelections_total"
        ),
        0.0
    );
    // kafka_exporter's names.
    assert_eq!(value(&text, "kafka_brokers"), 1.0);
    let build = format!(
        "kafka_exporter_build_info{{program=\"shoal\",version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&text, &build), 1.0);
    assert_eq!(value(&text, "kafka_topic_partitions{topic=\"t\"}"), 2.0);
    let p = "{topic=\"t\",partition=\"1\"}";
    assert_eq!(
        value(&text, &format!("kafka_topic_partition_current_offset{p}")),
        40.0
    );
    assert_eq!(
        value(&text, &format!("kafka_topic_partition_oldest_offset{p}")),
        2.0
    );
    assert_eq!(
        value(&text, &format!("kafka_topic_partition_leader{p}")),
        7.0
    );
    assert_eq!(
        value(&text, &format!("kafka_topic_partition_in_sync_replica{p}")),
        1.0
    );
    assert_eq!(
        value(
            &text,
            &format!("kafka_topic_partition_under_replicated_partition{p}")
        ),
        0.0
    );
}

#[test]
fn replication_counts_partitions_led_here_and_followers_lag() {
    let replicated = |partition, leader, isr, lag| PartitionSample {
        topic: "r".into(),
        partition,
        size_bytes: 0,
        log_start_offset: 0,
        log_end_offset: 0,
        in_sync_replicas: isr,
        min_insync_replicas: 2,
        replicas: 3,
        leader,
        preferred_leader: 7,
        fetch_lag: lag,
    };
    let mut s0 = shard(0);
    s0.partitions = vec![
        replicated(0, 7, 3, 0),
        replicated(1, 7, 2, 0),
        replicated(2, 8, 1, 40),
    ];
    s0.cluster = Some(ClusterSample {
        active: true,
        topics: 1,
        partitions: 3,
        offline_partitions: 1,
        preferred_imbalance: 1,
        fenced_brokers: 1,
        active_brokers: 2,
        leader_elections: 5,
        unclean_leader_elections: 1,
    });
    s0.isr_shrinks = 2;
    let mut s1 = shard(1);
    s1.partitions = vec![replicated(3, 9, 3, 15)];
    s1.isr_expands = 1;
    let text = render(&[s0, s1], &BROKER);
    let replica_manager = |name: &str| value(&text, &format!("kafka_server_replicamanager_{name}"));
    assert_eq!(replica_manager("partitioncount"), 4.0);
    assert_eq!(replica_manager("leadercount"), 2.0);
    // Of the two led here, one has an ISR of two of three: under-replicated, at min ISR.
    assert_eq!(replica_manager("underreplicatedpartitions"), 1.0);
    assert_eq!(replica_manager("atminisrpartitioncount"), 1.0);
    assert_eq!(replica_manager("underminisrpartitioncount"), 0.0);
    // Kafka's Partition beans: the leader reports, a follower's series is all 0.
    let partition = |name: &str, p: i32| {
        value(
            &text,
            &format!("kafka_cluster_partition_{name}{{topic=\"r\",partition=\"{p}\"}}"),
        )
    };
    assert_eq!(partition("underreplicated", 1), 1.0);
    assert_eq!(partition("atminisr", 1), 1.0);
    assert_eq!(partition("underminisr", 1), 0.0);
    assert_eq!(
        (
            partition("replicascount", 0),
            partition("insyncreplicascount", 1)
        ),
        (3.0, 2.0)
    );
    assert_eq!(
        (
            partition("underreplicated", 2),
            partition("replicascount", 2)
        ),
        (0.0, 0.0)
    );
    assert_eq!(replica_manager("isrshrinks_total"), 2.0);
    assert_eq!(replica_manager("isrexpands_total"), 1.0);
    let controller = |name: &str| value(&text, &format!("kafka_controller_kafkacontroller_{name}"));
    assert_eq!(controller("offlinepartitionscount"), 1.0);
    assert_eq!(controller("preferredreplicaimbalancecount"), 1.0);
    assert_eq!(controller("globalpartitioncount"), 3.0);
    assert_eq!(controller("fencedbrokercount"), 1.0);
    assert_eq!(controller("activebrokercount"), 2.0);
    let stats = |name: &str| value(&text, &format!("kafka_controller_controllerstats_{name}"));
    assert_eq!(stats("leaderelectionrateandtimems_count"), 5.0);
    assert_eq!(stats("uncleanleaderelections_total"), 1.0);
    assert_eq!(
        value(
            &text,
            "kafka_server_replicafetchermanager_maxlag{clientid=\"Replica\"}"
        ),
        40.0
    );
    let lag = "kafka_server_fetcherlagmetrics_consumerlag{clientid=\"ReplicaFetcherThread-0-9\",topic=\"r\",partition=\"3\"}";
    assert_eq!(value(&text, lag), 15.0);
    let p = "{topic=\"r\",partition=\"2\"}";
    assert_eq!(
        value(&text, &format!("kafka_topic_partition_leader{p}")),
        8.0
    );
    assert_eq!(
        value(
            &text,
            &format!("kafka_topic_partition_leader_is_preferred{p}")
        ),
        0.0
    );
    assert_eq!(
        value(
            &text,
            &format!("kafka_topic_partition_under_replicated_partition{p}")
        ),
        1.0
    );
}

#[test]
fn fsync_latency_is_a_prometheus_histogram_per_shard() {
    let h = DurationHistogram::default();
    h.observe(Duration::from_micros(700));
    h.observe(Duration::from_millis(2));
    h.observe(Duration::from_secs(30));
    let mut s0 = shard(0);
    s0.fdatasync = h.sample();
    let text = render(&[s0], &BROKER);
    assert!(text.contains("# TYPE shoal_writer_fdatasync_seconds histogram\n"));
    let bucket = |le: &str| {
        value(
            &text,
            &format!("shoal_writer_fdatasync_seconds_bucket{{shard=\"0\",le=\"{le}\"}}"),
        )
    };
    assert_eq!(bucket("0.0005"), 0.0);
    assert_eq!(bucket("0.001"), 1.0);
    assert_eq!(bucket("0.0025"), 2.0);
    assert_eq!(bucket("10"), 2.0);
    assert_eq!(bucket("+Inf"), 3.0);
    assert_eq!(
        value(&text, "shoal_writer_fdatasync_seconds_count{shard=\"0\"}"),
        3.0
    );
    let sum = value(&text, "shoal_writer_fdatasync_seconds_sum{shard=\"0\"}");
    assert!((sum - 30.0027).abs() < 1e-9, "{sum}");
}

#[test]
fn shard_signals_carry_a_shard_label_and_zero_copy_counters_none() {
    let mut s0 = shard(0);
    s0.fetch_sendfile_bytes = 5000;
    s0.runtime.busy_seconds = 1.5;
    s0.runtime.io[2].ops = 4;
    s0.runtime.io[2].bytes = 4096;
    s0.writer_queued_syncs = 2;
    s0.cross_shard_sent = 9;
    let mut s1 = shard(1);
    s1.fetch_sendfile_bytes = 1000;
    let text = render(&[s0, s1], &BROKER);
    assert_eq!(value(&text, "shoal_fetch_sendfile_bytes_total"), 6000.0);
    assert_eq!(value(&text, "shoal_fetch_framing_bytes_total"), 0.0);
    assert_eq!(
        value(&text, "shoal_shard_busy_seconds_total{shard=\"0\"}"),
        1.5
    );
    assert_eq!(
        value(
            &text,
            "shoal_io_uring_file_ops_total{shard=\"0\",op=\"write\"}"
        ),
        4.0
    );
    assert_eq!(
        value(
            &text,
            "shoal_io_uring_file_bytes_total{shard=\"0\",op=\"write\"}"
        ),
        4096.0
    );
    assert!(!text.contains("shoal_io_uring_file_bytes_total{shard=\"0\",op=\"open\"}"));
    assert_eq!(
        value(
            &text,
            "shoal_writer_queue_depth{shard=\"0\",queue=\"sync\"}"
        ),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "shoal_shard_cross_shard_messages_sent_total{shard=\"0\"}"
        ),
        9.0
    );
    assert_eq!(
        value(
            &text,
            "shoal_shard_cross_shard_messages_received_total{shard=\"1\"}"
        ),
        0.0
    );
}

#[test]
fn families_without_series_are_left_out_and_names_are_valid() {
    let text = render(&[shard(0)], &BROKER);
    // No request was timed and no group reports: those families do not appear.
    assert!(!text.contains("kafka_network_requestmetrics_totaltimems"));
    assert!(!text.contains("kafka_consumergroup"));
    assert!(!text.contains("kafka_log_log_size"));
    for (series, _) in lines(&text) {
        let name = series.split('{').next().unwrap_or_default();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit()),
            "{name}"
        );
    }
    for family in build(&[shard(0)], &BROKER) {
        assert!(text.contains(&format!("# HELP {} ", family.name())));
    }
}

#[test]
fn consumer_group_positions_become_lag_families() {
    let mut s1 = shard(1);
    s1.group_members = vec![("g".into(), 2), ("empty".into(), 0)];
    s1.consumer_groups = vec![
        GroupOffsets {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
            current_offset: 90,
            lag: Some(10),
            lag_seconds: Some(2.5),
        },
        GroupOffsets {
            group: "g".into(),
            topic: "t".into(),
            partition: 1,
            current_offset: 5,
            lag: Some(0),
            lag_seconds: None,
        },
    ];
    let text = render(&[shard(0), s1], &BROKER);
    assert_eq!(
        value(&text, "kafka_consumergroup_members{consumergroup=\"g\"}"),
        2.0
    );
    assert_eq!(
        value(
            &text,
            "kafka_consumergroup_members{consumergroup=\"empty\"}"
        ),
        0.0
    );
    let labels = "{consumergroup=\"g\",topic=\"t\",partition=\"0\"}";
    assert_eq!(
        value(&text, &format!("kafka_consumergroup_lag{labels}")),
        10.0
    );
    assert_eq!(
        value(
            &text,
            &format!("kafka_consumergroup_current_offset{labels}")
        ),
        90.0
    );
    assert_eq!(
        value(&text, &format!("shoal_consumergroup_lag_seconds{labels}")),
        2.5
    );
    assert!(!text.contains(
        "shoal_consumergroup_lag_seconds{consumergroup=\"g\",topic=\"t\",partition=\"1\"}"
    ));
    let sum = "{consumergroup=\"g\",topic=\"t\"}";
    assert_eq!(
        value(&text, &format!("kafka_consumergroup_lag_sum{sum}")),
        10.0
    );
    assert_eq!(
        value(
            &text,
            &format!("kafka_consumergroup_current_offset_sum{sum}")
        ),
        95.0
    );
}

#[test]
fn a_directory_holding_an_offline_log_counts_as_offline() {
    // Named as configured, opened canonical: "./b" is "/data/b".
    let dirs = [
        ("/data/a".to_string(), "/data/a".to_string()),
        ("./b".to_string(), "/data/b".to_string()),
    ];
    let mut shards = vec![ShardSample::default(), ShardSample::default()];
    shards[1].offline_log_dirs = vec!["/data/b".to_string(), "/data/b".to_string()];
    let text = encode(&super::families::offline_dir_families(&dirs, &shards));
    assert_eq!(
        value(&text, "kafka_log_logmanager_offlinelogdirectorycount"),
        1.0
    );
    let offline = |dir: &str| {
        value(
            &text,
            &format!("kafka_log_logmanager_logdirectoryoffline{{logDirectory=\"{dir}\"}}"),
        )
    };
    assert_eq!((offline("/data/a"), offline("./b")), (0.0, 1.0));
}

#[test]
fn log_directory_space_is_labelled_by_directory() {
    let dirs = vec![("/var/lib/shoal".to_string(), 250, 1000)];
    let text = encode(&super::families::log_dir_families(&dirs));
    let dir = "{dir=\"/var/lib/shoal\"}";
    assert_eq!(
        value(&text, &format!("shoal_log_dir_available_bytes{dir}")),
        250.0
    );
    assert_eq!(
        value(&text, &format!("shoal_log_dir_capacity_bytes{dir}")),
        1000.0
    );
    assert!(super::families::log_dir_families(&[]).is_empty());
}
