//! SASL settings: `sasl.enabled.mechanisms`, and the listener-prefixed keys Kafka reads
//! for each SASL listener, `listener.name.<listener>.sasl.enabled.mechanisms`,
//! `listener.name.<listener>.<mechanism>.sasl.jaas.config` and
//! `listener.name.<listener>.<mechanism>.connections.max.reauth.ms` (the listener's name
//! in lower case, the mechanism too: `listener.name.sasl_plaintext.plain.sasl.jaas.config`).
//!
//! A JAAS config holds passwords: errors about one never repeat its value.

use crate::security::oauth::OAuthSettings;
use crate::security::{jaas, ListenerSecurity, Mechanism, SecurityProtocol};

use super::broker::BrokerConfig;
use super::kept;
use super::listener::Listener;
use super::value::{invalid, split_list};
use super::ConfigError;

pub(crate) const LISTENER_PREFIX: &str = "listener.name.";
const MECHANISMS_KEY: &str = "sasl.enabled.mechanisms";
const JAAS_SUFFIX: &str = ".sasl.jaas.config";
const CALLBACK_SUFFIX: &str = ".sasl.server.callback.handler.class";
/// Kafka takes `connections.max.reauth.ms` for one mechanism of one listener too.
const REAUTH_SUFFIX: &str = ".connections.max.reauth.ms";
/// KIP-768's validator, by its names in Kafka 3.4+ and before: shoal checks OAUTHBEARER
/// tokens against a JWKS only (Kafka's default, unsecured, validator takes unsigned
/// tokens, which a production broker must not).
const VALIDATORS: [&str; 2] = [
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler",
];
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
                || super::kept::is_listener_key(setting)
                || setting
                    .strip_suffix(CALLBACK_SUFFIX)
                    .is_some_and(|m| m.eq_ignore_ascii_case("oauthbearer"))
                || [JAAS_SUFFIX, REAUTH_SUFFIX].iter().any(|suffix| {
                    setting
                        .strip_suffix(suffix)
                        .is_some_and(|m| Mechanism::parse(&m.to_ascii_uppercase()).is_some())
                }))
    });
    match known {
        true => Ok(()),
        false => Err(ConfigError::UnknownKey {
            key: key.to_string(),
            hint: format!(
                "; the listener-prefixed keys shoal reads are {LISTENER_PREFIX}<listener>.{MECHANISMS_KEY}, \
                 {LISTENER_PREFIX}<listener>.<mechanism>{JAAS_SUFFIX}, \
                 {LISTENER_PREFIX}<listener>.<mechanism>{REAUTH_SUFFIX}, \
                 {LISTENER_PREFIX}<listener>.oauthbearer{CALLBACK_SUFFIX} and {LISTENER_PREFIX}<listener>.ssl.*"
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
                "mechanisms shoal serves on listener {} (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, \
                 OAUTHBEARER); {unserved} is not served yet",
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
    if security.mechanisms.contains(&Mechanism::OAuthBearer) {
        security.oauth = Some(oauth_settings(config, listener, &prefix)?);
    }
    for &mechanism in &security.mechanisms {
        let key = format!(
            "{prefix}{}{REAUTH_SUFFIX}",
            mechanism.name().to_ascii_lowercase()
        );
        if let Some(value) = config.listener_setting(&key) {
            let ms = super::value::parse_int(&key, value, 0, i64::MAX)?;
            security.reauth_ms.push((mechanism, ms));
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

/// With a quorum whose inter-broker listener speaks SASL, how this broker logs in to the
/// others' replication ports: `sasl.mechanism.inter.broker.protocol` (PLAIN or SCRAM,
/// enabled on that listener) with the `username` and `password` options of the
/// listener's JAAS config for it, as Kafka's brokers log in. `None` otherwise.
pub(crate) fn inter_broker_login(
    config: &BrokerConfig,
) -> Result<Option<crate::security::InterBrokerLogin>, ConfigError> {
    const KEY: &str = "sasl.mechanism.inter.broker.protocol";
    let Some(listener) = config.inter_broker_listener() else {
        return Ok(None);
    };
    let security = config.security_of(&listener.name);
    if config.quorum_peers().is_none() || !security.protocol.is_sasl() {
        return Ok(None);
    }
    let mechanism = config.sasl_mechanism_inter_broker;
    let usable = matches!(mechanism, Mechanism::Plain | Mechanism::Scram(_));
    if !usable || !security.mechanisms.contains(&mechanism) {
        return Err(invalid(
            KEY,
            mechanism.name(),
            format!(
                "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, enabled on listener {}: the brokers \
                 log in to each other with it on the inter-broker listener",
                listener.name
            ),
        ));
    }
    node_login(config, listener, mechanism).map(Some)
}

/// How this node logs in to the others on `listener` with `mechanism`: the `username`
/// and `password` options of the listener's JAAS config for it.
pub(crate) fn node_login(
    config: &BrokerConfig,
    listener: &Listener,
    mechanism: Mechanism,
) -> Result<crate::security::InterBrokerLogin, ConfigError> {
    let prefix = format!("{LISTENER_PREFIX}{}.", listener.name.to_ascii_lowercase());
    let key = format!(
        "{prefix}{}{JAAS_SUFFIX}",
        mechanism.name().to_ascii_lowercase()
    );
    let module = match config.listener_setting(&key) {
        Some(value) => jaas::parse(value).map_err(|why| invalid(&key, HIDDEN, why))?,
        None => {
            return Err(invalid(
                &key,
                "(not set)",
                "the login module this node logs in to the others with",
            ))
        }
    };
    let option = |name: &str| module.options.get(name).cloned();
    let (Some(username), Some(password)) = (option("username"), option("password")) else {
        return Err(invalid(
            &key,
            HIDDEN,
            "username=\"...\" and password=\"...\" options: this node logs in to the others with them",
        ));
    };
    Ok(crate::security::InterBrokerLogin {
        mechanism,
        username,
        password,
    })
}

/// How `listener` checks OAUTHBEARER tokens: KIP-768's validator against a JWKS file,
/// with the `sasl.oauthbearer.*` keys.
fn oauth_settings(
    config: &BrokerConfig,
    listener: &Listener,
    prefix: &str,
) -> Result<OAuthSettings, ConfigError> {
    let key = format!("{prefix}oauthbearer{CALLBACK_SUFFIX}");
    let class = config.listener_setting(&key).unwrap_or("(not set)");
    if !VALIDATORS.contains(&class) {
        return Err(invalid(
            &key,
            class,
            format!(
                "{} for OAUTHBEARER on listener {}: shoal validates tokens against a JWKS only",
                VALIDATORS[0], listener.name
            ),
        ));
    }
    let get = |key: &str| kept::listener_value(config, listener, key);
    let (url_key, url) = get("sasl.oauthbearer.jwks.endpoint.url")?;
    let url = url.unwrap_or_default();
    let jwks = url
        .strip_prefix("file://")
        .or_else(|| url.strip_prefix("file:"))
        .filter(|path| path.starts_with('/'))
        .ok_or_else(|| {
            invalid(
                &url_key,
                &url,
                "a file: URL of the JWKS (file:///path/jwks.json); shoal does not fetch one over HTTP(S) yet",
            )
        })?;
    let (_, audience) = get("sasl.oauthbearer.expected.audience")?;
    let (_, skew) = get("sasl.oauthbearer.clock.skew.seconds")?;
    Ok(OAuthSettings {
        jwks: jwks.into(),
        audience: split_list(&audience.unwrap_or_default())
            .into_iter()
            .map(str::to_string)
            .collect(),
        issuer: get("sasl.oauthbearer.expected.issuer")?.1,
        sub_claim: get("sasl.oauthbearer.sub.claim.name")?
            .1
            .unwrap_or_else(|| "sub".to_string()),
        clock_skew_seconds: skew.and_then(|s| s.trim().parse().ok()).unwrap_or(30),
    })
}
