//! `TopicConfig`: a topic's validated overrides, and `EffectiveTopicConfig`, the
//! typed values storage and handlers act on once broker defaults are filled in.
//!
//! Invariants:
//! - Every key in a `TopicConfig` has a row in `topic_keys` and its value passed the
//!   row's rule, however the config was built (`new`, `alter` or deserialised).
//! - Values are kept as the client sent them (trimmed), so DescribeConfigs echoes them.
//! - `resolve` never fails: overrides were checked on the way in, and anything not
//!   overridden comes from an already validated `BrokerConfig`.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::broker::BrokerConfig;
use super::topic_keys::{
    self, FILE_DELETE_DELAY_MS_DEFAULT, SEGMENT_INDEX_BYTES_DEFAULT, SEGMENT_JITTER_MS_DEFAULT,
    TIMESTAMP_AFTER_MAX_MS_DEFAULT, TOPIC_KEYS,
};
use super::value::{check_len, split_list};
use super::{
    CleanupPolicy, CompressionType, ConfigEntry, ConfigError, ConfigSource, ConfigType, Synonym,
    TimestampType, TOPIC_NAME_BYTES_MAX,
};

/// A topic's config overrides. Serialises as a plain string map.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct TopicConfig {
    overrides: BTreeMap<String, String>,
}

/// Everything storage and the handlers need about one topic, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveTopicConfig {
    pub cleanup_policy: CleanupPolicy,
    /// -1 = unlimited.
    pub retention_ms: i64,
    /// -1 = unlimited.
    pub retention_bytes: i64,
    pub segment_bytes: i32,
    pub segment_ms: i64,
    pub segment_jitter_ms: i64,
    pub segment_index_bytes: i32,
    pub max_message_bytes: i32,
    pub index_interval_bytes: i32,
    pub message_timestamp_type: TimestampType,
    pub message_timestamp_before_max_ms: i64,
    pub message_timestamp_after_max_ms: i64,
    pub min_insync_replicas: i32,
    pub flush_messages: i64,
    /// `None`: no time-based flush (Kafka's Long.MAX_VALUE).
    pub flush_ms: Option<i64>,
    pub delete_retention_ms: i64,
    pub file_delete_delay_ms: i64,
    pub compression_type: CompressionType,
    /// The level `compression_type` compresses with (its `compression.*.level`; 0 for
    /// a codec with none).
    pub compression_level: i32,
}

impl TopicConfig {
    /// Validates `overrides`; a key given twice keeps its last value.
    pub fn new(
        overrides: impl IntoIterator<Item = (String, String)>,
    ) -> Result<TopicConfig, ConfigError> {
        let mut map = BTreeMap::new();
        for (key, value) in overrides {
            let value = checked(&key, &value)?;
            map.insert(key, value);
        }
        TopicConfig::consistent(map)
    }

    /// Sets (`Some`) or removes (`None`) overrides. All or nothing.
    pub fn alter(&self, set: &[(String, Option<String>)]) -> Result<TopicConfig, ConfigError> {
        let mut map = self.overrides.clone();
        for (key, value) in set {
            match value {
                Some(value) => {
                    let value = checked(key, value)?;
                    map.insert(key.clone(), value);
                }
                // As Kafka: removing a key that is not set, known or not, changes nothing.
                None => {
                    map.remove(key);
                }
            }
        }
        TopicConfig::consistent(map)
    }

    /// Kafka's check of values against each other (`LogConfig.validateValues`): the
    /// compaction lag's bounds, each override or else its default.
    fn consistent(overrides: BTreeMap<String, String>) -> Result<TopicConfig, ConfigError> {
        let config = TopicConfig { overrides };
        let (min, max) = (
            config.num("min.compaction.lag.ms", 0i64),
            config.num("max.compaction.lag.ms", i64::MAX),
        );
        if min > max {
            return Err(ConfigError::Kafka(format!(
                "conflict topic config setting min.compaction.lag.ms ({min}) > max.compaction.lag.ms ({max})"
            )));
        }
        Ok(config)
    }

