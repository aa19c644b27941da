//! `shoal get-offsets`: Kafka's kafka-get-offsets.sh — the offset a time resolves to in
//! each matching partition, printed as `topic:partition:offset`.

use anyhow::{bail, Context, Result};
use clap::Args;
use regex::Regex;

use super::ConnectArgs;
use crate::client::cluster::{Cluster, TopicMetadata};
use crate::client::fetch::offsets_at;

/// ListOffsets' special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

#[derive(Args, Debug)]
pub struct GetOffsetsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Comma-separated `topicRegex:partition` patterns: a partition is a number, a range
    /// `N-M` (M excluded), `N-` or `-M`; without `:partition`, every partition (e.g.
    /// `orders:0,logs.*:1-3,audit`). A missing regex matches every topic.
    #[arg(long, value_name = "PATTERNS", conflicts_with_all = ["topic", "partitions"])]
    pub topic_partitions: Option<String>,
    /// The topics: a regular expression matched against whole names (default: all).
    #[arg(long, value_name = "REGEX")]
    pub topic: Option<String>,
    /// Comma-separated partition ids (default: every partition).
    #[arg(long, value_name = "IDS")]
    pub partitions: Option<String>,
    /// latest (-1, the default), earliest (-2), max-timestamp (-3: the offset of the
    /// record with the largest timestamp), or a time in ms since the epoch (the first
    /// offset whose timestamp is at or after it).
    #[arg(
        long,
        value_name = "TIME",
        default_value = "-1",
        allow_hyphen_values = true
    )]
    pub time: String,
    /// Leave out internal topics (__consumer_offsets, __transaction_state).
    #[arg(long)]
    pub exclude_internal_topics: bool,
}

/// Which partitions of the topics a pattern matches.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Partitions {
    All,
    /// `from..until`, `until` excluded.
    Range(i32, i32),
    List(Vec<i32>),
}

impl Partitions {
    fn contains(&self, partition: i32) -> bool {
        match self {
            Partitions::All => true,
            Partitions::Range(from, until) => (*from..*until).contains(&partition),
            Partitions::List(ids) => ids.contains(&partition),
        }
    }
}

#[derive(Debug)]
struct Pattern {
    topic: Regex,
    partitions: Partitions,
}

pub fn run(args: GetOffsetsArgs) -> Result<()> {
    let time = parse_time(&args.time)?;
    let patterns = patterns(&args)?;
    let mut cluster = args.connect.connect()?;
    for line in offsets(&mut cluster, &patterns, time, args.exclude_internal_topics)? {
        super::say(line)?;
    }
    Ok(())
}

fn offsets(
    cluster: &mut Cluster,
    patterns: &[Pattern],
    time: i64,
    exclude_internal: bool,
) -> Result<Vec<String>> {
    let topics: Vec<TopicMetadata> = cluster
        .metadata(None, false)?
        .topics
        .into_values()
        .filter(|t| !(exclude_internal && t.internal))
        .collect();
    let mut lines = Vec::new();
    for topic in &topics {
        let partitions: Vec<i32> = topic
            .partitions
            .iter()
            .map(|p| p.index)
            .filter(|&p| {
                patterns.iter().any(|pattern| {
                    pattern.topic.is_match(&topic.name) && pattern.partitions.contains(p)
                })
            })
            .collect();
        if partitions.is_empty() {
            continue;
        }
        for (partition, offset) in offsets_at(cluster, topic, &partitions, time)? {
            // As Kafka's tool: a time no record reaches has no offset to print.
            if offset >= 0 {
                lines.push(format!("{}:{partition}:{offset}", topic.name));
            }
        }
    }
    Ok(lines)
}

fn parse_time(time: &str) -> Result<i64> {
    match time.trim() {
        "latest" => Ok(LATEST),
        "earliest" => Ok(EARLIEST),
        "max-timestamp" => Ok(MAX_TIMESTAMP),
        other => match other.parse::<i64>() {
            Ok(t) if t >= 0 || [LATEST, EARLIEST, MAX_TIMESTAMP].contains(&t) => Ok(t),
            _ => bail!(
                "--time must be latest (-1), earliest (-2), max-timestamp (-3) or a time in ms, not '{time}'"
            ),
        },
    }
}

