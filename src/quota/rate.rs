//! Kafka's sampled rate (`org.apache.kafka.common.metrics.stats.Rate`): `samples`
//! windows of `window` each; a value counts in the window it was recorded in, windows
//! older than all of them together are forgotten, and the rate is their sum over the
//! time they span, never less than `samples - 1` whole windows (so a client's first
//! burst is spread over that time, not measured over a few milliseconds). And Kafka's
//! token bucket (`TokenBucket`), which KIP-599's controller mutation quota is measured
//! with.

/// One window: when it began and what was recorded in it.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    start_ms: u64,
    sum: f64,
    count: u64,
}

#[derive(Debug, Clone)]
pub struct Sampled {
    samples: Vec<Sample>,
    current: usize,
    window_ms: u64,
}

impl Sampled {
    /// `samples` (at least 1) windows of `window_ms` (at least 1), the first starting
    /// at `now_ms`.
    pub fn new(samples: usize, window_ms: u64, now_ms: u64) -> Sampled {
        let first = Sample {
            start_ms: now_ms,
            ..Sample::default()
        };
        Sampled {
            samples: vec![first; samples.max(1)],
            current: 0,
            window_ms: window_ms.max(1),
        }
    }

    pub fn record(&mut self, value: f64, now_ms: u64) {
        let current = self.samples[self.current];
        if now_ms >= current.start_ms + self.window_ms {
            self.current = (self.current + 1) % self.samples.len();
            self.samples[self.current] = Sample {
                start_ms: now_ms,
                ..Sample::default()
            };
        }
        let sample = &mut self.samples[self.current];
        sample.sum += value;
        sample.count += 1;
    }

    /// Forgets the windows that ended before the span of all of them.
    fn purge(&mut self, now_ms: u64) {
        let span = self.window_ms * self.samples.len() as u64;
        for sample in &mut self.samples {
            if now_ms.saturating_sub(sample.start_ms) >= span {
                *sample = Sample {
                    start_ms: now_ms,
                    ..Sample::default()
                };
            }
        }
    }

    /// The time the rate is measured over: from the oldest window's start, at least
    /// `samples - 1` whole windows (and one).
    pub fn span_ms(&mut self, now_ms: u64) -> u64 {
        self.purge(now_ms);
        let oldest = self
            .samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let elapsed = now_ms.saturating_sub(oldest);
        let least = self.window_ms * (self.samples.len() as u64 - 1).max(1);
        let whole = elapsed / self.window_ms * self.window_ms;
        if whole < least {
            elapsed + (least - whole)
        } else {
            elapsed
        }
    }

    /// What was recorded, per second.
    pub fn rate(&mut self, now_ms: u64) -> f64 {
        let span = self.span_ms(now_ms);
        let sum: f64 = self.samples.iter().map(|s| s.sum).sum();
        sum * 1000.0 / span as f64
    }

    /// The mean of what was recorded (0 when nothing was).
    pub fn average(&mut self, now_ms: u64) -> f64 {
        self.purge(now_ms);
        let (sum, count) = self.samples.iter().fold((0.0, 0), |(s, c), sample| {
            (s + sample.sum, c + sample.count)
        });
        if count == 0 {
            0.0
        } else {
            sum / count as f64
        }
    }
}

/// How long a client over `bound` must wait for its rate to fall back to it, if nothing
/// more is recorded: with O observed over W, a wait X makes O·W / (W + X) = bound, so
/// X = (O − bound) / bound · W (Kafka's `ClientQuotaManager.throttleTime`), at most
/// what the protocol's `throttle_time_ms` holds.
pub fn throttle_ms(observed: f64, bound: f64, span_ms: u64) -> u64 {
    if observed <= bound {
        return 0;
    }
    if bound <= 0.0 {
        // A quota of 0 allows nothing: the longest wait, one whole span.
        return span_ms;
    }
    let wait = ((observed - bound) / bound * span_ms as f64).round();
    wait.min(f64::from(i32::MAX)) as u64
}

/// Kafka's `TokenBucket`: it holds at most a burst of `bound` per second over the whole
/// windows, starts full, refills at `bound` per second, and each use takes from it, down
/// below zero (one request may go over); below zero, the client is over its quota.
/// The burst follows the bound, which an operator may change.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    last_ms: u64,
    span_ms: u64,
}

