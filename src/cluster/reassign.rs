//! Partition reassignment as Kafka's controller does it (KIP-455,
//! `PartitionReassignmentReplicas`): a partition moving to a target replica set first
//! gains the replicas it adds, which copy the leader's log and join the ISR; once every
//! target replica is in the ISR the move completes, dropping the replicas it removes
//! (and the lead, if the leader is one of them). Each step is a `Reassignment` record
//! decided here on the image, pure.

use uuid::Uuid;

use super::image::{MetadataImage, MetadataRecord, PartitionImage, Replica, NO_LEADER};
use super::rules::{elect, unclean_allowed};
use super::shard_for;

/// Why a reassignment was refused (Kafka's errors of the same names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReassignError {
    UnknownTopicOrPartition,
    /// An empty target, a broker named twice, or one that is not registered.
    InvalidReplicaAssignment(String),
    /// A cancellation with nothing in progress.
    NoReassignmentInProgress,
}

/// The replicas the partition had before its reassignment in progress (all of them
/// when none is).
pub fn original(p: &PartitionImage) -> Vec<i32> {
    brokers(p)
        .into_iter()
        .filter(|b| !p.adding.contains(b))
        .collect()
}

/// The replicas the reassignment in progress moves to (all of them when none is).
pub fn target(p: &PartitionImage) -> Vec<i32> {
    brokers(p)
        .into_iter()
        .filter(|b| !p.removing.contains(b))
        .collect()
}

fn brokers(p: &PartitionImage) -> Vec<i32> {
    p.replicas.iter().map(|r| r.broker).collect()
}

/// AlterPartitionReassignments for one partition: `to` a target, or `None` to cancel
/// the reassignment in progress. The record that starts (or, when nothing needs to
/// be copied, completes) it; `None` when the partition has those replicas already.
pub fn reassign(
    image: &MetadataImage,
    topic: Uuid,
    partition: i32,
    to: Option<&[i32]>,
) -> Result<Option<MetadataRecord>, ReassignError> {
    let name = image
        .topics
        .get(&topic)
        .map(|t| t.name.as_str())
        .ok_or(ReassignError::UnknownTopicOrPartition)?;
    let p = image
        .partition(topic, partition)
        .ok_or(ReassignError::UnknownTopicOrPartition)?;
    let in_progress = !p.adding.is_empty() || !p.removing.is_empty();
    let Some(to) = to else {
        if !in_progress {
            return Err(ReassignError::NoReassignmentInProgress);
        }
        return cancel(image, topic, partition, p).map(Some);
    };
    check_target(image, to)?;
    let from = original(p);
    if to == from.as_slice() && !in_progress {
        return Ok(None);
    }
    let adding: Vec<i32> = to.iter().copied().filter(|b| !from.contains(b)).collect();
    let removing: Vec<i32> = from.iter().copied().filter(|b| !to.contains(b)).collect();
    let merged: Vec<i32> = to.iter().chain(&removing).copied().collect();
    // Replicas that were being added by the reassignment this one replaces, and are
    // not in its target, leave the ISR with it.
    let isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|b| merged.contains(b))
        .collect();
    let mut moving = p.clone();
    moving.replicas = replicas_on(image, name, partition, p, &merged);
    moving.adding = adding;
    moving.removing = removing;
    moving.isr = if isr.is_empty() { p.isr.clone() } else { isr };
    // A move that copies nothing completes at once.
    let record = complete(image, topic, partition, &moving)
        .unwrap_or_else(|| record(topic, partition, &moving, p.partition_epoch));
    Ok(Some(record))
}

/// The record completing a reassignment whose target replicas are all in the ISR:
/// the replicas become the target, the removed ones leave the ISR, and a leader being
/// removed hands over to the first target replica in the ISR that may lead.
pub fn complete(
    image: &MetadataImage,
    topic: Uuid,
    partition: i32,
    p: &PartitionImage,
) -> Option<MetadataRecord> {
    if p.adding.is_empty() && p.removing.is_empty() {
        return None;
    }
    let to = target(p);
    if !to.iter().all(|b| p.isr.contains(b)) {
        return None;
    }
    let mut done = p.clone();
    done.replicas.retain(|r| to.contains(&r.broker));
    done.isr.retain(|b| to.contains(b));
    done.adding.clear();
    done.removing.clear();
    if !to.contains(&p.leader) {
        let isr = done.isr.clone();
        done.leader = elect(image, &done, &isr, false).unwrap_or(NO_LEADER);
    }
    Some(record(topic, partition, &done, p.partition_epoch))
}

