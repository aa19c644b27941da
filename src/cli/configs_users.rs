//! `shoal configs --entity-type users|clients|ips` (and `--user`, `--client`, `--ip`,
//! `--user-defaults`, `--client-defaults`, `--ip-defaults`): client quotas, connection
//! rate quotas of client addresses, and SCRAM credentials, as kafka-configs.sh manages
//! them.
//! - `--add-config 'producer_byte_rate=1024,request_percentage=50'` sets quotas and
//!   `--delete-config producer_byte_rate` removes them (AlterClientQuotas);
//! - for a named user, `--add-config 'SCRAM-SHA-512=[iterations=8192,password=...]'`
//!   salts the password here and sets the credential (iterations default to 4096), and
//!   `--delete-config SCRAM-SHA-512` deletes it;
//! - `--describe` lists the quotas of the entity (every named one of the type without a
//!   name) and, for users, their SCRAM mechanisms and iterations.

use anyhow::{bail, Context, Result};

use super::configs::{configs_to_add, ConfigsArgs};
use crate::client::cluster::Cluster;
use crate::client::quotas::{self, Entity, Match, QuotaOps};
use crate::client::scram::{self, ScramChange};
use crate::security::ScramMechanism;

/// Kafka's default iterations for a credential set without any.
const ITERATIONS_DEFAULT: i32 = 4096;

const USER: &str = "user";
const CLIENT_ID: &str = "client-id";
const IP: &str = "ip";

/// The entity the command line names: its types (user, client-id, ip) in that order,
/// each with a name, the default, or (describe only) every named one.
type Components = Vec<(&'static str, Match)>;

fn entity(args: &ConfigsArgs) -> Result<Components> {
    let named = |name: &Option<String>, default: bool| match (name, default) {
        (Some(name), _) => Some(Match::Exact(name.clone())),
        (None, true) => Some(Match::Default),
        (None, false) => None,
    };
    let mut user = named(&args.user, args.user_defaults);
    let mut client = named(&args.client, args.client_defaults);
    let mut ip = named(&args.ip, args.ip_defaults);
    // Each type takes the name or default in its place; a type without one (describe
    // only) stands for every named entity of the type.
    for (i, entity_type) in args.entity_types()?.iter().enumerate() {
        let part = match args.entities.get(i) {
            Some(Some(name)) => Match::Exact(name.clone()),
            Some(None) => Match::Default,
            None => Match::Any,
        };
        match entity_type.as_str() {
            "users" => user = Some(part),
            "ips" => ip = Some(part),
            _ => client = Some(part),
        }
    }
    let components: Components = [(USER, user), (CLIENT_ID, client), (IP, ip)]
        .into_iter()
        .filter_map(|(entity_type, part)| Some((entity_type, part?)))
        .collect();
    if components.is_empty() {
        bail!("at least one entity type must be specified");
    }
    Ok(components)
}

pub fn run(args: &ConfigsArgs) -> Result<()> {
    let components = entity(args)?;
    let adds = args.add_config.is_some() || args.add_config_file.is_some();
    if args.describe && (adds || !args.delete_config.is_empty()) {
        bail!("--add-config and --delete-config cannot be used with --describe");
    }
    let mut cluster = args.connect.connect()?;
    if args.describe {
        return describe(&mut cluster, &components);
    }
    let mut entity: Entity = Vec::new();
    for (entity_type, part) in &components {
        let name = match part {
            Match::Exact(name) => Some(name.clone()),
            Match::Default => None,
            Match::Any => bail!("an entity name or default entity must be specified with --alter of users, clients and ips"),
        };
        entity.push((entity_type.to_string(), name));
    }
    let (scram_changes, quota_ops) = changes(args)?;
    if !scram_changes.is_empty() {
        let [(USER, Match::Exact(user))] = components.as_slice() else {
            bail!("SCRAM credentials are a named user's alone (--entity-type users --entity-name USER)");
        };
        scram::alter_scram(&mut cluster, user, &scram_changes)?;
    }
    if !quota_ops.is_empty() {
        quotas::alter_quotas(&mut cluster, &entity, &quota_ops)?;
    }
    let parts: Vec<String> = entity
        .iter()
        .map(|(entity_type, name)| {
            let kind = match entity_type.as_str() {
                USER => "user",
                CLIENT_ID => "client",
                _ => "ip",
            };
            format!("{kind} {}", name.as_deref().unwrap_or("<default>"))
        })
        .collect();
    super::say(format_args!(
        "Completed updating config for {}.",
        parts.join(", ")
    ))?;
    Ok(())
}

fn describe(cluster: &mut Cluster, components: &Components) -> Result<()> {
    for (entity, values) in quotas::describe_quotas(cluster, components, true)? {
        // Kafka's wording: "user-principal 'alice', client-id 'c1'", "the default ip".
        let who: Vec<String> = [
            (USER, "user-principal"),
            (CLIENT_ID, "client-id"),
            (IP, "ip"),
        ]
        .into_iter()
        .filter_map(|(entity_type, shown)| {
            let (_, name) = entity.iter().find(|(t, _)| t == entity_type)?;
            Some(match name {
                Some(name) => format!("{shown} '{name}'"),
                None => format!("the default {shown}"),
            })
        })
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
    let users = match components.as_slice() {
        [(USER, Match::Exact(name))] => vec![name.clone()],
        [(USER, Match::Any)] => Vec::new(),
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
    let set = configs_to_add(args)?;
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
