//! `shoal groups --reset-offsets`: Kafka's offset reset for inactive groups. New
//! offsets are computed from the partitions' logs (ListOffsets on their leaders), the
//! group's committed offsets or a `--from-file` plan, kept within [log start, log end] as
//! Kafka keeps them, printed as Kafka's GROUP TOPIC PARTITION NEW-OFFSET table (or as
//! CSV with `--export`), and committed only with --execute.
//!
//! Invariant: nothing is committed for a group with active members (their own commits
//! would overwrite ours, and Kafka refuses too).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::groups::{column_width, describe_group, offsets_at, GroupsArgs};
use crate::client::cluster::Cluster;
use crate::client::fetch::{EARLIEST, LATEST};
use crate::client::group::{self, Committer};

/// Where the offsets go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Earliest,
    Latest,
    Offset(i64),
    ShiftBy(i64),
    /// Milliseconds since the epoch.
    Datetime(i64),
    /// The committed offset, or the log end where there is none.
    Current,
    /// Each group's offsets, from a file.
    Plan(Plan),
}

fn target(args: &GroupsArgs) -> Result<Target> {
    Ok(if args.to_earliest {
        Target::Earliest
    } else if args.to_latest {
        Target::Latest
    } else if let Some(offset) = args.to_offset {
        Target::Offset(offset)
    } else if let Some(n) = args.shift_by {
        Target::ShiftBy(n)
    } else if let Some(datetime) = &args.to_datetime {
        Target::Datetime(parse_datetime(datetime)?)
    } else if args.to_current {
        Target::Current
    } else if let Some(duration) = &args.by_duration {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        Target::Datetime(now.saturating_sub(parse_duration(duration)?))
    } else if let Some(path) = &args.from_file {
        let one = match args.group.as_slice() {
            [group] => Some(group.as_str()),
            _ => None,
        };
        Target::Plan(read_plan(path, one)?)
    } else {
        bail!("--reset-offsets needs one of --to-earliest, --to-latest, --to-offset, --shift-by, --to-datetime, --to-current, --by-duration, --from-file")
    })
}

/// The groups' new offsets, each group's committed with `--execute`, printed as Kafka's
/// table (or CSV with `--export`). With several groups, a group that cannot be reset
/// (an active one) is reported and the others go on; the exit is then 1.
pub fn reset(cluster: &mut Cluster, args: &GroupsArgs, groups: &[String]) -> Result<()> {
    let target = target(args)?;
    if args.topic.is_empty() && !args.all_topics && !matches!(target, Target::Plan(_)) {
        bail!("One of the reset scopes should be defined: --all-topics, --topic.");
    }
    if !args.execute && !args.dry_run {
        eprintln!("WARN: No action will be performed as the --execute option is missing. Add --dry-run to keep this behaviour without the warning.");
    }
    let mut results = Vec::new();
    let mut refused = Vec::new();
    for group in groups {
        match reset_group(cluster, args, group, &target) {
            Ok(offsets) => results.extend(
                offsets
                    .into_iter()
                    .map(|(t, p, o)| (group.clone(), t, p, o)),
            ),
            Err(error) if groups.len() > 1 => {
                eprintln!("\nError: {error:#}");
                refused.push(format!("'{group}'"));
            }
            Err(error) => return Err(error),
        }
    }
    if args.export {
        print!("{}", export_csv(&results, args.group.len() == 1)?);
    } else if !groups.is_empty() {
        print!("{}", reset_table(&results));
    }
    if !refused.is_empty() {
        bail!("the offsets of {} were not reset", refused.join(", "));
    }
    Ok(())
}

