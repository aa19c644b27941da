//! `shoal verifiable-producer`: Kafka's kafka-verifiable-producer.sh, the producer of
//! Kafka's system tests. It sends increasing integers ("0", "1", ... or
//! "PREFIX.0", ...) to a topic and prints a JSON object per line for each acknowledgement
//! or failure, so a test can tell which records were acknowledged.
//!
//! Events, each with `timestamp` (ms) and `name` first: `startup_complete`;
//! `producer_send_success` (key, value, topic, partition, offset) or
//! `producer_send_error` (key, value, topic, exception, message) for every record;
//! `shutdown_complete` and `tool_data` (sent, acked, target_throughput, avg_throughput)
//! after the last record or on SIGTERM/SIGINT.
//!
//! As Kafka's tool, it does not retry (`retries=0`): a record whose batch failed is
//! reported failed, and the next batches go wherever the leaders are then. Batches are
//! sent one at a time, each waited for. Where it differs: `exception` holds Kafka's
//! error name (NOT_LEADER_OR_FOLLOWER, ...; NETWORK_EXCEPTION for a lost connection),
//! not a Java class.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use bytes::Bytes;
use clap::Args;
use kafka_protocol::records::Compression;
use serde::Serialize;

use super::produce::{parse_acks, parse_compression};
use super::properties::parsed;
use super::ToolClient;
use crate::client::cluster::{Cluster, TopicMetadata};
use crate::client::error::error_name;
use crate::client::partitioner::partition_for_key;
use crate::client::produce::{self, Acks};
use crate::client::records::{encode_batch, NewRecord};

/// How long an idle throttled producer sleeps at most before looking at the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(200);

#[derive(Args, Debug)]
pub struct VerifiableProducerArgs {
    /// The broker to connect to; a comma-separated list tries each in turn.
    #[arg(
        long,
        alias = "broker-list",
        value_name = "HOST1:PORT1[,HOST2:PORT2[...]]",
        default_value = "localhost:9092"
    )]
    pub bootstrap_server: String,
    /// The topic to produce to.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// Records to send; -1 (any negative number) to send until stopped.
    #[arg(long, value_name = "MAX-MESSAGES", default_value_t = -1, allow_negative_numbers = true)]
    pub max_messages: i64,
    /// Records per second at most; -1 (any negative number) for no limit, 0 sends none.
    #[arg(long, value_name = "THROUGHPUT", default_value_t = -1, allow_negative_numbers = true)]
    pub throughput: i64,
    /// Acknowledgement to wait for: -1 (all), 1 or 0; acks in the properties file wins.
    #[arg(long, value_name = "ACKS", default_value = "-1", allow_negative_numbers = true,
          value_parser = parse_acks)]
    pub acks: Acks,
    /// A file of producer properties (Kafka 4.2's --command-config).
    #[arg(
        long = "producer.config",
        value_name = "CONFIG-FILE",
        conflicts_with = "command_config"
    )]
    pub producer_config: Option<PathBuf>,
    /// A file of producer properties: acks, batch.size, linger.ms, compression.type,
    /// client.id, request.timeout.ms and the login and TLS keys are read.
    #[arg(long, value_name = "CONFIG-FILE")]
    pub command_config: Option<PathBuf>,
    /// The first record's timestamp (ms since the epoch); without it the time of sending.
    #[arg(long, value_name = "CREATE-TIME", default_value_t = -1, allow_negative_numbers = true)]
    pub message_create_time: i64,
    /// Values are PREFIX.N instead of N.
    #[arg(long, value_name = "VALUE-PREFIX")]
    pub value_prefix: Option<i32>,
    /// Keys "0" to "K-1", in turn; without it, records have no key.
    #[arg(long, value_name = "REPEATING-KEYS")]
    pub repeating_keys: Option<u32>,
}

/// The producer properties read; the login and TLS keys are the connection's.
const PRODUCER_KEYS: [&str; 9] = [
    "acks",
    "batch.size",
    "linger.ms",
    "compression.type",
    "client.id",
    "request.timeout.ms",
    // Kafka's tool sets its own serializers, and retries=0.
    "key.serializer",
    "value.serializer",
    "retries",
];

/// One line of output: the event's time and name, then its fields.
#[derive(Serialize)]
struct Event<'a, T: Serialize> {
    timestamp: i64,
    name: &'a str,
    #[serde(flatten)]
    fields: T,
}

/// The fields of an event that has none.
#[derive(Serialize)]
pub(super) struct Nothing {}

#[derive(Serialize)]
struct Sent<'a> {
    key: Option<&'a str>,
    value: &'a str,
    topic: &'a str,
    partition: i32,
    offset: i64,
}

