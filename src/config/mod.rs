//! Validated broker and topic configuration, under Kafka's property names.
//!
//! Invariants:
//! - A `BrokerConfig` or `TopicConfig` only exists if every value in it parsed and
//!   passed its limit; callers never re-validate (the limits are the `*_MAX`/`*_MIN`
//!   constants below and in the key tables).
//! - Broker values come from four layers, each overriding the one before: embedded
//!   defaults < config file (Kafka's `server.properties` format, or TOML) < `SHOAL_*`
//!   environment < `--override key=value`. Kafka's names that shoal gives no meaning to
//!   pass through `kafka_keys` at start-up only. Dynamic
//!   changes (`BrokerConfig::alter`) sit above all four and are kept apart so they can
//!   be persisted and replayed on restart.
//! - A topic's effective value is its override if it has one, else the value of the
//!   broker key Kafka maps it to (`TopicConfig::resolve`).
//!
//! Shard: none. This module is pure: the only I/O is reading the config file once in
//! `BrokerConfig::load`, at start-up. Each shard gets its own copy of the values.

mod broker;
mod broker_keys;
mod broker_values;
pub mod group;
mod group_keys;
mod kafka_inert;
mod kafka_keys;
mod kept;
mod kraft;
mod limit_keys;
mod listener;
mod login_keys;
mod sasl;
mod source;
mod ssl;
mod topic;
mod topic_keys;
mod value;

#[cfg(test)]
mod broker_tests;
#[cfg(test)]
mod kafka_tests;
#[cfg(test)]
mod topic_tests;

use std::path::PathBuf;

pub use broker::BrokerConfig;
pub use group_keys::MigrationPolicy;
pub use kraft::{QuorumPeers, Voter};
pub use listener::{join_host_port, Listener};
pub use source::read_properties;
pub use topic::{valid_topic_name, EffectiveTopicConfig, TopicConfig};
pub use value::{split_list, CleanupPolicy, CompressionType, TimestampType};

/// Most CPU cores (one shard each) the broker will run on.
pub const CORES_MAX: usize = 256;
/// Most partitions `num.partitions` and the internal topics may default to.
pub const PARTITIONS_MAX: i32 = 10_000;
/// Most members one consumer group may have (`group.max.size` at most).
pub const GROUP_SIZE_MAX: i32 = 10_000;
/// Smallest `log.segment.bytes`/`segment.bytes`. Kafka 4.x demands 1 MiB; we allow
/// 1 KiB so tests can roll segments after a handful of records.
pub const SEGMENT_BYTES_MIN: i32 = 1024;
/// Most directories `log.dirs` may list.
pub const LOG_DIRS_MAX: usize = 64;
/// Longest value accepted for any key: bounds what a client's AlterConfigs can make
/// us store, yet fits a throttled-replicas list for `PARTITIONS_MAX` partitions.
pub const VALUE_BYTES_MAX: usize = 1 << 20;
/// Longest topic name Kafka allows (its file names add a partition suffix to 255).
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// Kafka's INVALID_CONFIG error code, which clients expect for every refusal here.
const KAFKA_INVALID_CONFIG: i16 = 40;

/// Why a configuration was refused. `Display` is one line naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {} is not valid TOML (line {line}): {message}", path.display())]
    Toml {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("config file {} is not a valid properties file (line {line}): {message}", path.display())]
    Properties {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// `hint` is empty or `; did you mean "..."?`.
    #[error("unknown config key {key:?}{hint}")]
    UnknownKey { key: String, hint: String },
    #[error(
        "unknown environment variable {name}{hint} (a SHOAL_ variable sets the config key \
         it names in capitals, dots as underscores: SHOAL_LOG_DIRS sets log.dirs)"
    )]
    UnknownVariable { name: String, hint: String },
    #[error("config key {key:?} is not accepted: {why}")]
    Refused { key: String, why: &'static str },
    #[error("config key {key:?} is given twice")]
    DuplicateKey { key: String },
    /// Kafka's `ConfigException` text; `detail` is Kafka's own where Kafka has one for
    /// the rule ("Value must be at least 0"), else shoal's "expected ...".
    #[error("Invalid value {} for configuration {key}: {detail}", value.escape_debug())]
    InvalidValue {
        key: String,
        value: String,
        detail: String,
    },
    /// A refusal in Kafka's own words ("Unknown topic config name: x").
    #[error("{0}")]
    Kafka(String),
    #[error("override {arg:?} is not of the form key=value")]
    MalformedOverride { arg: String },
    /// A broker key that cannot change while the broker runs (Kafka's words).
    #[error("Cannot update these configs dynamically: Set({key})")]
    ReadOnly { key: String },
    #[error("Cannot update these configs at default cluster level, broker id must be specified: Set({key})")]
    PerBrokerOnly { key: String },
}

impl ConfigError {
    /// The Kafka error code to answer a client whose config request was refused.
    pub fn kafka_error_code(&self) -> i16 {
        KAFKA_INVALID_CONFIG
    }
}

/// Where a described value came from, as Kafka's DescribeConfigs reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    DynamicTopicConfig,
    DynamicBrokerConfig,
    DynamicDefaultBrokerConfig,
    StaticBrokerConfig,
    DefaultConfig,
    /// A broker logger's level (`loggers`).
    DynamicBrokerLoggerConfig,
    /// A consumer group's own config (`group`).
    DynamicGroupConfig,
}

impl ConfigSource {
    /// The wire code of DescribeConfigs' `config_source` field.
    pub fn code(self) -> i8 {
        match self {
            ConfigSource::DynamicTopicConfig => 1,
            ConfigSource::DynamicBrokerConfig => 2,
            ConfigSource::DynamicDefaultBrokerConfig => 3,
            ConfigSource::StaticBrokerConfig => 4,
            ConfigSource::DefaultConfig => 5,
            ConfigSource::DynamicBrokerLoggerConfig => 6,
            ConfigSource::DynamicGroupConfig => 8,
        }
    }
}

/// A value's type, as DescribeConfigs (v3+) reports it in `config_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    /// A Java class name (Kafka's CLASS).
    Class,
    /// A secret (Kafka's PASSWORD): described as sensitive, without its value.
    Password,
}

impl ConfigType {
    /// The wire code of DescribeConfigs' `config_type` field.
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }
}

/// One row of a DescribeConfigs answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for a key that is unset and has no default (Kafka sends null).
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    pub config_type: ConfigType,
    /// Every value that could set this one, highest precedence first, as Kafka lists
    /// them: the topic's override, then the broker keys it falls back to, by source
    /// (dynamic per broker, dynamic default, static, default).
    pub synonyms: Vec<Synonym>,
}

/// One of a described value's sources (DescribeConfigs' `synonyms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
}
