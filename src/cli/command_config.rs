//! `--command-config FILE`: the client properties Kafka's tools take, for a secured
//! broker. Read: `security.protocol` (PLAINTEXT or SASL_PLAINTEXT), `sasl.mechanism`
//! (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) and the user and password, from
//! `sasl.jaas.config` (`...LoginModule required username="..." password="...";`, as
//! Java clients give them) or from `sasl.username`/`sasl.password` (librdkafka's names).
//! Other client properties are passed over, as Kafka's clients pass over ones they do
//! not use.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::client::cluster::Login;
use crate::security::{jaas, Mechanism, SecurityProtocol};

/// The login a command-config file asks for (`None`: none).
pub fn login(path: &Path) -> Result<Option<Login>> {
    let properties = crate::config::read_properties(path)
        .with_context(|| format!("reading --command-config {}", path.display()))?;
    let get = |key: &str| {
        properties
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_string())
    };
    let protocol = get("security.protocol").unwrap_or_else(|| "PLAINTEXT".to_string());
    match SecurityProtocol::parse(&protocol.to_ascii_uppercase()) {
        Some(SecurityProtocol::Plaintext) => return Ok(None),
        Some(SecurityProtocol::SaslPlaintext) => {}
        Some(_) => bail!(
            "security.protocol={protocol}: shoal's tools speak PLAINTEXT and SASL_PLAINTEXT so far"
        ),
        None => bail!(
            "security.protocol={protocol} is not one of PLAINTEXT, SASL_PLAINTEXT, SSL, SASL_SSL"
        ),
    }
    let name = get("sasl.mechanism").unwrap_or_else(|| "GSSAPI".to_string());
    let mechanism = Mechanism::parse(&name.to_ascii_uppercase())
        .filter(|m| m.served())
        .with_context(|| format!("sasl.mechanism={name}: shoal's tools log in with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"))?;
    let (username, password) = match get("sasl.jaas.config") {
        Some(text) => {
            let module =
                jaas::parse(&text).map_err(|why| anyhow::anyhow!("sasl.jaas.config: {why}"))?;
            let option = |key: &str| module.options.get(key).cloned();
            (option("username"), option("password"))
        }
        None => (get("sasl.username"), get("sasl.password")),
    };
    let (Some(username), Some(password)) = (username, password) else {
        bail!("{} names no user and password: sasl.jaas.config with username=\"...\" password=\"...\", or sasl.username and sasl.password", path.display());
    };
    Ok(Some(Login {
        mechanism,
        username,
        password,
    }))
}
