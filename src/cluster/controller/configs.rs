//! Dynamic broker configs: a cluster of one keeps them in its state file; with a
//! metadata quorum they are its `BrokerConfigs` records (a broker's own, and the
//! cluster-wide defaults), and each node's broker config follows its image. Consumer
//! groups' own configs are kept the same way (`GroupConfigs` records).

use std::collections::BTreeMap;
use std::rc::Rc;

use kafka_protocol::error::ResponseError;

use super::{quorum, Controller};
use crate::cluster::image::{
    apply_group_configs, MetadataImage, MetadataRecord, GROUP_CONFIGS_MAX,
};
use crate::cluster::ClusterState;
use crate::config::{self, BrokerConfig};
use crate::error::ApiError;
use crate::shard::Shard;

impl Controller {
    /// Takes the dynamic broker configs of the quorum's `image`, the cluster-wide
    /// defaults and this broker's own (over those of this node's file not carried into
    /// the quorum yet).
    pub(super) fn follow_configs(&self, image: &MetadataImage) {
        let node = self.broker.borrow().node_id;
        let (defaults, own) = dynamic_configs(&self.state.borrow(), Some(image), node);
        let followed = {
            let broker = self.broker.borrow();
            if broker.default_overrides() == defaults && broker.dynamic_overrides() == own {
                return;
            }
            broker
                .with_default_overrides(&defaults)
                .and_then(|b| b.with_dynamic_overrides(&own))
        };
        match followed {
            Ok(broker) => *self.broker.borrow_mut() = broker,
            Err(error) => tracing::error!(
                %error,
                "the metadata quorum's dynamic broker configs do not apply here; this broker keeps the ones before"
            ),
        }
    }

    /// Changes dynamic broker configs: `change` maps the current config to the new one.
    pub async fn set_broker_config(
        &self,
        shard: &Rc<Shard>,
        change: impl FnOnce(&BrokerConfig) -> Result<BrokerConfig, ApiError>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        let current = self.broker.borrow().clone();
        let updated = change(&current)?;
        if validate_only {
            return Ok(());
        }
        let Some(member) = self.member() else {
            let mut state = self.state.borrow().clone();
            state.broker_overrides = updated.dynamic_overrides();
            state.broker_default_overrides = updated.default_overrides();
            *self.broker.borrow_mut() = updated;
            return self.commit(shard, state).await;
        };
        // Dynamic configs are the quorum's, as in Kafka: the changes, key by key, so two
        // brokers changing different keys at once both win.
        let node = current.node_id;
        let changes = [
            (
                None,
                current.default_overrides(),
                updated.default_overrides(),
            ),
            (
                Some(node),
                current.dynamic_overrides(),
                updated.dynamic_overrides(),
            ),
        ];
        let records: Vec<MetadataRecord> = changes
            .into_iter()
            .filter_map(|(broker, before, after)| {
                let changes = changed_keys(&before, &after);
                (!changes.is_empty()).then_some(MetadataRecord::BrokerConfigs { broker, changes })
            })
            .collect();
        if !records.is_empty() {
            quorum::propose(&member, &records, || {
                ApiError::code(ResponseError::UnknownServerError)
            })
            .await?;
        }
        // The configs as the quorum has them now, other brokers' changes included.
        self.publish(shard).await
    }
}

impl Controller {
    /// Changes a consumer group's own configs (`Some` sets a key, `None` removes it), all
    /// or nothing, checked against this broker's bounds.
    pub async fn set_group_config(
        &self,
        shard: &Rc<Shard>,
        group: String,
        changes: Vec<(String, Option<String>)>,
        validate_only: bool,
    ) -> Result<(), ApiError> {
        let _turn = self.one_change_at_a_time.acquire_permit(1).await;
        let member = self.member();
        let mut all = match &member {
            Some(member) => member.image().group_configs.clone(),
            None => self.state.borrow().group_configs.clone(),
        };
        let before = all.get(&group).cloned().unwrap_or_default();
        let after = config::group::alter(&before, &changes, &self.broker.borrow())?;
        let changes = changed_keys(&before, &after);
        if !all.contains_key(&group) && all.len() >= GROUP_CONFIGS_MAX && !after.is_empty() {
            let message =
                format!("the cluster holds the configs of at most {GROUP_CONFIGS_MAX} groups");
            return Err(ApiError::new(ResponseError::InvalidRequest, message));
        }
        if validate_only || changes.is_empty() {
            return Ok(());
        }
        let Some(member) = member else {
            apply_group_configs(&mut all, &group, &changes);
            let mut state = self.state.borrow().clone();
            state.group_configs = all;
            return self.commit(shard, state).await;
        };
        let records = [MetadataRecord::GroupConfigs { group, changes }];
        quorum::propose(&member, &records, || {
            ApiError::code(ResponseError::UnknownServerError)
        })
        .await?;
        self.publish(shard).await
    }
}

/// The dynamic broker configs of broker `node`: the cluster-wide defaults and its own,
/// those of the quorum's `image` (when there is a quorum) over those of this node's file
/// not carried into it yet.
pub fn dynamic_configs(
    state: &ClusterState,
    image: Option<&MetadataImage>,
    node: i32,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut defaults = state.broker_default_overrides.clone();
    let mut own = state.broker_overrides.clone();
    if let Some(image) = image {
        defaults.extend(image.broker_defaults.clone());
        own.extend(image.broker_configs.get(&node).cloned().unwrap_or_default());
    }
    (defaults, own)
}

/// The changes from `before` to `after`: keys set to a new value, and keys removed.
fn changed_keys(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> BTreeMap<String, Option<String>> {
    let removed = before
        .keys()
        .filter(|key| !after.contains_key(*key))
        .map(|key| (key.clone(), None));
    let set = after
        .iter()
        .filter(|(key, value)| before.get(*key) != Some(value))
        .map(|(key, value)| (key.clone(), Some(value.clone())));
    removed.chain(set).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_lists_keys_set_anew_and_keys_removed() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let before = map(&[("a", "1"), ("b", "2"), ("c", "3")]);
        let after = map(&[("a", "1"), ("b", "20"), ("d", "4")]);
        let changes = changed_keys(&before, &after);
        let expected = BTreeMap::from([
            ("b".to_string(), Some("20".to_string())),
            ("c".to_string(), None),
            ("d".to_string(), Some("4".to_string())),
        ]);
        assert_eq!(changes, expected);
        assert!(changed_keys(&after, &after).is_empty());
    }
}
