//! DescribeClientQuotas (KIP-546): the quotas of the entities a filter matches. Needs
//! DESCRIBE_CONFIGS on the cluster. Each filter component names an entity type and
//! matches one name (exact), the default, or any name but the default (specified); a
//! strict filter matches only entities of exactly those types. The filter is checked as
//! Kafka checks it, and a bad one fails the whole request with INVALID_REQUEST.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};
use crate::acl::Operation;
use crate::quota::{EntityName, QuotaEntity, CLIENT_ID, IP, USER};

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

const MATCH_EXACT: i8 = 0;
const MATCH_DEFAULT: i8 = 1;
const MATCH_SPECIFIED: i8 = 2;

/// What a filter asks of one entity type: one name or the default (`Some`), or any
/// name, the default included (`None`, MATCH_TYPE_SPECIFIED).
#[derive(Debug, PartialEq)]
struct Component {
    entity_type: String,
    wanted: Option<EntityName>,
}

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeClientQuotasRequest>(body) else {
        return Response::Close;
    };
    let failed = |code: ResponseError, message: Option<String>| {
        ctx.respond(
            &DescribeClientQuotasResponse::default()
                .with_error_code(code.code())
                .with_error_message(message.map(StrBytes::from_string))
                .with_entries(None),
        )
    };
    if !ctx.allowed_on_cluster(Operation::DescribeConfigs) {
        return failed(ResponseError::ClusterAuthorizationFailed, None);
    }
    let components = match filter(&request.components) {
        Ok(components) => components,
        Err((error, message)) => return failed(error, Some(message)),
    };
    let snapshot = ctx.shard.snapshot();
    let entries = snapshot
        .state
        .client_quotas
        .iter()
        .filter(|(entity, _)| matches(entity, &components, request.strict))
        .map(|(entity, quotas)| {
            let values = quotas
                .iter()
                .map(|(key, value)| {
                    ValueData::default()
                        .with_key(StrBytes::from_string(key.clone()))
                        .with_value(*value)
                })
                .collect();
            EntryData::default()
                .with_entity(entity_data(entity))
                .with_values(values)
        })
        .collect();
    ctx.respond(
        &DescribeClientQuotasResponse::default()
            .with_error_message(None)
            .with_entries(Some(entries)),
    )
}

/// The filter's components, checked in Kafka's order (INVALID_REQUEST unless said).
fn filter(components: &[ComponentData]) -> Result<Vec<Component>, (ResponseError, String)> {
    let invalid = |message: String| (ResponseError::InvalidRequest, message);
    let mut checked: Vec<Component> = Vec::with_capacity(components.len());
    for component in components {
        let entity_type = component.entity_type.to_string();
        if entity_type.is_empty() {
            return Err(invalid("Invalid empty entity type.".into()));
        }
        if checked.iter().any(|c| c.entity_type == entity_type) {
            return Err(invalid(format!(
                "Entity type {entity_type} cannot appear more than once in the filter."
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
            return Err((
                ResponseError::UnsupportedVersion,
                format!("Unsupported entity type {entity_type}"),
            ));
        }
        let name = component._match.as_ref().map(|m| m.to_string());
        let wanted =
            match (component.match_type, name) {
                (MATCH_EXACT, Some(name)) => Some(EntityName::Named(name)),
                (MATCH_EXACT, None) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                    ))
                }
                (MATCH_DEFAULT, None) => Some(EntityName::Default),
                (MATCH_DEFAULT, Some(_)) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                            .into(),
                    ))
                }
                (MATCH_SPECIFIED, None) => None,
                (MATCH_SPECIFIED, Some(_)) => return Err(invalid(
                    "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
                        .into(),
                )),
                (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
            };
        checked.push(Component {
            entity_type,
            wanted,
        });
    }
    let has = |t: &str| checked.iter().any(|c| c.entity_type == t);
    if has(IP) && (has(USER) || has(CLIENT_ID)) {
        return Err(invalid("Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.".into()));
    }
    Ok(checked)
}

