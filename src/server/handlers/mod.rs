//! One file per Kafka API: decode the request, do the work (on this shard or, through
//! `invoke_on`, on the shards that own the partitions), encode the response.
//!
//! The `handlers!` table below is the only list of served APIs: dispatch and the
//! ApiVersions answer both come from it, and each handler declares its own versions.

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod add_raft_voter;
mod alter_client_quotas;
mod alter_configs;
mod alter_partition_reassignments;
mod alter_user_scram_credentials;
mod api_versions;
mod auth;
mod config_changes;
mod consumer_group_describe;
mod consumer_group_heartbeat;
mod create_acls;
mod create_partitions;
mod create_topics;
mod delete_acls;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_acls;
mod describe_client_quotas;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_producers;
mod describe_quorum;
mod describe_topic_partitions;
mod describe_transactions;
mod describe_user_scram_credentials;
mod elect_leaders;
mod end_txn;
mod error_answer;
mod fetch;
mod find_coordinator;
mod groups;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_partition_reassignments;
mod list_transactions;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod remove_raft_voter;
mod sasl_authenticate;
mod sasl_handshake;
mod sync_group;
mod throttle;
mod txn_offset_commit;
mod txns;
mod write_txn_markers;

use std::future::Future;
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};

pub use self::api_versions::valid as api_versions_valid;
pub use self::error_answer::error_answer;
use crate::metrics::HandlerTimes;
use crate::protocol::{self, fetch::Chunk, Request};
use crate::server::connection::Turn;
use crate::server::sendfile::SendSlice;
use crate::shard::Shard;
pub use crate::shard::{dispatch_to_owners, on_owning_shards};

/// What the connection does with a handled request.
pub enum Response {
    /// A whole encoded frame.
    Frame(Bytes),
    /// Framing bytes and file runs to send in order (fetch).
    Chunks(Vec<Chunk<SendSlice>>),
    /// Nothing goes back (produce with acks=0).
    Nothing,
    /// The request was unreadable: Kafka closes the connection.
    Close,
    /// A whole encoded frame, then the connection closes (a failed login).
    Last(Bytes),
}

/// The client at the other end of a connection.
#[derive(Debug)]
pub struct Peer {
    /// Its address, when the socket tells it.
    pub ip: Option<std::net::IpAddr>,
    /// Its address as Kafka shows it ("/127.0.0.1").
    pub host: String,
    /// Who it proved to be (`User:alice`), or `User:ANONYMOUS`.
    pub principal: String,
    /// Another broker, on a replication port: client quotas do not apply to it (Kafka
    /// exempts inter-broker requests).
    pub internal: bool,
    /// The client listener it came in on (on a replication port, the inter-broker
    /// listener): Metadata and FindCoordinator answer with brokers' addresses there.
    pub listener: Rc<str>,
}

/// The request being served.
pub struct Ctx {
    pub shard: Rc<Shard>,
    pub api_key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    /// The request header's client id ("" when absent).
    pub client_id: String,
    /// Who sent it, from where.
    pub peer: Rc<Peer>,
    /// Where the handler marks its waits on others (`HandlerTimes::remote`).
    pub times: Rc<HandlerTimes>,
    /// A produce request's place in its connection's order (`None` for other APIs).
    pub turn: Option<Turn>,
}

impl Ctx {
    pub fn decode<R: Decodable>(&self, mut body: Bytes) -> Option<R> {
        match R::decode(&mut body, self.version) {
            Ok(request) => Some(request),
            Err(error) => {
                tracing::debug!(api = ?self.api_key, version = self.version, %error, "undecodable request");
                None
            }
        }
    }

    /// The brokers this client is told of, at their addresses on its listener.
    pub fn brokers(
        &self,
        snapshot: &crate::cluster::Snapshot,
    ) -> Vec<crate::cluster::snapshot::BrokerAddress> {
        let listener = &self.peer.listener;
        snapshot.brokers(listener, self.shard.advertised(listener))
    }

    pub fn respond<R: Encodable>(&self, body: &R) -> Response {
        match protocol::encode_response(self.api_key, self.version, self.correlation_id, body) {
            Ok(frame) => Response::Frame(frame),
            Err(error) => {
                tracing::error!(api = ?self.api_key, version = self.version, %error, "response did not encode");
                Response::Close
            }
        }
    }
}

