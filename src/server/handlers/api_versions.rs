//! ApiVersions: the versions of every API shoal serves, computed from the handlers'
//! own declarations, and the features it finalizes: `transaction.version` 2, so
//! clients that know it speak KIP-890's second part (Kafka 4's default), in a cluster
//! too (a partition's leader adds the partition at a coordinator on another broker).
//!
//! Kafka's rules: a version shoal does not know is answered in v0 with
//! UNSUPPORTED_VERSION and ApiVersions' own range, for the client to retry; a body that
//! does not decode closes the connection; from v3 the client's software name and
//! version must be well formed (INVALID_REQUEST); before v4 a supported feature whose
//! range starts at 0 is left out, since older clients refuse one (KAFKA-17011).

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};
use crate::txn::state::TV2;

pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// The first version that carries the client's software name and version.
const CLIENT_SOFTWARE_VERSION: i16 = 3;
/// The first version whose clients take a supported feature starting at 0.
const FEATURES_FROM_ZERO_VERSION: i16 = 4;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<ApiVersionsRequest>(body) else {
        return Response::Close;
    };
    if !valid(&request, ctx.version) {
        let error = ResponseError::InvalidRequest.code();
        return ctx.respond(&ApiVersionsResponse::default().with_error_code(error));
    }
    ctx.respond(&response(ctx.version))
}

/// The v0 answer to an ApiVersions request of a version shoal does not know: the
/// error, and the versions of ApiVersions itself.
pub fn unsupported(mut ctx: Ctx) -> Response {
    ctx.version = 0;
    let ours = served_versions()
        .into_iter()
        .filter(|v| v.api_key == ApiKey::ApiVersions as i16)
        .collect();
    ctx.respond(
        &ApiVersionsResponse::default()
            .with_error_code(ResponseError::UnsupportedVersion.code())
            .with_api_keys(ours),
    )
}

/// Whether a decoded request of `version` is answered in full: from v3 the client's
/// software name and version must be well formed.
pub fn valid(request: &ApiVersionsRequest, version: i16) -> bool {
    version < CLIENT_SOFTWARE_VERSION
        || (well_formed(&request.client_software_name)
            && well_formed(&request.client_software_version))
}

/// A client's software name or version as Kafka takes them: letters, digits, `-` and
/// `.`, beginning and ending with a letter or digit.
fn well_formed(s: &str) -> bool {
    let inner = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() && s.chars().all(inner)
}

fn served_versions() -> Vec<ApiVersion> {
    super::served()
        .into_iter()
        .map(|(api, versions)| {
            let theirs = api.valid_versions();
            ApiVersion::default()
                .with_api_key(api as i16)
                .with_min_version((*versions.start()).max(theirs.min))
                .with_max_version((*versions.end()).min(theirs.max))
        })
        .collect()
}

/// The served versions, and `transaction.version` 2 finalized, for a request of
/// `version`.
fn response(version: i16) -> ApiVersionsResponse {
    let name = || StrBytes::from_static_str("transaction.version");
    let supported = SupportedFeatureKey::default()
        .with_name(name())
        .with_min_version(0)
        .with_max_version(TV2);
    let supported = [supported]
        .into_iter()
        .filter(|f| version >= FEATURES_FROM_ZERO_VERSION || f.min_version > 0)
        .collect();
    let finalized = FinalizedFeatureKey::default()
        .with_name(name())
        .with_min_version_level(TV2)
        .with_max_version_level(TV2);
    ApiVersionsResponse::default()
        .with_api_keys(served_versions())
        .with_supported_features(supported)
        // The features never change: one epoch for the broker's life.
        .with_finalized_features_epoch(1)
        .with_finalized_features(vec![finalized])
}

#[cfg(test)]
mod tests {
    use super::{response, well_formed};

    #[test]
    fn features_from_zero_only_from_v4() {
        assert!(response(3).supported_features.is_empty());
        assert_eq!(response(4).supported_features.len(), 1);
        assert_eq!(response(3).finalized_features.len(), 1);
    }

    #[test]
    fn client_software_as_kafka_takes_it() {
        for good in ["librdkafka", "apache-kafka-java", "3.9.0", "a", "2.0.2-RC1"] {
            assert!(well_formed(good), "{good}");
        }
        for bad in ["", "-a", "a.", "a b", "a_b", "é"] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
