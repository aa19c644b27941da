//! ApiVersions: the versions of every API shoal serves, computed from the handlers'
//! own declarations, and the features it supports and finalizes, as a Kafka 4.0
//! broker reports them: `metadata.version` 4.0-IV3, `group.version` 1 (KIP-848),
//! `transaction.version` 2 (KIP-890's second part, so clients that know it speak it,
//! in a cluster too), and `kraft.version` 1 on a quorum whose voters can change
//! (KIP-853; 0, and so not listed, on one fixed by `controller.quorum.voters`).
//! `eligible.leader.replicas.version` is not supported beyond 0, so it is not listed.
//!
//! Kafka's rules: a version shoal does not know is answered in v0 with
//! UNSUPPORTED_VERSION and ApiVersions' own range, for the client to retry; a body that
//! does not decode closes the connection; from v3 the client's software name and
//! version must be well formed (INVALID_REQUEST); before v4 a supported feature whose
//! range starts at 0 is left out, since older clients refuse one (KAFKA-17011); a
//! feature finalized at level 0 is not listed; the finalized features' epoch is the
//! offset of the metadata this broker has applied (0 in a cluster of one, which has no
//! metadata log and whose levels never change; not Kafka's -1 for "unknown", which
//! Java clients would not take the levels from).

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
    let snapshot = ctx.shard.snapshot();
    let layout = snapshot.layout();
    let epoch = layout.map_or(0, |l| i64::try_from(l.image.offset).unwrap_or(i64::MAX));
    // A quorum without `controller.quorum.voters` found its voters in its log.
    let dynamic_quorum = layout.is_some() && snapshot.broker.kraft.quorum_voters.is_empty();
    ctx.respond(&response(ctx.version, epoch, dynamic_quorum))
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

/// `metadata.version` 4.0-IV3 (Kafka's feature level 25), the release whose APIs and
/// rules shoal follows; 3.3-IV3 (level 7) is the lowest Kafka 4.0 supports.
const METADATA_VERSION_4_0_IV3: i16 = 25;
const METADATA_VERSION_MIN: i16 = 7;
/// `group.version` 1: the KIP-848 consumer protocol.
const GROUP_VERSION_1: i16 = 1;
/// `kraft.version` 1: voters that change through AddRaftVoter and RemoveRaftVoter.
const KRAFT_VERSION_1: i16 = 1;

/// Each feature: its name, the range supported, and the level finalized.
fn features(dynamic_quorum: bool) -> [(&'static str, RangeInclusive<i16>, i16); 4] {
    let kraft = if dynamic_quorum { KRAFT_VERSION_1 } else { 0 };
    [
        (
            "metadata.version",
            METADATA_VERSION_MIN..=METADATA_VERSION_4_0_IV3,
            METADATA_VERSION_4_0_IV3,
        ),
        ("kraft.version", 0..=KRAFT_VERSION_1, kraft),
        ("transaction.version", 0..=TV2, TV2),
        ("group.version", 0..=GROUP_VERSION_1, GROUP_VERSION_1),
    ]
}

/// The answer to a request of `version`: the served versions and the features, with
/// the metadata's `epoch` and whether the voters can change (`dynamic_quorum`).
fn response(version: i16, epoch: i64, dynamic_quorum: bool) -> ApiVersionsResponse {
    let features = features(dynamic_quorum);
    let supported = features
        .iter()
        .filter(|(_, range, _)| version >= FEATURES_FROM_ZERO_VERSION || *range.start() > 0)
        .map(|(name, range, _)| {
            SupportedFeatureKey::default()
                .with_name(StrBytes::from_static_str(name))
                .with_min_version(*range.start())
                .with_max_version(*range.end())
        })
        .collect();
    let finalized = features
        .iter()
        .filter(|(_, _, level)| *level > 0)
        .map(|(name, _, level)| {
            FinalizedFeatureKey::default()
                .with_name(StrBytes::from_static_str(name))
                .with_min_version_level(*level)
                .with_max_version_level(*level)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_api_keys(served_versions())
        .with_supported_features(supported)
        .with_finalized_features_epoch(epoch)
        .with_finalized_features(finalized)
}

#[cfg(test)]
mod tests {
    use super::{response, well_formed};

    fn names<T>(features: &[T], name: impl Fn(&T) -> &str) -> Vec<String> {
        features.iter().map(|f| name(f).to_string()).collect()
    }

    #[test]
    fn features_as_a_kafka_4_0_broker_lists_them() {
        let v3 = response(3, 7, false);
        // Before v4 only the features whose range does not start at 0.
        let supported = names(&v3.supported_features, |f| f.name.as_str());
        assert_eq!(supported, ["metadata.version"]);
        let v4 = response(4, 7, false);
        let supported = names(&v4.supported_features, |f| f.name.as_str());
        assert_eq!(
            supported,
            [
                "metadata.version",
                "kraft.version",
                "transaction.version",
                "group.version"
            ]
        );
        // kraft.version 0 on a static quorum: not finalized, so not listed.
        for r in [&v3, &v4] {
            let finalized = names(&r.finalized_features, |f| f.name.as_str());
            assert_eq!(
                finalized,
                ["metadata.version", "transaction.version", "group.version"]
            );
            assert_eq!(r.finalized_features_epoch, 7);
        }
        let dynamic = response(4, 7, true);
        let kraft = dynamic
            .finalized_features
            .iter()
            .find(|f| f.name.as_str() == "kraft.version")
            .map(|f| (f.min_version_level, f.max_version_level));
        assert_eq!(kraft, Some((1, 1)));
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
