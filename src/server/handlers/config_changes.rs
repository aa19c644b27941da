//! What the three config APIs share: naming the resource, and sending a change to the
//! controller (shard 0), where it is validated against the current config and applied.

use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;

use super::Ctx;
use crate::acl::{Operation, ResourceType};
use crate::cluster::ShardId;
use crate::config::{BrokerConfig, ConfigEntry, TopicConfig};
use crate::error::ApiError;

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;
pub const RESOURCE_GROUP: i8 = 32;

pub enum Resource {
    Topic(String),
    /// This broker (its node id), or with `cluster_default` the cluster-wide default ("").
    Broker {
        cluster_default: bool,
    },
    /// This broker's loggers (`crate::loggers`).
    BrokerLogger,
    /// A consumer group's own configs (`config::group`), existing or not.
    Group(String),
}

/// The resource a request names, or the error Kafka gives for it: first whether the
/// caller may perform `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on it, on the
/// topic or, for broker resources, on the cluster.
pub fn resource(
    ctx: &Ctx,
    operation: Operation,
    resource_type: i8,
    name: &str,
) -> Result<Resource, ApiError> {
    let snapshot = ctx.shard.snapshot();
    match resource_type {
        RESOURCE_TOPIC if !ctx.allowed_in(&snapshot, operation, ResourceType::Topic, name) => {
            Err(ApiError::code(ResponseError::TopicAuthorizationFailed))
        }
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER if !ctx.allowed_on_cluster(operation) => {
            Err(ApiError::code(ResponseError::ClusterAuthorizationFailed))
        }
        RESOURCE_GROUP if !ctx.allowed_in(&snapshot, operation, ResourceType::Group, name) => {
            Err(ApiError::code(ResponseError::GroupAuthorizationFailed))
        }
        RESOURCE_GROUP if name.is_empty() => Err(ApiError::new(
            ResponseError::InvalidRequest,
            "a group's configs need its group id",
        )),
        RESOURCE_GROUP => Ok(Resource::Group(name.to_string())),
        RESOURCE_TOPIC if name.is_empty() && operation == Operation::AlterConfigs => {
            Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Default topic resources are not allowed.",
            ))
        }
        RESOURCE_TOPIC => {
            crate::config::valid_topic_name(name)
                .map_err(|why| ApiError::new(ResponseError::InvalidTopicException, why))?;
            if snapshot.topic(name).is_none() {
                let message = format!("topic '{name}' does not exist");
                return Err(ApiError::new(
                    ResponseError::UnknownTopicOrPartition,
                    message,
                ));
            }
            Ok(Resource::Topic(name.to_string()))
        }
        RESOURCE_BROKER => {
            if name.is_empty() || name == snapshot.broker.node_id.to_string() {
                Ok(Resource::Broker {
                    cluster_default: name.is_empty(),
                })
            } else {
                Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("no broker with id '{name}' here"),
                ))
            }
        }
        // As Kafka: a broker's loggers are that broker's, named by its id.
        RESOURCE_BROKER_LOGGER if name == snapshot.broker.node_id.to_string() => {
            Ok(Resource::BrokerLogger)
        }
        RESOURCE_BROKER_LOGGER => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("no broker with id '{name}' here: a broker's loggers are asked of it"),
        )),
        other => Err(ApiError::new(
            ResponseError::InvalidRequest,
            format!("unknown resource type {other}"),
        )),
    }
}

/// One resource of an AlterConfigs or IncrementalAlterConfigs request, as Kafka's first
/// checks see it: its type and name, and each key with whether its value is null
/// where the operation needs one.
pub struct Asked<'a> {
    resource_type: i8,
    name: &'a str,
    keys: Vec<(&'a str, bool)>,
    /// A key given twice is refused (IncrementalAlterConfigs); the legacy API has no
    /// such rule, its last value counts.
    unique_keys: bool,
}

impl<'a> Asked<'a> {
    /// A resource and its keys, each with whether its value is null where one is needed.
    pub fn of(
        resource_type: i8,
        name: &'a StrBytes,
        keys: impl Iterator<Item = (&'a StrBytes, bool)>,
        unique_keys: bool,
    ) -> Asked<'a> {
        Asked {
            resource_type,
            name: name.as_str(),
            keys: keys.map(|(key, null)| (key.as_str(), null)).collect(),
            unique_keys,
        }
    }
}

/// The resources an AlterConfigs or IncrementalAlterConfigs request may change, each
/// after Kafka's first checks (`precheck`) and then `resource`'s.
pub fn alterable(ctx: &Ctx, asked: &[Asked]) -> Vec<Result<Resource, ApiError>> {
    precheck(asked)
        .into_iter()
        .zip(asked)
        .map(|(refusal, a)| match refusal {
            Some(refusal) => Err(refusal),
            None => resource(ctx, Operation::AlterConfigs, a.resource_type, a.name),
        })
        .collect()
}

