//! `shoal groups`: Kafka's kafka-consumer-groups.sh — list, describe, reset the offsets
//! of, and delete consumer groups, with its flags and its output layout.
//!
//! Every group request goes to the group's coordinator (FindCoordinator first); log
//! offsets come from each partition's leader (ListOffsets). `--reset-offsets` lives in
//! `groups_reset`.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use clap::{ArgGroup, Args};

use super::groups_reset;
use super::ConnectArgs;
use crate::client::cluster::Cluster;
use crate::client::error::error_name;
use crate::client::fetch;
use crate::client::group::{self, GroupDescription, CONSUMER_PROTOCOL_TYPE};

/// Kafka's placeholder for a column without a value.
pub const MISSING: &str = "-";
/// The narrowest the variable-width columns of Kafka's tables get.
const COLUMN_WIDTH_MIN: usize = 15;

#[derive(Args, Debug)]
#[command(group(
    ArgGroup::new("action")
        .required(true)
        .args(["list", "describe", "reset_offsets", "delete"])
))]
#[command(group(
    ArgGroup::new("reset_to")
        .args(["to_earliest", "to_latest", "to_offset", "shift_by", "to_datetime"])
))]
pub struct GroupsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// List all consumer groups.
    #[arg(long)]
    pub list: bool,
    /// Describe a consumer group: each partition's committed offset, log end and lag,
    /// and the member that owns it.
    #[arg(long, requires = "group")]
    pub describe: bool,
    /// Reset the committed offsets of an inactive group (with --topic or --all-topics,
    /// one of the --to-*/--shift-by options, and --dry-run or --execute).
    #[arg(long, requires = "group", requires = "reset_to")]
    pub reset_offsets: bool,
    /// Delete a consumer group that has no active members.
    #[arg(long, requires = "group")]
    pub delete: bool,
    /// The consumer group (repeatable with --delete).
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,
    /// With --list: add each group's state, or list only groups in these states
    /// (comma-separated, e.g. Stable,Empty).
    #[arg(long, value_name = "STATES", num_args = 0..=1, default_missing_value = "")]
    pub state: Option<String>,
    /// With --reset-offsets: a topic, or TOPIC:P,P,... for some of its partitions
    /// (repeatable).
    #[arg(long, value_name = "TOPIC[:PARTITIONS]")]
    pub topic: Vec<String>,
    /// With --reset-offsets: every topic the group has committed offsets for.
    #[arg(long, conflicts_with = "topic")]
    pub all_topics: bool,
    /// Reset to each partition's earliest offset.
    #[arg(long)]
    pub to_earliest: bool,
    /// Reset to each partition's log end.
    #[arg(long)]
    pub to_latest: bool,
    /// Reset to this offset (kept within each partition's log).
    #[arg(long, value_name = "OFFSET")]
    pub to_offset: Option<i64>,
    /// Move each committed offset by N (negative: back), kept within the log.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub shift_by: Option<i64>,
    /// Reset to the first record at or after this time: YYYY-MM-DDTHH:mm:SS[.sss], UTC
    /// unless it ends in Z or an offset like +02:00.
    #[arg(long, value_name = "DATETIME")]
    pub to_datetime: Option<String>,
    /// With --reset-offsets: only print the new offsets (the default without --execute).
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
    /// With --reset-offsets: commit the new offsets.
    #[arg(long)]
    pub execute: bool,
}

pub fn run(args: GroupsArgs) -> Result<()> {
    let mut cluster = args.connect.connect()?;
    if args.list {
        list(&mut cluster, args.state.as_deref())
    } else if args.describe {
        describe(&mut cluster, &args, one_group(&args)?)
    } else if args.reset_offsets {
        groups_reset::reset(&mut cluster, &args, one_group(&args)?)
    } else {
        delete(&mut cluster, &args)
    }
}

fn one_group(args: &GroupsArgs) -> Result<&str> {
    match args.group.as_slice() {
        [group] => Ok(group),
        _ => bail!("give exactly one --group"),
    }
}

/// Connects to the coordinator of `group` and describes it.
pub fn describe_group(
    cluster: &mut Cluster,
    args: &GroupsArgs,
    group: &str,
) -> Result<(i32, GroupDescription)> {
    let coordinator = group::coordinator(cluster, group, args.connect.timeout())?;
    let description = group::describe_group(cluster.broker(coordinator)?, group)?;
    Ok((coordinator, description))
}