/// Whether `entity` passes every component (and, for a strict filter, has no other
/// type).
fn matches(entity: &QuotaEntity, components: &[Component], strict: bool) -> bool {
    let part = |entity_type: &str| match entity_type {
        USER => entity.user.as_ref(),
        CLIENT_ID => entity.client_id.as_ref(),
        _ => entity.ip.as_ref(),
    };
    let types = [&entity.user, &entity.client_id, &entity.ip]
        .into_iter()
        .filter(|part| part.is_some())
        .count();
    if strict && types != components.len() {
        return false;
    }
    components
        .iter()
        .all(|c| match (part(&c.entity_type), &c.wanted) {
            (None, _) => false,
            (Some(name), Some(wanted)) => name == wanted,
            // Any name of the type, the default too (Kafka's type match).
            (Some(_), None) => true,
        })
}

fn entity_data(entity: &QuotaEntity) -> Vec<EntityData> {
    let parts = [
        (USER, &entity.user),
        (CLIENT_ID, &entity.client_id),
        (IP, &entity.ip),
    ];
    parts
        .into_iter()
        .filter_map(|(entity_type, name)| {
            let name = name.as_ref()?;
            Some(
                EntityData::default()
                    .with_entity_type(StrBytes::from_static_str(entity_type))
                    .with_entity_name(name.to_wire().map(|n| StrBytes::from_string(n.to_string()))),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(entity_type: &str, match_type: i8, name: Option<&str>) -> ComponentData {
        ComponentData::default()
            .with_entity_type(StrBytes::from_string(entity_type.into()))
            .with_match_type(match_type)
            .with_match(name.map(|n| StrBytes::from_string(n.into())))
    }

    #[test]
    fn filters_match_as_kafkas() {
        let alice = QuotaEntity {
            user: Some(EntityName::Named("alice".into())),
            ..QuotaEntity::default()
        };
        let alice_default_client = QuotaEntity {
            user: Some(EntityName::Named("alice".into())),
            client_id: Some(EntityName::Default),
            ip: None,
        };
        let default_user = QuotaEntity {
            user: Some(EntityName::Default),
            ..QuotaEntity::default()
        };
        let an_address = QuotaEntity {
            ip: Some(EntityName::Named("10.0.0.1".into())),
            ..QuotaEntity::default()
        };
        let exact = filter(&[component(USER, MATCH_EXACT, Some("alice"))]).unwrap();
        assert!(matches(&alice, &exact, true));
        assert!(!matches(&alice_default_client, &exact, true));
        assert!(matches(&alice_default_client, &exact, false));
        assert!(!matches(&default_user, &exact, false));
        let specified = filter(&[component(USER, MATCH_SPECIFIED, None)]).unwrap();
        assert!(matches(&alice, &specified, false));
        // Kafka's type match takes the default name too.
        assert!(matches(&default_user, &specified, false));
        let default = filter(&[component(USER, MATCH_DEFAULT, None)]).unwrap();
        assert!(matches(&default_user, &default, true));
        let ip = filter(&[component(IP, MATCH_SPECIFIED, None)]).unwrap();
        assert!(matches(&an_address, &ip, true));
        assert!(!matches(&alice, &ip, false));
        // No component, not strict: everything.
        assert!(matches(&alice_default_client, &[], false));
        assert!(!matches(&alice_default_client, &[], true));
    }

    #[test]
    fn bad_filters_are_refused_with_kafkas_messages() {
        let refused = |components: &[ComponentData]| filter(components).unwrap_err().1;
        assert_eq!(
            filter(&[component("group", MATCH_DEFAULT, None)]).unwrap_err(),
            (
                ResponseError::UnsupportedVersion,
                "Unsupported entity type group".to_string()
            )
        );
        assert_eq!(
            refused(&[component("", MATCH_DEFAULT, None)]),
            "Invalid empty entity type."
        );
        assert_eq!(
            refused(&[component(USER, MATCH_EXACT, None)]),
            "Request specified MATCH_TYPE_EXACT, but set match string to null."
        );
        assert!(refused(&[
            component(USER, MATCH_DEFAULT, None),
            component(USER, MATCH_SPECIFIED, None)
        ])
        .contains("cannot appear more than once"));
        assert_eq!(refused(&[component(USER, 7, None)]), "Unknown match type 7");
        assert!(refused(&[
            component(IP, MATCH_DEFAULT, None),
            component(USER, MATCH_DEFAULT, None)
        ])
        .starts_with("Invalid entity filter component combination"));
    }
}
