//! Fetch: the owning shards resolve each partition's read to a file run (never the
//! bytes); this shard frames the response and the connection sends the runs with
//! sendfile. Long polls wait on the partitions' append events, never in a loop.
//! Incremental fetch sessions (KIP-227) live on this shard.

use std::ops::RangeInclusive;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, EpochEndOffset, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, ProducerId};
use uuid::Uuid;

use super::auth::only_allowed;
use super::{on_owning_shards, Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::cluster::ShardId;
use crate::config::CompressionType;
use crate::error::ApiError;
use crate::metrics::HandlerTimes;
use crate::partition::{Isolation, Partition};
use crate::protocol::fetch::{self, FetchResponseParts, TopicData};
use crate::quota::QuotaKind;
use crate::replication::read_replica::{self, Reader, ReplicaSelector};
use crate::replication::throttle::Side;
use crate::server::fetch_session::{self, Mode, PartitionKey, SessionPartition, Summary};
use crate::server::sendfile::SendSlice;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = fetch::VERSION_MIN..=17;

/// One partition to read, as the owning shard needs it.
#[derive(Debug, Clone)]
struct Want {
    topic: String,
    partition: i32,
    offset: i64,
    max_bytes: i32,
    leader_epoch: i32,
    isolation: Isolation,
    /// A follower's fetch: its broker.
    replica: Option<i32>,
    /// The epoch of the last batch the fetcher read (-1: not said): a follower's, or a
    /// consumer's from version 12.
    last_fetched_epoch: i32,
    /// A consumer's fetch from version 11, which a follower may serve (KIP-392).
    from_any_replica: bool,
    /// Such a consumer's rack and listener, when it names a rack: the leader may send
    /// it to a replica there. Shared by the request's partitions.
    rack: Option<Arc<(String, String)>>,
}

/// What the owning shard found.
#[derive(Debug)]
struct Got {
    error: i16,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    /// read_committed: the aborted transactions the data may hold.
    aborted: Option<Vec<(i64, i64)>>,
    data: Option<(SendSlice, u32)>,
    /// The length of the first batch in `data`, which goes whole (KIP-74).
    first_batch: u32,
    /// The fetcher's log (or what it read) parts from the leader's: the epoch and its
    /// end on the leader.
    diverging: Option<(i32, i64)>,
    /// A follower's fetch of a replica the leader throttles here: its bytes count
    /// against `leader.replication.throttled.rate`.
    throttled: bool,
    /// Records left out: the replica is throttled, outside the ISR, and the rate is
    /// past its bound. Its appends do not end a long poll.
    held: bool,
    /// The replica the consumer should fetch from instead (KIP-392): no records.
    preferred: Option<i32>,
}

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<FetchRequest>(body) else {
        return Response::Close;
    };
    let snapshot = ctx.shard.snapshot();
    let replica_id = match ctx.version {
        15.. => request.replica_state.replica_id.0,
        _ => request.replica_id.0,
    };
    let replica = (replica_id >= 0).then_some(replica_id);
    let mut asked: IndexMap<PartitionKey, SessionPartition> = IndexMap::new();
    let mut unknown_ids: Vec<(Uuid, i32)> = Vec::new();
    for topic in &request.topics {
        let name = if ctx.version >= 13 {
            snapshot.topic_name(&topic.topic_id).map(str::to_string)
        } else {
            Some(topic.topic.to_string())
        };
        for partition in &topic.partitions {
            let Some(name) = &name else {
                unknown_ids.push((topic.topic_id, partition.partition));
                continue;
            };
            let wanted = SessionPartition {
                topic_id: snapshot.topic(name).map_or(topic.topic_id, |meta| meta.id),
                fetch_offset: partition.fetch_offset,
                max_bytes: partition.partition_max_bytes,
                current_leader_epoch: partition.current_leader_epoch,
                last_fetched_epoch: partition.last_fetched_epoch,
                last_sent: None,
            };
            asked.insert((name.clone(), partition.partition), wanted);
        }
    }
    // A follower's fetch needs CLUSTER_ACTION on the cluster: without it, Kafka refuses
    // every partition it names.
    if replica.is_some() && !ctx.allowed_on_cluster(Operation::ClusterAction) {
        let refused = |index: i32| {
            PartitionData::default()
                .with_partition_index(index)
                .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                .with_high_watermark(-1)
        };
        let mut topics = Vec::new();
        for ((name, index), wanted) in &asked {
            push_partition(&mut topics, name, wanted.topic_id, refused(*index), None);
        }
        for (topic_id, index) in unknown_ids {
            push_partition(&mut topics, "", topic_id, refused(index), None);
        }
        return respond(&ctx, (0, 0), topics, 0);
    }
    let (session_id, incremental, wanted) = match open_session(&ctx, &request, asked) {
        Ok(session) => session,
        Err(code) => return respond(&ctx, (code.code(), 0), Vec::new(), 0),
    };
    let isolation = match replica {
        Some(_) => Isolation::Replica,
        None => Isolation::from_wire(request.isolation_level),
    };
    // A consumer's fetch quota bounds a response as its max_bytes does (Kafka's
    // `getMaxValueInQuotaWindow`): each partition reads at most that much (and at least
    // one batch), so a client over its quota is not asked for more than it may ever take.
    let quota_most = match replica {
        Some(_) => None,
        None => ctx
            .most_at_once(QuotaKind::Fetch)
            .map(|most| most.clamp(0.0, f64::from(i32::MAX)) as i32),
    };
    let from_any_replica = replica.is_none() && ctx.version >= 11;
    let rack = (from_any_replica && !request.rack_id.is_empty())
        .then(|| Arc::new((request.rack_id.to_string(), ctx.peer.listener.to_string())));
    let wants: Vec<Want> = wanted
        .iter()
        .map(|((topic, partition), p)| Want {
            topic: topic.clone(),
            partition: *partition,
            offset: p.fetch_offset,
            max_bytes: quota_most.map_or(p.max_bytes, |most| p.max_bytes.min(most)),
            leader_epoch: p.current_leader_epoch,
            isolation,
            replica,
            last_fetched_epoch: p.last_fetched_epoch,
            from_any_replica,
            rack: rack.clone(),
        })
        .collect();
    let max_wait = Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let shard = Rc::clone(&ctx.shard);
    let times = Rc::clone(&ctx.times);
    let min_bytes = request.min_bytes;
    // As Kafka answers: a topic that may not be read, and one whose compression.type is
    // zstd to a fetch older than v10 (whose clients cannot read zstd).
    let refusal = |want: &Want| {
        if !ctx.allowed_in(&snapshot, Operation::Read, ResourceType::Topic, &want.topic) {
            return Some(ResponseError::TopicAuthorizationFailed);
        }
        let zstd = |meta: &crate::cluster::TopicMeta| {
            meta.config.resolve(&snapshot.broker).compression_type == CompressionType::Zstd
        };
        (ctx.version < 10 && snapshot.topic(&want.topic).is_some_and(zstd))
            .then_some(ResponseError::UnsupportedCompressionType)
    };
    let gots = only_allowed(
        wants,
        |want| refusal(want).is_none(),
        |want| failed(refusal(want).map_or(0, |error| error.code())),
        |wants| async move { read_until_enough(&shard, &wants, min_bytes, max_wait, &times).await },
    )
    .await;
    let mut budget = i64::from(request.max_bytes.max(0));
    if let Some(most) = quota_most {
        budget = budget.min(i64::from(most));
    }
    let mut gots = gots;
    let sending = cut_to_budget(&mut gots, budget);
    if replica.is_some() {
        let throttled: u64 = gots
            .iter()
            .filter(|got| got.throttled)
            .filter_map(|got| got.data.as_ref())
            .map(|(_, length)| u64::from(*length))
            .sum();
        Side::Leader.record(&snapshot.broker, throttled);
    }
    // A consumer over its fetch quota gets nothing this time, only the wait (Kafka's
    // throttled response: the session's partitions stay as they were).
    let throttle = match replica {
        Some(_) => 0,
        None => ctx.use_quota(QuotaKind::Fetch, sending as f64),
    };
    if throttle > 0 {
        ctx.unuse_quota(QuotaKind::Fetch, sending as f64);
        let session = if incremental { session_id } else { 0 };
        return respond(&ctx, (0, session), Vec::new(), throttle);
    }
    let mut topics: Vec<TopicData<SendSlice>> = Vec::new();
    for (((topic, index), sp), got) in wanted.iter().zip(gots) {
        let summary = (
            got.error,
            got.high_watermark,
            got.last_stable_offset,
            got.log_start_offset,
        );
        let data = got.data;
        let preferred = got.preferred;
        // Counted here, where the bytes that go out are known; unknown or refused
        // partitions not at all.
        let counted = [
            ResponseError::UnknownTopicOrPartition.code(),
            ResponseError::TopicAuthorizationFailed.code(),
        ];
        if !counted.contains(&got.error) && replica.is_none() {
            let sent = data.as_ref().map_or(0, |(_, length)| u64::from(*length));
            let topics = &ctx.shard.metrics.topics;
            topics.fetched(topic, sent, got.error != 0);
        }
        // Unchanged partitions are left out of an incremental answer; those with an
        // error, a diverging epoch or another replica to read from never are, as in
        // Kafka's sessions.
        let must_answer = got.error != 0 || got.diverging.is_some() || preferred.is_some();
        if incremental && data.is_none() && !must_answer && sp.last_sent == Some(summary) {
            continue;
        }
        let partition = PartitionData::default()
            .with_partition_index(*index)
            .with_error_code(got.error)
            .with_high_watermark(got.high_watermark)
            .with_last_stable_offset(got.last_stable_offset)
            .with_log_start_offset(got.log_start_offset)
            .with_preferred_read_replica(BrokerId(preferred.unwrap_or(-1)))
            .with_diverging_epoch(
                EpochEndOffset::default()
                    .with_epoch(got.diverging.map_or(-1, |(epoch, _)| epoch))
                    .with_end_offset(got.diverging.map_or(-1, |(_, end)| end)),
            )
            .with_aborted_transactions(got.aborted.map(|aborted| {
                aborted
                    .into_iter()
                    .map(|(producer_id, first_offset)| {
                        AbortedTransaction::default()
                            .with_producer_id(ProducerId(producer_id))
                            .with_first_offset(first_offset)
                    })
                    .collect()
            }))
            .with_records(data.is_none().then(Bytes::new));
        remember_sent(&ctx.shard, session_id, (topic.clone(), *index), summary);
        push_partition(&mut topics, topic, sp.topic_id, partition, data);
    }
    for (topic_id, index) in unknown_ids {
        let partition = PartitionData::default()
            .with_partition_index(index)
            .with_error_code(ResponseError::UnknownTopicId.code())
            .with_high_watermark(-1);
        push_partition(&mut topics, "", topic_id, partition, None);
    }
    respond(&ctx, (0, session_id), topics, 0)
}

