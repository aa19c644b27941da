//! `shoal produce`: Kafka's kafka-console-producer.sh — one record per line of stdin,
//! keys and headers parsed as its LineMessageReader does, batched, sent to each
//! partition's leader, acknowledgements awaited.
//!
//! Partitioning: a keyed record goes where Kafka's default partitioner (murmur2) puts it,
//! so Java and librdkafka (murmur2_random) producers agree; unkeyed records of one batch
//! stick to one partition and the next batch moves on (round-robin over batches).

use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use kafka_protocol::records::Compression;

use super::properties::{self, Properties};
use super::ConnectArgs;
use crate::client::cluster::{Cluster, TopicMetadata, RETRY_BACKOFF};
use crate::client::error::{is_retriable, Error};
use crate::client::partitioner::partition_for_key;
use crate::client::produce::{self, Acks, PartitionAck};
use crate::client::records::{encode_batch, NewRecord};

/// Attempts for a batch that fails with a retriable error (leader moved, topic still
/// being created) before the tool gives up.
const SEND_ATTEMPTS_MAX: u32 = 10;
/// Lines read ahead of the sender; stdin waits beyond that.
const LINES_QUEUED_MAX: usize = 1024;
/// How often an idle producer looks at the stop flag.
const IDLE_POLL: Duration = Duration::from_millis(200);

pub const READER_PROPERTIES: &[&str] = &[
    "parse.key",
    "key.separator",
    "parse.headers",
    "headers.delimiter",
    "headers.separator",
    "headers.key.separator",
    "null.marker",
    "ignore.error",
];

#[derive(Args, Debug)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The old console producer's name for --bootstrap-server.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "bootstrap_server")]
    pub broker_list: Option<String>,
    /// The topic to produce to (created on first use if the broker auto-creates topics).
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// How lines are read (repeatable): parse.key=true with key.separator=S (default
    /// tab); parse.headers=true with headers.delimiter (tab), headers.separator (,) and
    /// headers.key.separator (:); null.marker=M for null keys/values; ignore.error=true.
    #[arg(long = "property", alias = "reader-property", value_name = "KEY=VALUE")]
    pub properties: Vec<String>,
    /// A file of such properties, read before --property.
    #[arg(long = "reader-config", value_name = "FILE")]
    pub reader_config: Option<std::path::PathBuf>,
    /// Acknowledgement to wait for: all (-1, the default), 1 (the leader), 0 (none).
    #[arg(long, alias = "request-required-acks", value_name = "ACKS", value_parser = parse_acks, allow_negative_numbers = true)]
    pub acks: Option<Acks>,
    /// Compression of each batch: none (the default), gzip, snappy, lz4, zstd.
    #[arg(long, alias = "compression-codec", value_name = "CODEC", value_parser = parse_compression)]
    pub compression: Option<Compression>,
    /// Bytes of keys and values gathered before a batch is sent (default 16384).
    #[arg(long, alias = "max-partition-memory-bytes", value_name = "BYTES")]
    pub batch_size: Option<usize>,
    /// The Java producer's tuning (retries, retry.backoff.ms, metadata.max.age.ms,
    /// max.block.ms, buffer.memory, send.buffer.bytes): taken so Kafka's command lines
    /// run, with a notice each, as this tool retries and sizes its buffers itself.
    #[command(flatten)]
    pub tuning: ProducerTuning,
    /// How long a line may wait for more to fill its batch, in ms (Kafka's --timeout;
    /// default 1000).
    #[arg(long, alias = "timeout", value_name = "MS")]
    pub linger_ms: Option<u64>,
    /// A producer property (repeatable; Kafka's --command-property too): acks,
    /// compression.type, batch.size, linger.ms and client.id are read, and the login
    /// and TLS keys --command-config takes. The flags above win over them.
    #[arg(
        long = "producer-property",
        alias = "command-property",
        value_name = "KEY=VALUE"
    )]
    pub producer_properties: Vec<String>,
    /// A file of producer properties, read after --command-config's and before
    /// --producer-property.
    #[arg(long = "producer.config", value_name = "FILE")]
    pub producer_config: Option<std::path::PathBuf>,
    /// Send each line on its own and wait for its acknowledgement.
    #[arg(long)]
    pub sync: bool,
}

