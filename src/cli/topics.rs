//! `shoal topics`: Kafka's kafka-topics.sh — create, list, describe, alter (partitions)
//! and delete topics, with its flags, its checks and its output layout.

use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::{ArgGroup, Args};
use regex::Regex;
use uuid::Uuid;

use super::ConnectArgs;
use crate::client::admin::{self, ConfigEntry, ConfigResource, ConfigSource, NewTopic};
use crate::client::cluster::PartitionMetadata;
use crate::client::cluster::{Cluster, TopicMetadata};

#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("action")
        .required(true)
        .args(["create", "list", "describe", "alter", "delete"])
))]
pub struct TopicsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Create a new topic.
    #[arg(long)]
    pub create: bool,
    /// List all available topics.
    #[arg(long)]
    pub list: bool,
    /// List details for the given topics (all topics without --topic).
    #[arg(long)]
    pub describe: bool,
    /// Alter the number of partitions (topic configs: `shoal configs --alter`).
    #[arg(long)]
    pub alter: bool,
    /// Delete a topic.
    #[arg(long)]
    pub delete: bool,
    /// The topic to create, alter, describe or delete. Except with --create it is a regular
    /// expression matched against whole names (commas separate alternatives).
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,
    /// With --describe: the topic of this id (as Kafka prints it), in place of --topic.
    #[arg(long, value_name = "ID", conflicts_with = "topic")]
    pub topic_id: Option<String>,
    /// Partitions for --create (default: the broker's num.partitions), or the new
    /// partition count for --alter.
    #[arg(long, value_name = "N")]
    pub partitions: Option<i32>,
    /// Replicas of each partition for --create (default: the broker's
    /// default.replication.factor).
    #[arg(long, value_name = "N")]
    pub replication_factor: Option<i32>,
    /// Each partition's brokers, for --create (instead of --partitions and
    /// --replication-factor) or for the new partitions of --alter (the list names every
    /// partition; those that exist are skipped): `1:2,2:3` is partition 0 on brokers 1
    /// and 2, partition 1 on 2 and 3.
    #[arg(long, value_name = "B:B,B:B")]
    pub replica_assignment: Option<String>,
    /// A topic config override for --create (repeatable), e.g. --config retention.ms=60000.
    #[arg(long = "config", value_name = "NAME=VALUE")]
    pub configs: Vec<String>,
    /// With --alter, --delete or --describe: only act if the topic exists; no error if not.
    #[arg(long)]
    pub if_exists: bool,
    /// With --create: no error if the topic already exists.
    #[arg(long)]
    pub if_not_exists: bool,
    /// With --list or --describe: leave out internal topics.
    #[arg(long)]
    pub exclude_internal: bool,
    /// With --describe: only the topics whose configs are not all defaults, summary
    /// lines only (as Kafka's tool).
    #[arg(long)]
    pub topics_with_overrides: bool,
    #[command(flatten)]
    pub filters: PartitionFilters,
}

/// With --describe: only the partitions in one of these states, without the topics'
/// summary lines (as Kafka's tool).
#[derive(Args, Debug, Default)]
pub struct PartitionFilters {
    /// Partitions with fewer in-sync replicas than replicas.
    #[arg(long)]
    pub under_replicated_partitions: bool,
    /// Partitions with fewer in-sync replicas than their min.insync.replicas, or no leader.
    #[arg(long)]
    pub under_min_isr_partitions: bool,
    /// Partitions with exactly min.insync.replicas in-sync replicas.
    #[arg(long)]
    pub at_min_isr_partitions: bool,
    /// Partitions without a leader, or led by a broker that is not live.
    #[arg(long)]
    pub unavailable_partitions: bool,
}

impl PartitionFilters {
    fn any(&self) -> bool {
        self.under_replicated_partitions
            || self.under_min_isr_partitions
            || self.at_min_isr_partitions
            || self.unavailable_partitions
    }

