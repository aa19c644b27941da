//! Offsets committed inside a transaction (TxnOffsetCommit): written to the group's
//! offsets partition as part of the producer's transaction (`Coordinator::commit` with
//! a producer), held apart as pending, and made the group's committed offsets by the
//! commit marker (or dropped by the abort marker) that the transaction coordinator
//! writes to that partition.

use super::coordinator::Coordinator;

impl Coordinator {
    /// The transaction of `producer_id` ended on offsets partition `partition`: its
    /// pending offsets become committed ones, or are dropped. A commit written after
    /// a pending one (a plain commit while the transaction was open) stays.
    pub fn complete_txn(&self, partition: i32, producer_id: i64, commit: bool) {
        let mut groups = self.groups.borrow_mut();
        for group in groups.values_mut().filter(|g| g.partition == partition) {
            let Some(pending) = group.pending.remove(&producer_id) else {
                continue;
            };
            if !commit {
                continue;
            }
            for (key, committed) in pending {
                let newer = group
                    .offsets
                    .get(&key)
                    .is_none_or(|c| c.record_offset < committed.record_offset);
                if newer {
                    group.offsets.insert(key, committed);
                }
            }
        }
        groups.retain(|_, g| !g.is_forgotten());
    }

    /// Whether a transaction still open holds an offset of the group on the partition
    /// (OffsetFetch with require_stable answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let key = (topic.to_string(), partition);
        self.groups
            .borrow()
            .get(group_id)
            .is_some_and(|g| g.pending.values().any(|offsets| offsets.contains_key(&key)))
    }
}
