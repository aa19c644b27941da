//! The shape of the offered load, as pure functions: when each record is due (open loop)
//! and which key it carries. No clocks or sockets here, so both are unit-tested.
//!
//! Invariant: a schedule is a function of the record's index alone, so a producer that
//! falls behind still stamps each record with the time it *should* have been sent, and
//! latency counts the wait (no coordinated omission).

use std::time::Duration;

use clap::ValueEnum;

/// When a producer's records are due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Closed loop: as fast as acknowledgements allow; a record is due when it is made.
    Closed,
    /// Open loop: record `i` is due at `phase + i * interval`.
    Open { interval: Duration, phase: Duration },
}

impl Pace {
    /// The schedule of producer `index` of `producers` sharing `rate` records/s (None:
    /// closed loop). Producers are offset by a fraction of an interval so their
    /// records interleave instead of arriving in bursts of `producers`.
    pub fn for_producer(rate: Option<f64>, index: usize, producers: usize) -> Pace {
        let Some(rate) = rate.filter(|r| *r > 0.0) else {
            return Pace::Closed;
        };
        let producers = producers.max(1) as f64;
        let interval = Duration::from_secs_f64(producers / rate);
        Pace::Open {
            interval,
            phase: interval.mul_f64(index as f64 / producers),
        }
    }

    /// When record `i` is due, from the start of the run; None in a closed loop.
    pub fn due(&self, i: u64) -> Option<Duration> {
        match *self {
            Pace::Closed => None,
            Pace::Open { interval, phase } => {
                let nanos = interval.as_nanos().saturating_mul(u128::from(i));
                let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
                Some(phase.saturating_add(Duration::from_nanos(nanos)))
            }
        }
    }
}

/// How record keys are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyDistribution {
    /// No key: records stick to one partition per batch, then move on.
    None,
    /// Uniformly random among `--key-space` keys.
    Random,
    /// 0, 1, 2, ... wrapping at `--key-space`.
    Sequential,
    /// Zipf (exponent 1) among `--key-space` keys: a few hot keys take most records.
    Zipf,
}

/// A stream of keys following a distribution; seeded, so a run can be replayed.
pub struct Keys {
    distribution: KeyDistribution,
    space: u64,
    next: u64,
    rng: fastrand::Rng,
    /// Zipf only: cumulative probability of keys 0..=k.
    cdf: Vec<f64>,
}

impl Keys {
    pub fn new(distribution: KeyDistribution, space: u64, seed: u64) -> Keys {
        let space = space.max(1);
        let cdf = if distribution == KeyDistribution::Zipf {
            let weights: Vec<f64> = (1..=space).map(|k| 1.0 / k as f64).collect();
            let total: f64 = weights.iter().sum();
            let mut sum = 0.0;
            weights
                .iter()
                .map(|w| {
                    sum += w / total;
                    sum
                })
                .collect()
        } else {
            Vec::new()
        };
        Keys {
            distribution,
            space,
            next: 0,
            rng: fastrand::Rng::with_seed(seed),
            cdf,
        }
    }

    /// The next key's number, or None for an unkeyed record.
    pub fn next_key(&mut self) -> Option<u64> {
        match self.distribution {
            KeyDistribution::None => None,
            KeyDistribution::Random => Some(self.rng.u64(0..self.space)),
            KeyDistribution::Sequential => {
                let key = self.next;
                self.next = (self.next + 1) % self.space;
                Some(key)
            }
            KeyDistribution::Zipf => {
                let u = self.rng.f64();
                let rank = self.cdf.partition_point(|&c| c < u);
                Some((rank as u64).min(self.space - 1))
            }
        }
    }
}

/// A key's bytes on the wire: fixed width, so every keyed record has the same size.
pub fn key_bytes(key: u64) -> Vec<u8> {
    format!("key-{key:010}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_spreads_the_total_rate_over_producers() {
        // 1000 records/s over 4 producers: each sends every 4 ms, offset by 1 ms.
        let pace = Pace::for_producer(Some(1000.0), 1, 4);
        assert_eq!(pace.due(0), Some(Duration::from_millis(1)));
        assert_eq!(pace.due(1), Some(Duration::from_millis(5)));
        assert_eq!(pace.due(250), Some(Duration::from_millis(1001)));
        let first = Pace::for_producer(Some(1000.0), 0, 4);
        assert_eq!(first.due(0), Some(Duration::ZERO));
        // Every producer together: 1000 records due in the first second.
        let due_in_first_second: usize = (0..4)
            .map(|p| {
                let pace = Pace::for_producer(Some(1000.0), p, 4);
                (0..2000)
                    .filter(|&i| pace.due(i).unwrap() < Duration::from_secs(1))
                    .count()
            })
            .sum();
        assert_eq!(due_in_first_second, 1000);
    }

    #[test]
    fn no_rate_is_a_closed_loop() {
        assert_eq!(Pace::for_producer(None, 0, 1), Pace::Closed);
        assert_eq!(Pace::for_producer(Some(0.0), 0, 1), Pace::Closed);
        assert_eq!(Pace::Closed.due(7), None);
        let huge = Pace::for_producer(Some(1.0), 0, 1);
        assert!(
            huge.due(u64::MAX).is_some(),
            "far schedules saturate, not panic"
        );
    }

    #[test]
    fn key_distributions() {
        let mut none = Keys::new(KeyDistribution::None, 10, 1);
        assert_eq!(none.next_key(), None);
        let mut sequential = Keys::new(KeyDistribution::Sequential, 3, 1);
        let keys: Vec<_> = (0..7).map(|_| sequential.next_key().unwrap()).collect();
        assert_eq!(keys, [0, 1, 2, 0, 1, 2, 0]);
        let seed = fastrand::u64(..);
        println!("seed {seed}");
        let mut random = Keys::new(KeyDistribution::Random, 5, seed);
        let mut seen = [0u32; 5];
        for _ in 0..5000 {
            seen[random.next_key().unwrap() as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
        let mut zipf = Keys::new(KeyDistribution::Zipf, 100, seed);
        let mut counts = vec![0u32; 100];
        for _ in 0..20_000 {
            counts[zipf.next_key().unwrap() as usize] += 1;
        }
        // Key 0 carries 1/H(100) ~ 19% of records; key 99 about 0.2%.
        assert!(counts[0] > 2_500 && counts[0] < 5_000, "{}", counts[0]);
        assert!(counts[0] > 10 * counts[99]);
        // The same seed replays the same keys.
        let mut a = Keys::new(KeyDistribution::Random, 1000, seed);
        let mut b = Keys::new(KeyDistribution::Random, 1000, seed);
        assert!((0..100).all(|_| a.next_key() == b.next_key()));
    }

    #[test]
    fn keys_have_a_fixed_width() {
        assert_eq!(key_bytes(0), b"key-0000000000");
        assert_eq!(key_bytes(42).len(), key_bytes(u32::MAX.into()).len());
    }
}
