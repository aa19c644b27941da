//! SASL settings: `sasl.enabled.mechanisms`, and the listener-prefixed keys Kafka reads
//! for each SASL listener, `listener.name.<listener>.sasl.enabled.mechanisms` and
//! `listener.name.<listener>.<mechanism>.sasl.jaas.config` (the listener's name in lower
//! case, the mechanism too: `listener.name.sasl_plaintext.plain.sasl.jaas.config`).
//!
//! A JAAS config holds passwords: errors about one never repeat its value.

use crate::security::{jaas, ListenerSecurity, Mechanism, SecurityProtocol};

use super::broker::BrokerConfig;
use super::listener::Listener;
use super::value::{invalid, split_list};
use super::ConfigError;

pub(crate) const LISTENER_PREFIX: &str = "listener.name.";
const MECHANISMS_KEY: &str = "sasl.enabled.mechanisms";
const JAAS_SUFFIX: &str = ".sasl.jaas.config";
/// What an error shows instead of a JAAS config.
const HIDDEN: &str = "(not shown: it holds passwords)";

/// Kafka's default for `sasl.enabled.mechanisms`.
pub(crate) fn default_mechanisms() -> Vec<Mechanism> {
    vec![Mechanism::Gssapi]
}

pub(crate) fn parse_mechanisms(key: &str, value: &str) -> Result<Vec<Mechanism>, ConfigError> {
    let mut mechanisms = Vec::new();
    for name in split_list(value) {
        let mechanism = Mechanism::parse(&name.to_ascii_uppercase()).ok_or_else(|| {
            invalid(
                key,
                value,
                "SASL mechanisms among GSSAPI, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER",
            )
        })?;
        if !mechanisms.contains(&mechanism) {
            mechanisms.push(mechanism);
        }
    }
    Ok(mechanisms)
}

pub(crate) fn render_mechanisms(mechanisms: &[Mechanism]) -> String {
    let names: Vec<&str> = mechanisms.iter().map(|m| m.name()).collect();
    names.join(",")
}

/// Whether `key` is a listener-prefixed key shoal reads; an error for one it does not.
pub(crate) fn check_listener_key(key: &str) -> Result<(), ConfigError> {
    let Some(rest) = key.strip_prefix(LISTENER_PREFIX) else {
        return Ok(());
    };
    let known = rest.split_once('.').is_some_and(|(listener, setting)| {
        !listener.is_empty()
            && (setting == MECHANISMS_KEY
                || super::ssl::is_key(setting)
                || setting
                    .strip_suffix(JAAS_SUFFIX)
                    .is_some_and(|m| Mechanism::parse(&m.to_ascii_uppercase()).is_some()))
    });
    match known {
        true => Ok(()),
        false => Err(ConfigError::UnknownKey {
            key: key.to_string(),
            hint: format!(
                "; the listener-prefixed keys shoal reads are {LISTENER_PREFIX}<listener>.{MECHANISMS_KEY}, \
                 {LISTENER_PREFIX}<listener>.<mechanism>{JAAS_SUFFIX} and {LISTENER_PREFIX}<listener>.ssl.*"
            ),
        }),
    }
}

/// How `listener`'s clients log in, checked: a SASL listener offers only mechanisms
/// shoal serves, and PLAIN needs a JAAS config naming its users.
pub(crate) fn listener_security(
    config: &BrokerConfig,
    listener: &Listener,
    protocol: SecurityProtocol,
) -> Result<ListenerSecurity, ConfigError> {
    let mut security = ListenerSecurity::plaintext();
    security.protocol = protocol;
    if !protocol.is_sasl() {
        return Ok(security);
    }
    let prefix = format!("{LISTENER_PREFIX}{}.", listener.name.to_ascii_lowercase());
    let mechanisms_key = format!("{prefix}{MECHANISMS_KEY}");
    security.mechanisms = match config.listener_setting(&mechanisms_key) {
        Some(value) => parse_mechanisms(&mechanisms_key, value)?,
        None => config.sasl_enabled_mechanisms.clone(),
    };
    let shown = render_mechanisms(&security.mechanisms);
    if security.mechanisms.is_empty() {
        return Err(invalid(
            MECHANISMS_KEY,
            &shown,
            format!("at least one mechanism for SASL listener {}", listener.name),
        ));
    }
    if let Some(unserved) = security.mechanisms.iter().find(|m| !m.served()) {
        return Err(invalid(
            MECHANISMS_KEY,
            &shown,
            format!(
                "mechanisms shoal serves on listener {} (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512); \
                 {unserved} is not served yet",
                listener.name
            ),
        ));
    }
    if security.mechanisms.contains(&Mechanism::Plain) {
        let key = format!("{prefix}plain{JAAS_SUFFIX}");
        let value = config.listener_setting(&key).ok_or_else(|| {
            invalid(
                &key,
                "(not set)",
                "PlainLoginModule's users for PLAIN (user_NAME=\"password\" ...)",
            )
        })?;
        let module = jaas::parse(value).map_err(|why| invalid(&key, HIDDEN, why))?;
        security.plain_users = module.plain_users();
        if security.plain_users.is_empty() {
            return Err(invalid(
                &key,
                HIDDEN,
                "at least one user_NAME=\"password\" option",
            ));
        }
    }
    // SCRAM's users are in the cluster's metadata; its JAAS config, if any, only parses.
    for scram in security
        .mechanisms
        .iter()
        .filter(|m| matches!(m, Mechanism::Scram(_)))
    {
        let key = format!("{prefix}{}{JAAS_SUFFIX}", scram.name().to_ascii_lowercase());
        if let Some(value) = config.listener_setting(&key) {
            jaas::parse(value).map_err(|why| invalid(&key, HIDDEN, why))?;
        }
    }
    Ok(security)
}
