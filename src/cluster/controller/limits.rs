//! The limits a change must stay within: `max.broker.partitions` and the descriptors
//! left to open partitions (a broker that cannot open its partitions fails every
//! start), a topic's partition count, and hand-made replica assignments.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use super::{Controller, PARTITIONS_MAX};
use crate::cluster::image::{MetadataImage, MetadataRecord};
use crate::cluster::rules::PlacementError;
use crate::cluster::ClusterState;
use crate::error::ApiError;

impl Controller {
    /// Refuses `adding` partitions to `state` when the broker would then hold more than
    /// `max.broker.partitions`, or more than its descriptor limit (RLIMIT_NOFILE) leaves
    /// room to open: a broker that cannot open its partitions fails every start.
    pub(super) fn check_partition_budget(
        &self,
        state: &ClusterState,
        adding: i32,
    ) -> Result<(), ApiError> {
        let total =
            |s: &ClusterState| -> i64 { s.topics.values().map(|t| i64::from(t.partitions)).sum() };
        let after = total(state) + i64::from(adding);
        let limit = self.broker.borrow().max_broker_partitions;
        if after > i64::from(limit) {
            let message = format!(
                "the broker would hold {after} partitions; max.broker.partitions is {limit}"
            );
            return Err(ApiError::new(ResponseError::PolicyViolation, message));
        }
        // Partitions this change and the ones before it in the request would open.
        self.check_descriptors(after - total(&self.state.borrow()))
    }

    /// With a quorum: refuses the new replicas `records` place when a broker would then
    /// hold more than `max.broker.partitions` (Kafka checks each broker's replicas,
    /// KIP-578), or when this node lacks the descriptors to open its own. `held` counts
    /// each broker's replicas (with the request's earlier changes), and takes these.
    pub(super) fn check_replica_budget(
        &self,
        held: &mut BTreeMap<i32, i64>,
        records: &[MetadataRecord],
    ) -> Result<(), ApiError> {
        let (node, limit) = {
            let broker = self.broker.borrow();
            (broker.node_id, i64::from(broker.max_broker_partitions))
        };
        let mut after = held.clone();
        let mut here = 0;
        for record in records {
            if let MetadataRecord::Partition { replicas, .. } = record {
                for replica in replicas {
                    *after.entry(replica.broker).or_default() += 1;
                    here += i64::from(replica.broker == node);
                }
            }
        }
        let grown = |(broker, count): (&i32, &i64)| *count > held.get(broker).copied().unwrap_or(0);
        if let Some((broker, count)) = after
            .iter()
            .filter(|&e| grown(e))
            .find(|(_, c)| **c > limit)
        {
            let message = format!(
                "broker {broker} would hold {count} partitions; max.broker.partitions is {limit}"
            );
            return Err(ApiError::new(ResponseError::PolicyViolation, message));
        }
        self.check_descriptors(here)?;
        *held = after;
        Ok(())
    }

    /// Refuses to open `unopened` more partitions here when the descriptor limit
    /// (RLIMIT_NOFILE) leaves no room for them.
    fn check_descriptors(&self, unopened: i64) -> Result<(), ApiError> {
        let Some((open, limit)) = descriptors() else {
            return Ok(());
        };
        let needed = open + unopened * DESCRIPTORS_PER_PARTITION + DESCRIPTORS_KEPT;
        if needed > limit {
            let message = format!(
                "{unopened} new partitions need about {} file descriptors: {open} of the limit {limit} (RLIMIT_NOFILE) are open, and {DESCRIPTORS_KEPT} are kept for connections; raise the limit (ulimit -n, systemd's LimitNOFILE)",
                unopened * DESCRIPTORS_PER_PARTITION
            );
            return Err(ApiError::new(ResponseError::PolicyViolation, message));
        }
        Ok(())
    }
}

/// Descriptors a new partition is counted for: its active segment's, and one for the
/// segment it rolls to (sealed segments stay open, as Kafka's do).
const DESCRIPTORS_PER_PARTITION: i64 = 2;

/// Descriptors the partition budget leaves for connections, index and checkpoint
/// writes, and the metrics port.
const DESCRIPTORS_KEPT: i64 = 256;

/// How many descriptors the process has open, and its soft limit (`None` when either
/// cannot be read, or there is no limit).
fn descriptors() -> Option<(i64, i64)> {
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64;
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current?;
    Some((open, i64::try_from(limit).unwrap_or(i64::MAX)))
}

