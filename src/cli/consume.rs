//! `shoal consume`: Kafka's kafka-console-consumer.sh — records printed one per line
//! with its DefaultMessageFormatter's properties and layout.
//!
//! Without a group the tool reads every partition (or the one --partition names) itself:
//! it resolves where to start with ListOffsets, then fetches from each leader in turn,
//! following leaders through Metadata when they move. As a member of a consumer group
//! (--group, `consume_group`) it reads the partitions the group assigns it, from their
//! committed offsets, and heartbeats and commits between fetches.

use std::io::{self, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use kafka_protocol::records::{Record, TimestampType};

use super::consume_group::{GroupProtocol, MemberSettings, Membership};
use super::properties::{self, Properties};
use super::reader::{Reader, Start, Topics};
use super::ConnectArgs;
use crate::client::cluster::Cluster;
use crate::client::fetch::{Isolation, EARLIEST, LATEST};

/// Longest a fetch waits for records at the broker (the Java consumer's fetch.max.wait.ms).
const FETCH_WAIT_MAX: Duration = Duration::from_millis(500);

pub const FORMATTER_PROPERTIES: &[&str] = &[
    "print.timestamp",
    "print.key",
    "print.value",
    "print.partition",
    "print.offset",
    "print.headers",
    "key.separator",
    "line.separator",
    "headers.separator",
    "null.literal",
];

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("topics").required(true).args(["topic", "include"])))]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The topic to consume.
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,
    /// Consume every topic whose whole name this regular expression matches (internal
    /// topics aside), topics created later included (Kafka's --include).
    #[arg(long, value_name = "REGEX")]
    pub include: Option<String>,
    /// Start from the earliest record rather than the latest (also where a reader whose
    /// offset fell out of range resumes).
    #[arg(long, conflicts_with = "offset")]
    pub from_beginning: bool,
    /// How records print (repeatable): print.key, print.value (default true),
    /// print.partition, print.offset, print.timestamp, print.headers, key.separator
    /// (default tab), line.separator, headers.separator, null.literal.
    #[arg(
        long = "property",
        alias = "formatter-property",
        value_name = "KEY=VALUE"
    )]
    pub properties: Vec<String>,
    /// A file of such properties, read before --property.
    #[arg(long = "formatter-config", value_name = "FILE")]
    pub formatter_config: Option<std::path::PathBuf>,
    /// Exit after printing this many records.
    #[arg(long, value_name = "N")]
    pub max_messages: Option<u64>,
    /// Read only this partition (of --topic).
    #[arg(long, value_name = "PARTITION")]
    pub partition: Option<i32>,
    /// With --partition: where to start, an offset or earliest or latest (default latest).
    #[arg(
        long,
        value_name = "OFFSET",
        requires = "partition",
        allow_negative_numbers = true
    )]
    pub offset: Option<String>,
    /// Exit when no record has arrived for this many milliseconds.
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Consume as a member of this consumer group: read the partitions it assigns, from
    /// its committed offsets (else as --from-beginning says), committing what was printed
    /// every 5 s and on exit. Without it, every partition is read and nothing committed.
    #[arg(long, value_name = "GROUP", conflicts_with = "partition")]
    pub group: Option<String>,
    /// read_committed leaves out aborted transactions' records and reads up to the last
    /// stable offset; read_uncommitted (the default) reads everything.
    #[arg(long, value_name = "LEVEL", value_parser = parse_isolation)]
    pub isolation_level: Option<Isolation>,
    /// How records print: Kafka's DefaultMessageFormatter (the default, by either of
    /// its class names), or its NoOpMessageFormatter (nothing).
    #[arg(long, value_name = "CLASS")]
    pub formatter: Option<String>,
    /// A consumer property (repeatable; Kafka's --command-property too): group.id,
    /// group.protocol (classic or consumer), group.remote.assignor,
    /// auto.offset.reset, isolation.level and client.id are read, and the login and TLS
    /// keys --command-config takes. The flags above win over them.
    #[arg(
        long = "consumer-property",
        alias = "command-property",
        value_name = "KEY=VALUE"
    )]
    pub consumer_properties: Vec<String>,
    /// A file of consumer properties, read after --command-config's and before
    /// --consumer-property.
    #[arg(long = "consumer.config", value_name = "FILE")]
    pub consumer_config: Option<std::path::PathBuf>,
    /// Kafka's: go on past a record the formatter fails on. shoal's formatters print any
    /// record, so there is none to skip; a standard output that takes no more ends the
    /// consumer, with or without this flag, as Kafka's does.
    #[arg(long)]
    pub skip_message_on_error: bool,
    /// Print `shutdown_complete` on standard output once the consumer has closed, the
    /// event Kafka's system tests wait for.
    #[arg(long)]
    pub enable_systest_events: bool,
}

