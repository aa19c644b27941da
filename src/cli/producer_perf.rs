//! `shoal producer-perf-test`: Kafka's kafka-producer-perf-test.sh. It produces
//! `--num-records` records at up to `--throughput` records/s, prints a line for each 5 s
//! window and a summary with latency percentiles, in Kafka's words, so scripts that read
//! those lines carry over.
//!
//! The records are made and sent by the bench's producer (`crate::bench::producer`):
//! batches per partition as Kafka's producer fills them (`batch.size`, `linger.ms`),
//! unkeyed records sticking to a partition per batch, up to
//! `max.in.flight.requests.per.connection` requests unanswered per broker, idempotent
//! unless told otherwise, as Kafka's producer is. A record's latency runs from its making
//! to its acknowledgement.
//!
//! Where it differs from Kafka's: a failed send ends the run with the broker's error
//! (Kafka's prints a stack trace per record and goes on); percentiles come from every
//! latency (an HDR histogram), not a sample; latencies are measured in µs, so averages
//! and the largest are not whole milliseconds; `--print-metrics` prints only the
//! producer metrics shoal's producer measures.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{ArgGroup, Args};
use hdrhistogram::Histogram;
use kafka_protocol::records::Compression;

use super::produce::{parse_acks, parse_compression};
use super::properties::{self, last, parsed};
use super::{say, ConnectArgs};
use crate::bench::producer::{self, Payload, ProducerPlan};
use crate::bench::txn::{Commit, ProducerMode};
use crate::bench::{records_per_batch, Clock, Limit, Shared, WindowCounts};
use crate::client::cluster::{Cluster, Options};
use crate::client::produce::Acks;

/// Kafka's window: a line for every 5 s with acknowledgements in it.
const WINDOW: Duration = Duration::from_secs(5);
/// How often the window and the producer thread are looked at.
const TICK: Duration = Duration::from_millis(20);
/// Kafka's `--transaction-duration-ms` when transactions are on and it is not given.
const TRANSACTION_DURATION_DEFAULT_MS: u64 = 3_000;
/// Kafka's producer: at most this many requests in flight for an idempotent producer.
const IDEMPOTENT_IN_FLIGHT_MAX: usize = 5;
const MIB: f64 = 1024.0 * 1024.0;

#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("payload")
        .required(true)
        .args(["record_size", "payload_file", "payload_monotonic"])
))]
pub struct ProducerPerfArgs {
    /// The topic to produce to (created on first use if the broker auto-creates topics).
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// Records to produce.
    #[arg(long, value_name = "NUM-RECORDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub num_records: u64,
    /// Bytes of each record's value: random capital letters.
    #[arg(long, value_name = "RECORD-SIZE", value_parser = clap::value_parser!(u32).range(1..))]
    pub record_size: Option<u32>,
    /// A UTF-8 file of payloads split at --payload-delimiter; each record's value is one
    /// of them, drawn at random.
    #[arg(long, value_name = "PAYLOAD-FILE")]
    pub payload_file: Option<PathBuf>,
    /// Each record's value is its index in decimal (0, 1, 2, ...).
    #[arg(long)]
    pub payload_monotonic: bool,
    /// The regular expression between payloads of --payload-file (`\n`, the default, is
    /// a newline).
    #[arg(long, value_name = "PAYLOAD-DELIMITER", default_value = "\\n")]
    pub payload_delimiter: String,
    /// Records per second at most; -1 (any negative number) for no limit.
    #[arg(long, value_name = "THROUGHPUT", allow_negative_numbers = true)]
    pub throughput: f64,
    /// Producer properties (bootstrap.servers, acks, batch.size, linger.ms,
    /// compression.type, max.in.flight.requests.per.connection, enable.idempotence,
    /// transactional.id, client.id, request.timeout.ms, and the login and TLS keys
    /// --command-config takes). They win over --producer.config's.
    #[arg(long = "producer-props", alias = "command-property", value_name = "PROP-NAME=PROP-VALUE", num_args = 1..)]
    pub producer_props: Vec<String>,
    /// A file of producer properties, read after --command-config's.
    #[arg(long = "producer.config", value_name = "CONFIG-FILE")]
    pub producer_config: Option<PathBuf>,
    /// A file of client properties (Kafka 4.2's name for --producer.config).
    #[arg(long, value_name = "CONFIG-FILE")]
    pub command_config: Option<PathBuf>,
    /// The broker to connect to; wins over bootstrap.servers in the properties.
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: Option<String>,
    /// Print the producer's metrics at the end.
    #[arg(long)]
    pub print_metrics: bool,
    /// Produce in transactions with this transactional id (wins over transactional.id).
    #[arg(long, value_name = "TRANSACTIONAL-ID")]
    pub transactional_id: Option<String>,
    /// Commit each transaction once it is this old (default 3000 when transactions are
    /// on; giving it turns them on).
    #[arg(long, value_name = "TRANSACTION-DURATION", value_parser = clap::value_parser!(u64).range(1..))]
    pub transaction_duration_ms: Option<u64>,
    /// The first records are warmup: a second summary covers the records after them.
    #[arg(
        long,
        value_name = "WARMUP-RECORDS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub warmup_records: i64,
}

