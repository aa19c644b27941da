//! The follower's side of replication on one shard, as Kafka's replica fetcher: for
//! each leader (broker, shard) this shard follows partitions of, one task and one
//! connection to that shard's replication listener, fetching every such partition
//! from its log end with Fetch (replica_id set, v12: the last fetched epoch and the
//! diverging epoch). The answer's batches are appended as they are (`append_at`), a
//! diverging epoch truncates the log, and the leader's high watermark and log start
//! are taken. Replication traffic so stays on one core at each end.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{ApiKey, BrokerId, FetchRequest, FetchResponse};

use super::peer;
use super::throttle::{self, Side};
use crate::partition::Partition;
use crate::protocol::str_bytes;
use crate::shard::{now_ms, Shard};
use crate::storage::batch::{self, WalkEnd};

/// The Fetch version followers send: the first with the last fetched epoch and the
/// diverging epoch (KIP-595), and still with topic names.
const VERSION: i16 = 12;
/// How long the leader may hold a fetch with nothing new (Kafka's
/// `replica.fetch.wait.max.ms`).
const WAIT_MAX_MS: i32 = 500;
/// Bytes per partition and per response (`replica.fetch.max.bytes`,
/// `replica.fetch.response.max.bytes`).
const PARTITION_BYTES_MAX: i32 = 1 << 20;
const RESPONSE_BYTES_MAX: i32 = 10 << 20;
/// A fetch unanswered this long (well past `WAIT_MAX_MS`) drops its connection.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The pause after a failed connection or an answer with errors and nothing to append
/// (Kafka's `replica.fetch.backoff.ms`).
const BACKOFF: Duration = Duration::from_secs(1);
/// The pause of a partition whose leader has not caught up with the metadata yet.
const NOT_YET: Duration = Duration::from_millis(100);
/// How often a source whose every partition waits out a refusal looks again.
const IDLE: Duration = Duration::from_millis(100);

/// Where a leader's replica lives: the broker and its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source {
    pub broker: i32,
    pub shard: u32,
}

type Key = (String, i32);

/// The partitions followed from one source.
#[derive(Default)]
struct Followed {
    partitions: RefCell<BTreeMap<Key, Follow>>,
}

/// How one partition is followed: at which leader epoch, and when it may be fetched
/// again after the leader refused it (`BACKOFF`, for that partition alone).
#[derive(Debug, Clone, Copy)]
struct Follow {
    leader_epoch: i32,
    retry_at: Option<Instant>,
}

/// This shard's fetchers, by source.
#[derive(Default)]
pub struct Fetchers {
    sources: RefCell<HashMap<Source, Rc<Followed>>>,
}

impl Fetchers {
    /// Follows `topic`-`partition` from `source` at `leader_epoch`, and from nowhere else.
    pub fn follow(&self, shard: &Rc<Shard>, key: Key, source: Source, leader_epoch: i32) {
        self.unfollow_except(&key, Some(source));
        let known = self.sources.borrow().get(&source).map(Rc::clone);
        if let Some(followed) = known {
            let mut partitions = followed.partitions.borrow_mut();
            match partitions.get_mut(&key) {
                Some(follow) if follow.leader_epoch == leader_epoch => {}
                _ => {
                    partitions.insert(key, Follow::at(leader_epoch));
                }
            }
            return;
        }
        // The task may run as it is spawned: it must find the partition there.
        let followed = Rc::new(Followed::default());
        followed
            .partitions
            .borrow_mut()
            .insert(key, Follow::at(leader_epoch));
        self.sources
            .borrow_mut()
            .insert(source, Rc::clone(&followed));
        glommio::spawn_local(run(Rc::clone(shard), source, followed)).detach();
    }

    /// Stops following `key` (this broker leads it now, or holds it no more).
    pub fn unfollow(&self, key: &Key) {
        self.unfollow_except(key, None);
    }

    fn unfollow_except(&self, key: &Key, keep: Option<Source>) {
        for (source, followed) in self.sources.borrow().iter() {
            if Some(*source) != keep {
                followed.partitions.borrow_mut().remove(key);
            }
        }
    }
}

impl Follow {
    fn at(leader_epoch: i32) -> Follow {
        Follow {
            leader_epoch,
            retry_at: None,
        }
    }
}

