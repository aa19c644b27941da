//! The transaction admin requests `kafka-transactions.sh` makes: ListTransactions on every
//! broker, DescribeTransactions on the id's coordinator (FindCoordinator, key type
//! transaction), DescribeProducers on each partition's leader (or a replica the caller
//! names), and WriteTxnMarkers ABORT on the partition's leader (Kafka's
//! `Admin.abortTransaction`). Each request is built for the version the broker negotiated.
//!
//! Waits are bounded by the caller's timeout: a coordinator still loading, or a leader that
//! moved, is asked again after a short backoff until then. Every other error code comes back
//! as `Error::Broker` naming the transactional id or partition, with Kafka's code for the
//! caller to match on (find-hanging treats TRANSACTIONAL_ID_NOT_FOUND as an answer).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    DescribeProducersRequest, DescribeTransactionsRequest, ListTransactionsRequest, ProducerId,
    TopicName, TransactionalId, WriteTxnMarkersRequest,
};

use super::broker::Broker;
use super::cluster::{Cluster, TopicMetadata, RETRY_BACKOFF};
use super::error::{is_retriable, Error, Result};
use super::group::{find_coordinator, Coordinated};
use super::{missing, str_bytes};

pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
pub const BROKER_NOT_AVAILABLE: i16 = 8;
pub const REPLICA_NOT_AVAILABLE: i16 = 9;
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub const NOT_COORDINATOR: i16 = 16;
pub const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;

/// ListTransactions v1 is the first with a duration filter.
const LIST_TRANSACTIONS_DURATION_VERSION: i16 = 1;
/// ListTransactions filters by a pattern over the ids from v2 (KIP-1152).
const LIST_TRANSACTIONS_PATTERN_VERSION: i16 = 2;

/// A partition by topic name, printed as Kafka's `TopicPartition` is: `topic-partition`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionListing {
    pub transactional_id: String,
    /// The broker that listed it: the id's coordinator.
    pub coordinator: i32,
    pub producer_id: i64,
    pub state: String,
}

/// What ListTransactions keeps; an empty list keeps everything.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub states: Vec<String>,
    pub producer_ids: Vec<i64>,
    /// Only transactions open longer than this (ListTransactions v1+).
    pub duration_ms: Option<i64>,
    /// Only ids this regular expression matches whole (ListTransactions v2+).
    pub id_pattern: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    pub coordinator: i32,
    pub transactional_id: String,
    pub state: String,
    pub timeout_ms: i32,
    /// None when no transaction is open (the broker sends -1).
    pub start_time_ms: Option<i64>,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// Sorted.
    pub partitions: Vec<TopicPartition>,
}

/// One producer a partition knows, as DescribeProducers reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    pub producer_id: i64,
    pub producer_epoch: i32,
    /// -1 when none.
    pub last_sequence: i32,
    pub last_timestamp: i64,
    /// None until a marker was written for this producer.
    pub coordinator_epoch: Option<i32>,
    /// The first offset of the producer's open transaction, if one is open.
    pub txn_start_offset: Option<i64>,
}

/// The transaction one WriteTxnMarkers ABORT closes on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbortSpec {
    pub partition: TopicPartition,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub coordinator_epoch: i32,
}

/// Every broker's transactions (each coordinates the ids of its state partitions), in
/// broker order, each broker's in its own order.
pub fn list_transactions(
    cluster: &mut Cluster,
    filter: &ListFilter,
    timeout: Duration,
) -> Result<Vec<TransactionListing>> {
    let deadline = Instant::now() + timeout;
    let brokers: Vec<i32> = cluster
        .metadata(Some(&[]), false)?
        .brokers
        .into_keys()
        .collect();
    let mut listings = Vec::new();
    for id in brokers {
        listings.extend(list_on(cluster.broker(id)?, id, filter, deadline)?);
    }
    Ok(listings)
}

