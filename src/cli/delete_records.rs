//! `shoal delete-records`: Kafka's kafka-delete-records.sh — moves each listed
//! partition's log start offset forward, from Kafka's offset JSON file.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Deserialize;

use super::ConnectArgs;
use crate::client::admin::delete_records;
use crate::client::error::error_name;

#[derive(Args, Debug)]
pub struct DeleteRecordsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Kafka's JSON: {"partitions": [{"topic": "t", "partition": 0, "offset": 3}],
    /// "version": 1}; offset -1 deletes up to the high watermark.
    #[arg(long, value_name = "FILE")]
    pub offset_json_file: std::path::PathBuf,
}

#[derive(Debug, Deserialize)]
struct OffsetFile {
    partitions: Vec<Wanted>,
}

#[derive(Debug, Deserialize)]
struct Wanted {
    topic: String,
    partition: i32,
    offset: i64,
}

pub fn run(args: DeleteRecordsArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.offset_json_file)
        .with_context(|| format!("cannot read {}", args.offset_json_file.display()))?;
    let by_topic = parse(&text)?;
    let mut cluster = args.connect.connect()?;
    super::say("Executing records delete operation")?;
    let mut lines = Vec::new();
    for (topic, offsets) in by_topic {
        let metadata = cluster.topic(&topic, false)?;
        for (partition, error, low_watermark) in
            delete_records(&mut cluster, &metadata, &offsets, args.connect.timeout_ms())?
        {
            lines.push(match error {
                0 => format!("partition: {topic}-{partition}\tlow_watermark: {low_watermark}"),
                code => format!(
                    "partition: {topic}-{partition}\terror: {}",
                    error_name(code)
                ),
            });
        }
    }
    super::say("Records delete operation completed:")?;
    for line in lines {
        super::say(line)?;
    }
    Ok(())
}

/// The file's offsets by topic; a partition named twice is refused, as Kafka does.
fn parse(text: &str) -> Result<BTreeMap<String, Vec<(i32, i64)>>> {
    let file: OffsetFile =
        serde_json::from_str(text).context("the offset JSON file is not Kafka's format")?;
    let mut seen = BTreeSet::new();
    let duplicates: Vec<String> = file
        .partitions
        .iter()
        .filter(|w| !seen.insert((w.topic.clone(), w.partition)))
        .map(|w| format!("{}-{}", w.topic, w.partition))
        .collect();
    if !duplicates.is_empty() {
        bail!(
            "Offset json file contains duplicate topic partitions: {}",
            duplicates.join(",")
        );
    }
    let mut by_topic: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
    for w in file.partitions {
        by_topic
            .entry(w.topic)
            .or_default()
            .push((w.partition, w.offset));
    }
    Ok(by_topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_file_is_read_as_kafkas() {
        let text = r#"{"partitions": [{"topic": "b", "partition": 1, "offset": -1},
                       {"topic": "a", "partition": 0, "offset": 3}], "version": 1}"#;
        let parsed = parse(text).unwrap();
        assert_eq!(parsed["a"], [(0, 3)]);
        assert_eq!(parsed["b"], [(1, -1)]);
        let twice = r#"{"partitions": [{"topic": "a", "partition": 0, "offset": 1},
                        {"topic": "a", "partition": 0, "offset": 2}]}"#;
        assert!(parse(twice)
            .unwrap_err()
            .to_string()
            .contains("duplicate topic partitions: a-0"));
        assert!(parse("{\"partitions\": [{\"topic\": \"a\"}]}").is_err());
    }
}
