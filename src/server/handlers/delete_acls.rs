//! DeleteAcls: the caller needs ALTER on the cluster; without an authorizer every
//! filter is answered SECURITY_DISABLED, as Kafka does. Every ACL any filter matches is
//! removed in one controller change, and each filter's result lists the ACLs it matched;
//! past Kafka's bound of removals per request, none is removed and every filter fails.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::describe_acls::filter;
use super::{on_controller_whole, Ctx, Response};
use crate::acl::{AclBinding, AclFilter, Operation};
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 1..=3;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DeleteAclsRequest>(body) else {
        return Response::Close;
    };
    let filters: Vec<AclFilter> = request
        .filters
        .iter()
        .map(|f| {
            filter(
                [
                    f.resource_type_filter,
                    f.pattern_type_filter,
                    f.operation,
                    f.permission_type,
                ],
                &f.resource_name_filter,
                &f.principal_filter,
                &f.host_filter,
            )
        })
        .collect();
    // Kafka refuses a request with an unknown code while parsing it.
    if filters.iter().any(AclFilter::has_unknown) {
        tracing::debug!("DeleteAcls with an unknown code");
        return Response::Close;
    }
    let count = filters.len();
    let outcome = if !ctx.allowed_on_cluster(Operation::Alter) {
        Err(ApiError::code(ResponseError::ClusterAuthorizationFailed))
    } else if !ctx.shard.snapshot().broker.authorizer_enabled() {
        Err(ApiError::new(
            ResponseError::SecurityDisabled,
            "No Authorizer is configured.",
        ))
    } else if filters.is_empty() {
        Ok(Vec::new())
    } else {
        // ACLs are cluster metadata, changed by the controller.
        on_controller_whole(&ctx.shard, move |s| async move {
            s.controller().delete_acls(&s, filters).await
        })
        .await
    };
    let results = match outcome {
        Ok(removed) => removed.iter().map(|acls| matched(acls)).collect(),
        Err(error) => {
            let failed = DeleteAclsFilterResult::default()
                .with_error_message(None)
                .with_error_code(error.wire_code())
                .with_error_message(error.message.map(StrBytes::from_string));
            vec![failed; count]
        }
    };
    ctx.respond(&DeleteAclsResponse::default().with_filter_results(results))
}

fn matched(acls: &[AclBinding]) -> DeleteAclsFilterResult {
    let acls = acls
        .iter()
        .map(|acl| {
            DeleteAclsMatchingAcl::default()
                .with_error_message(None)
                .with_resource_type(acl.resource_type.code())
                .with_resource_name(StrBytes::from_string(acl.resource_name.clone()))
                .with_pattern_type(acl.pattern_type.code())
                .with_principal(StrBytes::from_string(acl.principal.clone()))
                .with_host(StrBytes::from_string(acl.host.clone()))
                .with_operation(acl.operation.code())
                .with_permission_type(acl.permission.code())
        })
        .collect();
    DeleteAclsFilterResult::default()
        .with_error_message(None)
        .with_matching_acls(acls)
}
