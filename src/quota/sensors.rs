//! What clients used of their quotas. Kafka's quotas are a broker's, and one client's
//! connections are spread over the shards (SO_REUSEPORT), so the use is counted in one
//! table for the broker, behind one lock. It is taken only for a client a quota applies
//! to (a broker with no quota set never touches it) and at a scrape.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use super::rate::{refill_ms, throttle_ms, Sampled, TokenBucket};
use super::{Applied, QuotaKind};
use crate::config::BrokerConfig;

/// A sensor unused this long is dropped (Kafka's `InactiveSensorExpirationTimeSeconds`).
const IDLE_MS: u64 = 3_600_000;
/// The most sensors the broker keeps: past it, the least recently used goes. A client
/// picks its client id per request, so the names are not bounded otherwise.
const SENSORS_MAX: usize = 100_000;

/// Quota windows, from `quota.window.num` and `quota.window.size.seconds`.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    pub samples: usize,
    pub window_ms: u64,
}

impl Windows {
    /// The windows quotas of `kind` are measured over: `controller.quota.window.*` for
    /// controller mutations, `quota.window.*` for the rest.
    pub fn of(broker: &BrokerConfig, kind: QuotaKind) -> Windows {
        let (samples, seconds) = match kind {
            QuotaKind::ControllerMutation => (
                broker.controller_quota_window_num,
                broker.controller_quota_window_size_seconds,
            ),
            _ => (broker.quota_window_num, broker.quota_window_size_seconds),
        };
        Windows {
            samples: samples.max(1) as usize,
            window_ms: seconds.max(1) as u64 * 1000,
        }
    }

    /// The most a client may take at once without being throttled for sure: the bound
    /// over `samples - 1` windows (Kafka's `getMaxValueInQuotaWindow`).
    pub fn most_at_once(self, bound: f64) -> f64 {
        bound * (self.samples.saturating_sub(1).max(1) as f64) * self.window_ms as f64 / 1000.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    kind: QuotaKind,
    user: String,
    client_id: String,
}

struct Sensor {
    used: Sampled,
    /// A controller mutation quota's token bucket, which decides its waits (its rate is
    /// the `mutation-rate` metric only).
    bucket: TokenBucket,
    /// Each throttle time handed out, in ms.
    throttled: Sampled,
    bound: f64,
    last_ms: u64,
}

#[derive(Default)]
struct Table {
    sensors: HashMap<Key, Sensor>,
}

static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(Mutex::default);
static START: LazyLock<Instant> = LazyLock::new(Instant::now);

pub(crate) fn now_ms() -> u64 {
    START.elapsed().as_millis() as u64
}

fn key(kind: QuotaKind, applied: &Applied) -> Key {
    Key {
        kind,
        user: applied.user.clone(),
        client_id: applied.client_id.clone(),
    }
}

impl Table {
    fn sensor(&mut self, key: Key, bound: f64, windows: Windows, now: u64) -> &mut Sensor {
        if !self.sensors.contains_key(&key) && self.sensors.len() >= SENSORS_MAX {
            self.sensors
                .retain(|_, s| now.saturating_sub(s.last_ms) < IDLE_MS);
            if self.sensors.len() >= SENSORS_MAX {
                let stalest = self
                    .sensors
                    .iter()
                    .min_by_key(|(_, s)| s.last_ms)
                    .map(|(k, _)| k.clone());
                if let Some(stalest) = stalest {
                    self.sensors.remove(&stalest);
                }
            }
        }
        let span_ms = windows.samples as u64 * windows.window_ms;
        let sensor = self.sensors.entry(key).or_insert_with(|| Sensor {
            used: Sampled::new(windows.samples, windows.window_ms, now),
            bucket: TokenBucket::full(bound, span_ms, now),
            throttled: Sampled::new(windows.samples, windows.window_ms, now),
            bound,
            last_ms: now,
        });
        sensor.bound = bound;
        sensor.last_ms = now;
        sensor
    }
}

/// Counts `value` (bytes, or ms of a shard's time) against the quota `applied` to a
/// client, and answers how long the client must now wait, in ms: 0 while its rate is
/// within the quota.
pub fn record(kind: QuotaKind, applied: &Applied, value: f64, windows: Windows) -> u64 {
    let now = now_ms();
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let sensor = table.sensor(key(kind, applied), applied.bound, windows, now);
    sensor.used.record(value, now);
    if kind == QuotaKind::ControllerMutation {
        sensor.bucket.take(value, applied.bound, now);
    }
    sensor.wait(kind, now)
}

impl Sensor {
    /// How long the client must wait now: for its bucket to refill to zero (controller
    /// mutations), or for its rate to fall back to the bound.
    fn wait(&mut self, kind: QuotaKind, now: u64) -> u64 {
        if kind == QuotaKind::ControllerMutation {
            return refill_ms(self.bucket.tokens(self.bound, now), self.bound);
        }
        let observed = self.used.rate(now);
        throttle_ms(observed, self.bound, self.used.span_ms(now))
    }
}

/// `record`, and when the client must wait, `throttled` too: the wait in ms. Kafka
/// bounds the request and connection quotas' waits at one quota window (its
/// `boundedThrottleTime`); the byte and mutation quotas' are not bounded.
pub fn charge(kind: QuotaKind, applied: &Applied, value: f64, windows: Windows) -> u64 {
    let wait = record(kind, applied, value, windows);
    let wait = match kind {
        QuotaKind::Request | QuotaKind::ConnectionCreation => wait.min(windows.window_ms),
        _ => wait,
    };
    if wait > 0 {
        throttled(kind, applied, wait, windows);
    }
    wait
}

/// How long the client would have to wait now, recording nothing: KIP-599's strict
/// check, which refuses a mutation once the client is over its quota.
pub fn wait_now(kind: QuotaKind, applied: &Applied, windows: Windows) -> u64 {
    let now = now_ms();
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let sensor = table.sensor(key(kind, applied), applied.bound, windows, now);
    sensor.wait(kind, now)
}

/// Takes back `value` recorded for a request that was throttled instead of served
/// (a fetch answered empty).
pub fn unrecord(kind: QuotaKind, applied: &Applied, value: f64, windows: Windows) {
    let now = now_ms();
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let sensor = table.sensor(key(kind, applied), applied.bound, windows, now);
    sensor.used.record(-value, now);
    if kind == QuotaKind::ControllerMutation {
        sensor.bucket.take(-value, applied.bound, now);
    }
}

/// Notes a throttle time handed to the client (the `throttle-time` metric).
pub fn throttled(kind: QuotaKind, applied: &Applied, ms: u64, windows: Windows) {
    let now = now_ms();
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let sensor = table.sensor(key(kind, applied), applied.bound, windows, now);
    sensor.throttled.record(ms as f64, now);
}

/// One sensor as a scrape reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSample {
    pub kind: QuotaKind,
    pub user: String,
    pub client_id: String,
    /// Bytes (or ms, or partitions) per second.
    pub rate: f64,
    /// The mean throttle time handed out over the windows, in ms.
    pub throttle_time_ms: f64,
    pub bound: f64,
}

