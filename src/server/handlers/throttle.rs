//! Client quotas on the request path: the quota that applies to a request's client
//! (from its principal and client id), its use counted on the broker's sensors, and
//! the throttle time the connection then mutes the channel for.

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;

use super::auth::only_allowed;
use super::{Ctx, Response};
use crate::acl::Operation::ClusterAction;
use crate::error::ApiError;
use crate::metrics::HandlerTimes;
use crate::quota::sensors::{self, Windows};
use crate::quota::{Applied, QuotaKind};

impl Ctx {
    /// The quota of `kind` that applies to this client, with the broker's windows.
    fn quota(&self, kind: QuotaKind) -> Option<(Applied, Windows)> {
        let snapshot = self.shard.snapshot();
        let quotas = &snapshot.state.client_quotas;
        // Another broker (on a replication port, allowed CLUSTER_ACTION) is exempt, as
        // Kafka exempts inter-broker requests.
        if quotas.is_empty() || (self.peer.internal && self.allowed_on_cluster(ClusterAction)) {
            return None;
        }
        // Kafka's quota user is the principal's name, whatever its type.
        let principal = self.principal();
        let user = principal
            .split_once(':')
            .map_or(principal, |(_, name)| name);
        let applied = quotas.applied(kind, user, &self.client_id)?;
        Some((applied, Windows::of(&snapshot.broker, kind)))
    }

    /// Counts `value` against the client's quota of `kind`: the throttle time in ms (0
    /// within the quota, or with none), which the connection mutes the channel for.
    pub fn use_quota(&self, kind: QuotaKind, value: f64) -> i32 {
        let Some((applied, windows)) = self.quota(kind) else {
            return 0;
        };
        let wait = sensors::charge(kind, &applied, value, windows);
        self.times.throttle(wait);
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
    /// The throttle time in ms, which the connection mutes the channel for.
    pub fn count(self, busy: Duration, times: &HandlerTimes) -> i32 {
        let value = busy.as_secs_f64() * 100.0;
        let wait = sensors::charge(QuotaKind::Request, &self.applied, value, self.windows);
        times.throttle(wait);
        i32::try_from(wait).unwrap_or(i32::MAX)
    }
}

/// `response` telling the client of a request quota's `wait` in its `throttle_time_ms`,
/// as Kafka's responses do (the longer of it and a byte quota's).
pub fn told(response: Response, (api_key, version): (ApiKey, i16), wait: i32) -> Response {
    let tell = |frame: Bytes| {
        let told = crate::protocol::throttle::with_throttle(api_key, version, &frame, wait);
        told.unwrap_or(frame)
    };
    match response {
        Response::Frame(frame) if wait > 0 => Response::Frame(tell(frame)),
        Response::Last(frame) if wait > 0 => Response::Last(tell(frame)),
        // A fetch with file runs: its head is patched in place.
        Response::Chunks(mut chunks) if wait > 0 && api_key == ApiKey::Fetch => {
            crate::protocol::fetch::raise_throttle(&mut chunks, version, wait);
            Response::Chunks(chunks)
        }
        other => other,
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

/// A request's controller mutation quota (KIP-599's `controller_mutation_rate`):
/// partitions created or deleted per second. From the versions that know the error
/// (`strict`), a topic asked for while the client is over its quota is refused with
/// THROTTLING_QUOTA_EXCEEDED; older versions are only throttled afterwards.
pub struct MutationQuota {
    applied: Applied,
    windows: Windows,
    strict: bool,
    /// The longest wait a refusal named.
    refused_wait: Cell<u64>,
}

impl Ctx {
    /// The mutation quota of this request, when one applies (never to a dry run);
    /// strict from `strict_since`.
    pub fn mutation_quota(&self, strict_since: i16, validate_only: bool) -> Option<MutationQuota> {
        if validate_only {
            return None;
        }
        let (applied, windows) = self.quota(QuotaKind::ControllerMutation)?;
        Some(MutationQuota {
            applied,
            windows,
            strict: self.version >= strict_since,
            refused_wait: Cell::new(0),
        })
    }
}

/// Kafka's refusal of a mutation over the quota.
pub fn over_mutation_quota() -> ApiError {
    ApiError::new(
        ResponseError::ThrottlingQuotaExceeded,
        "The throttling quota has been exceeded.",
    )
}

impl MutationQuota {
    /// Whether `partitions` more may be created or deleted: false once a strict quota
    /// is exceeded; an admitted mutation is counted.
    pub fn admit(&self, partitions: i32) -> bool {
        let kind = QuotaKind::ControllerMutation;
        if self.strict {
            let wait = sensors::wait_now(kind, &self.applied, self.windows);
            if wait > 0 {
                self.refused_wait.set(self.refused_wait.get().max(wait));
                return false;
            }
        }
        sensors::record(
            kind,
            &self.applied,
            f64::from(partitions.max(0)),
            self.windows,
        );
        true
    }

    /// The throttle time to answer with; the connection is muted as long. As Kafka's
    /// strict quota, a request that was refused nothing is not throttled, even if it
    /// emptied the bucket: the next one is refused.
    pub fn finish(self, times: &HandlerTimes) -> i32 {
        let kind = QuotaKind::ControllerMutation;
        let wait = match self.strict {
            true => self.refused_wait.get(),
            false => sensors::wait_now(kind, &self.applied, self.windows),
        };
        if wait > 0 {
            sensors::throttled(kind, &self.applied, wait, self.windows);
            times.throttle(wait);
        }
        i32::try_from(wait).unwrap_or(i32::MAX)
    }
}

/// Runs `work` on the items `quota` admits (each counting `partitions`), answering the
/// others THROTTLING_QUOTA_EXCEEDED; an admitted item that then fails gives back what
/// it counted. Without a quota, `work` runs on every item. Answers in order.
pub async fn within_mutation_quota<I, T, F, Fut>(
    quota: Option<&MutationQuota>,
    items: Vec<I>,
    partitions: impl Fn(&I) -> i32,
    work: F,
) -> Vec<Result<T, ApiError>>
where
    F: FnOnce(Vec<I>) -> Fut,
    Fut: Future<Output = Vec<Result<T, ApiError>>>,
{
    let Some(quota) = quota else {
        return work(items).await;
    };
    let counts: Vec<i32> = items.iter().map(&partitions).collect();
    let admitted = |item: &I| quota.admit(partitions(item));
    let results = only_allowed(items, admitted, |_| Err(over_mutation_quota()), work).await;
    for (count, result) in counts.into_iter().zip(&results) {
        match result {
            Err(error) if error.code != ResponseError::ThrottlingQuotaExceeded => {
                let value = f64::from(count.max(0));
                let kind = QuotaKind::ControllerMutation;
                sensors::unrecord(kind, &quota.applied, value, quota.windows);
            }
            _ => {}
        }
    }
    results
}
