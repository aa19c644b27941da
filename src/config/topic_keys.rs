//! The table of topic-level keys: each key's type, the rule its value must pass, and
//! where its value comes from when the topic does not override it.
//!
//! Invariant: a topic key exists if and only if it has a row here. `broker_keys` lists
//! the broker keys (Kafka's synonyms, highest precedence first) whose value the topic
//! inherits; when it is empty the default is fixed and `inherited` returns it.

use super::broker::BrokerConfig;
use super::value::{invalid, parse_bool, parse_int, parse_ratio, split_list};
use super::{
    CleanupPolicy, CompressionType, ConfigError, ConfigType, TimestampType, SEGMENT_BYTES_MIN,
};

/// Kafka's defaults for topic keys with no broker counterpart in shoal.
pub(crate) const FILE_DELETE_DELAY_MS_DEFAULT: i64 = 60_000;
pub(crate) const SEGMENT_INDEX_BYTES_DEFAULT: i32 = 10 * 1024 * 1024;
pub(crate) const SEGMENT_JITTER_MS_DEFAULT: i64 = 0;
/// Kafka 4.0's (KIP-1030): a record may be stamped at most an hour ahead of the broker.
pub(crate) const TIMESTAMP_AFTER_MAX_MS_DEFAULT: i64 = 3_600_000;
/// Kafka's minimum `segment.index.bytes`.
const SEGMENT_INDEX_BYTES_MIN: i64 = 4;
/// `local.retention.*`: -2 means "same as retention.*" (tiered storage off).
const LOCAL_RETENTION_DEFAULT: i64 = -2;

/// What a topic value must look like.
pub(crate) enum Rule {
    /// An integer in `min..=max`; INT keys use `i32::MAX` as `max`.
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    /// A boolean that must be false: the feature is not implemented.
    FalseOnly,
    Ratio,
    Timestamp,
    Compression,
    Cleanup,
    /// `*`, or a list of `partition:broker` pairs (Kafka's throttled-replicas lists).
    Replicas,
    /// A Kafka release such as `0.10.0` or `3.0-IV1`.
    Version,
    /// A level of the codec (KIP-390).
    Level(CompressionType),
}

impl Rule {
    pub(crate) fn check(&self, key: &str, value: &str) -> Result<(), ConfigError> {
        match self {
            Rule::Int { min, max } => parse_int(key, value, *min, *max).map(drop),
            Rule::Bool => parse_bool(key, value).map(drop),
            Rule::FalseOnly => match parse_bool(key, value)? {
                false => Ok(()),
                true => Err(invalid(key, value, "false (not supported by shoal)")),
            },
            Rule::Ratio => parse_ratio(key, value).map(drop),
            Rule::Timestamp => TimestampType::parse(key, value).map(drop),
            Rule::Compression => CompressionType::parse(key, value).map(drop),
            Rule::Cleanup => CleanupPolicy::parse(key, value).map(drop),
            Rule::Replicas => check_replicas(key, value),
            Rule::Version => check_version(key, value),
            Rule::Level(codec) => codec.parse_level(key, value).map(drop),
        }
    }
}

fn check_replicas(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim() == "*" {
        return Ok(());
    }
    let pair_ok = |item: &str| {
        item.split_once(':').is_some_and(|(p, b)| {
            p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
        })
    };
    if split_list(value).into_iter().all(pair_ok) {
        Ok(())
    } else {
        Err(invalid(key, value, "* or a list of partition:broker pairs"))
    }
}

pub(crate) struct TopicKey {
    pub name: &'static str,
    pub kind: ConfigType,
    pub rule: Rule,
    pub broker_keys: &'static [&'static str],
    /// The value shown and used when the topic has no override.
    pub inherited: fn(&BrokerConfig) -> String,
}

pub(crate) fn find(name: &str) -> Option<&'static TopicKey> {
    TOPIC_KEYS.iter().find(|k| k.name == name)
}

const LONG_MAX: i64 = i64::MAX;
const INT_MAX: i64 = i32::MAX as i64;