/// ListTransactions on broker `id`, asked again while its coordinator is loading.
fn list_on(
    broker: &mut Broker,
    id: i32,
    filter: &ListFilter,
    deadline: Instant,
) -> Result<Vec<TransactionListing>> {
    let version = broker.version::<ListTransactionsRequest>()?;
    let mut request = ListTransactionsRequest::default()
        .with_state_filters(filter.states.iter().map(str_bytes).collect())
        .with_producer_id_filters(filter.producer_ids.iter().map(|&p| ProducerId(p)).collect());
    if let Some(duration_ms) = filter.duration_ms {
        if version < LIST_TRANSACTIONS_DURATION_VERSION {
            return Err(Error::Invalid(format!(
                "broker {id} serves ListTransactions only at v{version}, which cannot filter by duration"
            )));
        }
        request.duration_filter = duration_ms;
    }
    if let Some(pattern) = &filter.id_pattern {
        if version < LIST_TRANSACTIONS_PATTERN_VERSION {
            return Err(Error::Invalid(format!(
                "broker {id} serves ListTransactions only at v{version}, which cannot filter by a transactional id pattern"
            )));
        }
        request.transactional_id_pattern = Some(str_bytes(pattern));
    }
    loop {
        let response = broker.call(version, &request)?;
        if response.error_code == COORDINATOR_LOAD_IN_PROGRESS && Instant::now() < deadline {
            // A tool waiting for a coordinator to finish loading; not a hot path.
            std::thread::sleep(RETRY_BACKOFF);
            continue;
        }
        Error::check(response.error_code, None, || {
            format!("cannot list the transactions of broker {id}")
        })?;
        return Ok(response
            .transaction_states
            .into_iter()
            .map(|t| TransactionListing {
                transactional_id: t.transactional_id.0.to_string(),
                coordinator: id,
                producer_id: t.producer_id.0,
                state: t.transaction_state.to_string(),
            })
            .collect());
    }
}

/// The broker id coordinating transactional id `id`, waiting out "not available yet"
/// answers until `deadline`.
pub fn transaction_coordinator(cluster: &mut Cluster, id: &str, deadline: Instant) -> Result<i32> {
    find_coordinator(cluster, Coordinated::Transaction, id, deadline)
}

/// DescribeTransactions for `id` on its coordinator. An id the coordinator does not know
/// is `Error::Broker` with TRANSACTIONAL_ID_NOT_FOUND.
pub fn describe_transaction(
    cluster: &mut Cluster,
    id: &str,
    timeout: Duration,
) -> Result<TransactionDescription> {
    let deadline = Instant::now() + timeout;
    loop {
        let node = transaction_coordinator(cluster, id, deadline)?;
        let broker = cluster.broker(node)?;
        let version = broker.version::<DescribeTransactionsRequest>()?;
        let request = DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(str_bytes(id))]);
        let response = broker.call(version, &request)?;
        let state = response
            .transaction_states
            .into_iter()
            .find(|t| t.transactional_id.0.as_str() == id)
            .ok_or_else(|| missing(broker, "DescribeTransactions", id))?;
        let moved = [
            COORDINATOR_LOAD_IN_PROGRESS,
            COORDINATOR_NOT_AVAILABLE,
            NOT_COORDINATOR,
        ];
        if moved.contains(&state.error_code) && Instant::now() < deadline {
            std::thread::sleep(RETRY_BACKOFF);
            continue;
        }
        Error::check(state.error_code, None, || {
            format!("cannot describe transactional id '{id}'")
        })?;
        let mut partitions: Vec<TopicPartition> = state
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|&p| TopicPartition::new(t.topic.0.to_string(), p))
            })
            .collect();
        partitions.sort();
        return Ok(TransactionDescription {
            coordinator: node,
            transactional_id: id.to_string(),
            state: state.transaction_state.to_string(),
            timeout_ms: state.transaction_timeout_ms,
            start_time_ms: (state.transaction_start_time_ms >= 0)
                .then_some(state.transaction_start_time_ms),
            producer_id: state.producer_id.0,
            producer_epoch: state.producer_epoch,
            partitions,
        });
    }
}

