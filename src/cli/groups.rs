//! `shoal groups`: Kafka's kafka-consumer-groups.sh — list, describe, reset the offsets
//! of, and delete consumer groups, with its flags and its output layout.
//!
//! Every group request goes to the group's coordinator (FindCoordinator first); log
//! offsets come from each partition's leader (ListOffsets). `--describe` lives in
//! `groups_describe`, `--reset-offsets` in `groups_reset`.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use clap::{ArgGroup, Args};

use super::groups_reset::{self, topic_partitions};
use super::{groups_describe, ConnectArgs};
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
        .args(["list", "describe", "reset_offsets", "delete", "delete_offsets", "validate_regex"])
))]
#[command(group(
    ArgGroup::new("reset_to")
        .args(["to_earliest", "to_latest", "to_offset", "shift_by", "to_datetime", "to_current", "by_duration", "from_file"])
))]
#[command(group(ArgGroup::new("groups").args(["group", "all_groups"])))]
pub struct GroupsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// List all consumer groups.
    #[arg(long)]
    pub list: bool,
    /// Describe consumer groups: each partition's committed offset, log end and lag,
    /// and the member that owns it (or --members, or --state).
    #[arg(long, requires = "groups")]
    pub describe: bool,
    /// Reset the committed offsets of inactive groups (with --topic or --all-topics,
    /// one of the --to-*/--shift-by/--by-duration/--from-file options, and --dry-run or
    /// --execute).
    #[arg(long, requires = "groups", requires = "reset_to")]
    pub reset_offsets: bool,
    /// Delete consumer groups that have no active members.
    #[arg(long, requires = "groups")]
    pub delete: bool,
    /// Delete a group's committed offsets of the --topic partitions.
    #[arg(long, requires = "group", requires = "topic")]
    pub delete_offsets: bool,
    /// Say whether a regular expression (as a consumer group's pattern subscription
    /// takes it) is valid; connects to nothing.
    #[arg(long, value_name = "REGEX")]
    pub validate_regex: Option<String>,
    /// The consumer group (repeatable).
    #[arg(long, value_name = "GROUP", conflicts_with = "all_groups")]
    pub group: Vec<String>,
    /// Every consumer group (with --describe, --reset-offsets or --delete).
    #[arg(long)]
    pub all_groups: bool,
    /// With --describe: the group's members (with --verbose, their assignments).
    #[arg(long)]
    pub members: bool,
    /// With --describe: its partitions' offsets and lag (the default view).
    #[arg(long)]
    pub offsets: bool,
    /// With --describe: more columns (--members' assignments, --state's epochs).
    #[arg(long)]
    pub verbose: bool,
    /// With --list: add each group's state, or list only groups in these states
    /// (comma-separated, e.g. Stable,Empty). With --describe (no value): the group's
    /// coordinator, assignor, state and member count.
    #[arg(long, value_name = "STATES", num_args = 0..=1, default_missing_value = "")]
    pub state: Option<String>,
    /// With --list: add each group's type, or list only groups of these types
    /// (comma-separated: classic, consumer).
    #[arg(long = "type", value_name = "TYPES", num_args = 0..=1, default_missing_value = "")]
    pub group_type: Option<String>,
    /// With --reset-offsets or --delete-offsets: a topic, or TOPIC:P,P,... for some of
    /// its partitions (repeatable).
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
    /// Reset to the committed offsets (the log end where there is none).
    #[arg(long)]
    pub to_current: bool,
    /// Reset to the first record this long ago at the latest: Java's PnDTnHnMn.nS
    /// (e.g. PT1H30M).
    #[arg(long, value_name = "DURATION")]
    pub by_duration: Option<String>,
    /// Reset to the offsets of a CSV file: topic,partition,offset lines (for one
    /// --group), or group,topic,partition,offset.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<std::path::PathBuf>,
    /// With --reset-offsets: print the new offsets as CSV (what --from-file reads)
    /// instead of the table.
    #[arg(long)]
    pub export: bool,
    /// With --reset-offsets: only print the new offsets (the default without --execute).
    #[arg(long, conflicts_with = "execute")]
    pub dry_run: bool,
    /// With --reset-offsets: commit the new offsets.
    #[arg(long)]
    pub execute: bool,
    /// How long each request may take, in ms (Kafka's name here for
    /// --request-timeout-ms, which it wins over).
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u32>,
}

