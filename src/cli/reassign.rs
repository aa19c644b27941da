//! `shoal reassign`: Kafka's kafka-reassign-partitions.sh — proposes a spread of topics
//! over brokers (--generate), starts moves from Kafka's reassignment JSON (--execute),
//! reports whether they finished (--verify), cancels them (--cancel) and lists those in
//! progress (--list), printing what Kafka's tool prints. --throttle runs the moves under
//! replication throttles (`reassign_throttle`).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};

use super::reassign_throttle as throttle;
use super::ConnectArgs;
use crate::client::admin::{alter_reassignments, list_reassignments, Move};
use crate::client::cluster::Cluster;
use crate::cluster::rules::{self, Racked};

#[derive(Args, Debug)]
pub struct ReassignArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Propose a reassignment of --topics-to-move-json-file over --broker-list.
    #[arg(long)]
    pub generate: bool,
    /// Start the moves of --reassignment-json-file.
    #[arg(long)]
    pub execute: bool,
    /// Report whether the moves of --reassignment-json-file finished.
    #[arg(long)]
    pub verify: bool,
    /// Cancel the moves of --reassignment-json-file in progress.
    #[arg(long)]
    pub cancel: bool,
    /// List the moves in progress.
    #[arg(long)]
    pub list: bool,
    /// Kafka's JSON: {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}.
    #[arg(long, value_name = "FILE")]
    pub reassignment_json_file: Option<std::path::PathBuf>,
    /// Kafka's JSON: {"version":1,"topics":[{"topic":"t"}]}.
    #[arg(long, value_name = "FILE")]
    pub topics_to_move_json_file: Option<std::path::PathBuf>,
    /// Comma-separated broker ids to spread the topics over.
    #[arg(long, value_name = "IDS")]
    pub broker_list: Option<String>,
    /// With --execute: start the moves even though others are in progress (or change
    /// the throttle of those in progress, given again).
    #[arg(long)]
    pub additional: bool,
    /// With --execute: bytes per second the moves may copy between brokers (Kafka's
    /// replication throttles; --verify clears them once the moves are done).
    #[arg(long, value_name = "BYTES_PER_SECOND", default_value_t = -1, allow_negative_numbers = true)]
    pub throttle: i64,
    /// With --verify or --cancel: leave the throttles in place.
    #[arg(long)]
    pub preserve_throttles: bool,
    /// With --generate: spread the replicas without regard to the brokers' racks.
    #[arg(long)]
    pub disable_rack_aware: bool,
}

/// One partition of Kafka's reassignment JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Assignment {
    topic: String,
    partition: i32,
    replicas: Vec<i32>,
    #[serde(default)]
    log_dirs: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AssignmentFile {
    #[serde(default = "version_one")]
    version: i32,
    partitions: Vec<Assignment>,
}

#[derive(Debug, Deserialize)]
struct TopicsFile {
    topics: Vec<TopicName>,
}

#[derive(Debug, Deserialize)]
struct TopicName {
    topic: String,
}

fn version_one() -> i32 {
    1
}

pub fn run(args: ReassignArgs) -> Result<()> {
    let actions = [
        args.generate,
        args.execute,
        args.verify,
        args.cancel,
        args.list,
    ];
    if actions.iter().filter(|a| **a).count() != 1 {
        bail!("exactly one of --generate, --execute, --verify, --cancel or --list is required");
    }
    let mut cluster = args.connect.connect()?;
    let timeout = args.connect.timeout_ms();
    if args.list {
        return list(&mut cluster, timeout);
    }
    if args.generate {
        let (Some(topics), Some(brokers)) = (&args.topics_to_move_json_file, &args.broker_list)
        else {
            bail!("--generate needs --topics-to-move-json-file and --broker-list");
        };
        let topics: TopicsFile = serde_json::from_str(&read(topics)?)
            .context("the topics-to-move JSON file is not Kafka's format")?;
        let brokers = parse_ids(brokers)?;
        let twice = super::repeated(&brokers);
        if !twice.is_empty() {
            bail!(
                "Broker list contains duplicate entries: [{}]",
                twice.join(", ")
            );
        }
        let names: Vec<String> = topics.topics.into_iter().map(|t| t.topic).collect();
        return generate(&mut cluster, &names, &brokers, !args.disable_rack_aware);
    }
    let path = args
        .reassignment_json_file
        .as_ref()
        .context("--execute, --verify and --cancel need --reassignment-json-file")?;
    let wanted = parse_assignments(&read(path)?)?;
    if args.execute {
        execute(
            &mut cluster,
            &wanted,
            (args.additional, args.throttle),
            timeout,
        )
    } else if args.verify {
        verify(&mut cluster, &wanted, args.preserve_throttles, timeout)
    } else {
        cancel(&mut cluster, &wanted, args.preserve_throttles, timeout)
    }
}