/// kafka-console-producer.sh's flags for the Java producer's tuning: each sets a Java
/// producer property this tool has no use for.
#[derive(Args, Debug, Default)]
pub struct ProducerTuning {
    /// Kafka's retries (no effect here).
    #[arg(long, value_name = "N")]
    pub message_send_max_retries: Option<String>,
    /// Kafka's retry.backoff.ms (no effect here).
    #[arg(long, value_name = "MS")]
    pub retry_backoff_ms: Option<String>,
    /// Kafka's metadata.max.age.ms (no effect here).
    #[arg(long, value_name = "MS")]
    pub metadata_expiry_ms: Option<String>,
    /// Kafka's max.block.ms (no effect here).
    #[arg(long, value_name = "MS")]
    pub max_block_ms: Option<String>,
    /// Kafka's buffer.memory (no effect here).
    #[arg(long, value_name = "BYTES")]
    pub max_memory_bytes: Option<String>,
    /// Kafka's send.buffer.bytes (no effect here).
    #[arg(long, value_name = "BYTES")]
    pub socket_buffer_size: Option<String>,
}

impl ProducerTuning {
    /// One notice line for each flag given.
    fn notice(&self) {
        let given = [
            ("message-send-max-retries", &self.message_send_max_retries),
            ("retry-backoff-ms", &self.retry_backoff_ms),
            ("metadata-expiry-ms", &self.metadata_expiry_ms),
            ("max-block-ms", &self.max_block_ms),
            ("max-memory-bytes", &self.max_memory_bytes),
            ("socket-buffer-size", &self.socket_buffer_size),
        ];
        for (flag, _) in given.iter().filter(|(_, value)| value.is_some()) {
            eprintln!("shoal produce: --{flag} has no effect: this tool retries and sizes its buffers itself");
        }
    }
}

pub fn parse_acks(s: &str) -> Result<Acks, String> {
    match s {
        "all" | "-1" => Ok(Acks::All),
        "1" => Ok(Acks::Leader),
        "0" => Ok(Acks::None),
        _ => Err("expected all, -1, 1 or 0".into()),
    }
}

pub fn parse_compression(s: &str) -> Result<Compression, String> {
    match s {
        "none" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        _ => Err("expected none, gzip, snappy, lz4 or zstd".into()),
    }
}

