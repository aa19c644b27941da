//! A bench producer: one OS thread making records on schedule, batching them per
//! partition (batch size / linger, as Kafka's producer does) and pipelining Produce
//! requests to each partition's leader; one reader thread per leader connection takes the
//! answers in order and records each record's acknowledgement latency, and each
//! request's.
//!
//! Invariants: at most `in_flight` requests are unanswered on a connection (the writer
//! takes one of that many slots before it writes, and the reader frees it with the
//! answer); a record's latency runs from its due time (open loop) or making (closed
//! loop) to the answer, a request's from its writing; any error ends the run instead of
//! being counted and skipped.
//!
//! Open loop, a producer does not wake for every record: it sleeps until a quarter of
//! the linger past the next record's due time (or until a batch's linger runs out), then
//! makes every record due by then. Each sleep costs a context switch, and one per record
//! took more of the machine than the records themselves. A batch's linger runs from its
//! first record's due time, so making records a little late sends no batch later.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

use super::batch::BatchBuilder;
use super::load::{key_bytes, Keys, Pace};
use super::report::{histogram, merged};
use super::txn::{Identity, ProducerMode};
use super::{Clock, Limit, Shared, WindowCounts};
use crate::client::cluster::{Cluster, Options};
use crate::client::error::error_name;
use crate::client::partitioner::partition_for_key;
use crate::client::produce::Acks;
use crate::client::Connection;

/// Produce v13 names topics by id only.
const PRODUCE_TOPIC_ID_VERSION: i16 = 13;
/// A record's bytes besides its key and value, at most, for sizing a batch's buffer.
const RECORD_FRAMING_BYTES: usize = 16;
/// Pending batches are checked against linger every this many records made.
const LINGER_CHECK_EVERY: u64 = 64;

/// Everything one producer thread needs.
#[derive(Clone)]
pub struct ProducerPlan {
    pub index: usize,
    pub bootstrap: String,
    pub options: Options,
    pub topic: String,
    pub acks: Acks,
    pub compression: Compression,
    pub records_per_batch: usize,
    pub linger: Duration,
    pub in_flight: usize,
    pub pace: Pace,
    pub limit: Limit,
    pub keys: super::load::KeyDistribution,
    pub key_space: u64,
    pub seed: u64,
    pub message_size: usize,
    pub timeout_ms: i32,
    pub mode: ProducerMode,
    /// The transactional id, in transactional mode (default: one made of the index
    /// and seed).
    pub transactional_id: Option<String>,
    pub payload: Payload,
    /// The first records made are warmup: latencies and counts are reported for all
    /// records and, apart, for those after (kafka-producer-perf-test's
    /// `--warmup-records`).
    pub warmup: u64,
    /// kafka-producer-perf-test's throttle: the schedule starts when this producer
    /// makes its first record (not at the run's start), and a record's latency runs
    /// from its making (Kafka's, from its send call; its throttle does not count the
    /// wait of a record made late).
    pub kafka_throttle: bool,
}

/// What a record's value holds.
#[derive(Clone, Debug)]
pub enum Payload {
    /// `message_size` seeded pseudo-random bytes, the first 8 of them the producer's µs
    /// timestamp (the bench's own, for end-to-end latency).
    Stamped,
    /// `message_size` random capital letters, different for each record
    /// (kafka-producer-perf-test's `--record-size`): a slice, at a random place, of
    /// random letters drawn once (`LETTERS_BYTES`, or 16 batches' worth if that is more,
    /// so a batch's records seldom overlap), so no record costs a draw per byte.
    Letters,
    /// One of these, drawn at random for each record (its `--payload-file`).
    Drawn(Arc<Vec<Bytes>>),
    /// The record's index in decimal, from 0 (its `--payload-monotonic`).
    Counting,
}

/// The random letters `Payload::Letters` takes its slices from.
const LETTERS_BYTES: usize = 1 << 20;