/// The producers each of `partitions` knows, asked of each partition's leader, or of
/// broker `replica` when given (then a broker that does not host a partition is an error,
/// not a reason to look for the leader again).
pub fn describe_producers(
    cluster: &mut Cluster,
    partitions: &[TopicPartition],
    replica: Option<i32>,
    timeout: Duration,
) -> Result<BTreeMap<TopicPartition, Vec<ProducerState>>> {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<TopicPartition> = partitions
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut described = BTreeMap::new();
    loop {
        let targets = match replica {
            Some(id) => BTreeMap::from([(id, std::mem::take(&mut pending))]),
            None => by_leader(cluster, std::mem::take(&mut pending))?,
        };
        for (node, asked) in targets {
            for (partition, answer) in producers_on(cluster.broker(node)?, &asked)? {
                match answer {
                    Ok(states) => {
                        described.insert(partition, states);
                    }
                    Err((code, _))
                        if replica.is_none() && is_retriable(code) && Instant::now() < deadline =>
                    {
                        pending.push(partition)
                    }
                    Err((code, message)) => {
                        return Err(Error::Broker {
                            context: format!(
                                "cannot describe the producers of {partition} on broker {node}"
                            ),
                            code,
                            message,
                        })
                    }
                }
            }
        }
        if pending.is_empty() {
            return Ok(described);
        }
        // A leader moved or is being elected; not a hot path.
        std::thread::sleep(RETRY_BACKOFF);
    }
}

type ProducersAnswer = std::result::Result<Vec<ProducerState>, (i16, Option<String>)>;

/// One DescribeProducers request for `partitions` on `broker`: each partition's producers,
/// or its error code and message.
fn producers_on(
    broker: &mut Broker,
    partitions: &[TopicPartition],
) -> Result<Vec<(TopicPartition, ProducersAnswer)>> {
    let version = broker.version::<DescribeProducersRequest>()?;
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for p in partitions {
        by_topic.entry(&p.topic).or_default().push(p.partition);
    }
    let request = DescribeProducersRequest::default().with_topics(
        by_topic
            .into_iter()
            .map(|(topic, indexes)| {
                TopicRequest::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_partition_indexes(indexes)
            })
            .collect(),
    );
    let response = broker.call(version, &request)?;
    let mut answers: BTreeMap<TopicPartition, ProducersAnswer> = BTreeMap::new();
    for topic in response.topics {
        for p in topic.partitions {
            let partition = TopicPartition::new(topic.name.0.to_string(), p.partition_index);
            let answer = if p.error_code == 0 {
                Ok(p.active_producers.iter().map(producer_state).collect())
            } else {
                Err((p.error_code, p.error_message.map(|m| m.to_string())))
            };
            answers.insert(partition, answer);
        }
    }
    partitions
        .iter()
        .map(|p| {
            let answer = answers
                .remove(p)
                .ok_or_else(|| missing(broker, "DescribeProducers", &p.to_string()))?;
            Ok((p.clone(), answer))
        })
        .collect()
}

fn producer_state(
    p: &kafka_protocol::messages::describe_producers_response::ProducerState,
) -> ProducerState {
    ProducerState {
        producer_id: p.producer_id.0,
        producer_epoch: p.producer_epoch,
        last_sequence: p.last_sequence,
        last_timestamp: p.last_timestamp,
        coordinator_epoch: (p.coordinator_epoch >= 0).then_some(p.coordinator_epoch),
        txn_start_offset: (p.current_txn_start_offset >= 0).then_some(p.current_txn_start_offset),
    }
}

