//! The ACL requests the tools make: CreateAcls, DescribeAcls and DeleteAcls, sent to the
//! controller at the version the broker negotiated, with the ACL types of `crate::acl`.

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};
use kafka_protocol::protocol::StrBytes;

use super::cluster::Cluster;
use super::error::{Error, Result};
use super::str_bytes;
use crate::acl::{AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType};

/// Creates `acls`; the first refusal is the error, naming its ACL.
pub fn create_acls(cluster: &mut Cluster, acls: &[AclBinding]) -> Result<()> {
    let broker = cluster.controller()?;
    let version = broker.version::<CreateAclsRequest>()?;
    let creations = acls
        .iter()
        .map(|acl| {
            AclCreation::default()
                .with_resource_type(acl.resource_type.code())
                .with_resource_name(str_bytes(&acl.resource_name))
                .with_resource_pattern_type(acl.pattern_type.code())
                .with_principal(str_bytes(&acl.principal))
                .with_host(str_bytes(&acl.host))
                .with_operation(acl.operation.code())
                .with_permission_type(acl.permission.code())
        })
        .collect();
    let response = broker.call(
        version,
        &CreateAclsRequest::default().with_creations(creations),
    )?;
    if response.results.len() != acls.len() {
        return Err(Error::Invalid(format!(
            "{}: CreateAcls answered {} results for {} ACLs",
            broker.address(),
            response.results.len(),
            acls.len()
        )));
    }
    for (acl, result) in acls.iter().zip(&response.results) {
        Error::check(result.error_code, result.error_message.as_deref(), || {
            format!("cannot create ACL {}", entry(acl))
        })?;
    }
    Ok(())
}

/// The ACLs `filter` matches.
pub fn describe_acls(cluster: &mut Cluster, filter: &AclFilter) -> Result<Vec<AclBinding>> {
    let broker = cluster.controller()?;
    let version = broker.version::<DescribeAclsRequest>()?;
    let request = DescribeAclsRequest::default()
        .with_resource_type_filter(filter.resource_type.code())
        .with_resource_name_filter(optional(&filter.resource_name))
        .with_pattern_type_filter(filter.pattern_type.code())
        .with_principal_filter(optional(&filter.principal))
        .with_host_filter(optional(&filter.host))
        .with_operation(filter.operation.code())
        .with_permission_type(filter.permission.code());
    let response = broker.call(version, &request)?;
    Error::check(
        response.error_code,
        response.error_message.as_deref(),
        || "cannot list ACLs".to_string(),
    )?;
    let mut acls = Vec::new();
    for resource in &response.resources {
        for acl in &resource.acls {
            acls.push(AclBinding {
                resource_type: ResourceType::from_code(resource.resource_type),
                resource_name: resource.resource_name.to_string(),
                pattern_type: PatternType::from_code(resource.pattern_type),
                principal: acl.principal.to_string(),
                host: acl.host.to_string(),
                operation: Operation::from_code(acl.operation),
                permission: Permission::from_code(acl.permission_type),
            });
        }
    }
    Ok(acls)
}

/// Removes every ACL each filter matches; answers the ACLs removed.
pub fn delete_acls(cluster: &mut Cluster, filters: &[AclFilter]) -> Result<Vec<AclBinding>> {
    let broker = cluster.controller()?;
    let version = broker.version::<DeleteAclsRequest>()?;
    let wire = filters
        .iter()
        .map(|filter| {
            DeleteAclsFilter::default()
                .with_resource_type_filter(filter.resource_type.code())
                .with_resource_name_filter(optional(&filter.resource_name))
                .with_pattern_type_filter(filter.pattern_type.code())
                .with_principal_filter(optional(&filter.principal))
                .with_host_filter(optional(&filter.host))
                .with_operation(filter.operation.code())
                .with_permission_type(filter.permission.code())
        })
        .collect();
    let response = broker.call(version, &DeleteAclsRequest::default().with_filters(wire))?;
    let mut removed = Vec::new();
    for result in &response.filter_results {
        Error::check(result.error_code, result.error_message.as_deref(), || {
            "cannot remove ACLs".to_string()
        })?;
        for acl in &result.matching_acls {
            removed.push(AclBinding {
                resource_type: ResourceType::from_code(acl.resource_type),
                resource_name: acl.resource_name.to_string(),
                pattern_type: PatternType::from_code(acl.pattern_type),
                principal: acl.principal.to_string(),
                host: acl.host.to_string(),
                operation: Operation::from_code(acl.operation),
                permission: Permission::from_code(acl.permission_type),
            });
        }
    }
    Ok(removed)
}

fn optional(value: &Option<String>) -> Option<StrBytes> {
    value.as_deref().map(str_bytes)
}

/// An ACL's entry as Kafka prints it: `(principal=User:a, host=*, operation=READ, permissionType=ALLOW)`.
pub fn entry(acl: &AclBinding) -> String {
    format!(
        "(principal={}, host={}, operation={}, permissionType={})",
        acl.principal, acl.host, acl.operation, acl.permission
    )
}

/// A resource pattern as Kafka prints it.
pub fn pattern(
    resource_type: ResourceType,
    name: Option<&str>,
    pattern_type: PatternType,
) -> String {
    format!(
        "ResourcePattern(resourceType={resource_type}, name={}, patternType={pattern_type})",
        name.unwrap_or("<any>")
    )
}