/// One source's fetch loop: ends when it follows nothing (and is forgotten then, in the
/// same step, so `follow` never adds to a finished one) or the broker stops.
async fn run(shard: Rc<Shard>, source: Source, followed: Rc<Followed>) {
    let mut connection: Option<(peer::Stream, i32)> = None;
    // Whether a refusal (TLS, login) was logged since the last connection made.
    let mut warned = false;
    loop {
        if followed.partitions.borrow().is_empty() {
            let mut sources = shard.fetchers.sources.borrow_mut();
            if sources
                .get(&source)
                .is_some_and(|f| Rc::ptr_eq(f, &followed))
            {
                sources.remove(&source);
            }
            return;
        }
        if shard.is_stopping() {
            return;
        }
        if connection.is_none() {
            match connect(&shard, source).await {
                Some(Ok(stream)) => {
                    connection = Some((stream, 0));
                    warned = false;
                }
                Some(Err((address, error))) => {
                    // A certificate or login the leader refuses is a setting to fix:
                    // said once; an unreachable leader (any error of the socket's own,
                    // EINVAL from a blackhole route too) is only debug.
                    use std::io::ErrorKind::{InvalidData, InvalidInput, PermissionDenied};
                    let refused = error.raw_os_error().is_none()
                        && matches!(error.kind(), InvalidData | InvalidInput | PermissionDenied);
                    if refused && !std::mem::replace(&mut warned, true) {
                        tracing::warn!(%address, %error, "the leader's replication port refuses this broker (TLS or login)");
                    } else {
                        tracing::debug!(%address, %error, "replication listener unreachable");
                    }
                }
                None => {}
            }
            if connection.is_none() && !pause(&shard, BACKOFF).await {
                return;
            }
            continue;
        }
        let Some((stream, correlation)) = connection.as_mut() else {
            continue;
        };
        let asked = request(&shard, &followed);
        if asked.topics.is_empty() {
            // Every partition waits out a refusal, or its replication throttle.
            if !pause(&shard, IDLE).await {
                return;
            }
            continue;
        }
        *correlation = correlation.wrapping_add(1);
        let answer = shard
            .unless_stopping(glommio::timer::timeout(ANSWER_TIMEOUT, async {
                Ok(peer::exchange::<_, FetchResponse>(
                    stream,
                    (ApiKey::Fetch, VERSION),
                    *correlation,
                    &asked,
                )
                .await)
            }))
            .await;
        let error = match answer {
            None => return,
            Some(Ok(Ok(response))) if response.error_code == 0 => {
                take(&shard, &followed, &asked, response).await;
                continue;
            }
            Some(Ok(Ok(response))) => format!("error code {}", response.error_code),
            Some(Ok(Err(error))) => error.to_string(),
            Some(Err(_)) => "no answer in time".to_string(),
        };
        tracing::debug!(broker = source.broker, shard = source.shard, %error, "replica fetch failed; connecting again");
        connection = None;
        if !pause(&shard, BACKOFF).await {
            return;
        }
    }
}

/// Sleeps unless the broker stops first; false if it does.
async fn pause(shard: &Shard, pause: Duration) -> bool {
    shard
        .unless_stopping(glommio::timer::sleep(pause))
        .await
        .is_some()
}

/// Connects to the leader shard's replication listener, as its registration names it
/// (`None` while it names none); an error comes with the address.
async fn connect(
    shard: &Rc<Shard>,
    source: Source,
) -> Option<Result<peer::Stream, (String, std::io::Error)>> {
    let address = {
        let snapshot = shard.snapshot();
        let broker = snapshot.layout()?.image.brokers.get(&source.broker)?;
        broker.address(*broker.replication_ports.get(source.shard as usize)?)
    };
    Some(
        peer::connect(shard, &address)
            .await
            .map_err(|error| (address, error)),
    )
}

