//! DeleteGroups: an empty group is removed with its committed offsets (tombstones in
//! the offsets topic); a group with members is refused with NON_EMPTY_GROUP. As Kafka:
//! a group named twice is answered once, and the empty id is a group like any other,
//! kept for old clients.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::groups::{home_of_any_id, str_bytes};
use super::{Ctx, Response};
use crate::acl::Operation;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DeleteGroupsRequest>(body) else {
        return Response::Close;
    };
    let mut results = Vec::with_capacity(request.groups_names.len());
    let mut seen = HashSet::new();
    for group_id in request.groups_names {
        let group_id = group_id.to_string();
        if !seen.insert(group_id.clone()) {
            continue;
        }
        let error = delete(&ctx, group_id.clone()).await.err();
        results.push(
            DeletableGroupResult::default()
                .with_group_id(str_bytes(group_id).into())
                .with_error_code(super::groups::code(error)),
        );
    }
    ctx.respond(&DeleteGroupsResponse::default().with_results(results))
}

async fn delete(ctx: &Ctx, group_id: String) -> Result<(), ResponseError> {
    let home = home_of_any_id(ctx, Operation::Delete, &group_id).await?;
    // Cross-shard: the group lives on the shard owning its offsets partition.
    ctx.shard
        .invoke_on(home.shard, move |s| async move {
            s.groups.delete(&s, &group_id).await.map_err(|e| e.code)
        })
        .await
        .unwrap_or(Err(ResponseError::NotCoordinator))
}
