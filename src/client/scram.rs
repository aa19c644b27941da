//! The SCRAM user requests the tools make (KIP-554): AlterUserScramCredentials, with
//! the password salted here as Kafka's clients salt it, and
//! DescribeUserScramCredentials, sent to the controller.

use bytes::Bytes;
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};

use super::cluster::Cluster;
use super::error::{Error, Result};
use super::str_bytes;
use crate::security::scram::random_bytes;
use crate::security::ScramMechanism;

/// One change to a user's SCRAM credentials: set from a password, or deleted.
pub enum ScramChange {
    Set {
        mechanism: ScramMechanism,
        iterations: i32,
        password: String,
    },
    Delete(ScramMechanism),
}

/// Applies `changes` to `user`'s credentials, one request each (a broker takes one
/// change of a user per request); the first refusal is the error.
pub fn alter_scram(cluster: &mut Cluster, user: &str, changes: &[ScramChange]) -> Result<()> {
    let broker = cluster.controller()?;
    let version = broker.version::<AlterUserScramCredentialsRequest>()?;
    for change in changes {
        let mut request = AlterUserScramCredentialsRequest::default();
        match change {
            ScramChange::Set {
                mechanism,
                iterations,
                password,
            } => {
                let salt = random_bytes(32).map_err(|e| Error::Invalid(e.to_string()))?;
                let rounds = u32::try_from(*iterations).unwrap_or(0);
                let salted = mechanism.salted_password(password.as_bytes(), &salt, rounds);
                request.upsertions.push(
                    ScramCredentialUpsertion::default()
                        .with_name(str_bytes(user))
                        .with_mechanism(mechanism.type_id())
                        .with_iterations(*iterations)
                        .with_salt(Bytes::from(salt))
                        .with_salted_password(Bytes::from(salted)),
                );
            }
            ScramChange::Delete(mechanism) => request.deletions.push(
                ScramCredentialDeletion::default()
                    .with_name(str_bytes(user))
                    .with_mechanism(mechanism.type_id()),
            ),
        }
        let response = broker.call(version, &request)?;
        for result in &response.results {
            Error::check(result.error_code, result.error_message.as_deref(), || {
                format!(
                    "cannot alter SCRAM credentials of user {}",
                    result.user.as_str()
                )
            })?;
        }
    }
    Ok(())
}

/// A user's SCRAM mechanisms, each with its iterations.
pub type UserCredentials = (String, Vec<(ScramMechanism, i32)>);

/// Each user's mechanisms and iterations (every user when `users` is empty); a user
/// without credentials is an error.
pub fn describe_scram(cluster: &mut Cluster, users: &[String]) -> Result<Vec<UserCredentials>> {
    let broker = cluster.controller()?;
    let version = broker.version::<DescribeUserScramCredentialsRequest>()?;
    let names = users
        .iter()
        .map(|u| UserName::default().with_name(str_bytes(u)))
        .collect();
    let request = DescribeUserScramCredentialsRequest::default().with_users(Some(names));
    let response = broker.call(version, &request)?;
    Error::check(
        response.error_code,
        response.error_message.as_deref(),
        || "cannot describe SCRAM credentials".to_string(),
    )?;
    let mut described = Vec::new();
    for result in response.results {
        Error::check(result.error_code, result.error_message.as_deref(), || {
            format!("user {}", result.user.as_str())
        })?;
        let infos = result
            .credential_infos
            .iter()
            .filter_map(|i| Some((ScramMechanism::from_type_id(i.mechanism)?, i.iterations)))
            .collect();
        described.push((result.user.to_string(), infos));
    }
    Ok(described)
}
