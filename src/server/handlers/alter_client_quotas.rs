//! AlterClientQuotas (KIP-546): sets and removes quotas of user, client-id and user +
//! client-id entities (each name or the default). Needs ALTER_CONFIGS on the cluster.
//! Each entity is checked as Kafka's controller checks it (its types, its keys, whole
//! numbers for the byte rates) and answered on its own; the checked ones go to the
//! controller together. An IP entity (an address or the default one) stands alone and
//! takes only `connection_creation_rate` (KIP-612); the others take the four client
//! quotas.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_client_quotas_request::{
    EntityData as RequestEntity, EntryData,
};
use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData as ResultData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;

use super::{on_controller, Ctx, Response};
use crate::acl::Operation;
use crate::cluster::controller::QuotaAlteration;
use crate::error::ApiError;
use crate::quota::{EntityName, QuotaEntity, QuotaKind, CLIENT_ID, IP, USER};

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<AlterClientQuotasRequest>(body) else {
        return Response::Close;
    };
    let allowed = ctx.allowed_on_cluster(Operation::AlterConfigs);
    let mut results: Vec<Result<(), ApiError>> = Vec::with_capacity(request.entries.len());
    let mut valid: Vec<QuotaAlteration> = Vec::new();
    let mut seen: Vec<QuotaEntity> = Vec::new();
    for entry in &request.entries {
        let checked = match allowed {
            false => Err(ApiError::code(ResponseError::ClusterAuthorizationFailed)),
            true => checked(entry),
        };
        let checked = checked.and_then(|(entity, keys)| {
            if seen.contains(&entity) {
                return Err(invalid(format!(
                    "Ignoring duplicate entity {}",
                    shown(&entity)
                )));
            }
            seen.push(entity.clone());
            Ok((entity, keys))
        });
        match checked {
            Ok(alteration) => {
                valid.push(alteration);
                results.push(Ok(()));
            }
            Err(error) => results.push(Err(error)),
        }
    }
    if !valid.is_empty() {
        let validate_only = request.validate_only;
        let mut applied = on_controller(&ctx.shard, valid, move |s, valid| async move {
            s.controller()
                .alter_client_quotas(&s, valid, validate_only)
                .await
        })
        .await
        .into_iter();
        for result in results.iter_mut().filter(|r| r.is_ok()) {
            *result = applied
                .next()
                .unwrap_or_else(|| Err(ApiError::code(ResponseError::UnknownServerError)));
        }
    }
    let entries = request
        .entries
        .iter()
        .zip(results)
        .map(|(entry, result)| {
            let (code, message) = match result {
                Ok(()) => (0, None),
                Err(error) => (error.code.code(), error.message.map(StrBytes::from_string)),
            };
            let entity = entry
                .entity
                .iter()
                .map(|e| {
                    EntityData::default()
                        .with_entity_type(e.entity_type.clone())
                        .with_entity_name(e.entity_name.clone())
                })
                .collect();
            ResultData::default()
                .with_error_code(code)
                .with_error_message(message)
                .with_entity(entity)
        })
        .collect();
    ctx.respond(&AlterClientQuotasResponse::default().with_entries(entries))
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ResponseError::InvalidRequest, message)
}

/// An entity as Kafka's messages show it: `ClientQuotaEntity(entries={user=alice})`.
fn shown(entity: &QuotaEntity) -> String {
    let name = |n: &EntityName| n.to_wire().unwrap_or("null").to_string();
    let mut parts = Vec::new();
    if let Some(user) = &entity.user {
        parts.push(format!("{USER}={}", name(user)));
    }
    if let Some(client) = &entity.client_id {
        parts.push(format!("{CLIENT_ID}={}", name(client)));
    }
    if let Some(ip) = &entity.ip {
        parts.push(format!("{IP}={}", name(ip)));
    }
    format!("ClientQuotaEntity(entries={{{}}})", parts.join(", "))
}

/// One entry's entity and alterations, checked in Kafka's order: a key given twice,
/// then the entity (an entity type given twice names the entity by its last name, as
/// Kafka's map of the entity keeps it), then each value.
fn checked(entry: &EntryData) -> Result<QuotaAlteration, ApiError> {
    let mut entity = QuotaEntity::default();
    let mut keys = BTreeMap::new();
    for op in &entry.ops {
        let key = op.key.to_string();
        if keys.insert(key.clone(), op).is_some() {
            for part in &entry.entity {
                set_entity(&mut entity, part).ok();
            }
            return Err(invalid(format!(
                "Duplicate quota key {key} not updating quota for this entity {}",
                shown(&entity)
            )));
        }
    }
    if entry.entity.is_empty() {
        return Err(invalid("Invalid empty client quota entity".into()));
    }
    for part in &entry.entity {
        set_entity(&mut entity, part)?;
    }
    let named = [
        (USER, &entity.user),
        (CLIENT_ID, &entity.client_id),
        (IP, &entity.ip),
    ];
    for (entity_type, name) in named {
        if matches!(name, Some(EntityName::Named(n)) if n.is_empty()) {
            return Err(invalid(format!("Empty {entity_type} not supported")));
        }
    }
    // An address stands alone (Kafka's valid combinations), and is an address.
    let ip = entity.ip.is_some();
    if ip && (entity.user.is_some() || entity.client_id.is_some()) {
        // Kafka's own words, run together as it prints them.
        return Err(invalid(
            "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
                .into(),
        ));
    }
    if let Some(EntityName::Named(address)) = &entity.ip {
        if address.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(format!(
                "{address} is not a valid IP (shoal takes addresses, not host names)"
            )));
        }
    }
    let mut values = BTreeMap::new();
    for (key, op) in keys {
        let value = match op.remove {
            true => None,
            false => Some(checked_value(&key, op.value, ip)?),
        };
        values.insert(key, value);
    }
    Ok((entity, values))
}

/// Names `part`'s type in `entity` (a later name of a type replaces an earlier one).
fn set_entity(entity: &mut QuotaEntity, part: &RequestEntity) -> Result<(), ApiError> {
    let slot = match part.entity_type.as_str() {
        USER => &mut entity.user,
        CLIENT_ID => &mut entity.client_id,
        IP => &mut entity.ip,
        other => {
            return Err(invalid(format!(
                "Unhandled client quota entity type: {other}"
            )))
        }
    };
    *slot = Some(EntityName::from_wire(part.entity_name.as_deref()));
    Ok(())
}

/// A quota's value as Kafka's controller checks it: a known key, above 0, and for the
/// byte rates (LONG) and the connection rate (INT) a whole number that fits.
fn checked_value(key: &str, value: f64, ip: bool) -> Result<f64, ApiError> {
    let Some(kind) = QuotaKind::from_key(key, ip) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    // shoal's own: Kafka would store NaN for a DOUBLE quota.
    if value.is_nan() {
        return Err(invalid(format!("Quota {key} must be a number")));
    }
    if value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    if kind.whole() {
        let (max, name) = match kind {
            QuotaKind::ConnectionCreation => (f64::from(i32::MAX), "an INT"),
            _ => (i64::MAX as f64, "a LONG"),
        };
        if value > max {
            return Err(invalid(format!(
                "Proposed value for {key} is too large for {name}."
            )));
        }
        if (value % 1.0).abs() > 1e-6 {
            return Err(invalid(format!("{key} cannot be a fractional value.")));
        }
    }
    if value.is_infinite() {
        return Err(invalid(format!("Quota {key} must be a finite number")));
    }
    Ok(value)
}
