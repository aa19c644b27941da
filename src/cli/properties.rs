//! `--property KEY=VALUE` lists, as Kafka's console tools take them: the value is
//! everything after the first `=` (it may be empty or hold more `=`), booleans are
//! `true` in any case, anything else is false. And the reading of the console tools'
//! client properties (`--producer-property`, `--consumer.config`, ...).

use std::collections::BTreeMap;

use anyhow::{bail, Result};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties(BTreeMap<String, String>);

/// `pairs` after the properties of `file` (Kafka's --reader-config and
/// --formatter-config), so that the pairs given on the command line win.
pub fn with_file(
    file: Option<&std::path::Path>,
    flag: &str,
    pairs: &[String],
) -> Result<Vec<String>> {
    let mut all = match file {
        Some(path) => super::command_config::read(path, flag)?
            .into_iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect(),
        None => Vec::new(),
    };
    all.extend(pairs.iter().cloned());
    Ok(all)
}

impl Properties {
    /// Parses `KEY=VALUE` pairs; `known` names every key the tool reads, so a misspelt
    /// key is an error rather than silently ignored.
    pub fn parse(pairs: &[String], known: &[&str]) -> Result<Properties> {
        let mut map = BTreeMap::new();
        for pair in pairs {
            let Some((key, value)) = pair.split_once('=') else {
                bail!("property '{pair}' is not KEY=VALUE");
            };
            let key = key.trim();
            if !known.contains(&key) {
                bail!("unknown property '{key}' (known: {})", known.join(", "));
            }
            map.insert(key.to_string(), value.to_string());
        }
        Ok(Properties(map))
    }

    pub fn flag(&self, key: &str) -> Option<bool> {
        self.0
            .get(key)
            .map(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    pub fn bytes(&self, key: &str) -> Option<Vec<u8>> {
        self.0.get(key).map(|v| v.as_bytes().to_vec())
    }
}

/// The last value of `key` among a console tool's client properties (`ConnectArgs::
/// client_properties`).
pub fn last<'a>(properties: &'a [(String, String)], key: &str) -> Option<&'a str> {
    properties
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
}

/// The value of `key` parsed, if given; an error names the key and the value.
pub fn parsed<T>(
    properties: &[(String, String)],
    key: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>> {
    last(properties, key)
        .map(|v| parse(v).map_err(|why| anyhow::anyhow!("{key}={v}: {why}")))
        .transpose()
}

/// Names on stderr each client property `tool` does not read: not one of `read`, the
/// login and TLS keys, or `bootstrap.servers` (which the flag sets). Kafka's clients
/// likewise warn of the configs they do not know, and go on.
pub fn warn_unused(tool: &str, properties: &[(String, String)], read: &[&str]) {
    for (key, _) in properties {
        let known = read.contains(&key.as_str())
            || super::command_config::is_security_key(key)
            || key == "bootstrap.servers";
        if !known {
            eprintln!("shoal {tool}: the client property '{key}' is not used");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_like_kafka() {
        let p = Properties::parse(
            &strings(&[
                "parse.key=TRUE",
                "key.separator==",
                "print.key= true ",
                "x.y=",
            ]),
            &["parse.key", "key.separator", "print.key", "x.y"],
        )
        .unwrap();
        assert_eq!(p.flag("parse.key"), Some(true));
        assert_eq!(p.flag("print.key"), Some(true));
        assert_eq!(p.bytes("key.separator"), Some(b"=".to_vec()));
        assert_eq!(p.bytes("x.y"), Some(Vec::new()));
        assert_eq!(p.flag("x.y"), Some(false));
        assert_eq!(p.flag("absent"), None);
    }

    #[test]
    fn rejects_malformed_and_unknown_keys() {
        let err = Properties::parse(&strings(&["parse.key"]), &["parse.key"]).unwrap_err();
        assert_eq!(err.to_string(), "property 'parse.key' is not KEY=VALUE");
        let err = Properties::parse(&strings(&["pasre.key=true"]), &["parse.key"]).unwrap_err();
        assert!(
            err.to_string().starts_with("unknown property 'pasre.key'"),
            "{err}"
        );
    }
}
