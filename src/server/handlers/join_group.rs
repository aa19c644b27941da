//! JoinGroup (classic protocol): the request parks on the coordinating shard until the
//! rebalance it joins completes, then carries back the generation, the chosen
//! protocol and, for the leader, every member's subscription.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::groups::{home_of, opt_str, str_bytes};
use super::{Ctx, Response};
use crate::acl::Operation;
use crate::group::classic::{JoinArgs, JoinReply};

pub const VERSIONS: RangeInclusive<i16> = 0..=9;

/// Protocols one member may offer, at most.
const PROTOCOLS_MAX: usize = 64;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<JoinGroupRequest>(body) else {
        return Response::Close;
    };
    let group_id = request.group_id.to_string();
    let member_id = request.member_id.to_string();
    let reply = match home_of(&ctx, Operation::Read, &group_id).await {
        Err(error) => JoinReply::error(error, &member_id),
        Ok(_) if request.protocols.len() > PROTOCOLS_MAX => {
            JoinReply::error(ResponseError::InconsistentGroupProtocol, &member_id)
        }
        Ok(home) => {
            let client_id = ctx.client_id.clone();
            let args = JoinArgs {
                new_member_id: format!("{client_id}-{}", uuid::Uuid::new_v4()),
                member_id,
                instance_id: opt_str(request.group_instance_id),
                client_id,
                client_host: ctx.peer.host.clone(),
                session_timeout_ms: request.session_timeout_ms.into(),
                // v0 has no rebalance timeout: the session timeout serves for both.
                rebalance_timeout_ms: if ctx.version >= 1 {
                    request.rebalance_timeout_ms
                } else {
                    request.session_timeout_ms
                }
                .into(),
                protocol_type: request.protocol_type.to_string(),
                protocols: request
                    .protocols
                    .into_iter()
                    .map(|p| (p.name.to_string(), p.metadata))
                    .collect(),
                require_known_member_id: ctx.version >= 4,
            };
            // Cross-shard: the group lives on the shard owning its offsets partition. The
            // wait is remote time, as in Kafka's purgatory: the rebalance decides when.
            ctx.times
                .remote(ctx.shard.invoke_on(home.shard, move |s| async move {
                    s.groups.join(&s, &group_id, home.partition, args).await
                }))
                .await
                .unwrap_or_else(|_| JoinReply::error(ResponseError::NotCoordinator, ""))
        }
    };
    ctx.respond(&response(reply, ctx.version))
}

fn response(reply: JoinReply, version: i16) -> JoinGroupResponse {
    let members = reply
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(m.id))
                .with_group_instance_id(if version >= 5 {
                    m.instance_id.map(str_bytes)
                } else {
                    None
                })
                .with_metadata(m.metadata)
        })
        .collect();
    let response = JoinGroupResponse::default()
        .with_error_code(super::groups::code(reply.error))
        .with_generation_id(reply.generation)
        .with_leader(str_bytes(reply.leader))
        .with_member_id(str_bytes(reply.member_id))
        .with_members(members);
    if version >= 7 {
        response
            .with_protocol_type(reply.protocol_type.map(str_bytes))
            .with_protocol_name(reply.protocol_name.map(str_bytes))
    } else {
        // Before v7 the protocol name is a non-null string.
        response.with_protocol_name(Some(str_bytes(reply.protocol_name.unwrap_or_default())))
    }
}