fn read(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn parse_ids(list: &str) -> Result<Vec<i32>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .with_context(|| format!("'{s}' is not a broker id"))
        })
        .collect()
}

/// The file's moves; a partition named twice, a replica named twice, or an empty
/// replica list is refused, as Kafka's tool refuses them.
fn parse_assignments(text: &str) -> Result<Vec<Assignment>> {
    let file: AssignmentFile =
        serde_json::from_str(text).context("the reassignment JSON file is not Kafka's format")?;
    if file.partitions.is_empty() {
        bail!("Partition reassignment list cannot be empty");
    }
    let mut seen = BTreeSet::new();
    for a in &file.partitions {
        if !seen.insert((a.topic.clone(), a.partition)) {
            bail!(
                "Partition reassignment contains duplicate topic partitions: {}-{}",
                a.topic,
                a.partition
            );
        }
        if a.replicas.is_empty() {
            bail!("Partition replica list cannot be empty");
        }
        let distinct: BTreeSet<i32> = a.replicas.iter().copied().collect();
        if distinct.len() != a.replicas.len() {
            bail!(
                "Partition replica lists may not contain duplicate entries: {}-{} has {:?}",
                a.topic,
                a.partition,
                a.replicas
            );
        }
    }
    Ok(file.partitions)
}

/// Kafka's compact reassignment JSON, partitions sorted.
fn to_json(mut partitions: Vec<Assignment>) -> String {
    partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    for a in &mut partitions {
        a.log_dirs = vec!["any".to_string(); a.replicas.len()];
    }
    let file = AssignmentFile {
        version: 1,
        partitions,
    };
    serde_json::to_string(&file).unwrap_or_default()
}

/// The replicas each partition of `topics` has now.
fn current(cluster: &mut Cluster, topics: &BTreeSet<&str>) -> Result<Vec<Assignment>> {
    let mut out = Vec::new();
    for &topic in topics {
        let metadata = cluster.topic(topic, false)?;
        out.extend(metadata.partitions.iter().map(|p| Assignment {
            topic: topic.to_string(),
            partition: p.index,
            replicas: p.replicas.clone(),
            log_dirs: Vec::new(),
        }));
    }
    Ok(out)
}

fn generate(
    cluster: &mut Cluster,
    topics: &[String],
    brokers: &[i32],
    rack_aware: bool,
) -> Result<()> {
    if brokers.is_empty() {
        bail!("--broker-list names no broker");
    }
    let names: BTreeSet<&str> = topics.iter().map(String::as_str).collect();
    let now = current(cluster, &names)?;
    let metadata = cluster.metadata(Some(&[]), false)?;
    // As Kafka's tool, brokers the cluster does not list are left out.
    let known: Vec<Racked> = brokers
        .iter()
        .filter(|id| metadata.brokers.contains_key(id))
        .map(|id| (*id, metadata.racks.get(id).map(String::as_str)))
        .collect();
    let start = fastrand::usize(..known.len().max(1));
    let proposed = propose(&now, known, rack_aware, start)?;
    super::say("Current partition replica assignment")?;
    super::say(to_json(now))?;
    super::say("")?;
    super::say("Proposed partition reassignment configuration")?;
    Ok(super::say(to_json(proposed))?)
}

