//! `shoal transactions`: Kafka's kafka-transactions.sh — list and describe transactions,
//! describe a partition's producers, find hanging transactions and abort one, with its
//! subcommands, flags and table layout (`--list`, `--describe`, ... are accepted too).
//!
//! A transaction hangs when a partition holds it open but its coordinator will never end
//! it there: no transactional id maps to its producer, the coordinator does not know the
//! id, or the id's transaction does not hold that partition. Aborting writes the marker
//! the coordinator would have written (WriteTxnMarkers to the partition's leader).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args, Subcommand};

use super::ConnectArgs;
use crate::client::cluster::Cluster;
use crate::client::transactions::{
    self, AbortSpec, ListFilter, ProducerState, TopicPartition, TransactionDescription,
    TransactionListing, TRANSACTIONAL_ID_NOT_FOUND,
};

/// What Kafka prints for a value that is absent.
const NONE: &str = "None";
const MS_PER_MINUTE: i64 = 60_000;

#[derive(Args, Debug)]
#[command(mut_arg("bootstrap_server", |a| a.global(true)))]
#[command(mut_arg("request_timeout_ms", |a| a.global(true)))]
pub struct TransactionsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(subcommand)]
    pub command: TransactionsCommand,
}

#[derive(Subcommand, Debug)]
pub enum TransactionsCommand {
    /// List transactions (every broker is asked for those it coordinates).
    #[command(long_flag = "list")]
    List(ListArgs),
    /// Describe the state of a transactional id.
    #[command(long_flag = "describe")]
    Describe(DescribeArgs),
    /// Describe the states of the active producers of a partition.
    #[command(long_flag = "describe-producers")]
    DescribeProducers(DescribeProducersArgs),
    /// Abort a hanging transaction (writes the abort marker to the partition's leader).
    #[command(long_flag = "abort")]
    Abort(AbortArgs),
    /// Find hanging transactions.
    #[command(long_flag = "find-hanging")]
    FindHanging(FindHangingArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only transactions open longer than this many milliseconds (negative: all).
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub duration_filter: Option<i64>,
    /// Only transactional ids this regular expression matches whole (the broker
    /// matches it, as Kafka's does from ListTransactions v2).
    #[arg(long, value_name = "REGEX")]
    pub transactional_id_pattern: Option<String>,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// The transactional id.
    #[arg(long, value_name = "ID")]
    pub transactional_id: String,
}

#[derive(Args, Debug)]
pub struct DescribeProducersArgs {
    /// Ask this replica instead of the partition's leader.
    #[arg(long, value_name = "ID")]
    pub broker_id: Option<i32>,
    /// The topic.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The partition.
    #[arg(long, value_name = "PARTITION")]
    pub partition: i32,
}

#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("transaction")
        .required(true)
        .args(["start_offset", "producer_id"])
))]
pub struct AbortArgs {
    /// The topic.
    #[arg(long, value_name = "TOPIC")]
    pub topic: String,
    /// The partition.
    #[arg(long, value_name = "PARTITION")]
    pub partition: i32,
    /// The first offset of the transaction to abort (its producer is found with
    /// DescribeProducers).
    #[arg(long, value_name = "OFFSET")]
    pub start_offset: Option<i64>,
    /// The producer id of the transaction to abort (with --producer-epoch and
    /// --coordinator-epoch, for brokers without DescribeProducers).
    #[arg(long, value_name = "ID", requires_all = ["producer_epoch", "coordinator_epoch"])]
    pub producer_id: Option<i64>,
    /// The producer epoch of the transaction to abort.
    #[arg(long, value_name = "EPOCH", requires = "producer_id")]
    pub producer_epoch: Option<i16>,
    /// The coordinator epoch of the transaction's last marker (negative: 0).
    #[arg(
        long,
        value_name = "EPOCH",
        requires = "producer_id",
        allow_negative_numbers = true
    )]
    pub coordinator_epoch: Option<i32>,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("scope").required(true).multiple(true).args(["topic", "broker_id"])))]