    /// Kafka's TopicCommand rules; `live` are the brokers Metadata lists.
    fn keeps(&self, p: &PartitionMetadata, min_isr: Option<usize>, live: &[i32]) -> bool {
        let led = p.leader >= 0;
        (self.under_replicated_partitions && p.isr.len() < p.replicas.len())
            || (self.under_min_isr_partitions && (!led || min_isr.is_some_and(|m| p.isr.len() < m)))
            || (self.at_min_isr_partitions && min_isr == Some(p.isr.len()))
            || (self.unavailable_partitions && (!led || !live.contains(&p.leader)))
    }
}

pub fn run(args: TopicsArgs) -> Result<()> {
    check_args(&args)?;
    let mut cluster = args.connect.connect()?;
    if args.create {
        create(&mut cluster, &args)
    } else if args.list {
        for name in matching_topics(&mut cluster, &args)? {
            super::say(&name.name)?;
        }
        Ok(())
    } else if args.describe {
        describe(&mut cluster, &args)
    } else if args.alter {
        let partitions = args.partitions.context("--alter needs --partitions")?;
        let assignment = args
            .replica_assignment
            .as_deref()
            .map(parse_assignment)
            .transpose()?;
        for topic in existing_topics(&mut cluster, &args)? {
            // The list names every partition: those that exist are skipped.
            let new = assignment
                .as_ref()
                .map(|all| all.iter().skip(topic.partitions.len()).cloned().collect());
            admin::create_partitions(
                &mut cluster,
                &topic.name,
                (partitions, new),
                args.connect.timeout_ms(),
            )?;
        }
        Ok(())
    } else {
        let names: Vec<String> = existing_topics(&mut cluster, &args)?
            .into_iter()
            .map(|t| t.name)
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        Ok(admin::delete_topics(
            &mut cluster,
            &names,
            args.connect.timeout_ms(),
        )?)
    }
}

/// Kafka's combination rules: each option only with the actions it means something for.
fn check_args(args: &TopicsArgs) -> Result<()> {
    let only_with = |present: bool, option: &str, allowed: bool, actions: &str| {
        if present && !allowed {
            bail!("{option} can only be used with {actions}");
        }
        Ok(())
    };
    only_with(
        args.partitions.is_some(),
        "--partitions",
        args.create || args.alter,
        "--create or --alter",
    )?;
    only_with(
        args.replication_factor.is_some(),
        "--replication-factor",
        args.create,
        "--create",
    )?;
    only_with(
        args.replica_assignment.is_some(),
        "--replica-assignment",
        args.create || args.alter,
        "--create or --alter",
    )?;
    if args.create
        && args.replica_assignment.is_some()
        && (args.partitions.is_some() || args.replication_factor.is_some())
    {
        bail!("--replica-assignment can't be used with --partitions or --replication-factor");
    }
    only_with(
        !args.configs.is_empty(),
        "--config",
        args.create,
        "--create",
    )?;
    only_with(
        args.topics_with_overrides,
        "--topics-with-overrides",
        args.describe,
        "--describe",
    )?;
    only_with(
        args.filters.any(),
        "--under-replicated-partitions, --under-min-isr-partitions, --at-min-isr-partitions and --unavailable-partitions",
        args.describe,
        "--describe",
    )?;
    only_with(
        args.if_exists,
        "--if-exists",
        args.alter || args.delete || args.describe,
        "--alter, --delete or --describe",
    )?;
    only_with(
        args.if_not_exists,
        "--if-not-exists",
        args.create,
        "--create",
    )?;
    only_with(
        args.exclude_internal,
        "--exclude-internal",
        args.list || args.describe,
        "--list or --describe",
    )?;
    only_with(
        args.topic_id.is_some(),
        "--topic-id",
        args.describe,
        "--describe",
    )?;
    if args.topic.is_none() && (args.create || args.alter || args.delete) {
        bail!("--topic is required with --create, --alter and --delete");
    }
    if args.alter && args.partitions.is_none() {
        bail!("--alter needs --partitions (topic configs: shoal configs --alter)");
    }
    if let Some(rf) = args.replication_factor {
        if !(1..=i32::from(i16::MAX)).contains(&rf) {
            bail!(
                "the replication factor must be between 1 and {} inclusive",
                i16::MAX
            );
        }
    }
    if args.partitions.is_some_and(|p| p < 1) {
        bail!("the partitions must be greater than 0");
    }
    Ok(())
}