/// Kafka's checks of replica lists assigned by hand, in Kafka's order and words: each
/// list is not empty, its brokers (from the lowest id up) exist and are named once, and
/// it names `replicas` brokers.
pub(super) fn check_assignments<'a>(
    assignments: impl IntoIterator<Item = &'a [i32]>,
    replicas: usize,
    exists: impl Fn(i32) -> bool,
) -> Result<(), ApiError> {
    let invalid = |message: String| Err(invalid_assignment(message));
    for brokers in assignments {
        if brokers.is_empty() {
            return invalid(
                "The manual partition assignment includes an empty replica list.".to_string(),
            );
        }
        let mut sorted = brokers.to_vec();
        sorted.sort_unstable();
        for (i, &id) in sorted.iter().enumerate() {
            if !exists(id) {
                return invalid(format!(
                    "The manual partition assignment includes broker {id}, but no such broker is registered."
                ));
            }
            if i > 0 && sorted[i - 1] == id {
                return invalid(format!(
                    "The manual partition assignment includes the broker {id} more than once."
                ));
            }
        }
        if brokers.len() != replicas {
            return invalid(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {replicas} replica(s).",
                brokers.len()
            ));
        }
    }
    Ok(())
}

fn invalid_assignment(message: String) -> ApiError {
    ApiError::new(ResponseError::InvalidReplicaAssignment, message)
}

/// Kafka's check of the partitions a CreateTopics assigns by hand: each once, numbered
/// 0, 1, 2 …
pub(super) fn check_partition_indexes(indexes: impl Iterator<Item = i32>) -> Result<(), ApiError> {
    let invalid = |message: String| Err(invalid_assignment(message));
    let mut seen = std::collections::BTreeSet::new();
    for index in indexes {
        if !seen.insert(index) {
            return invalid(format!(
                "Found multiple manual partition assignments for partition {index}"
            ));
        }
    }
    if seen.iter().zip(0..).any(|(&index, n)| index != n) {
        return invalid("partitions should be a consecutive 0-based integer sequence".to_string());
    }
    Ok(())
}

/// Kafka's answer to a topic created again.
pub(super) fn topic_exists(name: &str) -> ApiError {
    let message = format!("Topic '{name}' already exists.");
    ApiError::new(ResponseError::TopicAlreadyExists, message)
}

/// Kafka's answer to a new topic whose replicas cannot be placed.
pub(super) fn unable_to_replicate(replication: usize, why: PlacementError) -> ApiError {
    let message = format!("Unable to replicate the partition {replication} time(s): {why}");
    ApiError::new(ResponseError::InvalidReplicationFactor, message)
}

/// Kafka's checks of a CreatePartitions of `topic` from `current` partitions to `count`,
/// with the new partitions' replica lists when assigned by hand (as many replicas as the
/// topic's partitions have, on brokers that `exists`): answers how many it adds.
pub(super) fn check_growth(
    topic: &str,
    current: i32,
    count: i32,
    replicas: usize,
    assignments: Option<&[Vec<i32>]>,
    exists: impl Fn(i32) -> bool,
) -> Result<i32, ApiError> {
    // Kafka's messages: the count a topic has, and one that is smaller.
    if count == current {
        let message = format!("Topic already has {current} partition(s).");
        return Err(ApiError::new(ResponseError::InvalidPartitions, message));
    }
    if count < current {
        let message = format!(
            "The topic {topic} currently has {current} partition(s); {count} would not be an increase."
        );
        return Err(ApiError::new(ResponseError::InvalidPartitions, message));
    }
    check_partition_count(count)?;
    let adding = count - current;
    if let Some(assignments) = assignments {
        if assignments.len() != adding as usize {
            let message = format!(
                "Attempted to add {adding} additional partition(s), but only {} assignment(s) were specified.",
                assignments.len()
            );
            return Err(invalid_assignment(message));
        }
        check_assignments(assignments.iter().map(Vec::as_slice), replicas, exists)?;
    }
    Ok(adding)
}

pub(super) fn check_partition_count(partitions: i32) -> Result<(), ApiError> {
    if partitions <= 0 {
        let message = "Number of partitions was set to an invalid non-positive value.";
        return Err(ApiError::new(ResponseError::InvalidPartitions, message));
    }
    if partitions > PARTITIONS_MAX {
        let message = format!("partition count {partitions} is outside 1..={PARTITIONS_MAX}");
        return Err(ApiError::new(ResponseError::InvalidPartitions, message));
    }
    Ok(())
}

/// The replicas each broker holds in `image`.
pub(super) fn replicas_by_broker(image: &MetadataImage) -> BTreeMap<i32, i64> {
    let mut held = BTreeMap::new();
    let partitions = image.topics.values().flat_map(|t| t.partitions.values());
    for replica in partitions.flat_map(|p| &p.replicas) {
        *held.entry(replica.broker).or_default() += 1;
    }
    held
}