/// Each topic's partitions striped over `brokers` from `start`, keeping their
/// replication factor, as the controller places a new topic's (`rules::stripe`): over
/// as many racks as there are, unless `rack_aware` is off. Brokers with racks and
/// brokers without are refused together, as Kafka's tool refuses them.
fn propose(
    now: &[Assignment],
    mut brokers: Vec<Racked>,
    rack_aware: bool,
    start: usize,
) -> Result<Vec<Assignment>> {
    let rackless = brokers.iter().filter(|(_, rack)| rack.is_none()).count();
    if rack_aware && rackless != 0 && rackless != brokers.len() {
        bail!(
            "Not all brokers have rack information. Add --disable-rack-aware in command line \
             to make replica assignment without rack information."
        );
    }
    if !rack_aware {
        brokers.iter_mut().for_each(|(_, rack)| *rack = None);
    }
    brokers.sort_unstable();
    let order = rules::alternating_racks(brokers);
    now.iter()
        .map(|a| {
            let rf = a.replicas.len();
            if rf > order.len() {
                bail!(
                    "Replication factor: {rf} larger than available brokers: {}.",
                    order.len()
                );
            }
            Ok(Assignment {
                replicas: rules::stripe(&order, start + a.partition.max(0) as usize, rf),
                ..a.clone()
            })
        })
        .collect()
}

/// Starts the moves; with a throttle of 0 or more, under replication throttles.
fn execute(
    cluster: &mut Cluster,
    wanted: &[Assignment],
    (additional, rate): (bool, i64),
    timeout: i32,
) -> Result<()> {
    let ongoing = list_reassignments(cluster, timeout)?;
    if !ongoing.is_empty() && !additional {
        bail!(
            "Cannot execute because there is an existing partition assignment.  Use --additional \
             to override this and create a new partition assignment in addition to the existing one. \
             The --additional flag can also be used to change the throttle by resubmitting the \
             current reassignment."
        );
    }
    let names: BTreeSet<&str> = wanted.iter().map(|a| a.topic.as_str()).collect();
    let now = current(cluster, &names)?;
    let moved: Vec<Assignment> = now
        .iter()
        .filter(|a| {
            wanted
                .iter()
                .any(|w| w.topic == a.topic && w.partition == a.partition)
        })
        .cloned()
        .collect();
    super::say("Current partition replica assignment")?;
    super::say("")?;
    super::say(to_json(moved))?;
    super::say("")?;
    super::say("Save this to use as the --reassignment-json-file option during rollback")?;
    if rate >= 0 {
        super::say(
            "Warning: You must run --verify periodically, until the reassignment completes, \
             to ensure the throttle is removed.",
        )?;
        let now: BTreeMap<(String, i32), Vec<i32>> = now
            .into_iter()
            .map(|a| ((a.topic, a.partition), a.replicas))
            .collect();
        let asked: Vec<(String, i32, Vec<i32>)> = wanted
            .iter()
            .map(|a| (a.topic.clone(), a.partition, a.replicas.clone()))
            .collect();
        throttle::set(cluster, &throttle::moves(&ongoing, &asked, &now), rate)?;
    }
    let moves: Vec<Move> = wanted
        .iter()
        .map(|a| (a.topic.clone(), a.partition, Some(a.replicas.clone())))
        .collect();
    let outcomes = alter_reassignments(cluster, &moves, timeout)?;
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.error_code != 0)
        .map(|o| {
            let why = o.error_message.as_deref().unwrap_or_default();
            format!("{}-{}: {why}", o.topic, o.partition)
        })
        .collect();
    if !failed.is_empty() {
        bail!("Error reassigning partition(s):\n{}", failed.join("\n"));
    }
    Ok(super::say(format!(
        "Successfully started partition reassignment{} for {}",
        plural(wanted.len()),
        partition_names(wanted.iter().map(|a| (a.topic.as_str(), a.partition)))
    ))?)
}

