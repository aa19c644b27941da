//! The active controller's decisions about brokers and partitions, as Kafka's KRaft
//! controller makes them (`ReplicationControlManager`, `PartitionChangeBuilder`,
//! `StripedReplicaPlacer`): each reads the image and returns the records that carry it
//! out, which the quorum then commits. Pure.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::image::{MetadataImage, MetadataRecord, PartitionImage, Replica, TopicImage, NO_LEADER};
use super::shard_for;
use crate::replication::isr::{AlterAnswer, AlterIsr};

/// The leader a partition gets from `isr`: its first replica (in replica order, so the
/// preferred leader wins when it can) that is in the ISR and neither fenced nor shutting
/// down. With `unclean.leader.election.enable`, any such replica when no ISR member is
/// left.
pub fn elect(image: &MetadataImage, p: &PartitionImage, isr: &[i32], unclean: bool) -> Option<i32> {
    let live = |b: &i32| image.is_eligible(*b);
    let clean = p
        .replicas
        .iter()
        .map(|r| r.broker)
        .find(|b| isr.contains(b) && live(b));
    clean.or_else(|| {
        unclean
            .then(|| p.replicas.iter().map(|r| r.broker).find(live))
            .flatten()
    })
}

/// Whether a topic's leaders may be elected from outside the ISR: its
/// `unclean.leader.election.enable`, or the cluster's `default`.
pub fn unclean_allowed(t: &TopicImage, default: bool) -> bool {
    t.configs
        .get("unclean.leader.election.enable")
        .map_or(default, |v| v.eq_ignore_ascii_case("true"))
}

/// A broker the controller fences (its session expired, or it shut down): the fence,
/// then the changes of `leave`.
pub fn fence(image: &MetadataImage, broker: i32, unclean: bool) -> Vec<MetadataRecord> {
    let Some(registration) = image.brokers.get(&broker).filter(|b| !b.fenced) else {
        return Vec::new();
    };
    let mut records = vec![MetadataRecord::FenceBroker {
        broker,
        epoch: registration.epoch,
    }];
    records.extend(leave(image, broker, unclean));
    records
}

/// The partition changes when `broker` is fenced, or registers as a new incarnation
/// while its last one still leads (Kafka's handling of an unclean shutdown): it leaves
/// every ISR it is in, except as the last member (the ISR never empties, so the
/// partition can come back with it clean), and its leaderships pass to the next ISR
/// member, or to nobody (or, where the topic allows unclean elections, to any replica
/// that may lead). A new leader epoch then fences whatever the old incarnation still
/// believed. Only partitions that change get a record. `unclean` is the cluster's
/// default for topics that do not set it.
pub fn leave(image: &MetadataImage, broker: i32, unclean: bool) -> Vec<MetadataRecord> {
    // Decide as if the broker were fenced: nothing may be elected onto it.
    let mut after = image.clone();
    if let Some(b) = after.brokers.get_mut(&broker) {
        b.fenced = true;
    }
    let mut records = Vec::new();
    for (&topic, t) in &image.topics {
        let unclean = unclean_allowed(t, unclean);
        for (&partition, p) in &t.partitions {
            if !p.isr.contains(&broker) && p.leader != broker {
                continue;
            }
            let isr: Vec<i32> = if p.isr.len() > 1 {
                p.isr.iter().copied().filter(|&r| r != broker).collect()
            } else {
                p.isr.clone()
            };
            let leader = if p.leader == broker || p.leader == NO_LEADER {
                elect(&after, p, &isr, unclean).unwrap_or(NO_LEADER)
            } else {
                p.leader
            };
            // An unclean leader is the whole ISR: nothing else is known to hold its log.
            let isr = if leader != NO_LEADER && !isr.contains(&leader) {
                vec![leader]
            } else {
                isr
            };
            if isr == p.isr && leader == p.leader {
                continue;
            }
            records.push(MetadataRecord::PartitionChange {
                topic,
                partition,
                isr: (isr != p.isr).then_some(isr),
                leader: (leader != p.leader).then_some(leader),
                partition_epoch: Some(p.partition_epoch),
            });
        }
    }
    records
}

