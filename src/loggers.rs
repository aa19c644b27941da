//! Kafka's BROKER_LOGGER config resource over shoal's log filter: `kafka-configs
//! --entity-type broker-loggers` describes the loggers and their levels and alters one
//! logger's level in the running process, as Kafka's brokers do with log4j. The loggers
//! are `root` and tracing's targets, shoal's modules, named with dots as log4j names
//! its loggers (`shoal.replication` is the target `shoal::replication`; Kafka's tools
//! take no other characters in a name); the levels are log4j's names, each standing for tracing's nearest (ALL and TRACE for
//! trace, ERROR and FATAL for error). Changes live in this process only and are gone
//! after a restart, as Kafka's are; the filter starts from `SHOAL_LOG`.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use kafka_protocol::error::ResponseError;

use crate::error::ApiError;

/// log4j's levels as Kafka accepts them, and the tracing level each stands for.
const LEVELS: [(&str, &str); 8] = [
    ("ALL", "trace"),
    ("TRACE", "trace"),
    ("DEBUG", "debug"),
    ("INFO", "info"),
    ("WARN", "warn"),
    ("ERROR", "error"),
    ("FATAL", "error"),
    ("OFF", "off"),
];

/// shoal's modules: the loggers listed even when no level was set for them.
const MODULES: [&str; 17] = [
    "shoal.acl",
    "shoal.client",
    "shoal.cluster",
    "shoal.config",
    "shoal.failpoint",
    "shoal.group",
    "shoal.metrics",
    "shoal.partition",
    "shoal.protocol",
    "shoal.quorum",
    "shoal.quota",
    "shoal.replication",
    "shoal.security",
    "shoal.server",
    "shoal.shard",
    "shoal.storage",
    "shoal.txn",
];

pub const ROOT: &str = "root";

/// Installs a new filter (tracing's directive syntax) in the process's subscriber.
pub type Apply = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

struct Loggers {
    /// A lock, not a message: the log filter is the process's, not a shard's (tracing
    /// has one subscriber), and it changes only on an operator's request; every shard's
    /// DescribeConfigs reads it.
    levels: Mutex<Levels>,
    apply: Apply,
}

/// The levels set, by log4j name: the root's, each logger's own, and the directives
/// of `SHOAL_LOG` that are neither (spans, fields), kept as they were.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Levels {
    root: String,
    loggers: BTreeMap<String, String>,
    others: Vec<String>,
}

static LOGGERS: OnceLock<Loggers> = OnceLock::new();

/// Takes the filter the process started with (`SHOAL_LOG`'s directives) and how to
/// install another. Once per process; a second call changes nothing.
pub fn install(initial: &str, apply: Apply) {
    let levels = Mutex::new(Levels::parse(initial));
    let _ = LOGGERS.set(Loggers { levels, apply });
}

/// Every logger and its level (its own, else the root's), root first.
pub fn describe() -> Vec<(String, String)> {
    let levels = match LOGGERS.get() {
        Some(loggers) => loggers.lock().clone(),
        None => Levels::parse("info"),
    };
    levels.described()
}

/// Applies changes, all or nothing: `Some(level)` sets a logger's level, `None` takes
/// its own away (it follows the root again). `validate_only` checks and changes
/// nothing.
pub fn alter(changes: &[(String, Option<String>)], validate_only: bool) -> Result<(), ApiError> {
    let Some(loggers) = LOGGERS.get() else {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            "this process has no log filter to alter",
        ));
    };
    let mut levels = loggers.lock();
    let mut next = levels.clone();
    for (logger, level) in changes {
        next.change(logger, level.as_deref())?;
    }
    if validate_only || next == *levels {
        return Ok(());
    }
    (loggers.apply)(&next.filter()).map_err(|why| {
        ApiError::new(
            ResponseError::InvalidConfig,
            format!("the log filter: {why}"),
        )
    })?;
    tracing::info!(filter = %next.filter(), "log levels changed");
    *levels = next;
    Ok(())
}

impl Loggers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Levels> {
        self.levels.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// log4j's name of a tracing level (tracing's own names, in any case).
fn log4j_name(tracing: &str) -> Option<&'static str> {
    let tracing = tracing.to_ascii_lowercase();
    LEVELS
        .iter()
        .find(|(name, level)| *level == tracing && *name != "ALL" && *name != "FATAL")
        .map(|(name, _)| *name)
}

fn tracing_level(log4j: &str) -> Option<&'static str> {
    LEVELS
        .iter()
        .find(|(name, _)| *name == log4j)
        .map(|(_, level)| *level)
}

/// Whether `name` is a logger: the root, or a target in shoal's modules, dotted.
fn is_logger(name: &str) -> bool {
    name == ROOT
        || name == "shoal"
        || name.strip_prefix("shoal.").is_some_and(|path| {
            path.split('.').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
        })
}

