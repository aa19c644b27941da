//! How the keys of Kafka's `server.properties` reach shoal's at start-up: `broker.id` is
//! `node.id`, `zookeeper.connect` is refused, keys for machinery shoal does not have
//! (thread pools, buffers it sizes itself) are accepted with one notice each, and an
//! unknown key or `SHOAL_*` variable stops the broker, naming the closest known one.
//!
//! Only the start-up layers come through here (file, environment, `--override`);
//! AlterConfigs takes shoal's own keys and nothing else, as Kafka's does.

use std::collections::BTreeMap;

use super::broker_keys;
use super::kafka_inert;
use super::sasl;
use super::source::{env_name, ENV_PREFIX};
use super::value::check_len;
use super::ConfigError;

/// Kafka keys accepted without effect, and why they have none here.
const INERT: &[(&str, &str)] = &[
    (
        "num.network.threads",
        "each core's shard reads and writes its own connections",
    ),
    (
        "num.io.threads",
        "each core's shard handles its own connections' requests",
    ),
    (
        "background.threads",
        "each shard runs its own background work",
    ),
    (
        "num.recovery.threads.per.data.dir",
        "each shard recovers its own partitions",
    ),
    (
        "log.cleaner.threads",
        "each shard compacts its own partitions",
    ),
    (
        "log.cleaner.io.buffer.size",
        "the cleaner sizes its own buffers",
    ),
    (
        "log.cleaner.io.buffer.load.factor",
        "the cleaner sizes its key maps from log.cleaner.dedupe.buffer.size",
    ),
    (
        "log.flush.scheduler.interval.ms",
        "each shard flushes on log.flush.interval.ms and log.flush.interval.messages",
    ),
    (
        "log.flush.offset.checkpoint.interval.ms",
        "each log writes its recovery point when it rolls a segment and when it closes",
    ),
    (
        "log.flush.start.offset.checkpoint.interval.ms",
        "each log writes its start offset when it changes",
    ),
    (
        "num.replica.fetchers",
        "each shard fetches the partitions it follows from each leader's shard",
    ),
    (
        "transaction.state.log.min.isr",
        "a cluster of one keeps one replica of each internal topic",
    ),
    (
        "share.coordinator.state.topic.replication.factor",
        "shoal has no share groups",
    ),
    (
        "share.coordinator.state.topic.min.isr",
        "shoal has no share groups",
    ),
    (
        "metric.reporters",
        "metrics are served in Prometheus's format on metrics.port",
    ),
    (
        "kafka.metrics.reporters",
        "metrics are served in Prometheus's format on metrics.port",
    ),
    (
        "zookeeper.connection.timeout.ms",
        "shoal needs no ZooKeeper",
    ),
    ("zookeeper.session.timeout.ms", "shoal needs no ZooKeeper"),
];

/// Kafka's other names for shoal's keys: `(alias, key)`.
const ALIASES: &[(&str, &str)] = &[("broker.id", "node.id")];

/// Keys that stop the broker whatever their value, and why.
const REFUSED: &[(&str, &str)] = &[(
    "zookeeper.connect",
    "shoal needs no ZooKeeper: it keeps the cluster's metadata itself, as Kafka's KRaft \
     mode does; remove it (and set process.roles=broker,controller if you like)",
)];

/// `SHOAL_*` variables that are not config keys: the log filter and format.
const LOG_VARS: &[&str] = &["SHOAL_LOG", "SHOAL_LOG_FORMAT"];

/// The keys given at start-up, gathered layer by layer; a later layer's value wins.
#[derive(Debug, Default)]
pub(crate) struct Given {
    explicit: BTreeMap<String, String>,
    /// Target key -> (alias, value).
    aliased: BTreeMap<&'static str, (&'static str, String)>,
    /// One line per inert key, by key.
    notices: BTreeMap<&'static str, String>,
}

