//! SCRAM credentials: set and deleted through the controller (AlterUserScramCredentials).
//! A cluster of one keeps them in its state file; with a metadata quorum they are its
//! records (`ScramCredentials`), so a user logs in on every broker alike.

use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use super::quorum::propose;
use super::{fail_each, Controller};
use crate::cluster::image::{apply_scram, MetadataRecord, ScramChange, SCRAM_USERS_MAX};
use crate::cluster::snapshot::ScramCredentials;
use crate::error::ApiError;
use crate::shard::Shard;

impl Controller {
    /// Applies each user's changes (already checked one by one), all of a user's or
    /// none: a deletion of a credential the user does not have fails the user with
    /// RESOURCE_NOT_FOUND, as in Kafka. Answers one result per user, in order.
    pub async fn alter_scram(
        &self,
        shard: &Rc<Shard>,
        users: Vec<(String, Vec<ScramChange>)>,
    ) -> Vec<Result<(), ApiError>> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        let member = self.member();
        let current = match &member {
            Some(member) => member.image().scram.clone(),
            None => self.state.borrow().scram.clone(),
        };
        let (results, changes) = checked(&current, users);
        if changes.is_empty() {
            return results;
        }
        let mut after = current;
        apply_scram(&mut after, &changes);
        if after.len() > SCRAM_USERS_MAX {
            return fail_each(results, &too_many());
        }
        if let Some(member) = member {
            let records = [MetadataRecord::ScramCredentials { changes }];
            let refused = too_many;
            let results = match propose(&member, &records, refused).await {
                Ok(_) => results,
                Err(error) => fail_each(results, &error),
            };
            return self.publish_if_any(shard, results).await;
        }
        let mut state = self.state.borrow().clone();
        state.scram = after;
        self.commit_if_any(shard, state, results, false).await
    }
}

fn too_many() -> ApiError {
    ApiError::new(
        ResponseError::InvalidRequest,
        format!("the cluster holds at most {SCRAM_USERS_MAX} SCRAM users"),
    )
}

/// Each user's answer, and the changes of the users whose deletions all name a
/// credential they have.
fn checked(
    current: &ScramCredentials,
    users: Vec<(String, Vec<ScramChange>)>,
) -> (Vec<Result<(), ApiError>>, Vec<ScramChange>) {
    let mut results = Vec::with_capacity(users.len());
    let mut accepted = Vec::new();
    for (user, changes) in users {
        let missing = changes.iter().any(|change| {
            change.credential.is_none()
                && !current
                    .get(&user)
                    .is_some_and(|held| held.contains_key(&change.mechanism))
        });
        if missing {
            results.push(Err(ApiError::new(
                ResponseError::ResourceNotFound,
                "Attempt to delete a user credential that does not exist",
            )));
            continue;
        }
        results.push(Ok(()));
        accepted.extend(changes);
    }
    (results, accepted)
}