/// How the producer is set up, from the flags and the producer properties.
#[derive(Debug, PartialEq)]
struct Settings {
    bootstrap: String,
    client_id: String,
    acks: Acks,
    compression: Compression,
    batch_size: usize,
    linger: Duration,
    in_flight: usize,
    request_timeout_ms: u32,
    mode: ProducerMode,
    transactional_id: Option<String>,
    warmup: u64,
}

/// The producer properties `Settings` reads (the login and TLS keys are the
/// connection's).
const PRODUCER_KEYS: [&str; 12] = [
    "acks",
    "compression.type",
    "batch.size",
    "linger.ms",
    "max.in.flight.requests.per.connection",
    "enable.idempotence",
    "transactional.id",
    "client.id",
    "request.timeout.ms",
    // Kafka's tool sets its own byte-array serializers over these.
    "key.serializer",
    "value.serializer",
    "bootstrap.servers",
];

impl Settings {
    fn of(args: &ProducerPerfArgs, props: &[(String, String)]) -> Result<Settings> {
        properties::warn_unused("producer-perf-test", props, &PRODUCER_KEYS);
        let bootstrap = match (&args.bootstrap_server, last(props, "bootstrap.servers")) {
            (Some(servers), _) => servers.clone(),
            (None, Some(servers)) if !servers.is_empty() => servers.to_string(),
            _ => bail!(
                "no broker to connect to: give --bootstrap-server, or bootstrap.servers in \
                 --producer-props or --producer.config"
            ),
        };
        let number = |v: &str| v.parse::<u64>().map_err(|e| e.to_string());
        let flag = |v: &str| match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("expected true or false".to_string()),
        };
        let acks = parsed(props, "acks", parse_acks)?;
        let in_flight = parsed(props, "max.in.flight.requests.per.connection", number)?;
        let idempotence = parsed(props, "enable.idempotence", flag)?;
        // As Kafka's producer: idempotent by default, unless acks or the requests in
        // flight were set to what idempotence cannot have; asked for, it refuses them.
        let idempotent = match idempotence {
            Some(false) => false,
            Some(true) => {
                if acks.is_some_and(|a| a != Acks::All) {
                    bail!("enable.idempotence=true needs acks=all");
                }
                if in_flight.is_some_and(|n| n > IDEMPOTENT_IN_FLIGHT_MAX as u64) {
                    bail!("enable.idempotence=true allows at most {IDEMPOTENT_IN_FLIGHT_MAX} max.in.flight.requests.per.connection");
                }
                true
            }
            None => {
                acks.unwrap_or(Acks::All) == Acks::All
                    && in_flight.is_none_or(|n| n <= IDEMPOTENT_IN_FLIGHT_MAX as u64)
            }
        };
        let transactional_id = args
            .transactional_id
            .clone()
            .or_else(|| last(props, "transactional.id").map(str::to_string))
            .filter(|id| !id.is_empty());
        let transactional = transactional_id.is_some() || args.transaction_duration_ms.is_some();
        let mode = if transactional {
            if !idempotent {
                bail!("transactions need an idempotent producer (acks=all, enable.idempotence not false)");
            }
            let ms = args
                .transaction_duration_ms
                .unwrap_or(TRANSACTION_DURATION_DEFAULT_MS);
            ProducerMode::Transactional(Commit::After(Duration::from_millis(ms)))
        } else if idempotent {
            ProducerMode::Idempotent
        } else {
            ProducerMode::Plain
        };
        let transactional_id = transactional.then(|| {
            transactional_id
                .unwrap_or_else(|| format!("performance-producer-{}", uuid::Uuid::new_v4()))
        });
        let warmup = u64::try_from(args.warmup_records).unwrap_or(0);
        if warmup >= args.num_records {
            bail!("The value for --warmup-records must be strictly fewer than the number of records in the test, --num-records.");
        }
        Ok(Settings {
            bootstrap,
            client_id: last(props, "client.id")
                .unwrap_or("perf-producer-client")
                .to_string(),
            acks: acks.unwrap_or(Acks::All),
            compression: parsed(props, "compression.type", parse_compression)?
                .unwrap_or(Compression::None),
            batch_size: parsed(props, "batch.size", number)?
                .map_or(16_384, |n| usize::try_from(n).unwrap_or(usize::MAX)),
            linger: Duration::from_millis(parsed(props, "linger.ms", number)?.unwrap_or(5)),
            in_flight: in_flight.map_or(5, |n| usize::try_from(n).unwrap_or(usize::MAX).max(1)),
            request_timeout_ms: parsed(props, "request.timeout.ms", number)?
                .map_or(30_000, |n| u32::try_from(n).unwrap_or(u32::MAX).max(1)),
            mode,
            transactional_id,
            warmup,
        })
    }
}