pub struct FindHangingArgs {
    /// Search the partitions this broker hosts (and ask it rather than the leaders).
    #[arg(long, value_name = "ID")]
    pub broker_id: Option<i32>,
    /// Search this topic.
    #[arg(long, value_name = "TOPIC")]
    pub topic: Option<String>,
    /// Search only this partition of --topic.
    #[arg(long, value_name = "PARTITION", requires = "topic")]
    pub partition: Option<i32>,
    /// The longest transaction timeout clients use, in minutes: a transaction whose
    /// producer wrote nothing for longer is a candidate.
    #[arg(long, value_name = "MINUTES", default_value_t = 15)]
    pub max_transaction_timeout: i64,
}

pub fn run(args: TransactionsArgs) -> Result<()> {
    let mut cluster = args.connect.connect()?;
    let timeout = args.connect.timeout();
    match &args.command {
        TransactionsCommand::List(list) => list_transactions(&mut cluster, list, timeout),
        TransactionsCommand::Describe(args) => describe(&mut cluster, args, timeout),
        TransactionsCommand::DescribeProducers(producers) => {
            describe_producers(&mut cluster, producers, timeout)
        }
        TransactionsCommand::Abort(abort) => abort_transaction(&mut cluster, abort, timeout),
        TransactionsCommand::FindHanging(find) => find_hanging(&mut cluster, find, timeout),
    }
}

fn list_transactions(cluster: &mut Cluster, args: &ListArgs, timeout: Duration) -> Result<()> {
    let filter = ListFilter {
        duration_ms: args.duration_filter,
        id_pattern: args.transactional_id_pattern.clone(),
        ..ListFilter::default()
    };
    let listings = transactions::list_transactions(cluster, &filter, timeout)?;
    show(&list_table(&listings))
}

fn describe(cluster: &mut Cluster, args: &DescribeArgs, timeout: Duration) -> Result<()> {
    let description = transactions::describe_transaction(cluster, &args.transactional_id, timeout)?;
    show(&describe_table(&description, now_ms()))
}

fn describe_producers(
    cluster: &mut Cluster,
    args: &DescribeProducersArgs,
    timeout: Duration,
) -> Result<()> {
    let partition = TopicPartition::new(&args.topic, args.partition);
    let states = producers_of(cluster, &partition, args.broker_id, timeout)?;
    show(&producers_table(&states))
}

fn abort_transaction(cluster: &mut Cluster, args: &AbortArgs, timeout: Duration) -> Result<()> {
    let partition = TopicPartition::new(&args.topic, args.partition);
    let spec = match (
        args.start_offset,
        args.producer_id,
        args.producer_epoch,
        args.coordinator_epoch,
    ) {
        (Some(offset), ..) => {
            let states = producers_of(cluster, &partition, None, timeout)?;
            abort_spec_at(&partition, &states, offset)?
        }
        (None, Some(producer_id), Some(producer_epoch), Some(coordinator_epoch)) => AbortSpec {
            partition,
            producer_id,
            producer_epoch,
            // A producer whose transaction hung before any marker has no coordinator
            // epoch yet (-1); 0 is at most any real one, so the marker is accepted.
            coordinator_epoch: coordinator_epoch.max(0),
        },
        _ => bail!(
            "The transaction to abort must be identified either with --start-offset or with \
             --producer-id, --producer-epoch and --coordinator-epoch"
        ),
    };
    Ok(transactions::abort_transaction(cluster, &spec, timeout)?)
}

fn find_hanging(cluster: &mut Cluster, args: &FindHangingArgs, timeout: Duration) -> Result<()> {
    let max_ms = args.max_transaction_timeout.saturating_mul(MS_PER_MINUTE);
    let partitions = partitions_to_search(cluster, args)?;
    let producers =
        transactions::describe_producers(cluster, &partitions, args.broker_id, timeout)?;
    let now = now_ms();
    let candidates = open_longer_than(producers, max_ms, now);
    let hanging = if candidates.is_empty() {
        Vec::new()
    } else {
        let pids: BTreeSet<i64> = candidates.iter().map(|(_, s)| s.producer_id).collect();
        let ids = transactional_ids(cluster, &pids, timeout)?;
        let mut described = BTreeMap::new();
        for id in ids.values().collect::<BTreeSet<_>>() {
            described.insert(id.clone(), partitions_in_transaction(cluster, id, timeout)?);
        }
        candidates
            .into_iter()
            .filter(|(partition, state)| is_hanging(partition, state, &ids, &described))
            .collect()
    };
    show(&hanging_table(&hanging, now))
}

