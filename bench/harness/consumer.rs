//! A bench consumer: one OS thread fetching its share of the topic's partitions from
//! their leaders (sessionless Fetch, standard APIs only, no group), counting records and
//! bytes, and in the end-to-end scenario recording each record's latency from the
//! producer's timestamp in it.
//!
//! Invariant: a consumer stops on `drain` only after a fetch *sent after* it saw the
//! flag shows every partition read to its high watermark, so no acknowledged record
//! is left behind; `stop` (time up, Ctrl-C, an error elsewhere) ends it at once.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hdrhistogram::Histogram;

use super::report::histogram;
use super::{Clock, Shared};
use crate::client::cluster::{Cluster, Options};
use crate::client::error::{error_name, is_retriable};
use crate::client::fetch::{self, FetchLimits, TopicPositions, EARLIEST, LATEST};

/// How long a fetch waits for data: short, so a stop is noticed quickly.
const FETCH_WAIT_MS: i32 = 100;
/// How long consumers may take to read what was produced once producers are done.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

pub struct ConsumerPlan {
    pub index: usize,
    pub bootstrap: String,
    pub options: Options,
    pub topic: String,
    pub partitions: Vec<i32>,
    /// Read from the log start (consume) or from the end as of the start (end-to-end).
    pub from_start: bool,
    /// Total records after which every consumer stops (consume scenario).
    pub records_max: Option<u64>,
    /// Record end-to-end latency from the value's timestamp.
    pub end_to_end: bool,
}

pub struct Consumed {
    pub records: u64,
    pub bytes: u64,
    pub latency: Histogram<u64>,
    /// Whether it read every partition to its end before it stopped.
    pub caught_up: bool,
    /// When it stopped, µs from the run's start.
    pub finished_us: u64,
}

pub fn run(
    plan: ConsumerPlan,
    clock: Clock,
    shared: Arc<Shared>,
    ready: Arc<Barrier>,
) -> Result<Consumed> {
    let outcome = start(&plan);
    // Producers wait for every consumer's start offsets, even a failed consumer's.
    ready.wait();
    let (mut cluster, mut by_leader) = outcome?;
    let limits = FetchLimits {
        max_wait_ms: FETCH_WAIT_MS,
        ..FetchLimits::default()
    };
    let mut high_watermarks: BTreeMap<i32, i64> = BTreeMap::new();
    let mut consumed = Consumed {
        records: 0,
        bytes: 0,
        latency: histogram(),
        caught_up: false,
        finished_us: 0,
    };
    let mut drain_deadline = None;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if plan
            .records_max
            .is_some_and(|max| shared.consumed_records.load(Ordering::Relaxed) >= max)
        {
            break;
        }
        // Read before fetching: the answers then carry high watermarks at least as new
        // as the moment producing ended.
        let draining = shared.drain.load(Ordering::Acquire);
        if draining && drain_deadline.is_none() {
            drain_deadline = Some(Instant::now() + DRAIN_TIMEOUT);
        }
        for (&leader, wanted) in by_leader.iter_mut() {
            let broker = cluster.broker(leader)?;
            let fetched = fetch::fetch(broker, std::slice::from_ref(wanted), limits)?;
            for partition in fetched {
                if partition.error_code != 0 {
                    if is_retriable(partition.error_code) {
                        continue;
                    }
                    shared.stop.store(true, Ordering::Relaxed);
                    bail!(
                        "fetch of partition {} failed: {}",
                        partition.partition,
                        error_name(partition.error_code)
                    );
                }
                high_watermarks.insert(partition.partition, partition.high_watermark);
                let now = clock.epoch_now_us();
                let mut bytes = 0u64;
                for record in &partition.records {
                    let value = record.value.as_deref().unwrap_or_default();
                    bytes += (value.len() + record.key.as_ref().map_or(0, |k| k.len())) as u64;
                    if plan.end_to_end {
                        let sent_us = match value.get(..8) {
                            Some(stamp) => u64::from_be_bytes(stamp.try_into().unwrap_or_default()),
                            None => (record.timestamp.max(0) as u64) * 1000,
                        };
                        consumed
                            .latency
                            .saturating_record(now.saturating_sub(sent_us).max(1));
                    }
                }
                let records = partition.records.len() as u64;
                consumed.records += records;
                consumed.bytes += bytes;
                shared
                    .consumed_records
                    .fetch_add(records, Ordering::Relaxed);
                shared.consumed_bytes.fetch_add(bytes, Ordering::Relaxed);
                if let Some(position) = wanted
                    .positions
                    .iter_mut()
                    .find(|(p, _)| *p == partition.partition)
                {
                    position.1 = partition.next_offset;
                }
            }
        }
        let mut positions = by_leader.values().flat_map(|wanted| &wanted.positions);
        let at_end = positions.all(|(partition, offset)| {
            high_watermarks
                .get(partition)
                .is_some_and(|hw| offset >= hw)
        });
        // Every record producers sent must come back too: with acks=0 the high
        // watermark may not cover them yet when producing ends.
        let all_read = shared.consumed_records.load(Ordering::Relaxed)
            >= shared.acked_records.load(Ordering::Relaxed);
        if draining && at_end && all_read {
            consumed.caught_up = true;
            break;
        }
        if drain_deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    consumed.finished_us = clock.now_us();
    Ok(consumed)
}

/// Per leader, the plan's partitions it leads and where their reading is.
type Positions = BTreeMap<i32, TopicPositions>;

/// Connects and finds where each of the plan's partitions starts, grouped by leader.
fn start(plan: &ConsumerPlan) -> Result<(Cluster, Positions)> {
    let mut cluster = Cluster::connect(&plan.bootstrap, plan.options.clone())?;
    let topic = cluster.topic(&plan.topic, false)?;
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for &partition in &plan.partitions {
        let Some(leader) = topic.leader(partition) else {
            bail!("partition {partition} of '{}' has no leader", plan.topic);
        };
        by_leader.entry(leader).or_default().push(partition);
    }
    let at = if plan.from_start { EARLIEST } else { LATEST };
    let mut positions = Positions::new();
    for (leader, partitions) in by_leader {
        let broker = cluster.broker(leader)?;
        let offsets = fetch::list_offsets(broker, &plan.topic, &partitions, at)?;
        let mut starts = Vec::new();
        for (partition, code, offset) in offsets {
            if code != 0 {
                bail!(
                    "listing offsets of partition {partition} failed: {}",
                    error_name(code)
                );
            }
            starts.push((partition, offset));
        }
        let wanted = TopicPositions {
            name: plan.topic.clone(),
            id: topic.id,
            positions: starts,
        };
        positions.insert(leader, wanted);
    }
    Ok((cluster, positions))
}