/// `handler`'s future for a request, on the heap. Each handler's future is made in
/// this function's own frame: made in `dispatch`, an unoptimized build gave its frame
/// room for every handler's at once (over 1 MiB), and a request's handler, which runs
/// at once on the stack of the connection that read it, could overflow a shard's
/// 2 MiB stack.
#[inline(never)]
fn boxed<F, H>(handler: H, ctx: Ctx, body: Bytes) -> Pin<Box<dyn Future<Output = Response>>>
where
    H: FnOnce(Ctx, Bytes) -> F,
    F: Future<Output = Response> + 'static,
{
    Box::pin(handler(ctx, body))
}

macro_rules! handlers {
    ($($api:ident => $module:ident),* $(,)?) => {
        /// The versions shoal serves of `api`, if it serves it at all.
        pub fn versions(api: ApiKey) -> Option<RangeInclusive<i16>> {
            match api {
                $(ApiKey::$api => Some($module::VERSIONS),)*
                _ => None,
            }
        }

        /// Every served API with its versions, for ApiVersions.
        pub fn served() -> Vec<(ApiKey, RangeInclusive<i16>)> {
            vec![$((ApiKey::$api, $module::VERSIONS),)*]
        }

        async fn dispatch(ctx: Ctx, body: Bytes) -> Response {
            let handler = match ctx.api_key {
                $(ApiKey::$api => boxed($module::handle, ctx, body),)*
                _ => return Response::Close,
            };
            handler.await
        }
    };
}

handlers! {
    Produce => produce,
    Fetch => fetch,
    ListOffsets => list_offsets,
    Metadata => metadata,
    FindCoordinator => find_coordinator,
    ApiVersions => api_versions,
    SaslHandshake => sasl_handshake,
    SaslAuthenticate => sasl_authenticate,
    CreateTopics => create_topics,
    DeleteTopics => delete_topics,
    DeleteRecords => delete_records,
    OffsetForLeaderEpoch => offset_for_leader_epoch,
    DescribeAcls => describe_acls,
    CreateAcls => create_acls,
    DeleteAcls => delete_acls,
    DescribeConfigs => describe_configs,
    AlterConfigs => alter_configs,
    CreatePartitions => create_partitions,
    IncrementalAlterConfigs => incremental_alter_configs,
    DescribeCluster => describe_cluster,
    DescribeQuorum => describe_quorum,
    AddRaftVoter => add_raft_voter,
    RemoveRaftVoter => remove_raft_voter,
    DescribeTopicPartitions => describe_topic_partitions,
    DescribeLogDirs => describe_log_dirs,
    ElectLeaders => elect_leaders,
    AlterPartitionReassignments => alter_partition_reassignments,
    ListPartitionReassignments => list_partition_reassignments,
    OffsetCommit => offset_commit,
    OffsetFetch => offset_fetch,
    JoinGroup => join_group,
    Heartbeat => heartbeat,
    LeaveGroup => leave_group,
    SyncGroup => sync_group,
    DescribeGroups => describe_groups,
    ListGroups => list_groups,
    DeleteGroups => delete_groups,
    OffsetDelete => offset_delete,
    ConsumerGroupHeartbeat => consumer_group_heartbeat,
    ConsumerGroupDescribe => consumer_group_describe,
    InitProducerId => init_producer_id,
    AddPartitionsToTxn => add_partitions_to_txn,
    AddOffsetsToTxn => add_offsets_to_txn,
    EndTxn => end_txn,
    TxnOffsetCommit => txn_offset_commit,
    WriteTxnMarkers => write_txn_markers,
    DescribeProducers => describe_producers,
    DescribeTransactions => describe_transactions,
    ListTransactions => list_transactions,
    DescribeUserScramCredentials => describe_user_scram_credentials,
    AlterUserScramCredentials => alter_user_scram_credentials,
    DescribeClientQuotas => describe_client_quotas,
    AlterClientQuotas => alter_client_quotas,
}

/// Serves one request. A version outside what the handler declares closes the
/// connection, as Kafka does, except for ApiVersions, which answers
/// UNSUPPORTED_VERSION in its v0 layout so the client can pick a version it has.
pub async fn handle(
    shard: Rc<Shard>,
    peer: Rc<Peer>,
    request: Request,
    times: Rc<HandlerTimes>,
    turn: Option<Turn>,
) -> Response {
    times.started();
    let response = handle_request(shard, peer, request, Rc::clone(&times), turn).await;
    times.finished();
    response
}