/// Every partition whose reassignment can complete: the records that complete them.
pub fn completions(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for (&topic, t) in &image.topics {
        for (&partition, p) in &t.partitions {
            records.extend(complete(image, topic, partition, p));
        }
    }
    records
}

/// Back to the original replicas: the ones being added leave (the ISR too), and a
/// leader among them hands over. When no original replica is in the ISR, going back
/// is an unclean election, as Kafka's `PartitionReassignmentRevert` says: refused
/// unless the topic allows those, else the first original replica is the ISR.
fn cancel(
    image: &MetadataImage,
    topic: Uuid,
    partition: i32,
    p: &PartitionImage,
) -> Result<MetadataRecord, ReassignError> {
    let t = image
        .topics
        .get(&topic)
        .ok_or(ReassignError::UnknownTopicOrPartition)?;
    let from = original(p);
    let mut back = p.clone();
    back.replicas = replicas_on(image, &t.name, partition, p, &from);
    back.adding.clear();
    back.removing.clear();
    back.isr = p.isr.iter().copied().filter(|b| from.contains(b)).collect();
    if back.isr.is_empty() {
        if !unclean_allowed(t, false) {
            return Err(ReassignError::InvalidReplicaAssignment(format!(
                "cannot cancel the reassignment of {}-{partition}: no original replica is in                  the ISR, and going back would be an unclean leader election",
                t.name
            )));
        }
        // The first original replica that may lead (else the first at all).
        let first = elect(image, &back, &[], true).or(from.first().copied());
        back.isr = first.into_iter().collect();
    }
    if !from.contains(&p.leader) || !back.isr.contains(&p.leader) {
        let isr = back.isr.clone();
        back.leader = elect(image, &back, &isr, false).unwrap_or(NO_LEADER);
    }
    Ok(record(topic, partition, &back, p.partition_epoch))
}

/// Kafka's checks of a target: not empty, no broker twice, every broker registered.
pub fn check_target(image: &MetadataImage, to: &[i32]) -> Result<(), ReassignError> {
    let invalid = |why: String| Err(ReassignError::InvalidReplicaAssignment(why));
    if to.is_empty() {
        return invalid("the target replica list is empty".into());
    }
    for (i, b) in to.iter().enumerate() {
        if to[..i].contains(b) {
            return invalid(format!("the target replica list names broker {b} twice"));
        }
        if !image.brokers.contains_key(b) {
            return invalid(format!("broker {b} is not registered"));
        }
    }
    Ok(())
}

/// `brokers` as replicas: a broker that holds one keeps its shard; a new one gets the
/// shard `shard_for` picks for its core count, as at creation.
fn replicas_on(
    image: &MetadataImage,
    name: &str,
    partition: i32,
    p: &PartitionImage,
    brokers: &[i32],
) -> Vec<Replica> {
    brokers
        .iter()
        .map(|&broker| {
            p.replica_on(broker).unwrap_or_else(|| {
                let shards = image.brokers.get(&broker).map_or(1, |b| b.shards);
                Replica {
                    broker,
                    shard: shard_for(name, partition, shards as usize).0 as u32,
                }
            })
        })
        .collect()
}