/// What a producer measured.
pub struct Produced {
    pub records: u64,
    pub bytes: u64,
    pub latency: Histogram<u64>,
    /// Each request's, from its writing to its answer (Kafka's producer `request-latency`).
    pub request_latency: Histogram<u64>,
    /// Open loop: how late each record was made against its due time.
    pub schedule_lag: Histogram<u64>,
    /// When the first record was made, and when the last answer came, µs from the
    /// run's start.
    pub started_us: u64,
    pub finished_us: u64,
    /// Transactional mode: each commit's latency (EndTxn), and how many committed.
    pub commits: Option<(Histogram<u64>, u64)>,
    /// With warmup, the records made after it: their latencies (none with acks=0),
    /// count and bytes.
    pub steady: Option<(Histogram<u64>, u64, u64)>,
}

/// A request on its way: what to account for when its answer comes.
struct Ticket {
    records: u64,
    bytes: u64,
    /// The first `warmup` records (of `warmup_bytes`) are warmup.
    warmup: u64,
    warmup_bytes: u64,
    /// Each record's due time, µs from the run's start.
    due_us: Vec<u64>,
    /// When the request was written, µs from the run's start.
    sent_us: u64,
}

/// The way to a connection's acknowledgement reader.
struct ToReader {
    /// The in-flight brake: the writer puts a slot in before it writes, blocking while
    /// the channel is full; the reader takes one out when it starts waiting for an
    /// answer and holds it until the answer comes, so the channel has one place fewer.
    slots: SyncSender<()>,
    /// A ticket follows each request once it is written.
    tickets: Sender<Ticket>,
}

/// What a reader measured: per record and per request.
struct Answered {
    records: Histogram<u64>,
    requests: Histogram<u64>,
    /// Records made after the warmup.
    steady: Histogram<u64>,
}

struct Link {
    writer: Connection,
    version: i16,
    to_reader: Option<ToReader>,
    reader: Option<JoinHandle<Result<Answered>>>,
}

/// Transactional mode: the readers tell the writer each answer, so it can wait for a
/// transaction's records to be acknowledged before it commits.
struct Answers {
    outstanding: u64,
    answered: Receiver<()>,
}

#[derive(Default)]
struct Pending {
    records: BatchBuilder,
    due_us: Vec<u64>,
    bytes: u64,
    /// Its first `warmup` records (of `warmup_bytes`) are warmup.
    warmup: u64,
    warmup_bytes: u64,
    /// When its first record was due, or was added if that was later than the slack
    /// allows, µs from the start. Linger runs from here, as in Kafka's producer from the
    /// first record's adding; a producer catching up on late records so fills whole
    /// batches.
    opened_us: u64,
}