/// Cuts the partitions' data to `budget` bytes, as Kafka's reads do: the first partition
/// with data sends at least its first batch whole however large (KIP-74), the rest what
/// is left, and a partition whose first batch does not fit in what is left sends none
/// (Kafka's ReplicaManager sends no records rather than a cut first batch, on which the
/// Java and kafka-python consumers fail). A partition's data may so end in part of a
/// batch, which clients drop and fetch again. Answers the bytes that go out.
fn cut_to_budget(gots: &mut [Got], mut budget: i64) -> u64 {
    let mut first_data = true;
    let mut sending = 0;
    for got in gots {
        let first_batch = i64::from(got.first_batch);
        if let Some((_, length)) = &mut got.data {
            let allowed = match first_data {
                true => budget.max(first_batch),
                false if budget < first_batch => 0,
                false => budget,
            };
            if i64::from(*length) > allowed {
                *length = allowed.max(0) as u32;
            }
            first_data = false;
            budget -= i64::from(*length);
            sending += u64::from(*length);
        }
        got.data = got.data.take().filter(|(_, length)| *length > 0);
    }
    sending
}

fn push_partition(
    topics: &mut Vec<TopicData<SendSlice>>,
    name: &str,
    id: Uuid,
    partition: PartitionData,
    data: Option<(SendSlice, u32)>,
) {
    match topics.last_mut() {
        Some(last) if last.name == name && last.id == id => last.partitions.push((partition, data)),
        _ => topics.push(TopicData {
            name: name.to_string(),
            id,
            partitions: vec![(partition, data)],
        }),
    }
}