/// The transactional id each of `pids` belongs to, where one does (ListTransactions
/// filtered by producer id, on every broker).
fn transactional_ids(
    cluster: &mut Cluster,
    pids: &BTreeSet<i64>,
    timeout: Duration,
) -> Result<BTreeMap<i64, String>> {
    let filter = ListFilter {
        producer_ids: pids.iter().copied().collect(),
        ..ListFilter::default()
    };
    let listings = transactions::list_transactions(cluster, &filter, timeout)?;
    Ok(listings
        .into_iter()
        .filter(|l| pids.contains(&l.producer_id))
        .map(|l| (l.producer_id, l.transactional_id))
        .collect())
}

/// The partitions `id`'s transaction holds, or None when its coordinator does not know it.
fn partitions_in_transaction(
    cluster: &mut Cluster,
    id: &str,
    timeout: Duration,
) -> Result<Option<Vec<TopicPartition>>> {
    match transactions::describe_transaction(cluster, id, timeout) {
        Ok(description) => Ok(Some(description.partitions)),
        Err(error) if error.code() == Some(TRANSACTIONAL_ID_NOT_FOUND) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The producers of one partition, from its leader or from `replica`.
fn producers_of(
    cluster: &mut Cluster,
    partition: &TopicPartition,
    replica: Option<i32>,
    timeout: Duration,
) -> Result<Vec<ProducerState>> {
    let mut described = transactions::describe_producers(
        cluster,
        std::slice::from_ref(partition),
        replica,
        timeout,
    )?;
    Ok(described.remove(partition).unwrap_or_default())
}

/// A table on stdout; a closed pipe is an error to return, not a panic.
fn show(table: &str) -> Result<()> {
    io::stdout().lock().write_all(table.as_bytes())?;
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The abort of the open transaction that starts at `offset`, from the partition's
/// producers.
fn abort_spec_at(
    partition: &TopicPartition,
    states: &[ProducerState],
    offset: i64,
) -> Result<AbortSpec> {
    let Some(state) = states.iter().find(|s| s.txn_start_offset == Some(offset)) else {
        bail!("Could not find any open transactions starting at offset {offset} on partition {partition}");
    };
    let producer_epoch = i16::try_from(state.producer_epoch).with_context(|| {
        format!(
            "producer {} has epoch {}, beyond a producer epoch's range",
            state.producer_id, state.producer_epoch
        )
    })?;
    Ok(AbortSpec {
        partition: partition.clone(),
        producer_id: state.producer_id,
        producer_epoch,
        coordinator_epoch: state.coordinator_epoch.unwrap_or(0),
    })
}

/// The partitions find-hanging searches: the one named; or a topic's, or every topic's,
/// limited to those `--broker-id` hosts a replica of.
fn partitions_to_search(
    cluster: &mut Cluster,
    args: &FindHangingArgs,
) -> Result<Vec<TopicPartition>> {
    if let (Some(topic), Some(partition)) = (&args.topic, args.partition) {
        return Ok(vec![TopicPartition::new(topic, partition)]);
    }
    let topics = match &args.topic {
        Some(topic) => vec![cluster.topic(topic, false)?],
        None => cluster
            .metadata(None, false)?
            .topics
            .into_values()
            .collect(),
    };
    let hosted = |replicas: &[i32]| args.broker_id.is_none_or(|id| replicas.contains(&id));
    Ok(topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| hosted(&p.replicas))
                .map(|p| TopicPartition::new(&t.name, p.index))
        })
        .collect())
}

