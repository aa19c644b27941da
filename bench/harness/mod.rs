//! `shoal bench`: the load harness (DESIGN §8). Producers and consumers are OS threads on
//! blocking `crate::client` connections; they speak only standard Kafka APIs (Metadata,
//! CreateTopics, Produce, ListOffsets, Fetch), so the same run measures any
//! Kafka-compatible broker.
//!
//! Scenarios: `produce` (acknowledgement latency and throughput), `consume` (reads the
//! topic from its start: throughput), `end-to-end` (both at once; latency from the
//! producer's timestamp in each record to its consumption).
//!
//! Invariants: the harness measures, it does not retry: any error ends the run with a
//! failure; counters shared between threads are relaxed atomics bumped once per request,
//! and histograms are per thread, merged at the end; the report records every parameter.

pub mod batch;
pub mod consumer;
pub mod load;
pub mod producer;
pub mod report;
pub mod txn;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use kafka_protocol::records::Compression;

use crate::cli::produce::{parse_acks, parse_compression};
use crate::cli::ConnectArgs;
use crate::client::admin::{self, NewTopic, TOPIC_ALREADY_EXISTS};
use crate::client::cluster::UNKNOWN_TOPIC_OR_PARTITION;
use crate::client::produce::Acks;
use hdrhistogram::Histogram;
use load::{KeyDistribution, Pace};
use report::{Flow, Latency, Report};
use txn::{Commit, ProducerMode};

/// Run length when neither --duration nor --messages is given.
const DURATION_DEFAULT_S: f64 = 10.0;
/// Requests an idempotent producer may have in flight, at most, as Kafka's producer
/// allows: the broker remembers each producer's last five batches to find retries.
const IDEMPOTENT_IN_FLIGHT_MAX: u32 = 5;
/// Batches are sized assuming this much framing per record (length, deltas, header count).
const RECORD_OVERHEAD_BYTES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Produce only: acknowledgement latency and throughput.
    #[value(alias = "produce-only")]
    Produce,
    /// Read the topic from its start: consume throughput.
    #[value(alias = "consume-only")]
    Consume,
    /// Produce and consume at once: latency from the producer's timestamp to consumption.
    #[value(alias = "e2e")]
    EndToEnd,
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub scenario: Scenario,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The topic (created with --partitions if missing, except to consume).
    #[arg(long, default_value = "shoal-bench")]
    pub topic: String,
    /// Partitions of a topic the bench creates.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(i32).range(1..))]
    pub partitions: i32,
    /// Replication factor of a topic the bench creates.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i16).range(1..))]
    pub replication_factor: i16,
    /// Bytes of each record's value (the first 8 carry the producer's µs timestamp).
    #[arg(long, default_value_t = 1024)]
    pub message_size: usize,
    /// Producer threads, each with its own connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub producers: u32,
    /// Consumer threads; partitions are dealt out among them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub consumers: u32,
    /// Acknowledgement to wait for: all (-1), 1, 0.
    #[arg(long, default_value = "all", value_parser = parse_acks)]
    pub acks: Acks,
    /// Batch compression: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none", value_parser = parse_compression)]
    pub compression: Compression,
    /// Bytes of records gathered per partition before a batch is sent.
    #[arg(long, default_value_t = 16384)]
    pub batch_size: usize,
    /// How long a record may wait for its batch to fill, in ms; fractions allowed, as
    /// librdkafka's `linger.ms` allows them (0.5 is 500 µs).
    #[arg(long, default_value_t = 5.0, value_parser = parse_linger_ms)]
    pub linger_ms: f64,
    /// Unanswered Produce requests allowed per producer connection.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub in_flight: u32,
    /// Produce as idempotent producers: a producer id and a sequence on every batch
    /// (needs acks=all and at most 5 requests in flight, as Kafka's producer does).
    #[arg(long)]
    pub idempotent: bool,
    /// Produce in transactions of this many records each, one committed after another (a
    /// transactional producer per thread, idempotent too); reports commit latency.
    #[arg(long, value_name = "RECORDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub transactional: Option<u64>,
    /// Offered load in records/s over all producers (open loop); without it, producers
    /// send as fast as acknowledgements allow (closed loop).
    #[arg(long, value_name = "RECORDS_PER_S")]
    pub rate: Option<f64>,
    /// Seconds to produce (or consume), default 10.
    #[arg(long, value_name = "SECONDS", conflicts_with = "messages")]
    pub duration: Option<f64>,
    /// Records to produce in all (or to consume, at most).
    #[arg(long)]
    pub messages: Option<u64>,
    /// How keys are chosen.
    #[arg(long, value_enum, default_value = "none")]
    pub key_distribution: KeyDistribution,
    /// Distinct keys for random, sequential and zipf.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub key_space: u64,
    /// Seed of keys and payloads (random if not given; the report records it).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// How long producers run.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    Duration(Duration),
    Records(u64),
}

