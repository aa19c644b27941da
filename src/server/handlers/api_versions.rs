//! ApiVersions: the versions of every API shoal serves, computed from the handlers'
//! own declarations, and the features it finalizes: `transaction.version` 2, so
//! clients that know it speak KIP-890's second part (Kafka 4's default), in a cluster
//! too (a partition's leader adds the partition at a coordinator on another broker).

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};
use crate::txn::state::TV2;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(_request) = ctx.decode::<ApiVersionsRequest>(body) else {
        // Kafka answers an unreadable ApiVersions (e.g. a newer client's) instead of
        // closing, so the client can retry with a version it knows we have.
        return unsupported(ctx);
    };
    ctx.respond(&response(0))
}

/// The v0 answer to an ApiVersions request of a version shoal does not know.
pub fn unsupported(mut ctx: Ctx) -> Response {
    ctx.version = 0;
    ctx.respond(&response(ResponseError::UnsupportedVersion.code()))
}

/// The served versions, and `transaction.version` 2 finalized.
fn response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = super::served()
        .into_iter()
        .map(|(api, versions)| {
            let theirs = api.valid_versions();
            ApiVersion::default()
                .with_api_key(api as i16)
                .with_min_version((*versions.start()).max(theirs.min))
                .with_max_version((*versions.end()).min(theirs.max))
        })
        .collect();
    let name = || StrBytes::from_static_str("transaction.version");
    let supported = SupportedFeatureKey::default()
        .with_name(name())
        .with_min_version(0)
        .with_max_version(TV2);
    let finalized = FinalizedFeatureKey::default()
        .with_name(name())
        .with_min_version_level(TV2)
        .with_max_version_level(TV2);
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
        .with_supported_features(vec![supported])
        // The features never change: one epoch for the broker's life.
        .with_finalized_features_epoch(1)
        .with_finalized_features(vec![finalized])
}