pub fn run(mut args: ProduceArgs) -> Result<()> {
    if let Some(servers) = args.broker_list.take() {
        args.connect.bootstrap_server = servers;
    }
    args.tuning.notice();
    let properties = Properties::parse(
        &super::properties::with_file(
            args.reader_config.as_deref(),
            "--reader-config",
            &args.properties,
        )?,
        READER_PROPERTIES,
    )?;
    let format = LineFormat::from_properties(&properties)?;
    let (client, options) = args.connect.client(
        "console-producer",
        args.producer_config
            .as_deref()
            .map(|p| (p, "--producer.config")),
        (&args.producer_properties, "--producer-property"),
    )?;
    let settings = Settings::of(&args, &client)?;
    let stop = super::stop_flag()?;
    let mut cluster = Cluster::connect(&args.connect.bootstrap_server, options)?;
    let topic = cluster.topic(&args.topic, true)?;
    let mut producer = Producer {
        cluster,
        topic,
        acks: settings.acks,
        compression: settings.compression,
        timeout_ms: args.connect.timeout_ms(),
        sticky: fastrand::usize(..),
    };
    let lines = read_lines_in_background();
    let linger = Duration::from_millis(settings.linger_ms);
    let mut pending: Vec<NewRecord> = Vec::new();
    let mut pending_bytes = 0;
    let mut oldest = Instant::now();
    let mut line_number = 0u64;
    loop {
        let wait = if pending.is_empty() {
            IDLE_POLL
        } else {
            linger.saturating_sub(oldest.elapsed()).min(IDLE_POLL)
        };
        match lines.recv_timeout(wait) {
            Ok(line) => {
                let line = line.context("cannot read stdin")?;
                line_number += 1;
                let record = match format.parse(&line, line_number) {
                    Ok(record) => record,
                    Err(error) => {
                        // The lines before the bad one still go out, as they would have
                        // had it come later.
                        producer.send(pending)?;
                        return Err(error);
                    }
                };
                if pending.is_empty() {
                    oldest = Instant::now();
                }
                pending_bytes += record.key.as_ref().map_or(0, Bytes::len)
                    + record.value.as_ref().map_or(0, Bytes::len);
                pending.push(record);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let full = args.sync || pending_bytes >= settings.batch_size;
        if !pending.is_empty() && (full || oldest.elapsed() >= linger) {
            producer.send(std::mem::take(&mut pending))?;
            pending_bytes = 0;
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    producer.send(pending)
}

/// How the producer sends: each flag if given, else its producer property, else the
/// console producer's default.
struct Settings {
    acks: Acks,
    compression: Compression,
    batch_size: usize,
    linger_ms: u64,
}

/// The producer properties `Settings` reads; `client.id` and the login and TLS keys are
/// the connection's.
const PRODUCER_KEYS: [&str; 5] = [
    "acks",
    "compression.type",
    "batch.size",
    "linger.ms",
    "client.id",
];

impl Settings {
    fn of(args: &ProduceArgs, client: &[(String, String)]) -> Result<Settings> {
        properties::warn_unused("produce", client, &PRODUCER_KEYS);
        let number = |v: &str| v.parse::<u64>().map_err(|e| e.to_string());
        Ok(Settings {
            acks: match args.acks {
                Some(acks) => acks,
                None => properties::parsed(client, "acks", parse_acks)?.unwrap_or(Acks::All),
            },
            compression: match args.compression {
                Some(codec) => codec,
                None => properties::parsed(client, "compression.type", parse_compression)?
                    .unwrap_or(Compression::None),
            },
            batch_size: match args.batch_size {
                Some(bytes) => bytes,
                None => properties::parsed(client, "batch.size", number)?
                    .map_or(16_384, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            },
            linger_ms: match args.linger_ms {
                Some(ms) => ms,
                None => properties::parsed(client, "linger.ms", number)?.unwrap_or(1_000),
            },
        })
    }
}

/// Stdin lines (without their `\n` or `\r\n`) from a thread, so the sender can keep
/// the linger deadline while a terminal waits for typing.
fn read_lines_in_background() -> Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::sync_channel(LINES_QUEUED_MAX);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {
                    if line.ends_with(b"\n") {
                        line.pop();
                        if line.ends_with(b"\r") {
                            line.pop();
                        }
                    }
                    if tx.send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    let _ = tx.send(Err(error));
                    return;
                }
            }
        }
    });
    rx
}

struct Producer {
    cluster: Cluster,
    topic: TopicMetadata,
    acks: Acks,
    compression: Compression,
    timeout_ms: i32,
    /// The partition unkeyed records of the next batch go to (modulo the count).
    sticky: usize,
}