fn respond(
    ctx: &Ctx,
    (error_code, session_id): (i16, i32),
    topics: Vec<TopicData<SendSlice>>,
    throttle_time_ms: i32,
) -> Response {
    let parts = FetchResponseParts {
        throttle_time_ms,
        error_code,
        session_id,
        topics,
    };
    match fetch::encode(ctx.version, ctx.correlation_id, parts) {
        Ok(chunks) => Response::Chunks(chunks),
        Err(error) => {
            tracing::error!(%error, "fetch response did not encode");
            Response::Close
        }
    }
}

/// Applies the request to this shard's session cache; returns the session id to
/// answer with, whether the response is incremental, and the partitions to read.
fn open_session(
    ctx: &Ctx,
    request: &FetchRequest,
    asked: IndexMap<PartitionKey, SessionPartition>,
) -> Result<(i32, bool, IndexMap<PartitionKey, SessionPartition>), ResponseError> {
    if ctx.version < 7 {
        return Ok((0, false, asked));
    }
    let mut sessions = ctx.shard.fetch_sessions.borrow_mut();
    match fetch_session::mode(&mut sessions, request.session_id, request.session_epoch)? {
        Mode::Sessionless => Ok((0, false, asked)),
        Mode::New => {
            let id = sessions.create(ctx.shard.id.0, asked.clone()).unwrap_or(0);
            Ok((id, false, asked))
        }
        Mode::Incremental(id) => {
            let session = sessions
                .get_mut(id)
                .ok_or(ResponseError::FetchSessionIdNotFound)?;
            for (key, mut wanted) in asked {
                if let Some(previous) = session.partitions.get(&key) {
                    wanted.last_sent = previous.last_sent;
                }
                session.partitions.insert(key, wanted);
            }
            for forgotten in &request.forgotten_topics_data {
                let name = if ctx.version >= 13 {
                    ctx.shard
                        .snapshot()
                        .topic_name(&forgotten.topic_id)
                        .map(str::to_string)
                } else {
                    Some(forgotten.topic.to_string())
                };
                for partition in &forgotten.partitions {
                    if let Some(name) = &name {
                        session.partitions.shift_remove(&(name.clone(), *partition));
                    }
                }
            }
            Ok((id, true, session.partitions.clone()))
        }
    }
}