/// Kafka's checks of an AlterConfigs or IncrementalAlterConfigs request before any
/// other (its broker's `ConfigAdminManager.preprocess`), per resource: one named twice
/// (each copy refused), a key given twice in one resource (where `unique_keys`), a null
/// value where a value is needed.
fn precheck(asked: &[Asked]) -> Vec<Option<ApiError>> {
    let invalid = |message: String| Some(ApiError::new(ResponseError::InvalidRequest, message));
    asked
        .iter()
        .map(|a| {
            let twice = asked
                .iter()
                .filter(|b| b.resource_type == a.resource_type && b.name == a.name)
                .count()
                > 1;
            if twice {
                return invalid("Each resource must appear at most once.".to_string());
            }
            let keys: Vec<&str> = a.keys.iter().map(|(k, _)| *k).collect();
            if a.unique_keys && (1..keys.len()).any(|i| keys[..i].contains(&keys[i])) {
                return invalid("Error due to duplicate config keys".to_string());
            }
            let nulls: Vec<&str> = a
                .keys
                .iter()
                .filter(|(_, null)| *null)
                .map(|(k, _)| *k)
                .collect();
            if !nulls.is_empty() {
                return invalid(format!(
                    "Null value not supported for : {}",
                    nulls.join(", ")
                ));
            }
            None
        })
        .collect()
}

/// A broker config change refused as Kafka refuses it: every error of the new values
/// (a config that cannot change while the broker runs, a bad value) is INVALID_REQUEST,
/// as Kafka's broker answers since KAFKA-13609.
pub fn broker_refusal(error: ApiError) -> ApiError {
    match error.code {
        ResponseError::InvalidConfig => ApiError {
            code: ResponseError::InvalidRequest,
            ..error
        },
        _ => error,
    }
}

/// A config as requests carry it (a null value read as empty, which validation refuses
/// for every key that needs one).
pub fn name_value(name: &StrBytes, value: &Option<StrBytes>) -> (String, String) {
    (
        name.to_string(),
        value.as_ref().map(ToString::to_string).unwrap_or_default(),
    )
}

/// A list-typed value after APPEND (`add`) or SUBTRACT (`!add`) of `values`.
pub fn edit_list(current: &str, values: &str, add: bool) -> String {
    let mut items: Vec<String> = crate::config::split_list(current)
        .into_iter()
        .map(str::to_string)
        .collect();
    for value in crate::config::split_list(values) {
        let present = items.iter().any(|item| item == value);
        if add && !present {
            items.push(value.to_string());
        } else if !add {
            items.retain(|item| item != value);
        }
    }
    items.join(",")
}

/// The described value of `key` among `entries`, or "".
pub fn described(entries: &[ConfigEntry], key: &str) -> String {
    entries
        .iter()
        .find(|e| e.name == key)
        .and_then(|e| e.value.clone())
        .unwrap_or_default()
}

/// Changes a topic's config: `change` maps (current config, broker config) to the new one.
pub async fn change_topic<F>(
    ctx: &Ctx,
    topic: String,
    change: F,
    validate_only: bool,
) -> Result<(), ApiError>
where
    F: Fn(&TopicConfig, &BrokerConfig) -> Result<TopicConfig, ApiError> + Send + 'static,
{
    // Cross-shard: configs change in the controller on shard 0.
    let results = ctx
        .shard
        .invoke_on(ShardId(0), move |s| async move {
            let broker = s.snapshot().broker.clone();
            let change = move |_: &str, current: &TopicConfig| change(current, &broker);
            s.controller()
                .set_topic_configs(&s, change, vec![topic], validate_only)
                .await
        })
        .await?;
    results.into_iter().next().unwrap_or(Ok(()))
}

/// Changes the broker's dynamic config.
pub async fn change_broker<F>(ctx: &Ctx, change: F, validate_only: bool) -> Result<(), ApiError>
where
    F: FnOnce(&BrokerConfig) -> Result<BrokerConfig, ApiError> + Send + 'static,
{
    // Cross-shard: configs change in the controller on shard 0.
    ctx.shard
        .invoke_on(ShardId(0), move |s| async move {
            s.controller()
                .set_broker_config(&s, change, validate_only)
                .await
        })
        .await?
}

/// Sends a group's config changes to the controller (shard 0).
pub async fn change_group(
    ctx: &Ctx,
    group: String,
    changes: Vec<(String, Option<String>)>,
    validate_only: bool,
) -> Result<(), ApiError> {
    // Cross-shard: configs change in the controller on shard 0.
    ctx.shard
        .invoke_on(ShardId(0), move |s| async move {
            s.controller()
                .set_group_config(&s, group, changes, validate_only)
                .await
        })
        .await?
}