impl Producer {
    /// Sends `records`, one batch per partition, and waits for every acknowledgement,
    /// retrying partitions whose leader answered with a retriable error.
    fn send(&mut self, records: Vec<NewRecord>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let count = self.topic.partitions.len();
        let unkeyed = (self.sticky % count) as i32;
        self.sticky = self.sticky.wrapping_add(1);
        let mut by_partition: BTreeMap<i32, Vec<NewRecord>> = BTreeMap::new();
        for record in records {
            let partition = match &record.key {
                Some(key) => partition_for_key(key, count) as i32,
                None => unkeyed,
            };
            by_partition.entry(partition).or_default().push(record);
        }
        let mut batches = BTreeMap::new();
        for (partition, records) in by_partition {
            batches.insert(partition, encode_batch(&records, self.compression)?);
        }
        let mut attempt = 1;
        loop {
            let failed = self.send_batches(&batches)?;
            let Some(last) = failed.last() else {
                return Ok(());
            };
            if attempt >= SEND_ATTEMPTS_MAX {
                Error::check(last.error_code, last.error_message.as_deref(), || {
                    format!(
                        "cannot produce to {}-{} after {attempt} attempts",
                        self.topic.name, last.partition
                    )
                })?;
            }
            attempt += 1;
            batches.retain(|p, _| failed.iter().any(|f| f.partition == *p));
            // Leadership moved or the topic is still being created: wait, then re-route.
            std::thread::sleep(RETRY_BACKOFF);
            self.topic = self.cluster.topic(&self.topic.name, true)?;
        }
    }

    /// One Produce request per leader; returns the partitions that failed retriably.
    fn send_batches(&mut self, batches: &BTreeMap<i32, Bytes>) -> Result<Vec<PartitionAck>> {
        let (by_leader, leaderless) = self
            .topic
            .by_leader(batches.iter().map(|(&p, batch)| (p, batch.clone())));
        let mut failed: Vec<PartitionAck> = leaderless
            .into_iter()
            .map(|(partition, _)| PartitionAck {
                partition,
                error_code: LEADER_NOT_AVAILABLE,
                error_message: None,
                base_offset: -1,
            })
            .collect();
        for (leader, batches) in by_leader {
            let partitions: Vec<i32> = batches.iter().map(|(p, _)| *p).collect();
            let broker = self.cluster.broker(leader)?;
            let acks = produce::produce(
                broker,
                &self.topic.name,
                self.topic.id,
                batches,
                self.acks,
                self.timeout_ms,
            );
            let acks = match acks {
                // With acks=0 a broker closes the connection when a write fails (it
                // cannot answer): these batches go again on a new one.
                Err(Error::Io { .. }) if self.acks == Acks::None => {
                    self.cluster.disconnect(leader);
                    failed.extend(partitions.into_iter().map(|partition| PartitionAck {
                        partition,
                        error_code: NETWORK_EXCEPTION,
                        error_message: None,
                        base_offset: -1,
                    }));
                    continue;
                }
                acks => acks.inspect_err(|_| self.cluster.disconnect(leader))?,
            };
            for ack in acks {
                if ack.error_code == 0 {
                    continue;
                }
                if !is_retriable(ack.error_code) {
                    Error::check(ack.error_code, ack.error_message.as_deref(), || {
                        format!("cannot produce to {}-{}", self.topic.name, ack.partition)
                    })?;
                }
                failed.push(ack);
            }
        }
        Ok(failed)
    }
}

/// Kafka's LEADER_NOT_AVAILABLE, for a partition Metadata gave no leader.
const LEADER_NOT_AVAILABLE: i16 = 5;
/// Kafka's NETWORK_EXCEPTION (retriable), for batches whose connection closed.
const NETWORK_EXCEPTION: i16 = 13;

/// How a line becomes a record: Kafka's LineMessageReader settings. Separators are
/// literal strings (Kafka reads headers.separator as a regular expression; a literal
/// separator means the same for every usual choice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFormat {
    parse_key: bool,
    key_separator: Vec<u8>,
    parse_headers: bool,
    headers_delimiter: Vec<u8>,
    headers_separator: Vec<u8>,
    headers_key_separator: Vec<u8>,
    null_marker: Option<Vec<u8>>,
    ignore_error: bool,
}

