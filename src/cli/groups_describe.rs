//! `shoal groups --describe`: Kafka's three views of a consumer group — its partitions'
//! offsets and lag (the default), its members (`--members`) and its state (`--state`),
//! in the layout of Kafka's kafka-consumer-groups.sh 4.x. A KIP-848 group is described
//! with ConsumerGroupDescribe, whose epochs and target assignments `--verbose` shows; a
//! classic group has none (`-`).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

use super::groups::{column_width, describe_group, offsets_at, GroupsArgs, MISSING};
use crate::client::cluster::Cluster;
use crate::client::fetch;
use crate::client::group::{self, Assignment, GroupDescription, MemberDescription};

/// One line of `--describe`'s offsets view: a partition and the member that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DescribeRow {
    pub topic: Option<String>,
    pub partition: Option<i32>,
    /// The committed offset's leader epoch (`--verbose`'s LEADER-EPOCH).
    pub leader_epoch: Option<i32>,
    pub current_offset: Option<i64>,
    pub log_end_offset: Option<i64>,
    pub consumer_id: Option<String>,
    pub host: Option<String>,
    pub client_id: Option<String>,
}

/// `--describe` of each group (`--all-groups`: every consumer group, by id): its
/// partitions' offsets (the default, `--offsets`), its members (`--members`) or its
/// state (`--state`), each table after a blank line as Kafka prints them.
pub fn describe(cluster: &mut Cluster, args: &GroupsArgs, groups: &[String]) -> Result<()> {
    let views = [args.members, args.offsets, args.state.is_some()];
    if views.iter().filter(|&&v| v).count() > 1 {
        bail!(
            "Option [describe] takes at most one of these options: [members], [offsets], [state]"
        );
    }
    if args.state.as_deref().is_some_and(|s| !s.is_empty()) {
        bail!("Option [describe] does not take a value for [state]");
    }
    for group in groups {
        let (coordinator, description) = describe_group(cluster, args, group)?;
        if !description.exists() {
            bail!("Consumer group '{group}' does not exist.");
        }
        match description.state.as_str() {
            "Empty" => eprintln!("\nConsumer group '{group}' has no active members."),
            "PreparingRebalance" | "CompletingRebalance" | "Assigning" | "Reconciling" => {
                eprintln!("\nWarning: Consumer group '{group}' is rebalancing.")
            }
            _ => {}
        }
        if args.members {
            print!("{}", members_table(group, &description, args.verbose));
        } else if args.state.is_some() {
            let address = cluster.broker(coordinator)?.address().to_string();
            let at = format!("{address}  ({coordinator})");
            print!("{}", state_table(group, &at, &description, args.verbose));
        } else {
            let rows = offset_rows(cluster, coordinator, &description)?;
            if !rows.is_empty() {
                print!("{}", describe_table(group, &rows, args.verbose));
            }
        }
    }
    Ok(())
}

/// The offsets view's rows, in Kafka's order: each member's partitions (members holding
/// more first; a member holding none has no row), then the partitions the group has
/// committed offsets for that no member holds.
fn offset_rows(
    cluster: &mut Cluster,
    coordinator: i32,
    description: &GroupDescription,
) -> Result<Vec<DescribeRow>> {
    let group = &description.group_id;
    let committed = group::offset_fetch_with_epochs(cluster.broker(coordinator)?, group, None)?;
    let mut rows = Vec::new();
    let mut owned = BTreeSet::new();
    let mut members: Vec<&MemberDescription> = description.members.iter().collect();
    members.sort_by_key(|m| std::cmp::Reverse(held(m)));
    for member in members {
        let mut partitions: Vec<(&String, i32)> = member
            .assignment
            .iter()
            .flat_map(|(topic, ps)| ps.iter().map(move |&p| (topic, p)))
            .collect();
        partitions.sort();
        for (topic, p) in partitions {
            owned.insert((topic.clone(), p));
            rows.push(DescribeRow {
                topic: Some(topic.clone()),
                partition: Some(p),
                consumer_id: Some(member.member_id.clone()),
                host: Some(member.client_host.clone()),
                client_id: Some(member.client_id.clone()),
                ..DescribeRow::default()
            });
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
            let commit = committed.get(&(topic.clone(), p));
            row.current_offset = commit.map(|(offset, _)| *offset);
            row.leader_epoch = commit.and_then(|(_, epoch)| *epoch);
            row.log_end_offset = ends.get(&(topic.clone(), p)).copied();
        }
    }
    Ok(rows)
}

