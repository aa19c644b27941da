//! The two kinds of distribution a shard keeps, both owned by one shard:
//! - `DurationHistogram`: fixed bucket bounds, exported as a Prometheus histogram
//!   (fsync latency), so Prometheus can aggregate it across shards and brokers.
//! - `LatencyWindow`: an hdrhistogram over the last one to two `LATENCY_WINDOW`s,
//!   exported as quantile gauges the way Kafka's request-time histograms are. Like
//!   Kafka's (which decay over about five minutes) it forgets old requests, so a
//!   spike shows and then passes instead of being averaged into the whole uptime.

use std::cell::Cell;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Bucket upper bounds of `DurationHistogram`, in seconds: 100 µs (a sync that the
/// device cache absorbs) to 10 s (a stalled disk), and every 0.5 ms from 1 to 3 ms, then
/// 4 and 5 ms, where an SSD's fdatasync p99 falls: a quantile estimated from the buckets
/// is off by at most the width of the one it falls in.
pub const DURATION_BOUNDS_SECONDS: [f64; 20] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.0025, 0.003, 0.004, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Durations counted in fixed buckets (`DURATION_BOUNDS_SECONDS`, plus one past the last).
#[derive(Default)]
pub struct DurationHistogram {
    counts: [Cell<u64>; DURATION_BOUNDS_SECONDS.len() + 1],
    sum_seconds: Cell<f64>,
}

/// A `DurationHistogram` at one moment: counts per bucket (not cumulative), the last
/// for durations past every bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BucketSample {
    pub counts: Vec<u64>,
    pub sum_seconds: f64,
}

impl DurationHistogram {
    pub fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = DURATION_BOUNDS_SECONDS.partition_point(|bound| *bound < seconds);
        let count = &self.counts[bucket];
        count.set(count.get() + 1);
        self.sum_seconds.set(self.sum_seconds.get() + seconds);
    }

    pub fn sample(&self) -> BucketSample {
        BucketSample {
            counts: self.counts.iter().map(Cell::get).collect(),
            sum_seconds: self.sum_seconds.get(),
        }
    }
}

impl BucketSample {
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds `other`'s counts bucket by bucket.
    pub fn merge(&mut self, other: &BucketSample) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.sum_seconds += other.sum_seconds;
    }

    /// `(upper bound, count at or below it)` for every bound, as Prometheus' `le`.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        DURATION_BOUNDS_SECONDS
            .iter()
            .zip(&self.counts)
            .map(|(bound, count)| {
                total += count;
                (*bound, total)
            })
            .collect()
    }
}

/// How long a latency window lasts; quantiles cover the last one to two of them.
pub const LATENCY_WINDOW: Duration = Duration::from_secs(60);

/// The longest latency told apart from longer ones, in microseconds (one minute).
const LATENCY_US_MAX: u64 = 60_000_000;

/// Two significant digits: a quantile is within 1% of the true value.
const LATENCY_SIGNIFICANT_DIGITS: u8 = 2;

pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
        .expect("constant bounds are valid")
}

/// Latencies in microseconds of the current window and the one before it.
pub struct LatencyWindow {
    current: Histogram<u64>,
    previous: Histogram<u64>,
    current_since: Instant,
}

impl LatencyWindow {
    pub fn new(now: Instant) -> LatencyWindow {
        LatencyWindow {
            current: latency_histogram(),
            previous: latency_histogram(),
            current_since: now,
        }
    }

    pub fn record(&mut self, latency: Duration, now: Instant) {
        self.rotate(now);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.current.saturating_record(micros);
    }

    /// Everything recorded in the last one to two windows.
    pub fn recent(&mut self, now: Instant) -> Histogram<u64> {
        self.rotate(now);
        let mut recent = self.previous.clone();
        // Both come from `latency_histogram`, so their bounds match and add cannot fail.
        let _ = recent.add(&self.current);
        recent
    }

