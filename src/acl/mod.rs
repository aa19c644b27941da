//! Access control lists with Kafka's semantics: the wire enums (resource, pattern,
//! operation, permission), an ACL binding, the filters Describe/DeleteAcls take, and
//! the authorizer that decides a request (`authorizer.rs`).
//!
//! Invariants:
//! - A stored `AclBinding` passed `AclBinding::validate`: a concrete resource type,
//!   LITERAL or PREFIXED pattern, a concrete operation and ALLOW or DENY, a non-empty
//!   resource name (`kafka-cluster` for CLUSTER) and a `Type:name` principal.
//! - Wire codes this broker does not know decode to `Unknown`, as in Kafka; Kafka
//!   refuses a request holding one while parsing it (`has_unknown`).
//!
//! Shard: none. Pure data and decisions, no I/O; the bindings live in the cluster
//! state (`cluster::ClusterState::acls`) and every shard's snapshot.

mod authorizer;
#[cfg(test)]
pub(crate) mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use authorizer::Authorizer;

/// The name of the one CLUSTER resource (Kafka's `Resource.CLUSTER_NAME`).
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// A literal resource name matching every resource of its type.
pub const WILDCARD_RESOURCE: &str = "*";
/// The host of an ACL that matches any client address.
pub const WILDCARD_HOST: &str = "*";
/// The principal of an ACL that matches every user.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// The principal of a client that did not authenticate (every PLAINTEXT connection).
pub const ANONYMOUS: &str = "User:ANONYMOUS";
/// Most ACLs the cluster holds: every authorization walks the ones for its resource.
pub const ACLS_MAX: usize = 100_000;
/// Most ACLs one CreateAcls may add, or one DeleteAcls remove (Kafka's controller
/// bounds every request's records so: `MAX_RECORDS_PER_USER_OP`).
pub const ACLS_PER_REQUEST_MAX: usize = 10_000;

/// Defines a Kafka wire enum: its variants with their codes and Kafka's names.
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($variant),* }

        impl $name {
            pub const VALUES: &'static [$name] = &[$($name::$variant),*];

            /// The value of a wire code; a code Kafka does not define is `Unknown`.
            pub fn from_code(code: i8) -> $name {
                match code {
                    $($code => $name::$variant,)*
                    _ => $name::Unknown,
                }
            }

            pub fn code(self) -> i8 {
                match self { $($name::$variant => $code),* }
            }

            /// Kafka's name (`TRANSACTIONAL_ID`, `DESCRIBE_CONFIGS`).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            /// Reads Kafka's name in any case, with or without underscores, so both
            /// `DESCRIBE_CONFIGS` and kafka-acls.sh's `DescribeConfigs` work.
            pub fn parse(text: &str) -> Option<$name> {
                let wanted = squash(text);
                Self::VALUES.iter().copied().find(|v| squash(v.name()) == wanted)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '_')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

wire_enum! {
    /// Kafka's `ResourceType`.
    ResourceType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
        DelegationToken = 6, "DELEGATION_TOKEN";
        User = 7, "USER";
    }
}

wire_enum! {
    /// Kafka's `PatternType`: how an ACL's resource name matches (MATCH and ANY exist
    /// only in filters).
    PatternType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Match = 2, "MATCH";
        Literal = 3, "LITERAL";
        Prefixed = 4, "PREFIXED";
    }
}

wire_enum! {
    /// Kafka's `AclOperation`.
    Operation {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CREATE_TOKENS";
        DescribeTokens = 14, "DESCRIBE_TOKENS";
        TwoPhaseCommit = 15, "TWO_PHASE_COMMIT";
    }
}

wire_enum! {
    /// Kafka's `AclPermissionType`.
    Permission {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
}

impl Operation {
    /// The operations a resource type has, as Kafka lists them in authorized-operations
    /// bit sets (bit `1 << code`).
    pub fn of(resource: ResourceType) -> &'static [Operation] {
        use Operation::*;
        match resource {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write, TwoPhaseCommit],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            ResourceType::Unknown | ResourceType::Any => &[],
        }
    }
}

