//! Keys kept as given and resolved per listener at start-up: Kafka's `ssl.*` keys (TLS,
//! `config::ssl`) and `sasl.oauthbearer.*` keys (OAUTHBEARER, `config::sasl`). Their
//! broker-key rows store the text; a listener may override an `ssl.*` key with
//! `listener.name.<listener>.<key>` (the listener's name in lower case).
//!
//! Private keys, passwords and inline PEM are Kafka's PASSWORD keys: described as
//! sensitive, without their value, and never repeated in an error.

use super::broker::BrokerConfig;
use super::broker_keys::BrokerKey;
use super::listener::Listener;
use super::value::{invalid, parse_int};
use super::{ConfigError, ConfigType};

/// The keys, their types and Kafka's defaults.
const KEYS: &[(&str, ConfigType, Option<&str>)] = &[
    ("ssl.keystore.type", ConfigType::String, Some("JKS")),
    ("ssl.keystore.location", ConfigType::String, None),
    ("ssl.keystore.password", ConfigType::Password, None),
    ("ssl.key.password", ConfigType::Password, None),
    ("ssl.keystore.certificate.chain", ConfigType::Password, None),
    ("ssl.keystore.key", ConfigType::Password, None),
    ("ssl.truststore.type", ConfigType::String, Some("JKS")),
    ("ssl.truststore.location", ConfigType::String, None),
    ("ssl.truststore.password", ConfigType::Password, None),
    ("ssl.truststore.certificates", ConfigType::Password, None),
    ("ssl.client.auth", ConfigType::String, Some("none")),
    (
        "ssl.principal.mapping.rules",
        ConfigType::String,
        Some("DEFAULT"),
    ),
    (
        "ssl.enabled.protocols",
        ConfigType::List,
        Some("TLSv1.2,TLSv1.3"),
    ),
    ("ssl.protocol", ConfigType::String, Some("TLSv1.3")),
    ("ssl.cipher.suites", ConfigType::List, Some("")),
    (
        "ssl.endpoint.identification.algorithm",
        ConfigType::String,
        Some("https"),
    ),
    (
        "sasl.oauthbearer.jwks.endpoint.url",
        ConfigType::String,
        None,
    ),
    ("sasl.oauthbearer.expected.audience", ConfigType::List, None),
    ("sasl.oauthbearer.expected.issuer", ConfigType::String, None),
    (
        "sasl.oauthbearer.sub.claim.name",
        ConfigType::String,
        Some("sub"),
    ),
    (
        "sasl.oauthbearer.scope.claim.name",
        ConfigType::String,
        Some("scope"),
    ),
    (
        "sasl.oauthbearer.clock.skew.seconds",
        ConfigType::Int,
        Some("30"),
    ),
    (
        "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        ConfigType::Long,
        Some("3600000"),
    ),
];

macro_rules! kept_key {
    ($name:literal, $kind:expr) => {
        BrokerKey {
            name: $name,
            kind: $kind,
            dynamic: false,
            apply: set,
            render: |c| rendered(c, $name),
        }
    };
}

/// The broker-key rows of the kept keys (`broker_keys` lists them after its own).
pub(crate) static KEPT_KEYS: &[BrokerKey] = &[
    kept_key!("ssl.keystore.type", ConfigType::String),
    kept_key!("ssl.keystore.location", ConfigType::String),
    kept_key!("ssl.keystore.password", ConfigType::Password),
    kept_key!("ssl.key.password", ConfigType::Password),
    kept_key!("ssl.keystore.certificate.chain", ConfigType::Password),
    kept_key!("ssl.keystore.key", ConfigType::Password),
    kept_key!("ssl.truststore.type", ConfigType::String),
    kept_key!("ssl.truststore.location", ConfigType::String),
    kept_key!("ssl.truststore.password", ConfigType::Password),
    kept_key!("ssl.truststore.certificates", ConfigType::Password),
    kept_key!("ssl.client.auth", ConfigType::String),
    kept_key!("ssl.principal.mapping.rules", ConfigType::String),
    kept_key!("ssl.enabled.protocols", ConfigType::List),
    kept_key!("ssl.protocol", ConfigType::String),
    kept_key!("ssl.cipher.suites", ConfigType::List),
    kept_key!("ssl.endpoint.identification.algorithm", ConfigType::String),
    kept_key!("sasl.oauthbearer.jwks.endpoint.url", ConfigType::String),
    kept_key!("sasl.oauthbearer.expected.audience", ConfigType::List),
    kept_key!("sasl.oauthbearer.expected.issuer", ConfigType::String),
    kept_key!("sasl.oauthbearer.sub.claim.name", ConfigType::String),
    kept_key!("sasl.oauthbearer.scope.claim.name", ConfigType::String),
    kept_key!("sasl.oauthbearer.clock.skew.seconds", ConfigType::Int),
    kept_key!(
        "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        ConfigType::Long
    ),
];

/// Whether a listener may override `setting` (a key without its listener prefix): the
/// `ssl.*` keys.
pub(crate) fn is_listener_key(setting: &str) -> bool {
    setting.starts_with("ssl.") && KEYS.iter().any(|(name, _, _)| *name == setting)
}

/// Stores `value` for `key`, checked as far as it can be alone.
fn set(c: &mut BrokerConfig, key: &str, value: &str) -> Result<(), ConfigError> {
    check(key, value)?;
    c.kept.insert(key.to_string(), value.to_string());
    Ok(())
}

fn check(key: &str, value: &str) -> Result<(), ConfigError> {
    match key.rsplit_once("sasl.oauthbearer.").map(|(_, s)| s) {
        Some("clock.skew.seconds") => parse_int(key, value, 0, i32::MAX).map(drop),
        Some("jwks.endpoint.refresh.ms") => parse_int(key, value, 0, i64::MAX).map(drop),
        Some("sub.claim.name") if value.trim().is_empty() => {
            Err(invalid(key, value, "a claim name"))
        }
        Some(_) => Ok(()),
        None => super::ssl::check(key, value),
    }
}

/// The value of `key` as DescribeConfigs shows it (a sensitive key never).
fn rendered(c: &BrokerConfig, key: &str) -> Option<String> {
    let (_, kind, default) = KEYS.iter().find(|(name, _, _)| *name == key)?;
    if *kind == ConfigType::Password {
        return None;
    }
    c.kept
        .get(key)
        .cloned()
        .or_else(|| default.map(str::to_string))
}

/// `key`'s value for `listener`, with the name it was given under (for errors): the
/// listener's own (`listener.name.<listener>.<key>`, checked here), else the broker's,
/// else Kafka's default; `None` when unset or empty.
pub(crate) fn listener_value(
    config: &BrokerConfig,
    listener: &Listener,
    key: &str,
) -> Result<(String, Option<String>), ConfigError> {
    let prefixed = listener_key(listener, key);
    if let Some(value) = config.listener_setting(&prefixed) {
        check(&prefixed, value)?;
        return Ok((prefixed, Some(value.to_string())));
    }
    let default = KEYS
        .iter()
        .find(|(name, _, _)| *name == key)
        .and_then(|k| k.2);
    let value = config
        .kept
        .get(key)
        .cloned()
        .or(default.map(str::to_string));
    Ok((key.to_string(), value.filter(|v| !v.is_empty())))
}

/// `key` as `listener` overrides it: `listener.name.<listener>.<key>`, the name in lower case.
pub(crate) fn listener_key(listener: &Listener, key: &str) -> String {
    format!(
        "{}{}.{key}",
        super::sasl::LISTENER_PREFIX,
        listener.name.to_ascii_lowercase()
    )
}