/// One group's new offsets, committed with `--execute`.
fn reset_group(
    cluster: &mut Cluster,
    args: &GroupsArgs,
    group: &str,
    target: &Target,
) -> Result<Vec<(String, i32, i64)>> {
    let (coordinator, description) = describe_group(cluster, args, group)?;
    if description.exists() && description.state != "Empty" {
        bail!(
            "Assignments can only be reset if the group '{group}' is inactive, but the current state is {}.",
            description.state
        );
    }
    let committed = group::offset_fetch(cluster.broker(coordinator)?, group, None)?;
    let mut partitions: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    // A plan names its partitions itself, and only those are reset.
    let scoped = !matches!(target, Target::Plan(_));
    if scoped && args.all_topics {
        for (topic, p) in committed.keys() {
            partitions.entry(topic.clone()).or_default().push(*p);
        }
    }
    let planned: BTreeMap<(String, i32), i64> = match target {
        Target::Plan(plan) => {
            let Some(offsets) = plan.get(group) else {
                bail!("No reset plan for group {group} found.");
            };
            for (topic, p, _) in offsets {
                partitions.entry(topic.clone()).or_default().push(*p);
            }
            offsets
                .iter()
                .map(|(t, p, o)| ((t.clone(), *p), *o))
                .collect()
        }
        _ => BTreeMap::new(),
    };
    for spec in args.topic.iter().filter(|_| scoped) {
        let (topic, chosen) = topic_partitions(cluster, spec)?;
        partitions.entry(topic).or_default().extend(chosen);
    }
    let mut new_offsets = Vec::new();
    for (topic, mut ps) in partitions {
        ps.sort_unstable();
        ps.dedup();
        let start = offsets_at(cluster, &topic, &ps, EARLIEST)?;
        let end = offsets_at(cluster, &topic, &ps, LATEST)?;
        let at_time = match *target {
            Target::Datetime(ms) => Some(offsets_at(cluster, &topic, &ps, ms)?),
            _ => None,
        };
        for p in ps {
            let (Some(&first), Some(&last)) = (start.get(&p), end.get(&p)) else {
                bail!("the leader of {topic}-{p} did not say where its log starts and ends");
            };
            let bounds = (first, last);
            let committed_here = committed.get(&(topic.clone(), p)).copied();
            let offset = match *target {
                Target::Earliest => bounds.0,
                Target::Latest => bounds.1,
                Target::Offset(n) => clamp(n, bounds),
                Target::Current => committed_here.unwrap_or(bounds.1),
                Target::Plan(_) => clamp(planned[&(topic.clone(), p)], bounds),
                Target::ShiftBy(n) => {
                    let Some(current) = committed_here else {
                        bail!("cannot shift the offset of {topic}-{p}: the group has no committed offset there");
                    };
                    clamp(current.saturating_add(n), bounds)
                }
                // No record at or after that time: the log end, as Kafka resets.
                Target::Datetime(_) => match at_time.as_ref().and_then(|m| m.get(&p)) {
                    Some(&offset) if offset >= 0 => offset,
                    _ => bounds.1,
                },
            };
            new_offsets.push((topic.clone(), p, offset));
        }
    }
    if args.execute && !new_offsets.is_empty() {
        group::offset_commit(
            cluster.broker(coordinator)?,
            group,
            Committer::ADMIN,
            &new_offsets,
        )?;
    }
    Ok(new_offsets)
}

/// Kafka keeps reset offsets inside the log: below its start is its start, past its end
/// is its end.
fn clamp(offset: i64, (start, end): (i64, i64)) -> i64 {
    offset.max(start).min(end.max(start))
}

/// The partitions a `--topic` names: those listed, or every one of the topic.
pub fn topic_partitions(cluster: &mut Cluster, spec: &str) -> Result<(String, Vec<i32>)> {
    let (topic, chosen) = parse_topic_partitions(spec)?;
    let chosen = match chosen {
        Some(chosen) => chosen,
        None => cluster
            .topic(&topic, false)?
            .partitions
            .iter()
            .map(|p| p.index)
            .collect(),
    };
    Ok((topic, chosen))
}

/// `TOPIC` (every partition) or `TOPIC:0,2` (those), as Kafka's --topic takes them.
pub fn parse_topic_partitions(spec: &str) -> Result<(String, Option<Vec<i32>>)> {
    let Some((topic, list)) = spec.rsplit_once(':') else {
        return Ok((spec.to_string(), None));
    };
    if topic.is_empty() {
        bail!("--topic '{spec}' names no topic");
    }
    let partitions = list
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<i32>()
                .ok()
                .filter(|&p| p >= 0)
                .with_context(|| format!("--topic '{spec}': '{p}' is not a partition number"))
        })
        .collect::<Result<Vec<i32>>>()?;
    Ok((topic.to_string(), Some(partitions)))
}