async fn handle_request(
    shard: Rc<Shard>,
    peer: Rc<Peer>,
    request: Request,
    times: Rc<HandlerTimes>,
    turn: Option<Turn>,
) -> Response {
    let Request {
        api_key,
        version,
        header,
        body,
    } = request;
    let ctx = Ctx {
        shard,
        api_key,
        version,
        correlation_id: header.correlation_id,
        client_id: header
            .client_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        peer,
        times,
        turn,
    };
    let Some(range) = versions(api_key) else {
        return Response::Close;
    };
    if !range.contains(&version) {
        if api_key == ApiKey::ApiVersions {
            return api_versions::unsupported(ctx);
        }
        tracing::debug!(api = ?api_key, version, "unsupported request version");
        return Response::Close;
    }
    // With a request quota on the client, its time on the shard counts against it.
    match ctx.request_quota() {
        None => dispatch(ctx, body).await,
        Some(quota) => {
            let (times, api) = (Rc::clone(&ctx.times), (ctx.api_key, ctx.version));
            let (response, busy) = throttle::timed(dispatch(ctx, body)).await;
            let wait = quota.count(busy, &times);
            throttle::told(response, api, wait)
        }
    }
}

/// Gathers runs of items with the same key (a topic) into one entry each, in order:
/// the shape of every per-topic list in a response.
pub fn group_by_topic<K: PartialEq, P, T>(
    items: impl IntoIterator<Item = (K, P)>,
    make: impl Fn(K, Vec<P>) -> T,
) -> Vec<T> {
    let mut groups: Vec<(K, Vec<P>)> = Vec::new();
    for (key, item) in items {
        match groups.last_mut() {
            Some((last, list)) if *last == key => list.push(item),
            _ => groups.push((key, vec![item])),
        }
    }
    groups
        .into_iter()
        .map(|(key, list)| make(key, list))
        .collect()
}

pub fn topic_name(name: &str) -> kafka_protocol::messages::TopicName {
    kafka_protocol::protocol::StrBytes::from_string(name.to_string()).into()
}

/// Runs `work` over a batch of `items` on shard 0, where the controller lives, and
/// answers one result per item: each fails alike if that shard is gone.
pub async fn on_controller<I, T, F, Fut>(
    shard: &Rc<Shard>,
    items: Vec<I>,
    work: F,
) -> Vec<Result<T, crate::error::ApiError>>
where
    I: Send + 'static,
    T: Send + 'static,
    F: FnOnce(Rc<Shard>, Vec<I>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<Result<T, crate::error::ApiError>>> + 'static,
{
    let count = items.len();
    shard
        .invoke_on(crate::cluster::ShardId(0), move |s| work(s, items))
        .await
        .unwrap_or_else(|gone| (0..count).map(|_| Err(gone.into())).collect())
}

/// Runs `work` on shard 0, where the controller lives, for a request it answers whole:
/// a gone shard fails the request as `work`'s own error would.
pub async fn on_controller_whole<T, F, Fut>(
    shard: &Rc<Shard>,
    work: F,
) -> Result<T, crate::error::ApiError>
where
    T: Send + 'static,
    F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, crate::error::ApiError>> + 'static,
{
    shard
        .invoke_on(crate::cluster::ShardId(0), work)
        .await
        .map_err(crate::error::ApiError::from)
        .and_then(|result| result)
}

/// Kafka's answer to a topic named twice in one CreateTopics or CreatePartitions: no
/// copy is acted on, and the name is answered once, with INVALID_REQUEST. Returns each
/// name once, in the order first given, and the names given twice.
pub fn once_each<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> (Vec<String>, std::collections::HashSet<String>) {
    let mut once = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut twice = std::collections::HashSet::new();
    for name in names {
        if seen.insert(name) {
            once.push(name.to_string());
        } else {
            twice.insert(name.to_string());
        }
    }
    (once, twice)
}

/// The refusal of a topic named twice (see `once_each`; DeleteTopics too).
pub fn named_twice() -> crate::error::ApiError {
    crate::error::ApiError::new(
        kafka_protocol::error::ResponseError::InvalidRequest,
        "Duplicate topic name.",
    )
}