/// What a broker cut off from the quorum for a session takes the metadata to be: itself
/// fenced, with the leaderships a fence moves moved (`leave`), as the active controller
/// will have decided. It only ever gives leaderships up; the real image returns when it
/// is back in touch.
pub fn cut_off_view(image: &MetadataImage, broker: i32) -> MetadataImage {
    let mut view = image.clone();
    for record in leave(image, broker, false) {
        // Each change applies to the partition it was decided on.
        let _ = view.apply(image.offset, &record);
    }
    // The epochs stay: the view is this node's guess, not a decision, and a partition
    // that took a bumped epoch from it would stay ahead of the real metadata when it is
    // back in touch (fencing its own clients and followers).
    for (id, t) in view.topics.iter_mut() {
        for (index, p) in t.partitions.iter_mut() {
            if let Some(real) = image.partition(*id, *index) {
                (p.leader_epoch, p.partition_epoch) = (real.leader_epoch, real.partition_epoch);
            }
        }
    }
    if let Some(b) = view.brokers.get_mut(&broker) {
        b.fenced = true;
    }
    view
}

/// A fenced broker that heartbeats again, caught up with the metadata: it is unfenced,
/// and the partitions left without a leader that it can lead cleanly get it.
pub fn unfence(image: &MetadataImage, broker: i32) -> Vec<MetadataRecord> {
    let Some(registration) = image.brokers.get(&broker).filter(|b| b.fenced) else {
        return Vec::new();
    };
    let mut records = vec![MetadataRecord::UnfenceBroker {
        broker,
        epoch: registration.epoch,
    }];
    for (&topic, t) in &image.topics {
        for (&partition, p) in &t.partitions {
            if p.leader == NO_LEADER && p.isr.contains(&broker) {
                records.push(MetadataRecord::PartitionChange {
                    topic,
                    partition,
                    isr: None,
                    leader: Some(broker),
                    partition_epoch: Some(p.partition_epoch),
                });
            }
        }
    }
    records
}

/// AlterPartition from a leader: Kafka's checks, in Kafka's order. A stale leader or
/// partition epoch answers `Stale`; an ISR that adds a fenced broker, or names one that
/// is not a replica, or leaves the leader out, answers `Refused`; otherwise the change
/// is committed with the record returned.
pub fn alter_partition(
    image: &MetadataImage,
    broker: i32,
    topic: Uuid,
    partition: i32,
    change: &AlterIsr,
) -> (AlterAnswer, Option<MetadataRecord>) {
    let Some(p) = image.partition(topic, partition) else {
        return (AlterAnswer::Refused, None);
    };
    if p.leader != broker
        || change.leader_epoch != p.leader_epoch
        || change.partition_epoch != p.partition_epoch
    {
        return (AlterAnswer::Stale, None);
    }
    let eligible = change
        .isr
        .iter()
        .all(|r| p.replica_on(*r).is_some() && (p.isr.contains(r) || image.is_eligible(*r)));
    if !eligible || !change.isr.contains(&broker) {
        return (AlterAnswer::Refused, None);
    }
    let record = MetadataRecord::AlterIsr {
        topic,
        partition,
        isr: change.isr.clone(),
        partition_epoch: p.partition_epoch,
    };
    let answer = AlterAnswer::Committed {
        isr: change.isr.clone(),
        partition_epoch: p.partition_epoch + 1,
    };
    (answer, Some(record))
}

/// ElectLeaders' two kinds (Kafka's `ElectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// The first replica, if it is in the ISR and may lead.
    Preferred,
    /// For a partition without a leader: an ISR member, or else any replica that may
    /// lead (which then is the ISR).
    Unclean,
}

/// Why ElectLeaders elected nobody for a partition (Kafka's errors of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotElected {
    /// The partition already has the leader asked for (or, unclean, a leader).
    NotNeeded,
    PreferredLeaderNotAvailable,
    EligibleLeadersNotAvailable,
}

