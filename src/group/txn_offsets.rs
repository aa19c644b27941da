//! Offsets committed inside a transaction (TxnOffsetCommit): written to the group's
//! offsets partition as part of the producer's transaction, held apart as pending, and
//! made the group's committed offsets by the commit marker (or dropped by the abort
//! marker) that the transaction coordinator writes to that partition.

use kafka_protocol::error::ResponseError;

use super::coordinator::Coordinator;
use super::offsets::{accept, Committer, NewOffset};
use crate::client::records::ProducerFields;
use crate::shard::{now_ms, Shard};

impl Coordinator {
    /// TxnOffsetCommit: the error per offset (in order), or `None` for stored pending.
    pub async fn txn_commit(
        &self,
        shard: &Shard,
        group_id: &str,
        partition: i32,
        committer: &Committer,
        producer: (i64, i16),
        offsets: Vec<NewOffset>,
    ) -> Vec<Option<ResponseError>> {
        let now = now_ms();
        if let Err(error) = self.check_committer(group_id, committer, now) {
            return vec![Some(error); offsets.len()];
        }
        let (results, accepted) = accept(shard, offsets, now);
        if accepted.is_empty() {
            return results;
        }
        let producer = ProducerFields {
            id: producer.0,
            epoch: producer.1,
            base_sequence: -1,
            transactional: true,
        };
        self.write_offsets(
            shard,
            group_id,
            partition,
            accepted,
            results,
            Some(producer),
        )
        .await
    }

    /// The transaction of `producer_id` ended on offsets partition `partition`: its
    /// pending offsets become committed ones, or are dropped.
    pub fn complete_txn(&self, partition: i32, producer_id: i64, commit: bool) {
        let mut groups = self.groups.borrow_mut();
        for group in groups.values_mut().filter(|g| g.partition == partition) {
            let Some(pending) = group.pending.remove(&producer_id) else {
                continue;
            };
            if commit {
                group.offsets.extend(pending);
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
