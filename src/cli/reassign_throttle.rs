//! `shoal reassign --throttle`: the replication throttles a reassignment runs under, set
//! and cleared as Kafka's kafka-reassign-partitions.sh does. Each moving partition's
//! current replicas (the sources) are its topic's `leader.replication.throttled.replicas`,
//! the replicas it gains (the destinations) its `follower.replication.throttled.replicas`,
//! and every broker of either gets the rate as `leader.` and
//! `follower.replication.throttled.rate`. --verify, once nothing is moving any more, and
//! --cancel clear them all again (unless --preserve-throttles).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use super::reassign::plural;
use crate::client::admin::{alter_configs, ConfigResource, Ongoing};
use crate::client::cluster::Cluster;

const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";
/// The broker keys Kafka's tool clears: the two rates, and the log-dir move throttle.
const BROKER_RATES: [&str; 3] = [
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
    "replica.alter.log.dirs.io.max.bytes.per.second",
];

/// One partition's move: the replicas it copies from, and those it copies to.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Move {
    sources: BTreeSet<i32>,
    destinations: BTreeSet<i32>,
}

/// Every move by topic and partition: those in progress, then those asked for (a
/// partition already moving keeps its sources).
pub(super) type Moves = BTreeMap<String, BTreeMap<i32, Move>>;

pub(super) fn moves(
    ongoing: &[Ongoing],
    wanted: &[(String, i32, Vec<i32>)],
    current: &BTreeMap<(String, i32), Vec<i32>>,
) -> Moves {
    let mut moves = Moves::new();
    for (topic, partition, replicas, adding, _) in ongoing {
        let sources = replicas
            .iter()
            .copied()
            .filter(|r| !adding.contains(r))
            .collect();
        let destinations = adding.iter().copied().collect();
        let at = moves.entry(topic.clone()).or_default();
        at.insert(
            *partition,
            Move {
                sources,
                destinations,
            },
        );
    }
    for (topic, partition, replicas) in wanted {
        let at = moves.entry(topic.clone()).or_default();
        let sources = match at.get(partition) {
            Some(moving) => moving.sources.clone(),
            None => current
                .get(&(topic.clone(), *partition))
                .map(|r| r.iter().copied().collect())
                .unwrap_or_default(),
        };
        let destinations = replicas
            .iter()
            .copied()
            .filter(|r| !sources.contains(r))
            .collect();
        at.insert(
            *partition,
            Move {
                sources,
                destinations,
            },
        );
    }
    moves
}

/// A topic's throttled-replicas list: `partition:broker` for each replica `pick` names.
fn replicas_list(partitions: &BTreeMap<i32, Move>, pick: fn(&Move) -> &BTreeSet<i32>) -> String {
    let items: BTreeSet<(i32, i32)> = partitions
        .iter()
        .flat_map(|(p, m)| pick(m).iter().map(move |b| (*p, *b)))
        .collect();
    let items: Vec<String> = items.iter().map(|(p, b)| format!("{p}:{b}")).collect();
    items.join(",")
}

/// Sets the topics' throttled replicas and the brokers' rates for `moves`.
pub(super) fn set(cluster: &mut Cluster, moves: &Moves, rate: i64) -> Result<()> {
    for (topic, partitions) in moves {
        let lists = [
            (
                LEADER_REPLICAS.to_string(),
                replicas_list(partitions, |m| &m.sources),
            ),
            (
                FOLLOWER_REPLICAS.to_string(),
                replicas_list(partitions, |m| &m.destinations),
            ),
        ];
        alter_configs(cluster, &ConfigResource::Topic(topic.clone()), &lists, &[])?;
    }
    let brokers: BTreeSet<i32> = moves
        .values()
        .flat_map(BTreeMap::values)
        .flat_map(|m| m.sources.iter().chain(&m.destinations))
        .copied()
        .collect();
    let rates: Vec<(String, String)> = BROKER_RATES[..2]
        .iter()
        .map(|key| (key.to_string(), rate.to_string()))
        .collect();
    for broker in brokers {
        alter_configs(cluster, &ConfigResource::Broker(Some(broker)), &rates, &[])?;
    }
    super::say(format!(
        "The inter-broker throttle limit was set to {rate} B/s"
    ))?;
    Ok(())
}

/// Clears every throttle: the rates of every broker the cluster lists and the
/// throttled replicas of the reassignment's topics. A broker the reassignment names that
/// is down keeps its rates, and is named on stderr (Kafka's tool fails on it instead).
pub(super) fn clear(
    cluster: &mut Cluster,
    named: &BTreeSet<i32>,
    topics: &BTreeSet<&str>,
) -> Result<()> {
    let brokers: BTreeSet<i32> = cluster
        .metadata(Some(&[]), false)?
        .brokers
        .into_keys()
        .collect();
    for down in named.difference(&brokers) {
        eprintln!("Broker {down} is not in the cluster now: its replication throttles stay set");
    }
    let joined = |items: Vec<String>| items.join(",");
    super::say(format!(
        "Clearing broker-level throttles on broker{} {}",
        plural(brokers.len()),
        joined(brokers.iter().map(i32::to_string).collect())
    ))?;
    let rates: Vec<String> = BROKER_RATES.iter().map(|k| k.to_string()).collect();
    for broker in &brokers {
        alter_configs(cluster, &ConfigResource::Broker(Some(*broker)), &[], &rates)?;
    }
    super::say(format!(
        "Clearing topic-level throttles on topic{} {}",
        plural(topics.len()),
        joined(topics.iter().map(|t| t.to_string()).collect())
    ))?;
    let lists = [LEADER_REPLICAS.to_string(), FOLLOWER_REPLICAS.to_string()];
    for topic in topics {
        alter_configs(
            cluster,
            &ConfigResource::Topic(topic.to_string()),
            &[],
            &lists,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_leader_throttled_and_new_replicas_follower_throttled() {
        let current = BTreeMap::from([
            (("t".to_string(), 0), vec![1, 2]),
            (("t".to_string(), 1), vec![2, 3]),
        ]);
        // t-1 is already moving from 2,3 to 3,4 (4 is being added).
        let ongoing = vec![("t".to_string(), 1, vec![2, 3, 4], vec![4], vec![2])];
        let wanted = vec![
            ("t".to_string(), 0, vec![2, 3]),
            ("t".to_string(), 1, vec![3, 1]),
        ];
        let moves = moves(&ongoing, &wanted, &current);
        let t = &moves["t"];
        assert_eq!(replicas_list(t, |m| &m.sources), "0:1,0:2,1:2,1:3");
        assert_eq!(replicas_list(t, |m| &m.destinations), "0:3,1:1");
    }
}
