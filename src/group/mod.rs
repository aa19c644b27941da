//! Consumer-group coordination (DESIGN §5).
//!
//! Group g is coordinated by the shard that owns partition `partition_for(g)` of
//! `__consumer_offsets`; every request about g travels there (`invoke_on`), so a
//! group's state has exactly one owner and needs no locks. The membership protocols
//! are state machines that decide without I/O (`classic`); the per-shard
//! `Coordinator` feeds them requests and the clock, delivers the replies they owe,
//! and makes committed offsets durable in `__consumer_offsets` before answering.

pub mod assignor;
pub mod classic;
pub mod classic_messages;
pub mod consumer;
pub mod coordinator;
pub mod offsets;
pub mod records;
pub mod txn_offsets;

pub use coordinator::Coordinator;

/// The compacted internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// OffsetCommit metadata Kafka accepts by default (`offset.metadata.max.bytes`). Despite
/// the name, Kafka counts the string's UTF-16 units (Java's `String.length()`), and so
/// does shoal.
pub const OFFSET_METADATA_BYTES_MAX: usize = 4096;

/// What asks to commit offsets: Kafka's rules differ between OffsetCommit (by version)
/// and TxnOffsetCommit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitKind {
    Offsets { version: i16 },
    Transactional,
}

impl CommitKind {
    /// OffsetCommit v9 is the first a KIP-848 member may use, and the first that says
    /// GROUP_ID_NOT_FOUND for a group that does not exist.
    pub fn modern(self) -> bool {
        matches!(self, CommitKind::Offsets { version } if version >= 9)
    }
}

/// Group ids longer than this are refused: they are keys in the offsets topic.
pub const GROUP_ID_BYTES_MAX: usize = 4096;

/// The `__consumer_offsets` partition of `group`: Kafka's choice (the absolute value of
/// the Java string hash, `i32::MIN` counting as 0, modulo the partition count), so a
/// group maps to the same partition number on shoal as on Kafka.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let hash = group.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    hash.checked_abs().unwrap_or(0) % partitions.max(1)
}

/// Whether a topic is Kafka-internal (clients may not produce to it).
pub fn is_internal_topic(topic: &str) -> bool {
    topic == OFFSETS_TOPIC || topic == crate::txn::TRANSACTION_STATE_TOPIC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_match_kafkas_choice() {
        // Java: Utils.abs("my-group".hashCode()) % 50 and friends.
        assert_eq!(partition_for("my-group", 50), 12);
        assert_eq!(partition_for("", 50), 0);
        assert_eq!(partition_for("test-consumer-group", 50), 31);
        for group in ["a", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", "grüße"] {
            assert!((0..50).contains(&partition_for(group, 50)));
        }
    }
}