/// (group, topic, partition, offset) of each partition reset.
type Reset = (String, String, i32, i64);

/// A `--from-file` plan: (topic, partition, offset) by group.
type Plan = BTreeMap<String, Vec<(String, i32, i64)>>;

/// Kafka's reset table: a blank line, GROUP TOPIC PARTITION NEW-OFFSET, one line per
/// partition (sorted); group and topic columns as wide as their longest value (at least
/// 15).
fn reset_table(offsets: &[Reset]) -> String {
    let g = column_width(offsets.iter().map(|(group, _, _, _)| group.len()));
    let t = column_width(offsets.iter().map(|(_, topic, _, _)| topic.len()));
    let mut out = format!(
        "\n{:<g$} {:<t$} {:<10} NEW-OFFSET\n",
        "GROUP", "TOPIC", "PARTITION"
    );
    let mut sorted: Vec<&Reset> = offsets.iter().collect();
    sorted.sort();
    for (group, topic, partition, offset) in sorted {
        out += &format!("{group:<g$} {topic:<t$} {partition:<10} {offset}\n");
    }
    out
}

/// `--export`: the new offsets as CSV lines Kafka's `--from-file` reads back,
/// `topic,partition,offset` for one `--group`, else `group,topic,partition,offset`,
/// then an empty line, as Kafka prints them.
fn export_csv(offsets: &[Reset], one_group: bool) -> Result<String> {
    let mut sorted: Vec<&Reset> = offsets.iter().collect();
    sorted.sort();
    let mut out = csv::WriterBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_writer(Vec::new());
    for (group, topic, partition, offset) in sorted {
        let (partition, offset) = (partition.to_string(), offset.to_string());
        if one_group {
            out.write_record([topic, &partition, &offset])?;
        } else {
            out.write_record([group, topic, &partition, &offset])?;
        }
    }
    let text = String::from_utf8(out.into_inner()?)?;
    Ok(text + "\n")
}

/// A `--from-file` plan: its lines are `topic,partition,offset` for `one_group` (the
/// tool was given one `--group`) when the first line has three fields, else
/// `group,topic,partition,offset`.
fn read_plan(path: &Path, one_group: Option<&str>) -> Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --from-file {}", path.display()))?;
    parse_plan(&text, one_group).with_context(|| format!("--from-file {}", path.display()))
}

fn parse_plan(text: &str, one_group: Option<&str>) -> Result<Plan> {
    let mut lines = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let records = lines
        .records()
        .filter(|r| r.as_ref().map_or(true, |r| r.iter().any(|f| !f.is_empty())))
        .collect::<Result<Vec<csv::StringRecord>, _>>()?;
    let three = one_group.filter(|_| records.first().is_some_and(|r| r.len() == 3));
    let mut plan = Plan::new();
    for (i, record) in records.iter().enumerate() {
        let fields: Vec<&str> = record.iter().collect();
        let (group, [topic, p, o]) = match (three, fields.as_slice()) {
            (Some(group), [topic, p, o]) => (group, [*topic, *p, *o]),
            (None, [group, topic, p, o]) => (*group, [*topic, *p, *o]),
            _ => bail!(
                "line {}: '{}' is not {}",
                i + 1,
                fields.join(","),
                if three.is_some() {
                    "topic,partition,offset"
                } else {
                    "group,topic,partition,offset"
                }
            ),
        };
        let (Ok(p), Ok(o)) = (p.parse::<i32>(), o.parse::<i64>()) else {
            bail!(
                "line {}: '{}' has no partition and offset numbers",
                i + 1,
                fields.join(",")
            );
        };
        plan.entry(group.to_string())
            .or_default()
            .push((topic.to_string(), p, o));
    }
    Ok(plan)
}

