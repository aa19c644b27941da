//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT of single keys.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_changes::{
    alterable, broker_refusal, change_broker, change_group, change_topic, described, edit_list,
    Asked, Resource,
};
use super::{Ctx, Response};
use crate::config::{BrokerConfig, ConfigEntry, TopicConfig};
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 0..=1;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// One requested operation: key, operation, value.
type Op = (String, i8, Option<String>);

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<IncrementalAlterConfigsRequest>(body) else {
        return Response::Close;
    };
    // A null value is refused where the operation needs a value (all but DELETE).
    let needs_value = |c: &AlterableConfig| c.config_operation != DELETE;
    let asked: Vec<Asked> = request
        .resources
        .iter()
        .map(|r| {
            let keys = r
                .configs
                .iter()
                .map(|c| (&c.name, &c.value, needs_value(c)));
            Asked::of(r.resource_type, &r.resource_name, keys, true)
        })
        .collect();
    let resources = alterable(&ctx, &asked);
    let mut responses = Vec::new();
    for (asked, resource) in request.resources.iter().zip(resources) {
        let ops: Vec<Op> = asked
            .configs
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.config_operation,
                    c.value.as_ref().map(ToString::to_string),
                )
            })
            .collect();
        let outcome = match resource {
            Ok(Resource::Topic(name)) => {
                let change = move |current: &TopicConfig, broker: &BrokerConfig| {
                    let changes = resolve(&ops, &current.describe(broker), not_a_list)?;
                    current.alter(&changes).map_err(ApiError::from)
                };
                change_topic(&ctx, name, change, request.validate_only).await
            }
            Ok(Resource::Broker { cluster_default }) => {
                let change = move |broker: &BrokerConfig| {
                    let changes = resolve(&ops, &broker.describe(), not_for_the_broker)?;
                    if cluster_default {
                        broker.alter_defaults(&changes)
                    } else {
                        broker.alter(&changes)
                    }
                    .map_err(|e| broker_refusal(ApiError::from(e)))
                };
                change_broker(&ctx, change, request.validate_only).await
            }
            Ok(Resource::Group(group)) => match set_or_delete(&ops, not_a_list) {
                Ok(changes) => change_group(&ctx, group, changes, request.validate_only).await,
                Err(error) => Err(error),
            },
            Ok(Resource::BrokerLogger) => set_or_delete(&ops, not_for_loggers)
                .and_then(|changes| crate::loggers::alter(&changes, request.validate_only)),
            Err(error) => Err(error),
        };
        let response = AlterConfigsResourceResponse::default()
            .with_error_message(None)
            .with_resource_type(asked.resource_type)
            .with_resource_name(asked.resource_name.clone());
        responses.push(match outcome {
            Ok(()) => response,
            Err(error) => response
                .with_error_code(error.wire_code())
                .with_error_message(error.message.map(StrBytes::from_string)),
        });
    }
    ctx.respond(&IncrementalAlterConfigsResponse::default().with_responses(responses))
}

/// How a resource refuses APPEND or SUBTRACT (`op`) of a key it cannot take them for,
/// and an operation code it does not know.
type Refusal = fn(key: &str, op: i8) -> ApiError;

/// APPEND's or SUBTRACT's name, `None` for any other code.
fn list_operation(op: i8) -> Option<&'static str> {
    match op {
        APPEND => Some("APPEND"),
        SUBTRACT => Some("SUBTRACT"),
        _ => None,
    }
}

/// A topic's or group's key that is not a list (or not known): Kafka's controller.
fn not_a_list(key: &str, op: i8) -> ApiError {
    match list_operation(op) {
        Some(op) => ApiError::new(
            ResponseError::InvalidConfig,
            format!("Can't {op} to key {key} because its type is not LIST."),
        ),
        None => unknown_operation(op),
    }
}

/// A broker's key that is not a list: Kafka's broker (`ConfigAdminManager`).
fn not_for_the_broker(key: &str, op: i8) -> ApiError {
    match list_operation(op) {
        Some(op) => ApiError::new(
            ResponseError::InvalidConfig,
            format!(
                "Config value {} is not allowed for config key: {key}",
                op.to_lowercase()
            ),
        ),
        None => unknown_operation(op),
    }
}

/// A logger takes neither (Kafka's `RuntimeLoggerManager`).
fn not_for_loggers(_: &str, op: i8) -> ApiError {
    let op = match list_operation(op) {
        Some(op) => format!("{op} operation"),
        None => format!("Unknown operation type {op}"),
    };
    ApiError::new(
        ResponseError::InvalidRequest,
        format!("{op} is not allowed for the BROKER_LOGGER resource"),
    )
}

/// An operation code Kafka does not know (its broker's words).
fn unknown_operation(op: i8) -> ApiError {
    ApiError::new(
        ResponseError::InvalidRequest,
        format!("Unknown operations type {op}"),
    )
}

/// The operations of a resource without list keys (broker loggers, groups): SET and
/// DELETE only.
fn set_or_delete(ops: &[Op], refusal: Refusal) -> Result<Vec<(String, Option<String>)>, ApiError> {
    ops.iter()
        .map(|(key, op, value)| match *op {
            SET => Ok((key.clone(), Some(value.clone().unwrap_or_default()))),
            DELETE => Ok((key.clone(), None)),
            other => Err(refusal(key, other)),
        })
        .collect()
}

/// Turns operations into plain set/delete changes against the current values.
fn resolve(
    ops: &[Op],
    current: &[ConfigEntry],
    refusal: Refusal,
) -> Result<Vec<(String, Option<String>)>, ApiError> {
    ops.iter()
        .map(|(key, op, value)| {
            let value = value.clone().unwrap_or_default();
            match *op {
                SET => Ok((key.clone(), Some(value))),
                DELETE => Ok((key.clone(), None)),
                APPEND | SUBTRACT => {
                    let is_list = current.iter().any(|e| {
                        e.name == *key && e.config_type == crate::config::ConfigType::List
                    });
                    if !is_list {
                        return Err(refusal(key, *op));
                    }
                    Ok((
                        key.clone(),
                        Some(edit_list(&described(current, key), &value, *op == APPEND)),
                    ))
                }
                other => Err(unknown_operation(other)),
            }
        })
        .collect()
}
