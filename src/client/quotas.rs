//! The client quota requests the tools make (KIP-546): DescribeClientQuotas, to any
//! broker, and AlterClientQuotas, to the controller.

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{AlterClientQuotasRequest, DescribeClientQuotasRequest};

use super::cluster::Cluster;
use super::error::{Error, Result};
use super::str_bytes;

/// What a filter component matches of one entity type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Exact(String),
    Default,
    /// Any name but the default.
    Any,
}

/// An entity as the protocol carries it: (type, name), the name `None` for the default.
pub type Entity = Vec<(String, Option<String>)>;

/// Quota alterations: each key set (`Some`) or removed (`None`).
pub type QuotaOps = Vec<(String, Option<f64>)>;

/// An entity and its quotas.
pub type Described = (Entity, Vec<(String, f64)>);

/// The quotas of every entity the filter matches (`strict`: of exactly its types).
pub fn describe_quotas(
    cluster: &mut Cluster,
    components: &[(&str, Match)],
    strict: bool,
) -> Result<Vec<Described>> {
    let broker = cluster.any();
    let version = broker.version::<DescribeClientQuotasRequest>()?;
    let components = components
        .iter()
        .map(|(entity_type, matched)| {
            let (match_type, name) = match matched {
                Match::Exact(name) => (0, Some(str_bytes(name))),
                Match::Default => (1, None),
                Match::Any => (2, None),
            };
            ComponentData::default()
                .with_entity_type(str_bytes(*entity_type))
                .with_match_type(match_type)
                .with_match(name)
        })
        .collect();
    let request = DescribeClientQuotasRequest::default()
        .with_components(components)
        .with_strict(strict);
    let response = broker.call(version, &request)?;
    Error::check(
        response.error_code,
        response.error_message.as_deref(),
        || "cannot describe client quotas".to_string(),
    )?;
    let entries = response.entries.unwrap_or_default();
    Ok(entries
        .into_iter()
        .map(|entry| {
            let entity = entry
                .entity
                .iter()
                .map(|e| {
                    (
                        e.entity_type.to_string(),
                        e.entity_name.as_ref().map(|n| n.to_string()),
                    )
                })
                .collect();
            let values = entry
                .values
                .iter()
                .map(|v| (v.key.to_string(), v.value))
                .collect();
            (entity, values)
        })
        .collect())
}

/// Sets (`Some`) and removes (`None`) quotas of one entity; the broker's refusal is the
/// error.
pub fn alter_quotas(cluster: &mut Cluster, entity: &Entity, ops: &QuotaOps) -> Result<()> {
    let broker = cluster.controller()?;
    let version = broker.version::<AlterClientQuotasRequest>()?;
    let entity_data = entity
        .iter()
        .map(|(entity_type, name)| {
            EntityData::default()
                .with_entity_type(str_bytes(entity_type))
                .with_entity_name(name.as_deref().map(str_bytes))
        })
        .collect();
    let ops = ops
        .iter()
        .map(|(key, value)| {
            OpData::default()
                .with_key(str_bytes(key))
                .with_value(value.unwrap_or(0.0))
                .with_remove(value.is_none())
        })
        .collect();
    let request = AlterClientQuotasRequest::default().with_entries(vec![EntryData::default()
        .with_entity(entity_data)
        .with_ops(ops)]);
    let response = broker.call(version, &request)?;
    for entry in &response.entries {
        Error::check(entry.error_code, entry.error_message.as_deref(), || {
            "cannot alter client quotas".to_string()
        })?;
    }
    Ok(())
}
