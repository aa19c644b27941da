//! A bench producer's identity as an idempotent or transactional producer: the producer
//! id and epoch it writes with (InitProducerId), its sequence per partition, and, in
//! transactional mode, its session with the transaction coordinator (AddPartitionsToTxn
//! before a partition's first batch in a transaction, EndTxn to commit, timed).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::report::histogram;
use crate::client::cluster::{Cluster, Options};
use crate::client::error::error_name;
use crate::client::records::ProducerFields;
use crate::client::transactions::transaction_coordinator;

/// How a bench producer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerMode {
    Plain,
    /// A producer id and sequence numbers (`--idempotent`).
    Idempotent,
    /// Transactions, each committed when `Commit` says (`--transactional`).
    Transactional(Commit),
}

/// When a transactional producer commits its open transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Once it holds this many records (the bench's `--transactional N`).
    Every(u64),
    /// Once a record is made this long after the transaction's first
    /// (kafka-producer-perf-test's `--transaction-duration-ms`).
    After(Duration),
}

/// The transaction timeout the bench asks for: long enough for any batch of records.
const TRANSACTION_TIMEOUT_MS: i32 = 60_000;

pub struct Identity {
    id: i64,
    epoch: i16,
    /// The next sequence of each partition.
    sequences: BTreeMap<i32, i32>,
    session: Option<Session>,
    /// Connections of its own: the producer's are busy with pipelined Produce requests
    /// whose answers another thread reads.
    cluster: Cluster,
}

/// A transactional producer's dealings with its coordinator.
struct Session {
    transactional_id: String,
    coordinator: i32,
    commit: Commit,
    /// Records made in the open transaction.
    made: u64,
    /// When the open transaction's first record was made.
    opened: Instant,
    /// Partitions added to the open transaction.
    added: BTreeSet<i32>,
    /// Each EndTxn's, from its sending to its answer.
    commit_latency: Histogram<u64>,
    commits: u64,
}

impl Identity {
    /// InitProducerId: any broker for an idempotent producer, the coordinator of
    /// `transactional_id` for a transactional one.
    pub fn init(
        bootstrap: &str,
        options: &Options,
        mode: ProducerMode,
        transactional_id: &str,
    ) -> Result<Option<Identity>> {
        let (commit, transactional_id) = match mode {
            ProducerMode::Plain => return Ok(None),
            ProducerMode::Idempotent => (None, None),
            ProducerMode::Transactional(commit) => {
                (Some(commit), Some(transactional_id.to_string()))
            }
        };
        let mut cluster = Cluster::connect(bootstrap, options.clone())?;
        let coordinator = match &transactional_id {
            Some(id) => {
                let deadline = Instant::now() + options.timeout;
                Some(transaction_coordinator(&mut cluster, id, deadline)?)
            }
            None => None,
        };
        let broker = match coordinator {
            Some(node) => cluster.broker(node)?,
            None => cluster.any(),
        };
        let version = broker.version::<InitProducerIdRequest>()?;
        let request = InitProducerIdRequest::default()
            .with_transactional_id(
                transactional_id
                    .as_ref()
                    .map(|id| StrBytes::from_string(id.clone()).into()),
            )
            .with_transaction_timeout_ms(TRANSACTION_TIMEOUT_MS)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let response = broker.call(version, &request)?;
        if response.error_code != 0 {
            bail!("InitProducerId failed: {}", error_name(response.error_code));
        }
        let session = match (transactional_id, coordinator, commit) {
            (Some(transactional_id), Some(coordinator), Some(commit)) => Some(Session {
                transactional_id,
                coordinator,
                commit,
                made: 0,
                opened: Instant::now(),
                added: BTreeSet::new(),
                commit_latency: histogram(),
                commits: 0,
            }),
            _ => None,
        };
        Ok(Some(Identity {
            id: response.producer_id.0,
            epoch: response.producer_epoch,
            sequences: BTreeMap::new(),
            session,
            cluster,
        }))
    }

    /// The producer fields of the next batch of `records` records for `partition`;
    /// in a transaction, the partition joins it first.
    pub fn next_batch(
        &mut self,
        topic: &str,
        partition: i32,
        records: i32,
    ) -> Result<ProducerFields> {
        if let Some(session) = &mut self.session {
            if !session.added.contains(&partition) {
                session.add(&mut self.cluster, self.id, self.epoch, topic, partition)?;
            }
        }
        let sequence = self.sequences.entry(partition).or_insert(0);
        let base_sequence = *sequence;
        *sequence = sequence.wrapping_add(records) & i32::MAX;
        Ok(ProducerFields {
            id: self.id,
            epoch: self.epoch,
            base_sequence,
            transactional: self.session.is_some(),
        })
    }

    /// The transactional id its Produce requests carry, in transactional mode.
    pub fn transactional_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.transactional_id.as_str())
    }

    /// Counts a record made; true when the open transaction is due to commit.
    pub fn made_one(&mut self) -> bool {
        self.session.as_mut().is_some_and(|s| {
            if s.made == 0 {
                s.opened = Instant::now();
            }
            s.made += 1;
            match s.commit {
                Commit::Every(records) => s.made >= records.max(1),
                Commit::After(age) => s.opened.elapsed() >= age,
            }
        })
    }

    /// Whether records were made in a transaction not committed yet.
    pub fn in_transaction(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.made > 0)
    }

    /// EndTxn commit of the open transaction (its records all acknowledged first, by
    /// the caller).
    pub fn commit(&mut self) -> Result<()> {
        let Some(session) = &mut self.session else {
            return Ok(());
        };
        let broker = self.cluster.broker(session.coordinator)?;
        // Transaction version 1, as librdkafka speaks it: version 5 would bump the epoch.
        let version = broker.version::<EndTxnRequest>()?.min(4);
        let request = EndTxnRequest::default()
            .with_transactional_id(StrBytes::from_string(session.transactional_id.clone()).into())
            .with_producer_id(ProducerId(self.id))
            .with_producer_epoch(self.epoch)
            .with_committed(true);
        let started = Instant::now();
        let response = broker.call(version, &request)?;
        if response.error_code != 0 {
            bail!(
                "committing a transaction failed: {}",
                error_name(response.error_code)
            );
        }
        session
            .commit_latency
            .saturating_record((started.elapsed().as_micros() as u64).max(1));
        session.commits += 1;
        session.made = 0;
        session.added.clear();
        Ok(())
    }

    /// The commits' latencies and count, in transactional mode.
    pub fn commits(self) -> Option<(Histogram<u64>, u64)> {
        self.session.map(|s| (s.commit_latency, s.commits))
    }
}

impl Session {
    fn add(
        &mut self,
        cluster: &mut Cluster,
        id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<()> {
        let broker = cluster.broker(self.coordinator)?;
        // Versions 4 and up are the brokers' own; clients speak up to 3.
        let version = broker.version::<AddPartitionsToTxnRequest>()?.min(3);
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(
                StrBytes::from_string(self.transactional_id.clone()).into(),
            )
            .with_v3_and_below_producer_id(ProducerId(id))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![partition])]);
        let response = broker.call(version, &request)?;
        let errors = response
            .results_by_topic_v3_and_below
            .iter()
            .flat_map(|t| &t.results_by_partition)
            .map(|p| p.partition_error_code);
        if let Some(code) = errors.into_iter().find(|c| *c != 0) {
            bail!(
                "adding partition {partition} to a transaction failed: {}",
                error_name(code)
            );
        }
        self.added.insert(partition);
        Ok(())
    }
}
