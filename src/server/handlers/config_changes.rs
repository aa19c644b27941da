//! What the three config APIs share: naming the resource, and sending a change to the
//! controller (shard 0), where it is validated against the current config and applied.

use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;

use super::Ctx;
use crate::acl::{Operation, ResourceType};
use crate::cluster::ShardId;
use crate::config::{BrokerConfig, ConfigEntry, TopicConfig};
use crate::error::{kafka_text, ApiError};

pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;
/// KIP-714's client metrics subscriptions: a type Kafka knows and shoal does not serve.
pub const RESOURCE_CLIENT_METRICS: i8 = 16;
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

/// The resource a request names, or the error Kafka gives for it, in Kafka's words:
/// first whether the caller may perform `operation` (DESCRIBE_CONFIGS or ALTER_CONFIGS)
/// on it, on the topic or, for broker resources, on the cluster.
pub fn resource(
    ctx: &Ctx,
    operation: Operation,
    resource_type: i8,
    name: &str,
) -> Result<Resource, ApiError> {
    let snapshot = ctx.shard.snapshot();
    let alter = operation == Operation::AlterConfigs;
    let invalid = |message: String| Err(ApiError::new(ResponseError::InvalidRequest, message));
    // Kafka's authorization refusals carry the error's own text.
    let unauthorized = |code| Err(ApiError::new(code, kafka_text(code)));
    let node_id = snapshot.broker.node_id;
    let own = name == node_id.to_string();
    let integer = name.parse::<i32>().is_ok();
    match resource_type {
        RESOURCE_TOPIC if !ctx.allowed_in(&snapshot, operation, ResourceType::Topic, name) => {
            unauthorized(ResponseError::TopicAuthorizationFailed)
        }
        RESOURCE_BROKER | RESOURCE_BROKER_LOGGER if !ctx.allowed_on_cluster(operation) => {
            unauthorized(ResponseError::ClusterAuthorizationFailed)
        }
        RESOURCE_GROUP if !ctx.allowed_in(&snapshot, operation, ResourceType::Group, name) => {
            unauthorized(ResponseError::GroupAuthorizationFailed)
        }
        RESOURCE_GROUP if name.is_empty() && alter => {
            invalid("Default group resources are not allowed.".to_string())
        }
        RESOURCE_GROUP if name.is_empty() => invalid("Group name must not be empty".to_string()),
        RESOURCE_GROUP => Ok(Resource::Group(name.to_string())),
        RESOURCE_TOPIC if name.is_empty() && alter => {
            invalid("Default topic resources are not allowed.".to_string())
        }
        RESOURCE_TOPIC => {
            crate::config::valid_topic_name(name)
                .map_err(|why| ApiError::new(ResponseError::InvalidTopicException, why))?;
            match snapshot.topic(name) {
                Some(_) => Ok(Resource::Topic(name.to_string())),
                // Kafka's controller says which; its DescribeConfigs says nothing more.
                None if alter => Err(ApiError::new(
                    ResponseError::UnknownTopicOrPartition,
                    format!("The topic '{name}' does not exist."),
                )),
                None => Err(ApiError::code(ResponseError::UnknownTopicOrPartition)),
            }
        }
        RESOURCE_BROKER if name.is_empty() || own => Ok(Resource::Broker {
            cluster_default: name.is_empty(),
        }),
        RESOURCE_BROKER if !integer && alter => {
            invalid(format!("Node id must be an integer, but it is: {name}"))
        }
        RESOURCE_BROKER if !integer => {
            invalid(format!("Broker id must be an integer, but it is: {name}"))
        }
        RESOURCE_BROKER if alter => invalid(format!(
            "Unexpected broker id, expected {node_id}, but received {name}"
        )),
        RESOURCE_BROKER => invalid(format!(
            "Unexpected broker id, expected {node_id} or empty string, but received {name}"
        )),
        // As Kafka: a broker's loggers are that broker's, named by its id.
        RESOURCE_BROKER_LOGGER if own => Ok(Resource::BrokerLogger),
        RESOURCE_BROKER_LOGGER if alter && !integer => {
            invalid(format!("Node id must be an integer, but it is: {name}"))
        }
        // Kafka names its own id twice here; shoal names the one received.
        RESOURCE_BROKER_LOGGER if alter => invalid(format!(
            "Unexpected node id. Expected {node_id}, but received {name}"
        )),
        RESOURCE_BROKER_LOGGER if name.is_empty() => {
            invalid("Broker id must not be empty".to_string())
        }
        RESOURCE_BROKER_LOGGER if !integer => {
            invalid(format!("Broker id must be an integer, but it is: {name}"))
        }
        RESOURCE_BROKER_LOGGER => invalid(format!(
            "Unexpected broker id, expected {node_id} but received {name}"
        )),
        RESOURCE_CLIENT_METRICS => invalid(format!(
            "Client metrics subscriptions (KIP-714) are not served by this broker: {name}"
        )),
        other => invalid(format!("Unknown resource type {other}")),
    }
}

/// One resource of an AlterConfigs or IncrementalAlterConfigs request, as Kafka's first
/// checks see it: its type and name, and each key with whether its value is null
/// where the operation needs one.
pub struct Asked<'a> {
    resource_type: i8,
    name: &'a str,
    /// Each key, whether its value is null where one is needed, and its value's length.
    keys: Vec<(&'a str, bool, usize)>,
    /// A key given twice is refused (IncrementalAlterConfigs); the legacy API has no
    /// such rule, its last value counts.
    unique_keys: bool,
}

impl<'a> Asked<'a> {
    /// A resource and its keys, each with its value and whether it needs one.
    pub fn of(
        resource_type: i8,
        name: &'a StrBytes,
        keys: impl Iterator<Item = (&'a StrBytes, &'a Option<StrBytes>, bool)>,
        unique_keys: bool,
    ) -> Asked<'a> {
        let key = |(key, value, needed): (&'a StrBytes, &'a Option<StrBytes>, bool)| {
            let length = value.as_ref().map_or(0, |v| v.chars().count());
            (key.as_str(), needed && value.is_none(), length)
        };
        Asked {
            resource_type,
            name: name.as_str(),
            keys: keys.map(key).collect(),
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

/// The longest config value Kafka's controller stores (its records' string bound).
const VALUE_CHARS_MAX: usize = 32_767;

/// Kafka's checks of an AlterConfigs or IncrementalAlterConfigs request before any
/// other (its broker's `ConfigAdminManager.preprocess`), per resource: one named twice
/// (each copy refused), a key given twice in one resource (where `unique_keys`), a null
/// value where a value is needed; then its controller's bound on a value's length.
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
            let keys: Vec<&str> = a.keys.iter().map(|(k, ..)| *k).collect();
            if a.unique_keys && (1..keys.len()).any(|i| keys[..i].contains(&keys[i])) {
                return invalid("Error due to duplicate config keys".to_string());
            }
            let nulls: Vec<&str> = a
                .keys
                .iter()
                .filter(|(_, null, _)| *null)
                .map(|(k, ..)| *k)
                .collect();
            if !nulls.is_empty() {
                return invalid(format!(
                    "Null value not supported for : {}",
                    nulls.join(", ")
                ));
            }
            if a.keys.iter().any(|(.., length)| *length > VALUE_CHARS_MAX) {
                return Some(ApiError::new(
                    ResponseError::InvalidConfig,
                    format!("The configuration value cannot be added because it exceeds the maximum value size of {VALUE_CHARS_MAX} bytes."),
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
