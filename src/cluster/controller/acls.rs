//! ACLs: created and deleted through the controller. A cluster of one keeps them in its
//! state file; with a metadata quorum of several voters they are its records
//! (`AddAcls`, `RemoveAcls`), so every broker authorizes by the same ACLs.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use super::quorum::propose;
use super::{fail_each, Controller};
use crate::acl::{AclBinding, AclFilter, ACLS_MAX};
use crate::cluster::image::MetadataRecord;
use crate::error::ApiError;
use crate::shard::Shard;

impl Controller {
    /// Adds ACLs (each validated by the caller); one already present succeeds without
    /// a second copy, as in Kafka.
    pub async fn create_acls(
        &self,
        shard: &Rc<Shard>,
        acls: Vec<AclBinding>,
    ) -> Vec<Result<(), ApiError>> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        if let Some(member) = self.member() {
            let (results, added) = to_add(&member.image().acls, acls);
            if added.is_empty() {
                return results;
            }
            let records = [MetadataRecord::AddAcls { acls: added }];
            let refused = || ApiError::new(ResponseError::InvalidRequest, too_many());
            let results = match propose(&member, &records, refused).await {
                Ok(_) => results,
                Err(error) => fail_each(results, &error),
            };
            return self.publish_if_any(shard, results).await;
        }
        let mut state = self.state.borrow().clone();
        let (results, added) = to_add(&state.acls, acls);
        state.acls.extend(added);
        self.commit_if_any(shard, state, results, false).await
    }

    /// Removes every ACL each filter matches; answers, per filter, the ACLs it removed.
    pub async fn delete_acls(
        &self,
        shard: &Rc<Shard>,
        filters: Vec<AclFilter>,
    ) -> Result<Vec<Vec<AclBinding>>, ApiError> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        if let Some(member) = self.member() {
            let (removed, gone) = to_remove(&member.image().acls, &filters);
            if !gone.is_empty() {
                let records = [MetadataRecord::RemoveAcls { acls: gone }];
                let refused = || ApiError::code(ResponseError::UnknownServerError);
                propose(&member, &records, refused).await?;
                self.publish(shard).await?;
            }
            return Ok(removed);
        }
        let mut state = self.state.borrow().clone();
        let (removed, gone) = to_remove(&state.acls, &filters);
        if !gone.is_empty() {
            state.acls.retain(|acl| !gone.contains(acl));
            self.commit(shard, state).await?;
        }
        Ok(removed)
    }
}

fn too_many() -> String {
    format!("the cluster holds at most {ACLS_MAX} ACLs")
}

/// Each ACL's answer, and the ones to add to `existing`: one there already (or twice in
/// the request) succeeds once, and none goes past `ACLS_MAX`.
fn to_add(
    existing: &[AclBinding],
    acls: Vec<AclBinding>,
) -> (Vec<Result<(), ApiError>>, Vec<AclBinding>) {
    let mut added: Vec<AclBinding> = Vec::new();
    let results = acls
        .into_iter()
        .map(|acl| {
            if existing.contains(&acl) || added.contains(&acl) {
                return Ok(());
            }
            if existing.len() + added.len() >= ACLS_MAX {
                return Err(ApiError::new(ResponseError::InvalidRequest, too_many()));
            }
            added.push(acl);
            Ok(())
        })
        .collect();
    (results, added)
}

/// What each filter matches in `existing` (each filter sees the ACLs as they were
/// before the request, as in Kafka: an ACL two filters match is reported by both), and
/// every ACL matched, once.
fn to_remove(
    existing: &[AclBinding],
    filters: &[AclFilter],
) -> (Vec<Vec<AclBinding>>, Vec<AclBinding>) {
    let removed = filters
        .iter()
        .map(|filter| {
            let matched = existing.iter().filter(|acl| filter.matches(acl));
            matched.cloned().collect()
        })
        .collect();
    let gone = existing
        .iter()
        .filter(|acl| filters.iter().any(|filter| filter.matches(acl)))
        .cloned()
        .collect();
    (removed, gone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acl::{Operation, Permission};

    fn acl(topic: &str) -> AclBinding {
        crate::acl::tests::topic_acl(topic, "User:alice", Operation::Read, Permission::Allow)
    }

    #[test]
    fn an_acl_there_or_asked_twice_succeeds_once_and_none_goes_past_the_limit() {
        let (results, added) = to_add(&[acl("a")], vec![acl("a"), acl("b"), acl("b")]);
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(added, vec![acl("b")]);
        let full: Vec<AclBinding> = (0..ACLS_MAX).map(|i| acl(&format!("t{i}"))).collect();
        let (results, added) = to_add(&full, vec![acl("t1"), acl("new")]);
        assert!(results[0].is_ok() && results[1].is_err() && added.is_empty());
    }
}