/// The producers with a transaction open whose last write is more than `max_ms` old.
fn open_longer_than(
    producers: BTreeMap<TopicPartition, Vec<ProducerState>>,
    max_ms: i64,
    now_ms: i64,
) -> Vec<(TopicPartition, ProducerState)> {
    producers
        .into_iter()
        .flat_map(|(partition, states)| states.into_iter().map(move |s| (partition.clone(), s)))
        .filter(|(_, s)| {
            s.txn_start_offset.is_some() && now_ms.saturating_sub(s.last_timestamp) > max_ms
        })
        .collect()
}

/// Whether the coordinator will never end this open transaction on `partition`: no
/// transactional id maps to its producer, the id is unknown (`described` None), or the
/// id's transaction does not hold the partition.
fn is_hanging(
    partition: &TopicPartition,
    state: &ProducerState,
    ids: &BTreeMap<i64, String>,
    described: &BTreeMap<String, Option<Vec<TopicPartition>>>,
) -> bool {
    let Some(id) = ids.get(&state.producer_id) else {
        return true;
    };
    match described.get(id) {
        Some(Some(partitions)) => !partitions.contains(partition),
        _ => true,
    }
}

/// Kafka's tool table: each column padded on the right to its widest cell (header
/// included), every cell followed by a tab, the header first.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        for (cell, width) in row.iter().zip(&widths) {
            out += &format!("{cell:<width$}\t");
        }
        out.push('\n');
    }
    out
}

fn list_table(listings: &[TransactionListing]) -> String {
    let rows: Vec<Vec<String>> = listings
        .iter()
        .map(|l| {
            vec![
                l.transactional_id.clone(),
                l.coordinator.to_string(),
                l.producer_id.to_string(),
                l.state.clone(),
            ]
        })
        .collect();
    table(
        &[
            "TransactionalId",
            "Coordinator",
            "ProducerId",
            "TransactionState",
        ],
        &rows,
    )
}

fn describe_table(d: &TransactionDescription, now_ms: i64) -> String {
    let (start, duration) = match d.start_time_ms {
        Some(start) => (start.to_string(), now_ms.saturating_sub(start).to_string()),
        None => (NONE.to_string(), NONE.to_string()),
    };
    let partitions: Vec<String> = d.partitions.iter().map(TopicPartition::to_string).collect();
    let row = vec![
        d.coordinator.to_string(),
        d.transactional_id.clone(),
        d.producer_id.to_string(),
        d.producer_epoch.to_string(),
        d.state.clone(),
        d.timeout_ms.to_string(),
        start,
        duration,
        partitions.join(","),
    ];
    table(
        &[
            "CoordinatorId",
            "TransactionalId",
            "ProducerId",
            "ProducerEpoch",
            "TransactionState",
            "TransactionTimeoutMs",
            "CurrentTransactionStartTimeMs",
            "TransactionDurationMs",
            "TopicPartitions",
        ],
        &[row],
    )
}

fn producers_table(states: &[ProducerState]) -> String {
    let rows: Vec<Vec<String>> = states
        .iter()
        .map(|s| {
            vec![
                s.producer_id.to_string(),
                s.producer_epoch.to_string(),
                s.coordinator_epoch.unwrap_or(-1).to_string(),
                s.last_sequence.to_string(),
                s.last_timestamp.to_string(),
                s.txn_start_offset
                    .map_or_else(|| NONE.to_string(), |o| o.to_string()),
            ]
        })
        .collect();
    table(
        &[
            "ProducerId",
            "ProducerEpoch",
            "LatestCoordinatorEpoch",
            "LastSequence",
            "LastTimestamp",
            "CurrentTransactionStartOffset",
        ],
        &rows,
    )
}

