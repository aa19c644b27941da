//! Log directories' families: the space left in each one's file system, and Kafka's
//! LogManager offline-directory gauges.

use prometheus::proto::{MetricFamily, MetricType};

use super::{family, gauge, single};
use crate::metrics::sample::ShardSample;

/// Space in each log directory's file system, `(dir, available, capacity)` in bytes:
/// what a disk-usage alert needs without a node exporter.
pub fn log_dir_families(dirs: &[(String, u64, u64)]) -> Vec<MetricFamily> {
    let (mut available, mut capacity) = (vec![], vec![]);
    for (dir, free, size) in dirs {
        available.push(gauge(&[("dir", dir)], *free as f64));
        capacity.push(gauge(&[("dir", dir)], *size as f64));
    }
    let mut families = vec![
        family(
            "shoal_log_dir_available_bytes",
            "Bytes an unprivileged writer may still use in the log directory's file system",
            MetricType::GAUGE,
            available,
        ),
        family(
            "shoal_log_dir_capacity_bytes",
            "Size of the log directory's file system",
            MetricType::GAUGE,
            capacity,
        ),
    ];
    families.retain(|f| !f.get_metric().is_empty());
    families
}

/// Kafka's LogManager log-directory health (`OfflineLogDirectoryCount`,
/// `LogDirectoryOffline`): shoal takes a single log offline, not its directory, so a
/// directory counts as offline while it holds an offline log, and is fine again once
/// the broker restarts and recovers it. `configured` holds each of `log.dirs` as
/// configured (the label) and as opened (canonical, as the shards name it).
pub fn offline_dir_families(
    configured: &[(String, String)],
    samples: &[ShardSample],
) -> Vec<MetricFamily> {
    let offline: std::collections::BTreeSet<&str> = samples
        .iter()
        .flat_map(|s| &s.offline_log_dirs)
        .map(String::as_str)
        .collect();
    let each = configured
        .iter()
        .map(|(dir, opened)| {
            let down = offline.contains(opened.as_str());
            gauge(&[("logDirectory", dir)], f64::from(u8::from(down)))
        })
        .collect();
    vec![
        single(
            "kafka_log_logmanager_offlinelogdirectorycount",
            "Log directories holding a log that went offline (LogManager OfflineLogDirectoryCount)",
            offline.len() as f64,
        ),
        family(
            "kafka_log_logmanager_logdirectoryoffline",
            "1 while the log directory holds a log that went offline (LogManager LogDirectoryOffline)",
            MetricType::GAUGE,
            each,
        ),
    ]
}