fn record(topic: Uuid, partition: i32, p: &PartitionImage, at: i32) -> MetadataRecord {
    MetadataRecord::Reassignment {
        topic,
        partition,
        replicas: p.replicas.clone(),
        adding: p.adding.clone(),
        removing: p.removing.clone(),
        isr: p.isr.clone(),
        leader: p.leader,
        partition_epoch: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::rules::alter_partition;
    use crate::cluster::rules::tests::{image, with_topic};
    use crate::replication::isr::AlterIsr;

    fn cluster(
        brokers: &[i32],
        replicas: &[i32],
        isr: &[i32],
        leader: i32,
    ) -> (MetadataImage, Uuid) {
        with_topic(image(brokers), replicas, isr, leader)
    }

    fn apply(image: &mut MetadataImage, record: MetadataRecord) {
        let offset = image.offset + 1;
        image.apply(offset, &record).unwrap();
    }

    fn grow_isr(image: &mut MetadataImage, id: Uuid, isr: &[i32]) {
        let p = image.partition(id, 0).unwrap();
        let change = AlterIsr {
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: isr.to_vec(),
        };
        let (_, record) = alter_partition(image, p.leader, id, 0, &change);
        apply(image, record.unwrap());
    }

    #[test]
    fn a_move_adds_replicas_then_drops_the_old_ones_once_the_new_are_in_sync() {
        let (mut image, id) = cluster(&[1, 2, 3, 4], &[1, 2], &[1, 2], 1);
        let record = reassign(&image, id, 0, Some(&[3, 4])).unwrap().unwrap();
        apply(&mut image, record);
        let p = image.partition(id, 0).unwrap().clone();
        assert_eq!(brokers(&p), [3, 4, 1, 2]);
        assert_eq!(
            (p.adding.clone(), p.removing.clone()),
            (vec![3, 4], vec![1, 2])
        );
        assert_eq!((p.leader, p.isr.clone()), (1, vec![1, 2]));
        assert_eq!(original(&p), [1, 2]);
        assert_eq!(target(&p), [3, 4]);
        assert!(
            complete(&image, id, 0, &p).is_none(),
            "3 and 4 are not in sync yet"
        );
        grow_isr(&mut image, id, &[1, 2, 3]);
        assert!(completions(&image).is_empty());
        grow_isr(&mut image, id, &[1, 2, 3, 4]);
        let records = completions(&image);
        assert_eq!(records.len(), 1);
        apply(&mut image, records.into_iter().next().unwrap());
        let p = image.partition(id, 0).unwrap();
        assert_eq!(brokers(p), [3, 4]);
        assert!(p.adding.is_empty() && p.removing.is_empty());
        assert_eq!(
            (p.leader, p.isr.clone(), p.leader_epoch),
            (3, vec![3, 4], 1)
        );
    }

    #[test]
    fn a_move_that_copies_nothing_completes_at_once_and_the_same_replicas_change_nothing() {
        let (mut image, id) = cluster(&[1, 2, 3], &[1, 2, 3], &[1, 2, 3], 1);
        assert_eq!(reassign(&image, id, 0, Some(&[1, 2, 3])), Ok(None));
        let record = reassign(&image, id, 0, Some(&[2, 3])).unwrap().unwrap();
        apply(&mut image, record);
        let p = image.partition(id, 0).unwrap();
        assert_eq!(brokers(p), [2, 3]);
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2, 3]));
        assert!(p.adding.is_empty() && p.removing.is_empty());
    }

    #[test]
    fn a_cancelled_move_goes_back_to_the_original_replicas() {
        let (mut image, id) = cluster(&[1, 2, 3], &[1, 2], &[1, 2], 1);
        assert_eq!(
            reassign(&image, id, 0, None),
            Err(ReassignError::NoReassignmentInProgress)
        );
        let record = reassign(&image, id, 0, Some(&[3, 2])).unwrap().unwrap();
        apply(&mut image, record);
        let p = image.partition(id, 0).unwrap();
        assert_eq!((p.adding.clone(), p.removing.clone()), (vec![3], vec![1]));
        let record = reassign(&image, id, 0, None).unwrap().unwrap();
        apply(&mut image, record);
        let p = image.partition(id, 0).unwrap();
        // The original replicas in the order the move left them, as Kafka reverts.
        assert_eq!(brokers(p), [2, 1]);
        assert_eq!((p.leader, p.isr.clone()), (1, vec![1, 2]));
        assert!(p.adding.is_empty() && p.removing.is_empty());
    }

    #[test]
    fn cancelling_a_move_whose_isr_holds_only_new_replicas_is_an_unclean_election() {
        let (mut image, id) = cluster(&[1, 2, 3, 4], &[1, 2], &[1, 2], 1);
        let record = reassign(&image, id, 0, Some(&[3, 4])).unwrap().unwrap();
        apply(&mut image, record);
        // The original replicas fell out of the ISR; 3, being added, leads.
        let t = image.topics.get_mut(&id).unwrap();
        let p = t.partitions.get_mut(&0).unwrap();
        (p.isr, p.leader) = (vec![3], 3);
        assert!(matches!(
            reassign(&image, id, 0, None),
            Err(ReassignError::InvalidReplicaAssignment(why)) if why.contains("unclean")
        ));
        let t = image.topics.get_mut(&id).unwrap();
        t.configs
            .insert("unclean.leader.election.enable".into(), "true".into());
        let record = reassign(&image, id, 0, None).unwrap().unwrap();
        apply(&mut image, record);
        let p = image.partition(id, 0).unwrap();
        assert_eq!(brokers(p), [1, 2]);
        assert_eq!((p.leader, p.isr.clone()), (1, vec![1]));
    }

    #[test]
    fn targets_are_checked_as_kafka_checks_them() {
        let (image, id) = cluster(&[1, 2, 3], &[1, 2], &[1, 2], 1);
        for bad in [&[][..], &[1, 1], &[1, 9]] {
            assert!(matches!(
                reassign(&image, id, 0, Some(bad)),
                Err(ReassignError::InvalidReplicaAssignment(_))
            ));
        }
        assert_eq!(
            reassign(&image, id, 7, Some(&[1])),
            Err(ReassignError::UnknownTopicOrPartition)
        );
    }
}
