//! Per-shard counters and the Prometheus exporter (DESIGN §6).
//!
//! Counters are plain `Cell`s on each shard, bumped only by that shard; a scrape asks
//! every shard for its values (one message each) and sums them. No atomics, no locks
//! on any request path.

mod exporter;

use std::cell::Cell;

pub use exporter::serve;

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

/// One shard's counters.
#[derive(Default)]
pub struct ShardMetrics {
    /// Record bytes sent to consumers straight from segment files (sendfile).
    pub fetch_sendfile_bytes: Counter,
    /// Bytes of fetch responses written from userspace buffers: framing only.
    pub fetch_framing_bytes: Counter,
    pub produce_bytes: Counter,
    pub produce_requests: Counter,
    pub fetch_requests: Counter,
}

/// A shard's counters at one moment, sent to the scraping shard.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub fetch_sendfile_bytes: u64,
    pub fetch_framing_bytes: u64,
    pub produce_bytes: u64,
    pub produce_requests: u64,
    pub fetch_requests: u64,
}

impl ShardMetrics {
    pub fn sample(&self) -> Sample {
        Sample {
            fetch_sendfile_bytes: self.fetch_sendfile_bytes.get(),
            fetch_framing_bytes: self.fetch_framing_bytes.get(),
            produce_bytes: self.produce_bytes.get(),
            produce_requests: self.produce_requests.get(),
            fetch_requests: self.fetch_requests.get(),
        }
    }
}

impl std::ops::Add for Sample {
    type Output = Sample;

    fn add(self, other: Sample) -> Sample {
        Sample {
            fetch_sendfile_bytes: self.fetch_sendfile_bytes + other.fetch_sendfile_bytes,
            fetch_framing_bytes: self.fetch_framing_bytes + other.fetch_framing_bytes,
            produce_bytes: self.produce_bytes + other.produce_bytes,
            produce_requests: self.produce_requests + other.produce_requests,
            fetch_requests: self.fetch_requests + other.fetch_requests,
        }
    }
}
