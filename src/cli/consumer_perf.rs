//! `shoal consumer-perf-test`: Kafka's kafka-consumer-perf-test.sh. It reads
//! `--num-records` records of a topic as a member of a consumer group and prints, in
//! Kafka's columns, how much it read and how fast: one line at the end, or one per
//! `--reporting-interval` with `--show-detailed-stats`.
//!
//! The reading and the group are the console consumer's (`reader::Reader`,
//! `consume_group::Membership`: a classic group, range assignment, auto-commit), so the
//! rebalance time is its join. Bytes count keys and values, as Kafka's tool counts them.
//! Where it differs from Kafka's: `--socket-buffer-size` changes nothing (the kernel
//! sizes socket buffers), and `--print-metrics` prints only the consumer metrics shoal's
//! reader measures.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use clap::Args;

use super::consume::parse_isolation;
use super::consume_group::{GroupProtocol, MemberSettings, Membership};
use super::properties::parsed;
use super::reader::{Reader, Topics};
use super::{say, ToolClient};
use crate::client::cluster::Cluster;
use crate::client::fetch::{EARLIEST, LATEST};

/// How long one fetch may wait for records (Kafka's tool polls for 100 ms).
const POLL_WAIT: Duration = Duration::from_millis(100);
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("topics").required(true).args(["topic", "include"])))]
pub struct ConsumerPerfArgs {
    /// The broker to connect to; a comma-separated list tries each in turn.
    #[arg(
        long,
        alias = "broker-list",
        value_name = "HOST:PORT",
        default_value = "localhost:9092"
    )]
    pub bootstrap_server: String,
    /// The topic to read.
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,
    /// Read every topic whose whole name this regular expression matches (internal
    /// topics aside), topics created later included.
    #[arg(long, value_name = "REGEX")]
    pub include: Option<String>,
    /// The consumer group (default perf-consumer-N, N random below 100000).
    #[arg(long, value_name = "GID")]
    pub group: Option<String>,
    /// Bytes a fetch asks of each partition at most (max.partition.fetch.bytes).
    #[arg(long, value_name = "SIZE", default_value_t = 1_048_576,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub fetch_size: i32,
    /// Start partitions without a committed offset at their end, not their start.
    #[arg(long)]
    pub from_latest: bool,
    /// Taken for Kafka's scripts; the kernel sizes socket buffers.
    #[arg(long, value_name = "SIZE", default_value_t = 2_097_152)]
    pub socket_buffer_size: u32,
    /// A file of consumer properties (Kafka 4.2's --command-config).
    #[arg(
        long = "consumer.config",
        value_name = "CONFIG-FILE",
        conflicts_with = "command_config"
    )]
    pub consumer_config: Option<PathBuf>,
    /// A file of consumer properties: isolation.level, client.id, request.timeout.ms and
    /// the login and TLS keys are read.
    #[arg(long, value_name = "CONFIG-FILE")]
    pub command_config: Option<PathBuf>,
    /// A consumer property (repeatable); wins over the file's.
    #[arg(
        long = "command-property",
        alias = "consumer-property",
        value_name = "PROP=VALUE"
    )]
    pub command_property: Vec<String>,
    /// Print the consumer's metrics at the end.
    #[arg(long)]
    pub print_metrics: bool,
    /// A line per --reporting-interval instead of one at the end.
    #[arg(long)]
    pub show_detailed_stats: bool,
    /// Stop when no record came for this long, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    pub timeout: u64,
    /// Records to read (Kafka 3's --messages).
    #[arg(long, alias = "messages", value_name = "COUNT")]
    pub num_records: u64,
    /// Milliseconds between --show-detailed-stats lines.
    #[arg(long, value_name = "INTERVAL_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub reporting_interval: u64,
    /// How times are printed (Java's SimpleDateFormat letters y M d H h m s S a E Z,
    /// text in single quotes).
    #[arg(long, value_name = "FORMAT", default_value = "yyyy-MM-dd HH:mm:ss:SSS")]
    pub date_format: String,
    /// Print no header line.
    #[arg(long)]
    pub hide_header: bool,
    /// Kafka 3's, ignored there as here.
    #[arg(long, value_name = "COUNT", hide = true)]
    pub threads: Option<u32>,
    /// Kafka 3's, ignored there as here.
    #[arg(long, value_name = "COUNT", hide = true)]
    pub num_fetch_threads: Option<u32>,
}

