//! CreateAcls: the caller needs ALTER on the cluster; without an authorizer every
//! creation is answered SECURITY_DISABLED, as Kafka does. Each ACL is validated on its
//! own (INVALID_REQUEST names what is wrong) and the valid ones are added by the
//! controller in one change, or, past Kafka's bound of new ACLs per request, none.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{on_controller_whole, Ctx, Response};
use crate::acl::{AclBinding, Operation, PatternType, Permission, ResourceType};
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 1..=3;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<CreateAclsRequest>(body) else {
        return Response::Close;
    };
    let bindings: Vec<AclBinding> = request.creations.iter().map(binding).collect();
    // Kafka refuses a request with an unknown code while parsing it.
    if bindings.iter().any(AclBinding::has_unknown) {
        tracing::debug!("CreateAcls with an unknown code");
        return Response::Close;
    }
    let results = if !ctx.allowed_on_cluster(Operation::Alter) {
        let refused = ApiError::code(ResponseError::ClusterAuthorizationFailed);
        bindings.iter().map(|_| Err(refused.clone())).collect()
    } else if !ctx.shard.snapshot().broker.authorizer_enabled() {
        let disabled = ApiError::new(
            ResponseError::SecurityDisabled,
            "No Authorizer is configured.",
        );
        bindings.iter().map(|_| Err(disabled.clone())).collect()
    } else {
        create(&ctx, bindings).await
    };
    let results = results
        .into_iter()
        .map(|result| match result {
            Ok(()) => AclCreationResult::default().with_error_message(None),
            Err(error) => AclCreationResult::default()
                .with_error_message(None)
                .with_error_code(error.wire_code())
                .with_error_message(error.message.map(StrBytes::from_string)),
        })
        .collect();
    ctx.respond(&CreateAclsResponse::default().with_results(results))
}

/// Validates each binding and has the controller add the valid ones. A request the
/// controller refuses whole (too many new ACLs) answers every binding with its error.
async fn create(ctx: &Ctx, bindings: Vec<AclBinding>) -> Vec<Result<(), ApiError>> {
    let valid: Vec<AclBinding> = bindings
        .iter()
        .filter(|binding| binding.validate().is_ok())
        .cloned()
        .collect();
    let added = if valid.is_empty() {
        Ok(Vec::new())
    } else {
        // ACLs are cluster metadata, changed by the controller.
        on_controller_whole(&ctx.shard, move |s| async move {
            s.controller().create_acls(&s, valid).await
        })
        .await
    };
    let mut added = match added {
        Ok(added) => added.into_iter(),
        Err(whole) => return bindings.iter().map(|_| Err(whole.clone())).collect(),
    };
    bindings
        .iter()
        .map(|binding| match binding.validate() {
            Err(why) => Err(ApiError::new(ResponseError::InvalidRequest, why.0)),
            Ok(()) => added
                .next()
                .unwrap_or_else(|| Err(ApiError::code(ResponseError::UnknownServerError))),
        })
        .collect()
}

fn binding(creation: &AclCreation) -> AclBinding {
    AclBinding {
        resource_type: ResourceType::from_code(creation.resource_type),
        resource_name: creation.resource_name.to_string(),
        pattern_type: PatternType::from_code(creation.resource_pattern_type),
        principal: creation.principal.to_string(),
        host: creation.host.to_string(),
        operation: Operation::from_code(creation.operation),
        permission: Permission::from_code(creation.permission_type),
    }
}