/// Every live sensor, for a scrape.
pub fn sample() -> Vec<SensorSample> {
    let now = now_ms();
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    table
        .sensors
        .retain(|_, s| now.saturating_sub(s.last_ms) < IDLE_MS);
    let mut samples: Vec<SensorSample> = table
        .sensors
        .iter_mut()
        .map(|(key, sensor)| SensorSample {
            kind: key.kind,
            user: key.user.clone(),
            client_id: key.client_id.clone(),
            rate: sensor.used.rate(now),
            throttle_time_ms: sensor.throttled.average(now),
            bound: sensor.bound,
        })
        .collect();
    samples.sort_by(|a, b| (a.kind, &a.user, &a.client_id).cmp(&(b.kind, &b.user, &b.client_id)));
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_quota_is_throttled_and_one_within_it_is_not() {
        let windows = Windows {
            samples: 11,
            window_ms: 1000,
        };
        let applied = |client: &str| Applied {
            bound: 1000.0,
            user: String::new(),
            client_id: client.into(),
        };
        // 5000 bytes at once against 1000/s over at least 10 s: within it.
        let within = applied("sensors-test-within");
        assert_eq!(record(QuotaKind::Produce, &within, 5000.0, windows), 0);
        // 30000 bytes: three times the quota over 10 s, so about 20 s more.
        let over = applied("sensors-test-over");
        let wait = record(QuotaKind::Produce, &over, 30_000.0, windows);
        assert!((19_000..=21_000).contains(&wait), "{wait}");
        unrecord(QuotaKind::Produce, &over, 30_000.0, windows);
        assert_eq!(record(QuotaKind::Produce, &over, 1.0, windows), 0);
        throttled(QuotaKind::Produce, &over, 40, windows);
        let sampled = sample()
            .into_iter()
            .find(|s| s.client_id == "sensors-test-over")
            .unwrap();
        assert_eq!(sampled.throttle_time_ms, 40.0);
        assert_eq!(sampled.bound, 1000.0);
    }
}
