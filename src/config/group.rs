//! A consumer group's own configs (Kafka's GroupConfig, KIP-848): the GROUP config
//! resource's `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms`, each
//! within the broker's `group.consumer.{min,max}.*` bounds, and each the broker's
//! `group.consumer.*` value where the group sets none. Kafka's `share.*` keys are for
//! share groups, which shoal does not serve: they are unknown here.

use std::collections::BTreeMap;

use super::value::parse_int;
use super::{BrokerConfig, ConfigEntry, ConfigError, ConfigSource, ConfigType};

pub const SESSION_TIMEOUT: &str = "consumer.session.timeout.ms";
pub const HEARTBEAT_INTERVAL: &str = "consumer.heartbeat.interval.ms";

/// A group's overrides, by key.
pub type GroupConfig = BTreeMap<String, String>;

/// A group key: its name, its bounds with the broker keys that set them, and the
/// broker's value.
struct GroupKey {
    name: &'static str,
    least: (&'static str, i64),
    most: (&'static str, i64),
    default: i64,
}

/// The group keys, in describe order.
fn keys(broker: &BrokerConfig) -> [GroupKey; 2] {
    [
        GroupKey {
            name: HEARTBEAT_INTERVAL,
            least: (
                "group.consumer.min.heartbeat.interval.ms",
                broker.group_consumer_min_heartbeat_interval_ms,
            ),
            most: (
                "group.consumer.max.heartbeat.interval.ms",
                broker.group_consumer_max_heartbeat_interval_ms,
            ),
            default: broker.group_consumer_heartbeat_interval_ms,
        },
        GroupKey {
            name: SESSION_TIMEOUT,
            least: (
                "group.consumer.min.session.timeout.ms",
                broker.group_consumer_min_session_timeout_ms,
            ),
            most: (
                "group.consumer.max.session.timeout.ms",
                broker.group_consumer_max_session_timeout_ms,
            ),
            default: broker.group_consumer_session_timeout_ms,
        },
    ]
}

/// Applies `changes` (`Some` sets, `None` removes) to `current`, all or nothing: every
/// key known and every value within the broker's bounds, refused in Kafka's words
/// (`GroupConfig.validateNames` and `validateValues`).
pub fn alter(
    current: &GroupConfig,
    changes: &[(String, Option<String>)],
    broker: &BrokerConfig,
) -> Result<GroupConfig, ConfigError> {
    let mut next = current.clone();
    let keys = keys(broker);
    for (key, value) in changes {
        let Some(row) = keys.iter().find(|k| k.name == key) else {
            return Err(ConfigError::Kafka(format!(
                "Unknown group config name: {key}"
            )));
        };
        match value {
            Some(value) => {
                let ms = i64::from(parse_int(key, value, 1i32, i32::MAX)?);
                let bound = |relation: &str, (bound, _): (&str, i64)| {
                    ConfigError::Kafka(format!("{key} must be {relation} or equal to {bound}"))
                };
                if ms < row.least.1 {
                    return Err(bound("greater than", row.least));
                }
                if ms > row.most.1 {
                    return Err(bound("less than", row.most));
                }
                next.insert(key.clone(), ms.to_string());
            }
            None => {
                next.remove(key);
            }
        }
    }
    Ok(next)
}

/// Every group key with its value: the group's own (DYNAMIC_GROUP_CONFIG), else the
/// broker's (DEFAULT_CONFIG).
pub fn describe(own: &GroupConfig, broker: &BrokerConfig) -> Vec<ConfigEntry> {
    keys(broker)
        .into_iter()
        .map(|key| {
            let (value, source) = match own.get(key.name) {
                Some(value) => (value.clone(), ConfigSource::DynamicGroupConfig),
                None => (key.default.to_string(), ConfigSource::DefaultConfig),
            };
            ConfigEntry {
                name: key.name.to_string(),
                value: Some(value),
                source,
                read_only: false,
                sensitive: false,
                config_type: ConfigType::Int,
                synonyms: Vec::new(),
            }
        })
        .collect()
}

/// The group's session timeout and heartbeat interval, in ms.
pub fn limits(own: Option<&GroupConfig>, broker: &BrokerConfig) -> (i64, i64) {
    let get = |key: &str, default: i64| {
        own.and_then(|c| c.get(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (
        get(SESSION_TIMEOUT, broker.group_consumer_session_timeout_ms),
        get(
            HEARTBEAT_INTERVAL,
            broker.group_consumer_heartbeat_interval_ms,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_s_keys_are_checked_against_the_broker_s_bounds() {
        let broker = BrokerConfig::default();
        let set = |key: &str, value: &str| (key.to_string(), Some(value.to_string()));
        let own = alter(
            &GroupConfig::new(),
            &[set(SESSION_TIMEOUT, "50000")],
            &broker,
        )
        .unwrap();
        assert_eq!(limits(Some(&own), &broker), (50_000, 5_000));
        assert_eq!(limits(None, &broker), (45_000, 5_000));
        for (key, value, refusal) in [
            (SESSION_TIMEOUT, "44999", "consumer.session.timeout.ms must be greater than or equal to group.consumer.min.session.timeout.ms"),
            (SESSION_TIMEOUT, "60001", "consumer.session.timeout.ms must be less than or equal to group.consumer.max.session.timeout.ms"),
            (HEARTBEAT_INTERVAL, "4999", "consumer.heartbeat.interval.ms must be greater than or equal to group.consumer.min.heartbeat.interval.ms"),
            (HEARTBEAT_INTERVAL, "soon", "Invalid value soon for configuration consumer.heartbeat.interval.ms: Not a number of type INT"),
        ] {
            let error = alter(&own, &[set(key, value)], &broker).unwrap_err();
            assert_eq!(error.to_string(), refusal, "{key}={value}");
        }
        let unknown = alter(&own, &[set("share.session.timeout.ms", "50000")], &broker);
        assert_eq!(
            unknown.map_err(|e| e.to_string()),
            Err("Unknown group config name: share.session.timeout.ms".to_string())
        );
        let removed = alter(&own, &[(SESSION_TIMEOUT.to_string(), None)], &broker).unwrap();
        assert!(removed.is_empty());
        let described = describe(&own, &broker);
        assert_eq!(described[1].value.as_deref(), Some("50000"));
        assert_eq!(described[1].source, ConfigSource::DynamicGroupConfig);
        assert_eq!(described[0].source, ConfigSource::DefaultConfig);
    }
}