/// "s" unless there is one.
pub(super) fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// Clears the throttles, unless asked to keep them: those of every broker, and those of
/// the topics `wanted` names.
fn clear_throttles(cluster: &mut Cluster, wanted: &[Assignment], preserve: bool) -> Result<()> {
    if preserve {
        return Ok(());
    }
    let brokers: BTreeSet<i32> = wanted
        .iter()
        .flat_map(|a| a.replicas.iter().copied())
        .collect();
    let topics: BTreeSet<&str> = wanted.iter().map(|a| a.topic.as_str()).collect();
    throttle::clear(cluster, &brokers, &topics)
}

/// Reports each move; once none is in progress in the cluster, clears the throttles.
fn verify(
    cluster: &mut Cluster,
    wanted: &[Assignment],
    preserve: bool,
    timeout: i32,
) -> Result<()> {
    let ongoing: BTreeSet<(String, i32)> = list_reassignments(cluster, timeout)?
        .into_iter()
        .map(|(topic, partition, ..)| (topic, partition))
        .collect();
    let names: BTreeSet<&str> = wanted.iter().map(|a| a.topic.as_str()).collect();
    let now: BTreeMap<(String, i32), Vec<i32>> = current(cluster, &names)?
        .into_iter()
        .map(|a| ((a.topic, a.partition), a.replicas))
        .collect();
    super::say("Status of partition reassignment:")?;
    for a in wanted {
        let key = (a.topic.clone(), a.partition);
        let name = format!("{}-{}", a.topic, a.partition);
        let line = match now.get(&key) {
            _ if ongoing.contains(&key) => {
                format!("Reassignment of partition {name} is still in progress.")
            }
            Some(replicas) if *replicas == a.replicas => {
                format!("Reassignment of partition {name} is completed.")
            }
            Some(replicas) => format!(
                "There is no active reassignment of partition {name}, but replica set is {} rather than {}.",
                ids(replicas),
                ids(&a.replicas)
            ),
            None => format!("Reassignment of partition {name} failed: no such partition."),
        };
        super::say(line)?;
    }
    // Kafka's tool then reports moves between log directories, which shoal does not
    // make: an empty report, as the tool prints for a file that asks for none.
    super::say("")?;
    if ongoing.is_empty() {
        clear_throttles(cluster, wanted, preserve)?;
    }
    Ok(())
}

fn cancel(
    cluster: &mut Cluster,
    wanted: &[Assignment],
    preserve: bool,
    timeout: i32,
) -> Result<()> {
    let moves: Vec<Move> = wanted
        .iter()
        .map(|a| (a.topic.clone(), a.partition, None))
        .collect();
    let outcomes = alter_reassignments(cluster, &moves, timeout)?;
    /// NO_REASSIGNMENT_IN_PROGRESS: nothing to cancel there.
    const NOT_MOVING: i16 = 85;
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| o.error_code != 0 && o.error_code != NOT_MOVING)
        .map(|o| {
            let why = o.error_message.as_deref().unwrap_or_default();
            format!("{}-{}: {why}", o.topic, o.partition)
        })
        .collect();
    if !failed.is_empty() {
        bail!(
            "Error cancelling partition reassignment(s):\n{}",
            failed.join("\n")
        );
    }
    let cancelled: Vec<(&str, i32)> = outcomes
        .iter()
        .filter(|o| o.error_code == 0)
        .map(|o| (o.topic.as_str(), o.partition))
        .collect();
    if cancelled.is_empty() {
        super::say("None of the specified partition reassignments are active.")?;
    } else {
        super::say(format!(
            "Successfully cancelled partition reassignment{} for: {}",
            plural(cancelled.len()),
            partition_names(cancelled.into_iter())
        ))?;
    }
    // Kafka's tool prints this without a line end, gluing the next line to it; shoal
    // ends the line.
    super::say("None of the specified partition moves are active.")?;
    clear_throttles(cluster, wanted, preserve)
}