fn create(cluster: &mut Cluster, args: &TopicsArgs) -> Result<()> {
    let name = args.topic.clone().context("--create needs --topic")?;
    let topic = NewTopic {
        name: name.clone(),
        partitions: args.partitions,
        replication_factor: args
            .replication_factor
            .map(|rf| i16::try_from(rf).unwrap_or(i16::MAX)),
        configs: args
            .configs
            .iter()
            .map(|c| parse_config(c))
            .collect::<Result<_>>()?,
        assignment: match &args.replica_assignment {
            Some(list) => parse_assignment(list)?,
            None => Vec::new(),
        },
    };
    match admin::create_topic(cluster, &topic, args.connect.timeout_ms()) {
        Ok(()) => {
            super::say(format_args!("Created topic {name}."))?;
            Ok(())
        }
        Err(error) if args.if_not_exists && error.code() == Some(admin::TOPIC_ALREADY_EXISTS) => {
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

/// --replica-assignment's list, as Kafka's tool reads it: partitions separated by
/// commas, each one's brokers by colons, no broker twice in a partition, every
/// partition with as many.
fn parse_assignment(list: &str) -> Result<Vec<Vec<i32>>> {
    let mut partitions: Vec<Vec<i32>> = Vec::new();
    // As Java's split: empty items at the end are dropped.
    let items: Vec<&str> = list.trim_end_matches(',').split(',').collect();
    for (index, brokers) in items.into_iter().enumerate() {
        let brokers: Vec<i32> = brokers
            .split(':')
            .map(|b| {
                b.trim().parse().with_context(|| {
                    format!("'{}' in --replica-assignment is not a broker id", b.trim())
                })
            })
            .collect::<Result<_>>()?;
        let twice = super::repeated(&brokers);
        if !twice.is_empty() {
            bail!(
                "Partition replica lists may not contain duplicate entries: {}",
                twice.join(",")
            );
        }
        if partitions
            .first()
            .is_some_and(|first| first.len() != brokers.len())
        {
            bail!("Partition {index} has different replication factor: {brokers:?}");
        }
        partitions.push(brokers);
    }
    Ok(partitions)
}

/// `name=value` as --config takes it (spaces around `=` ignored, as Kafka does).
fn parse_config(config: &str) -> Result<(String, String)> {
    match config.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => bail!("invalid topic config '{config}': configs must be in the format \"key=val\""),
    }
}

fn describe(cluster: &mut Cluster, args: &TopicsArgs) -> Result<()> {
    let topics = existing_topics(cluster, args)?;
    let resources: Vec<ConfigResource> = topics
        .iter()
        .map(|t| ConfigResource::Topic(t.name.clone()))
        .collect();
    let configs = admin::describe_configs(cluster, &resources, false)?;
    let live: Vec<i32> = match args.filters.any() {
        true => cluster
            .metadata(Some(&[]), false)?
            .brokers
            .into_keys()
            .collect(),
        false => Vec::new(),
    };
    for (topic, configs) in topics.iter().zip(&configs) {
        let lines = describe_lines(topic, configs);
        if args.filters.any() {
            let min_isr = configs
                .iter()
                .find(|c| c.name == "min.insync.replicas")
                .and_then(|c| c.value.as_deref()?.parse().ok());
            let partitions = topic.partitions.iter().zip(lines.into_iter().skip(1));
            for (_, line) in partitions.filter(|(p, _)| args.filters.keeps(p, min_isr, &live)) {
                super::say(line)?;
            }
        } else if !args.topics_with_overrides {
            for line in lines {
                super::say(line)?;
            }
        } else if let Some(summary) = lines
            .first()
            .filter(|_| configs.iter().any(|c| c.source != ConfigSource::Default))
        {
            super::say(summary)?;
        }
    }
    Ok(())
}

/// Topics --topic names (all without it), sorted, internal ones unless excluded.
fn matching_topics(cluster: &mut Cluster, args: &TopicsArgs) -> Result<Vec<TopicMetadata>> {
    let filter = args.topic.as_deref().map(include_list).transpose()?;
    let metadata = cluster.metadata(None, false)?;
    Ok(metadata
        .topics
        .into_values()
        .filter(|t| !(args.exclude_internal && t.internal))
        .filter(|t| filter.as_ref().is_none_or(|f| f.is_match(&t.name)))
        .filter(|t| {
            args.topic_id
                .as_deref()
                .is_none_or(|id| topic_id_string(t.id) == id)
        })
        .collect())
}

/// Like `matching_topics`, but a --topic that matches nothing is an error unless
/// --if-exists was given.
fn existing_topics(cluster: &mut Cluster, args: &TopicsArgs) -> Result<Vec<TopicMetadata>> {
    let topics = matching_topics(cluster, args)?;
    if let Some(topic) = &args.topic {
        if topics.is_empty() && !args.if_exists {
            bail!("Topic '{topic}' does not exist as expected");
        }
    }
    if let Some(id) = &args.topic_id {
        if topics.is_empty() && !args.if_exists {
            bail!("Topic ID '{id}' does not exist as expected");
        }
    }
    Ok(topics)
}

/// Kafka's topic include list: a regular expression matched against the whole name,
/// commas meaning "or", spaces and surrounding quotes dropped.
pub fn include_list(pattern: &str) -> Result<Regex> {
    let cleaned = pattern.trim().replace(',', "|").replace(' ', "");
    let cleaned = cleaned.trim_matches(|c| c == '"' || c == '\'');
    Regex::new(&format!("^(?:{cleaned})$"))
        .with_context(|| format!("--topic '{pattern}' is not a valid regular expression"))
}

/// A topic id as Kafka prints it: URL-safe base64 of its 16 bytes, unpadded.
pub fn topic_id_string(id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// kafka-topics.sh --describe for one topic: a summary line, then one line per partition.
/// Leader-eligible replicas (KIP-966) come from an API this tool does not ask, so they
/// print as Kafka prints them when the broker did not say: N/A.
pub fn describe_lines(topic: &TopicMetadata, configs: &[ConfigEntry]) -> Vec<String> {
    let overrides: Vec<String> = configs
        .iter()
        .filter(|c| c.source != ConfigSource::Default)
        .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("null")))
        .collect();
    let mut summary = format!("Topic: {}", topic.name);
    if !topic.id.is_nil() {
        summary.push_str(&format!("\tTopicId: {}", topic_id_string(topic.id)));
    }
    let replication_factor = topic.partitions.first().map_or(0, |p| p.replicas.len());
    summary.push_str(&format!(
        "\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
        topic.partitions.len(),
        replication_factor,
        overrides.join(",")
    ));
    let mut lines = vec![summary];
    let ids = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    for p in &topic.partitions {
        let leader = if p.leader >= 0 {
            p.leader.to_string()
        } else {
            "none".to_string()
        };
        lines.push(format!(
            "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tElr: N/A\tLastKnownElr: N/A",
            topic.name,
            p.index,
            leader,
            ids(&p.replicas),
            ids(&p.isr)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_assignment_is_read_as_kafkas_tool_reads_it() {
        assert_eq!(
            parse_assignment("1:2, 2 :3,3:1,").unwrap(),
            [vec![1, 2], vec![2, 3], vec![3, 1]]
        );
        for (bad, why) in [
            ("1:1:1", "duplicate entries: 1"),
            ("1:2,3", "Partition 1 has different replication factor"),
            ("1:x", "'x' in --replica-assignment is not a broker id"),
            ("", "'' in --replica-assignment"),
        ] {
            let error = format!("{:#}", parse_assignment(bad).unwrap_err());
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    fn entry(name: &str, value: Option<&str>, source: ConfigSource) -> ConfigEntry {
        ConfigEntry {
            name: name.into(),
            value: value.map(str::to_string),
            source,
            sensitive: false,
            read_only: false,
            synonyms: Vec::new(),
        }
    }

    #[test]
    fn describe_matches_kafkas_layout() {
        let topic = TopicMetadata {
            name: "orders".into(),
            id: Uuid::from_bytes([
                // A topic id as kafka-topics.sh printed it: dReKk595SQiZychlLD7WLw
                0x75, 0x17, 0x8a, 0x93, 0x9f, 0x79, 0x49, 0x08, 0x99, 0xc9, 0xc8, 0x65, 0x2c, 0x3e,
                0xd6, 0x2f,
            ]),
            error_code: 0,
            internal: false,
            partitions: (0..2)
                .map(|i| PartitionMetadata {
                    index: i,
                    error_code: 0,
                    leader: if i == 0 { 1 } else { -1 },
                    replicas: vec![1, 2],
                    isr: vec![1],
                })
                .collect(),
        };
        let configs = [
            entry("cleanup.policy", Some("delete"), ConfigSource::Default),
            entry("retention.ms", Some("60000"), ConfigSource::DynamicTopic),
            entry("segment.bytes", Some("1048576"), ConfigSource::StaticBroker),
            entry("secret", None, ConfigSource::DynamicTopic),
        ];
        assert_eq!(
            describe_lines(&topic, &configs),
            [
                "Topic: orders\tTopicId: dReKk595SQiZychlLD7WLw\tPartitionCount: 2\tReplicationFactor: 2\tConfigs: retention.ms=60000,segment.bytes=1048576,secret=null",
                "\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1\tElr: N/A\tLastKnownElr: N/A",
                "\tTopic: orders\tPartition: 1\tLeader: none\tReplicas: 1,2\tIsr: 1\tElr: N/A\tLastKnownElr: N/A",
            ]
        );
        let unnamed = TopicMetadata {
            id: Uuid::nil(),
            partitions: Vec::new(),
            ..topic
        };
        assert_eq!(
            describe_lines(&unnamed, &[]),
            ["Topic: orders\tPartitionCount: 0\tReplicationFactor: 0\tConfigs: "]
        );
    }

    #[test]
    fn partition_filters_are_kafkas() {
        let p = |leader, replicas: &[i32], isr: &[i32]| PartitionMetadata {
            index: 0,
            error_code: 0,
            leader,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
        };
        let only = |f: fn(&mut PartitionFilters)| {
            let mut filters = PartitionFilters::default();
            f(&mut filters);
            filters
        };
        let live = [1, 2];
        let under = only(|f| f.under_replicated_partitions = true);
        assert!(under.keeps(&p(1, &[1, 2, 3], &[1, 2]), Some(2), &live));
        assert!(!under.keeps(&p(1, &[1, 2], &[1, 2]), Some(2), &live));
        let below = only(|f| f.under_min_isr_partitions = true);
        assert!(below.keeps(&p(1, &[1, 2, 3], &[1]), Some(2), &live));
        assert!(below.keeps(&p(-1, &[1, 2, 3], &[1, 2, 3]), Some(2), &live));
        assert!(!below.keeps(&p(1, &[1, 2, 3], &[1, 2]), Some(2), &live));
        let at = only(|f| f.at_min_isr_partitions = true);
        assert!(at.keeps(&p(1, &[1, 2, 3], &[1, 2]), Some(2), &live));
        assert!(!at.keeps(&p(1, &[1, 2, 3], &[1, 2, 3]), Some(2), &live));
        let unavailable = only(|f| f.unavailable_partitions = true);
        assert!(unavailable.keeps(&p(-1, &[1], &[1]), None, &live));
        assert!(unavailable.keeps(&p(3, &[3], &[3]), None, &live));
        assert!(!unavailable.keeps(&p(2, &[2], &[2]), None, &live));
    }

    #[test]
    fn include_lists_match_whole_names() {
        let f = include_list("orders").unwrap();
        assert!(f.is_match("orders") && !f.is_match("orders2") && !f.is_match("my-orders"));
        let f = include_list("a.*, b").unwrap();
        assert!(f.is_match("abc") && f.is_match("b") && !f.is_match("bb"));
        let f = include_list("'quoted'").unwrap();
        assert!(f.is_match("quoted"));
        assert!(include_list("(").is_err());
    }

    #[test]
    fn configs_are_key_equals_value() {
        assert_eq!(parse_config(" a = b ").unwrap(), ("a".into(), "b".into()));
        assert_eq!(parse_config("a=").unwrap(), ("a".into(), String::new()));
        assert!(parse_config("novalue").is_err());
        assert!(parse_config("=x").is_err());
    }
}