/// ElectLeaders for one partition, as Kafka's controller decides it: the change that
/// elects the leader, or why there is none.
pub fn elect_leader(
    image: &MetadataImage,
    topic: Uuid,
    partition: i32,
    p: &PartitionImage,
    election: Election,
) -> Result<MetadataRecord, NotElected> {
    let preferred = p.replicas.first().map(|r| r.broker);
    let (leader, isr) = match election {
        Election::Preferred if preferred == Some(p.leader) => return Err(NotElected::NotNeeded),
        Election::Preferred => {
            // As Kafka's PartitionChangeBuilder: the preferred replica if it may lead;
            // else a partition without a leader gets the next ISR member that may.
            let valid = |b: &i32| p.isr.contains(b) && image.is_eligible(*b);
            let leader = preferred
                .filter(valid)
                .or_else(|| (p.leader == NO_LEADER).then(|| elect(image, p, &p.isr, false))?)
                .ok_or(NotElected::PreferredLeaderNotAvailable)?;
            (leader, None)
        }
        Election::Unclean if p.leader != NO_LEADER => return Err(NotElected::NotNeeded),
        Election::Unclean => {
            let leader =
                elect(image, p, &p.isr, true).ok_or(NotElected::EligibleLeadersNotAvailable)?;
            // An unclean leader is the whole ISR: nothing else is known to hold its log.
            (leader, (!p.isr.contains(&leader)).then(|| vec![leader]))
        }
    };
    Ok(MetadataRecord::PartitionChange {
        topic,
        partition,
        isr,
        leader: Some(leader),
        partition_epoch: Some(p.partition_epoch),
    })
}

/// The partitions without a leader whose topic allows unclean elections and that have a
/// replica that may lead: the changes that elect one (Kafka's controller does this
/// periodically, and so when the config is turned on).
pub fn unclean_elections(image: &MetadataImage, default: bool) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for (&topic, t) in image
        .topics
        .iter()
        .filter(|(_, t)| unclean_allowed(t, default))
    {
        for (&partition, p) in &t.partitions {
            if let Ok(record) = elect_leader(image, topic, partition, p, Election::Unclean) {
                records.push(record);
            }
        }
    }
    records
}

/// The partitions whose preferred replica could lead and does not (Kafka's
/// auto.leader.rebalance): the changes that give them back to it.
pub fn rebalance(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for (&topic, t) in &image.topics {
        for (&partition, p) in &t.partitions {
            if let Ok(record) = elect_leader(image, topic, partition, p, Election::Preferred) {
                records.push(record);
            }
        }
    }
    records
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// Kafka's placer's words. Kafka counts every registered broker, fenced ones too;
    /// shoal the brokers it places on (unfenced, not shutting down).
    #[error("The target replication factor of {wanted} cannot be reached because only {available} broker(s) are registered.")]
    NotEnoughBrokers { wanted: usize, available: usize },
    #[error("replication factor must be at least 1")]
    NoReplicas,
}

/// Replicas for the partitions of a new topic over the unfenced brokers, striped as
/// Kafka's placer does: partition `p`'s replicas are `rf` consecutive brokers starting
/// at `start + p`, so leaders (the first replica) spread evenly. With `broker.rack`s,
/// the brokers are taken in an order alternating between racks, and a partition's
/// replicas go to as many racks as there are (a broker without a rack is in a rack of
/// its own kind), as evenly as the racks allow. Within a broker, the replica goes to
/// the shard `shard_for` names for its shard count, the shard a broker of one would
/// have used.
pub fn place(
    image: &MetadataImage,
    topic: &str,
    partitions: i32,
    replication_factor: usize,
    start: usize,
) -> Result<Vec<Vec<Replica>>, PlacementError> {
    if replication_factor == 0 {
        return Err(PlacementError::NoReplicas);
    }
    let live: Vec<Racked> = image
        .brokers
        .iter()
        .filter(|(_, b)| !b.fenced && !b.shutting_down)
        .map(|(&id, b)| (id, b.rack.as_deref()))
        .collect();
    if replication_factor > live.len() {
        return Err(PlacementError::NotEnoughBrokers {
            wanted: replication_factor,
            available: live.len(),
        });
    }
    let order = alternating_racks(live);
    Ok((0..partitions)
        .map(|p| {
            stripe(&order, start + p as usize, replication_factor)
                .into_iter()
                .map(|broker| {
                    let shards = image.brokers.get(&broker).map_or(1, |b| b.shards);
                    let shard = shard_for(topic, p, shards as usize).0 as u32;
                    Replica { broker, shard }
                })
                .collect()
        })
        .collect())
}

/// A broker as placement sees it: its id and rack.
pub type Racked<'a> = (i32, Option<&'a str>);