/// One time base for every thread: µs since the run's start, and the wall clock then,
/// so latencies never see the wall clock step.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    start_epoch_us: u64,
}

impl Clock {
    pub fn new() -> Clock {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            start: Instant::now(),
            start_epoch_us: epoch.as_micros() as u64,
        }
    }

    pub fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// µs since the UNIX epoch of a time given as µs since the start.
    pub fn epoch_us(&self, since_start_us: u64) -> u64 {
        self.start_epoch_us + since_start_us
    }

    pub fn epoch_now_us(&self) -> u64 {
        self.epoch_us(self.now_us())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// What the threads share: flags and the counters the progress line reads.
#[derive(Default)]
pub struct Shared {
    /// End now: time is up, Ctrl-C, or a thread failed.
    pub stop: Arc<AtomicBool>,
    /// Producers are done: consumers finish once they have read everything.
    pub drain: AtomicBool,
    pub acked_records: AtomicU64,
    pub acked_bytes: AtomicU64,
    pub consumed_records: AtomicU64,
    pub consumed_bytes: AtomicU64,
    /// Acknowledgements since `Window::take` last ran (kafka-producer-perf-test's
    /// window lines).
    pub window: Window,
    /// When a producer with warmup records made its last one, µs from the start (at
    /// least 1); 0 before, and always without warmup. From then on `window` counts only
    /// the records made after.
    pub steady_at_us: AtomicU64,
}

/// Acknowledged records, their bytes and their latencies, summed since the last `take`.
#[derive(Default)]
pub struct Window {
    records: AtomicU64,
    bytes: AtomicU64,
    latency_sum_us: AtomicU64,
    latency_max_us: AtomicU64,
}

/// What a `Window` held when taken.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct WindowCounts {
    pub records: u64,
    pub bytes: u64,
    pub latency_sum_us: u64,
    pub latency_max_us: u64,
}

impl Window {
    /// Adds one answer's counted records (a reader calls this once per request).
    pub fn add(&self, counts: WindowCounts) {
        self.records.fetch_add(counts.records, Ordering::Relaxed);
        self.bytes.fetch_add(counts.bytes, Ordering::Relaxed);
        self.latency_sum_us
            .fetch_add(counts.latency_sum_us, Ordering::Relaxed);
        self.latency_max_us
            .fetch_max(counts.latency_max_us, Ordering::Relaxed);
    }

    /// What was added since the last take, and a fresh start. An answer added while
    /// this runs may be split between two windows; nothing is lost or counted twice.
    pub fn take(&self) -> WindowCounts {
        WindowCounts {
            records: self.records.swap(0, Ordering::Relaxed),
            bytes: self.bytes.swap(0, Ordering::Relaxed),
            latency_sum_us: self.latency_sum_us.swap(0, Ordering::Relaxed),
            latency_max_us: self.latency_max_us.swap(0, Ordering::Relaxed),
        }
    }
}

/// The longest linger `--linger-ms` takes (an hour).
const LINGER_MAX_MS: f64 = 3_600_000.0;

/// Records per batch for `batch_size` bytes of records of `record_bytes` each.
pub fn records_per_batch(batch_size: usize, record_bytes: usize) -> usize {
    (batch_size / (record_bytes + RECORD_OVERHEAD_BYTES).max(1)).max(1)
}

