//! shoal: a Kafka-wire-compatible message broker, thread-per-core on io_uring.
//! See docs/ARCHITECTURE.md for the design every module follows.

pub mod acl;
pub mod alloc;
/// `shoal bench`: the load harness; its code lives under bench/ with the other benchmarks.
#[path = "../bench/harness/mod.rs"]
pub mod bench;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod error;
pub mod failpoint;
pub mod group;
pub mod loggers;
pub mod metrics;
pub mod partition;
pub mod pattern;
pub mod protocol;
pub mod quorum;
pub mod quota;
pub mod replication;
pub mod security;
pub mod server;
pub mod shard;
#[cfg(test)]
mod sim;
pub mod storage;
pub mod txn;