/// How many partitions a member holds.
fn held(member: &MemberDescription) -> usize {
    member.assignment.iter().map(|(_, ps)| ps.len()).sum()
}

/// Kafka's `--members` table (after a blank line): GROUP CONSUMER-ID [GROUP-INSTANCE-ID]
/// HOST CLIENT-ID #PARTITIONS, the instance id column only when a member has one; with
/// `--verbose`, the member and target assignments (`topic:0,1;other:2`) and their
/// epochs, `-` where the classic protocol has none. Each line ends in a space, as
/// Kafka's `#PARTITIONS` cell is followed by one.
fn members_table(group: &str, description: &GroupDescription, verbose: bool) -> String {
    let members = &description.members;
    let instances = members
        .iter()
        .any(|m| m.group_instance_id.as_ref().is_some_and(|i| !i.is_empty()));
    let g = column_width([group.len()]);
    let c = column_width(members.iter().map(|m| m.member_id.len()));
    let i = members
        .iter()
        .map(|m| m.group_instance_id.as_ref().map_or(0, String::len))
        .fold(17, usize::max);
    let h = column_width(members.iter().map(|m| m.client_host.len()));
    let l = column_width(members.iter().map(|m| m.client_id.len()));
    let assigned: Vec<String> = members
        .iter()
        .map(|m| assignment_cell(&m.assignment))
        .collect();
    let targets: Vec<String> = members
        .iter()
        .map(|m| {
            m.target_assignment
                .as_ref()
                .map_or_else(|| MISSING.to_string(), assignment_cell)
        })
        .collect();
    let a = assigned.iter().map(String::len).fold(20, usize::max);
    let b = targets.iter().map(String::len).fold(20, usize::max);
    let target_epoch = description
        .epochs
        .map_or_else(|| MISSING.to_string(), |(_, target)| target.to_string());
    // A group in migration (members of both protocols) says which members speak KIP-848.
    let migrating = [Some(true), Some(false)]
        .iter()
        .all(|kind| members.iter().any(|m| m.upgraded == *kind));
    let line = |cells: [&str; 11]| {
        let [group, consumer, instance, host, client, count, epoch, current, target_epoch, target, upgraded] =
            cells;
        let mut line = format!("{group:<g$} {consumer:<c$} ");
        if instances {
            line += &format!("{instance:<i$} ");
        }
        line += &format!("{host:<h$} {client:<l$} {count:<15} ");
        if verbose {
            line += &format!("{epoch:<15} {current:<a$} {target_epoch:<15} {target:<b$}");
            if migrating {
                line += &format!(" {upgraded}");
            }
        }
        line
    };
    let mut out = String::from("\n");
    out += &line([
        "GROUP",
        "CONSUMER-ID",
        "GROUP-INSTANCE-ID",
        "HOST",
        "CLIENT-ID",
        "#PARTITIONS",
        "CURRENT-EPOCH",
        "CURRENT-ASSIGNMENT",
        "TARGET-EPOCH",
        "TARGET-ASSIGNMENT",
        "UPGRADED",
    ]);
    for ((member, assignment), target) in members.iter().zip(&assigned).zip(&targets) {
        let count = held(member).to_string();
        let epoch = member
            .member_epoch
            .map_or_else(|| MISSING.to_string(), |e| e.to_string());
        out += "\n";
        out += &line([
            group,
            &member.member_id,
            member.group_instance_id.as_deref().unwrap_or(""),
            &member.client_host,
            &member.client_id,
            &count,
            &epoch,
            assignment,
            &target_epoch,
            target,
            member
                .upgraded
                .map_or(MISSING, |u| if u { "true" } else { "false" }),
        ]);
    }
    out + "\n"
}

