//! `shoal log-dirs`: Kafka's kafka-log-dirs.sh — each broker's log directories and the
//! size of every partition in them, as Kafka's tool prints them (two lines, then JSON).

use std::collections::BTreeSet;

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;

use super::ConnectArgs;
use crate::client::admin::{describe_log_dirs, LogDir};
use crate::client::error::error_name;

#[derive(Args, Debug)]
pub struct LogDirsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Describe the log directories (the one action, as in Kafka's tool).
    #[arg(long)]
    pub describe: bool,
    /// Comma-separated topics to show (default: all).
    #[arg(long, value_name = "TOPICS")]
    pub topic_list: Option<String>,
    /// Comma-separated broker ids to ask (default: every broker).
    #[arg(long, value_name = "IDS")]
    pub broker_list: Option<String>,
}

pub fn run(args: LogDirsArgs) -> Result<()> {
    if !args.describe {
        bail!("--describe is the only action: shoal log-dirs --describe");
    }
    let topics: Option<BTreeSet<String>> = args.topic_list.as_deref().map(|list| {
        list.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    });
    let mut cluster = args.connect.connect()?;
    let known: Vec<i32> = cluster
        .metadata(Some(&[]), false)?
        .brokers
        .into_keys()
        .collect();
    let brokers: Vec<i32> = match &args.broker_list {
        None => known,
        Some(list) => {
            let mut ids = Vec::new();
            for id in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                match id.parse::<i32>() {
                    Ok(id) if known.contains(&id) => ids.push(id),
                    _ => bail!("broker '{id}' is not in the cluster (brokers: {known:?})"),
                }
            }
            ids
        }
    };
    super::say("Querying brokers for log directories information")?;
    let mut described = Vec::new();
    for &id in &brokers {
        described.push((id, describe_log_dirs(cluster.broker(id)?)?));
    }
    let ids: Vec<String> = brokers.iter().map(i32::to_string).collect();
    super::say(format!(
        "Received log directory information from brokers {}",
        ids.join(",")
    ))?;
    Ok(super::say(report(&described, topics.as_ref()))?)
}

/// Kafka's JSON: brokers, each with its log directories and their partitions.
fn report(described: &[(i32, Vec<LogDir>)], topics: Option<&BTreeSet<String>>) -> String {
    let brokers: Vec<_> = described
        .iter()
        .map(|(id, dirs)| {
            let dirs: Vec<_> = dirs
                .iter()
                .map(|dir| {
                    let partitions: Vec<_> = dir
                        .partitions
                        .iter()
                        .filter(|(topic, ..)| topics.is_none_or(|t| t.contains(topic)))
                        .map(|(topic, partition, size, lag, future)| {
                            json!({
                                "partition": format!("{topic}-{partition}"),
                                "size": size,
                                "offsetLag": lag,
                                "isFuture": future,
                            })
                        })
                        .collect();
                    let error = (dir.error_code != 0).then(|| error_name(dir.error_code));
                    json!({"logDir": dir.path, "error": error, "partitions": partitions})
                })
                .collect();
            json!({"broker": id, "logDirs": dirs})
        })
        .collect();
    json!({"version": 1, "brokers": brokers}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_kafkas_json_filtered_by_topic() {
        let dirs = vec![LogDir {
            path: "/data".into(),
            error_code: 0,
            partitions: vec![("a".into(), 0, 10, 0, false), ("b".into(), 1, 20, 0, false)],
        }];
        let only_b: BTreeSet<String> = ["b".to_string()].into();
        let text = report(&[(1, dirs)], Some(&only_b));
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            json!({"version": 1, "brokers": [{"broker": 1, "logDirs": [{"logDir": "/data", "error": null,
                "partitions": [{"partition": "b-1", "size": 20, "offsetLag": 0, "isFuture": false}]}]}]})
        );
    }
}
