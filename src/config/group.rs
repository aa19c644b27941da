//! A consumer group's own configs (Kafka's GroupConfig, KIP-848): the GROUP config
//! resource's `consumer.session.timeout.ms` and `consumer.heartbeat.interval.ms`, each
//! within the broker's `group.consumer.{min,max}.*` bounds, and each the broker's
//! `group.consumer.*` value where the group sets none. Kafka's `share.*` keys are for
//! share groups, which shoal does not serve: they are unknown here.

use std::collections::BTreeMap;

use super::value::{invalid, parse_int};
use super::{BrokerConfig, ConfigEntry, ConfigError, ConfigSource, ConfigType};

pub const SESSION_TIMEOUT: &str = "consumer.session.timeout.ms";
pub const HEARTBEAT_INTERVAL: &str = "consumer.heartbeat.interval.ms";

/// A group's overrides, by key.
pub type GroupConfig = BTreeMap<String, String>;

/// The group keys with their bounds and broker value, in describe order.
fn keys(broker: &BrokerConfig) -> [(&'static str, i64, i64, i64); 2] {
    [
        (
            HEARTBEAT_INTERVAL,
            broker.group_consumer_min_heartbeat_interval_ms,
            broker.group_consumer_max_heartbeat_interval_ms,
            broker.group_consumer_heartbeat_interval_ms,
        ),
        (
            SESSION_TIMEOUT,
            broker.group_consumer_min_session_timeout_ms,
            broker.group_consumer_max_session_timeout_ms,
            broker.group_consumer_session_timeout_ms,
        ),
    ]
}

/// Applies `changes` (`Some` sets, `None` removes) to `current`, all or nothing: every
/// key known and every value within the broker's bounds.
pub fn alter(
    current: &GroupConfig,
    changes: &[(String, Option<String>)],
    broker: &BrokerConfig,
) -> Result<GroupConfig, ConfigError> {
    let mut next = current.clone();
    for (key, value) in changes {
        let Some(&(_, least, most, _)) = keys(broker).iter().find(|(k, ..)| *k == key) else {
            return Err(ConfigError::UnknownKey {
                key: key.clone(),
                hint: format!("; a group's keys are {HEARTBEAT_INTERVAL} and {SESSION_TIMEOUT}"),
            });
        };
        match value {
            Some(value) => {
                let ms: i64 = parse_int(key, value, least, most).map_err(|_| {
                    invalid(key, value, format!("an integer from {least} to {most} (the broker's group.consumer.min and max)"))
                })?;
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
        .map(|(key, _, _, default)| {
            let (value, source) = match own.get(key) {
                Some(value) => (value.clone(), ConfigSource::DynamicGroupConfig),
                None => (default.to_string(), ConfigSource::DefaultConfig),
            };
            ConfigEntry {
                name: key.to_string(),
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
        for (key, value) in [
            (SESSION_TIMEOUT, "44999"),
            (SESSION_TIMEOUT, "60001"),
            (HEARTBEAT_INTERVAL, "4999"),
            (HEARTBEAT_INTERVAL, "soon"),
        ] {
            let error = alter(&own, &[set(key, value)], &broker).unwrap_err();
            assert!(
                matches!(error, ConfigError::InvalidValue { .. }),
                "{key}={value}"
            );
        }
        let unknown = alter(&own, &[set("share.session.timeout.ms", "50000")], &broker);
        assert!(matches!(unknown, Err(ConfigError::UnknownKey { .. })));
        let removed = alter(&own, &[(SESSION_TIMEOUT.to_string(), None)], &broker).unwrap();
        assert!(removed.is_empty());
        let described = describe(&own, &broker);
        assert_eq!(described[1].value.as_deref(), Some("50000"));
        assert_eq!(described[1].source, ConfigSource::DynamicGroupConfig);
        assert_eq!(described[0].source, ConfigSource::DefaultConfig);
    }
}