pub fn run(mut args: GroupsArgs) -> Result<()> {
    if let Some(ms) = args.timeout {
        args.connect.request_timeout_ms = ms;
    }
    if let Some(regex) = &args.validate_regex {
        return Ok(super::say(validate_regex(regex))?);
    }
    if (args.members || args.offsets || args.verbose) && !args.describe {
        bail!("--members, --offsets and --verbose go with --describe");
    }
    if args.group_type.is_some() && !args.list {
        bail!("--type goes with --list");
    }
    if !args.topic.is_empty() && (args.describe || args.delete || args.list) {
        bail!("--topic goes with --reset-offsets or --delete-offsets");
    }
    let mut cluster = args.connect.connect()?;
    if args.list {
        return list(
            &mut cluster,
            args.state.as_deref(),
            args.group_type.as_deref(),
        );
    }
    let groups = if args.all_groups {
        consumer_groups(&mut cluster, &[], &[])?
            .into_keys()
            .collect()
    } else {
        args.group.clone()
    };
    if args.describe {
        groups_describe::describe(&mut cluster, &args, &groups)
    } else if args.reset_offsets {
        groups_reset::reset(&mut cluster, &args, &groups)
    } else if args.delete_offsets {
        delete_offsets(&mut cluster, &args)
    } else {
        delete(&mut cluster, &args, &groups)
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

/// Kafka's answer to `--validate-regex`. Kafka checks the pattern as RE2/J would;
/// shoal as its broker matches subscriptions, with RE2's syntax as Rust's regex crate
/// has it (the reason for an invalid one is that crate's).
fn validate_regex(regex: &str) -> String {
    match regex::Regex::new(regex) {
        Ok(_) => format!("The regular expression `{regex}` is valid."),
        Err(error) => {
            let reason = error.to_string();
            let reason = reason.lines().last().unwrap_or_default().trim();
            let reason = reason.strip_prefix("error: ").unwrap_or(reason);
            format!("The regular expression `{regex}` is invalid: {reason}.")
        }
    }
}

/// The group states a consumer group can be in, as Kafka names them.
const GROUP_STATES: [&str; 8] = [
    "Unknown",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Empty",
    "Assigning",
    "Reconciling",
];
/// The group types a consumer group can be of.
const GROUP_TYPES: [&str; 2] = ["Classic", "Consumer"];

/// A comma-separated filter of names from `valid` (any case), as `valid` spells them;
/// `what` names the list and its values in the refusal, as Kafka's words do.
fn filter(input: &str, valid: &[&str], what: (&str, &str)) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for name in input.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let Some(known) = valid.iter().find(|v| v.eq_ignore_ascii_case(name)) else {
            bail!(
                "Invalid {} list '{input}'. Valid {} are: {}",
                what.0,
                what.1,
                valid.join(", ")
            );
        };
        names.push(known.to_string());
    }
    Ok(names)
}

/// `--list`: the group ids; with `--state` and/or `--type`, a table of them too
/// (filtered by their values, if given), laid out as Kafka's: the group column 10
/// wider than the longest id (at least 15), each other column 20 wide.
fn list(cluster: &mut Cluster, state: Option<&str>, group_type: Option<&str>) -> Result<()> {
    let states = filter(state.unwrap_or(""), &GROUP_STATES, ("state", "states"))?;
    let types: Vec<String> = filter(group_type.unwrap_or(""), &GROUP_TYPES, ("types", "types"))?
        .iter()
        .map(|t| t.to_lowercase())
        .collect();
    let groups = consumer_groups(cluster, &states, &types)?;
    if state.is_none() && group_type.is_none() {
        for group in groups.keys() {
            super::say(group)?;
        }
        return Ok(());
    }
    let width = column_width(groups.keys().map(String::len)) + 10;
    let line = |group: &str, kind: &str, group_state: &str| {
        let mut line = format!("{group:<width$}");
        if group_type.is_some() {
            line += &format!(" {kind:<20}");
        }
        if state.is_some() {
            line += &format!(" {group_state:<20}");
        }
        line
    };
    super::say(line("GROUP", "TYPE", "STATE"))?;
    for (group, listing) in &groups {
        let kind = GROUP_TYPES
            .iter()
            .find(|t| t.eq_ignore_ascii_case(&listing.group_type))
            .unwrap_or(&"Unknown");
        let state = if listing.state.is_empty() {
            "Unknown"
        } else {
            &listing.state
        };
        super::say(line(group, kind, state))?;
    }
    Ok(())
}

