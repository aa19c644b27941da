//! `shoal configs --entity-type users|clients` (and `--user`, `--client`,
//! `--user-defaults`, `--client-defaults`): client quotas and SCRAM credentials, as
//! kafka-configs.sh manages them.
//! - `--add-config 'producer_byte_rate=1024,request_percentage=50'` sets quotas and
//!   `--delete-config producer_byte_rate` removes them (AlterClientQuotas);
//! - for a named user, `--add-config 'SCRAM-SHA-512=[iterations=8192,password=...]'`
//!   salts the password here and sets the credential (iterations default to 4096), and
//!   `--delete-config SCRAM-SHA-512` deletes it;
//! - `--describe` lists the quotas of the entity (every named one of the type without a
//!   name) and, for users, their SCRAM mechanisms and iterations.

use anyhow::{bail, Context, Result};

use super::configs::{parse_add_config, ConfigsArgs};
use crate::client::cluster::Cluster;
use crate::client::quotas::{self, Match, QuotaOps};
use crate::client::scram::{self, ScramChange};
use crate::security::ScramMechanism;

/// Kafka's default iterations for a credential set without any.
const ITERATIONS_DEFAULT: i32 = 4096;

const USER: &str = "user";
const CLIENT_ID: &str = "client-id";

/// One part of the entity the command line names: a name, the default, or (describe
/// only) every named one.
type Part = Option<Match>;

/// The user and client-id parts of the entity, each absent when not named.
fn entity(args: &ConfigsArgs) -> Result<(Part, Part)> {
    let named = |name: &Option<String>, default: bool| match (name, default) {
        (Some(name), _) => Some(Match::Exact(name.clone())),
        (None, true) => Some(Match::Default),
        (None, false) => None,
    };
    let (mut user, mut client) = (
        named(&args.user, args.user_defaults),
        named(&args.client, args.client_defaults),
    );
    match args.entity_type.as_deref() {
        Some(entity_type) => {
            let part = named(&args.entity_name, args.entity_default).unwrap_or(Match::Any);
            match entity_type {
                "users" => user = Some(part),
                _ => client = Some(part),
            }
        }
        None if user.is_none() && client.is_none() => {
            bail!("at least one entity type must be specified")
        }
        None => {}
    }
    Ok((user, client))
}

pub fn run(args: &ConfigsArgs) -> Result<()> {
    let (user, client) = entity(args)?;
    if args.describe && (args.add_config.is_some() || !args.delete_config.is_empty()) {
        bail!("--add-config and --delete-config cannot be used with --describe");
    }
    let mut cluster = args.connect.connect()?;
    if args.describe {
        return describe(&mut cluster, &user, &client);
    }
    let named = |part: &Part| -> Result<Option<Option<String>>> {
        match part {
            None => Ok(None),
            Some(Match::Exact(name)) => Ok(Some(Some(name.clone()))),
            Some(Match::Default) => Ok(Some(None)),
            Some(Match::Any) => bail!("an entity name or default entity must be specified with --alter of users and clients"),
        }
    };
    let (user_name, client_name) = (named(&user)?, named(&client)?);
    let (scram_changes, quota_ops) = changes(args)?;
    if !scram_changes.is_empty() {
        let Some(Some(user)) = user_name.as_ref().filter(|_| client_name.is_none()) else {
            bail!("SCRAM credentials are a named user's alone (--entity-type users --entity-name USER)");
        };
        scram::alter_scram(&mut cluster, user, &scram_changes)?;
    }
    if !quota_ops.is_empty() {
        let mut entity = Vec::new();
        if let Some(name) = &user_name {
            entity.push((USER.to_string(), name.clone()));
        }
        if let Some(name) = &client_name {
            entity.push((CLIENT_ID.to_string(), name.clone()));
        }
        quotas::alter_quotas(&mut cluster, &entity, &quota_ops)?;
    }
    let shown = |kind: &str, name: &Option<Option<String>>| {
        name.as_ref()
            .map(|n| format!("{kind} {}", n.as_deref().unwrap_or("<default>")))
    };
    let parts: Vec<String> = [shown("user", &user_name), shown("client", &client_name)]
        .into_iter()
        .flatten()
        .collect();
    super::say(format_args!(
        "Completed updating config for {}.",
        parts.join(", ")
    ))?;
    Ok(())
}

