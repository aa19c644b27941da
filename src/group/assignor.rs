//! The server-side assignors of KIP-848 consumer groups. Pure functions of the members'
//! subscriptions, the subscribed topics and the previous target.
//!
//! - `uniform`: each topic's partitions are spread evenly over its subscribers; a
//!   member keeps the partitions it had as far as its fair share allows, so a
//!   membership change moves as few partitions as it can. Which members get a topic's
//!   remainder rotates from topic to topic, so remainders do not pile up on one member.
//! - `range`: each topic's partitions are cut into contiguous ranges, one per
//!   subscriber in member-id order (the classic range assignor's layout).

use std::collections::{BTreeMap, BTreeSet};

use super::consumer::{TopicInfo, TopicPartition};

/// member id -> the partitions it should own.
pub type Targets = BTreeMap<String, BTreeSet<TopicPartition>>;

pub fn assign(
    assignor: &str,
    subscriptions: &BTreeMap<String, BTreeSet<String>>,
    topics: &BTreeMap<String, TopicInfo>,
    previous: &Targets,
) -> Targets {
    let mut targets: Targets = subscriptions
        .keys()
        .map(|id| (id.clone(), BTreeSet::new()))
        .collect();
    for (ordinal, (name, info)) in topics.iter().enumerate() {
        let subscribers: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, topics)| topics.contains(name))
            .map(|(id, _)| id)
            .collect();
        if subscribers.is_empty() {
            continue;
        }
        let shares = if assignor == "range" {
            range(info, &subscribers)
        } else {
            uniform(info, &subscribers, ordinal, previous)
        };
        for (id, partitions) in shares {
            if let Some(target) = targets.get_mut(id) {
                target.extend(partitions.into_iter().map(|p| (info.id, p)));
            }
        }
    }
    targets
}

/// How many partitions each subscriber gets: the remainder goes to `rotate`-shifted
/// members.
fn quotas(partitions: usize, count: usize, rotate: usize) -> Vec<usize> {
    let (base, extra) = (partitions / count, partitions % count);
    (0..count)
        .map(|i| base + usize::from((i + count - rotate % count) % count < extra))
        .collect()
}

fn range<'a>(info: &TopicInfo, subscribers: &[&'a String]) -> Vec<(&'a String, Vec<i32>)> {
    let counts = quotas(info.partitions.max(0) as usize, subscribers.len(), 0);
    let mut next = 0i32;
    subscribers
        .iter()
        .zip(counts)
        .map(|(id, count)| {
            let share: Vec<i32> = (next..next + count as i32).collect();
            next += count as i32;
            (*id, share)
        })
        .collect()
}

fn uniform<'a>(
    info: &TopicInfo,
    subscribers: &[&'a String],
    rotate: usize,
    previous: &Targets,
) -> Vec<(&'a String, Vec<i32>)> {
    let quota = quotas(info.partitions.max(0) as usize, subscribers.len(), rotate);
    let mut taken = vec![false; info.partitions.max(0) as usize];
    let mut shares: Vec<(&String, Vec<i32>)> =
        subscribers.iter().map(|id| (*id, Vec::new())).collect();
    // Sticky first: keep what each member had, up to its quota.
    for ((id, share), quota) in shares.iter_mut().zip(&quota) {
        let had = previous.get(*id).into_iter().flatten();
        for &(topic, p) in had {
            let slot = usize::try_from(p).ok().filter(|&i| i < taken.len());
            if let Some(i) = slot.filter(|&i| topic == info.id && !taken[i] && share.len() < *quota)
            {
                taken[i] = true;
                share.push(p);
            }
        }
    }
    // Then the rest, in partition order, to whoever is below its quota.
    let mut free = (0..taken.len()).filter(|&i| !taken[i]);
    for ((_, share), quota) in shares.iter_mut().zip(&quota) {
        while share.len() < *quota {
            match free.next() {
                Some(i) => share.push(i as i32),
                None => break,
            }
        }
    }
    shares
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn topics(spec: &[(&str, i32)]) -> BTreeMap<String, TopicInfo> {
        spec.iter()
            .map(|(name, partitions)| {
                let id = Uuid::from_u128(
                    name.bytes().map(u128::from).sum::<u128>() * 1000 + *partitions as u128,
                );
                (
                    name.to_string(),
                    TopicInfo {
                        id,
                        partitions: *partitions,
                    },
                )
            })
            .collect()
    }

    fn subs(spec: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        spec.iter()
            .map(|(id, topics)| {
                (
                    id.to_string(),
                    topics.iter().map(|t| t.to_string()).collect(),
                )
            })
            .collect()
    }

    fn every_partition_once(targets: &Targets, topics: &BTreeMap<String, TopicInfo>) {
        let all: Vec<TopicPartition> = targets.values().flatten().copied().collect();
        let unique: BTreeSet<TopicPartition> = all.iter().copied().collect();
        assert_eq!(all.len(), unique.len(), "a partition went to two members");
        let total: i32 = topics.values().map(|t| t.partitions).sum();
        assert_eq!(unique.len() as i32, total, "a partition went to nobody");
    }

    #[test]
    fn uniform_balances_and_sticks() {
        let t = topics(&[("a", 4), ("b", 3)]);
        let two = subs(&[("m1", &["a", "b"]), ("m2", &["a", "b"])]);
        let first = assign("uniform", &two, &t, &Targets::new());
        every_partition_once(&first, &t);
        let sizes: Vec<usize> = first.values().map(BTreeSet::len).collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );

        let three = subs(&[
            ("m1", &["a", "b"]),
            ("m2", &["a", "b"]),
            ("m3", &["a", "b"]),
        ]);
        let second = assign("uniform", &three, &t, &first);
        every_partition_once(&second, &t);
        for id in ["m1", "m2"] {
            assert!(
                second[id].is_subset(&first[id]),
                "{id} lost partitions it could keep"
            );
        }
        assert_eq!(second["m3"].len(), 2);
    }

    #[test]
    fn range_cuts_contiguous_ranges() {
        let t = topics(&[("a", 5)]);
        let targets = assign(
            "range",
            &subs(&[("m1", &["a"]), ("m2", &["a"])]),
            &t,
            &Targets::new(),
        );
        let id = t["a"].id;
        assert_eq!(targets["m1"], [(id, 0), (id, 1), (id, 2)].into());
        assert_eq!(targets["m2"], [(id, 3), (id, 4)].into());
    }

    #[test]
    fn only_subscribers_get_a_topic() {
        let t = topics(&[("a", 2), ("b", 2)]);
        let targets = assign(
            "uniform",
            &subs(&[("m1", &["a"]), ("m2", &["b"])]),
            &t,
            &Targets::new(),
        );
        every_partition_once(&targets, &t);
        assert!(targets["m1"].iter().all(|(id, _)| *id == t["a"].id));
        assert!(targets["m2"].iter().all(|(id, _)| *id == t["b"].id));
    }
}