/// A linger in ms: a finite number, 0 or more, of at most an hour.
fn parse_linger_ms(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(ms) if (0.0..=LINGER_MAX_MS).contains(&ms) => Ok(ms),
        _ => Err(format!("expected a number of ms from 0 to {LINGER_MAX_MS}")),
    }
}

/// Partitions consumer `index` of `consumers` reads: every `consumers`-th one.
pub fn assigned(partitions: &[i32], index: usize, consumers: usize) -> Vec<i32> {
    partitions
        .iter()
        .enumerate()
        .filter(|(i, _)| i % consumers.max(1) == index)
        .map(|(_, &p)| p)
        .collect()
}

pub fn run(args: BenchArgs) -> Result<()> {
    let mode = match (args.transactional, args.idempotent) {
        (Some(records), _) => ProducerMode::Transactional(Commit::Every(records)),
        (None, true) => ProducerMode::Idempotent,
        (None, false) => ProducerMode::Plain,
    };
    if mode != ProducerMode::Plain {
        if args.acks != Acks::All {
            bail!("idempotent and transactional producers need --acks all");
        }
        if args.in_flight > IDEMPOTENT_IN_FLIGHT_MAX {
            bail!("idempotent and transactional producers allow at most {IDEMPOTENT_IN_FLIGHT_MAX} requests in flight (--in-flight)");
        }
    }
    let stop = crate::cli::stop_flag()?;
    let shared = Arc::new(Shared {
        stop,
        ..Shared::default()
    });
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..));
    let limit = match (args.messages, args.duration) {
        (Some(n), _) => Limit::Records(n),
        (None, d) => {
            let seconds = d.unwrap_or(DURATION_DEFAULT_S);
            if !(seconds.is_finite() && seconds > 0.0) {
                bail!("--duration must be a positive number of seconds");
            }
            Limit::Duration(Duration::from_secs_f64(seconds))
        }
    };
    let options = args.connect.options("shoal-bench")?;
    let partitions = prepare_topic(&args)?;
    let key_bytes = match args.key_distribution {
        KeyDistribution::None => 0,
        _ => load::key_bytes(0).len(),
    };
    let batch_records = records_per_batch(args.batch_size, args.message_size + key_bytes);
    let producing = args.scenario != Scenario::Consume;
    let consuming = args.scenario != Scenario::Produce;
    let consumers = if consuming {
        (args.consumers as usize).min(partitions.len())
    } else {
        0
    };
    let producers = if producing {
        args.producers as usize
    } else {
        0
    };

    let machine = report::machine();
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let cpu_before = report::process_cpu();
    let clock = Clock::new();
    if args.scenario == Scenario::Consume {
        shared.drain.store(true, Ordering::Release);
    }
    let ready = Arc::new(Barrier::new(consumers + 1));
    let consumer_threads: Vec<JoinHandle<Result<consumer::Consumed>>> = (0..consumers)
        .map(|index| {
            let plan = consumer::ConsumerPlan {
                index,
                bootstrap: args.connect.bootstrap_server.clone(),
                options: options.clone(),
                topic: args.topic.clone(),
                partitions: assigned(&partitions, index, consumers),
                from_start: args.scenario == Scenario::Consume,
                records_max: match limit {
                    Limit::Records(n) if args.scenario == Scenario::Consume => Some(n),
                    _ => None,
                },
                end_to_end: args.scenario == Scenario::EndToEnd,
            };
            let (shared, ready) = (Arc::clone(&shared), Arc::clone(&ready));
            std::thread::Builder::new()
                .name(format!("bench-consumer-{index}"))
                .spawn(move || consumer::run(plan, clock, shared, ready))
                .context("starting a consumer thread")
        })
        .collect::<Result<_>>()?;
    // End-to-end consumers know where the log ends before the first record is sent.
    ready.wait();
    let produce_start = clock.now_us();
    let producer_threads: Vec<JoinHandle<Result<producer::Produced>>> = (0..producers)
        .map(|index| {
            let share = match limit {
                Limit::Records(n) => {
                    let (each, rest) = (n / producers as u64, n % producers as u64);
                    Limit::Records(each + u64::from((index as u64) < rest))
                }
                other => other,
            };
            let plan = producer::ProducerPlan {
                index,
                bootstrap: args.connect.bootstrap_server.clone(),
                options: options.clone(),
                topic: args.topic.clone(),
                acks: args.acks,
                compression: args.compression,
                records_per_batch: batch_records,
                linger: Duration::from_secs_f64(args.linger_ms / 1000.0),
                in_flight: args.in_flight as usize,
                pace: Pace::for_producer(args.rate, index, producers),
                limit: share,
                keys: args.key_distribution,
                key_space: args.key_space,
                seed: seed.wrapping_add(index as u64),
                message_size: args.message_size,
                timeout_ms: args.connect.timeout_ms(),
                mode,
                transactional_id: None,
                payload: producer::Payload::Stamped,
                warmup: 0,
                kafka_throttle: false,
            };
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("bench-producer-{index}"))
                .spawn(move || producer::run(plan, clock, shared))
                .context("starting a producer thread")
        })
        .collect::<Result<_>>()?;

    let consume_deadline = match limit {
        Limit::Duration(d) if args.scenario == Scenario::Consume => Some(d),
        _ => None,
    };
    let mut progress = Progress::new(&shared);
    loop {
        let producers_done = producer_threads.iter().all(JoinHandle::is_finished);
        if producers_done {
            shared.drain.store(true, Ordering::Release);
        }
        if producers_done && consumer_threads.iter().all(JoinHandle::is_finished) {
            break;
        }
        if consume_deadline.is_some_and(|d| clock.start.elapsed() >= d) {
            shared.stop.store(true, Ordering::Relaxed);
        }
        progress.tick(&shared);
        std::thread::sleep(Duration::from_millis(20));
    }
    let run_end = clock.now_us();
    if progress.printed && std::io::stderr().is_terminal() {
        eprintln!();
    }

    let mut produced = Vec::new();
    for thread in producer_threads {
        produced.push(join(thread, "producer")?);
    }
    let mut consumed = Vec::new();
    for thread in consumer_threads {
        consumed.push(join(thread, "consumer")?);
    }
    let cpu_after = report::process_cpu();
    let interrupted = shared.stop.load(Ordering::Relaxed) && consume_deadline.is_none();

    let produce = producing
        .then(|| -> Result<Flow> {
            let latency = report::merged(produced.iter().map(|p| &p.latency))?;
            let end = produced
                .iter()
                .map(|p| p.finished_us)
                .max()
                .unwrap_or(run_end);
            Ok(Flow::new(
                produced.iter().map(|p| p.records).sum(),
                produced.iter().map(|p| p.bytes).sum(),
                Duration::from_micros(end.saturating_sub(produce_start)),
                Latency::from_histogram(&latency),
            ))
        })
        .transpose()?;
    let request_latency = report::merged(produced.iter().map(|p| &p.request_latency))?;
    let commits: Vec<&(Histogram<u64>, u64)> =
        produced.iter().filter_map(|p| p.commits.as_ref()).collect();
    let transactions = if commits.is_empty() {
        None
    } else {
        let latency = report::merged(commits.iter().map(|(h, _)| h))?;
        let count: u64 = commits.iter().map(|(_, n)| n).sum();
        let seconds = run_end.saturating_sub(produce_start) as f64 / 1e6;
        Some(report::Transactions {
            count,
            per_s: count as f64 / seconds.max(1e-9),
            commit_latency: Latency::from_histogram(&latency),
        })
    };
    let schedule_lag = report::merged(produced.iter().map(|p| &p.schedule_lag))?;
    let e2e = report::merged(consumed.iter().map(|c| &c.latency))?;
    let consume = consuming.then(|| {
        Flow::new(
            consumed.iter().map(|c| c.records).sum(),
            consumed.iter().map(|c| c.bytes).sum(),
            Duration::from_micros(
                consumed
                    .iter()
                    .map(|c| c.finished_us)
                    .max()
                    .unwrap_or(run_end)
                    .saturating_sub(produce_start),
            ),
            None,
        )
    });
    let mb = (produce.as_ref().map_or(0, |f| f.bytes) + consume.as_ref().map_or(0, |f| f.bytes))
        as f64
        / 1e6;
    let report = Report {
        tool: format!("shoal bench {}", env!("CARGO_PKG_VERSION")),
        scenario: scenario_name(args.scenario).to_string(),
        started_at,
        parameters: parameters(&args, seed, batch_records),
        harness_cpu: report::harness_cpu(
            cpu_before,
            cpu_after,
            mb,
            Duration::from_micros(run_end),
            machine.cores,
        ),
        machine,
        produce,
        consume,
        request_latency: Latency::from_histogram(&request_latency),
        transactions,
        schedule_lag: args
            .rate
            .and_then(|_| Latency::from_histogram(&schedule_lag)),
        end_to_end_latency: (args.scenario == Scenario::EndToEnd)
            .then(|| Latency::from_histogram(&e2e))
            .flatten(),
    };
    crate::cli::say(report::table(&report).trim_end())?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if interrupted {
        bail!("interrupted: the report covers the run up to the stop");
    }
    if args.scenario == Scenario::EndToEnd && !consumed.iter().all(|c| c.caught_up) {
        bail!(
            "consumers did not read back everything produced within {:?}",
            consumer::DRAIN_TIMEOUT
        );
    }
    Ok(())
}

