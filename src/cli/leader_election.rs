//! `shoal leader-election`: Kafka's kafka-leader-election.sh — gives partitions back to
//! their preferred replicas, or (unclean) gives leaderless partitions a leader from
//! outside the ISR, and prints the outcome as Kafka's tool does.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::Deserialize;

use super::ConnectArgs;
use crate::client::admin::elect_leaders;
use crate::client::error::error_name;

/// ELECTION_NOT_NEEDED: the partition has the leader asked for already.
const ELECTION_NOT_NEEDED: i16 = 84;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum ElectionType {
    Preferred,
    Unclean,
}

#[derive(Args, Debug)]
pub struct LeaderElectionArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// PREFERRED: the first replica leads again if it is in the ISR; UNCLEAN: a partition
    /// without a leader gets one from outside the ISR (records may be lost).
    #[arg(long, value_enum, ignore_case = true)]
    pub election_type: ElectionType,
    /// Every partition of every topic.
    #[arg(long, conflicts_with_all = ["topic", "path_to_json_file"])]
    pub all_topic_partitions: bool,
    /// One topic's partition (with --partition).
    #[arg(long, requires = "partition", conflicts_with = "path_to_json_file")]
    pub topic: Option<String>,
    /// The partition of --topic.
    #[arg(long, requires = "topic")]
    pub partition: Option<i32>,
    /// Kafka's JSON: {"partitions": [{"topic": "t", "partition": 0}]}.
    #[arg(long, value_name = "FILE")]
    pub path_to_json_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Deserialize)]
struct PartitionsFile {
    partitions: Vec<Named>,
}

#[derive(Debug, Deserialize)]
struct Named {
    topic: String,
    partition: i32,
}

pub fn run(args: LeaderElectionArgs) -> Result<()> {
    let wanted = match (&args.topic, args.partition, &args.path_to_json_file) {
        (Some(topic), Some(partition), None) => {
            Some(BTreeMap::from([(topic.clone(), vec![partition])]))
        }
        (None, None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Some(parse(&text)?)
        }
        _ if args.all_topic_partitions => None,
        _ => bail!(
            "one of --all-topic-partitions, --topic with --partition, or --path-to-json-file is required"
        ),
    };
    let unclean = args.election_type == ElectionType::Unclean;
    let kind = if unclean { "UNCLEAN" } else { "PREFERRED" };
    let mut cluster = args.connect.connect()?;
    let outcomes = elect_leaders(
        &mut cluster,
        unclean,
        wanted.as_ref(),
        args.connect.timeout_ms(),
    )?;
    let name = |o: &crate::client::admin::PartitionOutcome| format!("{}-{}", o.topic, o.partition);
    let elected: Vec<String> = outcomes
        .iter()
        .filter(|o| o.error_code == 0)
        .map(name)
        .collect();
    let already: Vec<String> = outcomes
        .iter()
        .filter(|o| o.error_code == ELECTION_NOT_NEEDED)
        .map(name)
        .collect();
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| o.error_code != 0 && o.error_code != ELECTION_NOT_NEEDED)
        .collect();
    if !elected.is_empty() {
        super::say(format!(
            "Successfully completed leader election ({kind}) for partitions {}",
            elected.join(", ")
        ))?;
    }
    if !already.is_empty() {
        super::say(format!(
            "Valid replica already elected for partitions {}",
            already.join(", ")
        ))?;
    }
    for o in &failed {
        let message = o.error_message.as_deref().unwrap_or_default();
        super::say(format!(
            "Error completing leader election ({kind}) for partition: {}: {}: {message}",
            name(o),
            error_name(o.error_code)
        ))?;
    }
    if !failed.is_empty() {
        bail!("{} replica(s) could not be elected", failed.len());
    }
    Ok(())
}

/// The file's partitions by topic; a partition named twice is refused, as Kafka does.
fn parse(text: &str) -> Result<BTreeMap<String, Vec<i32>>> {
    let file: PartitionsFile =
        serde_json::from_str(text).context("the JSON file is not Kafka's format")?;
    let mut seen = BTreeSet::new();
    let duplicates: Vec<String> = file
        .partitions
        .iter()
        .filter(|n| !seen.insert((n.topic.clone(), n.partition)))
        .map(|n| format!("{}-{}", n.topic, n.partition))
        .collect();
    if !duplicates.is_empty() {
        bail!(
            "Replica election data contains duplicate partitions: {}",
            duplicates.join(",")
        );
    }
    let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for n in file.partitions {
        by_topic.entry(n.topic).or_default().push(n.partition);
    }
    Ok(by_topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partitions_file_is_read_as_kafkas() {
        let text = r#"{"partitions": [{"topic": "b", "partition": 1},
                       {"topic": "a", "partition": 0}, {"topic": "b", "partition": 0}]}"#;
        let parsed = parse(text).unwrap();
        assert_eq!(parsed["a"], [0]);
        assert_eq!(parsed["b"], [1, 0]);
        let twice = r#"{"partitions": [{"topic": "a", "partition": 0},
                        {"topic": "a", "partition": 0}]}"#;
        assert!(parse(twice)
            .unwrap_err()
            .to_string()
            .contains("duplicate partitions: a-0"));
        assert!(parse("{\"partitions\": [{\"topic\": \"a\"}]}").is_err());
    }
}
