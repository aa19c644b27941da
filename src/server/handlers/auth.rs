//! The one way handlers ask whether the caller may do something: `Ctx::allowed` and
//! friends, over the authorizer in the shard's current snapshot (`acl::Authorizer`).
//!
//! With no authorizer configured everything is allowed. The caller's principal is the
//! user it logged in as on a SASL listener (`User:alice`), else `User:ANONYMOUS`; its
//! host is the peer's IP address.

use std::future::Future;

use crate::acl::{Operation, ResourceType, CLUSTER_NAME};
use crate::cluster::Snapshot;

use super::Ctx;

/// What Kafka puts in an authorized-operations field nobody asked for.
pub const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

impl Ctx {
    /// The authenticated identity of the caller.
    pub fn principal(&self) -> &str {
        &self.peer.principal
    }

    /// The caller's IP address, as ACL hosts name it.
    pub fn host(&self) -> &str {
        let host = &self.peer.host;
        host.strip_prefix('/').unwrap_or(host)
    }

    /// Whether the caller may perform `operation` on the resource.
    pub fn allowed(&self, operation: Operation, resource: ResourceType, name: &str) -> bool {
        self.allowed_in(&self.shard.snapshot(), operation, resource, name)
    }

    /// `allowed`, against a snapshot the handler already holds.
    pub fn allowed_in(
        &self,
        snapshot: &Snapshot,
        operation: Operation,
        resource: ResourceType,
        name: &str,
    ) -> bool {
        snapshot.authorizer().is_none_or(|authorizer| {
            authorizer.authorize(self.principal(), self.host(), operation, resource, name)
        })
    }

    /// Whether the caller may perform `operation` on some resource of the type.
    pub fn allowed_on_any(&self, operation: Operation, resource: ResourceType) -> bool {
        self.shard.snapshot().authorizer().is_none_or(|authorizer| {
            authorizer.authorize_any(self.principal(), self.host(), operation, resource)
        })
    }

    /// Whether the caller may perform `operation` on the cluster.
    pub fn allowed_on_cluster(&self, operation: Operation) -> bool {
        self.allowed(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// The authorized-operations bit set for a response field: `i32::MIN` unless
    /// `requested`; every operation of the type when no authorizer is configured.
    pub fn authorized_operations(
        &self,
        snapshot: &Snapshot,
        requested: bool,
        resource: ResourceType,
        name: &str,
    ) -> i32 {
        if !requested {
            return OPERATIONS_NOT_REQUESTED;
        }
        match snapshot.authorizer() {
            Some(authorizer) => {
                authorizer.authorized_operations(self.principal(), self.host(), resource, name)
            }
            None => all_operations(resource),
        }
    }
}

fn all_operations(resource: ResourceType) -> i32 {
    Operation::of(resource)
        .iter()
        .fold(0, |bits, op| bits | (1 << op.code()))
}

/// Runs `work` on the items `allowed` keeps and answers the others with `refused`,
/// returning one outcome per item in the original order.
pub async fn only_allowed<I, O, F>(
    items: Vec<I>,
    allowed: impl Fn(&I) -> bool,
    refused: impl Fn(&I) -> O,
    work: impl FnOnce(Vec<I>) -> F,
) -> Vec<O>
where
    F: Future<Output = Vec<O>>,
{
    let mut outcomes: Vec<Option<O>> = Vec::with_capacity(items.len());
    let mut kept = Vec::new();
    for item in items {
        if allowed(&item) {
            outcomes.push(None);
            kept.push(item);
        } else {
            outcomes.push(Some(refused(&item)));
        }
    }
    let mut done = work(kept).await.into_iter();
    outcomes
        .into_iter()
        .filter_map(|outcome| outcome.or_else(|| done.next()))
        .collect()
}
