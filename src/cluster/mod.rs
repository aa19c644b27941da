//! Cluster metadata: the immutable snapshot every shard reads, and the controller that
//! changes it (owned by shard 0).
//!
//! A cluster of one persists its state in one file. With a metadata quorum of several
//! voters, topics are the quorum's replicated log (DESIGN §4) and the snapshot carries
//! its image as a `Layout`; the snapshot every shard reads is the same type.

pub mod controller;
pub mod image;
pub mod reassign;
pub mod rules;
pub mod snapshot;

pub use self::snapshot::{ClusterState, Snapshot, TopicMeta};

/// A shard (one core's executor) of this broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(pub usize);

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shard-{}", self.0)
    }
}

/// The shard that owns partition `partition` of `topic` when the broker runs
/// `shard_count` shards. A pure function of its inputs, so every shard agrees without
/// asking, and a restart with another core count simply re-spreads the partitions.
pub fn shard_for(topic: &str, partition: i32, shard_count: usize) -> ShardId {
    // FNV-1a: stable across builds and platforms, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in topic.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let spread = hash.wrapping_add(partition as u64);
    ShardId((spread % shard_count.max(1) as u64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_of_a_topic_spread_over_shards() {
        let shards: Vec<ShardId> = (0..4).map(|p| shard_for("orders", p, 2)).collect();
        assert_ne!(shards[0], shards[1]);
        assert_eq!(shards[0], shards[2]);
        assert!((0..100).all(|p| shard_for("t", p, 1) == ShardId(0)));
    }
}