/// Every consumer group (in one of `states` and of `types`, if any), as listed. Every
/// broker coordinates some groups, so each is asked.
fn consumer_groups(
    cluster: &mut Cluster,
    states: &[String],
    types: &[String],
) -> Result<BTreeMap<String, group::GroupListing>> {
    let brokers: Vec<i32> = cluster
        .metadata(Some(&[]), false)?
        .brokers
        .into_keys()
        .collect();
    let mut groups = BTreeMap::new();
    for id in brokers {
        for listing in group::list_groups(cluster.broker(id)?, states, types)? {
            // Kafka lists consumer groups: those of the consumer protocol, and groups that
            // only hold offsets (committed by admin tools), whose protocol type is empty.
            if listing.protocol_type == CONSUMER_PROTOCOL_TYPE || listing.protocol_type.is_empty() {
                groups.insert(listing.group_id.clone(), listing);
            }
        }
    }
    Ok(groups)
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

/// The width of a Kafka table column: its longest value, and at least 15.
pub fn column_width(lengths: impl IntoIterator<Item = usize>) -> usize {
    lengths.into_iter().fold(COLUMN_WIDTH_MIN, usize::max)
}

fn delete(cluster: &mut Cluster, args: &GroupsArgs, groups: &[String]) -> Result<()> {
    let mut failed = Vec::new();
    for g in groups {
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
    let names: Vec<String> = groups.iter().map(|g| format!("'{g}'")).collect();
    super::say(format!(
        "Deletion of requested consumer groups ({}) was successful.",
        names.join(", ")
    ))?;
    Ok(())
}

/// Kafka's `--delete-offsets`: the group's committed offsets of the `--topic`
/// partitions removed (OffsetDelete), its result line and a TOPIC PARTITION STATUS table.
/// A partition error, or the group's, makes the exit 1.
fn delete_offsets(cluster: &mut Cluster, args: &GroupsArgs) -> Result<()> {
    let [group] = args.group.as_slice() else {
        bail!("--delete-offsets takes one --group");
    };
    let topics = args
        .topic
        .iter()
        .map(|spec| topic_partitions(cluster, spec))
        .collect::<Result<Vec<_>>>()?;
    let coordinator = group::coordinator(cluster, group, args.connect.timeout())?;
    let (code, mut partitions) =
        group::offset_delete(cluster.broker(coordinator)?, group, &topics)?;
    let failed = code != 0 || partitions.iter().any(|(_, _, code)| *code != 0);
    match error_name(code).as_str() {
        "NONE" => super::say(format!(
            "Request succeeded for deleting offsets from group {group}."
        ))?,
        "GROUP_SUBSCRIBED_TO_TOPIC"
        | "TOPIC_AUTHORIZATION_FAILED"
        | "UNKNOWN_TOPIC_OR_PARTITION" => super::say(
            "\nError: Encountered some partition-level error, see the follow-up details.",
        )?,
        name => super::say(format!("\nError: {name}"))?,
    }
    // Kafka sorts the rows by topic and partition as one string.
    partitions.sort_by_key(|(topic, p, _)| format!("{topic}{p}"));
    let t = column_width(partitions.iter().map(|(topic, _, _)| topic.len()));
    let mut table = format!("\n{:<t$} {:<10} {:<15}", "TOPIC", "PARTITION", "STATUS");
    for (topic, p, code) in &partitions {
        let status = match code {
            0 => "Successful".to_string(),
            code => format!("Error: {}", error_name(*code)),
        };
        table += &format!("\n{topic:<t$} {p:<10} {status:<15}");
    }
    super::say(table)?;
    if failed {
        bail!("not every offset of group '{group}' was deleted");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_grow_with_their_longest_value() {
        assert_eq!(column_width([]), 15);
        assert_eq!(column_width([3, 20, 7]), 20);
    }
}
