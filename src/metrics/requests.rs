//! Kafka's RequestMetrics, one shard's share: requests answered per API and version,
//! and each API's time in a `LatencyWindow` per phase, split as Kafka splits it: waiting
//! for a handler, handling, waiting on others (remote), waiting for the responses
//! ahead of it, and writing; plus the total, request read to response written.
//!
//! As Kafka does, a Fetch counts under `Fetch` and under `FetchConsumer` (or, once
//! replication exists, `FetchFollower`): dashboards made for Kafka use both names.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use kafka_protocol::messages::ApiKey;

use super::histogram::LatencyWindow;
use crate::shard::Shard;

/// A name Kafka's RequestMetrics uses: an API, or Fetch told apart by who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum RequestName {
    Api(ApiKey),
    /// Fetches from consumers; every fetch today, as shoal has no followers yet.
    FetchConsumer,
}

impl RequestName {
    /// Kafka's `request` tag: the API's name as in `ApiKeys` ("Produce", "ListOffsets").
    fn label(self) -> String {
        match self {
            RequestName::Api(api) => format!("{api:?}"),
            RequestName::FetchConsumer => "FetchConsumer".to_string(),
        }
    }
}

/// How many phases `RequestTimes::phases` gives.
pub const PHASE_COUNT: usize = 6;

/// Where one request's time went. The first five add up to `total`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestTimes {
    /// Frame read to its handler's first run (Kafka: in the request queue).
    pub request_queue: Duration,
    /// The handler's run, less `remote`.
    pub local: Duration,
    /// The handler waiting on others: a fetch's long poll, a group's rebalance. Kafka
    /// counts the same waits (its purgatories) here, and acks=all replication, which
    /// shoal does not have yet: its fsync is local, as Kafka's with `flush.messages=1`.
    pub remote: Duration,
    /// Handler done to its response's turn to be written: responses leave in request
    /// order, so this is mostly the requests ahead of it on the connection.
    pub response_queue: Duration,
    /// Writing the response (sendfile included).
    pub response_send: Duration,
    pub total: Duration,
}

impl RequestTimes {
    /// In the order of Kafka's names: RequestQueueTimeMs, LocalTimeMs, RemoteTimeMs,
    /// ResponseQueueTimeMs, ResponseSendTimeMs, TotalTimeMs.
    pub fn phases(&self) -> [Duration; PHASE_COUNT] {
        [
            self.request_queue,
            self.local,
            self.remote,
            self.response_queue,
            self.response_send,
            self.total,
        ]
    }
}

struct ApiStats {
    /// Requests answered, by request version.
    versions: BTreeMap<i16, u64>,
    /// One window per phase, in `RequestTimes::phases` order.
    times: [LatencyWindow; PHASE_COUNT],
}

/// One shard's request counts and latencies.
#[derive(Default)]
pub struct RequestMetrics {
    by_name: RefCell<HashMap<RequestName, ApiStats>>,
}

/// One request name's numbers on one shard, sent to the scraping shard.
#[derive(Debug, Clone)]
pub struct RequestSample {
    pub request: String,
    pub versions: Vec<(i16, u64)>,
    /// Each phase's times (`RequestTimes::phases` order) in the last one to two latency
    /// windows, in microseconds.
    pub times_us: [Histogram<u64>; PHASE_COUNT],
}

impl RequestSample {
    pub fn count(&self) -> u64 {
        self.versions.iter().map(|(_, n)| n).sum()
    }
}

impl RequestMetrics {
    pub fn record(&self, api: ApiKey, version: i16, times: &RequestTimes, now: Instant) {
        let mut by_name = self.by_name.borrow_mut();
        let mut count = |name| {
            let stats = by_name.entry(name).or_insert_with(|| ApiStats {
                versions: BTreeMap::new(),
                times: std::array::from_fn(|_| LatencyWindow::new(now)),
            });
            *stats.versions.entry(version).or_default() += 1;
            for (window, time) in stats.times.iter_mut().zip(times.phases()) {
                window.record(time, now);
            }
        };
        count(RequestName::Api(api));
        if api == ApiKey::Fetch {
            count(RequestName::FetchConsumer);
        }
    }

    pub fn sample(&self, now: Instant) -> Vec<RequestSample> {
        self.by_name
            .borrow_mut()
            .iter_mut()
            .map(|(name, stats)| RequestSample {
                request: name.label(),
                versions: stats.versions.iter().map(|(v, n)| (*v, *n)).collect(),
                times_us: stats.times.each_mut().map(|w| w.recent(now)),
            })
            .collect()
    }
}

/// What a request's handler tells its timer: when it ran, and how long it waited on
/// others.
#[derive(Debug, Default)]
pub struct HandlerTimes {
    started: Cell<Option<Instant>>,
    finished: Cell<Option<Instant>>,
    remote: Cell<Duration>,
    /// How long a client quota has the connection muted after the answer.
    throttle: Cell<Duration>,
}

impl HandlerTimes {
    /// The request's client is over a quota: its channel is muted `ms` after the
    /// answer (the longest, if several quotas throttle it).
    pub fn throttle(&self, ms: u64) {
        self.throttle
            .set(self.throttle.get().max(Duration::from_millis(ms)));
    }

    pub fn started(&self) {
        self.started.set(Some(Instant::now()));
    }

    pub fn finished(&self) {
        self.finished.set(Some(Instant::now()));
    }

