//! DescribeUserScramCredentials (KIP-554): which SCRAM mechanisms each user has, with
//! their iterations; never a salt or key. Needs DESCRIBE on the cluster. No users named
//! (null or none, as in Kafka) describes every user; a user named twice, or one without credentials, gets
//! Kafka's per-user error.

use std::ops::RangeInclusive;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};
use crate::acl::Operation;

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<DescribeUserScramCredentialsRequest>(body) else {
        return Response::Close;
    };
    let response = DescribeUserScramCredentialsResponse::default().with_error_message(None);
    if !ctx.allowed_on_cluster(Operation::Describe) {
        return ctx
            .respond(&response.with_error_code(ResponseError::ClusterAuthorizationFailed.code()));
    }
    let snapshot = ctx.shard.snapshot();
    let credentials = &snapshot.state.scram;
    let users: Vec<String> = match request.users {
        Some(users) if !users.is_empty() => users.into_iter().map(|u| u.name.to_string()).collect(),
        _ => credentials.keys().cloned().collect(),
    };
    let mut asked: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for user in &users {
        *asked.entry(user.as_str()).or_default() += 1;
    }
    let results = users
        .iter()
        .map(|user| {
            let result = DescribeUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(user.clone()))
                .with_error_message(None);
            let (code, message) = if asked[user.as_str()] > 1 {
                (
                    ResponseError::DuplicateResource,
                    "Cannot describe SCRAM credentials for the same user twice in a single request",
                )
            } else if let Some(held) = credentials.get(user) {
                let infos = held
                    .iter()
                    .map(|(mechanism, credential)| {
                        CredentialInfo::default()
                            .with_mechanism(mechanism.type_id())
                            .with_iterations(credential.iterations)
                    })
                    .collect();
                return result.with_credential_infos(infos);
            } else {
                (
                    ResponseError::ResourceNotFound,
                    "Attempt to describe nonexistent user",
                )
            };
            result
                .with_error_code(code.code())
                .with_error_message(Some(StrBytes::from_static_str(message)))
        })
        .collect();
    ctx.respond(&response.with_results(results))
}