    /// The override for `key`, if the topic has one.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.overrides.get(key).map(String::as_str)
    }

    /// The items of a LIST-typed override (e.g. `cleanup.policy`), if set.
    pub fn get_list(&self, key: &str) -> Option<Vec<&str>> {
        match Self::key_type(key) {
            Some(ConfigType::List) => self.get(key).map(split_list),
            _ => None,
        }
    }

    /// Whether a throttled-replicas list (`leader.replication.throttled.replicas` or
    /// `follower.replication.throttled.replicas`) names `partition` on `broker`, as
    /// `partition:broker` or as `*` (every replica).
    pub fn throttles(&self, key: &str, partition: i32, broker: i32) -> bool {
        let is = |text: &str, id: i32| text.trim().parse() == Ok(id);
        self.get_list(key).is_some_and(|items| {
            items.iter().any(|item| match item.split_once(':') {
                Some((p, b)) => is(p, partition) && is(b, broker),
                None => item.trim() == "*",
            })
        })
    }

    /// The type of a topic key, or `None` if there is no such key.
    pub fn key_type(key: &str) -> Option<ConfigType> {
        topic_keys::find(key).map(|k| k.kind)
    }

    /// All overrides, sorted by key.
    pub fn overrides(&self) -> &BTreeMap<String, String> {
        &self.overrides
    }

    /// Fills in every value the topic does not override from `broker`.
    pub fn resolve(&self, broker: &BrokerConfig) -> EffectiveTopicConfig {
        let difference_max_ms = self.num("message.timestamp.difference.max.ms", i64::MAX);
        // Kafka 3.6+: the deprecated difference bound applies where the newer
        // before/after bound is "no limit" (before's default; after's since Kafka 4.0
        // is an hour).
        let bound = |key: &str, default: i64| match self.num(key, default) {
            i64::MAX => difference_max_ms,
            ms => ms,
        };
        let flush_ms = self
            .get("flush.ms")
            .and_then(|v| v.parse::<i64>().ok())
            .or(broker.log_flush_interval_ms)
            .filter(|ms| *ms != i64::MAX);
        let compression_type = self
            .get("compression.type")
            .and_then(|v| CompressionType::parse("compression.type", v).ok())
            .unwrap_or(broker.compression_type);
        let (gzip, lz4, zstd) = (
            "compression.gzip.level",
            "compression.lz4.level",
            "compression.zstd.level",
        );
        EffectiveTopicConfig {
            cleanup_policy: self
                .get("cleanup.policy")
                .and_then(|v| CleanupPolicy::parse("cleanup.policy", v).ok())
                .unwrap_or(broker.log_cleanup_policy),
            retention_ms: self.num("retention.ms", broker.log_retention_ms),
            retention_bytes: self.num("retention.bytes", broker.log_retention_bytes),
            segment_bytes: self.num("segment.bytes", broker.log_segment_bytes),
            segment_ms: self.num("segment.ms", broker.log_roll_ms),
            segment_jitter_ms: self.num("segment.jitter.ms", SEGMENT_JITTER_MS_DEFAULT),
            segment_index_bytes: self.num("segment.index.bytes", SEGMENT_INDEX_BYTES_DEFAULT),
            max_message_bytes: self.num("max.message.bytes", broker.message_max_bytes),
            index_interval_bytes: self.num("index.interval.bytes", broker.log_index_interval_bytes),
            message_timestamp_type: self
                .get("message.timestamp.type")
                .and_then(|v| TimestampType::parse("message.timestamp.type", v).ok())
                .unwrap_or(broker.log_message_timestamp_type),
            message_timestamp_before_max_ms: bound("message.timestamp.before.max.ms", i64::MAX),
            message_timestamp_after_max_ms: bound(
                "message.timestamp.after.max.ms",
                TIMESTAMP_AFTER_MAX_MS_DEFAULT,
            ),
            min_insync_replicas: self.num("min.insync.replicas", broker.min_insync_replicas),
            flush_messages: self.num("flush.messages", broker.log_flush_interval_messages),
            flush_ms,
            delete_retention_ms: self.num(
                "delete.retention.ms",
                broker.log_cleaner_delete_retention_ms,
            ),
            file_delete_delay_ms: self.num("file.delete.delay.ms", FILE_DELETE_DELAY_MS_DEFAULT),
            compression_type,
            compression_level: match compression_type {
                CompressionType::Gzip => self.num(gzip, broker.compression_gzip_level),
                CompressionType::Lz4 => self.num(lz4, broker.compression_lz4_level),
                CompressionType::Zstd => self.num(zstd, broker.compression_zstd_level),
                _ => 0,
            },
        }
    }

    /// Every topic key with its effective value and where that value came from.
    pub fn describe(&self, broker: &BrokerConfig) -> Vec<ConfigEntry> {
        TOPIC_KEYS
            .iter()
            .map(|key| {
                // Kafka's: the override, then the broker key's synonyms; the source is
                // the first one's, DEFAULT_CONFIG when there is none.
                let mut synonyms: Vec<Synonym> = key
                    .broker_keys
                    .first()
                    .map(|name| broker.synonyms(name))
                    .unwrap_or_default();
                let value = match self.get(key.name) {
                    Some(value) => {
                        synonyms.insert(
                            0,
                            Synonym {
                                name: key.name.to_string(),
                                value: Some(value.to_string()),
                                source: ConfigSource::DynamicTopicConfig,
                            },
                        );
                        value.to_string()
                    }
                    None => (key.inherited)(broker),
                };
                ConfigEntry {
                    name: key.name.to_string(),
                    value: Some(value),
                    source: synonyms
                        .first()
                        .map_or(ConfigSource::DefaultConfig, |s| s.source),
                    read_only: false,
                    sensitive: false,
                    config_type: key.kind,
                    synonyms,
                }
            })
            .collect()
    }

    /// An overridden number, else `fallback`. The override passed its range check
    /// on the way in, so the fallback only serves keys without one.
    fn num<T: FromStr>(&self, key: &str, fallback: T) -> T {
        self.get(key)
            .and_then(|v| v.parse::<T>().ok())
            .unwrap_or(fallback)
    }
}

