//! Kafka's RangeAssignor, run by the leader of a classic consumer group: for each topic,
//! the members subscribed to it, sorted by member id, take consecutive runs of its
//! partitions; the first `partitions % members` of them take one extra. Pure.

use std::collections::BTreeMap;

use super::group::Assignment;

/// `members`: (member id, subscribed topics); `partitions`: topic -> partition count
/// (topics missing here are skipped). Every member gets an entry, perhaps empty.
pub fn range(
    members: &[(String, Vec<String>)],
    partitions: &BTreeMap<String, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|(member, _)| (member.clone(), Vec::new()))
        .collect();
    for (topic, &count) in partitions {
        let mut subscribers: Vec<&str> = members
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(member, _)| member.as_str())
            .collect();
        subscribers.sort_unstable();
        subscribers.dedup();
        let Ok(n) = i32::try_from(subscribers.len()) else {
            continue;
        };
        if n == 0 || count <= 0 {
            continue;
        }
        let (each, extra) = (count / n, count % n);
        for (i, member) in (0..n).zip(subscribers) {
            let start = i * each + i.min(extra);
            let length = each + i32::from(i < extra);
            if length > 0 {
                if let Some(assignment) = out.get_mut(member) {
                    assignment.push((topic.clone(), (start..start + length).collect()));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter()
            .map(|(m, ts)| (m.to_string(), ts.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    fn counts(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn of<'a>(out: &'a BTreeMap<String, Assignment>, member: &str) -> Vec<(&'a str, Vec<i32>)> {
        out[member]
            .iter()
            .map(|(t, ps)| (t.as_str(), ps.clone()))
            .collect()
    }

    #[test]
    fn splits_in_member_id_order_with_extras_first() {
        let out = range(
            &members(&[("c", &["t"]), ("a", &["t"]), ("b", &["t"])]),
            &counts(&[("t", 7)]),
        );
        assert_eq!(of(&out, "a"), vec![("t", vec![0, 1, 2])]);
        assert_eq!(of(&out, "b"), vec![("t", vec![3, 4])]);
        assert_eq!(of(&out, "c"), vec![("t", vec![5, 6])]);
    }

    #[test]
    fn more_members_than_partitions_leaves_some_empty() {
        let out = range(
            &members(&[("a", &["t"]), ("b", &["t"])]),
            &counts(&[("t", 1)]),
        );
        assert_eq!(of(&out, "a"), vec![("t", vec![0])]);
        assert!(out["b"].is_empty());
    }

    #[test]
    fn each_topic_is_split_among_its_own_subscribers() {
        let out = range(
            &members(&[("a", &["x", "y"]), ("b", &["y"])]),
            &counts(&[("x", 4), ("y", 4), ("z", 3)]),
        );
        assert_eq!(
            of(&out, "a"),
            vec![("x", vec![0, 1, 2, 3]), ("y", vec![0, 1])]
        );
        assert_eq!(of(&out, "b"), vec![("y", vec![2, 3])]);
    }
}
