//! Client quotas: set and removed through the controller (AlterClientQuotas). A cluster
//! of one keeps them in its state file; with a metadata quorum they are its records
//! (`ClientQuotas`), so every broker applies the same quotas.

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use super::quorum::propose;
use super::{fail_each, Controller};
use crate::cluster::image::MetadataRecord;
use crate::error::ApiError;
use crate::quota::{ClientQuotas, QuotaChange, QuotaEntity, QUOTA_ENTITIES_MAX};
use crate::shard::Shard;

/// An entity's alterations, already checked: each key set (`Some`) or removed.
pub type Alteration = (QuotaEntity, BTreeMap<String, Option<f64>>);

impl Controller {
    /// Applies each entity's alterations; answers one result per entity, in order. A
    /// removal of a quota the entity does not have changes nothing, as in Kafka.
    pub async fn alter_client_quotas(
        &self,
        shard: &Rc<Shard>,
        alterations: Vec<Alteration>,
        validate_only: bool,
    ) -> Vec<Result<(), ApiError>> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        let member = self.member();
        let current = match &member {
            Some(member) => member.image().client_quotas.clone(),
            None => self.state.borrow().client_quotas.clone(),
        };
        let results: Vec<Result<(), ApiError>> = alterations.iter().map(|_| Ok(())).collect();
        let changes = changes(&current, alterations);
        let mut after = current;
        after.apply(&changes);
        if after.len() > QUOTA_ENTITIES_MAX {
            return fail_each(results, &too_many());
        }
        if validate_only || changes.is_empty() {
            return results;
        }
        if let Some(member) = member {
            let records = [MetadataRecord::ClientQuotas { changes }];
            let results = match propose(&member, &records, too_many).await {
                Ok(_) => results,
                Err(error) => fail_each(results, &error),
            };
            return self.publish_if_any(shard, results).await;
        }
        let mut state = self.state.borrow().clone();
        state.client_quotas = after;
        self.commit_if_any(shard, state, results, false).await
    }
}

fn too_many() -> ApiError {
    ApiError::new(
        ResponseError::InvalidRequest,
        format!("the cluster holds at most {QUOTA_ENTITIES_MAX} client quota entities"),
    )
}

/// The records the alterations make: only what changes a value.
fn changes(current: &ClientQuotas, alterations: Vec<Alteration>) -> Vec<QuotaChange> {
    let mut changes = Vec::new();
    for (entity, keys) in alterations {
        let held = current.get(&entity);
        for (key, value) in keys {
            let now = held.and_then(|quotas| quotas.get(&key)).copied();
            if now != value {
                changes.push(QuotaChange {
                    entity: entity.clone(),
                    key,
                    value,
                });
            }
        }
    }
    changes
}
