//! Client quotas on the request path: the quota that applies to a request's client
//! (from its principal and client id), its use counted on the broker's sensors, and
//! the throttle time the connection then mutes the channel for.

use std::future::Future;
use std::time::{Duration, Instant};

use super::Ctx;
use crate::metrics::HandlerTimes;
use crate::quota::sensors::{self, Windows};
use crate::quota::{Applied, QuotaKind};

impl Ctx {
    /// The quota of `kind` that applies to this client, with the broker's windows.
    fn quota(&self, kind: QuotaKind) -> Option<(Applied, Windows)> {
        let snapshot = self.shard.snapshot();
        let quotas = &snapshot.state.client_quotas;
        if quotas.is_empty() || self.peer.internal {
            return None;
        }
        // Kafka's quota user is the principal's name, whatever its type.
        let principal = self.principal();
        let user = principal
            .split_once(':')
            .map_or(principal, |(_, name)| name);
        let applied = quotas.applied(kind, user, &self.client_id)?;
        Some((applied, Windows::of(&snapshot.broker)))
    }

    /// Counts `value` against the client's quota of `kind`: the throttle time in ms (0
    /// within the quota, or with none), which the connection mutes the channel for.
    pub fn use_quota(&self, kind: QuotaKind, value: f64) -> i32 {
        let Some((applied, windows)) = self.quota(kind) else {
            return 0;
        };
        let wait = sensors::record(kind, &applied, value, windows);
        if wait > 0 {
            sensors::throttled(kind, &applied, wait, windows);
            self.times.throttle(wait);
        }
        i32::try_from(wait).unwrap_or(i32::MAX)
    }

    /// Takes back `value` counted by `use_quota` for a request answered empty instead.
    pub fn unuse_quota(&self, kind: QuotaKind, value: f64) {
        if let Some((applied, windows)) = self.quota(kind) {
            sensors::unrecord(kind, &applied, value, windows);
        }
    }

    /// The most bytes of `kind` the client may take in one response without being
    /// throttled for sure (Kafka bounds a consumer's fetch by it).
    pub fn most_at_once(&self, kind: QuotaKind) -> Option<f64> {
        let (applied, windows) = self.quota(kind)?;
        Some(windows.most_at_once(applied.bound))
    }
}

/// A client's request quota (`request_percentage`), counted once its request is handled.
pub struct RequestQuota {
    applied: Applied,
    windows: Windows,
}

impl RequestQuota {
    /// Counts `busy`, the request's time on the shard, as Kafka counts a request
    /// handler thread's time: in percent of one second, so the rate is the percentage
    /// of one shard the client takes.
    pub fn count(self, busy: Duration, times: &HandlerTimes) {
        let kind = QuotaKind::Request;
        let value = busy.as_secs_f64() * 100.0;
        let wait = sensors::record(kind, &self.applied, value, self.windows);
        if wait > 0 {
            sensors::throttled(kind, &self.applied, wait, self.windows);
            times.throttle(wait);
        }
    }
}

impl Ctx {
    pub fn request_quota(&self) -> Option<RequestQuota> {
        let (applied, windows) = self.quota(QuotaKind::Request)?;
        Some(RequestQuota { applied, windows })
    }
}

/// Runs `work`, and answers with its output the time its polls took: the time the
/// request held the shard, not the time it waited on others.
pub async fn timed<F: Future>(work: F) -> (F::Output, Duration) {
    let mut work = std::pin::pin!(work);
    let mut busy = Duration::ZERO;
    let output = std::future::poll_fn(|cx| {
        let began = Instant::now();
        let poll = work.as_mut().poll(cx);
        busy += began.elapsed();
        poll
    })
    .await;
    (output, busy)
}
