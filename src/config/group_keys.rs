//! The group coordinators' broker keys (`group.*`): rebalance delay, the classic
//! protocol's session bounds and group size, and KIP-848's session timeout and heartbeat
//! interval with the bounds a group's own configs must keep (`config::group`), and the
//! migration policy between the two protocols. Rows as `broker_keys`' table.

use super::broker_keys::BrokerKey;
use super::value::{invalid, parse_int};
use super::{ConfigType, GROUP_SIZE_MAX};

pub(crate) static GROUP_KEYS: &[BrokerKey] = &[
    BrokerKey {
        name: "group.initial.rebalance.delay.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            // Kafka declares it an INT; the field is i64 like every other duration.
            c.group_initial_rebalance_delay_ms = parse_int(k, v, 0, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.group_initial_rebalance_delay_ms.to_string()),
    },
    BrokerKey {
        name: "group.min.session.timeout.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.group_min_session_timeout_ms = parse_int(k, v, 0, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.group_min_session_timeout_ms.to_string()),
    },
    BrokerKey {
        name: "group.max.session.timeout.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.group_max_session_timeout_ms = parse_int(k, v, 0, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.group_max_session_timeout_ms.to_string()),
    },
    BrokerKey {
        name: "group.max.size",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.group_max_size = parse_int(k, v, 1, GROUP_SIZE_MAX)?;
            Ok(())
        },
        render: |c| Some(c.group_max_size.to_string()),
    },
    BrokerKey {
        name: "group.consumer.session.timeout.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.group_consumer_session_timeout_ms = parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.group_consumer_session_timeout_ms.to_string()),
    },
    BrokerKey {
        name: "group.consumer.heartbeat.interval.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.group_consumer_heartbeat_interval_ms = parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.group_consumer_heartbeat_interval_ms.to_string()),
    },
    BrokerKey {
        name: "group.consumer.min.session.timeout.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.group_consumer_min_session_timeout_ms = parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.group_consumer_min_session_timeout_ms.to_string()),
    },
    BrokerKey {
        name: "group.consumer.max.session.timeout.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.group_consumer_max_session_timeout_ms = parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.group_consumer_max_session_timeout_ms.to_string()),
    },
    BrokerKey {
        name: "group.consumer.min.heartbeat.interval.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.group_consumer_min_heartbeat_interval_ms = parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.group_consumer_min_heartbeat_interval_ms.to_string()),
    },
    BrokerKey {
        name: "group.consumer.max.heartbeat.interval.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.group_consumer_max_heartbeat_interval_ms = parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.group_consumer_max_heartbeat_interval_ms.to_string()),
    },
    BrokerKey {
        name: "group.consumer.migration.policy",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, k, v| {
            c.group_consumer_migration_policy = MigrationPolicy::parse(k, v)?;
            Ok(())
        },
        render: |c| Some(c.group_consumer_migration_policy.as_str().to_string()),
    },
];

/// `group.consumer.migration.policy`: which way a group with members may move between
/// the classic protocol and KIP-848's (an empty group always may). Kafka's default is
/// both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationPolicy {
    Bidirectional,
    Upgrade,
    Downgrade,
    Disabled,
}

impl MigrationPolicy {
    pub(crate) fn parse(key: &str, value: &str) -> Result<Self, super::ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "bidirectional" => Ok(Self::Bidirectional),
            "upgrade" => Ok(Self::Upgrade),
            "downgrade" => Ok(Self::Downgrade),
            "disabled" => Ok(Self::Disabled),
            _ => Err(invalid(
                key,
                value,
                "bidirectional, upgrade, downgrade or disabled",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bidirectional => "bidirectional",
            Self::Upgrade => "upgrade",
            Self::Downgrade => "downgrade",
            Self::Disabled => "disabled",
        }
    }

    /// A classic group with members may become a KIP-848 one.
    pub fn upgrades(self) -> bool {
        matches!(self, Self::Bidirectional | Self::Upgrade)
    }

    /// A KIP-848 group left with only classic members may become a classic one.
    pub fn downgrades(self) -> bool {
        matches!(self, Self::Bidirectional | Self::Downgrade)
    }
}