impl LineFormat {
    pub fn from_properties(p: &Properties) -> Result<LineFormat> {
        let format = LineFormat {
            parse_key: p.flag("parse.key").unwrap_or(false),
            key_separator: p.bytes("key.separator").unwrap_or_else(|| b"\t".to_vec()),
            parse_headers: p.flag("parse.headers").unwrap_or(false),
            headers_delimiter: p
                .bytes("headers.delimiter")
                .unwrap_or_else(|| b"\t".to_vec()),
            headers_separator: p
                .bytes("headers.separator")
                .unwrap_or_else(|| b",".to_vec()),
            headers_key_separator: p
                .bytes("headers.key.separator")
                .unwrap_or_else(|| b":".to_vec()),
            null_marker: p.bytes("null.marker"),
            ignore_error: p.flag("ignore.error").unwrap_or(false),
        };
        let separators = [
            ("key.separator", &format.key_separator),
            ("headers.delimiter", &format.headers_delimiter),
            ("headers.separator", &format.headers_separator),
            ("headers.key.separator", &format.headers_key_separator),
        ];
        for (name, value) in separators {
            if value.is_empty() {
                bail!("{name} must not be empty");
            }
            if format.null_marker.as_ref() == Some(value) {
                bail!("null.marker and {name} may not be equal");
            }
        }
        for (i, (a, x)) in separators.iter().enumerate().skip(1) {
            for (b, y) in separators.iter().skip(i + 1) {
                if x == y {
                    bail!("{a} and {b} may not be equal");
                }
            }
        }
        Ok(format)
    }

    /// The record line `number` (from 1) holds.
    pub fn parse(&self, line: &[u8], number: u64) -> Result<NewRecord> {
        let mut rest = line;
        let shown = || String::from_utf8_lossy(line).into_owned();
        let mut take = |enabled: bool, separator: &[u8], what: &str| -> Result<Option<Vec<u8>>> {
            if !enabled {
                return Ok(None);
            }
            match find(rest, separator) {
                Some(at) => {
                    let part = rest[..at].to_vec();
                    rest = &rest[at + separator.len()..];
                    Ok(Some(part))
                }
                None if self.ignore_error => Ok(None),
                None => bail!("No {what} found on line number {number}: '{}'", shown()),
            }
        };
        let headers = take(
            self.parse_headers,
            &self.headers_delimiter,
            "headers delimiter",
        )?;
        let key = take(self.parse_key, &self.key_separator, "key separator")?;
        let value = rest.to_vec();
        let headers = match headers {
            Some(h) if !self.is_null(&h) => self.headers(&h, number)?,
            _ => Vec::new(),
        };
        Ok(NewRecord {
            key: key.filter(|k| !self.is_null(k)).map(Bytes::from),
            value: (!self.is_null(&value)).then(|| Bytes::from(value)),
            timestamp: now_ms(),
            headers,
        })
    }

    fn headers(&self, headers: &[u8], number: u64) -> Result<Vec<(String, Option<Bytes>)>> {
        split(headers, &self.headers_separator)
            .into_iter()
            .map(|pair| {
                let Some(at) = find(pair, &self.headers_key_separator) else {
                    if self.ignore_error {
                        return Ok((String::from_utf8_lossy(pair).into_owned(), None));
                    }
                    bail!(
                        "No header key separator found in pair '{}' on line number {number}",
                        String::from_utf8_lossy(pair)
                    );
                };
                let key = &pair[..at];
                if self.is_null(key) {
                    bail!(
                        "Header keys should not be equal to the null marker '{}' as they can't be null",
                        String::from_utf8_lossy(key)
                    );
                }
                let value = &pair[at + self.headers_key_separator.len()..];
                let value = (!self.is_null(value)).then(|| Bytes::copy_from_slice(value));
                Ok((String::from_utf8_lossy(key).into_owned(), value))
            })
            .collect()
    }