/// Every broker coordinates some groups, so each is asked.
fn list(cluster: &mut Cluster, state: Option<&str>) -> Result<()> {
    let states: Vec<String> = state
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let brokers: Vec<i32> = cluster
        .metadata(Some(&[]), false)?
        .brokers
        .into_keys()
        .collect();
    let mut groups = BTreeMap::new();
    for id in brokers {
        for listing in group::list_groups(cluster.broker(id)?, &states)? {
            // Kafka lists consumer groups: those of the consumer protocol, and groups that
            // only hold offsets (committed by admin tools), whose protocol type is empty.
            if listing.protocol_type == CONSUMER_PROTOCOL_TYPE || listing.protocol_type.is_empty() {
                groups.insert(listing.group_id, listing.state);
            }
        }
    }
    if state.is_none() {
        for group in groups.keys() {
            super::say(group)?;
        }
        return Ok(());
    }
    let width = column_width(groups.keys().map(String::len));
    super::say(format!("{:<width$} STATE", "GROUP"))?;
    for (group, state) in &groups {
        super::say(format!("{group:<width$} {state}"))?;
    }
    Ok(())
}

/// One line of `--describe`: a partition and who owns it, or a member that owns none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeRow {
    pub topic: Option<String>,
    pub partition: Option<i32>,
    pub current_offset: Option<i64>,
    pub log_end_offset: Option<i64>,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
}

fn describe(cluster: &mut Cluster, args: &GroupsArgs, group: &str) -> Result<()> {
    let (coordinator, description) = describe_group(cluster, args, group)?;
    if !description.exists() {
        bail!("Consumer group '{group}' does not exist.");
    }
    let committed = group::offset_fetch(cluster.broker(coordinator)?, group, None)?;
    let mut rows = Vec::new();
    let mut owned = BTreeSet::new();
    for member in &description.members {
        let row = DescribeRow {
            consumer_id: Some(member.member_id.clone()),
            host: Some(member.client_host.clone()),
            client_id: Some(member.client_id.clone()),
            ..DescribeRow::default()
        };
        let mut any = false;
        for (topic, partitions) in &member.assignment {
            for &p in partitions {
                any = true;
                owned.insert((topic.clone(), p));
                rows.push(DescribeRow {
                    topic: Some(topic.clone()),
                    partition: Some(p),
                    ..row.clone()
                });
            }
        }
        if !any {
            rows.push(row);
        }
    }
    for (topic, partition) in committed.keys() {
        if !owned.contains(&(topic.clone(), *partition)) {
            rows.push(DescribeRow {
                topic: Some(topic.clone()),
                partition: Some(*partition),
                ..DescribeRow::default()
            });
        }
    }
    let ends = log_ends(cluster, &rows)?;
    for row in &mut rows {
        if let (Some(topic), Some(p)) = (&row.topic, row.partition) {
            row.current_offset = committed.get(&(topic.clone(), p)).copied();
            row.log_end_offset = ends.get(&(topic.clone(), p)).copied();
        }
    }
    rows.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    match description.state.as_str() {
        "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
        "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
            eprintln!("\nWarning: Consumer group '{group}' is rebalancing.")
        }
        _ => {}
    }
    if !rows.is_empty() {
        print!("{}", describe_table(group, &rows));
    }
    Ok(())
}

/// The log end of every partition the rows name, asked of each partition's leader.
fn log_ends(cluster: &mut Cluster, rows: &[DescribeRow]) -> Result<BTreeMap<(String, i32), i64>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for row in rows {
        if let (Some(topic), Some(p)) = (&row.topic, row.partition) {
            by_topic.entry(topic).or_default().push(p);
        }
    }
    let mut ends = BTreeMap::new();
    for (topic, partitions) in by_topic {
        // A topic deleted since the commit (or without a leader) shows "-", as in Kafka.
        let Ok(offsets) = offsets_at(cluster, topic, &partitions, fetch::LATEST) else {
            continue;
        };
        for (p, offset) in offsets {
            ends.insert((topic.to_string(), p), offset);
        }
    }
    Ok(ends)
}

/// Where `timestamp` (EARLIEST, LATEST or ms since the epoch) points in each of
/// `partitions` of `topic` (-1: no record at or after that time).
pub fn offsets_at(
    cluster: &mut Cluster,
    topic: &str,
    partitions: &[i32],
    timestamp: i64,
) -> Result<BTreeMap<i32, i64>> {
    let metadata = cluster.topic(topic, false)?;
    Ok(fetch::offsets_at(
        cluster, &metadata, partitions, timestamp,
    )?)
}