/// `partitions` grouped by their leader, from fresh Metadata; a topic or partition that
/// does not exist is an error.
fn by_leader(
    cluster: &mut Cluster,
    partitions: Vec<TopicPartition>,
) -> Result<BTreeMap<i32, Vec<TopicPartition>>> {
    let mut grouped: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
    let mut topics = BTreeMap::new();
    for p in partitions {
        if !topics.contains_key(&p.topic) {
            topics.insert(p.topic.clone(), cluster.topic(&p.topic, false)?);
        }
        let leader = leader_of(&topics[&p.topic], &p)?;
        grouped.entry(leader).or_default().push(p);
    }
    Ok(grouped)
}

fn leader_of(topic: &TopicMetadata, partition: &TopicPartition) -> Result<i32> {
    topic
        .leader(partition.partition)
        .ok_or_else(|| Error::Invalid(format!("partition {partition} does not exist")))
}

/// WriteTxnMarkers ABORT for `spec` on its partition's leader, as a coordinator would
/// write it; asked again of the new leader if the leader moved.
pub fn abort_transaction(cluster: &mut Cluster, spec: &AbortSpec, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let partition = &spec.partition;
    loop {
        let topic = cluster.topic(&partition.topic, false)?;
        let broker = cluster.broker(leader_of(&topic, partition)?)?;
        let version = broker.version::<WriteTxnMarkersRequest>()?;
        let marker = WritableTxnMarker::default()
            .with_producer_id(ProducerId(spec.producer_id))
            .with_producer_epoch(spec.producer_epoch)
            .with_transaction_result(false)
            .with_coordinator_epoch(spec.coordinator_epoch)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(TopicName(str_bytes(&partition.topic)))
                .with_partition_indexes(vec![partition.partition])]);
        let request = WriteTxnMarkersRequest::default().with_markers(vec![marker]);
        let response = broker.call(version, &request)?;
        let code = response
            .markers
            .iter()
            .filter(|m| m.producer_id.0 == spec.producer_id)
            .flat_map(|m| &m.topics)
            .filter(|t| t.name.0.as_str() == partition.topic)
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == partition.partition)
            .map(|p| p.error_code)
            .ok_or_else(|| missing(broker, "WriteTxnMarkers", &partition.to_string()))?;
        let moved = [
            NOT_LEADER_OR_FOLLOWER,
            REPLICA_NOT_AVAILABLE,
            BROKER_NOT_AVAILABLE,
            UNKNOWN_TOPIC_OR_PARTITION,
        ];
        if moved.contains(&code) && Instant::now() < deadline {
            std::thread::sleep(RETRY_BACKOFF);
            continue;
        }
        return Error::check(code, None, || {
            format!(
                "cannot abort the transaction of producer {} (epoch {}, coordinator epoch {}) on {partition}",
                spec.producer_id, spec.producer_epoch, spec.coordinator_epoch
            )
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_print_as_kafkas_topic_partition() {
        assert_eq!(TopicPartition::new("orders", 3).to_string(), "orders-3");
        let mut sorted = vec![
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 10),
            TopicPartition::new("a", 2),
        ];
        sorted.sort();
        assert_eq!(
            sorted,
            vec![
                TopicPartition::new("a", 2),
                TopicPartition::new("a", 10),
                TopicPartition::new("b", 0),
            ]
        );
    }

    #[test]
    fn absent_values_on_the_wire_read_as_none() {
        let wire = kafka_protocol::messages::describe_producers_response::ProducerState::default()
            .with_producer_id(ProducerId(7))
            .with_producer_epoch(2)
            .with_last_sequence(-1)
            .with_last_timestamp(1_700_000_000_000)
            .with_coordinator_epoch(-1)
            .with_current_txn_start_offset(-1);
        let state = producer_state(&wire);
        assert_eq!(
            (state.coordinator_epoch, state.txn_start_offset),
            (None, None)
        );
        let open = producer_state(
            &wire
                .with_coordinator_epoch(0)
                .with_current_txn_start_offset(42),
        );
        assert_eq!(
            (open.coordinator_epoch, open.txn_start_offset),
            (Some(0), Some(42))
        );
    }
}