impl TryFrom<BTreeMap<String, String>> for TopicConfig {
    type Error = ConfigError;

    fn try_from(map: BTreeMap<String, String>) -> Result<Self, Self::Error> {
        TopicConfig::new(map)
    }
}

impl From<TopicConfig> for BTreeMap<String, String> {
    fn from(config: TopicConfig) -> Self {
        config.overrides
    }
}

fn known(key: &str) -> Result<&'static topic_keys::TopicKey, ConfigError> {
    topic_keys::find(key)
        .ok_or_else(|| ConfigError::Kafka(format!("Unknown topic config name: {key}")))
}

/// The value as it will be stored, once it passed `key`'s rule.
fn checked(key: &str, value: &str) -> Result<String, ConfigError> {
    let row = known(key)?;
    check_len(key, value)?;
    let value = value.trim();
    row.rule.check(key, value)?;
    Ok(value.to_string())
}

/// Kafka's topic-name rules; the error says which one `name` breaks, in Kafka's words.
pub fn valid_topic_name(name: &str) -> Result<(), String> {
    let invalid = |why: String| Err(format!("Topic name is invalid: {why}"));
    if name.is_empty() {
        return invalid("the empty string is not allowed".to_string());
    }
    if name == "." || name == ".." {
        return invalid(format!("'{name}' is not allowed"));
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return invalid(format!(
            "the length of '{name}' is longer than the max allowed length {TOPIC_NAME_BYTES_MAX}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return invalid(format!(
            "'{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}
