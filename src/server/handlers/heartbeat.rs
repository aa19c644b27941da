//! Heartbeat (classic protocol): keeps a member's session alive and tells it when a
//! rebalance has started.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::groups::{home_of, opt_str};
use super::{Ctx, Response};
use crate::acl::Operation;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<HeartbeatRequest>(body) else {
        return Response::Close;
    };
    let group_id = request.group_id.to_string();
    let result = match home_of(&ctx, Operation::Read, &group_id).await {
        Err(error) => Err(error),
        Ok(home) => {
            let member_id = request.member_id.to_string();
            let instance_id = opt_str(request.group_instance_id);
            let generation = request.generation_id;
            // Cross-shard: the group lives on the shard owning its offsets partition.
            ctx.shard
                .invoke_on(home.shard, move |s| async move {
                    s.groups.heartbeat(
                        &s,
                        &group_id,
                        &member_id,
                        instance_id.as_deref(),
                        generation,
                    )
                })
                .await
                .unwrap_or(Err(ResponseError::NotCoordinator))
        }
    };
    let error = result.err();
    ctx.respond(&HeartbeatResponse::default().with_error_code(super::groups::code(error)))
}