fn patterns(args: &GetOffsetsArgs) -> Result<Vec<Pattern>> {
    if let Some(list) = &args.topic_partitions {
        return list
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(pattern)
            .collect();
    }
    let partitions = match &args.partitions {
        None => Partitions::All,
        Some(ids) => Partitions::List(
            ids.split(',')
                .map(|id| {
                    id.trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|id| *id >= 0)
                        .with_context(|| format!("--partitions takes partition ids, not '{id}'"))
                })
                .collect::<Result<_>>()?,
        ),
    };
    Ok(vec![Pattern {
        topic: whole(args.topic.as_deref().unwrap_or(""))?,
        partitions,
    }])
}

/// One `topicRegex[:partition]` item of --topic-partitions.
fn pattern(item: &str) -> Result<Pattern> {
    let bad =
        || format!("'{item}' is not topicRegex[:partition], partition being N, N-M, N- or -M");
    let (topic, partitions) = match item.rsplit_once(':') {
        None => (item, Partitions::All),
        Some((topic, spec)) => {
            let bound = |s: &str, missing: i32| -> Result<i32> {
                if s.is_empty() {
                    return Ok(missing);
                }
                s.parse::<i32>().ok().filter(|n| *n >= 0).with_context(bad)
            };
            let partitions = match spec.split_once('-') {
                Some((from, until)) if !(from.is_empty() && until.is_empty()) => {
                    Partitions::Range(bound(from, 0)?, bound(until, i32::MAX)?)
                }
                Some(_) => bail!(bad()),
                None => {
                    let p = bound(spec, -1)?;
                    if p < 0 {
                        bail!(bad());
                    }
                    Partitions::List(vec![p])
                }
            };
            (topic, partitions)
        }
    };
    Ok(Pattern {
        topic: whole(topic)?,
        partitions,
    })
}

/// A regular expression matched against whole topic names; empty matches every topic.
fn whole(regex: &str) -> Result<Regex> {
    let regex = if regex.is_empty() { ".*" } else { regex };
    crate::pattern::whole_names(regex)
        .with_context(|| format!("'{regex}' is not a regular expression"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_partition_patterns_read_as_kafkas() {
        let p = pattern("orders:0").unwrap();
        assert!(p.topic.is_match("orders") && !p.topic.is_match("orders2"));
        assert_eq!(p.partitions, Partitions::List(vec![0]));
        assert_eq!(
            pattern("logs.*:1-3").unwrap().partitions,
            Partitions::Range(1, 3)
        );
        assert_eq!(
            pattern("t:5-").unwrap().partitions,
            Partitions::Range(5, i32::MAX)
        );
        assert_eq!(pattern("t:-3").unwrap().partitions, Partitions::Range(0, 3));
        assert_eq!(pattern("audit").unwrap().partitions, Partitions::All);
        assert!(pattern(":2").unwrap().topic.is_match("anything"));
        for bad in ["t:x", "t:-", "t:1-2-3", "t:-1-", "(:0"] {
            assert!(pattern(bad).is_err(), "{bad}");
        }
        let range = Partitions::Range(1, 3);
        assert!(!range.contains(0) && range.contains(1) && range.contains(2) && !range.contains(3));
    }

    #[test]
    fn times_are_names_special_values_or_milliseconds() {
        assert_eq!(parse_time("latest").unwrap(), -1);
        assert_eq!(parse_time("-2").unwrap(), -2);
        assert_eq!(parse_time("max-timestamp").unwrap(), -3);
        assert_eq!(parse_time("1700000000000").unwrap(), 1_700_000_000_000);
        assert!(parse_time("-7").is_err() && parse_time("soon").is_err());
    }
}
