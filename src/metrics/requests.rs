//! Kafka's RequestMetrics, one shard's share: requests answered per API and version,
//! and each API's total time (request read to response written) in a `LatencyWindow`.
//!
//! As Kafka does, a Fetch counts under `Fetch` and under `FetchConsumer` (or, once
//! replication exists, `FetchFollower`): dashboards made for Kafka use both names.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
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

struct ApiStats {
    /// Requests answered, by request version.
    versions: BTreeMap<i16, u64>,
    latency: LatencyWindow,
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
    /// Total times of the last one to two latency windows, in microseconds.
    pub latency_us: Histogram<u64>,
}

impl RequestSample {
    pub fn count(&self) -> u64 {
        self.versions.iter().map(|(_, n)| n).sum()
    }
}

impl RequestMetrics {
    pub fn record(&self, api: ApiKey, version: i16, total: Duration, now: Instant) {
        let mut by_name = self.by_name.borrow_mut();
        let mut count = |name| {
            let stats = by_name.entry(name).or_insert_with(|| ApiStats {
                versions: BTreeMap::new(),
                latency: LatencyWindow::new(now),
            });
            *stats.versions.entry(version).or_default() += 1;
            stats.latency.record(total, now);
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
                latency_us: stats.latency.recent(now),
            })
            .collect()
    }
}

/// A request from the moment its frame is read: in flight until dropped, counted and
/// timed when `answered`.
pub struct RequestTimer {
    shard: Rc<Shard>,
    api: ApiKey,
    version: i16,
    started: Instant,
}

impl RequestTimer {
    pub fn start(shard: &Rc<Shard>, api: ApiKey, version: i16) -> RequestTimer {
        shard.metrics.requests_in_flight.add(1);
        RequestTimer {
            shard: Rc::clone(shard),
            api,
            version,
            started: Instant::now(),
        }
    }

    /// The response is written (or, for acks=0, there is none to write).
    pub fn answered(self) {
        let now = Instant::now();
        let total = now.saturating_duration_since(self.started);
        let requests = &self.shard.metrics.requests;
        requests.record(self.api, self.version, total, now);
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
        m.record(ApiKey::Fetch, 12, Duration::from_millis(5), now);
        m.record(ApiKey::Fetch, 11, Duration::from_millis(7), now);
        m.record(ApiKey::Produce, 9, Duration::from_millis(2), now);
        let mut samples = m.sample(now);
        samples.sort_by(|a, b| a.request.cmp(&b.request));
        let names: Vec<&str> = samples.iter().map(|s| s.request.as_str()).collect();
        assert_eq!(names, ["Fetch", "FetchConsumer", "Produce"]);
        assert_eq!(samples[0].versions, [(11, 1), (12, 1)]);
        assert_eq!(samples[1].count(), 2);
        assert_eq!(samples[2].versions, [(9, 1)]);
        assert_eq!(samples[2].latency_us.len(), 1);
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
