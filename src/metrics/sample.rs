//! What one shard reports to a scrape: its probes, its partitions' log gauges and
//! glommio's statistics for its executor. `sample` runs on the shard it describes
//! (the scrape reaches it with `invoke_on_all`) and returns owned, `Send` data.

use std::collections::HashSet;
use std::time::Instant;

use super::histogram::BucketSample;
use super::requests::RequestSample;
use super::topics::TopicCounts;
use super::ShardMetrics;
use crate::group::offsets::{Position, Unconsumed};
use crate::shard::Shard;

/// One shard at the moment of a scrape.
#[derive(Debug, Clone, Default)]
pub struct ShardSample {
    pub shard: usize,
    pub fetch_sendfile_bytes: u64,
    pub fetch_framing_bytes: u64,
    pub fetch_copied_bytes: u64,
    pub all_topics: TopicCounts,
    pub topics: Vec<(String, TopicCounts)>,
    pub requests: Vec<RequestSample>,
    pub requests_in_flight: i64,
    pub connections: i64,
    pub connections_created: u64,
    pub authentications_succeeded: u64,
    pub authentications_failed: u64,
    pub cross_shard_sent: u64,
    pub cross_shard_received: u64,
    pub cross_shard_running: i64,
    pub fdatasync: BucketSample,
    pub group_commits: u64,
    pub group_committed_appends: u64,
    /// Appends waiting for the writer, and acks=all appends waiting for a sync.
    pub writer_queued_appends: usize,
    pub writer_queued_syncs: usize,
    pub runtime: RuntimeSample,
    pub partitions: Vec<PartitionSample>,
    /// Partitions the snapshot gives this shard whose log it does not have open.
    pub offline_partitions: u64,
    /// The log directories holding a log of this shard that went offline.
    pub offline_log_dirs: Vec<String>,
    pub controller: bool,
    /// The metadata quorum as this node's member sees it (shard 0 only).
    pub quorum: Option<crate::quorum::member::QuorumStatus>,
    /// Brokers registered and not fenced, with a quorum of several voters (shard 0).
    pub registered_brokers: Option<usize>,
    /// The controller's view of the cluster, with a quorum of several voters (shard 0).
    pub cluster: Option<ClusterSample>,
    /// ISR changes this shard's leaders had committed: shrinks and expansions.
    pub isr_shrinks: u64,
    pub isr_expands: u64,
    /// The groups this shard coordinates and their member counts.
    pub group_members: Vec<(String, usize)>,
    pub consumer_groups: Vec<GroupOffsets>,
}

/// A partition's log, as Kafka's `kafka.log:type=Log` beans describe it, and its
/// replicas as the metadata has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSample {
    pub topic: String,
    pub partition: i32,
    pub size_bytes: u64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub in_sync_replicas: i32,
    pub min_insync_replicas: i32,
    pub replicas: i32,
    /// The leader's node id (-1: none).
    pub leader: i32,
    /// The first replica, which leads when it can.
    pub preferred_leader: i32,
    /// Follower side: how far behind the leader's high watermark it was at the last
    /// fetch answer.
    pub fetch_lag: i64,
}

/// What the active controller knows of the cluster (Kafka's KafkaController and
/// ControllerStats beans); every gauge is 0 on a node that does not lead the quorum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterSample {
    pub active: bool,
    pub topics: u64,
    pub partitions: u64,
    /// Partitions without a leader.
    pub offline_partitions: u64,
    /// Partitions not led by their first replica.
    pub preferred_imbalance: u64,
    pub fenced_brokers: u64,
    pub active_brokers: u64,
    /// Leader elections this node applied while it led the quorum, and of them the
    /// unclean ones: counters.
    pub leader_elections: u64,
    pub unclean_leader_elections: u64,
}

/// A consumer group's position on one partition, reported by the shard that
/// coordinates the group (DESIGN §5); the `kafka_consumergroup_*` families are built
/// from these.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOffsets {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub current_offset: i64,
    /// Log end offset minus the committed offset; `None` when the reporting shard does
    /// not own the partition: the scrape computes it from the partition's sample.
    pub lag: Option<i64>,
    /// How long ago the first record at or after the committed offset was written (its
    /// timestamp), 0 when the group has read everything.
    pub lag_seconds: Option<f64>,
}

impl GroupOffsets {
    /// `lag` is left to the scrape, which knows every partition's log end.
    pub fn new(position: Position, now_ms: i64) -> GroupOffsets {
        GroupOffsets {
            lag_seconds: match position.unconsumed {
                Unconsumed::Nothing => Some(0.0),
                Unconsumed::Since(at) => Some(now_ms.saturating_sub(at).max(0) as f64 / 1000.0),
                Unconsumed::Unknown => None,
            },
            group: position.group,
            topic: position.topic,
            partition: position.partition,
            current_offset: position.offset,
            lag: None,
        }
    }
}

/// The file operations glommio counts per ring, summed over the rings (labels `op`).
pub const IO_OPS: [&str; 6] = [
    "read",
    "buffered_read",
    "write",
    "buffered_write",
    "open",
    "close",
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounts {
    pub ops: u64,
    pub bytes: u64,
}

/// glommio's view of a shard's executor and io_uring rings, totalled since start.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RuntimeSample {
    /// Time running tasks or polling I/O: everything but parked or spinning idle.
    pub busy_seconds: f64,
    /// Of that, time inside tasks.
    pub task_seconds: f64,
    pub tasks_executed: u64,
    pub scheduler_runs: u64,
    /// Completed io_uring file operations, in `IO_OPS` order.
    pub io: [IoCounts; IO_OPS.len()],
}