/// A fetch of every partition followed from this source, each from its log end, but
/// those the follower's replication throttle holds back now (outside the ISR, past
/// `follower.replication.throttled.rate`).
fn request(shard: &Shard, followed: &Followed) -> FetchRequest {
    let snapshot = shard.snapshot();
    let node = snapshot.broker.node_id;
    let over_rate = std::cell::OnceCell::new();
    let held = |topic: &str, index: i32| {
        Side::Follower.lists(&snapshot, topic, index)
            && !throttle::in_sync(&snapshot, topic, index, node)
            && *over_rate.get_or_init(|| Side::Follower.exceeded(&snapshot.broker))
    };
    let mut topics: Vec<FetchTopic> = Vec::new();
    let now = Instant::now();
    for ((topic, index), follow) in followed.partitions.borrow().iter() {
        if follow.retry_at.is_some_and(|at| at > now) || held(topic, *index) {
            continue;
        }
        let Some(partition) = shard.partition(topic, *index) else {
            continue;
        };
        let offsets = partition.offsets();
        let asked = FetchPartition::default()
            .with_partition(*index)
            .with_current_leader_epoch(follow.leader_epoch)
            .with_fetch_offset(offsets.log_end)
            .with_last_fetched_epoch(partition.last_epoch())
            .with_log_start_offset(offsets.log_start)
            .with_partition_max_bytes(PARTITION_BYTES_MAX);
        match topics.last_mut() {
            Some(last) if last.topic.0.as_str() == topic => last.partitions.push(asked),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic(str_bytes(topic.clone()).into())
                    .with_partitions(vec![asked]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(node))
        .with_max_wait_ms(WAIT_MAX_MS)
        .with_min_bytes(1)
        .with_max_bytes(RESPONSE_BYTES_MAX)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// Takes what the leader sent for each partition still followed from it at the epoch
/// asked, and still at the offset asked (Kafka's fetcher drops an answer otherwise: a
/// truncation, or another leader's batches, came in between); one the leader refused
/// waits `BACKOFF` before it is fetched again.
async fn take(
    shard: &Rc<Shard>,
    followed: &Followed,
    asked: &FetchRequest,
    response: FetchResponse,
) {
    let asked: HashMap<(&str, i32), (i64, i32)> = asked
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let at = (p.fetch_offset, p.current_leader_epoch);
                ((t.topic.0.as_str(), p.partition), at)
            })
        })
        .collect();
    let snapshot = shard.snapshot();
    for topic in response.responses {
        let name = topic.topic.0.to_string();
        for data in topic.partitions {
            let key = (name.clone(), data.partition_index);
            let Some(&(offset, epoch)) = asked.get(&(name.as_str(), data.partition_index)) else {
                continue;
            };
            let current = followed
                .partitions
                .borrow()
                .get(&key)
                .map(|f| f.leader_epoch);
            let Some(partition) = shard.partition(&key.0, key.1) else {
                continue;
            };
            if current != Some(epoch) || partition.offsets().log_end != offset {
                continue;
            }
            if Side::Follower.lists(&snapshot, &key.0, key.1) {
                let bytes = data.records.as_ref().map_or(0, |r| r.len() as u64);
                Side::Follower.record(&snapshot.broker, bytes);
            }
            if let Err(pause) = take_partition(&partition, data).await {
                if let Some(follow) = followed.partitions.borrow_mut().get_mut(&key) {
                    follow.retry_at = Some(Instant::now() + pause);
                }
            }
        }
    }
}

