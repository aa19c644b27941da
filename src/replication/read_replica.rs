//! Fetching from the closest replica (KIP-392). With `replica.selector.class` set to
//! Kafka's `RackAwareReplicaSelector`, a partition's leader answers a consumer that
//! names its rack (`client.rack`, Fetch v11+) with the in-sync replica of that rack
//! to read from instead of records, unless the leader is in that rack itself; the
//! consumer then fetches there, and the follower serves it up to its high watermark.

/// `replica.selector.class`: who chooses the replica a consumer reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplicaSelector {
    /// Kafka's default (no class, or `LeaderSelector`): the leader always serves.
    #[default]
    Leader,
    /// `RackAwareReplicaSelector`: a replica in the consumer's rack.
    RackAware,
}

pub const LEADER_SELECTOR: &str = "org.apache.kafka.common.replica.LeaderSelector";
pub const RACK_AWARE_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

impl ReplicaSelector {
    /// The selector a class name configures; `None` for a class shoal does not have.
    pub fn parse(class: &str) -> Option<ReplicaSelector> {
        match class.trim() {
            "" | LEADER_SELECTOR => Some(ReplicaSelector::Leader),
            RACK_AWARE_SELECTOR => Some(ReplicaSelector::RackAware),
            _ => None,
        }
    }
}

/// A follower a consumer may be sent to: in the ISR, holding the offset asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader<'a> {
    pub broker: i32,
    pub rack: Option<&'a str>,
    pub log_end: i64,
    /// When it was last caught up with the leader (ms).
    pub caught_up_ms: i64,
}

/// As Kafka's `RackAwareReplicaSelector` chooses for a consumer in `client_rack`: the
/// leader when it is in that rack or no follower is; else the follower there with the
/// longest log, then the one caught up last (then the lowest id). `None`: the leader.
pub fn preferred(
    client_rack: &str,
    leader_rack: Option<&str>,
    followers: &[Reader<'_>],
) -> Option<i32> {
    if leader_rack == Some(client_rack) {
        return None;
    }
    followers
        .iter()
        .filter(|f| f.rack == Some(client_rack))
        .max_by(|a, b| {
            (a.log_end, a.caught_up_ms, -a.broker).cmp(&(b.log_end, b.caught_up_ms, -b.broker))
        })
        .map(|f| f.broker)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(broker: i32, rack: &str, log_end: i64, caught_up_ms: i64) -> Reader<'_> {
        Reader {
            broker,
            rack: Some(rack),
            log_end,
            caught_up_ms,
        }
    }

    #[test]
    fn the_consumer_s_rack_decides_and_the_most_caught_up_follower_there_serves() {
        let followers = [
            reader(2, "b", 100, 5),
            reader(3, "c", 90, 9),
            reader(4, "c", 100, 7),
            reader(5, "c", 100, 8),
        ];
        assert_eq!(preferred("b", Some("a"), &followers), Some(2));
        assert_eq!(preferred("c", Some("a"), &followers), Some(5));
        // The leader's own rack, or a rack no follower is in: the leader serves.
        assert_eq!(preferred("a", Some("a"), &followers), None);
        assert_eq!(preferred("d", Some("a"), &followers), None);
        assert_eq!(preferred("c", Some("c"), &followers), None);
        // Ties go to the lowest id.
        let tied = [reader(7, "b", 10, 1), reader(6, "b", 10, 1)];
        assert_eq!(preferred("b", None, &tied), Some(6));
    }

    #[test]
    fn only_kafka_s_two_selectors_are_known() {
        assert_eq!(ReplicaSelector::parse(""), Some(ReplicaSelector::Leader));
        assert_eq!(
            ReplicaSelector::parse(LEADER_SELECTOR),
            Some(ReplicaSelector::Leader)
        );
        assert_eq!(
            ReplicaSelector::parse(RACK_AWARE_SELECTOR),
            Some(ReplicaSelector::RackAware)
        );
        assert_eq!(ReplicaSelector::parse("com.example.Mine"), None);
    }
}
