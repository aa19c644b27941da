//! DescribeAcls: the caller needs DESCRIBE on the cluster; without an authorizer the
//! answer is SECURITY_DISABLED, as Kafka's. The ACLs the filter matches come back
//! grouped by resource pattern.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};
use crate::acl::{AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType};

pub const VERSIONS: RangeInclusive<i16> = 1..=3;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeAclsRequest>(body) else {
        return Response::Close;
    };
    let filter = filter(
        [
            request.resource_type_filter,
            request.pattern_type_filter,
            request.operation,
            request.permission_type,
        ],
        &request.resource_name_filter,
        &request.principal_filter,
        &request.host_filter,
    );
    // Kafka refuses a request with an unknown code while parsing it.
    if filter.has_unknown() {
        tracing::debug!("DescribeAcls with an unknown code");
        return Response::Close;
    }
    let snapshot = ctx.shard.snapshot();
    let response = DescribeAclsResponse::default().with_error_message(None);
    let response = if !ctx.allowed_on_cluster(Operation::Describe) {
        response.with_error_code(ResponseError::ClusterAuthorizationFailed.code())
    } else if !snapshot.broker.authorizer_enabled() {
        response
            .with_error_code(ResponseError::SecurityDisabled.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "No Authorizer is configured on the broker",
            )))
    } else {
        let matching = snapshot.state.acls.iter().filter(|acl| filter.matches(acl));
        response.with_resources(by_resource(matching))
    };
    ctx.respond(&response)
}

/// A filter from a request's fields: codes (resource type, pattern type, operation,
/// permission), then the name, principal and host (null: any).
pub fn filter(
    [resource_type, pattern_type, operation, permission]: [i8; 4],
    name: &Option<StrBytes>,
    principal: &Option<StrBytes>,
    host: &Option<StrBytes>,
) -> AclFilter {
    AclFilter {
        resource_type: ResourceType::from_code(resource_type),
        resource_name: name.as_ref().map(ToString::to_string),
        pattern_type: PatternType::from_code(pattern_type),
        principal: principal.as_ref().map(ToString::to_string),
        host: host.as_ref().map(ToString::to_string),
        operation: Operation::from_code(operation),
        permission: Permission::from_code(permission),
    }
}

/// ACLs grouped by resource pattern, in the order each pattern first appears.
fn by_resource<'a>(acls: impl Iterator<Item = &'a AclBinding>) -> Vec<DescribeAclsResource> {
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for acl in acls {
        let description = AclDescription::default()
            .with_principal(StrBytes::from_string(acl.principal.clone()))
            .with_host(StrBytes::from_string(acl.host.clone()))
            .with_operation(acl.operation.code())
            .with_permission_type(acl.permission.code());
        let same = |r: &&mut DescribeAclsResource| {
            r.resource_type == acl.resource_type.code()
                && r.pattern_type == acl.pattern_type.code()
                && r.resource_name.as_str() == acl.resource_name
        };
        match resources.iter_mut().find(same) {
            Some(resource) => resource.acls.push(description),
            None => resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(acl.resource_type.code())
                    .with_resource_name(StrBytes::from_string(acl.resource_name.clone()))
                    .with_pattern_type(acl.pattern_type.code())
                    .with_acls(vec![description]),
            ),
        }
    }
    resources
}
