//! Turns each configuration layer (config file, environment, `--override`) into plain
//! `(dotted.key, value)` strings, so every layer goes through the same value parsers.
//!
//! Invariant: this module knows nothing of which keys exist; `broker.rs` checks names.

use std::path::Path;

use super::value::{check_len, invalid};
use super::ConfigError;

/// Prefix of the environment variables the broker reads.
pub(crate) const ENV_PREFIX: &str = "SHOAL_";

/// The environment variable for `key`: `log.dirs` -> `SHOAL_LOG_DIRS`.
pub(crate) fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_ascii_uppercase().replace('.', "_"))
}

/// Splits one `key=value` override at its first `=`.
pub(crate) fn parse_override(arg: &str) -> Result<(String, String), ConfigError> {
    match arg.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            check_len(key.trim(), value)?;
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(ConfigError::MalformedOverride {
            arg: arg.to_string(),
        }),
    }
}

/// Reads a config file: TOML if its name ends in `.toml`, else Java properties, the
/// format of Kafka's `server.properties`.
pub(crate) fn read_file(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    if path.extension().is_some_and(|e| e == "toml") {
        read_toml(path)
    } else {
        read_properties(path)
    }
}

/// Reads a Java properties file (comments, `=`/`:`/blank separators, `\` escapes and
/// continuation lines) into `(key, value)` pairs in file order; as in Java, a key given
/// twice takes its last value. The file is read as UTF-8, not Java's ISO-8859-1, so a
/// path with non-ASCII letters means what it shows.
pub fn read_properties(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let file = std::fs::File::open(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_properties(path, std::io::BufReader::new(file))
}

pub(crate) fn parse_properties(
    path: &Path,
    input: impl std::io::Read,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in java_properties::PropertiesIter::new_with_encoding(input, encoding_rs::UTF_8) {
        let line = line.map_err(|e| {
            // The library's text ends in its own " (line_number = N)"; the line is
            // reported apart. An I/O failure carries its cause as the source.
            let text = e.to_string();
            let mut message = text.split(" (line_number").next().unwrap_or("").to_string();
            if let Some(cause) = std::error::Error::source(&e) {
                message = format!("{message}: {cause}");
            }
            ConfigError::Properties {
                path: path.to_path_buf(),
                line: e.line_number().unwrap_or(0),
                message,
            }
        })?;
        if let java_properties::LineContent::KVPair(key, value) = line.consume_content() {
            check_len(&key, &value)?;
            out.push((key, value));
        }
    }
    Ok(out)
}

/// Reads a TOML file and flattens it to `(dotted.key, value)` pairs sorted by key,
/// each key at most once.
pub(crate) fn read_toml(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    flatten_toml(path, &text)
}

pub(crate) fn flatten_toml(path: &Path, text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|span| {
                text.get(..span.start)
                    .unwrap_or(text)
                    .lines()
                    .count()
                    .max(1)
            })
            .unwrap_or(0);
        ConfigError::Toml {
            path: path.to_path_buf(),
            line,
            // Kept to one line: the library's message may carry a source excerpt.
            message: e.message().replace('\n', " "),
        }
    })?;
    let mut out: Vec<(String, String)> = Vec::new();
    flatten_table("", &table, &mut out)?;
    // `"log.dirs" = ..` and `log.dirs = ..` are different TOML keys but the same
    // config key; silently picking one would hide a mistake.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = out.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ConfigError::DuplicateKey {
            key: pair[0].0.clone(),
        });
    }
    Ok(out)
}

fn flatten_table(
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(String, String)>,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            toml::Value::Table(inner) => flatten_table(&key, inner, out)?,
            other => {
                let text = scalar_or_list(&key, other)?;
                check_len(&key, &text)?;
                out.push((key, text));
            }
        }
    }
    Ok(())
}

fn scalar_or_list(key: &str, value: &toml::Value) -> Result<String, ConfigError> {
    let expected = "a string, integer, boolean or array of strings";
    match value {
        toml::Value::String(s) => Ok(s.trim().to_string()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        // `{:?}` keeps the `.0`, so `3.0` is not silently taken as the integer 3.
        toml::Value::Float(f) => Ok(format!("{f:?}")),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Array(items) => {
            let mut parts: Vec<&str> = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    // A comma inside an item would silently split it in two.
                    toml::Value::String(s) if !s.contains(',') => parts.push(s.trim()),
                    _ => return Err(invalid(key, &value.to_string(), expected)),
                }
            }
            Ok(parts.join(","))
        }
        toml::Value::Datetime(_) | toml::Value::Table(_) => {
            Err(invalid(key, &value.to_string(), expected))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
        flatten_toml(Path::new("test.toml"), text)
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn both_toml_spellings_flatten_to_dotted_keys() {
        let text = r#"
            "log.dirs" = "/a"
            node.id = 3
            auto.create.topics.enable = false
            [log.retention]
            hours = 2
        "#;
        let got = flat(text).unwrap();
        assert!(got.contains(&pair("log.dirs", "/a")));
        assert!(got.contains(&pair("node.id", "3")));
        assert!(got.contains(&pair("auto.create.topics.enable", "false")));
        assert!(got.contains(&pair("log.retention.hours", "2")));
    }

    #[test]
    fn arrays_become_lists_and_odd_values_are_refused() {
        assert_eq!(
            flat(r#"log.dirs = ["/a", " /b "]"#).unwrap(),
            vec![pair("log.dirs", "/a,/b")]
        );
        assert!(flat(r#"log.dirs = [1, 2]"#).is_err());
        assert!(flat(r#"log.dirs = ["/a,/b"]"#).is_err());
        assert!(flat("when = 1979-05-27").is_err());
    }

    #[test]
    fn the_same_key_in_both_spellings_is_a_duplicate() {
        let err = flat("\"log.dirs\" = \"/a\"\nlog.dirs = \"/b\"\n").unwrap_err();
        assert!(matches!(err, ConfigError::DuplicateKey { ref key } if key == "log.dirs"));
    }

    #[test]
    fn syntax_errors_give_one_line_with_a_line_number() {
        let err = flat("a = 1\nb = = 2\n").unwrap_err();
        assert!(matches!(err, ConfigError::Toml { line: 2, .. }), "{err:?}");
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn overrides_split_at_the_first_equals() {
        assert_eq!(parse_override("a.b= x=y ").unwrap(), pair("a.b", "x=y"));
        assert!(parse_override("novalue").is_err());
        assert!(parse_override("=v").is_err());
        assert_eq!(env_name("log.dirs"), "SHOAL_LOG_DIRS");
    }
}
