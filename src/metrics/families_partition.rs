//! Kafka's per-partition `kafka.cluster:type=Partition` gauges, as the JMX exporter names
//! them (`kafka_cluster_partition_{underreplicated,underminisr,atminisr,replicascount,
//! insyncreplicascount}{topic,partition}`), which Strimzi's dashboards sum; and the
//! KafkaServer's `linux-disk-{read,write}-bytes`, read from `/proc/self/io`.

use prometheus::proto::{MetricFamily, MetricType};

use super::{family, gauge, single, Broker};
use crate::metrics::sample::ShardSample;

/// As Kafka's Partition beans: every partition with a replica here has a series, and
/// only its leader reports anything but 0 (a follower's view of the ISR is stale).
pub fn partition_families(samples: &[ShardSample], broker: &Broker) -> Vec<MetricFamily> {
    let mut partitions: Vec<_> = samples.iter().flat_map(|s| &s.partitions).collect();
    partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let mut columns: [Vec<_>; 5] = Default::default();
    for p in partitions {
        let number = p.partition.to_string();
        let labels = [("topic", p.topic.as_str()), ("partition", number.as_str())];
        let leads = p.leader == broker.node_id;
        let values = [
            leads && p.in_sync_replicas < p.replicas,
            leads && p.in_sync_replicas < p.min_insync_replicas,
            leads && p.in_sync_replicas == p.min_insync_replicas,
        ]
        .map(|v| f64::from(u8::from(v)));
        let counts =
            [p.replicas, p.in_sync_replicas].map(|n| if leads { f64::from(n) } else { 0.0 });
        for (column, value) in columns.iter_mut().zip(values.into_iter().chain(counts)) {
            column.push(gauge(&labels, value));
        }
    }
    let [under, under_min, at_min, replicas, isr] = columns;
    [
        ("kafka_cluster_partition_underreplicated", "1 if the partition, led here, has fewer in-sync replicas than replicas (Partition UnderReplicated)", under),
        ("kafka_cluster_partition_underminisr", "1 if the partition, led here, has fewer in-sync replicas than min.insync.replicas (Partition UnderMinIsr)", under_min),
        ("kafka_cluster_partition_atminisr", "1 if the partition, led here, has exactly min.insync.replicas in-sync replicas (Partition AtMinIsr)", at_min),
        ("kafka_cluster_partition_replicascount", "Replicas of the partition, where it is led (Partition ReplicasCount)", replicas),
        ("kafka_cluster_partition_insyncreplicascount", "In-sync replicas of the partition, where it is led (Partition InSyncReplicasCount)", isr),
    ]
    .into_iter()
    .map(|(name, help, metrics)| family(name, help, MetricType::GAUGE, metrics))
    .collect()
}

/// The bytes this process made the storage layer read and write (`/proc/self/io`'s
/// `read_bytes` and `write_bytes`, as Kafka's KafkaServer linux-disk gauges read them);
/// none where the file cannot be read.
pub fn disk_families() -> Vec<MetricFamily> {
    let Ok(io) = std::fs::read_to_string("/proc/self/io") else {
        return Vec::new();
    };
    let field = |key: &str| {
        io.lines().find_map(|line| {
            line.strip_prefix(key)?
                .strip_prefix(": ")?
                .trim()
                .parse::<u64>()
                .ok()
        })
    };
    let mut families = Vec::new();
    for (key, name, help) in [
        ("read_bytes", "kafka_server_kafkaserver_linux_disk_read_bytes", "Bytes the process caused to be read from storage (KafkaServer linux-disk-read-bytes)"),
        ("write_bytes", "kafka_server_kafkaserver_linux_disk_write_bytes", "Bytes the process caused to be written to storage (KafkaServer linux-disk-write-bytes)"),
    ] {
        if let Some(bytes) = field(key) {
            families.push(single(name, help, bytes as f64));
        }
    }
    families
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_reports_its_disk_bytes() {
        let families = disk_families();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "kafka_server_kafkaserver_linux_disk_read_bytes",
                "kafka_server_kafkaserver_linux_disk_write_bytes"
            ]
        );
    }
}