pub fn parse_isolation(s: &str) -> Result<Isolation, String> {
    match s {
        "read_committed" => Ok(Isolation::ReadCommitted),
        "read_uncommitted" => Ok(Isolation::ReadUncommitted),
        _ => Err("expected read_committed or read_uncommitted".into()),
    }
}

/// The consumer properties `Settings` reads; `client.id` and the login and TLS keys are
/// the connection's.
const CONSUMER_KEYS: [&str; 7] = [
    "group.id",
    "group.protocol",
    "group.remote.assignor",
    "auto.offset.reset",
    "isolation.level",
    "client.id",
    "metadata.max.age.ms",
];

/// Kafka's DefaultMessageFormatter, by its old and its new class name.
const DEFAULT_FORMATTERS: [&str; 2] = [
    "kafka.tools.DefaultMessageFormatter",
    "org.apache.kafka.tools.consumer.DefaultMessageFormatter",
];
/// Kafka's NoOpMessageFormatter, which prints nothing.
const NO_OP_FORMATTERS: [&str; 2] = [
    "kafka.tools.NoOpMessageFormatter",
    "org.apache.kafka.tools.consumer.NoOpMessageFormatter",
];

/// How the consumer reads: each flag if given, else its consumer property, else the
/// console consumer's default; Kafka's refusals where the two disagree.
struct Settings {
    group: Option<String>,
    /// How the group's member takes part (`group.protocol`).
    member: MemberSettings,
    /// Where a partition with no position starts: EARLIEST or LATEST.
    reset: i64,
    isolation: Isolation,
    /// `None`: NoOpMessageFormatter.
    format: Option<Format>,
}

