//! `shoal verifiable-consumer`: Kafka's kafka-verifiable-consumer.sh, the consumer of
//! Kafka's system tests. It reads a topic as a member of a consumer group and prints
//! what happens as JSON lines, so a test can check which records were read and which
//! offsets committed.
//!
//! Events, each with `timestamp` (ms) and `name` first: `startup_complete`;
//! `partitions_revoked` and `partitions_assigned` (topic and partition of each) when the
//! group moves partitions; `records_consumed` for each fetch that brought records (its
//! count, and per partition the count and first and last offset), `record_data` for
//! each record with `--verbose`; `offsets_committed` after each of those without
//! `--enable-autocommit` (the offsets, `success`, and `error` when it failed);
//! `shutdown_complete` after `--max-messages` or SIGTERM/SIGINT.
//!
//! The group is the console consumer's (`consume_group::Membership`): the classic
//! protocol with range assignment, or with `--group-protocol consumer` KIP-848's, where
//! the coordinator assigns (with `--group-remote-assignor` if given) and only the
//! partitions that move are revoked and assigned. Another classic assignor and
//! `--group-instance-id` are refused, since this member cannot do what they ask.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;

use super::consume::parse_isolation;
use super::consume_group::{GroupProtocol, MemberSettings, Membership};
use super::properties::parsed;
use super::reader::{Reader, Topics};
use super::verifiable_producer::{emit, Nothing};
use super::ToolClient;
use crate::client::cluster::Cluster;
use crate::client::fetch::{EARLIEST, LATEST};

/// How long one fetch may wait for records.
const POLL_WAIT: Duration = Duration::from_millis(100);
/// The assignors this member can be asked for: Kafka's range assignor, by its names.
const RANGE_ASSIGNORS: [&str; 2] = ["org.apache.kafka.clients.consumer.RangeAssignor", "range"];

#[derive(Args, Debug)]
pub struct VerifiableConsumerArgs {
    /// The broker to connect to; a comma-separated list tries each in turn.
    #[arg(
        long,
        alias = "broker-list",
        value_name = "HOST1:PORT1[,HOST2:PORT2[...]]",
        default_value = "localhost:9092"
    )]
    pub bootstrap_server: String,
    /// The topic to read.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The consumer group.
    #[arg(long, value_name = "GROUP_ID")]
    pub group_id: String,
    /// The group protocol: classic or consumer (KIP-848).
    #[arg(long, value_name = "GROUP_PROTOCOL", default_value = "classic")]
    pub group_protocol: String,
    /// KIP-848's server-side assignor (only with --group-protocol consumer).
    #[arg(long, value_name = "GROUP_REMOTE_ASSIGNOR")]
    pub group_remote_assignor: Option<String>,
    /// Static membership (not taken: this member joins dynamically).
    #[arg(long, value_name = "GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    /// Records to read; -1 (any negative number) to read until stopped.
    #[arg(long, value_name = "MAX-MESSAGES", default_value_t = -1, allow_negative_numbers = true)]
    pub max_messages: i64,
    /// The group session timeout, in ms.
    #[arg(long, value_name = "TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub session_timeout: u32,
    /// A record_data event for each record.
    #[arg(long)]
    pub verbose: bool,
    /// Commit every 5 s and on close, instead of after each fetch.
    #[arg(long)]
    pub enable_autocommit: bool,
    /// Where partitions without a committed offset start: earliest or latest.
    #[arg(long, value_name = "RESET_POLICY", default_value = "earliest")]
    pub reset_policy: String,
    /// The partition assignor: the range assignor (the only one this member runs).
    #[arg(
        long,
        value_name = "ASSIGNMENT_STRATEGY",
        default_value = "org.apache.kafka.clients.consumer.RangeAssignor"
    )]
    pub assignment_strategy: String,
    /// A file of consumer properties (Kafka 4.2's --command-config).
    #[arg(
        long = "consumer.config",
        value_name = "CONFIG_FILE",
        conflicts_with = "command_config"
    )]
    pub consumer_config: Option<PathBuf>,
    /// A file of consumer properties: isolation.level, client.id, request.timeout.ms and
    /// the login and TLS keys are read.
    #[arg(long, value_name = "CONFIG_FILE")]
    pub command_config: Option<PathBuf>,
}