fn remember_sent(shard: &Shard, session_id: i32, key: PartitionKey, summary: Summary) {
    if session_id == 0 {
        return;
    }
    if let Some(session) = shard.fetch_sessions.borrow_mut().get_mut(session_id) {
        if let Some(partition) = session.partitions.get_mut(&key) {
            partition.last_sent = Some(summary);
        }
    }
}

/// Reads every partition; while fewer than `min_bytes` came back and time is left,
/// waits for an append on any of them (remote time, as Kafka's fetch purgatory) and
/// reads again.
async fn read_until_enough(
    shard: &Rc<Shard>,
    wants: &[Want],
    min_bytes: i32,
    max_wait: Duration,
    times: &HandlerTimes,
) -> Vec<Got> {
    let deadline = Instant::now() + max_wait;
    loop {
        // Cross-shard: each partition is read on the shard that owns it.
        let gots = on_owning_shards(
            shard,
            wants.to_vec(),
            |want| (want.topic.as_str(), want.partition),
            read,
            |gone| failed(ApiError::from(gone).wire_code()),
        )
        .await;
        let bytes: i64 = gots
            .iter()
            .filter_map(|g| g.data.as_ref())
            .map(|(_, len)| i64::from(*len))
            .sum();
        // Errors, diverging logs and consumers sent to another replica are answered
        // at once.
        let errors = gots
            .iter()
            .any(|g| g.error != 0 || g.diverging.is_some() || g.preferred.is_some());
        let now = Instant::now();
        if bytes >= i64::from(min_bytes) || errors || now >= deadline || shard.is_stopping() {
            return gots;
        }
        // A held replica has records past its offset: waiting on it would not wait.
        let waiting: Vec<Want> = wants
            .iter()
            .zip(&gots)
            .filter(|(_, got)| !got.held)
            .map(|(want, _)| want.clone())
            .collect();
        times
            .remote(wait_for_appends(shard, &waiting, deadline - now))
            .await;
    }
}