impl Given {
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        check_len(key, value)?;
        let value = value.trim().to_string();
        if let Some((_, why)) = REFUSED.iter().find(|(name, _)| *name == key) {
            return Err(ConfigError::Refused {
                key: key.to_string(),
                why,
            });
        }
        if broker_keys::find(key).is_some() || key.starts_with(sasl::LISTENER_PREFIX) {
            sasl::check_listener_key(key)?;
            self.explicit.insert(key.to_string(), value);
        } else if key == "broker.id" && value == "-1" {
            // Kafka's default, which leaves the id to node.id.
            let notice = "broker.id=-1 is accepted: node.id names the node".to_string();
            self.notices.insert("broker.id", notice);
        } else if let Some((alias, target)) = ALIASES.iter().find(|(alias, _)| *alias == key) {
            self.aliased.insert(target, (alias, value));
        } else if let Some((name, why)) = INERT.iter().find(|(name, _)| *name == key) {
            let notice = format!("{name}={value} is accepted and has no effect: {why}");
            self.notices.insert(name, notice);
        } else if let Some((name, why)) = kafka_inert::inert(key) {
            let notice = format!("{name}={value} is accepted and has no effect: {why}");
            self.notices.insert(name, notice);
        } else if let Some((name, accepted, why)) = kafka_inert::default_only(key) {
            if !accepted.iter().any(|a| a.eq_ignore_ascii_case(&value)) {
                // A JAAS config or a secret is never repeated in an error.
                let secret = ["jaas.config", "secret", "password"]
                    .iter()
                    .any(|s| key.contains(s));
                return Err(ConfigError::InvalidValue {
                    key: key.to_string(),
                    value: match secret {
                        true => "(not shown: it may hold passwords)".to_string(),
                        false => value,
                    },
                    detail: format!("shoal takes only {:?}: {why}", accepted[0]),
                });
            }
            let notice = format!("{name}={value} is accepted: {why}");
            self.notices.insert(name, notice);
        } else {
            return Err(ConfigError::UnknownKey {
                key: key.to_string(),
                hint: hint(key, names()),
            });
        }
        Ok(())
    }

    /// The keys for `BrokerConfig::build`, aliases folded in, and the notices.
    pub(crate) fn finish(mut self) -> Result<(BTreeMap<String, String>, Vec<String>), ConfigError> {
        for (target, (alias, value)) in std::mem::take(&mut self.aliased) {
            match self.explicit.get(target) {
                Some(given) if *given != value => {
                    return Err(ConfigError::InvalidValue {
                        key: alias.to_string(),
                        value,
                        detail: format!(
                            "expected the value of {target} ({given}), which it names too"
                        ),
                    })
                }
                Some(_) => {}
                None => {
                    self.explicit.insert(target.to_string(), value);
                }
            }
        }
        Ok((self.explicit, self.notices.into_values().collect()))
    }
}

/// The config key a `SHOAL_*` variable sets; `None` for variables that are not ours to
/// read (other prefixes, the log settings).
pub(crate) fn env_key(name: &str) -> Result<Option<&'static str>, ConfigError> {
    if !name.starts_with(ENV_PREFIX) || LOG_VARS.contains(&name) {
        return Ok(None);
    }
    match names().find(|key| env_name(key) == name) {
        Some(key) => Ok(Some(key)),
        None => {
            let vars = names()
                .map(env_name)
                .chain(LOG_VARS.iter().map(|v| v.to_string()));
            Err(ConfigError::UnknownVariable {
                name: name.to_string(),
                hint: hint(name, vars),
            })
        }
    }
}

/// Every name a start-up layer may use.
fn names() -> impl Iterator<Item = &'static str> {
    broker_keys::all()
        .map(|k| k.name)
        .chain(ALIASES.iter().map(|(alias, _)| *alias))
        .chain(INERT.iter().map(|(name, _)| *name))
        .chain(REFUSED.iter().map(|(name, _)| *name))
        .chain(kafka_inert::names())
}

/// `; did you mean "x"?` for the candidate closest to `given`, if any is close enough
/// to be a likely misspelling; else empty.
fn hint<S: AsRef<str>>(given: &str, candidates: impl Iterator<Item = S>) -> String {
    let close_enough = (given.len() / 3).max(2);
    candidates
        .map(|c| (strsim::damerau_levenshtein(given, c.as_ref()), c))
        .filter(|(distance, _)| *distance <= close_enough)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| format!("; did you mean {:?}?", c.as_ref()))
        .unwrap_or_default()
}
