//! Parsers for config values, shared by broker and topic keys so that a value means
//! the same thing wherever it is set.
//!
//! Invariant: every parser takes the key only to name it in the error; a value that
//! parses here is within the limits passed in, so callers may use it as is.

use std::fmt;
use std::ops::RangeInclusive;

use super::{ConfigError, VALUE_BYTES_MAX};

pub(crate) fn invalid(key: &str, value: &str, expected: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        expected: expected.into(),
    }
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

/// Parses an integer in `min..=max`. `T` is the key's Kafka width (INT, SHORT, LONG).
pub(crate) fn parse_int<T>(key: &str, value: &str, min: T, max: T) -> Result<T, ConfigError>
where
    T: Into<i64> + TryFrom<i64> + Copy,
{
    let (lo, hi): (i64, i64) = (min.into(), max.into());
    let expected = || {
        if hi == i64::MAX || hi == i64::from(i32::MAX) || hi == i64::from(i16::MAX) {
            format!("an integer >= {lo}")
        } else {
            format!("an integer from {lo} to {hi}")
        }
    };
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, expected()))?;
    if n < lo || n > hi {
        return Err(invalid(key, value, expected()));
    }
    T::try_from(n).map_err(|_| invalid(key, value, expected()))
}

/// Kafka reads booleans case-insensitively.
pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "true or false")),
    }
}

/// A ratio such as `min.cleanable.dirty.ratio`: a finite number in `0.0..=1.0`.
pub(crate) fn parse_ratio(key: &str, value: &str) -> Result<f64, ConfigError> {
    match value.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(invalid(key, value, "a number from 0 to 1")),
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
            _ => Err(invalid(key, value, "CreateTime or LogAppendTime")),
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
            .ok_or_else(|| {
                invalid(
                    key,
                    value,
                    "producer, uncompressed, gzip, snappy, lz4 or zstd",
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
                _ => return Err(invalid(key, value, "a list of delete and/or compact")),
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
        let err = parse_int("num.x", "abc", 1i32, 10).unwrap_err().to_string();
        assert!(err.contains("num.x") && err.contains("abc") && err.contains("1 to 10"));
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
        assert!(CleanupPolicy::parse("k", "delete,shred").is_err());
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