impl Settings {
    fn of(args: &ConsumeArgs, client: &[(String, String)]) -> Result<Settings> {
        properties::warn_unused("consume", client, &CONSUMER_KEYS);
        // Every group id given: the flag's, and each in the properties (a file's and
        // --consumer-property's), which must all agree, as Kafka's tool checks.
        let mut groups: Vec<&str> = args.group.as_deref().into_iter().collect();
        for (key, value) in client {
            if key == "group.id" && !groups.contains(&value.trim()) {
                groups.push(value.trim());
            }
        }
        if groups.len() > 1 {
            bail!(
                "The group ids provided in different places (directly using '--group', via \
                 '--consumer-property', or via '--consumer.config') do not match. Detected \
                 group ids: {}",
                groups
                    .iter()
                    .map(|g| format!("'{g}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if args.partition.is_some() && args.topic.is_none() {
            bail!("The topic is required when partition is specified.");
        }
        let group = groups.first().map(|g| g.to_string());
        if group.is_some() && args.partition.is_some() {
            bail!("Options group and partition cannot be specified together");
        }
        let reset = match (
            args.from_beginning,
            properties::last(client, "auto.offset.reset"),
        ) {
            (true, Some(value)) if value != "earliest" => bail!(
                "Can't simultaneously specify --from-beginning and 'auto.offset.reset={value}'"
            ),
            (true, _) | (false, Some("earliest")) => EARLIEST,
            (false, None | Some("latest")) => LATEST,
            (false, Some(value)) => bail!(
                "auto.offset.reset={value}: the console consumer starts at earliest or latest"
            ),
        };
        let isolation = match args.isolation_level {
            Some(level) => level,
            None => {
                properties::parsed(client, "isolation.level", parse_isolation)?.unwrap_or_default()
            }
        };
        let format = match args.formatter.as_deref() {
            None => true,
            Some(class) if DEFAULT_FORMATTERS.contains(&class) => true,
            Some(class) if NO_OP_FORMATTERS.contains(&class) => false,
            Some(class) => bail!(
                "--formatter {class}: shoal prints with Kafka's DefaultMessageFormatter or NoOpMessageFormatter"
            ),
        };
        let format = format
            .then(|| {
                let pairs = properties::with_file(
                    args.formatter_config.as_deref(),
                    "--formatter-config",
                    &args.properties,
                )?;
                Properties::parse(&pairs, FORMATTER_PROPERTIES)
            })
            .transpose()?
            .map(|p| Format::from_properties(&p));
        let member = MemberSettings {
            protocol: GroupProtocol::of_properties(client)?,
            ..MemberSettings::default()
        };
        Ok(Settings {
            group,
            member,
            reset,
            isolation,
            format,
        })
    }
}

pub fn parse_offset(offset: &str) -> Result<Start> {
    match offset {
        "earliest" => Ok(Start::Earliest),
        "latest" => Ok(Start::Latest),
        n => match n.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Start::Offset(n)),
            _ => bail!(
                "the offset '{offset}' is not valid: use 'earliest', 'latest' or a non-negative number"
            ),
        },
    }
}

pub fn run(args: ConsumeArgs) -> Result<()> {
    let (client, options) = args.connect.client(
        "console-consumer",
        args.consumer_config
            .as_deref()
            .map(|p| (p, "--consumer.config")),
        (&args.consumer_properties, "--consumer-property"),
    )?;
    let settings = Settings::of(&args, &client)?;
    // As Kafka's tool: one partition starts where --offset or --from-beginning say
    // (else at the end); the rest where auto.offset.reset says.
    let start = match (&args.offset, args.partition) {
        (Some(offset), _) => parse_offset(offset)?,
        (None, Some(_)) if args.from_beginning => Start::Earliest,
        (None, Some(_)) => Start::Latest,
        (None, None) if settings.reset == EARLIEST => Start::Earliest,
        (None, None) => Start::Latest,
    };
    let stop = super::stop_flag()?;
    let cluster = Cluster::connect(&args.connect.bootstrap_server, options)?;
    let wanted = Topics::of_flags(args.topic.as_deref(), args.include.as_deref(), &client)?;
    let mut reader = Reader::open(cluster, wanted, false)?;
    reader.reset = settings.reset;
    reader.isolation = settings.isolation;
    let mut partitions = reader.partitions();
    if let Some(p) = args.partition {
        let count = partitions.len();
        partitions.retain(|(_, index)| *index == p);
        if partitions.is_empty() {
            bail!(
                "partition {p} of topic '{}' does not exist (it has {count})",
                args.topic.as_deref().unwrap_or_default(),
            );
        }
    }
    let mut membership = match &settings.group {
        Some(group) => Some(Membership::join(
            &mut reader,
            group,
            args.connect.timeout(),
            settings.member.clone(),
        )?),
        None => {
            reader.seek(&partitions, start)?;
            None
        }
    };
    let mut out = io::BufWriter::new(io::stdout().lock());
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let mut printed = 0u64;
    let mut last_record = Instant::now();
    let result = (|| -> Result<()> {
        loop {
            if stop.load(Ordering::Relaxed) || args.max_messages.is_some_and(|m| printed >= m) {
                return Ok(());
            }
            let quiet = last_record.elapsed();
            let wait = match timeout {
                Some(t) if quiet >= t => return Ok(()),
                Some(t) => t.saturating_sub(quiet).min(FETCH_WAIT_MAX),
                None => FETCH_WAIT_MAX,
            };
            match membership.as_mut() {
                Some(membership) => membership.tick(&mut reader)?,
                // Topics (or partitions) that appear are read from where the reset
                // points; --partition reads its one partition only.
                None if args.partition.is_none() && reader.topics_changed()? => {
                    let read = reader.assigned();
                    let unread: Vec<_> = reader
                        .partitions()
                        .into_iter()
                        .filter(|tp| !read.contains(tp))
                        .collect();
                    reader.resolve(&unread, reader.reset)?;
                }
                None => {}
            }
            let fetched = if reader.idle() {
                // A group member given no partitions (or a pattern matching no topic):
                // nothing to fetch, only heartbeats.
                std::thread::sleep(wait);
                Vec::new()
            } else {
                reader.poll(wait)?
            };
            if !fetched.is_empty() {
                last_record = Instant::now();
            }
            for partition in fetched {
                let mut last = None;
                for record in &partition.records {
                    if args.max_messages.is_some_and(|m| printed >= m) {
                        break;
                    }
                    if let Some(format) = &settings.format {
                        if let Err(error) = format.write(&mut out, partition.partition, record) {
                            return unable_to_write(error);
                        }
                    }
                    printed += 1;
                    last = Some(record.offset);
                }
                if let (Some(membership), Some(offset)) = (membership.as_mut(), last) {
                    membership.printed(&partition.topic, partition.partition, offset);
                }
            }
            if let Err(error) = out.flush() {
                return unable_to_write(error);
            }
        }
    })();
    let _ = out.flush();
    let left = match membership {
        Some(membership) => membership.close(&mut reader),
        None => Ok(()),
    };
    eprintln!("Processed a total of {printed} messages");
    if args.enable_systest_events {
        // Not println!: it panics on a standard output that is gone.
        let _ = writeln!(io::stdout(), "shutdown_complete");
    }
    result.and(left)
}

/// Standard output takes no more (a closed pipe, a full disk): the consumer ends, its
/// group membership closed as usual, as Kafka's tool ends then.
fn unable_to_write(error: io::Error) -> Result<()> {
    eprintln!("Unable to write to standard out, closing consumer. ({error})");
    Ok(())
}

/// Kafka's DefaultMessageFormatter: the fields asked for, in its order (timestamp,
/// partition, offset, headers, key, value), separated by key.separator, ended by
/// line.separator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    timestamp: bool,
    partition: bool,
    offset: bool,
    headers: bool,
    key: bool,
    value: bool,
    key_separator: Vec<u8>,
    line_separator: Vec<u8>,
    headers_separator: Vec<u8>,
    null_literal: Vec<u8>,
}

