//! AlterUserScramCredentials (KIP-554): sets and deletes SCRAM users' credentials. The
//! client salts the password; the broker keeps the salt and the two keys derived from
//! the salted password. Needs ALTER on the cluster. Checked as Kafka's controller
//! (`ScramControlManager`) checks them: a user named, a known mechanism, iterations
//! within Kafka's bounds, a salt and salted password given (shoal's own check), and
//! each user at most once per request, whatever the mechanism: a user named twice is
//! refused with DUPLICATE_RESOURCE and neither change applies. One result per user.

use std::ops::RangeInclusive;

use bytes::Bytes;
use indexmap::IndexMap;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{on_controller, Ctx, Response};
use crate::acl::Operation;
use crate::cluster::image::ScramChange;
use crate::error::ApiError;
use crate::security::{ScramCredential, ScramMechanism};

pub const VERSIONS: RangeInclusive<i16> = 0..=0;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    let Some(request) = ctx.decode::<AlterUserScramCredentialsRequest>(body) else {
        return Response::Close;
    };
    let answer = |results: Vec<(String, Result<(), ApiError>)>| {
        let results = results
            .into_iter()
            .map(|(user, result)| {
                let (code, message) = match result {
                    Ok(()) => (0, None),
                    Err(error) => (error.code.code(), error.message.map(StrBytes::from_string)),
                };
                AlterUserScramCredentialsResult::default()
                    .with_user(StrBytes::from_string(user))
                    .with_error_code(code)
                    .with_error_message(message)
            })
            .collect();
        ctx.respond(&AlterUserScramCredentialsResponse::default().with_results(results))
    };
    // Each user's change, users in the order they first appear (deletions first).
    let mut changes: IndexMap<String, Result<ScramChange, ApiError>> = IndexMap::new();
    let deletions = request
        .deletions
        .iter()
        .map(|d| (&d.name, d.mechanism, None));
    let upsertions = request.upsertions.iter().map(|u| {
        let credential = (u.iterations, &u.salt, &u.salted_password);
        (&u.name, u.mechanism, Some(credential))
    });
    for (name, mechanism, upsertion) in deletions.chain(upsertions) {
        match changes.get_mut(name.as_str()) {
            // A user refused stays refused.
            Some(Err(_)) => {}
            Some(change) => {
                *change = Err(ApiError::new(
                    ResponseError::DuplicateResource,
                    "A user credential cannot be altered twice in the same request",
                ));
            }
            None => {
                changes.insert(name.to_string(), checked(name, mechanism, upsertion));
            }
        }
    }
    if !ctx.allowed_on_cluster(Operation::Alter) {
        let denied = || Err(ApiError::code(ResponseError::ClusterAuthorizationFailed));
        return answer(changes.into_keys().map(|u| (u, denied())).collect());
    }
    let mut results: Vec<(String, Result<(), ApiError>)> = Vec::new();
    let mut valid = Vec::new();
    for (user, change) in changes {
        match change {
            Ok(change) => {
                valid.push((user.clone(), vec![change]));
                results.push((user, Ok(())));
            }
            Err(error) => results.push((user, Err(error))),
        }
    }
    // SCRAM users are cluster metadata, changed by the controller.
    let mut applied = on_controller(&ctx.shard, valid, |s, valid| async move {
        s.controller().alter_scram(&s, valid).await
    })
    .await
    .into_iter();
    for (_, result) in results.iter_mut().filter(|(_, r)| r.is_ok()) {
        *result = applied
            .next()
            .unwrap_or_else(|| Err(ApiError::code(ResponseError::UnknownServerError)));
    }
    answer(results)
}

/// One deletion (`None`) or upsertion, checked on its own.
fn checked(
    name: &StrBytes,
    mechanism: i8,
    upsertion: Option<(i32, &Bytes, &Bytes)>,
) -> Result<ScramChange, ApiError> {
    let unacceptable =
        |message: &str| ApiError::new(ResponseError::UnacceptableCredential, message);
    if name.is_empty() {
        return Err(unacceptable("Username must not be empty"));
    }
    let Some(scram) = ScramMechanism::from_type_id(mechanism) else {
        return Err(ApiError::new(
            ResponseError::UnsupportedSaslMechanism,
            "Unknown SCRAM mechanism",
        ));
    };
    let credential = match upsertion {
        None => None,
        Some((iterations, salt, salted_password)) => {
            if iterations < ScramMechanism::ITERATIONS_MIN {
                return Err(unacceptable("Too few iterations"));
            }
            if iterations > ScramMechanism::ITERATIONS_MAX {
                return Err(unacceptable("Too many iterations"));
            }
            if salt.is_empty() || salted_password.is_empty() {
                return Err(unacceptable("Salt and salted password must not be empty"));
            }
            Some(ScramCredential::from_salted(
                scram,
                salted_password,
                salt.to_vec(),
                iterations,
            ))
        }
    };
    Ok(ScramChange {
        user: name.to_string(),
        mechanism: scram,
        credential,
    })
}
