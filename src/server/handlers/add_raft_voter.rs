//! AddRaftVoter and RemoveRaftVoter (KIP-853): a controller of a dynamic metadata quorum
//! made a voter, or a voter made an observer, for `shoal metadata-quorum
//! add-controller|remove-controller` and Kafka's kafka-metadata-quorum.sh.
//!
//! Kafka's brokers forward these to the active controller; here the node's quorum member
//! proposes the change, which a follower forwards to the leader through Raft, and the
//! answer waits until the change is committed and applied on this node.

use std::ops::RangeInclusive;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{AddRaftVoterRequest, AddRaftVoterResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};
use crate::acl::Operation;
use crate::cluster::image::Endpoint;
use crate::cluster::ShardId;

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

/// How long a change waits for its commit when the request asks for no time.
const TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<AddRaftVoterRequest>(body) else {
        return Response::Close;
    };
    let timeout = u64::try_from(request.timeout_ms)
        .ok()
        .filter(|ms| *ms > 0)
        .map_or(TIMEOUT_DEFAULT, Duration::from_millis);
    let listeners = request
        .listeners
        .iter()
        .map(|l| Endpoint {
            name: l.name.to_string(),
            host: l.host.to_string(),
            port: l.port,
        })
        .collect();
    let (error, message) = change_voter(
        &ctx,
        request.cluster_id.as_ref(),
        (true, request.voter_id, request.voter_directory_id),
        listeners,
        timeout,
    )
    .await;
    ctx.respond(
        &AddRaftVoterResponse::default()
            .with_error_code(error.map_or(0, |e| e.code()))
            .with_error_message(message.map(StrBytes::from_string)),
    )
}

/// Checks the caller and the cluster, then has the quorum member on shard 0 make the
/// change: the error and its message, none on success.
/// `voter`: whether it is added, its node and its directory id.
pub(super) async fn change_voter(
    ctx: &Ctx,
    cluster_id: Option<&StrBytes>,
    voter: (bool, i32, uuid::Uuid),
    listeners: Vec<Endpoint>,
    timeout: Duration,
) -> (Option<ResponseError>, Option<String>) {
    let (add, node, directory_id) = voter;
    if !ctx.allowed_on_cluster(Operation::Alter) {
        return (Some(ResponseError::ClusterAuthorizationFailed), None);
    }
    let ours = ctx.shard.snapshot().cluster_id().to_string();
    // Null: the caller did not say (an empty id is a wrong one, as Kafka takes it).
    if let Some(theirs) = cluster_id.filter(|id| id.as_str() != ours) {
        let message = format!("cluster id {theirs} is not this cluster's ({ours})");
        return (Some(ResponseError::InconsistentClusterId), Some(message));
    }
    // The request's own checks, before any quorum (a cluster of one too) is asked.
    let invalid = |message: String| (Some(ResponseError::InvalidRequest), Some(message));
    if node < 0 || directory_id.is_nil() {
        return invalid(format!(
            "node {node} with directory id {directory_id} is no voter's"
        ));
    }
    if add && listeners.is_empty() {
        return invalid(format!(
            "the request names no listener of controller {node}"
        ));
    }
    // The quorum member lives with the controller on shard 0.
    let changed = ctx
        .shard
        .invoke_on(ShardId(0), move |s| async move {
            s.controller()
                .change_voter(add, node, directory_id, &listeners, timeout)
                .await
        })
        .await;
    match changed {
        Ok(Ok(())) => (None, None),
        Ok(Err((error, message))) => (Some(error), Some(message)),
        Err(_) => (
            Some(ResponseError::UnknownServerError),
            Some("the controller's shard did not answer".to_string()),
        ),
    }
}
