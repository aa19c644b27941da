//! RemoveRaftVoter (KIP-853): a voter of a dynamic metadata quorum made an observer
//! (`add_raft_voter` has the rules of both).

use std::ops::RangeInclusive;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{RemoveRaftVoterRequest, RemoveRaftVoterResponse};
use kafka_protocol::protocol::StrBytes;

use super::add_raft_voter::change_voter;
use super::{Ctx, Response};

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

/// How long the removal waits for its commit (the request names no time).
const TIMEOUT: Duration = Duration::from_secs(30);

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<RemoveRaftVoterRequest>(body) else {
        return Response::Close;
    };
    let voter = (false, request.voter_id, request.voter_directory_id);
    let cluster_id = request.cluster_id.as_ref();
    let (error, message) = change_voter(&ctx, cluster_id, voter, Vec::new(), TIMEOUT).await;
    ctx.respond(
        &RemoveRaftVoterResponse::default()
            .with_error_code(error.map_or(0, |e| e.code()))
            .with_error_message(message.map(StrBytes::from_string)),
    )
}