fn join<T>(thread: JoinHandle<Result<T>>, what: &str) -> Result<T> {
    thread
        .join()
        .map_err(|_| anyhow!("a {what} thread panicked"))?
}

/// Makes sure the topic exists (creating it unless only consuming); returns its
/// partitions.
fn prepare_topic(args: &BenchArgs) -> Result<Vec<i32>> {
    let mut cluster = args.connect.connect()?;
    let names = [args.topic.clone()];
    let metadata = cluster.metadata(Some(&names), false)?;
    let missing = metadata
        .topics
        .get(&args.topic)
        .is_none_or(|t| t.error_code == UNKNOWN_TOPIC_OR_PARTITION);
    if missing {
        if args.scenario == Scenario::Consume {
            bail!("topic '{}' does not exist: produce to it first", args.topic);
        }
        let topic = NewTopic {
            name: args.topic.clone(),
            partitions: Some(args.partitions),
            replication_factor: Some(args.replication_factor),
            configs: Vec::new(),
            assignment: Vec::new(),
        };
        match admin::create_topic(&mut cluster, &topic, args.connect.timeout_ms()) {
            Err(e) if e.code() == Some(TOPIC_ALREADY_EXISTS) => {}
            other => other?,
        }
    }
    let topic = match missing {
        true => cluster.created_topic(&args.topic)?,
        false => cluster.topic(&args.topic, false)?,
    };
    Ok(topic.partitions.iter().map(|p| p.index).collect())
}