/// One partition's answer: an error (the leader not there yet), a diverging epoch to
/// truncate to, or batches to append; then the leader's offsets. An error gives how long
/// the partition waits before it is fetched again.
async fn take_partition(partition: &Partition, data: PartitionData) -> Result<(), Duration> {
    if partition.is_leading() {
        return Ok(());
    }
    let (topic, index) = (partition.topic.as_str(), partition.index);
    let now = now_ms();
    let end = partition.offsets().log_end;
    // Retention or DeleteRecords ran on the leader while this replica was away: its
    // log now starts after this one ends, and this one starts over there.
    let out_of_range = data.error_code == ResponseError::OffsetOutOfRange.code();
    if out_of_range && data.log_start_offset > end {
        return start_over(partition, data.log_start_offset, now).await;
    }
    if data.error_code != 0 {
        let error = ResponseError::try_from_code(data.error_code);
        tracing::debug!(
            topic,
            partition = index,
            ?error,
            "replica fetch of a partition refused"
        );
        return Err(backoff(error));
    }
    let diverging = data.diverging_epoch;
    if diverging.epoch >= 0 || diverging.end_offset >= 0 {
        return match partition
            .truncate_diverging((diverging.epoch, diverging.end_offset), now)
            .await
        {
            Ok(()) => Ok(()),
            Err(error) => {
                tracing::error!(topic, partition = index, %error, "truncating a follower's log failed");
                Err(BACKOFF)
            }
        };
    }
    let records = data.records.unwrap_or_default();
    let whole = whole_batches(&records);
    // A log that started over at the leader's log start gets the batch holding it,
    // which may begin before it: the log starts at that batch instead.
    if let Some((base, last)) = first_batch(&records[..whole]) {
        let offsets = partition.offsets();
        if offsets.log_start == end && base < end && end <= last {
            start_over(partition, base, now).await?;
        }
    }
    if whole > 0 {
        if let Err(error) = partition.append_at(&records[..whole], now).await {
            tracing::error!(
                topic,
                partition = index,
                ?error,
                "appending the leader's batches failed"
            );
            return Err(BACKOFF);
        }
    } else if !records.is_empty() {
        tracing::warn!(
            topic,
            partition = index,
            "the leader sent no whole batch that checks"
        );
    }
    if let Err(error) = partition
        .follower_offsets(data.high_watermark, data.log_start_offset)
        .await
    {
        tracing::warn!(
            topic,
            partition = index,
            ?error,
            "following the leader's log start failed"
        );
    }
    Ok(())
}

/// Starts the follower's log over, empty, at `offset` (Kafka's
/// `truncateFullyAndStartAt`).
async fn start_over(partition: &Partition, offset: i64, now: i64) -> Result<(), Duration> {
    partition.start_over_at(offset, now).await.map(|_| ()).map_err(|error| {
        tracing::error!(topic = %partition.topic, partition = partition.index, %error, "starting a follower's log over failed");
        BACKOFF
    })
}

/// The first and last offsets of the first batch in `records`, if it holds one.
fn first_batch(records: &[u8]) -> Option<(i64, i64)> {
    let header = batch::BatchHeader::parse(records).ok()?;
    Some((header.base_offset.get(), header.last_offset()))
}

/// How long a partition waits after the leader refused it: a tenth of a second while
/// the two brokers' metadata disagree (the leader has not applied the partition, or
/// its leadership, yet: a new topic's first writes wait for that), Kafka's
/// `replica.fetch.backoff.ms` otherwise.
fn backoff(error: Option<ResponseError>) -> Duration {
    match error {
        Some(
            ResponseError::UnknownTopicOrPartition
            | ResponseError::NotLeaderOrFollower
            | ResponseError::UnknownLeaderEpoch
            | ResponseError::FencedLeaderEpoch,
        ) => NOT_YET,
        _ => BACKOFF,
    }
}

/// The length of the whole batches, CRCs checked, at the start of `records`: a response
/// cut to its size limit may end inside one, and a batch that does not check ends what
/// is taken.
fn whole_batches(records: &Bytes) -> usize {
    match batch::walk(records, true, |_, _| {}) {
        WalkEnd::Clean => records.len(),
        WalkEnd::Partial(at) => at,
        WalkEnd::Corrupt(at) => {
            tracing::warn!(
                at,
                "a batch from the leader does not check; taking what comes before it"
            );
            at
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_batches_that_check_are_taken() {
        let one = batch::control_batch(7, 0, 0, true, 1_000);
        let mut two = one.clone();
        two.extend_from_slice(&one);
        assert_eq!(whole_batches(&Bytes::from(two.clone())), two.len());
        // An answer cut at its size limit ends inside the second batch.
        let cut = Bytes::copy_from_slice(&two[..two.len() - 5]);
        assert_eq!(whole_batches(&cut), one.len());
        // A flipped byte in the second batch's records fails its CRC.
        let mut flipped = two.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert_eq!(whole_batches(&Bytes::from(flipped)), one.len());
    }

    #[test]
    fn a_leader_behind_on_the_metadata_is_asked_again_sooner() {
        assert_eq!(
            backoff(Some(ResponseError::UnknownTopicOrPartition)),
            NOT_YET
        );
        assert_eq!(backoff(Some(ResponseError::FencedLeaderEpoch)), NOT_YET);
        assert_eq!(backoff(Some(ResponseError::KafkaStorageError)), BACKOFF);
        assert_eq!(backoff(None), BACKOFF);
    }
}
