//! DescribeConfigs for topics, the broker, its loggers and consumer groups, with Kafka's
//! sources per value.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_changes::{
    resource, Resource, RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_CLIENT_METRICS,
    RESOURCE_GROUP, RESOURCE_TOPIC,
};
use super::{Ctx, Response};
use crate::acl::Operation;
use crate::config::{ConfigEntry, ConfigSource, ConfigType};
use crate::error::kafka_text;

pub const VERSIONS: RangeInclusive<i16> = 1..=4;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeConfigsRequest>(body) else {
        return Response::Close;
    };
    if let Some(odd) = request.resources.iter().find(|r| !known(r.resource_type)) {
        tracing::debug!(
            resource_type = odd.resource_type,
            name = %odd.resource_name,
            "DescribeConfigs names a resource type Kafka does not know: the whole request fails"
        );
        return ctx.respond(&DescribeConfigsResponse::default().with_results(refused(&request)));
    }
    let snapshot = ctx.shard.snapshot();
    let results = request
        .resources
        .iter()
        .map(|asked| {
            let result = DescribeConfigsResult::default()
                .with_error_message(None)
                .with_resource_type(asked.resource_type)
                .with_resource_name(asked.resource_name.clone());
            let entries = match resource(
                &ctx,
                Operation::DescribeConfigs,
                asked.resource_type,
                &asked.resource_name,
            ) {
                Ok(Resource::Topic(name)) => match snapshot.topic(&name) {
                    Some(meta) => meta.config.describe(&snapshot.broker),
                    None => Vec::new(),
                },
                Ok(Resource::Broker {
                    cluster_default: false,
                }) => snapshot.broker.describe(),
                Ok(Resource::Broker {
                    cluster_default: true,
                }) => snapshot.broker.describe_defaults(),
                Ok(Resource::Group(group)) => crate::config::group::describe(
                    snapshot.group_config(&group).unwrap_or(&Default::default()),
                    &snapshot.broker,
                ),
                Ok(Resource::BrokerLogger) => crate::loggers::describe()
                    .into_iter()
                    .map(|(name, level)| ConfigEntry {
                        name,
                        value: Some(level),
                        source: ConfigSource::DynamicBrokerLoggerConfig,
                        read_only: false,
                        sensitive: false,
                        config_type: ConfigType::String,
                        synonyms: Vec::new(),
                    })
                    .collect(),
                Err(error) => {
                    return result
                        .with_error_code(error.wire_code())
                        .with_error_message(error.message.map(StrBytes::from_string))
                }
            };
            let wanted = |entry: &ConfigEntry| {
                asked
                    .configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|k| k.as_str() == entry.name))
            };
            let configs = entries
                .into_iter()
                .filter(wanted)
                .map(|entry| describe(entry, request.include_synonyms))
                .collect();
            result.with_configs(configs)
        })
        .collect();
    ctx.respond(&DescribeConfigsResponse::default().with_results(results))
}

/// The resource types Kafka's DescribeConfigs knows. A request naming another fails whole,
/// as Kafka's handler throws for it: every resource INVALID_REQUEST with the error's text.
fn known(resource_type: i8) -> bool {
    [
        RESOURCE_TOPIC,
        RESOURCE_BROKER,
        RESOURCE_BROKER_LOGGER,
        RESOURCE_CLIENT_METRICS,
        RESOURCE_GROUP,
    ]
    .contains(&resource_type)
}

fn refused(request: &DescribeConfigsRequest) -> Vec<DescribeConfigsResult> {
    let error = ResponseError::InvalidRequest;
    request
        .resources
        .iter()
        .map(|asked| {
            DescribeConfigsResult::default()
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_static_str(kafka_text(error))))
                .with_resource_type(asked.resource_type)
                .with_resource_name(asked.resource_name.clone())
        })
        .collect()
}

fn describe(entry: ConfigEntry, synonyms: bool) -> DescribeConfigsResourceResult {
    let synonyms = match synonyms {
        false => Vec::new(),
        true => entry
            .synonyms
            .into_iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(s.name))
                    .with_value(s.value.map(StrBytes::from_string))
                    .with_source(s.source.code())
            })
            .collect(),
    };
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(entry.name))
        .with_value(entry.value.map(StrBytes::from_string))
        .with_read_only(entry.read_only)
        .with_config_source(entry.source.code())
        .with_is_sensitive(entry.sensitive)
        .with_config_type(entry.config_type.code())
        .with_synonyms(synonyms)
        // shoal keeps no documentation text: null, asked or not.
        .with_documentation(None)
}