pub fn run(args: ProducerPerfArgs) -> Result<()> {
    // Below one record a day it would send nothing for ever (Kafka's throttle blocks at 0).
    if args.throughput.is_nan() || (0.0..1e-5).contains(&args.throughput) {
        bail!("--throughput must be a number of records per second, or -1 for no limit");
    }
    let mut connect = ConnectArgs {
        bootstrap_server: String::new(),
        request_timeout_ms: 30_000,
        command_config: args.command_config.clone(),
    };
    let (props, options) = connect.client(
        "perf-producer-client",
        args.producer_config
            .as_deref()
            .map(|path| (path, "--producer.config")),
        (&args.producer_props, "--producer-props"),
    )?;
    let settings = Settings::of(&args, &props)?;
    connect.bootstrap_server = settings.bootstrap.clone();
    connect.request_timeout_ms = settings.request_timeout_ms;
    let (payload, message_size) = payload(&args)?;
    if settings.warmup > 0 {
        say(format!(
            "Warmup first {} records. Steady state results will print after the complete test summary.",
            settings.warmup
        ))?;
    }
    let options = Options {
        timeout: connect.timeout(),
        ..options
    };
    // As Kafka's producer asks for its topic: auto-created where the broker does that.
    Cluster::connect(&connect.bootstrap_server, options.clone())?.topic(&args.topic, true)?;
    let shared = Arc::new(Shared {
        stop: super::stop_flag()?,
        ..Shared::default()
    });
    let plan = ProducerPlan {
        index: 0,
        bootstrap: connect.bootstrap_server.clone(),
        options,
        topic: args.topic.clone(),
        acks: settings.acks,
        compression: settings.compression,
        records_per_batch: records_per_batch(settings.batch_size, message_size),
        linger: settings.linger,
        in_flight: settings.in_flight,
        pace: crate::bench::load::Pace::for_producer(
            (args.throughput > 0.0).then_some(args.throughput),
            0,
            1,
        ),
        limit: Limit::Records(args.num_records),
        keys: crate::bench::load::KeyDistribution::None,
        key_space: 1,
        seed: fastrand::u64(..),
        message_size,
        timeout_ms: connect.timeout_ms(),
        mode: settings.mode,
        transactional_id: settings.transactional_id.clone(),
        payload,
        warmup: settings.warmup,
        kafka_throttle: true,
    };
    let clock = Clock::new();
    let thread = {
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("perf-producer".into())
            .spawn(move || producer::run(plan, clock, shared))
            .context("starting the producer thread")?
    };
    let mut window_start = Instant::now();
    let mut steady = false;
    let mut steady_said = false;
    while !thread.is_finished() {
        std::thread::sleep(TICK);
        if !steady && shared.steady_at_us.load(Ordering::Relaxed) != 0 {
            // Kafka's steady-state statistics start with a window of their own (the
            // producer emptied it as it made the last warmup record).
            window_start = Instant::now();
            steady = true;
        }
        let elapsed = window_start.elapsed();
        if elapsed >= WINDOW {
            let counts = shared.window.take();
            if counts.records > 0 {
                if steady && !steady_said {
                    say("In steady state.")?;
                    steady_said = true;
                }
                say(window_line(&counts, elapsed))?;
                window_start = Instant::now();
            }
        }
    }
    let produced = match thread.join() {
        Ok(result) => result?,
        Err(_) => bail!("the producer thread panicked"),
    };
    // As Kafka's: the time from the first record (the last warmup record's, for the
    // steady state) to the summary.
    let since = |start_us: u64| Duration::from_micros(clock.now_us().saturating_sub(start_us));
    say(summary_line(
        "",
        produced.records,
        produced.bytes,
        since(produced.started_us),
        &produced.latency,
    ))?;
    if let Some((latency, records, bytes)) = &produced.steady {
        let steady_at_us = shared.steady_at_us.load(Ordering::Relaxed);
        say(summary_line(
            " steady state",
            *records,
            *bytes,
            since(steady_at_us),
            latency,
        ))?;
    }
    if args.print_metrics {
        say(metrics_table(
            &settings.client_id,
            produced.records,
            &produced.request_latency,
        ))?;
    }
    Ok(())
}