/// Kafka's assignment cell: `topic:0,1;other:2`, topics sorted, `-` for none.
fn assignment_cell(assignment: &Assignment) -> String {
    let mut topics: Vec<String> = assignment
        .iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(topic, ps)| {
            let mut ps = ps.clone();
            ps.sort_unstable();
            let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!("{topic}:{}", ps.join(","))
        })
        .collect();
    topics.sort();
    if topics.is_empty() {
        MISSING.to_string()
    } else {
        topics.join(";")
    }
}

/// Kafka's `--state` table (after a blank line): GROUP, COORDINATOR (ID) (`host:port
/// (id)`), ASSIGNMENT-STRATEGY, STATE and #MEMBERS; with `--verbose` the group and
/// target assignment epochs, `-` for a classic group.
fn state_table(
    group: &str,
    coordinator: &str,
    description: &GroupDescription,
    verbose: bool,
) -> String {
    let g = column_width([group.len()]);
    let k = coordinator.len().max(25);
    let line = |cells: [&str; 7]| {
        let [group, at, assignor, state, epoch, target, members] = cells;
        let mut line = format!("{group:<g$} {at:<k$} {assignor:<20} {state:<20} ");
        if verbose {
            line += &format!("{epoch:<15} {target:<25} ");
        }
        line + members
    };
    let assignor = if description.assignor.is_empty() {
        MISSING
    } else {
        &description.assignor
    };
    let members = description.members.len().to_string();
    let (epoch, target) = description.epochs.map_or_else(
        || (MISSING.to_string(), MISSING.to_string()),
        |(epoch, target)| (epoch.to_string(), target.to_string()),
    );
    format!(
        "\n{}\n{}\n",
        line([
            "GROUP",
            "COORDINATOR (ID)",
            "ASSIGNMENT-STRATEGY",
            "STATE",
            "GROUP-EPOCH",
            "TARGET-ASSIGNMENT-EPOCH",
            "#MEMBERS",
        ]),
        line([
            group,
            coordinator,
            assignor,
            &description.state,
            &epoch,
            &target,
            &members
        ])
    )
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

/// Kafka's `--describe` table: a blank line, the header, one line per row; the group,
/// topic, consumer-id and host columns as wide as their longest value (at least 15).
pub fn describe_table(group: &str, rows: &[DescribeRow], verbose: bool) -> String {
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| MISSING.to_string());
    let number = |v: Option<i64>| v.map_or_else(|| MISSING.to_string(), |n| n.to_string());
    let g = column_width([group.len()]);
    let t = column_width(rows.iter().map(|r| r.topic.as_ref().map_or(0, String::len)));
    let c = column_width(
        rows.iter()
            .map(|r| r.consumer_id.as_ref().map_or(0, String::len)),
    );
    let h = column_width(rows.iter().map(|r| r.host.as_ref().map_or(0, String::len)));
    let line = |cells: [String; 10]| {
        let [group, topic, partition, epoch, current, end, lag, consumer, host, client] = cells;
        let epoch = if verbose {
            format!("{epoch:<15} ")
        } else {
            String::new()
        };
        format!(
            "{group:<g$} {topic:<t$} {partition:<10} {epoch}{current:<15} {end:<15} {lag:<15} {consumer:<c$} {host:<h$} {client}\n"
        )
    };
    let mut out = String::from("\n");
    out += &line(
        [
            "GROUP",
            "TOPIC",
            "PARTITION",
            "LEADER-EPOCH",
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
            number(row.leader_epoch.map(i64::from)),
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
                leader_epoch: None,
            },
            DescribeRow {
                topic: Some("orders".into()),
                partition: Some(1),
                log_end_offset: Some(5),
                ..DescribeRow::default()
            },
        ];
        let table = describe_table("g", &rows, false);
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
        let mut rows = rows;
        rows[0].leader_epoch = Some(7);
        let verbose = describe_table("g", &rows, true);
        let lines: Vec<&str> = verbose.split('\n').collect();
        assert!(
            lines[1].starts_with("GROUP           TOPIC           PARTITION  LEADER-EPOCH    CURRENT-OFFSET  LOG-END-OFFSET"),
            "{verbose}"
        );
        assert!(
            lines[2].starts_with(
                "g               orders          0          7               3               10"
            ),
            "{verbose}"
        );
        assert!(
            lines[3].starts_with(
                "g               orders          1          -               -               5"
            ),
            "{verbose}"
        );
    }

    fn member(
        id: &str,
        instance: Option<&str>,
        assignment: Vec<(String, Vec<i32>)>,
    ) -> MemberDescription {
        MemberDescription {
            member_id: id.to_string(),
            group_instance_id: instance.map(str::to_string),
            client_id: "client".to_string(),
            client_host: "/127.0.0.1".to_string(),
            assignment,
            member_epoch: None,
            target_assignment: None,
            upgraded: None,
        }
    }

    fn group(members: Vec<MemberDescription>) -> GroupDescription {
        GroupDescription {
            group_id: "g".to_string(),
            state: "Stable".to_string(),
            protocol_type: "consumer".to_string(),
            assignor: "range".to_string(),
            members,
            epochs: None,
        }
    }

    #[test]
    fn members_and_state_tables_are_kafkas() {
        let g = group(vec![member(
            "m-1",
            None,
            vec![("t".into(), vec![1, 0]), ("a".into(), vec![2])],
        )]);
        let table = members_table("g", &g, false);
        assert_eq!(
            table,
            "\nGROUP           CONSUMER-ID     HOST            CLIENT-ID       #PARTITIONS     \n\
             g               m-1             /127.0.0.1      client          3               \n"
        );
        let verbose = members_table("g", &g, true);
        let row = verbose.lines().nth(2).unwrap();
        assert!(row.ends_with("3               -               a:2;t:0,1            -               -                   "), "{row:?}");
        // A member with an instance id adds the column; one without shows it empty.
        let g = group(vec![
            member("m-1", Some("i-1"), vec![]),
            member("m-2", None, vec![]),
        ]);
        let table = members_table("g", &g, false);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].starts_with("GROUP           CONSUMER-ID     GROUP-INSTANCE-ID HOST"),
            "{lines:?}"
        );
        assert!(
            lines[3].starts_with("g               m-2                               /127.0.0.1"),
            "{lines:?}"
        );
        assert_eq!(
            state_table("g", "localhost:9092  (1)", &g, false),
            "\nGROUP           COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE                #MEMBERS\n\
             g               localhost:9092  (1)       range                Stable               2\n"
        );
        // Members of both protocols: Kafka's UPGRADED column.
        let mut mixed = group(vec![
            member("m-1", None, vec![]),
            member("m-2", None, vec![]),
        ]);
        mixed.members[0].upgraded = Some(true);
        mixed.members[1].upgraded = Some(false);
        let table = members_table("g", &mixed, true);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].ends_with("TARGET-ASSIGNMENT    UPGRADED"),
            "{lines:?}"
        );
        assert!(
            lines[2].ends_with(" true") && lines[3].ends_with(" false"),
            "{lines:?}"
        );
        assert!(!members_table("g", &g, true).contains("UPGRADED"));
        let verbose = state_table("g", "localhost:9092  (1)", &g, true);
        assert!(
            verbose.contains(
                "STATE                GROUP-EPOCH     TARGET-ASSIGNMENT-EPOCH   #MEMBERS"
            ),
            "{verbose}"
        );
    }
}