    fn is_null(&self, field: &[u8]) -> bool {
        self.null_marker.as_deref() == Some(field)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(bytes: &'a [u8], separator: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    let mut rest = bytes;
    while let Some(at) = find(rest, separator) {
        parts.push(&rest[..at]);
        rest = &rest[at + separator.len()..];
    }
    parts.push(rest);
    parts
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(props: &[&str]) -> Result<LineFormat> {
        let props: Vec<String> = props.iter().map(|s| s.to_string()).collect();
        LineFormat::from_properties(&Properties::parse(&props, READER_PROPERTIES)?)
    }

    fn kv(r: &NewRecord) -> (Option<&[u8]>, Option<&[u8]>) {
        (r.key.as_deref(), r.value.as_deref())
    }

    #[test]
    fn plain_lines_are_values() {
        let f = format(&[]).unwrap();
        let r = f.parse(b"hello:world\tx", 1).unwrap();
        assert_eq!(kv(&r), (None, Some(&b"hello:world\tx"[..])));
        assert!(r.headers.is_empty() && r.timestamp > 0);
        assert_eq!(kv(&f.parse(b"", 2).unwrap()), (None, Some(&b""[..])));
    }

    #[test]
    fn keys_split_at_the_first_separator() {
        let f = format(&["parse.key=true", "key.separator=:"]).unwrap();
        assert_eq!(
            kv(&f.parse(b"k:v:w", 1).unwrap()),
            (Some(&b"k"[..]), Some(&b"v:w"[..]))
        );
        assert_eq!(
            kv(&f.parse(b":v", 1).unwrap()),
            (Some(&b""[..]), Some(&b"v"[..]))
        );
        let err = f.parse(b"no separator", 7).unwrap_err();
        assert_eq!(
            err.to_string(),
            "No key separator found on line number 7: 'no separator'"
        );
        let lenient = format(&["parse.key=true", "key.separator=::", "ignore.error=true"]).unwrap();
        assert_eq!(
            kv(&lenient.parse(b"a:b", 1).unwrap()),
            (None, Some(&b"a:b"[..]))
        );
        assert_eq!(
            kv(&lenient.parse(b"a::b", 1).unwrap()),
            (Some(&b"a"[..]), Some(&b"b"[..]))
        );
    }

    #[test]
    fn null_marker_and_headers() {
        let f = format(&[
            "parse.key=true",
            "key.separator=|",
            "parse.headers=true",
            "null.marker=NULL",
        ])
        .unwrap();
        let r = f.parse(b"h1:a,h2:NULL,h3:\tNULL|NULL", 1).unwrap();
        assert_eq!(kv(&r), (None, None));
        assert_eq!(
            r.headers,
            vec![
                ("h1".to_string(), Some(Bytes::from_static(b"a"))),
                ("h2".to_string(), None),
                ("h3".to_string(), Some(Bytes::new())),
            ]
        );
        assert!(f.parse(b"NULL:x\tk|v", 1).is_err());
        assert!(f
            .parse(b"nokeysep\tk|v", 1)
            .unwrap_err()
            .to_string()
            .contains("header key separator"));
        assert!(f
            .parse(b"k|v", 3)
            .unwrap_err()
            .to_string()
            .contains("No headers delimiter found on line number 3"));
    }

    #[test]
    fn rejects_clashing_settings() {
        assert!(format(&["key.separator="]).is_err());
        assert!(format(&["null.marker=\t"])
            .unwrap_err()
            .to_string()
            .contains("null.marker and key.separator"));
        assert!(format(&["headers.separator=:"])
            .unwrap_err()
            .to_string()
            .contains("headers.separator and headers.key.separator"));
        assert!(format(&["parse.keys=true"]).is_err());
    }

    #[test]
    fn acks_and_codecs_parse_as_kafka_spells_them() {
        assert_eq!(parse_acks("all"), Ok(Acks::All));
        assert_eq!(parse_acks("-1"), Ok(Acks::All));
        assert_eq!(parse_acks("0"), Ok(Acks::None));
        assert!(parse_acks("2").is_err());
        assert_eq!(parse_compression("zstd"), Ok(Compression::Zstd));
        assert!(parse_compression("brotli").is_err());
    }
}
