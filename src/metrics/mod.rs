//! Per-shard probes and the Prometheus exporter (DESIGN §1, §6).
//!
//! Invariants:
//! - Every probe lives in one shard's `ShardMetrics` and only that shard's tasks touch
//!   it: plain `Cell`s and `RefCell`s, no atomics and no locks on any request path.
//! - A scrape (shard 0, on a low-share task queue) asks every shard for a
//!   `ShardSample` with one message each (`sample`), then builds the Prometheus
//!   families from the samples (`families`). Nothing is merged between scrapes.
//! - Counters only grow while the process runs, so Prometheus' `rate()` holds; gauges
//!   (log sizes, offsets, queue depths, connections) are read when the scrape asks.
//!
//! Names follow Kafka's JMX beans as the Prometheus JMX exporter's Kafka rules write
//! them (`kafka_server_brokertopicmetrics_bytesin_total{topic}`, ...), so dashboards
//! and alerts made for Kafka work; shoal's own signals are named `shoal_*`.

mod exporter;
mod families;
#[cfg(test)]
mod families_tests;
mod histogram;
mod requests;
mod sample;
mod topics;

use std::cell::Cell;

pub use exporter::serve;
pub use histogram::DurationHistogram;
pub use requests::{HandlerTimes, RequestMetrics, RequestTimer};
pub use sample::{
    sample, ClusterSample, GroupOffsets, PartitionSample, RuntimeSample, ShardSample,
};
pub use topics::{TopicCounters, TopicCounts};

/// A count that only its own shard bumps.
#[derive(Default)]
pub struct Counter(Cell<u64>);

impl Counter {
    pub fn add(&self, amount: u64) {
        self.0.set(self.0.get().wrapping_add(amount));
    }

    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A level (open connections, work in flight) that only its own shard moves.
#[derive(Default)]
pub struct Gauge(Cell<i64>);

impl Gauge {
    pub fn add(&self, amount: i64) {
        self.0.set(self.0.get() + amount);
    }

    pub fn get(&self) -> i64 {
        self.0.get()
    }
}

/// One shard's probes.
#[derive(Default)]
pub struct ShardMetrics {
    /// Record bytes sent to consumers straight from segment files (sendfile).
    pub fetch_sendfile_bytes: Counter,
    /// Bytes of fetch responses written from userspace buffers: framing only.
    pub fetch_framing_bytes: Counter,
    /// Record bytes copied from segment files through userspace to a TLS connection.
    pub fetch_copied_bytes: Counter,
    /// Kafka's BrokerTopicMetrics: produce counted on the partition's owning shard,
    /// fetch on the connection's shard (where the response size is known).
    pub topics: TopicCounters,
    /// Kafka's RequestMetrics for the requests this shard's connections served.
    pub requests: RequestMetrics,
    /// Requests read from this shard's connections and not answered yet.
    pub requests_in_flight: Gauge,
    pub connections: Gauge,
    pub connections_created: Counter,
    /// SASL logins that succeeded and failed on this shard's connections.
    pub authentications_succeeded: Counter,
    pub authentications_failed: Counter,
    /// Jobs this shard shipped to another shard (`invoke_on` calls and their answers),
    /// and those it ran.
    pub cross_shard_sent: Counter,
    pub cross_shard_received: Counter,
    /// Jobs from other shards running here now.
    pub cross_shard_running: Gauge,
    /// ISR changes committed for partitions this shard leads (ReplicaManager
    /// IsrShrinksPerSec and IsrExpandsPerSec).
    pub isr_shrinks: Counter,
    pub isr_expands: Counter,
    // The writer's fdatasync histogram and group-commit counts live on the shard's
    // `Writer`, which bumps them; `sample` reads them there.
    /// glommio's executor and ring statistics reset when read; the totals live here.
    pub(crate) runtime: std::cell::RefCell<RuntimeSample>,
}

impl ShardMetrics {
    /// Counts a connection as open until the returned guard drops.
    pub fn connection_opened(&self) -> OpenConnection<'_> {
        self.connections.add(1);
        self.connections_created.add(1);
        OpenConnection(&self.connections)
    }
}

/// An open connection, counted until dropped.
pub struct OpenConnection<'a>(&'a Gauge);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}