pub fn run(plan: ProducerPlan, clock: Clock, shared: Arc<Shared>) -> Result<Produced> {
    let mut cluster = Cluster::connect(&plan.bootstrap, plan.options.clone())?;
    let topic = cluster.topic(&plan.topic, false)?;
    let partitions: Vec<(i32, i32)> = topic
        .partitions
        .iter()
        .map(|p| (p.index, p.leader))
        .collect();
    if partitions.iter().any(|&(_, leader)| leader < 0) {
        bail!("a partition of '{}' has no leader", plan.topic);
    }
    let name = match &plan.transactional_id {
        Some(id) => id.clone(),
        None => format!("shoal-bench-{}-{:x}", plan.index, plan.seed),
    };
    let identity = Identity::init(&plan.bootstrap, &plan.options, plan.mode, &name)?;
    let (tell_writer, answered) = mpsc::channel();
    let tell_writer = matches!(plan.mode, ProducerMode::Transactional(_)).then_some(tell_writer);
    let mut links: BTreeMap<i32, Link> = BTreeMap::new();
    for &(_, leader) in &partitions {
        if links.contains_key(&leader) {
            continue;
        }
        let broker = cluster.broker(leader)?;
        let mut version = broker.version::<ProduceRequest>()?;
        if topic.id.is_nil() {
            version = version.min(PRODUCE_TOPIC_ID_VERSION - 1);
        }
        let writer = broker.connection().try_clone()?;
        let (to_reader, reader) = if plan.acks == Acks::None {
            (None, None)
        } else {
            let (slots, taken) = mpsc::sync_channel(plan.in_flight.max(1) - 1);
            let (tickets, received) = mpsc::channel();
            let connection = broker.connection().try_clone()?;
            let shared = Arc::clone(&shared);
            let tell = tell_writer.clone();
            let handle = std::thread::Builder::new()
                .name(format!("bench-acks-{}-{leader}", plan.index))
                .spawn(move || {
                    read_acks(connection, version, (taken, received, tell), clock, &shared)
                })?;
            (Some(ToReader { slots, tickets }), Some(handle))
        };
        links.insert(
            leader,
            Link {
                writer,
                version,
                to_reader,
                reader,
            },
        );
    }
    let slack_us = (plan.linger / 4).as_micros() as u64;
    let mut producer = Producer {
        keys: Keys::new(plan.keys, plan.key_space, plan.seed),
        template: template(
            &plan.payload,
            plan.message_size,
            plan.records_per_batch,
            plan.seed,
        ),
        rng: fastrand::Rng::with_seed(plan.seed),
        sticky: plan.index % partitions.len().max(1),
        pending: BTreeMap::new(),
        sent_records: 0,
        sent_bytes: 0,
        steady_made: (0, 0),
        topic_id: topic.id,
        partitions,
        links,
        plan,
        clock,
        shared,
        schedule_lag: histogram(),
        slack_us,
        schedule_start_us: 0,
        answers: tell_writer.map(|_| Answers {
            outstanding: 0,
            answered,
        }),
        identity,
    };
    let started_us = producer.clock.now_us();
    if producer.plan.kafka_throttle {
        producer.schedule_start_us = started_us;
    }
    let outcome = producer.produce();
    // Closing the channels lets each reader finish once it has every answer.
    let mut answered: Vec<Answered> = Vec::new();
    let mut reader_error = None;
    for link in producer.links.values_mut() {
        link.to_reader = None;
        if let Some(reader) = link.reader.take() {
            match reader.join() {
                Ok(Ok(reader)) => answered.push(reader),
                Ok(Err(error)) => reader_error = reader_error.or(Some(error)),
                Err(_) => reader_error = Some(anyhow!("an acknowledgement reader panicked")),
            }
        }
    }
    // A reader's error explains a writer's "channel closed", so it comes first.
    if let Some(error) = reader_error {
        return Err(error);
    }
    outcome?;
    Ok(Produced {
        records: producer.sent_records,
        bytes: producer.sent_bytes,
        latency: merged(answered.iter().map(|a| &a.records))?,
        request_latency: merged(answered.iter().map(|a| &a.requests))?,
        schedule_lag: std::mem::replace(&mut producer.schedule_lag, histogram()),
        started_us,
        finished_us: producer.clock.now_us(),
        commits: producer.identity.take().and_then(Identity::commits),
        steady: (producer.plan.warmup > 0)
            .then(|| -> Result<_> {
                let latency = merged(answered.iter().map(|a| &a.steady))?;
                Ok((latency, producer.steady_made.0, producer.steady_made.1))
            })
            .transpose()?,
    })
}

struct Producer {
    plan: ProducerPlan,
    clock: Clock,
    keys: Keys,
    /// What values are made of: the bench's random bytes, or `Payload::Letters`' letters.
    template: Bytes,
    /// Draws payloads and slices of the letters.
    rng: fastrand::Rng,
    /// (partition, leader), by partition index.
    partitions: Vec<(i32, i32)>,
    topic_id: uuid::Uuid,
    links: BTreeMap<i32, Link>,
    /// Where unkeyed records go: one partition per batch, then the next.
    sticky: usize,
    pending: BTreeMap<usize, Pending>,
    sent_records: u64,
    sent_bytes: u64,
    /// Records made after the warmup, and their bytes.
    steady_made: (u64, u64),
    shared: Arc<Shared>,
    schedule_lag: Histogram<u64>,
    /// How late an open-loop producer makes a record on purpose, at most, in µs: a
    /// quarter of the linger.
    slack_us: u64,
    /// Where its schedule starts, µs from the run's start.
    schedule_start_us: u64,
    /// An idempotent or transactional producer's id, epoch and sequences.
    identity: Option<Identity>,
    answers: Option<Answers>,
}

