//! `shoal configs --entity-type users`: SCRAM credentials, as kafka-configs.sh manages
//! them. `--alter --add-config 'SCRAM-SHA-512=[iterations=8192,password=...]'` salts
//! the password here and sets the credential (iterations default to 4096);
//! `--delete-config SCRAM-SHA-512` deletes it; `--describe` lists each user's
//! mechanisms and iterations. Client quotas (the other user configs) are not served yet.

use anyhow::{bail, Context, Result};

use super::configs::{parse_add_config, ConfigsArgs};
use crate::client::scram::{self, ScramChange};
use crate::security::ScramMechanism;

/// Kafka's default iterations for a credential set without any.
const ITERATIONS_DEFAULT: i32 = 4096;

pub fn run(args: &ConfigsArgs) -> Result<()> {
    let mut cluster = args.connect.connect()?;
    if args.describe {
        let users: Vec<String> = args.entity_name.iter().cloned().collect();
        for (user, infos) in scram::describe_scram(&mut cluster, &users)? {
            let infos: Vec<String> = infos
                .iter()
                .map(|(mechanism, iterations)| {
                    format!("{}=iterations={iterations}", mechanism.name())
                })
                .collect();
            super::say(format_args!(
                "SCRAM credential configs for user-principal '{user}' are {}",
                infos.join(",")
            ))?;
        }
        return Ok(());
    }
    let Some(user) = &args.entity_name else {
        bail!("an entity name must be specified with --alter of users");
    };
    let changes = changes(args)?;
    scram::alter_scram(&mut cluster, user, &changes)?;
    super::say(format_args!("Completed updating config for user {user}."))?;
    Ok(())
}

/// The credential changes `--add-config` and `--delete-config` ask for.
fn changes(args: &ConfigsArgs) -> Result<Vec<ScramChange>> {
    let mut changes = Vec::new();
    let set = match &args.add_config {
        Some(configs) => parse_add_config(configs)?,
        None => Vec::new(),
    };
    for (key, value) in set {
        let mechanism = scram_mechanism(&key)?;
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
                _ => bail!(
                    "{key}: expected [iterations=N,password=PASSWORD], got an entry {field:?}"
                ),
            }
        }
        let Some(password) = password else {
            bail!("{key}: a password=... is required");
        };
        changes.push(ScramChange::Set {
            mechanism,
            iterations,
            password,
        });
    }
    for key in &args.delete_config {
        changes.push(ScramChange::Delete(scram_mechanism(key.trim())?));
    }
    if changes.is_empty() {
        bail!("at least one of --add-config or --delete-config must be specified with --alter");
    }
    Ok(changes)
}

fn scram_mechanism(key: &str) -> Result<ScramMechanism> {
    ScramMechanism::parse(key).with_context(|| {
        format!("{key}: users' configs served are SCRAM-SHA-256 and SCRAM-SHA-512 (client quotas are not served yet)")
    })
}
