//! SyncGroup (classic protocol): the leader hands in every member's assignment; each
//! member's request parks on the coordinating shard until that happens.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::groups::{code, home_of, opt_str, str_bytes};
use super::{Ctx, Response};
use crate::acl::Operation;
use crate::group::classic::SyncReply;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<SyncGroupRequest>(body) else {
        return Response::Close;
    };
    let group_id = request.group_id.to_string();
    let reply = match home_of(&ctx, Operation::Read, &group_id).await {
        Err(error) => SyncReply::error(error),
        Ok(home) => {
            let member_id = request.member_id.to_string();
            let instance_id = opt_str(request.group_instance_id);
            let protocol_type = opt_str(request.protocol_type);
            let protocol_name = opt_str(request.protocol_name);
            let assignments: Vec<(String, Bytes)> = request
                .assignments
                .into_iter()
                .map(|a| (a.member_id.to_string(), a.assignment))
                .collect();
            let generation = request.generation_id;
            // Cross-shard: the group lives on the shard owning its offsets partition. The
            // wait is remote time, as in Kafka's purgatory: the rebalance decides when.
            ctx.times
                .remote(ctx.shard.invoke_on(home.shard, move |s| async move {
                    s.groups
                        .sync(
                            &s,
                            &group_id,
                            &member_id,
                            instance_id.as_deref(),
                            generation,
                            (protocol_type.as_deref(), protocol_name.as_deref()),
                            assignments,
                        )
                        .await
                }))
                .await
                .unwrap_or_else(|_| SyncReply::error(ResponseError::NotCoordinator))
        }
    };
    let mut response = SyncGroupResponse::default()
        .with_error_code(code(reply.error))
        .with_assignment(reply.assignment);
    if ctx.version >= 5 {
        response = response
            .with_protocol_type(reply.protocol_type.map(str_bytes))
            .with_protocol_name(reply.protocol_name.map(str_bytes));
    }
    ctx.respond(&response)
}
