//! AlterConfigs (the legacy, whole-set API): the given configs become the resource's
//! complete set of overrides; any override not given is removed.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::config_changes::{
    alterable, broker_refusal, change_broker, change_topic, name_value, Asked, Resource,
};
use super::{Ctx, Response};
use crate::config::TopicConfig;
use crate::error::ApiError;

pub const VERSIONS: RangeInclusive<i16> = 0..=2;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<AlterConfigsRequest>(body) else {
        return Response::Close;
    };
    // Any null value is refused: the legacy API sets every key it names. A key named
    // twice is not refused (Kafka's legacy check has no such rule): the last one wins.
    let asked: Vec<Asked> = request
        .resources
        .iter()
        .map(|r| {
            let keys = r.configs.iter().map(|c| (&c.name, &c.value, true));
            Asked::of(r.resource_type, &r.resource_name, keys, false)
        })
        .collect();
    let resources = alterable(&ctx, &asked);
    let mut responses = Vec::new();
    for (asked, resource) in request.resources.iter().zip(resources) {
        // Each key once, at its last value.
        let mut given: Vec<(String, String)> = Vec::new();
        for (key, value) in asked.configs.iter().map(|c| name_value(&c.name, &c.value)) {
            given.retain(|(k, _)| *k != key);
            given.push((key, value));
        }
        let outcome = match resource {
            Ok(Resource::Topic(name)) => {
                let change = move |_: &TopicConfig, _: &_| {
                    TopicConfig::new(given.clone()).map_err(ApiError::from)
                };
                change_topic(&ctx, name, change, request.validate_only).await
            }
            Ok(Resource::Broker { cluster_default }) => {
                // AlterConfigs replaces every dynamic value of the resource.
                let change = move |broker: &crate::config::BrokerConfig| {
                    let current = if cluster_default {
                        broker.default_overrides()
                    } else {
                        broker.dynamic_overrides()
                    };
                    let mut changes: Vec<(String, Option<String>)> =
                        current.into_keys().map(|key| (key, None)).collect();
                    changes.extend(given.into_iter().map(|(k, v)| (k, Some(v))));
                    if cluster_default {
                        broker.alter_defaults(&changes)
                    } else {
                        broker.alter(&changes)
                    }
                    .map_err(|e| broker_refusal(ApiError::from(e)))
                };
                change_broker(&ctx, change, request.validate_only).await
            }
            // Loggers (KIP-412) and groups (KIP-848) are altered with
            // IncrementalAlterConfigs only.
            Ok(Resource::BrokerLogger | Resource::Group(_)) => Err(ApiError::new(
                ResponseError::InvalidRequest,
                "AlterConfigs alters topics and brokers: use IncrementalAlterConfigs",
            )),
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
    ctx.respond(&AlterConfigsResponse::default().with_responses(responses))
}