fn failed(error: i16) -> Got {
    Got {
        error,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        aborted: None,
        data: None,
        first_batch: 0,
        diverging: None,
        throttled: false,
        held: false,
        preferred: None,
    }
}

/// The partition's offsets, no records and no error: what an answer that sends the
/// fetcher elsewhere (another replica, or where its log parts) carries.
fn offsets_only(partition: &Partition) -> Got {
    let offsets = partition.offsets();
    Got {
        high_watermark: offsets.high_watermark,
        last_stable_offset: offsets.last_stable,
        log_start_offset: offsets.log_start,
        ..failed(0)
    }
}

/// On the owning shard: where the records from `want.offset` are. A consumer the
/// leader sends to a replica in its rack gets only that replica (KIP-392). A fetch
/// naming its last fetched epoch (a follower's, or a consumer's from version 12) first
/// learns whether its log parts from this one (then it gets only where); a follower's,
/// once read, counts as its position: the high watermark may move, and the ISR may grow.
async fn read(shard: Rc<Shard>, want: Want) -> Got {
    let partition = match serving(&shard, &want) {
        Ok(partition) => partition,
        Err(code) => return failed(code.code()),
    };
    if let Some(preferred) = preferred_replica(&shard, &partition, &want) {
        if let Err(error) = partition.check_leader_epoch(want.leader_epoch) {
            return failed(error.wire_code());
        }
        return Got {
            preferred: Some(preferred),
            ..offsets_only(&partition)
        };
    }
    // Kafka checks a last fetched epoch for any fetcher: a consumer that read records a
    // new leader truncated away learns where they part too.
    if want.replica.is_some() || want.last_fetched_epoch >= 0 {
        if let Err(error) = partition.check_leader_epoch(want.leader_epoch) {
            return failed(error.wire_code());
        }
        if let Some(diverging) = partition.diverging(want.offset, want.last_fetched_epoch) {
            // No epoch answers: Kafka tells a consumer its offset is out of range.
            if want.replica.is_none() && diverging.0 < 0 {
                return failed(ResponseError::OffsetOutOfRange.code());
            }
            return Got {
                diverging: Some(diverging),
                ..offsets_only(&partition)
            };
        }
    }
    let max_bytes = want.max_bytes.max(0) as usize;
    let read = match partition
        .read(want.offset, max_bytes, want.leader_epoch, want.isolation)
        .await
    {
        Ok(read) => read,
        // A follower below the log start learns where the log starts now, and starts
        // over there (Kafka's follower asks ListOffsets for it).
        Err(error) if want.replica.is_some() => {
            let offsets = partition.offsets();
            return Got {
                high_watermark: offsets.high_watermark,
                log_start_offset: offsets.log_start,
                ..failed(error.wire_code())
            };
        }
        Err(error) => return failed(error.wire_code()),
    };
    let mut got = Got {
        high_watermark: read.offsets.high_watermark,
        last_stable_offset: read.offsets.last_stable,
        log_start_offset: read.offsets.log_start,
        aborted: read.aborted,
        ..failed(0)
    };
    if let Some(replica) = want.replica {
        match partition.on_follower_fetch(replica, want.offset, crate::shard::now_ms()) {
            Ok(change) => {
                if let Some(change) = change {
                    crate::replication::leader::send_alter(&shard, &partition, change);
                }
                got.high_watermark = partition.offsets().high_watermark;
            }
            Err(error) => return failed(error.wire_code()),
        }
        // The ISR is the one acks=all counts by here, which may be ahead of the
        // metadata this shard has applied.
        let snapshot = shard.snapshot();
        got.throttled = Side::Leader.lists(&snapshot, &want.topic, want.partition);
        got.held = got.throttled
            && !partition.isr_holds(replica)
            && Side::Leader.exceeded(&snapshot.broker);
        if got.held {
            return got;
        }
    }
    if let Some(slice) = read.slice {
        match SendSlice::of(&slice.file, slice.position) {
            Ok(send) => {
                got.data = Some((send, slice.length));
                got.first_batch = slice.first_batch;
            }
            Err(error) => {
                got.error = ApiError::from(crate::storage::StorageError::Io(error)).wire_code()
            }
        }
    }
    got
}