impl Format {
    pub fn from_properties(p: &Properties) -> Format {
        Format {
            timestamp: p.flag("print.timestamp").unwrap_or(false),
            partition: p.flag("print.partition").unwrap_or(false),
            offset: p.flag("print.offset").unwrap_or(false),
            headers: p.flag("print.headers").unwrap_or(false),
            key: p.flag("print.key").unwrap_or(false),
            value: p.flag("print.value").unwrap_or(true),
            key_separator: p.bytes("key.separator").unwrap_or_else(|| b"\t".to_vec()),
            line_separator: p.bytes("line.separator").unwrap_or_else(|| b"\n".to_vec()),
            headers_separator: p
                .bytes("headers.separator")
                .unwrap_or_else(|| b",".to_vec()),
            null_literal: p.bytes("null.literal").unwrap_or_else(|| b"null".to_vec()),
        }
    }

    pub fn write(&self, out: &mut impl Write, partition: i32, record: &Record) -> io::Result<()> {
        let mut fields: Vec<Vec<u8>> = Vec::new();
        if self.timestamp {
            let kind = match record.timestamp_type {
                TimestampType::Creation => "CreateTime",
                TimestampType::LogAppend => "LogAppendTime",
            };
            fields.push(format!("{kind}:{}", record.timestamp).into_bytes());
        }
        if self.partition {
            fields.push(format!("Partition:{partition}").into_bytes());
        }
        if self.offset {
            fields.push(format!("Offset:{}", record.offset).into_bytes());
        }
        if self.headers {
            fields.push(self.headers_field(record));
        }
        if self.key {
            fields.push(self.or_null(record.key.as_deref()).to_vec());
        }
        if self.value {
            fields.push(self.or_null(record.value.as_deref()).to_vec());
        }
        if fields.is_empty() {
            return Ok(());
        }
        out.write_all(&fields.join(&self.key_separator[..]))?;
        out.write_all(&self.line_separator)
    }