/// The values to send, and their size for sizing batches: `--record-size` letters, a
/// payload file's entries (their mean size), or each record's index.
fn payload(args: &ProducerPerfArgs) -> Result<(Payload, usize)> {
    if let Some(size) = args.record_size {
        return Ok((Payload::Letters, size as usize));
    }
    if let Some(path) = &args.payload_file {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        say(format!("Reading payloads from: {}", absolute.display()))?;
        let payloads = read_payloads(path, &args.payload_delimiter)?;
        say(format!("Number of messages read: {}", payloads.len()))?;
        let mean = payloads.iter().map(Bytes::len).sum::<usize>() / payloads.len();
        return Ok((Payload::Drawn(Arc::new(payloads)), mean));
    }
    Ok((Payload::Counting, args.num_records.to_string().len()))
}

/// A payload file's entries: its text split at each match of `delimiter` (a regular
/// expression; `\n`, as typed, is a newline), trailing empty entries dropped.
fn read_payloads(path: &Path, delimiter: &str) -> Result<Vec<Bytes>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the payload file {}", path.display()))?;
    let delimiter = if delimiter == "\\n" { "\n" } else { delimiter };
    let delimiter =
        regex::Regex::new(delimiter).with_context(|| format!("--payload-delimiter {delimiter}"))?;
    let mut payloads: Vec<Bytes> = delimiter
        .split(&text)
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect();
    while payloads.last().is_some_and(Bytes::is_empty) {
        payloads.pop();
    }
    if payloads.is_empty() {
        bail!(
            "File does not exist or empty file provided: {}",
            path.display()
        );
    }
    Ok(payloads)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Kafka's window line: `N records sent, R records/sec (M MB/sec), A ms avg latency, X
/// ms max latency.`
fn window_line(counts: &WindowCounts, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    format!(
        "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
        counts.records,
        counts.records as f64 / seconds,
        counts.bytes as f64 / seconds / MIB,
        ms(counts.latency_sum_us) / counts.records.max(1) as f64,
        ms(counts.latency_max_us),
    )
}

/// Kafka's summary line, `what` being "" or " steady state". With acks=0 nothing
/// answers, so the latencies print as 0.
fn summary_line(
    what: &str,
    records: u64,
    bytes: u64,
    elapsed: Duration,
    latency: &Histogram<u64>,
) -> String {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let percentile = |q: f64| {
        if latency.is_empty() {
            0
        } else {
            latency.value_at_quantile(q) / 1000
        }
    };
    format!(
        "{records}{what} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
        records as f64 / seconds,
        bytes as f64 / seconds / MIB,
        if latency.is_empty() { 0.0 } else { latency.mean() / 1000.0 },
        ms(latency.max()),
        percentile(0.5),
        percentile(0.95),
        percentile(0.99),
        percentile(0.999),
    )
}

