//! ACLs: created and deleted through the controller. A cluster of one keeps them in its
//! state file; with a metadata quorum of several voters they are its records
//! (`AddAcls`, `RemoveAcls`), so every broker authorizes by the same ACLs.

use std::collections::HashSet;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use super::quorum::propose;
use super::{fail_each, Controller};
use crate::acl::{AclBinding, AclFilter, ACLS_MAX, ACLS_PER_REQUEST_MAX};
use crate::cluster::image::MetadataRecord;
use crate::error::ApiError;
use crate::shard::Shard;

impl Controller {
    /// Adds ACLs (each validated by the caller); one already present succeeds without
    /// a second copy, as in Kafka. More than `ACLS_PER_REQUEST_MAX` new ones fail the
    /// whole request, as Kafka's controller fails it.
    pub async fn create_acls(
        &self,
        shard: &Rc<Shard>,
        acls: Vec<AclBinding>,
    ) -> Result<Vec<Result<(), ApiError>>, ApiError> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        if let Some(member) = self.member() {
            let (results, added) = to_add(&member.image().acls, acls)?;
            if added.is_empty() {
                return Ok(results);
            }
            let records = [MetadataRecord::AddAcls { acls: added }];
            let refused = || ApiError::new(ResponseError::InvalidRequest, too_many());
            let results = match propose(&member, &records, refused).await {
                Ok(_) => results,
                Err(error) => fail_each(results, &error),
            };
            return Ok(self.publish_if_any(shard, results).await);
        }
        let mut state = self.state.borrow().clone();
        let (results, added) = to_add(&state.acls, acls)?;
        state.acls.extend(added);
        Ok(self.commit_if_any(shard, state, results, false).await)
    }

    /// Removes every ACL each filter matches; answers, per filter, the ACLs it removed.
    pub async fn delete_acls(
        &self,
        shard: &Rc<Shard>,
        filters: Vec<AclFilter>,
    ) -> Result<Vec<Vec<AclBinding>>, ApiError> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        if let Some(member) = self.member() {
            let (removed, gone) = to_remove(&member.image().acls, &filters)?;
            if !gone.is_empty() {
                let records = [MetadataRecord::RemoveAcls { acls: gone }];
                let refused = || ApiError::code(ResponseError::UnknownServerError);
                propose(&member, &records, refused).await?;
                self.publish(shard).await?;
            }
            return Ok(removed);
        }
        let mut state = self.state.borrow().clone();
        let (removed, gone) = to_remove(&state.acls, &filters)?;
        if !gone.is_empty() {
            let gone: HashSet<&AclBinding> = gone.iter().collect();
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
/// the request) succeeds once, and none goes past `ACLS_MAX`. More than
/// `ACLS_PER_REQUEST_MAX` to add: POLICY_VIOLATION, with Kafka's message.
fn to_add(existing: &[AclBinding], acls: Vec<AclBinding>) -> Result<ToAdd, ApiError> {
    let present: HashSet<&AclBinding> = existing.iter().collect();
    let mut asked = HashSet::new();
    let mut added: Vec<AclBinding> = Vec::new();
    let results = acls
        .into_iter()
        .map(|acl| {
            if present.contains(&acl) || asked.contains(&acl) {
                return Ok(());
            }
            if existing.len() + added.len() >= ACLS_MAX {
                return Err(ApiError::new(ResponseError::InvalidRequest, too_many()));
            }
            asked.insert(acl.clone());
            added.push(acl);
            Ok(())
        })
        .collect();
    if added.len() > ACLS_PER_REQUEST_MAX {
        return Err(ApiError::new(
            ResponseError::PolicyViolation,
            "Unable to perform excessively large batch operation.",
        ));
    }
    Ok((results, added))
}

/// Each ACL's answer, and the ones to add.
type ToAdd = (Vec<Result<(), ApiError>>, Vec<AclBinding>);

/// What each filter matches in `existing` (each filter sees the ACLs as they were
/// before the request, as in Kafka: an ACL two filters match is reported by both), and
/// every ACL matched, once. More than `ACLS_PER_REQUEST_MAX` matched: INVALID_REQUEST,
/// with Kafka's message, and none removed.
fn to_remove(
    existing: &[AclBinding],
    filters: &[AclFilter],
) -> Result<(Vec<Vec<AclBinding>>, Vec<AclBinding>), ApiError> {
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
        .collect::<Vec<_>>();
    if gone.len() > ACLS_PER_REQUEST_MAX {
        let why = format!(
            "Cannot remove more than {ACLS_PER_REQUEST_MAX} acls in a single delete operation."
        );
        return Err(ApiError::new(ResponseError::InvalidRequest, why));
    }
    Ok((removed, gone))
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
        let (results, added) = to_add(&[acl("a")], vec![acl("a"), acl("b"), acl("b")]).unwrap();
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(added, vec![acl("b")]);
        let full: Vec<AclBinding> = (0..ACLS_MAX).map(|i| acl(&format!("t{i}"))).collect();
        let (results, added) = to_add(&full, vec![acl("t1"), acl("new")]).unwrap();
        assert!(results[0].is_ok() && results[1].is_err() && added.is_empty());
    }

    fn acls(range: std::ops::Range<usize>) -> Vec<AclBinding> {
        range.map(|i| acl(&format!("t{i}"))).collect()
    }

    #[test]
    fn one_request_adds_at_most_ten_thousand_new_acls() {
        // Those there already do not count, as Kafka counts only the records written.
        let (_, added) = to_add(&acls(0..5), acls(0..ACLS_PER_REQUEST_MAX + 5)).unwrap();
        assert_eq!(added.len(), ACLS_PER_REQUEST_MAX);
        let refused = to_add(&acls(0..4), acls(0..ACLS_PER_REQUEST_MAX + 5)).unwrap_err();
        assert_eq!(refused.code, ResponseError::PolicyViolation);
        assert_eq!(
            refused.message.as_deref(),
            Some("Unable to perform excessively large batch operation.")
        );
    }

    #[test]
    fn one_request_removes_at_most_ten_thousand_acls() {
        let existing = acls(0..ACLS_PER_REQUEST_MAX + 1);
        let any = AclFilter::any();
        // Two filters matching the same ACLs remove each once.
        let (removed, gone) = to_remove(&existing[1..], &[any.clone(), any.clone()]).unwrap();
        assert_eq!(
            (removed[1].len(), gone.len()),
            (ACLS_PER_REQUEST_MAX, ACLS_PER_REQUEST_MAX)
        );
        let refused = to_remove(&existing, &[any]).unwrap_err();
        assert_eq!(refused.code, ResponseError::InvalidRequest);
        assert_eq!(
            refused.message.as_deref(),
            Some("Cannot remove more than 10000 acls in a single delete operation.")
        );
    }
}