/// The brokers in turns over their racks: the first broker of each rack (racks in name
/// order), then the second of each, and so on; by id within a rack. Without racks, by id.
pub fn alternating_racks(brokers: Vec<Racked<'_>>) -> Vec<Racked<'_>> {
    let mut racks: BTreeMap<Option<&str>, Vec<Racked<'_>>> = BTreeMap::new();
    for broker in brokers {
        racks.entry(broker.1).or_default().push(broker);
    }
    let deepest = racks.values().map(Vec::len).max().unwrap_or(0);
    (0..deepest)
        .flat_map(|turn| racks.values().filter_map(move |rack| rack.get(turn)))
        .copied()
        .collect()
}

/// The replicas of the partition whose turn is `turn` (the first start, plus its
/// index): `count` brokers of `order` (`alternating_racks`), walked from the turn's
/// place in it, each next one from a rack holding the fewest of those chosen so far,
/// so that every rack has one before any has two (all of them when `count` is more).
/// The first one leads.
pub fn stripe(order: &[Racked<'_>], turn: usize, count: usize) -> Vec<i32> {
    let count = count.min(order.len());
    let first = turn.checked_rem(order.len()).unwrap_or(0);
    let mut chosen: Vec<Racked<'_>> = Vec::with_capacity(count);
    let held = |chosen: &[Racked<'_>], rack| chosen.iter().filter(|c| c.1 == rack).count();
    // Each round takes at least one broker while distinct ones are left, so `count`
    // rounds are enough; the bound keeps a list naming a broker twice from looping.
    let mut round = 0;
    while chosen.len() < count && round <= count {
        for k in 0..order.len() {
            let broker = order[(first + k) % order.len()];
            let taken = chosen.iter().any(|c| c.0 == broker.0);
            if chosen.len() < count && !taken && held(&chosen, broker.1) == round {
                chosen.push(broker);
            }
        }
        round += 1;
    }
    chosen.into_iter().map(|(broker, _)| broker).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Brokers registered and unfenced.
    pub(crate) fn image(brokers: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::default();
        let mut offset = 0;
        for &b in brokers {
            offset += 1;
            let register = MetadataRecord::RegisterBroker {
                broker: b,
                incarnation: Uuid::from_u128(b as u128),
                host: "h".into(),
                port: 9092,
                shards: 2,
                replication_ports: Vec::new(),
                quorum_port: None,
                listeners: Vec::new(),
                rack: None,
            };
            image.apply(offset, &register).unwrap();
            for r in unfence(&image, b) {
                offset += 1;
                image.apply(offset, &r).unwrap();
            }
        }
        image
    }

    /// Topic "t" (id 42) with partition 0 as given.
    pub(crate) fn with_topic(
        mut image: MetadataImage,
        replicas: &[i32],
        isr: &[i32],
        leader: i32,
    ) -> (MetadataImage, Uuid) {
        let id = Uuid::from_u128(42);
        let offset = image.offset;
        image
            .apply(
                offset + 1,
                &MetadataRecord::Topic {
                    name: "t".into(),
                    id,
                    configs: Default::default(),
                },
            )
            .unwrap();
        let replicas = replicas
            .iter()
            .map(|&broker| Replica { broker, shard: 0 })
            .collect();
        let partition = MetadataRecord::Partition {
            topic: id,
            partition: 0,
            replicas,
            isr: isr.to_vec(),
            leader,
        };
        image.apply(offset + 2, &partition).unwrap();
        (image, id)
    }

    fn apply_all(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            let offset = image.offset + 1;
            image.apply(offset, r).unwrap();
        }
    }

    #[test]
    fn a_fenced_leader_hands_over_to_the_next_isr_member() {
        let (mut image, id) = with_topic(image(&[1, 2, 3]), &[1, 2, 3], &[1, 2, 3], 1);
        let records = fence(&image, 1, false);
        apply_all(&mut image, &records);
        let p = image.partition(id, 0).unwrap();
        assert_eq!(
            (p.leader, p.isr.clone(), p.leader_epoch),
            (2, vec![2, 3], 1)
        );
        assert!(
            fence(&image, 1, false).is_empty(),
            "fencing twice changes nothing"
        );
    }

    #[test]
    fn the_last_isr_member_stays_in_it_and_the_partition_waits_for_it() {
        let (mut image, id) = with_topic(image(&[1, 2]), &[1, 2], &[1], 1);
        let records = fence(&image, 1, false);
        apply_all(&mut image, &records);
        let p = image.partition(id, 0).unwrap();
        assert_eq!(
            (p.leader, p.isr.clone()),
            (NO_LEADER, vec![1]),
            "2 is not in the ISR: no clean leader"
        );
        let records = unfence(&image, 1);
        apply_all(&mut image, &records);
        let p = image.partition(id, 0).unwrap();
        assert_eq!((p.leader, p.leader_epoch), (1, 2));
    }

    #[test]
    fn unclean_election_takes_any_live_replica_and_makes_it_the_isr() {
        let (mut image, id) = with_topic(image(&[1, 2]), &[1, 2], &[1], 1);
        let records = fence(&image, 1, true);
        apply_all(&mut image, &records);
        let p = image.partition(id, 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    }

    #[test]
    fn a_topic_that_allows_unclean_elections_gets_a_leader_from_outside_the_isr() {
        let (mut image, id) = with_topic(image(&[1, 2]), &[1, 2], &[1], 1);
        let records = fence(&image, 1, false);
        apply_all(&mut image, &records);
        assert_eq!(image.partition(id, 0).unwrap().leader, NO_LEADER);
        assert!(unclean_elections(&image, false).is_empty());
        let configs = [(
            "unclean.leader.election.enable".to_string(),
            "true".to_string(),
        )];
        let offset = image.offset + 1;
        image
            .apply(
                offset,
                &MetadataRecord::TopicConfigs {
                    topic: id,
                    configs: configs.into_iter().collect(),
                },
            )
            .unwrap();
        let records = unclean_elections(&image, false);
        apply_all(&mut image, &records);
        let p = image.partition(id, 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
    }

    #[test]
    fn a_broker_cut_off_from_the_quorum_sees_itself_fenced_and_leading_nothing() {
        let (image, id) = with_topic(image(&[1, 2, 3]), &[1, 2, 3], &[1, 2, 3], 1);
        let view = cut_off_view(&image, 1);
        let p = view.partition(id, 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2, 3]));
        let real = image.partition(id, 0).unwrap();
        assert_eq!(
            (p.leader_epoch, p.partition_epoch),
            (real.leader_epoch, real.partition_epoch),
            "a guess bumps no epoch"
        );
        assert!(view.is_fenced(1));
        assert_eq!(view.offset, image.offset);
        assert_eq!(
            image.partition(id, 0).unwrap().leader,
            1,
            "the image itself is unchanged"
        );
    }

    #[test]
    fn alter_partition_answers_as_kafka_checks() {
        let (image, id) = with_topic(image(&[1, 2, 3]), &[1, 2, 3], &[1, 2], 1);
        let change = |isr: Vec<i32>, leader_epoch, partition_epoch| AlterIsr {
            leader_epoch,
            partition_epoch,
            isr,
        };
        let (answer, record) = alter_partition(&image, 1, id, 0, &change(vec![1, 2, 3], 0, 0));
        assert_eq!(
            answer,
            AlterAnswer::Committed {
                isr: vec![1, 2, 3],
                partition_epoch: 1
            }
        );
        assert!(record.is_some());
        assert_eq!(
            alter_partition(&image, 1, id, 0, &change(vec![1], 0, 1)).0,
            AlterAnswer::Stale
        );
        assert_eq!(
            alter_partition(&image, 2, id, 0, &change(vec![1], 0, 0)).0,
            AlterAnswer::Stale
        );
        assert_eq!(
            alter_partition(&image, 1, id, 0, &change(vec![1, 4], 0, 0)).0,
            AlterAnswer::Refused
        );
        assert_eq!(
            alter_partition(&image, 1, id, 0, &change(vec![2], 0, 0)).0,
            AlterAnswer::Refused
        );
        let mut fenced = image.clone();
        let epoch = fenced.brokers[&3].epoch;
        fenced
            .apply(99, &MetadataRecord::FenceBroker { broker: 3, epoch })
            .unwrap();
        assert_eq!(
            alter_partition(&fenced, 1, id, 0, &change(vec![1, 2, 3], 0, 0)).0,
            AlterAnswer::Refused
        );
    }

    #[test]
    fn a_broker_in_controlled_shutdown_gives_up_its_places_and_gets_none_back() {
        let (mut image, id) = with_topic(image(&[1, 2, 3]), &[1, 2, 3], &[1, 3], 1);
        let epoch = image.brokers[&1].epoch;
        let offset = image.offset + 1;
        image
            .apply(
                offset,
                &MetadataRecord::ControlledShutdown { broker: 1, epoch },
            )
            .unwrap();
        assert!(!image.is_fenced(1) && !image.is_eligible(1));
        let records = leave(&image, 1, false);
        apply_all(&mut image, &records);
        let p = image.partition(id, 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (3, vec![3]));
        assert!(leave(&image, 1, false).is_empty(), "nothing left to move");
        let back = AlterIsr {
            leader_epoch: p.leader_epoch,
            partition_epoch: p.partition_epoch,
            isr: vec![3, 1],
        };
        assert_eq!(
            alter_partition(&image, 3, id, 0, &back).0,
            AlterAnswer::Refused,
            "it may not rejoin the ISR"
        );
        let placed = place(&image, "orders", 3, 2, 0).unwrap();
        assert!(placed.iter().flatten().all(|r| r.broker != 1));
    }

    #[test]
    fn a_change_decided_on_an_older_partition_epoch_does_not_apply() {
        let (mut image, id) = with_topic(image(&[1, 2, 3]), &[1, 2, 3], &[1, 2, 3], 1);
        // Broker 1 is fenced; decided now, its leadership goes to 2, the next in the ISR.
        let fence = fence(&image, 1, false);
        // Meanwhile the leader's shrink of the ISR to {1, 3} is committed first.
        let shrink = AlterIsr {
            leader_epoch: 0,
            partition_epoch: 0,
            isr: vec![1, 3],
        };
        let (_, record) = alter_partition(&image, 1, id, 0, &shrink);
        apply_all(&mut image, &[record.unwrap()]);
        let offset = image.offset + 1;
        assert!(
            image.apply_batch(offset, &fence).is_err(),
            "2 left the ISR: electing it could lose what 1 and 3 acknowledged"
        );
        let records = super::fence(&image, 1, false);
        image.apply_batch(offset, &records).unwrap();
        let p = image.partition(id, 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (3, vec![3]));
    }

    #[test]
    fn a_preferred_election_gives_the_lead_back_to_the_first_replica_only_from_the_isr() {
        let (mut image, id) = with_topic(image(&[1, 2, 3]), &[1, 2, 3], &[2, 3], 2);
        let p = image.partition(id, 0).unwrap().clone();
        assert_eq!(
            elect_leader(&image, id, 0, &p, Election::Preferred),
            Err(NotElected::PreferredLeaderNotAvailable),
            "1 is not in the ISR"
        );
        assert!(rebalance(&image).is_empty());
        let (_, grow) = alter_partition(
            &image,
            2,
            id,
            0,
            &AlterIsr {
                leader_epoch: 0,
                partition_epoch: 0,
                isr: vec![2, 3, 1],
            },
        );
        apply_all(&mut image, &[grow.unwrap()]);
        let records = rebalance(&image);
        assert_eq!(records.len(), 1);
        apply_all(&mut image, &records);
        let p = image.partition(id, 0).unwrap().clone();
        assert_eq!((p.leader, p.leader_epoch), (1, 1));
        assert_eq!(
            elect_leader(&image, id, 0, &p, Election::Preferred),
            Err(NotElected::NotNeeded)
        );
    }

    #[test]
    fn a_preferred_election_of_a_partition_without_a_leader_takes_the_next_isr_member() {
        let (leaderless, id) = with_topic(image(&[1, 2, 3]), &[1, 2, 3], &[2, 3], NO_LEADER);
        let p = leaderless.partition(id, 0).unwrap().clone();
        let record = elect_leader(&leaderless, id, 0, &p, Election::Preferred).unwrap();
        assert!(matches!(
            record,
            MetadataRecord::PartitionChange {
                leader: Some(2),
                isr: None,
                ..
            }
        ));
        // With a leader, only the preferred replica is an answer.
        let (led, id) = with_topic(image(&[1, 2, 3]), &[1, 2, 3], &[2, 3], 3);
        let p = led.partition(id, 0).unwrap().clone();
        assert_eq!(
            elect_leader(&led, id, 0, &p, Election::Preferred),
            Err(NotElected::PreferredLeaderNotAvailable)
        );
    }

    #[test]
    fn an_unclean_election_is_for_partitions_without_a_leader() {
        let (mut image, id) = with_topic(image(&[1, 2]), &[1, 2], &[1], 1);
        let p = image.partition(id, 0).unwrap().clone();
        assert_eq!(
            elect_leader(&image, id, 0, &p, Election::Unclean),
            Err(NotElected::NotNeeded)
        );
        let records = fence(&image, 1, false);
        apply_all(&mut image, &records);
        let p = image.partition(id, 0).unwrap().clone();
        assert_eq!(p.leader, NO_LEADER);
        let record = elect_leader(&image, id, 0, &p, Election::Unclean).unwrap();
        apply_all(&mut image, &[record]);
        let p = image.partition(id, 0).unwrap();
        assert_eq!((p.leader, p.isr.clone()), (2, vec![2]));
        let mut none_left = image.clone();
        apply_all(&mut none_left, &fence(&image, 2, false));
        let p = none_left.partition(id, 0).unwrap().clone();
        assert_eq!(
            elect_leader(&none_left, id, 0, &p, Election::Unclean),
            Err(NotElected::EligibleLeadersNotAvailable)
        );
    }

    #[test]
    fn placement_stripes_leaders_over_the_live_brokers() {
        let placed = place(&image(&[1, 2, 3]), "orders", 4, 3, 0).unwrap();
        let leaders: Vec<i32> = placed.iter().map(|r| r[0].broker).collect();
        assert_eq!(leaders, vec![1, 2, 3, 1]);
        assert!(placed.iter().all(|r| {
            let mut brokers: Vec<i32> = r.iter().map(|x| x.broker).collect();
            brokers.sort();
            brokers == vec![1, 2, 3]
        }));
        assert_eq!(
            place(&image(&[1, 2]), "orders", 1, 3, 0),
            Err(PlacementError::NotEnoughBrokers {
                wanted: 3,
                available: 2
            })
        );
    }

    /// Brokers registered and unfenced, each in the rack given.
    fn racked(brokers: &[(i32, &str)]) -> MetadataImage {
        let mut image = image(&brokers.iter().map(|(b, _)| *b).collect::<Vec<_>>());
        for (b, rack) in brokers {
            image.brokers.get_mut(b).unwrap().rack = Some(rack.to_string());
        }
        image
    }

    fn racks_of(image: &MetadataImage, replicas: &[Replica]) -> Vec<String> {
        let rack = |r: &Replica| image.brokers[&r.broker].rack.clone().unwrap();
        replicas.iter().map(rack).collect()
    }

    #[test]
    fn a_stripe_over_a_list_naming_a_broker_twice_ends() {
        let order = [(1, None), (1, None), (2, None)];
        assert_eq!(stripe(&order, 0, 3), [1, 2]);
        assert_eq!(stripe(&[], 5, 2), Vec::<i32>::new());
    }

    #[test]
    fn placement_puts_a_partition_s_replicas_in_as_many_racks_as_there_are() {
        let five = racked(&[(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c")]);
        for start in 0..5 {
            let placed = place(&five, "orders", 10, 3, start).unwrap();
            for replicas in &placed {
                let mut racks = racks_of(&five, replicas);
                racks.sort();
                assert_eq!(racks, ["a", "b", "c"], "{replicas:?}");
            }
            // Leaders take turns over the racks, each broker as often as the others.
            let leaders: Vec<i32> = placed.iter().map(|r| r[0].broker).collect();
            let mut led: Vec<usize> = (1..=5)
                .map(|b| leaders.iter().filter(|&&l| l == b).count())
                .collect();
            led.dedup();
            assert_eq!(led, [2], "{leaders:?}");
            // More replicas than racks: every rack one, then a second from the largest.
            for replicas in place(&five, "orders", 10, 4, start).unwrap() {
                let mut racks = racks_of(&five, &replicas);
                racks.sort();
                racks.dedup();
                assert_eq!(racks, ["a", "b", "c"], "{replicas:?}");
            }
        }
        // Two racks of unequal size: each partition has a replica on the lone broker.
        let uneven = racked(&[(1, "a"), (2, "a"), (3, "b")]);
        for replicas in place(&uneven, "orders", 6, 2, 0).unwrap() {
            assert!(replicas.iter().any(|r| r.broker == 3), "{replicas:?}");
        }
    }
}