/// One ACL: who (principal, host) may or may not do what (operation) to which
/// resources (type, name, pattern).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    pub principal: String,
    pub host: String,
    pub operation: Operation,
    pub permission: Permission,
}

/// Why an ACL creation or filter was refused (Kafka's INVALID_REQUEST).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAcl(pub String);

impl AclBinding {
    /// Whether a field holds a code Kafka does not know: Kafka refuses the whole
    /// request while parsing it.
    pub fn has_unknown(&self) -> bool {
        self.resource_type == ResourceType::Unknown
            || self.pattern_type == PatternType::Unknown
            || self.operation == Operation::Unknown
            || self.permission == Permission::Unknown
    }

    /// Kafka's checks on an ACL to create (its broker's and its controller's).
    pub fn validate(&self) -> Result<(), InvalidAcl> {
        let refuse = |why: String| Err(InvalidAcl(why));
        if matches!(
            self.resource_type,
            ResourceType::Unknown | ResourceType::Any
        ) {
            return refuse(format!("Invalid resourceType {}", self.resource_type));
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return refuse(format!("Invalid patternType {}", self.pattern_type));
        }
        if matches!(self.operation, Operation::Unknown | Operation::Any) {
            return refuse(format!("Invalid operation {}", self.operation));
        }
        if !matches!(self.permission, Permission::Allow | Permission::Deny) {
            return refuse(format!("Invalid permissionType {}", self.permission));
        }
        if self.resource_type == ResourceType::Cluster && self.resource_name != CLUSTER_NAME {
            return refuse(format!(
                "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
            ));
        }
        if self.resource_name.is_empty() {
            return refuse("Invalid empty resource name".to_string());
        }
        parse_principal(&self.principal)?;
        Ok(())
    }
}

/// Splits `Type:name` (Kafka's `SecurityUtils.parseKafkaPrincipal`).
pub fn parse_principal(principal: &str) -> Result<(&str, &str), InvalidAcl> {
    principal.split_once(':').ok_or_else(|| {
        InvalidAcl(format!(
            "expected a string in format principalType:principalName but got {principal}"
        ))
    })
}

/// Selects ACLs: `None` and ANY match every value; see `matches` for names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Operation,
    pub permission: Permission,
}

impl AclFilter {
    /// A filter matching every ACL.
    pub fn any() -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: Operation::Any,
            permission: Permission::Any,
        }
    }

    /// Whether a field holds a code Kafka does not know (Kafka refuses the request).
    pub fn has_unknown(&self) -> bool {
        self.resource_type == ResourceType::Unknown
            || self.pattern_type == PatternType::Unknown
            || self.operation == Operation::Unknown
            || self.permission == Permission::Unknown
    }

    /// Kafka's `AclBindingFilter.matches`. The name: with pattern ANY or the ACL's own
    /// pattern type it must equal the ACL's; with MATCH it is a resource name, and the
    /// filter selects every ACL that applies to it (the literal one, the `*` wildcard
    /// and each prefix of it).
    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.matches_resource(acl) && self.matches_entry(acl)
    }

    fn matches_resource(&self, acl: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        let pattern = self.pattern_type;
        if !matches!(pattern, PatternType::Any | PatternType::Match) && pattern != acl.pattern_type
        {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if pattern == PatternType::Any || pattern == acl.pattern_type {
            return *name == acl.resource_name;
        }
        match acl.pattern_type {
            PatternType::Literal => {
                *name == acl.resource_name || acl.resource_name == WILDCARD_RESOURCE
            }
            PatternType::Prefixed => name.starts_with(&acl.resource_name),
            _ => false,
        }
    }

    fn matches_entry(&self, acl: &AclBinding) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == Operation::Any || self.operation == acl.operation)
            && (self.permission == Permission::Any || self.permission == acl.permission)
    }
}
