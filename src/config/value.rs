//! Parsers for config values, shared by broker and topic keys so that a value means
//! the same thing wherever it is set.
//!
//! Invariant: every parser takes the key only to name it in the error; a value that
//! parses here is within the limits passed in, so callers may use it as is.

use std::fmt;
use std::ops::RangeInclusive;

use super::{ConfigError, VALUE_BYTES_MAX};

/// A value refused by one of shoal's own rules, saying what was `expected`.
pub(crate) fn invalid(key: &str, value: &str, expected: impl std::fmt::Display) -> ConfigError {
    refused(key, value, format!("expected {expected}"))
}

/// A value refused with Kafka's own `detail` ("Value must be at least 0").
pub(crate) fn refused(key: &str, value: &str, detail: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        detail: detail.into(),
    }
}

/// Kafka's detail for a value not in a fixed set (its `ValidString`).
fn one_of(key: &str, value: &str, names: &str) -> ConfigError {
    refused(key, value, format!("String must be one of: {names}"))
}

/// Refuses values longer than `VALUE_BYTES_MAX` before anything stores them.
pub(crate) fn check_len(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.len() > VALUE_BYTES_MAX {
        // Echoing a megabyte back in the error would defeat the point of the limit.
        let shown: String = value.chars().take(32).collect();
        return Err(invalid(
            key,
            &shown,
            format!("at most {VALUE_BYTES_MAX} bytes"),
        ));
    }
    Ok(())
}

/// Parses an integer in `min..=max`, refused in Kafka's words. `T` is the key's Kafka
/// width (INT, SHORT, LONG).
pub(crate) fn parse_int<T>(key: &str, value: &str, min: T, max: T) -> Result<T, ConfigError>
where
    T: Into<i64> + TryFrom<i64> + Copy,
{
    let (lo, hi): (i64, i64) = (min.into(), max.into());
    let width = match std::mem::size_of::<T>() {
        2 => "SHORT",
        4 => "INT",
        _ => "LONG",
    };
    let not_a_number = || refused(key, value, format!("Not a number of type {width}"));
    let n: i64 = value.trim().parse().map_err(|_| not_a_number())?;
    // A number past the key's width is, to Kafka, not a number of that type.
    let parsed = T::try_from(n).map_err(|_| not_a_number())?;
    if n < lo {
        return Err(refused(key, value, format!("Value must be at least {lo}")));
    }
    if n > hi {
        return Err(refused(
            key,
            value,
            format!("Value must be no more than {hi}"),
        ));
    }
    Ok(parsed)
}

/// Kafka reads booleans case-insensitively.
pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(refused(
            key,
            value,
            "Expected value to be either true or false",
        )),
    }
}

/// A ratio such as `min.cleanable.dirty.ratio`: a finite number in `0.0..=1.0`.
pub(crate) fn parse_ratio(key: &str, value: &str) -> Result<f64, ConfigError> {
    match value.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        Ok(r) if r < 0.0 => Err(refused(key, value, "Value must be at least 0")),
        Ok(r) if r > 1.0 => Err(refused(key, value, "Value must be no more than 1")),
        _ => Err(refused(key, value, "Not a number of type DOUBLE")),
    }
}

