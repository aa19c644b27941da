//! Kafka's BrokerTopicMetrics, one shard's share: per topic and over all topics.
//!
//! Only partitions that exist are counted (a request naming an unknown topic adds no
//! series, so garbage names cannot grow the scrape). The all-topics totals never
//! drop when a topic is deleted, so their rates stay right; a deleted topic's own
//! series go at the next scrape.

use std::cell::RefCell;
use std::collections::HashMap;

/// What Kafka counts per topic, as counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicCounts {
    /// Records appended.
    pub messages_in: u64,
    /// Record batch bytes appended.
    pub bytes_in: u64,
    /// Record bytes sent in fetch responses.
    pub bytes_out: u64,
    /// Partitions in produce requests (Kafka counts each partition of a request).
    pub produce_requests: u64,
    /// Partitions read for fetch requests.
    pub fetch_requests: u64,
    /// Partitions whose append failed (bad batch, too large, I/O error).
    pub failed_produce_requests: u64,
    /// Partitions whose read failed (fenced epoch, offset out of range, I/O error).
    pub failed_fetch_requests: u64,
}

impl std::ops::AddAssign for TopicCounts {
    fn add_assign(&mut self, o: TopicCounts) {
        self.messages_in += o.messages_in;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.produce_requests += o.produce_requests;
        self.fetch_requests += o.fetch_requests;
        self.failed_produce_requests += o.failed_produce_requests;
        self.failed_fetch_requests += o.failed_fetch_requests;
    }
}

#[derive(Default)]
pub struct TopicCounters {
    by_topic: RefCell<HashMap<String, TopicCounts>>,
    all: RefCell<TopicCounts>,
}

impl TopicCounters {
    /// An append of `bytes` holding `messages` records to a partition of `topic`.
    pub fn produced(&self, topic: &str, bytes: u64, messages: u64) {
        self.bump(topic, |c| {
            c.produce_requests += 1;
            c.bytes_in += bytes;
            c.messages_in += messages;
        });
    }

    pub fn produce_failed(&self, topic: &str) {
        self.bump(topic, |c| {
            c.produce_requests += 1;
            c.failed_produce_requests += 1;
        });
    }

    /// A partition of `topic` read for a fetch, `bytes` of its records sent.
    pub fn fetched(&self, topic: &str, bytes: u64, failed: bool) {
        self.bump(topic, |c| {
            c.fetch_requests += 1;
            c.bytes_out += bytes;
            c.failed_fetch_requests += u64::from(failed);
        });
    }

    fn bump(&self, topic: &str, change: impl Fn(&mut TopicCounts)) {
        change(&mut self.all.borrow_mut());
        let mut by_topic = self.by_topic.borrow_mut();
        match by_topic.get_mut(topic) {
            Some(counts) => change(counts),
            None => {
                let mut counts = TopicCounts::default();
                change(&mut counts);
                by_topic.insert(topic.to_string(), counts);
            }
        }
    }

    /// The all-topics totals and each topic's counts. Topics `exists` denies (deleted
    /// ones) are forgotten here, so a topic created again later starts from zero.
    pub fn sample(
        &self,
        exists: impl Fn(&str) -> bool,
    ) -> (TopicCounts, Vec<(String, TopicCounts)>) {
        let mut by_topic = self.by_topic.borrow_mut();
        by_topic.retain(|topic, _| exists(topic));
        let topics = by_topic.iter().map(|(t, c)| (t.clone(), *c)).collect();
        (*self.all.borrow(), topics)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_topic_and_in_total_and_forgets_deleted_topics() {
        let c = TopicCounters::default();
        c.produced("a", 100, 3);
        c.produced("a", 50, 1);
        c.produce_failed("b");
        c.fetched("a", 120, false);
        c.fetched("b", 0, true);
        let (all, mut topics) = c.sample(|_| true);
        topics.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(all.bytes_in, 150);
        assert_eq!(all.messages_in, 4);
        assert_eq!(all.produce_requests, 3);
        assert_eq!(all.failed_produce_requests, 1);
        assert_eq!(all.fetch_requests, 2);
        assert_eq!(all.failed_fetch_requests, 1);
        assert_eq!(all.bytes_out, 120);
        assert_eq!(topics[0].0, "a");
        assert_eq!(topics[0].1.produce_requests, 2);
        assert_eq!(topics[0].1.bytes_out, 120);
        assert_eq!(topics[1].1.failed_produce_requests, 1);

        let (all_after, topics) = c.sample(|t| t != "b");
        assert_eq!(all_after, all, "the totals keep what deleted topics did");
        assert_eq!(topics.len(), 1);
        c.produce_failed("b");
        let (_, topics) = c.sample(|_| true);
        let b = topics.iter().find(|(t, _)| t == "b").map(|(_, c)| *c);
        assert_eq!(
            b.map(|c| c.failed_produce_requests),
            Some(1),
            "b starts again from zero"
        );
    }
}
