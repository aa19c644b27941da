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
        // Kafka's refusal: the error, and a result carrying it for each user named.
        let error = ResponseError::ClusterAuthorizationFailed;
        let each = request.users.iter().flatten().map(|_| {
            DescribeUserScramCredentialsResult::default()
                .with_error_code(error.code())
                .with_error_message(None)
        });
        let results = each.collect();
        return ctx.respond(&response.with_error_code(error.code()).with_results(results));
    }
    let snapshot = ctx.shard.snapshot();
    let credentials = &snapshot.state.scram;
    // Each user once, in the order first named, with whether it was named twice.
    let mut users: Vec<(String, bool)> = Vec::new();
    match request.users {
        Some(named) if !named.is_empty() => {
            for user in named {
                match users.iter_mut().find(|(u, _)| *u == user.name.as_str()) {
                    Some((_, twice)) => *twice = true,
                    None => users.push((user.name.to_string(), false)),
                }
            }
        }
        _ => users.extend(credentials.keys().map(|u| (u.clone(), false))),
    }
    let results = users
        .into_iter()
        .map(|(user, twice)| {
            let result = DescribeUserScramCredentialsResult::default()
                .with_user(StrBytes::from_string(user.clone()))
                .with_error_message(None);
            let (code, message) = match credentials.get(&user) {
                _ if twice => (
                    ResponseError::DuplicateResource,
                    format!("Cannot describe SCRAM credentials for the same user twice in a single request: {user}"),
                ),
                Some(held) => {
                    let infos = held
                        .iter()
                        .map(|(mechanism, credential)| {
                            CredentialInfo::default()
                                .with_mechanism(mechanism.type_id())
                                .with_iterations(credential.iterations)
                        })
                        .collect();
                    return result.with_credential_infos(infos);
                }
                None => (
                    ResponseError::ResourceNotFound,
                    format!("Attempt to describe a user credential that does not exist: {user}"),
                ),
            };
            result
                .with_error_code(code.code())
                .with_error_message(Some(StrBytes::from_string(message)))
        })
        .collect();
    ctx.respond(&response.with_results(results))
}