/// The consumer properties read; the login and TLS keys are the connection's.
const CONSUMER_KEYS: [&str; 5] = [
    "isolation.level",
    "client.id",
    "request.timeout.ms",
    // Kafka's tool sets its own deserializers.
    "key.deserializer",
    "value.deserializer",
];

#[derive(Serialize)]
struct TopicPartition<'a> {
    topic: &'a str,
    partition: i32,
}

#[derive(Serialize)]
struct Partitions<'a> {
    partitions: Vec<TopicPartition<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartitionRead<'a> {
    topic: &'a str,
    partition: i32,
    count: u64,
    min_offset: i64,
    max_offset: i64,
}

#[derive(Serialize)]
struct Consumed<'a> {
    count: usize,
    partitions: Vec<PartitionRead<'a>>,
}

#[derive(Serialize)]
struct RecordData<'a> {
    key: Option<String>,
    value: Option<String>,
    topic: &'a str,
    partition: i32,
    offset: i64,
}

#[derive(Serialize)]
struct Offset<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
}

#[derive(Serialize)]
struct Committed<'a> {
    offsets: Vec<Offset<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    success: bool,
}

pub fn run(args: VerifiableConsumerArgs) -> Result<()> {
    // As Kafka's tool: the remote assignor goes with the consumer protocol, the
    // assignment strategy with the classic one; each is ignored with the other.
    let consumer_protocol = args.group_protocol.eq_ignore_ascii_case("consumer");
    let protocol = GroupProtocol::named(
        Some(&args.group_protocol),
        args.group_remote_assignor
            .as_deref()
            .filter(|_| consumer_protocol),
    )
    .map_err(|e| anyhow::anyhow!("--group-protocol: {e}"))?;
    if args.group_instance_id.is_some() {
        bail!("--group-instance-id: this member joins dynamically; static membership is not built");
    }
    if !consumer_protocol && !RANGE_ASSIGNORS.contains(&args.assignment_strategy.as_str()) {
        bail!(
            "--assignment-strategy {}: this member assigns with the range assignor only",
            args.assignment_strategy
        );
    }
    let reset = match args.reset_policy.as_str() {
        "earliest" => EARLIEST,
        "latest" => LATEST,
        other => bail!("--reset-policy {other}: earliest or latest"),
    };
    let ToolClient {
        connect,
        properties: props,
        options,
    } = ToolClient::new(
        "verifiable-consumer",
        (&args.bootstrap_server, "verifiable-consumer"),
        (
            args.consumer_config
                .as_deref()
                .map(|path| (path, "--consumer.config")),
            args.command_config.as_deref(),
        ),
        (&[], ""),
        &CONSUMER_KEYS,
    )?;
    let isolation = parsed(&props, "isolation.level", parse_isolation)?.unwrap_or_default();
    let stop = super::stop_flag()?;
    let cluster = Cluster::connect(&connect.bootstrap_server, options)?;
    // As Kafka's consumer asks for its topic: auto-created where the broker does that.
    let mut reader = Reader::open(cluster, Topics::Named(args.topic.clone()), true)?;
    reader.reset = reset;
    reader.isolation = isolation;
    emit("startup_complete", Nothing {})?;
    let settings = MemberSettings {
        protocol,
        session_timeout: Duration::from_millis(u64::from(args.session_timeout)),
        auto_commit: args.enable_autocommit,
    };
    let result = (|| -> Result<()> {
        let mut membership =
            Membership::join(&mut reader, &args.group_id, connect.timeout(), settings)?;
        let mut assigned = assigned_partitions(&reader);
        emit("partitions_assigned", partitions(&args.topic, &assigned))?;
        let max = u64::try_from(args.max_messages).ok();
        let mut consumed = 0u64;
        while !stop.load(Ordering::Relaxed) && max.is_none_or(|max| consumed < max) {
            let moves = membership.moves();
            membership.tick(&mut reader)?;
            if membership.moves() != moves {
                let incremental = membership.incremental() && !membership.take_lost();
                assigned = moved(&reader, &args.topic, &assigned, incremental)?;
            }
            let fetched = if reader.idle() {
                std::thread::sleep(POLL_WAIT);
                Vec::new()
            } else {
                reader.poll(POLL_WAIT)?
            };
            if fetched.is_empty() {
                continue;
            }
            let count = fetched.iter().map(|f| f.records.len()).sum();
            let topic = args.topic.as_str();
            let mut read = Vec::new();
            let mut next_offsets = Vec::new();
            // Per partition, in the order they came, cut at --max-messages.
            for fetched in fetched {
                let partition = fetched.partition;
                let mut batch = fetched.records;
                if let Some(max) = max {
                    batch.truncate(usize::try_from(max - consumed).unwrap_or(usize::MAX));
                }
                let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                    continue;
                };
                if args.verbose {
                    for record in &batch {
                        let text = |b: &Option<bytes::Bytes>| {
                            b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
                        };
                        emit(
                            "record_data",
                            RecordData {
                                key: text(&record.key),
                                value: text(&record.value),
                                topic,
                                partition,
                                offset: record.offset,
                            },
                        )?;
                    }
                }
                read.push(PartitionRead {
                    topic,
                    partition,
                    count: batch.len() as u64,
                    min_offset: first.offset,
                    max_offset: last.offset,
                });
                membership.printed(topic, partition, last.offset);
                next_offsets.push(Offset {
                    topic,
                    partition,
                    offset: last.offset.saturating_add(1),
                });
                consumed += batch.len() as u64;
            }
            emit(
                "records_consumed",
                Consumed {
                    count,
                    partitions: read,
                },
            )?;
            if !args.enable_autocommit {
                let moves = membership.moves();
                let outcome = membership.commit_now(&mut reader)?;
                emit(
                    "offsets_committed",
                    Committed {
                        offsets: next_offsets,
                        success: outcome.is_ok(),
                        error: outcome.err(),
                    },
                )?;
                if membership.moves() != moves {
                    let incremental = membership.incremental() && !membership.take_lost();
                    assigned = moved(&reader, &args.topic, &assigned, incremental)?;
                }
            }
        }
        // As Kafka's consumer closing: its partitions are revoked first.
        if !assigned.is_empty() {
            emit("partitions_revoked", partitions(&args.topic, &assigned))?;
        }
        membership.close(&mut reader)
    })();
    emit("shutdown_complete", Nothing {})?;
    result
}

