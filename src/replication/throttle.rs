//! Replication throttles, as Kafka's `ReplicationQuotaManager`: the bytes a broker sends
//! to followers as a leader, and fetches from leaders as a follower, of the replicas the
//! topics' `leader.`/`follower.replication.throttled.replicas` name on it, are measured
//! over `replication.quota.window.*`. Past `leader.`/`follower.replication.throttled.rate`,
//! a throttled replica outside the ISR gets nothing more until the rate falls back under
//! it: the leader answers its fetch without records, the follower leaves it out of its
//! fetches. A replica in the ISR is not held back (the leader asks the ISR it counts
//! acks=all by; a follower, the metadata it applied, which may lag one ISR change behind).
//! The rates are the broker's, over all its shards: each side's measure sits behind one
//! lock, taken only for a throttled replica and at a scrape.

use std::sync::Mutex;

use crate::cluster::Snapshot;
use crate::config::BrokerConfig;
use crate::quota::rate::Sampled;
use crate::quota::sensors::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// What this broker sends its followers.
    Leader,
    /// What this broker fetches from its leaders.
    Follower,
}

// A lock, not a message: Kafka's rate is the broker's, and the replicas it bounds are
// spread over every shard, so one measure is read and written by all of them (a rate cut
// into per-shard shares would starve a shard that carries the whole move). It is taken
// only for a listed replica, for a few arithmetic steps, never across an await.
static LEADER: Mutex<Option<Sampled>> = Mutex::new(None);
static FOLLOWER: Mutex<Option<Sampled>> = Mutex::new(None);

impl Side {
    /// The topic key naming the throttled replicas.
    fn replicas_key(self) -> &'static str {
        match self {
            Side::Leader => "leader.replication.throttled.replicas",
            Side::Follower => "follower.replication.throttled.replicas",
        }
    }

    fn rate_bound(self, broker: &BrokerConfig) -> Option<i64> {
        match self {
            Side::Leader => broker.leader_replication_throttled_rate,
            Side::Follower => broker.follower_replication_throttled_rate,
        }
    }

    /// The bytes measured on this side: `f` with its rate, made on first use with the
    /// broker's windows.
    fn measure<T>(self, broker: &BrokerConfig, f: impl FnOnce(&mut Sampled, u64) -> T) -> T {
        let lock = match self {
            Side::Leader => &LEADER,
            Side::Follower => &FOLLOWER,
        };
        let now = now_ms();
        let mut rate = lock.lock().unwrap_or_else(|e| e.into_inner());
        let rate = rate.get_or_insert_with(|| {
            let window_ms = broker.replication_quota_window_size_seconds.max(1) as u64 * 1000;
            Sampled::new(
                broker.replication_quota_window_num.max(1) as usize,
                window_ms,
                now,
            )
        });
        f(rate, now)
    }

    /// Whether the topic's list names `partition` of `topic` on this broker: its bytes
    /// count against this side's rate.
    pub fn lists(self, snapshot: &Snapshot, topic: &str, partition: i32) -> bool {
        snapshot.topic(topic).is_some_and(|meta| {
            meta.config
                .throttles(self.replicas_key(), partition, snapshot.broker.node_id)
        })
    }

    /// Whether this side's replicas outside the ISR are held back now: it has a rate
    /// and went past it.
    pub fn exceeded(self, broker: &BrokerConfig) -> bool {
        match self.rate_bound(broker) {
            None => false,
            Some(bound) => self.measure(broker, |rate, now| rate.rate(now) > bound as f64),
        }
    }

    /// Counts bytes of listed replicas sent (leader) or fetched (follower).
    pub fn record(self, broker: &BrokerConfig, bytes: u64) {
        if bytes > 0 {
            self.measure(broker, |rate, now| rate.record(bytes as f64, now));
        }
    }

    /// Bytes per second over the windows (Kafka's `LeaderReplication`/
    /// `FollowerReplication` `byte-rate`).
    pub fn byte_rate(self, broker: &BrokerConfig) -> f64 {
        self.measure(broker, |rate, now| rate.rate(now))
    }
}

/// Whether `broker`'s replica of `partition` of `topic` is in the ISR as the metadata
/// this shard applied has it: a follower's view of its own replica (its leader uses the
/// ISR it counts acks=all by).
pub fn in_sync(snapshot: &Snapshot, topic: &str, partition: i32, broker: i32) -> bool {
    snapshot
        .replicas_of(topic, partition)
        .is_some_and(|r| r.isr.contains(&broker))
}