/// Kafka's `--describe` table: a blank line, the header, one line per row; the group,
/// topic, consumer-id and host columns as wide as their longest value (at least 15).
pub fn describe_table(group: &str, rows: &[DescribeRow]) -> String {
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| MISSING.to_string());
    let number = |v: Option<i64>| v.map_or_else(|| MISSING.to_string(), |n| n.to_string());
    let g = column_width([group.len()]);
    let t = column_width(rows.iter().map(|r| r.topic.as_ref().map_or(0, String::len)));
    let c = column_width(
        rows.iter()
            .map(|r| r.consumer_id.as_ref().map_or(0, String::len)),
    );
    let h = column_width(rows.iter().map(|r| r.host.as_ref().map_or(0, String::len)));
    let line = |cells: [String; 9]| {
        let [group, topic, partition, current, end, lag, consumer, host, client] = cells;
        format!(
            "{group:<g$} {topic:<t$} {partition:<10} {current:<15} {end:<15} {lag:<15} {consumer:<c$} {host:<h$} {client}\n"
        )
    };
    let mut out = String::from("\n");
    out += &line(
        [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
            "HOST",
            "CLIENT-ID",
        ]
        .map(str::to_string),
    );
    for row in rows {
        let lag = match (row.current_offset, row.log_end_offset) {
            (Some(current), Some(end)) => Some((end - current).max(0)),
            _ => None,
        };
        out += &line([
            group.to_string(),
            text(&row.topic),
            row.partition
                .map_or_else(|| MISSING.to_string(), |p| p.to_string()),
            number(row.current_offset),
            number(row.log_end_offset),
            number(lag),
            text(&row.consumer_id),
            text(&row.host),
            text(&row.client_id),
        ]);
    }
    out
}

/// The width of a Kafka table column: its longest value, and at least 15.
pub fn column_width(lengths: impl IntoIterator<Item = usize>) -> usize {
    lengths.into_iter().fold(COLUMN_WIDTH_MIN, usize::max)
}

fn delete(cluster: &mut Cluster, args: &GroupsArgs) -> Result<()> {
    let mut failed = Vec::new();
    for g in &args.group {
        let coordinator = group::coordinator(cluster, g, args.connect.timeout())?;
        for (g, code) in
            group::delete_groups(cluster.broker(coordinator)?, std::slice::from_ref(g))?
        {
            if code != 0 {
                failed.push(format!(
                    "Group '{g}' could not be deleted due to: {}",
                    error_name(code)
                ));
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "Deletion of some consumer groups failed: {}",
            failed.join("; ")
        );
    }
    let names: Vec<String> = args.group.iter().map(|g| format!("'{g}'")).collect();
    super::say(format!(
        "Deletion of requested consumer groups ({}) was successful.",
        names.join(", ")
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_table_is_aligned_like_kafkas() {
        let rows = vec![
            DescribeRow {
                topic: Some("orders".into()),
                partition: Some(0),
                current_offset: Some(3),
                log_end_offset: Some(10),
                consumer_id: Some("rdkafka-0123456789abcdef".into()),
                host: Some("/127.0.0.1".into()),
                client_id: Some("rdkafka".into()),
            },
            DescribeRow {
                topic: Some("orders".into()),
                partition: Some(1),
                log_end_offset: Some(5),
                ..DescribeRow::default()
            },
        ];
        let table = describe_table("g", &rows);
        let lines: Vec<&str> = table.split('\n').collect();
        assert_eq!(lines.len(), 5, "{table:?}");
        assert_eq!(lines[0], "");
        assert_eq!(
            lines[1],
            "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID              HOST            CLIENT-ID"
        );
        assert_eq!(
            lines[2],
            "g               orders          0          3               10              7               rdkafka-0123456789abcdef /127.0.0.1      rdkafka"
        );
        assert_eq!(
            lines[3],
            "g               orders          1          -               5               -               -                        -               -"
        );
        assert_eq!(lines[4], "");
    }

    #[test]
    fn columns_grow_with_their_longest_value() {
        assert_eq!(column_width([]), 15);
        assert_eq!(column_width([3, 20, 7]), 20);
    }
}