fn partitions<'a>(topic: &'a str, partitions: &[i32]) -> Partitions<'a> {
    Partitions {
        partitions: partitions
            .iter()
            .map(|&partition| TopicPartition { topic, partition })
            .collect(),
    }
}

/// After the group moved on: the partitions taken away and those given; returns the
/// new assignment. The eager protocol, or a member that joined again, takes every
/// partition away and gives them all again; an incremental move (KIP-848) names only
/// the partitions that moved, as the Java consumer's listener hears of them.
fn moved(reader: &Reader, topic: &str, before: &[i32], incremental: bool) -> Result<Vec<i32>> {
    let now = assigned_partitions(reader);
    let (revoked, assigned): (Vec<i32>, Vec<i32>) = if incremental {
        (
            before
                .iter()
                .filter(|p| !now.contains(p))
                .copied()
                .collect(),
            now.iter()
                .filter(|p| !before.contains(p))
                .copied()
                .collect(),
        )
    } else {
        (before.to_vec(), now.clone())
    };
    if !revoked.is_empty() {
        emit("partitions_revoked", partitions(topic, &revoked))?;
    }
    if !incremental || !assigned.is_empty() {
        emit("partitions_assigned", partitions(topic, &assigned))?;
    }
    Ok(now)
}

/// The partitions the reader reads (of its one topic), placed or not yet.
fn assigned_partitions(reader: &Reader) -> Vec<i32> {
    reader.assigned().into_iter().map(|(_, p)| p).collect()
}
