//! DescribeGroups: state, protocol and members of each group, from the shard that
//! coordinates it. An unknown group is "Dead" (v6+: GROUP_ID_NOT_FOUND), as in Kafka.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::groups::{home_of_any_id, str_bytes};
use super::{Ctx, Response};
use crate::acl::{Operation, ResourceType};
use crate::group::coordinator::Description;

pub const VERSIONS: RangeInclusive<i16> = 0..=6;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeGroupsRequest>(body) else {
        return Response::Close;
    };
    let mut groups = Vec::with_capacity(request.groups.len());
    for group_id in request.groups {
        let group_id = group_id.to_string();
        let described = describe(&ctx, group_id.clone()).await;
        let operations = ctx.authorized_operations(
            &ctx.shard.snapshot(),
            request.include_authorized_operations && described.is_ok(),
            ResourceType::Group,
            &group_id,
        );
        let group = described_group(group_id, described, ctx.version);
        groups.push(group.with_authorized_operations(operations));
    }
    ctx.respond(&DescribeGroupsResponse::default().with_groups(groups))
}

async fn describe(
    ctx: &Ctx,
    group_id: String,
) -> Result<Result<Description, String>, ResponseError> {
    let home = home_of_any_id(ctx, Operation::Describe, &group_id).await?;
    // Cross-shard: the group lives on the shard owning its offsets partition.
    ctx.shard
        .invoke_on(
            home.shard,
            move |s| async move { s.groups.describe(&group_id) },
        )
        .await
        .map_err(|_| ResponseError::NotCoordinator)
}

fn described_group(
    group_id: String,
    described: Result<Result<Description, String>, ResponseError>,
    version: i16,
) -> DescribedGroup {
    let group = DescribedGroup::default().with_group_id(str_bytes(group_id.clone()).into());
    let description = match described {
        Err(error) => return group.with_error_code(error.code()),
        Ok(Ok(description)) => description,
        Ok(Err(why)) if version >= 6 => {
            return group
                .with_error_code(ResponseError::GroupIdNotFound.code())
                .with_error_message(Some(str_bytes(why)))
                .with_group_state(str_bytes("Dead"));
        }
        Ok(Err(_)) => Description {
            state: "Dead",
            ..Description::default()
        },
    };
    let members = description
        .members
        .into_iter()
        .map(|m| {
            DescribedGroupMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(if version >= 4 {
                    m.instance_id.map(str_bytes)
                } else {
                    None
                })
                .with_client_id(str_bytes(m.client_id))
                .with_client_host(str_bytes(m.client_host))
                .with_member_metadata(m.metadata)
                .with_member_assignment(m.assignment)
        })
        .collect();
    group
        .with_group_state(str_bytes(description.state))
        .with_protocol_type(str_bytes(description.protocol_type))
        .with_protocol_data(str_bytes(description.protocol))
        .with_members(members)
}
