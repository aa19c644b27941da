//! Replication's metric families: the active controller's view of the cluster
//! (KafkaController, ControllerStats), this broker's ISR changes and its followers' lag
//! behind their leaders (ReplicaManager, ReplicaFetcherManager, FetcherLagMetrics).

use std::collections::BTreeSet;

use prometheus::proto::{MetricFamily, MetricType};

use super::{counter, family, gauge, single, single_labelled, Broker};
use crate::metrics::sample::{ClusterSample, ShardSample};

/// The cluster as the controller on shard 0 sees it; a cluster of one is its own.
pub(super) fn cluster(samples: &[ShardSample]) -> ClusterSample {
    samples.iter().find_map(|s| s.cluster).unwrap_or_default()
}

/// Replication: the active controller's view of the cluster (KafkaController,
/// ControllerStats), this broker's ISR changes and its followers' lag behind their
/// leaders (ReplicaManager, ReplicaFetcherManager, FetcherLagMetrics).
pub(super) fn replication_families(samples: &[ShardSample], broker: &Broker) -> Vec<MetricFamily> {
    let held = || samples.iter().flat_map(|s| &s.partitions);
    let c = match samples.iter().find_map(|s| s.cluster) {
        Some(c) => c,
        // A cluster of one: its controller is always active and holds every partition.
        None => {
            let topics: BTreeSet<&str> = held().map(|p| p.topic.as_str()).collect();
            ClusterSample {
                active: true,
                topics: topics.len() as u64,
                partitions: held().count() as u64,
                active_brokers: 1,
                ..ClusterSample::default()
            }
        }
    };
    let controller = [
        (
            "kafka_controller_kafkacontroller_globaltopiccount",
            "Topics in the cluster, on the active controller (KafkaController GlobalTopicCount)",
            c.topics,
        ),
        (
            "kafka_controller_kafkacontroller_globalpartitioncount",
            "Partitions in the cluster, on the active controller (KafkaController GlobalPartitionCount)",
            c.partitions,
        ),
        (
            "kafka_controller_kafkacontroller_preferredreplicaimbalancecount",
            "Partitions not led by their first replica, on the active controller (KafkaController PreferredReplicaImbalanceCount)",
            c.preferred_imbalance,
        ),
        (
            "kafka_controller_kafkacontroller_activebrokercount",
            "Registered brokers not fenced, on the active controller (KafkaController ActiveBrokerCount)",
            c.active_brokers,
        ),
        (
            "kafka_controller_kafkacontroller_fencedbrokercount",
            "Registered brokers fenced, on the active controller (KafkaController FencedBrokerCount)",
            c.fenced_brokers,
        ),
    ];
    let total = |f: fn(&ShardSample) -> u64| samples.iter().map(f).sum::<u64>() as f64;
    let following = || held().filter(|p| p.leader != broker.node_id);
    let lags = following()
        .map(|p| {
            let client = format!("ReplicaFetcherThread-0-{}", p.leader);
            let labels = [
                ("clientid", client.as_str()),
                ("topic", p.topic.as_str()),
                ("partition", &p.partition.to_string()),
            ];
            gauge(&labels, p.fetch_lag as f64)
        })
        .collect();
    let mut families: Vec<MetricFamily> = controller
        .into_iter()
        .map(|(name, help, value)| single(name, help, value as f64))
        .collect();
    families.extend([
        family(
            "kafka_controller_controllerstats_leaderelectionrateandtimems_count",
            "Leader elections this node applied as the active controller (ControllerStats LeaderElectionRateAndTimeMs)",
            MetricType::COUNTER,
            vec![counter(&[], c.leader_elections as f64)],
        ),
        family(
            "kafka_controller_controllerstats_uncleanleaderelections_total",
            "Leaders elected from out-of-sync replicas by this node as the active controller (ControllerStats UncleanLeaderElectionsPerSec)",
            MetricType::COUNTER,
            vec![counter(&[], c.unclean_leader_elections as f64)],
        ),
        family(
            "kafka_server_replicamanager_isrshrinks_total",
            "ISR shrinks committed for partitions led here (ReplicaManager IsrShrinksPerSec)",
            MetricType::COUNTER,
            vec![counter(&[], total(|s| s.isr_shrinks))],
        ),
        family(
            "kafka_server_replicamanager_isrexpands_total",
            "ISR expansions committed for partitions led here (ReplicaManager IsrExpandsPerSec)",
            MetricType::COUNTER,
            vec![counter(&[], total(|s| s.isr_expands))],
        ),
        single_labelled(
            "kafka_server_replicafetchermanager_maxlag",
            "Records the furthest-behind follower replica here lacks (ReplicaFetcherManager MaxLag)",
            &[("clientid", "Replica")],
            following().map(|p| p.fetch_lag).max().unwrap_or(0) as f64,
        ),
        family(
            "kafka_server_fetcherlagmetrics_consumerlag",
            "Records each follower replica here lacks behind its leader's high watermark (FetcherLagMetrics ConsumerLag)",
            MetricType::GAUGE,
            lags,
        ),
    ]);
    families
}

/// What this broker sent and fetched of throttled replicas, bytes per second over the
/// replication quota windows (Kafka's `LeaderReplication` and `FollowerReplication`
/// `byte-rate`).
pub fn throttle_families(leader: f64, follower: f64) -> Vec<MetricFamily> {
    vec![
        single(
            "kafka_server_leaderreplication_byte_rate",
            "Bytes per second sent to followers of replicas leader.replication.throttled.replicas names (LeaderReplication byte-rate)",
            leader,
        ),
        single(
            "kafka_server_followerreplication_byte_rate",
            "Bytes per second fetched from leaders of replicas follower.replication.throttled.replicas names (FollowerReplication byte-rate)",
            follower,
        ),
    ]
}