/// The consumer properties read; the login and TLS keys are the connection's.
const CONSUMER_KEYS: [&str; 10] = [
    "isolation.level",
    "group.protocol",
    "group.remote.assignor",
    "client.id",
    "request.timeout.ms",
    "metadata.max.age.ms",
    // Set by the tool's own flags, as Kafka's tool sets them over the properties.
    "group.id",
    "auto.offset.reset",
    "max.partition.fetch.bytes",
    "receive.buffer.bytes",
];

/// Counts so far, and at the last detailed line.
#[derive(Default, Clone, Copy)]
struct Counts {
    records: u64,
    bytes: u64,
}

pub fn run(args: ConsumerPerfArgs) -> Result<()> {
    if args.threads.is_some() || args.num_fetch_threads.is_some() {
        say("WARNING: option [threads] and [num-fetch-threads] have been deprecated and will be ignored by the test")?;
    }
    let ToolClient {
        connect,
        properties: props,
        options,
    } = ToolClient::new(
        "consumer-perf-test",
        (&args.bootstrap_server, "perf-consumer-client"),
        (
            args.consumer_config
                .as_deref()
                .map(|path| (path, "--consumer.config")),
            args.command_config.as_deref(),
        ),
        (&args.command_property, "--command-property"),
        &CONSUMER_KEYS,
    )?;
    let isolation = parsed(&props, "isolation.level", parse_isolation)?.unwrap_or_default();
    let group = args
        .group
        .clone()
        .unwrap_or_else(|| format!("perf-consumer-{}", fastrand::u32(..100_000)));
    let dates = DateFormat::parse(&args.date_format)?;
    if !args.hide_header {
        say(if args.show_detailed_stats {
            "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
        } else {
            "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
        })?;
    }
    let stop = super::stop_flag()?;
    let client_id = options.client_id.clone();
    let cluster = Cluster::connect(&connect.bootstrap_server, options)?;
    let wanted = Topics::of_flags(args.topic.as_deref(), args.include.as_deref(), &props)?;
    let mut reader = Reader::open(cluster, wanted, false)?;
    reader.reset = if args.from_latest { LATEST } else { EARLIEST };
    reader.isolation = isolation;
    reader.partition_max_bytes = args.fetch_size;
    let start_ms = now_ms();
    let started = Instant::now();
    let joining = Instant::now();
    let mut membership = Membership::join(
        &mut reader,
        &group,
        connect.timeout(),
        MemberSettings {
            protocol: GroupProtocol::of_properties(&props)?,
            ..MemberSettings::default()
        },
    )?;
    let mut join = joining.elapsed();
    let mut interval_join = join;
    let timeout = Duration::from_millis(args.timeout);
    let interval = Duration::from_millis(args.reporting_interval);
    let mut last_records = Instant::now();
    let (mut total, mut reported) = (Counts::default(), Counts::default());
    let mut last_report = (Instant::now(), start_ms);
    let result = (|| -> Result<()> {
        while total.records < args.num_records
            && last_records.elapsed() <= timeout
            && !stop.load(Ordering::Relaxed)
        {
            let moves = membership.moves();
            let ticked = Instant::now();
            membership.tick(&mut reader)?;
            if membership.moves() != moves {
                join += ticked.elapsed();
                interval_join += ticked.elapsed();
            }
            let fetched = if reader.idle() {
                // Given no partitions: nothing to fetch, only heartbeats.
                std::thread::sleep(POLL_WAIT);
                Vec::new()
            } else {
                reader.poll(POLL_WAIT)?
            };
            if !fetched.is_empty() {
                last_records = Instant::now();
            }
            // As Kafka's tool: the whole of what a poll brought counts.
            for partition in &fetched {
                for record in &partition.records {
                    total.records += 1;
                    total.bytes += (record.key.as_ref().map_or(0, |k| k.len())
                        + record.value.as_ref().map_or(0, |v| v.len()))
                        as u64;
                }
                if let Some(last) = partition.records.last() {
                    membership.printed(&partition.topic, partition.partition, last.offset);
                }
            }
            // As Kafka's tool, a detailed line comes with records.
            if args.show_detailed_stats
                && !fetched.is_empty()
                && last_report.0.elapsed() >= interval
            {
                let now = now_ms();
                say(detailed_line(
                    &dates.format(now),
                    total,
                    reported,
                    last_report.0.elapsed(),
                    interval_join,
                ))?;
                (reported, interval_join, last_report) =
                    (total, Duration::ZERO, (Instant::now(), now));
            }
        }
        Ok(())
    })();
    let left = membership.close(&mut reader);
    result?;
    left?;
    if total.records < args.num_records {
        say(format!(
            "WARNING: Exiting before consuming the expected number of records: timeout ({} ms) exceeded. You can use the --timeout option to increase the timeout.",
            args.timeout
        ))?;
    }
    let end_ms = now_ms();
    if !args.show_detailed_stats {
        say(final_line(
            (&dates.format(start_ms), &dates.format(end_ms)),
            total,
            Duration::from_millis(started.elapsed().as_millis() as u64),
            join,
        ))?;
    }
    if args.print_metrics {
        let name = format!(
            "consumer-fetch-manager-metrics:records-consumed-total:{{client-id={client_id}}}"
        );
        let width = name.len();
        say(format!(
            "\n{:<width$}   Value\n{name} : {:.3}",
            "Metric Name", total.records as f64
        ))?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Per second of `elapsed`, as Kafka's tool divides (no guard: 0 s gives infinity).
fn per_second(amount: f64, elapsed: Duration) -> f64 {
    amount / elapsed.as_secs_f64()
}

/// Kafka's summary columns: the times, MB read and MB/s, records read and records/s,
/// the rebalance time, and the fetch time with the rates over it.
fn final_line(times: (&str, &str), total: Counts, elapsed: Duration, join: Duration) -> String {
    let mb = total.bytes as f64 / MIB;
    let fetch = elapsed.saturating_sub(join);
    format!(
        "{}, {}, {mb:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        times.0,
        times.1,
        per_second(mb, elapsed),
        total.records,
        per_second(total.records as f64, elapsed),
        join.as_millis(),
        fetch.as_millis(),
        per_second(mb, fetch),
        per_second(total.records as f64, fetch),
    )
}

/// Kafka's detailed line: the time, thread 0, MB read so far and MB/s over the interval,
/// records so far and records/s over it, the interval's rebalance time, and its fetch
/// time with the rates over that (0 when it had none).
fn detailed_line(
    time: &str,
    total: Counts,
    last: Counts,
    elapsed: Duration,
    join: Duration,
) -> String {
    let mb = (total.bytes - last.bytes) as f64 / MIB;
    let records = (total.records - last.records) as f64;
    let fetch = elapsed.saturating_sub(join);
    let over_fetch = |amount: f64| {
        if fetch.is_zero() {
            0.0
        } else {
            per_second(amount, fetch)
        }
    };
    format!(
        "{time}, 0, {:.4}, {:.4}, {}, {:.4}, {}, {}, {:.4}, {:.4}",
        total.bytes as f64 / MIB,
        per_second(mb, elapsed),
        total.records,
        per_second(records, elapsed),
        join.as_millis(),
        fetch.as_millis(),
        over_fetch(mb),
        over_fetch(records),
    )
}

/// A Java SimpleDateFormat pattern, for the letters Kafka's users put in
/// `--date-format`; times print in the local time zone, as Java's do.
#[derive(Debug, PartialEq)]
struct DateFormat(Vec<Piece>);

#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    /// A pattern letter and how many times it was repeated.
    Field(char, usize),
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

impl DateFormat {
    fn parse(pattern: &str) -> Result<DateFormat> {
        let mut pieces = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                // Quoted text; '' is a quote.
                let mut text = String::new();
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    text.push('\'');
                } else {
                    loop {
                        match chars.next() {
                            Some('\'') if chars.peek() == Some(&'\'') => {
                                chars.next();
                                text.push('\'');
                            }
                            Some('\'') => break,
                            Some(c) => text.push(c),
                            None => bail!("--date-format {pattern}: a quote is not closed"),
                        }
                    }
                }
                pieces.push(Piece::Text(text));
            } else if c.is_ascii_alphabetic() {
                if !"yMdHhmsSaEZ".contains(c) {
                    bail!("--date-format {pattern}: the letter '{c}' is not one shoal prints (y M d H h m s S a E Z)");
                }
                let mut count = 1;
                while chars.peek() == Some(&c) {
                    chars.next();
                    count += 1;
                }
                pieces.push(Piece::Field(c, count));
            } else {
                pieces.push(Piece::Text(c.to_string()));
            }
        }
        Ok(DateFormat(pieces))
    }

    /// `ms` since the epoch in the local time zone.
    fn format(&self, ms: i64) -> String {
        let seconds = ms.div_euclid(1000) as libc::time_t;
        // SAFETY: localtime_r writes only the `tm` it is given, from a valid time_t.
        let tm = unsafe {
            let mut tm: libc::tm = std::mem::zeroed();
            libc::localtime_r(&seconds, &mut tm);
            tm
        };
        let millis = ms.rem_euclid(1000);
        let mut out = String::new();
        for piece in &self.0 {
            let (letter, width) = match piece {
                Piece::Text(text) => {
                    out.push_str(text);
                    continue;
                }
                Piece::Field(letter, width) => (*letter, *width),
            };
            let number = |value: i64| format!("{value:0width$}");
            let field = match letter {
                'y' if width == 2 => format!("{:02}", (tm.tm_year + 1900) % 100),
                'y' => number(i64::from(tm.tm_year) + 1900),
                'M' if width >= 3 => MONTHS[tm.tm_mon as usize % 12].to_string(),
                'M' => number(i64::from(tm.tm_mon) + 1),
                'd' => number(i64::from(tm.tm_mday)),
                'H' => number(i64::from(tm.tm_hour)),
                'h' => number(i64::from((tm.tm_hour + 11) % 12 + 1)),
                'm' => number(i64::from(tm.tm_min)),
                's' => number(i64::from(tm.tm_sec)),
                'S' => number(millis),
                'a' => (if tm.tm_hour < 12 { "AM" } else { "PM" }).to_string(),
                'E' => DAYS[tm.tm_wday as usize % 7].to_string(),
                _ => {
                    // 'Z': the offset from UTC, +hhmm.
                    let offset = tm.tm_gmtoff / 60;
                    let sign = if offset < 0 { '-' } else { '+' };
                    format!("{sign}{:02}{:02}", offset.abs() / 60, offset.abs() % 60)
                }
            };
            out.push_str(&field);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_javas_simple_date_format() {
        // Local time: compare with what the same letters give through libc's own
        // formatter, so the test holds in any time zone.
        let ms = 1_700_000_000_123;
        let ours = DateFormat::parse("yyyy-MM-dd HH:mm:ss:SSS")
            .unwrap()
            .format(ms);
        let seconds = (ms / 1000) as libc::time_t;
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let mut buffer = [0u8; 64];
        let written = unsafe {
            libc::localtime_r(&seconds, &mut tm);
            libc::strftime(
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                c"%Y-%m-%d %H:%M:%S".as_ptr(),
                &tm,
            )
        };
        let theirs = std::str::from_utf8(&buffer[..written]).unwrap();
        assert_eq!(ours, format!("{theirs}:123"));
        let quoted = DateFormat::parse("'at' HH 'o''clock' ''")
            .unwrap()
            .format(ms);
        assert!(
            quoted.starts_with("at ") && quoted.ends_with(" o'clock '"),
            "{quoted}"
        );
        assert!(DateFormat::parse("yyyy-MM-dd'T").is_err());
        assert!(DateFormat::parse("yyyy-ww").is_err());
    }

    #[test]
    fn lines_read_as_kafkas() {
        let total = Counts {
            records: 1000,
            bytes: 2 * 1024 * 1024,
        };
        assert_eq!(
            final_line(
                ("a", "b"),
                total,
                Duration::from_secs(4),
                Duration::from_secs(2)
            ),
            "a, b, 2.0000, 0.5000, 1000, 250.0000, 2000, 2000, 1.0000, 500.0000"
        );
        let last = Counts {
            records: 500,
            bytes: 1024 * 1024,
        };
        assert_eq!(
            detailed_line("t", total, last, Duration::from_secs(1), Duration::ZERO),
            "t, 0, 2.0000, 1.0000, 1000, 500.0000, 0, 1000, 1.0000, 500.0000"
        );
        // An interval spent rebalancing had no fetch time: its fetch rates are 0.
        assert!(detailed_line(
            "t",
            total,
            last,
            Duration::from_secs(1),
            Duration::from_secs(1)
        )
        .ends_with(", 1000, 0, 0.0000, 0.0000"));
    }
}