fn scenario_name(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::Produce => "produce",
        Scenario::Consume => "consume",
        Scenario::EndToEnd => "end-to-end",
    }
}

/// Every parameter of the run, as given or defaulted.
fn parameters(args: &BenchArgs, seed: u64, records_per_batch: usize) -> serde_json::Value {
    let acks = match args.acks {
        Acks::All => "all",
        Acks::Leader => "1",
        Acks::None => "0",
    };
    serde_json::json!({
        "bootstrap_server": args.connect.bootstrap_server,
        "topic": args.topic,
        "partitions": args.partitions,
        "replication_factor": args.replication_factor,
        "message_size": args.message_size,
        "producers": args.producers,
        "consumers": args.consumers,
        "acks": acks,
        "compression": format!("{:?}", args.compression).to_lowercase(),
        "batch_size": args.batch_size,
        "records_per_batch": records_per_batch,
        "linger_ms": args.linger_ms,
        "in_flight": args.in_flight,
        "idempotent": args.idempotent || args.transactional.is_some(),
        "records_per_transaction": args.transactional,
        "rate": args.rate,
        "loop": if args.rate.is_some() { "open" } else { "closed" },
        "duration_s": args.messages.is_none().then(|| args.duration.unwrap_or(DURATION_DEFAULT_S)),
        "messages": args.messages,
        "key_distribution": format!("{:?}", args.key_distribution).to_lowercase(),
        "key_space": args.key_space,
        "seed": seed,
        "request_timeout_ms": args.connect.request_timeout_ms,
    })
}