impl Levels {
    /// `SHOAL_LOG`'s directives: a bare level is the root's, `target=level` a
    /// logger's; anything else is kept as it is.
    fn parse(filter: &str) -> Levels {
        let mut levels = Levels {
            root: "INFO".to_string(),
            loggers: BTreeMap::new(),
            others: Vec::new(),
        };
        for directive in filter.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let logger = |target: &str| target.replace("::", ".");
            match directive.split_once('=') {
                None if log4j_name(directive).is_some() => {
                    levels.root = log4j_name(directive).unwrap_or("INFO").to_string();
                }
                Some((target, level)) if is_logger(&logger(target)) && target != ROOT => {
                    match log4j_name(level) {
                        Some(name) => {
                            levels.loggers.insert(logger(target), name.to_string());
                        }
                        None => levels.others.push(directive.to_string()),
                    }
                }
                _ => levels.others.push(directive.to_string()),
            }
        }
        levels
    }

    fn change(&mut self, logger: &str, level: Option<&str>) -> Result<(), ApiError> {
        if !is_logger(logger) {
            return Err(ApiError::new(
                ResponseError::InvalidConfig,
                format!("Logger {logger} does not exist!"),
            ));
        }
        match level {
            None if logger == ROOT => Err(ApiError::new(
                ResponseError::InvalidRequest,
                "Removing the log level of the root logger is not allowed",
            )),
            None => {
                self.loggers.remove(logger);
                Ok(())
            }
            Some(level) => {
                let level = level.trim();
                if tracing_level(level).is_none() {
                    let names: Vec<&str> = LEVELS.iter().map(|(name, _)| *name).collect();
                    return Err(ApiError::new(
                        ResponseError::InvalidConfig,
                        format!(
                            "Cannot set the log level of {logger} to {level} as it is not a supported log level. Valid log4j levels are {}",
                            names.join(", ")
                        ),
                    ));
                }
                match logger {
                    ROOT => self.root = level.to_string(),
                    _ => {
                        self.loggers.insert(logger.to_string(), level.to_string());
                    }
                }
                Ok(())
            }
        }
    }

    /// tracing's directives for these levels.
    fn filter(&self) -> String {
        let level = |name: &str| tracing_level(name).unwrap_or("info");
        let mut directives = vec![level(&self.root).to_string()];
        directives.extend(self.others.iter().cloned());
        directives.extend(
            self.loggers
                .iter()
                .map(|(logger, name)| format!("{}={}", logger.replace('.', "::"), level(name))),
        );
        directives.join(",")
    }

    fn described(&self) -> Vec<(String, String)> {
        let mut names: Vec<&str> = MODULES.to_vec();
        names.extend(self.loggers.keys().map(String::as_str));
        names.sort_unstable();
        names.dedup();
        let mut out = vec![(ROOT.to_string(), self.root.clone())];
        out.extend(names.into_iter().map(|name| {
            let level = self.loggers.get(name).unwrap_or(&self.root);
            (name.to_string(), level.clone())
        }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shoal_log_is_read_into_levels_and_written_back() {
        let levels = Levels::parse("debug,shoal::quorum=trace,shoal::server[conn]=warn");
        assert_eq!(levels.root, "DEBUG");
        assert_eq!(levels.loggers["shoal.quorum"], "TRACE");
        assert_eq!(levels.others, ["shoal::server[conn]=warn"]);
        assert_eq!(
            levels.filter(),
            "debug,shoal::server[conn]=warn,shoal::quorum=trace"
        );
        let described = levels.described();
        assert_eq!(described[0], ("root".to_string(), "DEBUG".to_string()));
        let of = |name: &str| described.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(of("shoal.quorum"), "TRACE");
        assert_eq!(of("shoal.storage"), "DEBUG", "a module follows the root");
    }

    #[test]
    fn changes_are_checked_as_kafka_checks_them() {
        let mut levels = Levels::parse("info");
        levels.change("shoal.replication", Some("DEBUG")).unwrap();
        levels
            .change("shoal.server.handlers", Some("FATAL"))
            .unwrap();
        levels.change(ROOT, Some("WARN")).unwrap();
        assert_eq!(
            levels.filter(),
            "warn,shoal::replication=debug,shoal::server::handlers=error"
        );
        levels.change("shoal.replication", None).unwrap();
        assert!(!levels.loggers.contains_key("shoal.replication"));
        let code = |result: Result<(), ApiError>| result.unwrap_err().code;
        assert_eq!(
            code(levels.change(ROOT, None)),
            ResponseError::InvalidRequest
        );
        assert_eq!(
            code(levels.change("shoal.server", Some("LOUD"))),
            ResponseError::InvalidConfig
        );
        assert_eq!(
            code(levels.change("kafka.server", Some("DEBUG"))),
            ResponseError::InvalidConfig
        );
        assert_eq!(
            code(levels.change("shoal.", Some("DEBUG"))),
            ResponseError::InvalidConfig
        );
    }
}