impl Producer {
    fn produce(&mut self) -> Result<()> {
        let mut made: u64 = 0;
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                break;
            }
            let now = self.clock.now_us();
            let due = self
                .plan
                .pace
                .due(made)
                .map(|d| d.as_micros() as u64 + self.schedule_start_us);
            let finished = match self.plan.limit {
                Limit::Records(n) => made >= n,
                Limit::Duration(d) => due.unwrap_or(now) >= d.as_micros() as u64,
            };
            if finished {
                break;
            }
            match due {
                Some(due) if due > now => {
                    let burst = due + self.slack_us;
                    let wake = self.send_lingered(now)?.map_or(burst, |l| l.min(burst));
                    if wake > now {
                        std::thread::sleep(Duration::from_micros(wake - now));
                    }
                }
                _ => {
                    if let Some(due) = due {
                        // Late: the harness, or a full in-flight window, held it up.
                        self.schedule_lag.saturating_record(now - due + 1);
                    }
                    let start = match due {
                        Some(due) if !self.plan.kafka_throttle => due,
                        _ => now,
                    };
                    self.make(made, start, now)?;
                    made += 1;
                    if made.is_multiple_of(LINGER_CHECK_EVERY) {
                        self.send_lingered(now)?;
                    }
                }
            }
        }
        self.send_all()?;
        if self.identity.as_ref().is_some_and(Identity::in_transaction) {
            self.commit()?;
        }
        Ok(())
    }

    fn send_all(&mut self) -> Result<()> {
        let partitions: Vec<usize> = self.pending.keys().copied().collect();
        for slot in partitions {
            self.send(slot)?;
        }
        Ok(())
    }

    /// Commits the open transaction once every one of its records is acknowledged.
    fn commit(&mut self) -> Result<()> {
        self.send_all()?;
        if let Some(answers) = &mut self.answers {
            while answers.outstanding > 0 {
                answers
                    .answered
                    .recv()
                    .map_err(|_| anyhow!("the acknowledgement reader stopped"))?;
                answers.outstanding -= 1;
            }
        }
        match &mut self.identity {
            Some(identity) => identity.commit(),
            None => Ok(()),
        }
    }

    /// Makes record `index`, due at `due_us`, and adds it (at `now_us`) to its
    /// partition's batch, sending the batch once it is full.
    fn make(&mut self, index: u64, due_us: u64, now_us: u64) -> Result<()> {
        let key = self.keys.next_key().map(key_bytes);
        let slot = match &key {
            Some(key) => partition_for_key(key, self.partitions.len()),
            None => self.sticky,
        };
        let stamp = self.clock.epoch_us(due_us);
        let stamp_bytes = stamp.to_be_bytes();
        let counter;
        let value: [&[u8]; 2] = match &self.plan.payload {
            // The producer's timestamp in µs leads the value, for end-to-end latency; a
            // record too small for it carries only Kafka's ms timestamp.
            Payload::Stamped => match self.template.get(stamp_bytes.len()..) {
                Some(rest) => [&stamp_bytes, rest],
                None => [&self.template, &[]],
            },
            Payload::Letters => {
                let size = self.plan.message_size;
                let at = self.rng.usize(..=self.template.len() - size);
                [&self.template[at..at + size], &[]]
            }
            Payload::Drawn(values) => [&values[self.rng.usize(..values.len())], &[]],
            Payload::Counting => {
                counter = index.to_string();
                [counter.as_bytes(), &[]]
            }
        };
        let bytes = (value[0].len() + value[1].len() + key.as_ref().map_or(0, Vec::len)) as u64;
        let capacity = self.plan.records_per_batch * (bytes as usize + RECORD_FRAMING_BYTES);
        let pending = self.pending.entry(slot).or_insert_with(|| Pending {
            records: BatchBuilder::with_capacity(capacity),
            ..Pending::default()
        });
        if pending.records.is_empty() {
            pending.opened_us = due_us.max(now_us.saturating_sub(self.slack_us));
        }
        pending
            .records
            .push(key.as_deref(), &value, (stamp / 1000) as i64);
        pending.due_us.push(due_us);
        pending.bytes += bytes;
        if index < self.plan.warmup {
            // A batch's records are in the order they were made: its warmup records
            // come first.
            pending.warmup += 1;
            pending.warmup_bytes += bytes;
            if index + 1 == self.plan.warmup {
                // Stored before the batches of later records are handed to a reader; the
                // window starts afresh here, so no steady record is counted in the warmup's.
                self.shared
                    .steady_at_us
                    .store(now_us.max(1), Ordering::Relaxed);
                self.shared.window.take();
            }
        } else {
            self.steady_made.0 += 1;
            self.steady_made.1 += bytes;
        }
        if pending.records.len() >= self.plan.records_per_batch {
            self.send(slot)?;
        }
        if self.identity.as_mut().is_some_and(Identity::made_one) {
            self.commit()?;
        }
        Ok(())
    }

    /// Sends every batch that has been open for `linger`; returns when the next
    /// pending batch's linger runs out.
    fn send_lingered(&mut self, now_us: u64) -> Result<Option<u64>> {
        let linger = self.plan.linger.as_micros() as u64;
        let expired: Vec<usize> = self
            .pending
            .iter()
            .filter(|(_, p)| !p.records.is_empty() && p.opened_us + linger <= now_us)
            .map(|(&slot, _)| slot)
            .collect();
        for slot in expired {
            self.send(slot)?;
        }
        Ok(self
            .pending
            .values()
            .filter(|p| !p.records.is_empty())
            .map(|p| p.opened_us + linger)
            .min())
    }

    fn send(&mut self, slot: usize) -> Result<()> {
        let Some(pending) = self.pending.remove(&slot) else {
            return Ok(());
        };
        if pending.records.is_empty() {
            return Ok(());
        }
        if slot == self.sticky {
            self.sticky = (self.sticky + 1) % self.partitions.len();
        }
        let (partition, leader) = self.partitions[slot];
        let records = pending.records.len() as u64;
        let producer = match &mut self.identity {
            Some(identity) => {
                Some(identity.next_batch(&self.plan.topic, partition, records as i32)?)
            }
            None => None,
        };
        let batch = pending.records.finish(self.plan.compression, producer)?;
        let link = self
            .links
            .get_mut(&leader)
            .ok_or_else(|| anyhow!("no connection to broker {leader}"))?;
        let transactional_id = self
            .identity
            .as_ref()
            .and_then(Identity::transactional_id)
            .map(|id| StrBytes::from_string(id.to_string()).into());
        let request = ProduceRequest::default()
            .with_transactional_id(transactional_id)
            .with_acks(self.plan.acks.wire())
            .with_timeout_ms(self.plan.timeout_ms)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(self.plan.topic.clone())))
                .with_topic_id(self.topic_id)
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch))])]);
        let reader_stopped = || anyhow!("the acknowledgement reader stopped");
        if let Some(to_reader) = &link.to_reader {
            // Blocks while `in_flight` requests are unanswered: the closed loop's brake.
            to_reader.slots.send(()).map_err(|_| reader_stopped())?;
        }
        let sent_us = self.clock.now_us();
        link.writer
            .send(ApiKey::Produce, link.version, &request)
            .with_context(|| format!("sending to broker {leader}"))?;
        self.sent_records += records;
        self.sent_bytes += pending.bytes;
        if let Some(to_reader) = &link.to_reader {
            let ticket = Ticket {
                records,
                bytes: pending.bytes,
                warmup: pending.warmup,
                warmup_bytes: pending.warmup_bytes,
                due_us: pending.due_us,
                sent_us,
            };
            to_reader
                .tickets
                .send(ticket)
                .map_err(|_| reader_stopped())?;
            if let Some(answers) = &mut self.answers {
                answers.outstanding += 1;
            }
        } else {
            // acks=0: nothing will answer, so a written request counts as done.
            let shared = &self.shared;
            shared.acked_records.fetch_add(records, Ordering::Relaxed);
            shared
                .acked_bytes
                .fetch_add(pending.bytes, Ordering::Relaxed);
            let warmup = if shared.steady_at_us.load(Ordering::Relaxed) == 0 {
                (0, 0)
            } else {
                (pending.warmup, pending.warmup_bytes)
            };
            shared.window.add(WindowCounts {
                records: records - warmup.0,
                bytes: pending.bytes - warmup.1,
                latency_sum_us: 0,
                latency_max_us: 0,
            });
        }
        Ok(())
    }
}

