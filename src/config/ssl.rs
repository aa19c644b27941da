//! TLS settings: Kafka's `ssl.*` broker keys (kept as given, `config::kept`), each of
//! which a listener may override with `listener.name.<listener>.ssl.*` (the listener's
//! name in lower case), resolved into a TLS listener's `TlsSettings`. shoal reads PEM keystores and truststores only
//! (`ssl.keystore.type=PEM`, Kafka's KIP-651): files, or PEM text in the settings.
//!
//! Private keys, passwords and inline PEM are Kafka's PASSWORD keys: described as
//! sensitive, without their value, and never repeated in an error.

use std::path::PathBuf;

use crate::security::tls::{
    self, ClientAuth, KeyPassword, Keystore, Pem, PrincipalRules, TlsSettings,
};

use super::broker::BrokerConfig;
use super::kept;
use super::listener::Listener;
use super::value::{invalid, split_list};
use super::ConfigError;

/// Checks a value of an `ssl.*` key (`key` may carry a listener prefix) as far as it
/// can be checked alone.
pub(super) fn check(key: &str, value: &str) -> Result<(), ConfigError> {
    let setting = key.rsplit_once("ssl.").map_or(key, |(_, s)| s);
    match setting {
        "client.auth" if ClientAuth::parse(value).is_none() => {
            Err(invalid(key, value, "one of required, requested, none"))
        }
        "principal.mapping.rules" => PrincipalRules::parse(value)
            .map(drop)
            .map_err(|why| invalid(key, value, why)),
        "enabled.protocols" => match split_list(value)
            .iter()
            .find(|v| !tls::VERSIONS.contains(v))
        {
            Some(_) => Err(invalid(key, value, "TLSv1.2 and/or TLSv1.3")),
            None => Ok(()),
        },
        "protocol" if !matches!(value, "TLSv1.2" | "TLSv1.3" | "TLS") => {
            Err(invalid(key, value, "TLSv1.2, TLSv1.3 or TLS"))
        }
        "endpoint.identification.algorithm" if tls::checks_host(value).is_none() => Err(invalid(
            key,
            value,
            "https, or empty to accept another node's certificate whatever host it names",
        )),
        _ => Ok(()),
    }
}

/// `listener`'s TLS settings, checked: a PEM keystore (a file, or chain and key inline),
/// an optional PEM truststore, and the rest of the `ssl.*` keys, each the listener's
/// own (`listener.name.<listener>.ssl.*`) if set, else the broker's.
pub(crate) fn listener_tls(
    config: &BrokerConfig,
    listener: &Listener,
    sasl: bool,
) -> Result<TlsSettings, ConfigError> {
    let get = |key: &str| kept::listener_value(config, listener, key);
    let pem_only = |key: &str| -> Result<(), ConfigError> {
        let (name, value) = get(key)?;
        let value = value.unwrap_or_default();
        match value.eq_ignore_ascii_case("PEM") {
            true => Ok(()),
            false => Err(invalid(
                &name,
                &value,
                format!(
                    "PEM (shoal reads PEM files and inline PEM only, for TLS listener {}; \
                     keytool and openssl convert a JKS or PKCS12 store)",
                    listener.name
                ),
            )),
        }
    };
    let hidden = "(not shown)";
    for key in ["ssl.keystore.password", "ssl.truststore.password"] {
        let (name, value) = get(key)?;
        if value.is_some() {
            let why = "unset: a PEM store has no password (Kafka refuses one too); an encrypted private key's is ssl.key.password";
            return Err(invalid(&name, hidden, why));
        }
    }
    let key_password = get("ssl.key.password")?.1.map(KeyPassword);
    let keystore = match (
        get("ssl.keystore.location")?,
        get("ssl.keystore.certificate.chain")?,
        get("ssl.keystore.key")?,
    ) {
        ((_, Some(location)), (_, None), (_, None)) => Keystore::File(PathBuf::from(location)),
        ((_, None), (_, Some(chain)), (_, Some(key))) => Keystore::Inline { chain, key },
        _ => {
            return Err(invalid(
                "ssl.keystore.location",
                hidden,
                format!(
                    "for TLS listener {}: either ssl.keystore.location (a PEM file with the \
                     certificate chain and the private key) or both ssl.keystore.certificate.chain \
                     and ssl.keystore.key",
                    listener.name
                ),
            ))
        }
    };
    pem_only("ssl.keystore.type")?;
    let truststore = match (
        get("ssl.truststore.location")?.1,
        get("ssl.truststore.certificates")?.1,
    ) {
        (None, None) => None,
        (Some(location), None) => Some(Pem::File(PathBuf::from(location))),
        (None, Some(certificates)) => Some(Pem::Inline(certificates)),
        (Some(_), Some(_)) => {
            return Err(invalid(
                "ssl.truststore.location",
                hidden,
                "unset when ssl.truststore.certificates is set (one of the two)",
            ))
        }
    };
    if truststore.is_some() {
        pem_only("ssl.truststore.type")?;
    }
    // On SASL_SSL only the listener's own `ssl.client.auth` counts, as in Kafka
    // (KIP-684): the broker-wide key is for SSL listeners, and SASL clients are asked
    // for no certificate unless the listener says so.
    let (auth_key, auth) = match sasl {
        true => {
            let own = kept::listener_key(listener, "ssl.client.auth");
            let value = config.listener_setting(&own).map(str::to_string);
            (own, value)
        }
        false => get("ssl.client.auth")?,
    };
    let client_auth = auth
        .as_deref()
        .and_then(ClientAuth::parse)
        .unwrap_or(ClientAuth::None);
    if client_auth != ClientAuth::None && truststore.is_none() {
        return Err(invalid(
            &auth_key,
            &auth.unwrap_or_default(),
            "none unless ssl.truststore.location or ssl.truststore.certificates names the CAs \
             client certificates chain to",
        ));
    }
    let (versions_key, versions) = get("ssl.enabled.protocols")?;
    let versions = strings(&versions.unwrap_or_default());
    if versions.is_empty() {
        return Err(invalid(&versions_key, "", "TLSv1.2 and/or TLSv1.3"));
    }
    Ok(TlsSettings {
        keystore,
        key_password,
        truststore,
        client_auth,
        versions,
        cipher_suites: strings(&get("ssl.cipher.suites")?.1.unwrap_or_default()),
        principal_rules: get("ssl.principal.mapping.rules")?
            .1
            .unwrap_or_else(|| "DEFAULT".to_string()),
        check_host: tls::checks_host(
            &get("ssl.endpoint.identification.algorithm")?
                .1
                .unwrap_or_default(),
        )
        .unwrap_or(true),
    })
}

fn strings(list: &str) -> Vec<String> {
    split_list(list).into_iter().map(str::to_string).collect()
}