impl TokenBucket {
    /// A full bucket of `bound` per second over `span_ms`.
    pub fn full(bound: f64, span_ms: u64, now_ms: u64) -> TokenBucket {
        TokenBucket {
            tokens: bound * span_ms as f64 / 1000.0,
            last_ms: now_ms,
            span_ms,
        }
    }

    fn burst(&self, bound: f64) -> f64 {
        bound * self.span_ms as f64 / 1000.0
    }

    /// The tokens left at `now_ms`, refilled at `bound` per second since the last use.
    pub fn tokens(&mut self, bound: f64, now_ms: u64) -> f64 {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + bound * elapsed).min(self.burst(bound));
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens
    }

    /// Takes `value` (gives it back when negative), never above the burst.
    pub fn take(&mut self, value: f64, bound: f64, now_ms: u64) {
        self.tokens = (self.tokens(bound, now_ms) - value).min(self.burst(bound));
    }
}

/// How long a bucket below zero takes to refill to zero at `bound` per second (Kafka's
/// `ControllerMutationQuotaManager.throttleTimeMs`); 0 for one at or above zero.
pub fn refill_ms(tokens: f64, bound: f64) -> u64 {
    if tokens >= 0.0 {
        return 0;
    }
    if bound <= 0.0 {
        return i32::MAX as u64;
    }
    (-tokens / bound * 1000.0).round().min(f64::from(i32::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_bucket_allows_a_burst_then_refills_at_the_bound() {
        // 2 partitions a second over 10 s: a burst of 20.
        let mut bucket = TokenBucket::full(2.0, 10_000, 0);
        bucket.take(15.0, 2.0, 0);
        assert_eq!(bucket.tokens(2.0, 0), 5.0);
        // One request may take it below zero: 10 more leave -5, 2.5 s to refill.
        bucket.take(10.0, 2.0, 0);
        assert_eq!(refill_ms(bucket.tokens(2.0, 0), 2.0), 2500);
        assert_eq!(refill_ms(bucket.tokens(2.0, 1000), 2.0), 1500);
        // Never above the burst, however long it waits or what is given back.
        assert_eq!(bucket.tokens(2.0, 100_000), 20.0);
        bucket.take(-5.0, 2.0, 100_000);
        assert_eq!(bucket.tokens(2.0, 100_000), 20.0);
        assert_eq!(refill_ms(0.0, 2.0), 0);
        assert_eq!(refill_ms(-1.0, 0.0), i32::MAX as u64);
    }

    #[test]
    fn a_first_burst_is_spread_over_the_whole_windows() {
        // 11 windows of 1 s: 10 s at least.
        let mut rate = Sampled::new(11, 1000, 0);
        rate.record(5000.0, 10);
        assert_eq!(rate.span_ms(100), 10_100);
        assert!((rate.rate(100) - 5000.0 / 10.1).abs() < 1e-9);
    }

    #[test]
    fn old_windows_are_forgotten() {
        let mut rate = Sampled::new(2, 1000, 0);
        rate.record(100.0, 0);
        rate.record(100.0, 1500);
        assert_eq!(rate.rate(1500), 200.0 * 1000.0 / 1500.0);
        // At 2000 ms the first window (from 0) is two windows old: the second one's
        // 500 ms are measured as at least one whole window more.
        assert_eq!(rate.rate(2000), 100.0 * 1000.0 / 1500.0);
        assert_eq!(rate.rate(10_000), 0.0);
    }

    #[test]
    fn throttle_brings_the_rate_back_to_the_bound() {
        // 2000 bytes/s observed over 10 s against 1000: wait 10 s more.
        assert_eq!(throttle_ms(2000.0, 1000.0, 10_000), 10_000);
        assert_eq!(throttle_ms(900.0, 1000.0, 10_000), 0);
        assert_eq!(throttle_ms(10.0, 0.0, 10_000), 10_000);
        assert_eq!(throttle_ms(0.0, 0.0, 10_000), 0);
        assert_eq!(throttle_ms(1e12, 1e-6, 10_000), i32::MAX as u64);
    }

    #[test]
    fn the_average_counts_each_record() {
        let mut avg = Sampled::new(11, 1000, 0);
        assert_eq!(avg.average(0), 0.0);
        avg.record(10.0, 0);
        avg.record(30.0, 1200);
        assert_eq!(avg.average(1300), 20.0);
    }
}