/// `--print-metrics`: Kafka's table, with the producer metrics shoal's producer
/// measures over the whole run.
fn metrics_table(client_id: &str, records: u64, requests: &Histogram<u64>) -> String {
    let tags = format!("{{client-id={client_id}}}");
    let name = |metric: &str| format!("producer-metrics:{metric}:{tags}");
    let rows = [
        (name("record-error-total"), 0.0),
        (name("record-send-total"), records as f64),
        (
            name("request-latency-avg"),
            if requests.is_empty() {
                0.0
            } else {
                requests.mean() / 1000.0
            },
        ),
        (name("request-latency-max"), ms(requests.max())),
    ];
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut table = format!("\n{:<width$}   Value", "Metric Name");
    for (name, value) in rows {
        table.push_str(&format!("\n{name:<width$} : {value:.3}"));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ProducerPerfArgs,
    }

    fn args(line: &str) -> ProducerPerfArgs {
        let words = std::iter::once("perf").chain(line.split_whitespace());
        Cli::try_parse_from(words).expect("parses").args
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn takes_kafkas_flags() {
        let a = args("--topic t --num-records 10 --record-size 100 --throughput -1 --producer-props bootstrap.servers=h:1 acks=1 --print-metrics");
        assert_eq!(a.producer_props, ["bootstrap.servers=h:1", "acks=1"]);
        assert_eq!(a.throughput, -1.0);
        assert!(a.print_metrics);
        let words = |line: &str| {
            Cli::try_parse_from(std::iter::once("perf").chain(line.split_whitespace()))
        };
        // Exactly one payload source.
        assert!(words("--topic t --num-records 1 --throughput 1").is_err());
        assert!(words(
            "--topic t --num-records 1 --throughput 1 --record-size 1 --payload-monotonic"
        )
        .is_err());
        assert!(words("--topic t --num-records 0 --throughput 1 --record-size 1").is_err());
    }

    #[test]
    fn settings_follow_kafkas_producer() {
        let a = args("--topic t --num-records 10 --record-size 10 --throughput -1");
        let s = Settings::of(&a, &pairs(&[("bootstrap.servers", "h:1")])).unwrap();
        assert_eq!(s.bootstrap, "h:1");
        assert_eq!(s.client_id, "perf-producer-client");
        assert_eq!((s.acks, s.mode), (Acks::All, ProducerMode::Idempotent));
        assert_eq!((s.batch_size, s.in_flight), (16_384, 5));
        assert_eq!(s.linger, Duration::from_millis(5));
        // acks=1 quietly turns idempotence off; asked for, it is refused.
        let s = Settings::of(&a, &pairs(&[("bootstrap.servers", "h:1"), ("acks", "1")])).unwrap();
        assert_eq!(s.mode, ProducerMode::Plain);
        let refused = pairs(&[
            ("bootstrap.servers", "h:1"),
            ("acks", "1"),
            ("enable.idempotence", "true"),
        ]);
        assert!(Settings::of(&a, &refused).is_err());
        // No broker named anywhere.
        assert!(Settings::of(&a, &[]).is_err());
        // The flag wins over the property.
        let a = args("--topic t --num-records 10 --record-size 10 --throughput -1 --bootstrap-server f:2 --transactional-id x");
        let s = Settings::of(&a, &pairs(&[("bootstrap.servers", "h:1")])).unwrap();
        assert_eq!(s.bootstrap, "f:2");
        assert_eq!(s.transactional_id.as_deref(), Some("x"));
        assert_eq!(
            s.mode,
            ProducerMode::Transactional(Commit::After(Duration::from_millis(3000)))
        );
        // Warmup must leave records to measure.
        let a = args("--topic t --num-records 10 --record-size 10 --throughput -1 --warmup-records 10 --bootstrap-server f:2");
        assert!(Settings::of(&a, &[]).is_err());
        let a = args("--topic t --num-records 10 --record-size 10 --throughput -1 --warmup-records -3 --bootstrap-server f:2");
        assert_eq!(Settings::of(&a, &[]).unwrap().warmup, 0);
    }

    #[test]
    fn lines_read_as_kafkas() {
        let counts = WindowCounts {
            records: 1000,
            bytes: 1000 * 1024,
            latency_sum_us: 1000 * 2_500,
            latency_max_us: 7_250,
        };
        assert_eq!(
            window_line(&counts, Duration::from_secs(5)),
            "1000 records sent, 200.0 records/sec (0.20 MB/sec), 2.5 ms avg latency, 7.2 ms max latency."
        );
        let mut latency = crate::bench::report::histogram();
        for us in [1_000, 2_000, 3_000, 4_000] {
            latency.record(us).unwrap();
        }
        let line = summary_line("", 4, 4 * 1024 * 1024, Duration::from_secs(2), &latency);
        assert!(
            line.starts_with("4 records sent, 2.000000 records/sec (2.00 MB/sec), 2.50 ms avg latency, 4.00 ms max latency, 2 ms 50th, 4 ms 95th"),
            "{line}"
        );
        let steady = summary_line(
            " steady state",
            0,
            0,
            Duration::ZERO,
            &crate::bench::report::histogram(),
        );
        assert!(
            steady.starts_with("0 steady state records sent, 0.000000 records/sec"),
            "{steady}"
        );
    }

    #[test]
    fn payload_files_split_at_the_delimiter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payloads");
        std::fs::write(&path, "a\nbb\n\nccc\n\n").unwrap();
        let read = read_payloads(&path, "\\n").unwrap();
        assert_eq!(read, ["a", "bb", "", "ccc"].map(Bytes::from));
        std::fs::write(&path, "a, b,c").unwrap();
        assert_eq!(read_payloads(&path, ",\\s*").unwrap().len(), 3);
        std::fs::write(&path, "\n\n").unwrap();
        assert!(read_payloads(&path, "\\n").is_err());
    }
}
