//! The decision Kafka's StandardAuthorizer makes, without I/O: may `principal` from
//! `host` perform `operation` on a resource?
//!
//! Rules, in order:
//! 1. A super user may do anything.
//! 2. The ACLs that apply to the resource are the LITERAL one with its exact name,
//!    the LITERAL `*` one of its type, and every PREFIXED one whose name starts it.
//! 3. Of those, an ACL matches when its principal is the caller's or `User:*`, its host
//!    the caller's or `*`, and its operation the one asked, or ALL; an ALLOW ACL also
//!    matches DESCRIBE when it grants READ, WRITE, DELETE or ALTER, and DESCRIBE_CONFIGS
//!    when it grants ALTER_CONFIGS (a DENY ACL denies only what it names).
//! 4. A matching DENY denies; else a matching ALLOW allows; else, when no ACL at all
//!    applies to the resource, `allow.everyone.if.no.acl.found` decides; else denied.

use std::collections::HashMap;

use super::{
    AclBinding, Operation, PatternType, Permission, ResourceType, WILDCARD_HOST,
    WILDCARD_PRINCIPAL, WILDCARD_RESOURCE,
};

/// Who an ACL names and what it grants or refuses, once its resource matched.
#[derive(Debug, Clone)]
struct Entry {
    principal: String,
    host: String,
    operation: Operation,
    permission: Permission,
}

/// The ACLs of one resource type, indexed for lookups by resource name.
#[derive(Debug, Clone, Default)]
struct TypeAcls {
    literal: HashMap<String, Vec<Entry>>,
    prefixed: Vec<(String, Entry)>,
}

/// An authorizer over a fixed set of ACLs (each snapshot builds its own).
#[derive(Debug, Clone, Default)]
pub struct Authorizer {
    super_users: Vec<String>,
    allow_everyone_if_no_acl_found: bool,
    by_type: HashMap<ResourceType, TypeAcls>,
}

impl Authorizer {
    pub fn new<'a>(
        super_users: &[String],
        allow_everyone_if_no_acl_found: bool,
        acls: impl IntoIterator<Item = &'a AclBinding>,
    ) -> Authorizer {
        let mut by_type: HashMap<ResourceType, TypeAcls> = HashMap::new();
        for acl in acls {
            let entry = Entry {
                principal: acl.principal.clone(),
                host: acl.host.clone(),
                operation: acl.operation,
                permission: acl.permission,
            };
            let acls = by_type.entry(acl.resource_type).or_default();
            match acl.pattern_type {
                PatternType::Prefixed => acls.prefixed.push((acl.resource_name.clone(), entry)),
                _ => acls
                    .literal
                    .entry(acl.resource_name.clone())
                    .or_default()
                    .push(entry),
            }
        }
        Authorizer {
            super_users: super_users.to_vec(),
            allow_everyone_if_no_acl_found,
            by_type,
        }
    }

    /// Whether `principal` (`Type:name`) connecting from `host` (an IP address) may
    /// perform `operation` on the resource `resource_type`/`name`.
    pub fn authorize(
        &self,
        principal: &str,
        host: &str,
        operation: Operation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.super_users.iter().any(|user| user == principal) {
            return true;
        }
        let Some(acls) = self.by_type.get(&resource_type) else {
            return self.allow_everyone_if_no_acl_found;
        };
        let literal = acls.literal.get(name).into_iter().flatten();
        let wildcard = acls.literal.get(WILDCARD_RESOURCE).into_iter().flatten();
        let wildcard = wildcard.filter(|_| name != WILDCARD_RESOURCE);
        let prefixed = acls
            .prefixed
            .iter()
            .filter(|(prefix, _)| name.starts_with(prefix.as_str()))
            .map(|(_, entry)| entry);
        let mut applies = false;
        let mut allowed = false;
        for entry in literal.chain(wildcard).chain(prefixed) {
            applies = true;
            match decide(entry, principal, host, operation) {
                Some(Permission::Deny) => return false,
                Some(Permission::Allow) => allowed = true,
                _ => {}
            }
        }
        allowed || (!applies && self.allow_everyone_if_no_acl_found)
    }

    /// Whether the caller may perform `operation` on some resource of `resource_type`
    /// (Kafka's `authorizeByResourceType`, KIP-679: how an idempotent producer without
    /// IDEMPOTENT_WRITE is allowed when it may write any topic): some ALLOW matches the
    /// caller that no DENY of the caller covers (a literal DENY of the same name, a
    /// prefixed DENY of a prefix of it, or the `*` DENY).
    pub fn authorize_any(
        &self,
        principal: &str,
        host: &str,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        if self.super_users.iter().any(|user| user == principal) {
            return true;
        }
        let Some(acls) = self.by_type.get(&resource_type) else {
            return self.allow_everyone_if_no_acl_found;
        };
        let mine = |entry: &Entry, permission| {
            decide(entry, principal, host, operation) == Some(permission)
        };
        let literal = acls
            .literal
            .iter()
            .flat_map(|(name, entries)| entries.iter().map(move |e| (name.as_str(), false, e)));
        let prefixed = acls
            .prefixed
            .iter()
            .map(|(name, entry)| (name.as_str(), true, entry));
        let all: Vec<(&str, bool, &Entry)> = literal.chain(prefixed).collect();
        let denied = |name: &str, prefix: bool| {
            all.iter().any(|(deny_name, deny_prefix, entry)| {
                mine(entry, Permission::Deny)
                    && ((*deny_name == WILDCARD_RESOURCE && !deny_prefix)
                        || (*deny_prefix && name.starts_with(deny_name))
                        || (!deny_prefix && !prefix && *deny_name == name))
            })
        };
        all.iter()
            .any(|(name, prefix, entry)| mine(entry, Permission::Allow) && !denied(name, *prefix))
    }

    /// The bit set of `resource_type`'s operations the caller may perform on the
    /// resource (bit `1 << code`), as Metadata and DescribeGroups report it.
    pub fn authorized_operations(
        &self,
        principal: &str,
        host: &str,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        Operation::of(resource_type)
            .iter()
            .filter(|op| self.authorize(principal, host, **op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }
}

/// What one ACL says about the request: `None` when it does not match it.
fn decide(entry: &Entry, principal: &str, host: &str, operation: Operation) -> Option<Permission> {
    if entry.principal != principal && entry.principal != WILDCARD_PRINCIPAL {
        return None;
    }
    if entry.host != host && entry.host != WILDCARD_HOST {
        return None;
    }
    let granted = entry.operation;
    let matches = granted == Operation::All
        || granted == operation
        || (entry.permission == Permission::Allow && implies(granted, operation));
    matches.then_some(entry.permission)
}

/// Whether an ALLOW of `granted` also allows `wanted`.
fn implies(granted: Operation, wanted: Operation) -> bool {
    use Operation::*;
    match wanted {
        Describe => matches!(granted, Read | Write | Delete | Alter),
        DescribeConfigs => granted == AlterConfigs,
        _ => false,
    }
}