/// Reads every probe of `shard`; runs on that shard.
pub fn sample(shard: &Shard) -> ShardSample {
    let m = &shard.metrics;
    let snapshot = shard.snapshot();
    let (all_topics, topics) = m.topics.sample(|topic| snapshot.topic(topic).is_some());
    let local = shard.local_partitions();
    let partitions: Vec<PartitionSample> = local
        .iter()
        .map(|p| {
            let offsets = p.offsets();
            let replicas = snapshot.replicas_of(&p.topic, p.index);
            let replicas = replicas.as_ref();
            PartitionSample {
                topic: p.topic.clone(),
                partition: p.index,
                size_bytes: p.size_bytes(),
                log_start_offset: offsets.log_start,
                log_end_offset: offsets.log_end,
                in_sync_replicas: replicas.map_or(1, |r| r.isr.len() as i32),
                min_insync_replicas: p.min_insync_replicas(),
                replicas: replicas.map_or(1, |r| r.replicas.len() as i32),
                leader: replicas.map_or(-1, |r| r.leader),
                preferred_leader: replicas
                    .and_then(|r| r.replicas.first().copied())
                    .unwrap_or(-1),
                fetch_lag: p.fetch_lag(),
            }
        })
        .collect();
    // A partition whose log went offline (a failed fdatasync) is offline too.
    let open: HashSet<(&str, i32)> = local
        .iter()
        .filter(|p| !p.is_offline())
        .map(|p| (p.topic.as_str(), p.index))
        .collect();
    let offline = snapshot
        .topics()
        .flat_map(|(topic, meta)| (0..meta.partitions).map(move |p| (topic.as_str(), p)))
        .filter(|(topic, p)| snapshot.shard_for(topic, *p) == shard.id)
        .filter(|key| !open.contains(key))
        .count();
    let offline_log_dirs: Vec<String> = local
        .iter()
        .filter(|p| p.is_offline())
        .filter_map(|p| p.log_dir().map(|d| d.display().to_string()))
        .collect();
    let (writer_queued_appends, writer_queued_syncs) = shard.writer.queued();
    ShardSample {
        shard: shard.id.0,
        fetch_sendfile_bytes: m.fetch_sendfile_bytes.get(),
        fetch_framing_bytes: m.fetch_framing_bytes.get(),
        fetch_copied_bytes: m.fetch_copied_bytes.get(),
        all_topics,
        topics,
        requests: m.requests.sample(Instant::now()),
        requests_in_flight: m.requests_in_flight.get(),
        connections: m.connections.get(),
        connections_created: m.connections_created.get(),
        authentications_succeeded: m.authentications_succeeded.get(),
        authentications_failed: m.authentications_failed.get(),
        cross_shard_sent: m.cross_shard_sent.get(),
        cross_shard_received: m.cross_shard_received.get(),
        cross_shard_running: m.cross_shard_running.get(),
        fdatasync: shard.writer.fdatasync.sample(),
        group_commits: shard.writer.group_commits.get(),
        group_committed_appends: shard.writer.group_committed_appends.get(),
        writer_queued_appends,
        writer_queued_syncs,
        runtime: runtime(m),
        partitions,
        offline_partitions: offline as u64,
        offline_log_dirs,
        controller: shard.has_controller(),
        quorum: shard
            .has_controller()
            .then(|| shard.controller().quorum_status()),
        registered_brokers: shard
            .has_controller()
            .then(|| {
                shard
                    .controller()
                    .registered_brokers(false)
                    .map(|r| r.brokers.len())
            })
            .flatten(),
        cluster: shard
            .has_controller()
            .then(|| shard.controller().cluster_sample())
            .flatten(),
        isr_shrinks: m.isr_shrinks.get(),
        isr_expands: m.isr_expands.get(),
        group_members: shard
            .groups
            .list()
            .into_iter()
            .map(|g| (g.group_id, g.members))
            .collect(),
        // Filled by the scrape from `group::offsets::positions_with_age` (it reads logs).
        consumer_groups: Vec::new(),
    }
}

/// glommio hands out its executor and ring statistics as deltas (reading resets
/// them); this shard adds each delta to its totals, so counters never go back.
fn runtime(metrics: &ShardMetrics) -> RuntimeSample {
    let executor = glommio::executor();
    let stats = executor.executor_stats();
    let io = executor.io_stats().all_rings();
    let mut totals = metrics.runtime.borrow_mut();
    totals.busy_seconds += stats.total_runtime().as_secs_f64();
    totals.task_seconds += stats.executor_runtime().as_secs_f64();
    totals.tasks_executed += stats.tasks_executed();
    totals.scheduler_runs += stats.scheduler_runs();
    let deltas = [
        io.file_reads(),
        io.file_buffered_reads(),
        io.file_writes(),
        io.file_buffered_writes(),
        (io.files_opened(), 0),
        (io.files_closed(), 0),
    ];
    for (total, (ops, bytes)) in totals.io.iter_mut().zip(deltas) {
        total.ops += ops;
        total.bytes += bytes;
    }
    *totals
}