#[derive(Serialize)]
struct Failed<'a> {
    key: Option<&'a str>,
    value: &'a str,
    topic: &'a str,
    exception: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct ToolData {
    sent: u64,
    acked: u64,
    target_throughput: i64,
    avg_throughput: f64,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Prints one event: a JSON object on a line of its own.
pub(super) fn emit<T: Serialize>(name: &str, fields: T) -> Result<()> {
    let line = serde_json::to_string(&Event {
        timestamp: now_ms(),
        name,
        fields,
    })?;
    super::say(line)?;
    Ok(())
}

/// A record waiting for its batch, with its key and value as printed.
struct Pending {
    key: Option<String>,
    value: String,
    timestamp: i64,
}

struct Producer {
    cluster: Cluster,
    topic: TopicMetadata,
    acks: Acks,
    compression: Compression,
    timeout_ms: i32,
    /// The partition unkeyed records of the next batch go to (modulo the count).
    sticky: usize,
    acked: u64,
}

pub fn run(args: VerifiableProducerArgs) -> Result<()> {
    let ToolClient {
        connect,
        properties: props,
        options,
    } = ToolClient::new(
        "verifiable-producer",
        (&args.bootstrap_server, "verifiable-producer"),
        (
            args.producer_config
                .as_deref()
                .map(|path| (path, "--producer.config")),
            args.command_config.as_deref(),
        ),
        (&[], ""),
        &PRODUCER_KEYS,
    )?;
    let number = |v: &str| v.parse::<u64>().map_err(|e| e.to_string());
    // As Kafka's tool: the file's settings win over the flags'.
    let acks = parsed(&props, "acks", parse_acks)?.unwrap_or(args.acks);
    let batch_size = parsed(&props, "batch.size", number)?.unwrap_or(16_384);
    let linger = Duration::from_millis(parsed(&props, "linger.ms", number)?.unwrap_or(5));
    let stop = super::stop_flag()?;
    let mut cluster = Cluster::connect(&connect.bootstrap_server, options)?;
    let topic = cluster.topic(&args.topic, true)?;
    let mut producer = Producer {
        cluster,
        topic,
        acks,
        compression: parsed(&props, "compression.type", parse_compression)?
            .unwrap_or(Compression::None),
        timeout_ms: connect.timeout_ms(),
        sticky: fastrand::usize(..),
        acked: 0,
    };
    emit("startup_complete", Nothing {})?;
    let start = Instant::now();
    let mut create_time = args.message_create_time;
    let mut pending: Vec<Pending> = Vec::new();
    let mut pending_bytes = 0u64;
    let mut oldest = Instant::now();
    let mut sent: u64 = 0;
    let mut key = 0u32;
    let result = (|| -> Result<()> {
        loop {
            if stop.load(Ordering::Relaxed)
                || u64::try_from(args.max_messages).is_ok_and(|max| sent >= max)
            {
                break;
            }
            // Kafka's throttle: record i goes no earlier than i/throughput s in; with
            // 0, never (an hour at a time).
            let due = match args.throughput {
                0 => Some(Instant::now() + Duration::from_secs(3600)),
                t if t > 0 => Some(start + Duration::from_secs_f64(sent as f64 / t as f64)),
                _ => None,
            };
            if let Some(due) = due.filter(|d| *d > Instant::now()) {
                let lingered = (!pending.is_empty()).then(|| oldest + linger);
                if lingered.is_some_and(|l| l <= Instant::now()) {
                    producer.send(std::mem::take(&mut pending))?;
                    pending_bytes = 0;
                    continue;
                }
                let wake = lingered.map_or(due, |l| l.min(due));
                let now = Instant::now();
                std::thread::sleep(wake.saturating_duration_since(now).min(IDLE_POLL));
                continue;
            }
            let record = Pending {
                key: args.repeating_keys.filter(|k| *k > 0).map(|keys| {
                    let k = key;
                    key = (key + 1) % keys;
                    k.to_string()
                }),
                value: match args.value_prefix {
                    Some(prefix) => format!("{prefix}.{sent}"),
                    None => sent.to_string(),
                },
                timestamp: if create_time >= 0 {
                    create_time
                } else {
                    now_ms()
                },
            };
            if create_time >= 0 {
                // Kafka's tool moves the create time on by the time since it started.
                create_time += start.elapsed().as_millis() as i64;
            }
            if pending.is_empty() {
                oldest = Instant::now();
            }
            pending_bytes +=
                (record.value.len() + record.key.as_ref().map_or(0, String::len)) as u64;
            pending.push(record);
            sent += 1;
            if pending_bytes >= batch_size || oldest.elapsed() >= linger {
                producer.send(std::mem::take(&mut pending))?;
                pending_bytes = 0;
            }
        }
        producer.send(pending)
    })();
    let elapsed_ms = start.elapsed().as_secs_f64() * 1000.0;
    emit("shutdown_complete", Nothing {})?;
    emit(
        "tool_data",
        ToolData {
            sent,
            acked: producer.acked,
            target_throughput: args.throughput,
            avg_throughput: producer.acked as f64 * 1000.0 / elapsed_ms.max(1e-9),
        },
    )?;
    result
}

impl Producer {
    /// Sends `records`, one batch per partition, and prints each record's outcome.
    fn send(&mut self, records: Vec<Pending>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let count = self.topic.partitions.len().max(1);
        let unkeyed = (self.sticky % count) as i32;
        self.sticky = self.sticky.wrapping_add(1);
        let mut by_partition: BTreeMap<i32, Vec<Pending>> = BTreeMap::new();
        for record in records {
            let partition = match &record.key {
                Some(key) => partition_for_key(key.as_bytes(), count) as i32,
                None => unkeyed,
            };
            by_partition.entry(partition).or_default().push(record);
        }
        let mut batches = Vec::new();
        for (&partition, records) in &by_partition {
            let new: Vec<NewRecord> = records
                .iter()
                .map(|r| NewRecord {
                    key: r.key.as_ref().map(|k| Bytes::from(k.clone())),
                    value: Some(Bytes::from(r.value.clone())),
                    timestamp: r.timestamp,
                    headers: Vec::new(),
                })
                .collect();
            batches.push((partition, encode_batch(&new, self.compression)?));
        }
        let (by_leader, leaderless) = self.topic.by_leader(batches);
        let mut stale = !leaderless.is_empty();
        for (partition, _) in leaderless {
            self.failed(
                &by_partition[&partition],
                "LEADER_NOT_AVAILABLE",
                "the partition has no leader",
            )?;
        }
        for (leader, batches) in by_leader {
            let partitions: Vec<i32> = batches.iter().map(|(p, _)| *p).collect();
            let answer = match self.cluster.broker(leader) {
                Ok(broker) => produce::produce(
                    broker,
                    &self.topic.name,
                    self.topic.id,
                    batches,
                    self.acks,
                    self.timeout_ms,
                ),
                Err(error) => Err(error),
            };
            match answer {
                Ok(_) if self.acks == Acks::None => {
                    // Nothing answers: as Kafka's producer, offset -1.
                    for partition in partitions {
                        self.succeeded(&by_partition[&partition], partition, -1)?;
                    }
                }
                Ok(acks) => {
                    for ack in acks {
                        // A partition the request did not name is no record's.
                        let Some(records) = by_partition.get(&ack.partition) else {
                            continue;
                        };
                        if ack.error_code == 0 {
                            self.succeeded(records, ack.partition, ack.base_offset)?;
                        } else {
                            stale = true;
                            let message = ack.error_message.unwrap_or_default();
                            self.failed(records, &error_name(ack.error_code), &message)?;
                        }
                    }
                }
                Err(error) => {
                    self.cluster.disconnect(leader);
                    stale = true;
                    for partition in partitions {
                        self.failed(
                            &by_partition[&partition],
                            "NETWORK_EXCEPTION",
                            &error.to_string(),
                        )?;
                    }
                }
            }
        }
        if stale {
            // Leadership moved or a broker went away: the next batches go where the
            // leaders are now (if that cannot be learnt, they fail and say so).
            if let Ok(topic) = self.cluster.topic(&self.topic.name, false) {
                self.topic = topic;
            }
        }
        Ok(())
    }

    fn succeeded(&mut self, records: &[Pending], partition: i32, base: i64) -> Result<()> {
        for (i, record) in records.iter().enumerate() {
            self.acked += 1;
            emit(
                "producer_send_success",
                Sent {
                    key: record.key.as_deref(),
                    value: &record.value,
                    topic: &self.topic.name,
                    partition,
                    offset: if base < 0 { -1 } else { base + i as i64 },
                },
            )?;
        }
        Ok(())
    }

    fn failed(&self, records: &[Pending], exception: &str, message: &str) -> Result<()> {
        for record in records {
            emit(
                "producer_send_error",
                Failed {
                    key: record.key.as_deref(),
                    value: &record.value,
                    topic: &self.topic.name,
                    exception,
                    message,
                },
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_lead_with_time_and_name() {
        let line = serde_json::to_string(&Event {
            timestamp: 7,
            name: "producer_send_success",
            fields: Sent {
                key: None,
                value: "3",
                topic: "t",
                partition: 1,
                offset: 9,
            },
        })
        .unwrap();
        assert_eq!(
            line,
            r#"{"timestamp":7,"name":"producer_send_success","key":null,"value":"3","topic":"t","partition":1,"offset":9}"#
        );
        let line = serde_json::to_string(&Event {
            timestamp: 7,
            name: "startup_complete",
            fields: Nothing {},
        })
        .unwrap();
        assert_eq!(line, r#"{"timestamp":7,"name":"startup_complete"}"#);
    }
}