    fn headers_field(&self, record: &Record) -> Vec<u8> {
        if record.headers.is_empty() {
            return b"NO_HEADERS".to_vec();
        }
        let pairs: Vec<Vec<u8>> = record
            .headers
            .iter()
            .map(|(k, v)| [k.as_bytes(), b":", self.or_null(v.as_deref())].concat())
            .collect();
        pairs.join(&self.headers_separator[..])
    }

    fn or_null<'a>(&'a self, bytes: Option<&'a [u8]>) -> &'a [u8] {
        bytes.unwrap_or(&self.null_literal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use indexmap::IndexMap;
    use kafka_protocol::protocol::StrBytes;

    fn record(
        key: Option<&'static [u8]>,
        value: Option<&'static [u8]>,
        headers: &[(&'static str, Option<&'static [u8]>)],
    ) -> Record {
        Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 42,
            sequence: 0,
            timestamp: 1_700_000_000_123,
            key: key.map(Bytes::from_static),
            value: value.map(Bytes::from_static),
            headers: headers
                .iter()
                .map(|(k, v)| (StrBytes::from_static_str(k), v.map(Bytes::from_static)))
                .collect::<IndexMap<_, _>>(),
        }
    }

    fn printed(props: &[&str], partition: i32, r: &Record) -> String {
        let props: Vec<String> = props.iter().map(|s| s.to_string()).collect();
        let f = Format::from_properties(&Properties::parse(&props, FORMATTER_PROPERTIES).unwrap());
        let mut out = Vec::new();
        f.write(&mut out, partition, r).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_only_by_default() {
        let r = record(Some(b"k"), Some(b"v"), &[]);
        assert_eq!(printed(&[], 0, &r), "v\n");
        assert_eq!(printed(&[], 0, &record(None, None, &[])), "null\n");
    }

    #[test]
    fn every_field_in_kafkas_order() {
        let r = record(Some(b"k"), Some(b"v"), &[("a", Some(b"1")), ("b", None)]);
        let all = [
            "print.timestamp=true",
            "print.partition=true",
            "print.offset=true",
            "print.headers=true",
            "print.key=true",
        ];
        assert_eq!(
            printed(&all, 3, &r),
            "CreateTime:1700000000123\tPartition:3\tOffset:42\ta:1,b:null\tk\tv\n"
        );
        assert_eq!(
            printed(
                &[
                    "print.key=true",
                    "key.separator=:",
                    "line.separator=;",
                    "null.literal=-"
                ],
                0,
                &record(None, Some(b"v"), &[])
            ),
            "-:v;"
        );
        assert_eq!(
            printed(&["print.key=true", "print.value=false"], 0, &r),
            "k\n"
        );
        assert_eq!(printed(&["print.value=false"], 0, &r), "");
        assert_eq!(
            printed(
                &["print.headers=true", "print.value=false"],
                0,
                &record(None, None, &[])
            ),
            "NO_HEADERS\n"
        );
    }

    #[test]
    fn offsets_parse_as_kafka_takes_them() {
        assert_eq!(parse_offset("earliest").unwrap(), Start::Earliest);
        assert_eq!(parse_offset("latest").unwrap(), Start::Latest);
        assert_eq!(parse_offset("17").unwrap(), Start::Offset(17));
        assert!(parse_offset("-1").is_err());
        assert!(parse_offset("beginning").is_err());
    }
}