/// Splits a Kafka LIST value: comma-separated, blanks around items ignored, empty
/// items dropped (so `"a,,b"` and `" a , b "` are both `["a", "b"]`).
pub fn split_list(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// `message.timestamp.type`: whose clock stamps a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

impl TimestampType {
    pub(crate) fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        // Kafka compares exactly; case-insensitivity costs nothing and spares a restart.
        match value.trim().to_ascii_lowercase().as_str() {
            "createtime" => Ok(Self::CreateTime),
            "logappendtime" => Ok(Self::LogAppendTime),
            _ => Err(one_of(key, value, "CreateTime, LogAppendTime")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateTime => "CreateTime",
            Self::LogAppendTime => "LogAppendTime",
        }
    }
}

impl fmt::Display for TimestampType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `compression.type`: `Producer` keeps whatever codec the producer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompressionType {
    Producer,
    Uncompressed,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl CompressionType {
    const ALL: [Self; 6] = [
        Self::Producer,
        Self::Uncompressed,
        Self::Gzip,
        Self::Snappy,
        Self::Lz4,
        Self::Zstd,
    ];

    pub(crate) fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        let wanted = value.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == wanted)
            // In the order of Kafka's `BrokerCompressionType`.
            .ok_or_else(|| {
                one_of(
                    key,
                    value,
                    "uncompressed, zstd, lz4, snappy, gzip, producer",
                )
            })
    }

    /// KIP-390's compression level of this codec when the broker compresses with it:
    /// its key, the levels it takes, and its default (`None` for a codec with no
    /// level). Gzip's default, -1, is zlib's own (6).
    pub(crate) fn level(self) -> Option<(&'static str, RangeInclusive<i32>, i32)> {
        match self {
            Self::Gzip => Some(("compression.gzip.level", 1..=9, -1)),
            Self::Lz4 => Some(("compression.lz4.level", 1..=17, 9)),
            Self::Zstd => Some(("compression.zstd.level", -131_072..=22, 3)),
            _ => None,
        }
    }

    /// A level for this codec's key, as Kafka checks it: within its range, or its
    /// default.
    pub(crate) fn parse_level(self, key: &str, value: &str) -> Result<i32, ConfigError> {
        let Some((_, range, default)) = self.level() else {
            return Err(invalid(key, value, "no level: the codec takes none"));
        };
        let expected = || {
            format!(
                "{default}, or a level from {} to {}",
                range.start(),
                range.end()
            )
        };
        match value.trim().parse::<i32>() {
            Ok(level) if level == default || range.contains(&level) => Ok(level),
            _ => Err(invalid(key, value, expected())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Producer => "producer",
            Self::Uncompressed => "uncompressed",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

impl fmt::Display for CompressionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `cleanup.policy`: a list of `delete` and/or `compact`; at least one is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CleanupPolicy {
    pub delete: bool,
    pub compact: bool,
}

impl CleanupPolicy {
    pub const DELETE: Self = Self {
        delete: true,
        compact: false,
    };

    pub(crate) fn parse(key: &str, value: &str) -> Result<Self, ConfigError> {
        let mut policy = Self {
            delete: false,
            compact: false,
        };
        for item in split_list(value) {
            match item.to_ascii_lowercase().as_str() {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                // Kafka names the item, not the whole list.
                _ => return Err(one_of(key, item, "compact, delete")),
            }
        }
        // Empty: neither deleted nor compacted, kept forever (as Kafka 4.2 takes it, the
        // same as retention.ms and retention.bytes at -1).
        Ok(policy)
    }
}

impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.delete, self.compact) {
            (true, true) => f.write_str("delete,compact"),
            (false, true) => f.write_str("compact"),
            (true, false) => f.write_str("delete"),
            (false, false) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_respect_limits_and_width() {
        assert_eq!(parse_int("k", " 7 ", 1i32, 10).ok(), Some(7));
        assert!(parse_int("k", "0", 1i32, 10).is_err());
        assert!(parse_int("k", "11", 1i32, 10).is_err());
        assert!(parse_int("k", "x", 1i32, 10).is_err());
        assert!(parse_int("k", "40000", 0i16, i16::MAX).is_err());
        assert_eq!(parse_int("k", "-1", -1i64, i64::MAX).ok(), Some(-1));
        let text = |r: Result<i32, ConfigError>| r.unwrap_err().to_string();
        assert_eq!(
            text(parse_int("num.x", "abc", 1i32, 10)),
            "Invalid value abc for configuration num.x: Not a number of type INT"
        );
        assert_eq!(
            text(parse_int("num.x", "0", 1i32, 10)),
            "Invalid value 0 for configuration num.x: Value must be at least 1"
        );
        assert_eq!(
            text(parse_int("num.x", "11", 1i32, 10)),
            "Invalid value 11 for configuration num.x: Value must be no more than 10"
        );
        let short = parse_int("k", "40000", 0i16, i16::MAX)
            .unwrap_err()
            .to_string();
        assert!(short.ends_with("Not a number of type SHORT"), "{short}");
    }

    #[test]
    fn enums_and_lists() {
        assert_eq!(parse_bool("k", "TRUE").ok(), Some(true));
        assert!(parse_bool("k", "yes").is_err());
        assert_eq!(
            TimestampType::parse("k", "logappendtime").ok(),
            Some(TimestampType::LogAppendTime)
        );
        assert_eq!(
            CompressionType::parse("k", "ZSTD").ok(),
            Some(CompressionType::Zstd)
        );
        assert!(CompressionType::parse("k", "brotli").is_err());
        let both = CleanupPolicy::parse("k", "compact, delete").ok();
        assert_eq!(both.map(|p| p.to_string()), Some("delete,compact".into()));
        let none = CleanupPolicy::parse("k", " ").ok();
        assert_eq!(
            none.map(|p| (p.delete, p.compact, p.to_string())),
            Some((false, false, String::new()))
        );
        let shred = CleanupPolicy::parse("cleanup.policy", "delete,shred").unwrap_err();
        assert_eq!(
            shred.to_string(),
            "Invalid value shred for configuration cleanup.policy: String must be one of: compact, delete"
        );
        assert_eq!(split_list(" a,, b ,"), vec!["a", "b"]);
        assert!(parse_ratio("k", "0.5").is_ok() && parse_ratio("k", "1.5").is_err());
        assert!(parse_ratio("k", "NaN").is_err());
    }

    #[test]
    fn huge_values_are_refused_without_echoing_them() {
        let huge = "x".repeat(VALUE_BYTES_MAX + 1);
        let err = check_len("k", &huge).unwrap_err().to_string();
        assert!(err.len() < 200);
    }
}
