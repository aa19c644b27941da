//! ListGroups: every group this broker coordinates, gathered from every shard.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ListGroupsRequest, ListGroupsResponse};

use super::groups::str_bytes;
use super::{Ctx, Response};
use crate::acl::{Operation, ResourceType};

pub const VERSIONS: RangeInclusive<i16> = 0..=5;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<ListGroupsRequest>(body) else {
        return Response::Close;
    };
    // Filters match case-insensitively, as Kafka's do.
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    let types: Vec<String> = request
        .types_filter
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    // Cross-shard: each shard lists the groups it coordinates, unless it is still
    // reading some back (COORDINATOR_LOAD_IN_PROGRESS, as Kafka answers).
    let listed = ctx
        .shard
        .invoke_on_all(|s| async move {
            match s.coordinator_loading_any(crate::group::OFFSETS_TOPIC) {
                true => Err(ResponseError::CoordinatorLoadInProgress),
                false => Ok(s.groups.list()),
            }
        })
        .await
        .map_err(|_| ResponseError::CoordinatorNotAvailable)
        .and_then(|per_shard| per_shard.into_iter().collect::<Result<Vec<_>, _>>());
    let per_shard = match listed {
        Ok(per_shard) => per_shard,
        Err(error) => {
            let response = ListGroupsResponse::default().with_error_code(error.code());
            return ctx.respond(&response);
        }
    };
    // Kafka lists every group to who may describe the cluster, else those it may describe.
    let all = ctx.allowed_on_cluster(Operation::Describe);
    let snapshot = ctx.shard.snapshot();
    let groups = per_shard
        .into_iter()
        .flatten()
        .filter(|g| {
            all || ctx.allowed_in(
                &snapshot,
                Operation::Describe,
                ResourceType::Group,
                &g.group_id,
            )
        })
        .filter(|g| states.is_empty() || states.contains(&g.state.to_lowercase()))
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(str_bytes(g.group_id).into())
                .with_protocol_type(str_bytes(g.protocol_type))
                .with_group_state(str_bytes(g.state))
                .with_group_type(str_bytes(g.group_type))
        })
        .collect();
    ctx.respond(&ListGroupsResponse::default().with_groups(groups))
}
