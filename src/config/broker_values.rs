//! How the broker keys' values that are more than a number or a flag parse: log
//! directories, core counts, the authorizer, super users and per-IP connection limits.
//! The key table (`broker_keys`) binds them to their names.

use std::path::PathBuf;

use super::value::{invalid, parse_int, split_list};
use super::{ConfigError, CORES_MAX, LOG_DIRS_MAX};

pub(super) fn parse_dirs(key: &str, value: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let items = split_list(value);
    if items.is_empty() || items.len() > LOG_DIRS_MAX {
        return Err(invalid(
            key,
            value,
            format!("a list of 1 to {LOG_DIRS_MAX} directories"),
        ));
    }
    let mut dirs: Vec<PathBuf> = Vec::with_capacity(items.len());
    for item in items {
        let dir = PathBuf::from(item);
        // Two shards writing the same partition directory would corrupt it.
        if dirs.contains(&dir) {
            return Err(invalid(key, value, "each directory at most once"));
        }
        dirs.push(dir);
    }
    Ok(dirs)
}

pub(crate) fn render_dirs(dirs: &[PathBuf]) -> String {
    let items: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    items.join(",")
}

pub(super) fn cores(key: &str, value: &str) -> Result<usize, ConfigError> {
    // CORES_MAX is far below i64::MAX, so the cast cannot truncate.
    let n = parse_int(key, value, 1i64, CORES_MAX as i64)?;
    usize::try_from(n).map_err(|_| invalid(key, value, "a core count"))
}

/// The authorizer classes that select shoal's built-in authorizer ("" = none).
pub(crate) const AUTHORIZERS: [&str; 2] = [
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.authorizer.AclAuthorizer",
];

pub(super) fn parse_authorizer(key: &str, value: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    if value.is_empty() || AUTHORIZERS.contains(&value) {
        return Ok(value.to_string());
    }
    Err(invalid(
        key,
        value,
        format!("\"\" or one of {}", AUTHORIZERS.join(", ")),
    ))
}

/// Kafka's form: principals separated by ';', each `Type:name`.
pub(super) fn parse_super_users(key: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    let users: Vec<String> = value
        .split(';')
        .map(str::trim)
        .filter(|user| !user.is_empty())
        .map(str::to_string)
        .collect();
    match users
        .iter()
        .find(|user| crate::acl::parse_principal(user).is_err())
    {
        Some(bad) => Err(invalid(
            key,
            value,
            format!("principals of the form Type:name separated by ';' ({bad:?} is not)"),
        )),
        None => Ok(users),
    }
}

/// `max.connections.per.ip.overrides`: `address:count` entries. Addresses are IP
/// literals only: the key is dynamic, and resolving a host name would block the shard
/// that applies it (Kafka resolves names here; shoal refuses them, saying why).
pub(super) fn parse_ip_overrides(
    key: &str,
    value: &str,
) -> Result<Vec<(String, std::net::IpAddr, i32)>, ConfigError> {
    let expected = "address:count entries separated by ','";
    let mut overrides = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((host, count)) = entry.rsplit_once(':') else {
            return Err(invalid(key, value, expected));
        };
        let count = parse_int(key, count, 0, i32::MAX)?;
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let address = literal.parse::<std::net::IpAddr>().map_err(|_| {
            let why =
                format!("{expected}; {host:?} is not an IP address (host names are not resolved)");
            invalid(key, value, why)
        })?;
        overrides.push((host.to_string(), address, count));
    }
    Ok(overrides)
}