pub(crate) static TOPIC_KEYS: &[TopicKey] = &[
    TopicKey {
        name: "cleanup.policy",
        kind: ConfigType::List,
        rule: Rule::Cleanup,
        broker_keys: &["log.cleanup.policy"],
        inherited: |b| b.log_cleanup_policy.to_string(),
    },
    TopicKey {
        name: "compression.type",
        kind: ConfigType::String,
        rule: Rule::Compression,
        broker_keys: &["compression.type"],
        inherited: |b| b.compression_type.to_string(),
    },
    TopicKey {
        name: "compression.gzip.level",
        kind: ConfigType::Int,
        rule: Rule::Level(CompressionType::Gzip),
        broker_keys: &["compression.gzip.level"],
        inherited: |b| b.compression_gzip_level.to_string(),
    },
    TopicKey {
        name: "compression.lz4.level",
        kind: ConfigType::Int,
        rule: Rule::Level(CompressionType::Lz4),
        broker_keys: &["compression.lz4.level"],
        inherited: |b| b.compression_lz4_level.to_string(),
    },
    TopicKey {
        name: "compression.zstd.level",
        kind: ConfigType::Int,
        rule: Rule::Level(CompressionType::Zstd),
        broker_keys: &["compression.zstd.level"],
        inherited: |b| b.compression_zstd_level.to_string(),
    },
    TopicKey {
        name: "delete.retention.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: 0,
            max: LONG_MAX,
        },
        broker_keys: &["log.cleaner.delete.retention.ms"],
        inherited: |b| b.log_cleaner_delete_retention_ms.to_string(),
    },
    TopicKey {
        name: "file.delete.delay.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: 0,
            max: LONG_MAX,
        },
        broker_keys: &[],
        inherited: |_| FILE_DELETE_DELAY_MS_DEFAULT.to_string(),
    },
    TopicKey {
        name: "flush.messages",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: 1,
            max: LONG_MAX,
        },
        broker_keys: &["log.flush.interval.messages"],
        inherited: |b| b.log_flush_interval_messages.to_string(),
    },
    TopicKey {
        name: "flush.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: 0,
            max: LONG_MAX,
        },
        broker_keys: &["log.flush.interval.ms"],
        // Kafka shows "never" as Long.MAX_VALUE.
        inherited: |b| b.log_flush_interval_ms.unwrap_or(i64::MAX).to_string(),
    },
    TopicKey {
        name: "follower.replication.throttled.replicas",
        kind: ConfigType::List,
        rule: Rule::Replicas,
        broker_keys: &[],
        inherited: |_| String::new(),
    },
    TopicKey {
        name: "index.interval.bytes",
        kind: ConfigType::Int,
        rule: Rule::Int {
            min: 0,
            max: INT_MAX,
        },
        broker_keys: &["log.index.interval.bytes"],
        inherited: |b| b.log_index_interval_bytes.to_string(),
    },
    TopicKey {
        name: "leader.replication.throttled.replicas",
        kind: ConfigType::List,
        rule: Rule::Replicas,
        broker_keys: &[],
        inherited: |_| String::new(),
    },
    TopicKey {
        name: "local.retention.bytes",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: -2,
            max: LONG_MAX,
        },
        broker_keys: &[],
        inherited: |_| LOCAL_RETENTION_DEFAULT.to_string(),
    },
    TopicKey {
        name: "local.retention.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: -2,
            max: LONG_MAX,
        },
        broker_keys: &[],
        inherited: |_| LOCAL_RETENTION_DEFAULT.to_string(),
    },
    TopicKey {
        name: "max.compaction.lag.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: 1,
            max: LONG_MAX,
        },
        broker_keys: &[],
        inherited: |_| i64::MAX.to_string(),
    },
    TopicKey {
        name: "max.message.bytes",
        kind: ConfigType::Int,
        rule: Rule::Int {
            min: 0,
            max: INT_MAX,
        },
        broker_keys: &["message.max.bytes"],
        inherited: |b| b.message_max_bytes.to_string(),
    },
    // Deprecated since Kafka 3.0, where it no longer changes the stored format; accepted
    // (and ignored) as Kafka 3.x does, so tools that still set it keep working.
    TopicKey {
        name: "message.format.version",
        kind: ConfigType::String,
        rule: Rule::Version,
        broker_keys: &[],
        inherited: |_| "3.0-IV1".to_string(),
    },
    TopicKey {
        name: "message.downconversion.enable",
        kind: ConfigType::Boolean,
        rule: Rule::Bool,
        broker_keys: &[],
        inherited: |_| true.to_string(),
    },
    TopicKey {
        name: "message.timestamp.after.max.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: 0,
            max: LONG_MAX,
        },
        broker_keys: &[],
        inherited: |_| TIMESTAMP_AFTER_MAX_MS_DEFAULT.to_string(),
    },
    TopicKey {
        name: "message.timestamp.before.max.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: 0,
            max: LONG_MAX,
        },
        broker_keys: &[],
        inherited: |_| i64::MAX.to_string(),
    },
    TopicKey {
        name: "message.timestamp.difference.max.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: 0,
            max: LONG_MAX,
        },
        broker_keys: &[],
        inherited: |_| i64::MAX.to_string(),
    },
    TopicKey {
        name: "message.timestamp.type",
        kind: ConfigType::String,
        rule: Rule::Timestamp,
        broker_keys: &["log.message.timestamp.type"],
        inherited: |b| b.log_message_timestamp_type.to_string(),
    },
    TopicKey {
        name: "min.cleanable.dirty.ratio",
        kind: ConfigType::Double,
        rule: Rule::Ratio,
        broker_keys: &[],
        inherited: |_| "0.5".to_string(),
    },
    TopicKey {
        name: "min.compaction.lag.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: 0,
            max: LONG_MAX,
        },
        broker_keys: &[],
        inherited: |_| 0.to_string(),
    },
    TopicKey {
        name: "min.insync.replicas",
        kind: ConfigType::Int,
        rule: Rule::Int {
            min: 1,
            max: INT_MAX,
        },
        broker_keys: &["min.insync.replicas"],
        inherited: |b| b.min_insync_replicas.to_string(),
    },
    TopicKey {
        name: "preallocate",
        kind: ConfigType::Boolean,
        rule: Rule::Bool,
        broker_keys: &[],
        inherited: |_| false.to_string(),
    },
    TopicKey {
        name: "remote.storage.enable",
        kind: ConfigType::Boolean,
        rule: Rule::FalseOnly,
        broker_keys: &[],
        inherited: |_| false.to_string(),
    },
    TopicKey {
        name: "retention.bytes",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: -1,
            max: LONG_MAX,
        },
        broker_keys: &["log.retention.bytes"],
        inherited: |b| b.log_retention_bytes.to_string(),
    },
    TopicKey {
        name: "retention.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: -1,
            max: LONG_MAX,
        },
        broker_keys: &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        inherited: |b| b.log_retention_ms.to_string(),
    },
    TopicKey {
        name: "segment.bytes",
        kind: ConfigType::Int,
        rule: Rule::Int {
            min: SEGMENT_BYTES_MIN as i64,
            max: INT_MAX,
        },
        broker_keys: &["log.segment.bytes"],
        inherited: |b| b.log_segment_bytes.to_string(),
    },
    TopicKey {
        name: "segment.index.bytes",
        kind: ConfigType::Int,
        rule: Rule::Int {
            min: SEGMENT_INDEX_BYTES_MIN,
            max: INT_MAX,
        },
        broker_keys: &[],
        inherited: |_| SEGMENT_INDEX_BYTES_DEFAULT.to_string(),
    },
    TopicKey {
        name: "segment.jitter.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: 0,
            max: LONG_MAX,
        },
        broker_keys: &[],
        inherited: |_| SEGMENT_JITTER_MS_DEFAULT.to_string(),
    },
    TopicKey {
        name: "segment.ms",
        kind: ConfigType::Long,
        rule: Rule::Int {
            min: 1,
            max: LONG_MAX,
        },
        broker_keys: &["log.roll.ms", "log.roll.hours"],
        inherited: |b| b.log_roll_ms.to_string(),
    },
    TopicKey {
        name: "unclean.leader.election.enable",
        kind: ConfigType::Boolean,
        rule: Rule::Bool,
        broker_keys: &[],
        inherited: |_| false.to_string(),
    },
];

fn check_version(key: &str, value: &str) -> Result<(), ConfigError> {
    let (release, iv) = value.split_once("-IV").unwrap_or((value, "0"));
    let parts: Vec<&str> = release.split('.').collect();
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if (2..=4).contains(&parts.len()) && parts.iter().all(|p| numeric(p)) && numeric(iv) {
        return Ok(());
    }
    Err(ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        detail: "expected a Kafka version such as 2.8 or 3.0-IV1".to_string(),
    })
}