/// The replica that serves `want`: the leader's, or for a consumer that may read from
/// any (Fetch v11+), a follower's too, up to its high watermark once the leader has
/// reported it (before, NOT_LEADER_OR_FOLLOWER sends the consumer back to the leader).
fn serving(shard: &Shard, want: &Want) -> Result<Rc<Partition>, ResponseError> {
    let (topic, index) = (want.topic.as_str(), want.partition);
    match shard.led(topic, index) {
        Err(ResponseError::NotLeaderOrFollower)
            if want.from_any_replica && shard.snapshot().is_local(topic, index) =>
        {
            let follower = shard.held(topic, index)?;
            match follower.serves_consumers() {
                true => Ok(follower),
                false => Err(ResponseError::NotLeaderOrFollower),
            }
        }
        led => led,
    }
}

/// The replica a consumer in `want.rack` should read from instead of this leader, as
/// `replica.selector.class` chooses it: an in-sync follower of that rack that holds
/// the offset and that the consumer's listener reaches. An offset below this log's
/// start is answered here (followers take the leader's log start; Kafka checks each
/// follower's own).
fn preferred_replica(shard: &Shard, partition: &Partition, want: &Want) -> Option<i32> {
    let (rack, listener) = want.rack.as_deref()?;
    let snapshot = shard.snapshot();
    if snapshot.broker.replica_selector != ReplicaSelector::RackAware
        || want.offset < partition.offsets().log_start
    {
        return None;
    }
    let layout = snapshot.layout()?;
    let readers = partition.readers_at(want.offset)?;
    let reachable =
        |broker: i32| !layout.image.is_fenced(broker) && !snapshot.unreachable_on(listener, broker);
    let readers: Vec<Reader<'_>> = readers
        .into_iter()
        .filter(|(broker, ..)| reachable(*broker))
        .map(|(broker, log_end, caught_up_ms)| Reader {
            broker,
            rack: layout
                .image
                .brokers
                .get(&broker)
                .and_then(|b| b.rack.as_deref()),
            log_end,
            caught_up_ms,
        })
        .collect();
    read_replica::preferred(rack, snapshot.broker.broker_rack.as_deref(), &readers)
}

/// A partition to wait on: topic, partition, fetch offset, isolation.
type WaitItem = (String, i32, i64, Isolation);

/// Returns when any partition gets records past its fetch offset, when `timeout`
/// passes, or when the broker stops.
async fn wait_for_appends(shard: &Rc<Shard>, wants: &[Want], timeout: Duration) {
    let snapshot = shard.snapshot();
    let mut groups: Vec<(ShardId, Vec<WaitItem>)> = Vec::new();
    for want in wants {
        let owner = snapshot.shard_for(&want.topic, want.partition);
        let item = (
            want.topic.clone(),
            want.partition,
            want.offset,
            want.isolation,
        );
        match groups.iter_mut().find(|(id, _)| *id == owner) {
            Some((_, group)) => group.push(item),
            None => groups.push((owner, vec![item])),
        }
    }
    if groups.is_empty() {
        shard.pause(timeout).await;
        return;
    }
    // Cross-shard: each owning shard waits on its own partitions' append events.
    let waits = groups.into_iter().map(|(owner, items)| {
        Box::pin(shard.invoke_on(
            owner,
            move |s| async move { wait_here(s, items, timeout).await },
        ))
    });
    // Whichever shard answers first ends the wait; a shard that is gone ends it too.
    let _ = futures::future::select_all(waits).await;
}

async fn wait_here(shard: Rc<Shard>, items: Vec<WaitItem>, timeout: Duration) {
    let partitions: Vec<_> = items
        .iter()
        .filter_map(|(topic, index, offset, isolation)| {
            shard
                .partition(topic, *index)
                .map(|p| (p, *offset, *isolation))
        })
        .collect();
    let appended: Vec<_> = partitions
        .iter()
        .map(|(p, ..)| p.appended().listen())
        .collect();
    let ready = partitions
        .iter()
        .any(|(p, offset, isolation)| p.has_data_past(*offset, *isolation));
    if ready || partitions.len() < items.len() {
        return;
    }
    let any_append = async {
        futures::future::select_all(appended).await;
    };
    let woken = futures_lite::future::or(any_append, glommio::timer::sleep(timeout));
    shard.unless_stopping(woken).await;
}