fn hanging_table(hanging: &[(TopicPartition, ProducerState)], now_ms: i64) -> String {
    let rows: Vec<Vec<String>> = hanging
        .iter()
        .map(|(partition, s)| {
            vec![
                partition.topic.clone(),
                partition.partition.to_string(),
                s.producer_id.to_string(),
                s.producer_epoch.to_string(),
                s.coordinator_epoch.unwrap_or(-1).to_string(),
                s.txn_start_offset.unwrap_or(-1).to_string(),
                s.last_timestamp.to_string(),
                // Whole minutes, truncated as Java's TimeUnit does.
                (now_ms.saturating_sub(s.last_timestamp) / MS_PER_MINUTE).to_string(),
            ]
        })
        .collect();
    table(
        &[
            "Topic",
            "Partition",
            "ProducerId",
            "ProducerEpoch",
            "CoordinatorEpoch",
            "StartOffset",
            "LastTimestamp",
            "Duration(min)",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn producer(id: i64, txn_start_offset: Option<i64>, last_timestamp: i64) -> ProducerState {
        ProducerState {
            producer_id: id,
            producer_epoch: 3,
            last_sequence: 4,
            last_timestamp,
            coordinator_epoch: None,
            txn_start_offset,
        }
    }

    #[test]
    fn tables_pad_every_cell_and_end_each_with_a_tab() {
        let listings = vec![TransactionListing {
            transactional_id: "a-rather-long-transactional-id".into(),
            coordinator: 1,
            producer_id: 42,
            state: "Ongoing".into(),
        }];
        assert_eq!(
            list_table(&listings),
            "TransactionalId               \tCoordinator\tProducerId\tTransactionState\t\n\
             a-rather-long-transactional-id\t1          \t42        \tOngoing         \t\n"
        );
        assert_eq!(
            list_table(&[]),
            "TransactionalId\tCoordinator\tProducerId\tTransactionState\t\n"
        );
    }

    #[test]
    fn describe_prints_none_without_a_start_time() {
        let mut description = TransactionDescription {
            coordinator: 0,
            transactional_id: "t".into(),
            state: "Empty".into(),
            timeout_ms: 60000,
            start_time_ms: None,
            producer_id: 7,
            producer_epoch: 0,
            partitions: vec![],
        };
        let lines: Vec<Vec<String>> = describe_table(&description, 5_000)
            .lines()
            .map(|l| l.split('\t').map(|c| c.trim_end().to_string()).collect())
            .collect();
        assert_eq!(
            lines[1],
            ["0", "t", "7", "0", "Empty", "60000", "None", "None", "", ""]
        );
        description.state = "Ongoing".into();
        description.start_time_ms = Some(1_000);
        description.partitions = vec![TopicPartition::new("a", 0), TopicPartition::new("b", 2)];
        let row = describe_table(&description, 5_000);
        let cells: Vec<&str> = row
            .lines()
            .nth(1)
            .unwrap()
            .split('\t')
            .map(str::trim_end)
            .collect();
        assert_eq!(&cells[6..9], ["1000", "4000", "a-0,b-2"]);
    }

    #[test]
    fn producers_print_none_without_an_open_transaction() {
        let table = producers_table(&[producer(9, None, 17), producer(10, Some(5), 18)]);
        let rows: Vec<Vec<&str>> = table
            .lines()
            .skip(1)
            .map(|l| l.split('\t').map(str::trim_end).collect())
            .collect();
        assert_eq!(rows[0], ["9", "3", "-1", "4", "17", "None", ""]);
        assert_eq!(rows[1], ["10", "3", "-1", "4", "18", "5", ""]);
    }

    #[test]
    fn candidates_are_open_transactions_idle_beyond_the_timeout() {
        let p = TopicPartition::new("t", 0);
        let producers = BTreeMap::from([(
            p.clone(),
            vec![
                producer(1, Some(0), 1_000),
                producer(2, None, 0),
                producer(3, Some(9), 4_000),
            ],
        )]);
        let found = open_longer_than(producers, 2_000, 5_000);
        assert_eq!(found, vec![(p, producer(1, Some(0), 1_000))]);
    }

    #[test]
    fn hanging_when_the_coordinator_cannot_end_it() {
        let here = TopicPartition::new("t", 0);
        let elsewhere = TopicPartition::new("t", 1);
        let ids = BTreeMap::from([(1, "known".to_string()), (2, "gone".to_string())]);
        let described = BTreeMap::from([
            ("known".to_string(), Some(vec![elsewhere.clone()])),
            ("gone".to_string(), None),
        ]);
        // No transactional id for producer 3; the id of producer 2 is unknown.
        assert!(is_hanging(
            &here,
            &producer(3, Some(0), 0),
            &ids,
            &described
        ));
        assert!(is_hanging(
            &here,
            &producer(2, Some(0), 0),
            &ids,
            &described
        ));
        // Producer 1's transaction holds t-1 but not t-0.
        assert!(is_hanging(
            &here,
            &producer(1, Some(0), 0),
            &ids,
            &described
        ));
        assert!(!is_hanging(
            &elsewhere,
            &producer(1, Some(0), 0),
            &ids,
            &described
        ));
    }

    #[test]
    fn abort_finds_the_transaction_by_its_start_offset() {
        let p = TopicPartition::new("t", 0);
        let mut open = producer(8, Some(12), 0);
        open.coordinator_epoch = Some(4);
        let states = [producer(7, None, 0), open];
        let spec = abort_spec_at(&p, &states, 12).unwrap();
        assert_eq!(
            (
                spec.producer_id,
                spec.producer_epoch,
                spec.coordinator_epoch
            ),
            (8, 3, 4)
        );
        let error = abort_spec_at(&p, &states, 11).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Could not find any open transactions starting at offset 11 on partition t-0"
        );
        let never_marked = [producer(8, Some(12), 0)];
        assert_eq!(
            abort_spec_at(&p, &never_marked, 12)
                .unwrap()
                .coordinator_epoch,
            0
        );
    }

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: TransactionsArgs,
    }

    #[test]
    fn subcommands_and_their_flag_spellings_parse_alike() {
        let parse = |line: &[&str]| {
            Cli::try_parse_from(std::iter::once("transactions").chain(line.iter().copied()))
                .map(|cli| cli.args)
        };
        for line in [
            &[
                "--bootstrap-server",
                "h:1",
                "describe",
                "--transactional-id",
                "x",
            ][..],
            &[
                "--bootstrap-server",
                "h:1",
                "--describe",
                "--transactional-id",
                "x",
            ],
            &[
                "--describe",
                "--transactional-id",
                "x",
                "--bootstrap-server",
                "h:1",
            ],
        ] {
            let args = parse(line).unwrap();
            assert_eq!(args.connect.bootstrap_server, "h:1");
            assert!(matches!(
                args.command,
                TransactionsCommand::Describe(DescribeArgs { ref transactional_id }) if transactional_id == "x"
            ));
        }
        let hanging = parse(&["find-hanging", "--broker-id", "0"]).unwrap();
        assert!(matches!(
            hanging.command,
            TransactionsCommand::FindHanging(FindHangingArgs {
                max_transaction_timeout: 15,
                ..
            })
        ));
        assert!(
            parse(&["--find-hanging"]).is_err(),
            "needs --topic or --broker-id"
        );
        assert!(parse(&["find-hanging", "--broker-id", "0", "--partition", "1"]).is_err());
        assert!(parse(&["--abort", "--topic", "t", "--partition", "0"]).is_err());
        assert!(parse(&[
            "abort",
            "--topic",
            "t",
            "--partition",
            "0",
            "--producer-id",
            "5"
        ])
        .is_err());
        let abort = parse(&[
            "abort",
            "--topic",
            "t",
            "--partition",
            "0",
            "--producer-id",
            "5",
            "--producer-epoch",
            "1",
            "--coordinator-epoch",
            "-1",
        ])
        .unwrap();
        assert!(matches!(
            abort.command,
            TransactionsCommand::Abort(AbortArgs {
                coordinator_epoch: Some(-1),
                ..
            })
        ));
        assert!(parse(&["--list", "--duration-filter", "100"]).is_ok());
        assert!(parse(&["describe-producers", "--topic", "t", "--partition", "0"]).is_ok());
        assert!(parse(&["--describe-producers", "--topic", "t", "--partition", "0"]).is_ok());
    }
}