/// A duration in Java's `Duration.parse` form, `PnDTnHnMn.nS` (any case, signs
/// allowed), in milliseconds.
pub fn parse_duration(text: &str) -> Result<i64> {
    let pattern = regex::Regex::new(
        r"(?i)^([-+]?)P(?:([-+]?\d+)D)?(?:T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+)(?:[.,](\d{0,9}))?S)?)?$",
    )?;
    let bad = || {
        anyhow::anyhow!("--by-duration {text}: Text cannot be parsed to a Duration (PnDTnHnMn.nS)")
    };
    let parts = pattern.captures(text).ok_or_else(bad)?;
    let number = |i: usize| -> Result<i64> {
        parts
            .get(i)
            .map_or(Ok(0), |m| m.as_str().parse::<i64>().map_err(|_| bad()))
    };
    if (2..=5).all(|i| parts.get(i).is_none()) || text.ends_with(['T', 't']) {
        return Err(bad());
    }
    let seconds = number(5)?;
    let mut millis = parts.get(6).map_or(0, |m| {
        format!("{:0<3}", m.as_str())[..3]
            .parse::<i64>()
            .unwrap_or(0)
    });
    if parts.get(5).is_some_and(|m| m.as_str().starts_with('-')) {
        millis = -millis;
    }
    let minutes = number(2)?
        .checked_mul(24)
        .and_then(|h| h.checked_add(number(3).ok()?))
        .and_then(|h| h.checked_mul(60))
        .and_then(|m| m.checked_add(number(4).ok()?));
    let total = minutes
        .and_then(|m| m.checked_mul(60_000))
        .and_then(|ms| ms.checked_add(seconds.checked_mul(1000)?))
        .and_then(|ms| ms.checked_add(millis))
        .ok_or_else(bad)?;
    Ok(if &parts[1] == "-" { -total } else { total })
}

/// An ISO-8601 time as Kafka's --to-datetime takes it, `YYYY-MM-DDTHH:mm:SS[.sss]`
/// followed by `Z`, `+HH:mm`, `-HH:mm` (or `+HHmm`, `+HH`), or nothing for UTC; returns
/// milliseconds since the epoch.
pub fn parse_datetime(text: &str) -> Result<i64> {
    let bad = || {
        anyhow::anyhow!(
            "'{text}' is not a date and time like 2024-01-31T12:00:00.000 (optionally ending in Z or +HH:mm)"
        )
    };
    let (date, time) = text.split_once('T').ok_or_else(bad)?;
    let date: Vec<&str> = date.split('-').collect();
    let [year, month, day] = date.as_slice() else {
        return Err(bad());
    };
    let (year, month, day) = (
        digits(year, 4).ok_or_else(bad)?,
        digits(month, 2).ok_or_else(bad)?,
        digits(day, 2).ok_or_else(bad)?,
    );
    let zone_at = time.find(['Z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, fraction)) => (hms, Some(fraction)),
        None => (clock, None),
    };
    let hms: Vec<&str> = hms.split(':').collect();
    let [hour, minute, second] = hms.as_slice() else {
        return Err(bad());
    };
    let (hour, minute, second) = (
        digits(hour, 2).ok_or_else(bad)?,
        digits(minute, 2).ok_or_else(bad)?,
        digits(second, 2).ok_or_else(bad)?,
    );
    let millis = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<3}")[..3].parse::<i64>().map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return Err(bad());
    }
    let offset_minutes = zone_minutes(zone).ok_or_else(bad)?;
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    Ok(seconds * 1000 + millis)
}