/// The once-a-second line on stderr: rates over the last second and totals.
struct Progress {
    last: Instant,
    started: Instant,
    acked: (u64, u64),
    consumed: (u64, u64),
    printed: bool,
}

impl Progress {
    fn new(shared: &Shared) -> Progress {
        Progress {
            last: Instant::now(),
            started: Instant::now(),
            acked: counts(&shared.acked_records, &shared.acked_bytes),
            consumed: counts(&shared.consumed_records, &shared.consumed_bytes),
            printed: false,
        }
    }

    fn tick(&mut self, shared: &Shared) {
        let elapsed = self.last.elapsed();
        if elapsed < Duration::from_secs(1) {
            return;
        }
        let acked = counts(&shared.acked_records, &shared.acked_bytes);
        let consumed = counts(&shared.consumed_records, &shared.consumed_bytes);
        let line = progress_line(
            self.started.elapsed(),
            elapsed,
            (acked.0 - self.acked.0, acked.1 - self.acked.1),
            (consumed.0 - self.consumed.0, consumed.1 - self.consumed.1),
            (acked.0, consumed.0),
        );
        // A terminal gets one line rewritten in place; a log gets a line per second.
        let mut stderr = std::io::stderr().lock();
        let _ = if stderr.is_terminal() {
            write!(stderr, "\r{line}")
        } else {
            writeln!(stderr, "{}", line.trim_end())
        };
        self.last = Instant::now();
        self.printed = true;
        (self.acked, self.consumed) = (acked, consumed);
    }
}

fn counts(records: &AtomicU64, bytes: &AtomicU64) -> (u64, u64) {
    (
        records.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed),
    )
}

/// `[   3s] produced 10234 rec/s 10.48 MB/s (30702) | consumed ...`, over `interval`.
pub fn progress_line(
    at: Duration,
    interval: Duration,
    produced: (u64, u64),
    consumed: (u64, u64),
    totals: (u64, u64),
) -> String {
    let seconds = interval.as_secs_f64().max(1e-9);
    let rate = |(records, bytes): (u64, u64)| {
        format!(
            "{:.0} rec/s {:.2} MB/s",
            records as f64 / seconds,
            bytes as f64 / seconds / 1e6
        )
    };
    format!(
        "[{:>5.0}s] produced {} ({} total) | consumed {} ({} total)   ",
        at.as_secs_f64(),
        rate(produced),
        totals.0,
        rate(consumed),
        totals.1
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_what_batch_size_allows() {
        assert_eq!(records_per_batch(16384, 1024), 15);
        assert_eq!(records_per_batch(100, 1024), 1);
        assert_eq!(records_per_batch(0, 0), 1);
    }

    #[test]
    fn linger_takes_fractions_of_a_ms_within_bounds() {
        assert_eq!(parse_linger_ms("0.25"), Ok(0.25));
        assert_eq!(parse_linger_ms("0"), Ok(0.0));
        assert_eq!(parse_linger_ms("5"), Ok(5.0));
        for bad in ["-1", "NaN", "inf", "3600001", "", "1ms"] {
            assert!(parse_linger_ms(bad).is_err(), "{bad} taken");
        }
    }

    #[test]
    fn partitions_are_dealt_out() {
        let all = [0, 1, 2, 3, 4];
        assert_eq!(assigned(&all, 0, 2), [0, 2, 4]);
        assert_eq!(assigned(&all, 1, 2), [1, 3]);
        let mut every: Vec<i32> = (0..3).flat_map(|i| assigned(&all, i, 3)).collect();
        every.sort();
        assert_eq!(every, all);
    }

    #[test]
    fn the_progress_line_shows_rates_and_totals() {
        let line = progress_line(
            Duration::from_secs(3),
            Duration::from_millis(500),
            (1000, 2_000_000),
            (0, 0),
            (5000, 0),
        );
        assert!(
            line.starts_with("[    3s] produced 2000 rec/s 4.00 MB/s (5000 total) | consumed 0 rec/s 0.00 MB/s (0 total)"),
            "{line}"
        );
    }
}
