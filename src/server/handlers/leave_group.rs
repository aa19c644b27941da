//! LeaveGroup (classic protocol): members leave at once instead of waiting for their
//! session to expire. v3+ names several members, static ones by instance id.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::groups::{code, home_of, opt_str, str_bytes};
use super::{Ctx, Response};
use crate::acl::Operation;

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<LeaveGroupRequest>(body) else {
        return Response::Close;
    };
    let group_id = request.group_id.to_string();
    let leaving: Vec<(String, Option<String>)> = if ctx.version >= 3 {
        request
            .members
            .into_iter()
            .map(|m| (m.member_id.to_string(), opt_str(m.group_instance_id)))
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    let result = match home_of(&ctx, Operation::Read, &group_id).await {
        Err(error) => Err(error),
        Ok(home) => {
            let members = leaving.clone();
            // Cross-shard: the group lives on the shard owning its offsets partition.
            ctx.shard
                .invoke_on(home.shard, move |s| async move {
                    s.groups.leave(&s, &group_id, &members).await
                })
                .await
                .unwrap_or(Err(ResponseError::NotCoordinator))
        }
    };
    let response = match result {
        Err(error) => LeaveGroupResponse::default().with_error_code(error.code()),
        Ok(results) if ctx.version >= 3 => {
            let members = leaving
                .into_iter()
                .zip(results)
                .map(|((member_id, instance_id), result)| {
                    MemberResponse::default()
                        .with_member_id(str_bytes(member_id))
                        .with_group_instance_id(instance_id.map(str_bytes))
                        .with_error_code(code(result.err()))
                })
                .collect();
            LeaveGroupResponse::default().with_members(members)
        }
        Ok(results) => {
            let error = results.into_iter().find_map(Result::err);
            LeaveGroupResponse::default().with_error_code(code(error))
        }
    };
    ctx.respond(&response)
}