/// Exactly `width` ASCII digits.
fn digits(text: &str, width: usize) -> Option<i64> {
    (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// The zone's offset from UTC in minutes: "" and "Z" are UTC.
fn zone_minutes(zone: &str) -> Option<i64> {
    let sign = match zone.as_bytes().first() {
        None => return Some(0),
        Some(b'Z') if zone.len() == 1 => return Some(0),
        Some(b'+') => 1,
        Some(b'-') => -1,
        Some(_) => return None,
    };
    if !zone.is_ascii() {
        return None;
    }
    let rest = zone[1..].replace(':', "");
    let (hours, minutes) = match rest.len() {
        2 => (digits(&rest, 2)?, 0),
        4 => (digits(&rest[..2], 2)?, digits(&rest[2..], 2)?),
        _ => return None,
    };
    (hours <= 18 && minutes <= 59).then_some(sign * (hours * 60 + minutes))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_parse_as_kafka_reads_them() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00").unwrap(), 0);
        assert_eq!(parse_datetime("1970-01-01T00:00:00.000Z").unwrap(), 0);
        // `date -u -d 2024-02-29T12:34:56 +%s` = 1709210096
        assert_eq!(
            parse_datetime("2024-02-29T12:34:56.789").unwrap(),
            1_709_210_096_789
        );
        assert_eq!(
            parse_datetime("2024-02-29T14:34:56.789+02:00").unwrap(),
            1_709_210_096_789
        );
        assert_eq!(
            parse_datetime("2024-02-29T07:04:56.7-0530").unwrap(),
            1_709_210_096_700
        );
        assert_eq!(
            parse_datetime("2000-03-01T00:00:00Z").unwrap(),
            951_868_800_000
        );
        for bad in [
            "yesterday",
            "2024-02-30T00:00:00",
            "2023-02-29T00:00:00",
            "2024-01-01",
            "2024-01-01T25:00:00",
            "2024-1-01T00:00:00",
            "2024-01-01T00:00:00.",
            "2024-01-01T00:00:00+2",
            "2024-01-01T00:00:00Zulu",
            "2024-01-01T00:00:00+0\u{e9}0",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn topics_name_all_or_some_partitions() {
        assert_eq!(parse_topic_partitions("t").unwrap(), ("t".into(), None));
        assert_eq!(
            parse_topic_partitions("t:0,2").unwrap(),
            ("t".into(), Some(vec![0, 2]))
        );
        assert!(parse_topic_partitions("t:x").is_err());
        assert!(parse_topic_partitions(":1").is_err());
    }

    #[test]
    fn offsets_stay_within_the_log() {
        assert_eq!(clamp(-5, (2, 10)), 2);
        assert_eq!(clamp(50, (2, 10)), 10);
        assert_eq!(clamp(7, (2, 10)), 7);
    }

    #[test]
    fn reset_table_is_aligned_like_kafkas() {
        let table = reset_table(&[
            ("g".into(), "t".into(), 11, 0),
            ("g".into(), "t".into(), 0, 5),
        ]);
        assert_eq!(
            table,
            "\nGROUP           TOPIC           PARTITION  NEW-OFFSET\n\
             g               t               0          5\n\
             g               t               11         0\n"
        );
    }

    #[test]
    fn exports_read_back_as_plans() {
        let offsets = [
            ("g".to_string(), "t,1".to_string(), 0, 5),
            ("g".to_string(), "u".to_string(), 2, 7),
        ];
        let one = export_csv(&offsets, true).unwrap();
        assert_eq!(one, "\"t,1\",0,5\nu,2,7\n\n");
        let many = export_csv(&offsets, false).unwrap();
        assert_eq!(many, "g,\"t,1\",0,5\ng,u,2,7\n\n");
        // What --export writes, --from-file reads: names with commas and quotes too.
        let odd = [("a,\"b\"".to_string(), "t".to_string(), 1, 4)];
        let plan = parse_plan(&export_csv(&odd, false).unwrap(), None).unwrap();
        assert_eq!(plan["a,\"b\""], [("t".to_string(), 1, 4)]);
        let plan = parse_plan("t,0,5\nu,2,7\n", Some("g")).unwrap();
        assert_eq!(
            plan["g"],
            [("t".to_string(), 0, 5), ("u".to_string(), 2, 7)]
        );
        let plan = parse_plan("g,t,0,5\nh,t,0,1\n", Some("g")).unwrap();
        assert_eq!((plan["g"].len(), plan["h"][0].2), (1, 1));
        assert!(parse_plan("t,0\n", Some("g")).is_err());
        assert!(parse_plan("t,0,x\n", Some("g")).is_err());
        assert!(parse_plan("t,0,5\n", None).is_err());
    }

    #[test]
    fn durations_parse_as_javas() {
        assert_eq!(parse_duration("PT1H30M").unwrap(), 5_400_000);
        assert_eq!(parse_duration("P1DT2H").unwrap(), 93_600_000);
        assert_eq!(parse_duration("pt0.5s").unwrap(), 500);
        assert_eq!(parse_duration("PT-1.5S").unwrap(), -1_500);
        assert_eq!(parse_duration("-PT10M").unwrap(), -600_000);
        for bad in [
            "P",
            "PT",
            "1H",
            "PT1X",
            "P1Y",
            "",
            "PT1H30",
            "P400000000000000000D",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} parsed");
        }
    }
}