fn describe(cluster: &mut Cluster, user: &Part, client: &Part) -> Result<()> {
    let mut components = Vec::new();
    if let Some(user) = user {
        components.push((USER, user.clone()));
    }
    if let Some(client) = client {
        components.push((CLIENT_ID, client.clone()));
    }
    for (entity, values) in quotas::describe_quotas(cluster, &components, true)? {
        let part = |entity_type: &str, shown: &str| {
            entity
                .iter()
                .find(|(t, _)| t == entity_type)
                .map(|(_, name)| match name {
                    Some(name) => format!("{shown} '{name}'"),
                    None => format!("the default {shown}"),
                })
        };
        let who: Vec<String> = [part(USER, "user-principal"), part(CLIENT_ID, "client-id")]
            .into_iter()
            .flatten()
            .collect();
        let values: Vec<String> = values
            .iter()
            .map(|(key, value)| format!("{key}={value:?}"))
            .collect();
        super::say(format_args!(
            "Quota configs for {} are {}",
            who.join(", "),
            values.join(", ")
        ))?;
    }
    // SCRAM credentials are a named user's (or every user's).
    let users = match (user, client) {
        (Some(Match::Exact(name)), None) => vec![name.clone()],
        (Some(Match::Any), None) => Vec::new(),
        _ => return Ok(()),
    };
    let described = match scram::describe_scram(cluster, &users) {
        Ok(described) => described,
        // A user with quotas but no credentials.
        Err(_) if !users.is_empty() => return Ok(()),
        Err(error) => return Err(error.into()),
    };
    for (user, infos) in described {
        let infos: Vec<String> = infos
            .iter()
            .map(|(mechanism, iterations)| format!("{}=iterations={iterations}", mechanism.name()))
            .collect();
        super::say(format_args!(
            "SCRAM credential configs for user-principal '{user}' are {}",
            infos.join(",")
        ))?;
    }
    Ok(())
}

/// The credential changes and quota alterations `--add-config` and `--delete-config`
/// ask for: a SCRAM mechanism's name is a credential, any other key a quota.
fn changes(args: &ConfigsArgs) -> Result<(Vec<ScramChange>, QuotaOps)> {
    let (mut scram_changes, mut quota_ops) = (Vec::new(), Vec::new());
    let set = match &args.add_config {
        Some(configs) => parse_add_config(configs)?,
        None => Vec::new(),
    };
    for (key, value) in set {
        match ScramMechanism::parse(&key) {
            Some(mechanism) => scram_changes.push(credential(&key, mechanism, &value)?),
            None => {
                let number = value
                    .trim()
                    .parse::<f64>()
                    .with_context(|| format!("{key}={value}: a quota is a number"))?;
                quota_ops.push((key, Some(number)));
            }
        }
    }
    for key in &args.delete_config {
        let key = key.trim();
        match ScramMechanism::parse(key) {
            Some(mechanism) => scram_changes.push(ScramChange::Delete(mechanism)),
            None => quota_ops.push((key.to_string(), None)),
        }
    }
    if scram_changes.is_empty() && quota_ops.is_empty() {
        bail!("at least one of --add-config or --delete-config must be specified with --alter");
    }
    Ok((scram_changes, quota_ops))
}

/// `SCRAM-SHA-512=[iterations=N,password=PASSWORD]`.
fn credential(key: &str, mechanism: ScramMechanism, value: &str) -> Result<ScramChange> {
    let mut iterations = ITERATIONS_DEFAULT;
    let mut password = None;
    for field in value.split(',') {
        match field.trim().split_once('=') {
            Some(("iterations", n)) => {
                iterations = n
                    .trim()
                    .parse()
                    .with_context(|| format!("{key}: iterations={n} is not a number"))?;
            }
            Some(("password", p)) => password = Some(p.to_string()),
            _ => bail!("{key}: expected [iterations=N,password=PASSWORD], got an entry {field:?}"),
        }
    }
    let Some(password) = password else {
        bail!("{key}: a password=... is required");
    };
    Ok(ScramChange::Set {
        mechanism,
        iterations,
        password,
    })
}