fn list(cluster: &mut Cluster, timeout: i32) -> Result<()> {
    let mut ongoing = list_reassignments(cluster, timeout)?;
    if ongoing.is_empty() {
        return Ok(super::say("No partition reassignments found.")?);
    }
    ongoing.sort();
    super::say("Current partition reassignments:")?;
    for (topic, partition, replicas, adding, removing) in ongoing {
        super::say(format!(
            "{topic}-{partition}: replicas: {}. adding: {}. removing: {}.",
            ids(&replicas),
            ids(&adding),
            ids(&removing)
        ))?;
    }
    Ok(())
}

fn ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn partition_names<'a>(partitions: impl Iterator<Item = (&'a str, i32)>) -> String {
    let mut names: Vec<(&str, i32)> = partitions.collect();
    names.sort();
    names
        .iter()
        .map(|(t, p)| format!("{t}-{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reassignment_file_is_read_and_written_as_kafkas() {
        let text = r#"{"version":1,"partitions":[{"topic":"b","partition":0,"replicas":[2,3],"log_dirs":["any","any"]},
                       {"topic":"a","partition":1,"replicas":[1]}]}"#;
        let parsed = parse_assignments(text).unwrap();
        assert_eq!(parsed[1].replicas, [1]);
        assert_eq!(
            to_json(parsed),
            r#"{"version":1,"partitions":[{"topic":"a","partition":1,"replicas":[1],"log_dirs":["any"]},{"topic":"b","partition":0,"replicas":[2,3],"log_dirs":["any","any"]}]}"#
        );
        for (bad, why) in [
            (r#"{"partitions":[]}"#, "cannot be empty"),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}"#,
                "duplicate topic partitions: a-0",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[1,1]}]}"#,
                "duplicate entries",
            ),
            (
                r#"{"partitions":[{"topic":"a","partition":0,"replicas":[]}]}"#,
                "cannot be empty",
            ),
        ] {
            let error = parse_assignments(bad).unwrap_err().to_string();
            assert!(error.contains(why), "{error}");
        }
    }

    fn partitions(count: i32) -> Vec<Assignment> {
        (0..count)
            .map(|p| Assignment {
                topic: "t".into(),
                partition: p,
                replicas: vec![1, 2],
                log_dirs: Vec::new(),
            })
            .collect()
    }

    fn replicas(proposed: Result<Vec<Assignment>>) -> Vec<Vec<i32>> {
        proposed.unwrap().into_iter().map(|a| a.replicas).collect()
    }

    #[test]
    fn a_proposal_keeps_each_partitions_replication_factor() {
        let now = partitions(3);
        let brokers = vec![(5, None), (3, None), (4, None)];
        let proposed = replicas(propose(&now, brokers, true, 0));
        assert_eq!(proposed, [vec![3, 4], vec![4, 5], vec![5, 3]]);
        assert!(propose(&now, vec![(3, None)], true, 0)
            .unwrap_err()
            .to_string()
            .contains("larger than available brokers"));
    }

    #[test]
    fn a_proposal_puts_each_partitions_replicas_in_every_rack_unless_told_not_to() {
        let now = partitions(3);
        let racks = vec![(1, Some("a")), (2, Some("a")), (3, Some("b"))];
        for start in 0..3 {
            for r in replicas(propose(&now, racks.clone(), true, start)) {
                assert!(r.contains(&3), "{r:?} from {start} not in rack b");
            }
        }
        // Plain striping puts one partition on brokers 1 and 2, rack a only.
        let plain = replicas(propose(&now, racks, false, 0));
        assert_eq!(plain, [vec![1, 2], vec![2, 3], vec![3, 1]]);
        let some = vec![(1, Some("a")), (2, None)];
        let error = propose(&now, some.clone(), true, 0).unwrap_err();
        assert!(error
            .to_string()
            .starts_with("Not all brokers have rack information"));
        assert_eq!(replicas(propose(&now, some, false, 0)).len(), 3);
    }
}
