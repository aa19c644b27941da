//! `--command-config FILE`: the client properties Kafka's tools take, for a secured
//! broker. Read: `security.protocol` (PLAINTEXT, SASL_PLAINTEXT, SSL or SASL_SSL);
//! for SASL, `sasl.mechanism` (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) and the user and
//! password, from `sasl.jaas.config` (`...LoginModule required username="..."
//! password="...";`, as Java clients give them) or from `sasl.username`/`sasl.password`
//! (librdkafka's names); for TLS, the CAs the broker's certificate chains to
//! (librdkafka's `ssl.ca.location`, or Java's `ssl.truststore.location` or
//! `ssl.truststore.certificates` with `ssl.truststore.type=PEM`; the system's CAs
//! without one), whether its certificate must name the host dialled
//! (`ssl.endpoint.identification.algorithm`: `https`, the default, or empty or `none`
//! for no check) and, for a broker that
//! asks for one, the client's certificate and key (`ssl.certificate.location` and
//! `ssl.key.location`, or a PEM `ssl.keystore.location`, or
//! `ssl.keystore.certificate.chain` and `ssl.keystore.key`). Other client properties
//! are passed over, as Kafka's clients pass over ones they do not use.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::client::cluster::Login;
use crate::security::{jaas, tls, Mechanism, SecurityProtocol};

/// How a command-config file asks to reach the broker.
#[derive(Default)]
pub struct Security {
    pub login: Option<Login>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// The properties of a client properties file (`--command-config`, `--producer.config`,
/// `--consumer.config`), in file order.
pub fn read(path: &Path, flag: &str) -> Result<Vec<(String, String)>> {
    crate::config::read_properties(path)
        .with_context(|| format!("reading {flag} {}", path.display()))
}

/// Whether a client property is one this file's rules read (the login and TLS).
pub fn is_security_key(key: &str) -> bool {
    key == "security.protocol" || key.starts_with("sasl.") || key.starts_with("ssl.")
}

/// What `properties` ask for (the last value of a key wins); `source` names them in
/// errors.
pub fn security(properties: &[(String, String)], source: &str) -> Result<Security> {
    // The last value given for `key`, trimmed; `Some("")` when given empty.
    let raw = |key: &str| super::properties::last(properties, key).map(str::to_string);
    // Java's empty value and librdkafka's `none` check no host; `https` (the default) does.
    let check_host = match raw("ssl.endpoint.identification.algorithm") {
        None => true,
        Some(value) if value.eq_ignore_ascii_case("none") => false,
        Some(value) => tls::checks_host(&value).with_context(|| {
            format!("ssl.endpoint.identification.algorithm={value}: https, or none (or empty) for no host check")
        })?,
    };
    let get = |key: &str| raw(key).filter(|v| !v.is_empty());
    let protocol = get("security.protocol").unwrap_or_else(|| "PLAINTEXT".to_string());
    let Some(protocol) = SecurityProtocol::parse(&protocol.to_ascii_uppercase()) else {
        bail!(
            "security.protocol={protocol} is not one of PLAINTEXT, SASL_PLAINTEXT, SSL, SASL_SSL"
        );
    };
    Ok(Security {
        login: match protocol.is_sasl() {
            true => Some(login(source, &get)?),
            false => None,
        },
        tls: match protocol.is_tls() {
            true => Some(Arc::new(client_tls(&get, check_host)?)),
            false => None,
        },
    })
}

fn login(source: &str, get: &dyn Fn(&str) -> Option<String>) -> Result<Login> {
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
        bail!("{source} names no user and password: sasl.jaas.config with username=\"...\" password=\"...\", or sasl.username and sasl.password");
    };
    Ok(Login {
        mechanism,
        username,
        password,
    })
}

/// The client's TLS config from librdkafka's or Java's PEM settings.
fn client_tls(
    get: &dyn Fn(&str) -> Option<String>,
    check_host: bool,
) -> Result<rustls::ClientConfig> {
    let read = |key: &str| -> Result<Option<Vec<u8>>> {
        match get(key) {
            Some(path) => Ok(Some(
                std::fs::read(&path).with_context(|| format!("{key}: reading {path}"))?,
            )),
            None => Ok(None),
        }
    };
    for key in ["ssl.truststore.type", "ssl.keystore.type"] {
        if let Some(kind) = get(key).filter(|k| !k.eq_ignore_ascii_case("PEM")) {
            bail!("{key}={kind}: shoal's tools read PEM only");
        }
    }
    // Without a CA the system's are trusted, as librdkafka and Java do.
    let ca = match (
        read("ssl.ca.location")?,
        read("ssl.truststore.location")?,
        get("ssl.truststore.certificates"),
    ) {
        (Some(ca), _, _) | (None, Some(ca), _) => Some(ca),
        (None, None, inline) => inline.map(String::into_bytes),
    };

    let identity = match (
        read("ssl.certificate.location")?,
        read("ssl.key.location")?,
        read("ssl.keystore.location")?,
    ) {
        (Some(chain), Some(key), _) => Some((chain, key)),
        (None, None, Some(both)) => Some((both.clone(), both)),
        (None, None, None) => match (
            get("ssl.keystore.certificate.chain"),
            get("ssl.keystore.key"),
        ) {
            (Some(chain), Some(key)) => Some((chain.into_bytes(), key.into_bytes())),
            _ => None,
        },
        _ => bail!("a client certificate needs both ssl.certificate.location and ssl.key.location"),
    };
    let password = get("ssl.key.password").map(tls::KeyPassword);
    let identity = identity
        .as_ref()
        .map(|(c, k)| (c.as_slice(), k.as_slice(), password.as_ref()));
    tls::client_config(ca.as_deref(), check_host, identity)
        .map_err(|why| anyhow::anyhow!("TLS: {why}"))
}