    /// Awaits `wait`, counting its time as remote (see `RequestTimes::remote`).
    pub async fn remote<F: Future>(&self, wait: F) -> F::Output {
        let began = Instant::now();
        let output = wait.await;
        self.remote.set(self.remote.get() + began.elapsed());
        output
    }
}

/// A request from the moment its frame is read: in flight until dropped, counted and
/// timed when `answered`.
pub struct RequestTimer {
    shard: Rc<Shard>,
    api: ApiKey,
    version: i16,
    read: Instant,
    handler: Rc<HandlerTimes>,
    sending: Option<Instant>,
}

impl RequestTimer {
    pub fn start(shard: &Rc<Shard>, api: ApiKey, version: i16) -> RequestTimer {
        shard.metrics.requests_in_flight.add(1);
        RequestTimer {
            shard: Rc::clone(shard),
            api,
            version,
            read: Instant::now(),
            handler: Rc::default(),
            sending: None,
        }
    }

    /// For the request's handler to fill in.
    pub fn handler(&self) -> Rc<HandlerTimes> {
        Rc::clone(&self.handler)
    }

    /// How long the connection stays muted after this answer (client quotas).
    pub fn throttle(&self) -> Duration {
        self.handler.throttle.get()
    }

    /// The response's turn to be written has come.
    pub fn sending(&mut self) {
        self.sending = Some(Instant::now());
    }

    /// The response is written (or, for acks=0, there is none to write).
    pub fn answered(self) {
        let now = Instant::now();
        let times = self.times(now);
        let requests = &self.shard.metrics.requests;
        requests.record(self.api, self.version, &times, now);
    }

    /// The phases up to `now`; a moment not marked counts as the one before it.
    fn times(&self, now: Instant) -> RequestTimes {
        phases(
            self.read,
            self.handler.started.get(),
            self.handler.finished.get(),
            self.handler.remote.get(),
            self.sending,
            now,
        )
    }
}

fn phases(
    read: Instant,
    started: Option<Instant>,
    finished: Option<Instant>,
    remote: Duration,
    sending: Option<Instant>,
    now: Instant,
) -> RequestTimes {
    let started = started.unwrap_or(read).clamp(read, now);
    let finished = finished.unwrap_or(started).clamp(started, now);
    let sending = sending.unwrap_or(finished).clamp(finished, now);
    let handling = finished - started;
    let remote = remote.min(handling);
    RequestTimes {
        request_queue: started - read,
        local: handling - remote,
        remote,
        response_queue: sending - finished,
        response_send: now - sending,
        total: now - read,
    }
}

impl Drop for RequestTimer {
    fn drop(&mut self) {
        self.shard.metrics.requests_in_flight.add(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetches_count_as_fetch_and_fetch_consumer() {
        let m = RequestMetrics::default();
        let now = Instant::now();
        m.record(ApiKey::Fetch, 12, &total(5), now);
        m.record(ApiKey::Fetch, 11, &total(7), now);
        m.record(ApiKey::Produce, 9, &total(2), now);
        let mut samples = m.sample(now);
        samples.sort_by(|a, b| a.request.cmp(&b.request));
        let names: Vec<&str> = samples.iter().map(|s| s.request.as_str()).collect();
        assert_eq!(names, ["Fetch", "FetchConsumer", "Produce"]);
        assert_eq!(samples[0].versions, [(11, 1), (12, 1)]);
        assert_eq!(samples[1].count(), 2);
        assert_eq!(samples[2].versions, [(9, 1)]);
        assert_eq!(samples[2].times_us.len(), PHASE_COUNT);
        assert!(samples[2].times_us.iter().all(|h| h.len() == 1));
    }

    fn total(ms: u64) -> RequestTimes {
        RequestTimes {
            total: Duration::from_millis(ms),
            ..RequestTimes::default()
        }
    }

    #[test]
    fn phases_split_the_total_between_the_marks() {
        let read = Instant::now();
        let at = |ms: u64| read + Duration::from_millis(ms);
        let ms = Duration::from_millis;
        let times = phases(read, Some(at(1)), Some(at(11)), ms(6), Some(at(14)), at(15));
        assert_eq!(
            times,
            RequestTimes {
                request_queue: ms(1),
                local: ms(4),
                remote: ms(6),
                response_queue: ms(3),
                response_send: ms(1),
                total: ms(15),
            }
        );
        let sum: Duration = times.phases()[..PHASE_COUNT - 1].iter().sum();
        assert_eq!(sum, times.total);
    }

    #[test]
    fn unmarked_moments_count_as_the_one_before() {
        let read = Instant::now();
        let now = read + Duration::from_millis(8);
        // A handler that never ran, and a remote wait longer than its run, still add up.
        let times = phases(read, None, None, Duration::from_millis(3), None, now);
        assert_eq!(times.request_queue, Duration::ZERO);
        assert_eq!(times.local + times.remote, Duration::ZERO);
        assert_eq!(times.response_queue, Duration::ZERO);
        assert_eq!(times.response_send, times.total);
        assert_eq!(times.total, Duration::from_millis(8));
    }

    #[test]
    fn request_names_are_kafkas() {
        assert_eq!(RequestName::Api(ApiKey::ListOffsets).label(), "ListOffsets");
        assert_eq!(
            RequestName::Api(ApiKey::DescribeTopicPartitions).label(),
            "DescribeTopicPartitions"
        );
        assert_eq!(RequestName::FetchConsumer.label(), "FetchConsumer");
    }
}