    fn rotate(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.current_since);
        if age < LATENCY_WINDOW {
            return;
        }
        if age < 2 * LATENCY_WINDOW {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.reset();
            self.current_since += LATENCY_WINDOW;
        } else {
            self.current.reset();
            self.previous.reset();
            self.current_since = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket_of(bound: f64) -> usize {
        DURATION_BOUNDS_SECONDS
            .iter()
            .position(|b| *b == bound)
            .expect("a bound of the histogram")
    }

    #[test]
    fn durations_land_in_the_first_bucket_whose_bound_holds_them() {
        let h = DurationHistogram::default();
        h.observe(Duration::from_micros(50)); // <= 0.0001
        h.observe(Duration::from_micros(100)); // == 0.0001: `le` includes the bound
        h.observe(Duration::from_micros(4500)); // <= 0.005
        h.observe(Duration::from_secs(60)); // past every bound
        let s = h.sample();
        assert_eq!(s.counts.len(), DURATION_BOUNDS_SECONDS.len() + 1);
        assert_eq!(s.counts[0], 2);
        assert_eq!(s.counts[bucket_of(0.005)], 1);
        assert_eq!(*s.counts.last().unwrap(), 1);
        assert_eq!(s.count(), 4);
        assert!((s.sum_seconds - 60.00465).abs() < 1e-9, "{}", s.sum_seconds);
        let cumulative = s.cumulative();
        assert_eq!(cumulative[0], (0.0001, 2));
        assert_eq!(cumulative[bucket_of(0.004)], (0.004, 2));
        assert_eq!(cumulative[bucket_of(0.005)], (0.005, 3));
        // +Inf (the sample count) is the encoder's to add: 4, one more than the last bound.
        assert_eq!(cumulative.last(), Some(&(10.0, 3)));
    }

    #[test]
    fn bucket_samples_merge_bucket_by_bucket() {
        let (a, b) = (DurationHistogram::default(), DurationHistogram::default());
        a.observe(Duration::from_micros(80));
        b.observe(Duration::from_micros(90));
        b.observe(Duration::from_millis(200));
        let mut merged = BucketSample::default();
        merged.merge(&a.sample());
        merged.merge(&b.sample());
        assert_eq!(merged.counts[0], 2);
        assert_eq!(merged.counts[bucket_of(0.25)], 1);
        assert_eq!(merged.count(), 3);
    }

    #[test]
    fn latency_quantiles_come_from_recent_windows_only() {
        let start = Instant::now();
        let mut w = LatencyWindow::new(start);
        for ms in 1..=100 {
            w.record(Duration::from_millis(ms), start);
        }
        let recent = w.recent(start);
        assert_eq!(recent.len(), 100);
        let p50 = recent.value_at_quantile(0.5) as f64 / 1000.0;
        let p99 = recent.value_at_quantile(0.99) as f64 / 1000.0;
        assert!((p50 - 50.0).abs() <= 0.5, "p50 {p50}");
        assert!((p99 - 99.0).abs() <= 1.0, "p99 {p99}");

        // One window later the old requests are still counted (the previous window) ...
        let later = start + LATENCY_WINDOW + Duration::from_secs(1);
        w.record(Duration::from_secs(2), later);
        assert_eq!(w.recent(later).len(), 101);
        // ... two windows later only the newest one is, and after that nothing.
        let much_later = start + 2 * LATENCY_WINDOW + Duration::from_secs(1);
        let recent = w.recent(much_later);
        assert_eq!(recent.len(), 1);
        assert!(recent.value_at_quantile(0.5) >= 1_990_000);
        assert!(w.recent(much_later + 2 * LATENCY_WINDOW).is_empty());
    }

    #[test]
    fn latencies_past_the_maximum_saturate() {
        let now = Instant::now();
        let mut w = LatencyWindow::new(now);
        w.record(Duration::from_secs(3600), now);
        assert_eq!(w.recent(now).len(), 1);
        assert!(w.recent(now).max() >= LATENCY_US_MAX / 2);
    }
}