/// A reader's channels: the in-flight slots, the tickets, and (transactional mode) the
/// way to tell the writer of each answer.
type ReaderChannels = (Receiver<()>, Receiver<Ticket>, Option<Sender<()>>);

/// Takes a connection's answers in order, one per ticket; records latencies and counts.
/// Ends when the writer closes the channels.
fn read_acks(
    mut connection: Connection,
    version: i16,
    (slots, tickets, tell_writer): ReaderChannels,
    clock: Clock,
    shared: &Shared,
) -> Result<Answered> {
    let mut answered = Answered {
        records: histogram(),
        requests: histogram(),
        steady: histogram(),
    };
    // A slot is taken before its request is written, and its ticket follows the writing.
    while slots.recv().is_ok() {
        let Ok(ticket) = tickets.recv() else { break };
        let (_, response): (i32, ProduceResponse) = connection
            .receive(ApiKey::Produce, version)
            .context("reading a Produce answer")?;
        let now = clock.now_us();
        for partition in response
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
        {
            if partition.error_code != 0 {
                shared.stop.store(true, Ordering::Relaxed);
                bail!(
                    "produce to partition {} failed: {}",
                    partition.index,
                    error_name(partition.error_code)
                );
            }
        }
        // Once the warmup is over, the window counts only the records made after it.
        let steady = shared.steady_at_us.load(Ordering::Relaxed) != 0;
        let counted_from = if steady { ticket.warmup as usize } else { 0 };
        let mut window = WindowCounts::default();
        for (i, due) in ticket.due_us.into_iter().enumerate() {
            let latency = now.saturating_sub(due).max(1);
            answered.records.saturating_record(latency);
            if i >= counted_from {
                window.latency_sum_us += latency;
                window.latency_max_us = window.latency_max_us.max(latency);
            }
            if steady && i >= ticket.warmup as usize {
                answered.steady.saturating_record(latency);
            }
        }
        window.records = ticket.records - counted_from as u64;
        window.bytes = ticket.bytes - if steady { ticket.warmup_bytes } else { 0 };
        shared.window.add(window);
        answered
            .requests
            .saturating_record(now.saturating_sub(ticket.sent_us).max(1));
        shared
            .acked_records
            .fetch_add(ticket.records, Ordering::Relaxed);
        shared
            .acked_bytes
            .fetch_add(ticket.bytes, Ordering::Relaxed);
        if let Some(tell) = &tell_writer {
            let _ = tell.send(());
        }
    }
    Ok(answered)
}

/// What `payload`'s values are made of: for the bench, a value of `size` pseudo-random
/// bytes (seeded), compressible only as much as real payloads, not the all-zero best
/// case; for `Payload::Letters`, a pool of random capital letters `size` longer than
/// what it says.
fn template(payload: &Payload, size: usize, records_per_batch: usize, seed: u64) -> Bytes {
    let mut rng = fastrand::Rng::with_seed(seed);
    match payload {
        Payload::Stamped => {
            let mut value = vec![0u8; size];
            rng.fill(&mut value);
            Bytes::from(value)
        }
        Payload::Letters => {
            let pool = LETTERS_BYTES.max(records_per_batch.saturating_mul(size).saturating_mul(16));
            (0..size + pool).map(|_| rng.u8(b'A'..=b'Z')).collect()
        }
        Payload::Drawn(_) | Payload::Counting => Bytes::new(),
    }
}
