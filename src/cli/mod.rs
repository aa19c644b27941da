//! shoal's Kafka-style command-line tools (`topics`, `produce`, `consume`, `groups`,
//! `configs`, `acls`, `transactions`, `get-offsets`, `log-dirs`, `delete-records`,
//! `metadata-quorum`, the perf tests and the verifiable producer and consumer, ...), one
//! file per tool (a second file where one would grow too long), mirroring Kafka's
//! scripts' flags and output so habits and scripts carry over. They speak the Kafka
//! protocol through `crate::client`, so they work against any Kafka-compatible broker.
//!
//! Contract: a tool's result goes to stdout in Kafka's layout; a failure is one line on
//! stderr, `shoal: ...`, and a non-zero exit (1 for a failed operation, 2 for bad usage).

pub mod acls;
pub mod command_config;
pub mod configs;
pub mod configs_users;
pub mod consume;
pub mod consume_group;
pub mod consumer_perf;
pub mod delete_records;
pub mod dump_log;
mod dump_log_decode;
pub mod format;
pub mod get_offsets;
pub mod groups;
pub mod groups_describe;
pub mod groups_reset;
pub mod leader_election;
pub mod log_dirs;
pub mod metadata_quorum;
pub mod produce;
pub mod producer_perf;
pub mod properties;
pub mod reader;
pub mod reassign;
mod reassign_throttle;
pub mod topics;
pub mod transactions;
pub mod verifiable_consumer;
pub mod verifiable_producer;

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::Args;

use crate::client::cluster::{Cluster, Options};

/// How to reach the cluster; shared by every tool.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// The broker to connect to; a comma-separated list tries each in turn.
    #[arg(long, value_name = "HOST:PORT", default_value = "localhost:9092")]
    pub bootstrap_server: String,
    /// How long to wait for a connection, or for any one answer, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub request_timeout_ms: u32,
    /// Client properties for a secured broker (security.protocol, sasl.mechanism,
    /// sasl.jaas.config or sasl.username/sasl.password, ssl.ca.location, ...), as
    /// Kafka's tools take them.
    /// (kafka-leader-election.sh's --admin.config too.)
    #[arg(long, alias = "admin.config", value_name = "FILE")]
    pub command_config: Option<std::path::PathBuf>,
}

impl ConnectArgs {
    pub fn connect(&self) -> anyhow::Result<Cluster> {
        Ok(Cluster::connect(
            &self.bootstrap_server,
            self.options("shoal-cli")?,
        )?)
    }

    /// The client options for `client_id`, with the login and TLS `--command-config`
    /// asks for.
    pub fn options(&self, client_id: &str) -> anyhow::Result<Options> {
        self.options_from(client_id, &self.client_properties(None, &[])?)
    }

    /// A console tool's client properties, merged as Kafka's tools merge them:
    /// `--command-config`'s, then those of `file` (its flag, e.g. `--producer.config`),
    /// then each `KEY=VALUE` of `pairs` (e.g. `--producer-property`). The last value
    /// of a key wins.
    pub fn client_properties(
        &self,
        file: Option<(&std::path::Path, &str)>,
        pairs: &[String],
    ) -> anyhow::Result<Vec<(String, String)>> {
        let mut properties = match &self.command_config {
            Some(path) => command_config::read(path, "--command-config")?,
            None => Vec::new(),
        };
        if let Some((path, flag)) = file {
            properties.extend(command_config::read(path, flag)?);
        }
        for pair in pairs {
            let Some((key, value)) = pair.split_once('=') else {
                anyhow::bail!("property '{pair}' is not KEY=VALUE");
            };
            properties.push((key.trim().to_string(), value.trim().to_string()));
        }
        Ok(properties)
    }

    /// A console tool's client properties (`client_properties`: `file` and `pairs`
    /// with the flag that gave them) and the options they make (`options_from`), whose
    /// errors name the flags the properties came from.
    pub fn client(
        &self,
        client_id: &str,
        file: Option<(&std::path::Path, &str)>,
        (pairs, pairs_flag): (&[String], &str),
    ) -> anyhow::Result<(Vec<(String, String)>, Options)> {
        let properties = self.client_properties(file, pairs)?;
        let mut sources = Vec::new();
        if let Some(path) = &self.command_config {
            sources.push(format!("--command-config {}", path.display()));
        }
        if let Some((path, flag)) = file {
            sources.push(format!("{flag} {}", path.display()));
        }
        if !pairs.is_empty() {
            sources.push(pairs_flag.to_string());
        }
        let options = self.options_named(client_id, &properties, &sources.join(" with "))?;
        Ok((properties, options))
    }

    /// The client options of `properties` (from `client_properties`): the login, TLS
    /// and `client.id` they ask for.
    pub fn options_from(
        &self,
        client_id: &str,
        properties: &[(String, String)],
    ) -> anyhow::Result<Options> {
        let source = match &self.command_config {
            Some(path) => format!("--command-config {}", path.display()),
            None => String::new(),
        };
        self.options_named(client_id, properties, &source)
    }

    /// `options_from`, its errors naming `source` (the flags the properties came from;
    /// empty: none).
    fn options_named(
        &self,
        client_id: &str,
        properties: &[(String, String)],
        source: &str,
    ) -> anyhow::Result<Options> {
        let source = if source.is_empty() {
            "the client properties"
        } else {
            source
        };
        let security = command_config::security(properties, source)?;
        let client_id = properties::last(properties, "client.id").unwrap_or(client_id);
        Ok(Options {
            client_id: client_id.to_string(),
            timeout: self.timeout(),
            login: security.login,
            tls: security.tls,
        })
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.request_timeout_ms))
    }

    /// The time a broker may take over an admin operation, as requests carry it.
    pub fn timeout_ms(&self) -> i32 {
        i32::try_from(self.request_timeout_ms).unwrap_or(i32::MAX)
    }
}

/// A load or verification tool's client (the perf tests', the verifiable tools'): the
/// properties of its one file (`legacy`, e.g. `--consumer.config`, else Kafka 4.2's
/// `--command-config`) and its `KEY=VALUE` pairs, those it does not `read` named on
/// stderr; and the options they make, `request.timeout.ms` included.
pub struct ToolClient {
    pub connect: ConnectArgs,
    pub properties: Vec<(String, String)>,
    pub options: Options,
}

impl ToolClient {
    pub fn new(
        tool: &str,
        (bootstrap, client_id): (&str, &str),
        (legacy, command_config): (Option<(&std::path::Path, &str)>, Option<&std::path::Path>),
        pairs: (&[String], &str),
        read: &[&str],
    ) -> anyhow::Result<ToolClient> {
        let file = legacy.or(command_config.map(|path| (path, "--command-config")));
        let mut connect = ConnectArgs {
            bootstrap_server: bootstrap.to_string(),
            request_timeout_ms: 30_000,
            command_config: None,
        };
        let (properties, options) = connect.client(client_id, file, pairs)?;
        properties::warn_unused(tool, &properties, read);
        let ms = |v: &str| v.parse::<u64>().map_err(|e| e.to_string());
        if let Some(ms) = properties::parsed(&properties, "request.timeout.ms", ms)? {
            connect.request_timeout_ms = u32::try_from(ms).unwrap_or(u32::MAX).max(1);
        }
        let options = Options {
            timeout: connect.timeout(),
            ..options
        };
        Ok(ToolClient {
            connect,
            properties,
            options,
        })
    }
}

/// Set by SIGINT or SIGTERM, so a streaming tool can finish what it holds (send the
/// pending batch, print its count) and exit 0 instead of dying mid-write.
pub fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    Ok(stop)
}

/// One line on stdout; a closed pipe is an error to return, not a panic.
/// The broker ids `ids` names more than once, in order, as Kafka's tools list them.
pub fn repeated(ids: &[i32]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let twice: std::collections::BTreeSet<i32> =
        ids.iter().copied().filter(|id| !seen.insert(*id)).collect();
    twice.iter().map(i32::to_string).collect()
}

pub fn say(line: impl std::fmt::Display) -> io::Result<()> {
    writeln!(io::stdout().lock(), "{line}")
}

/// The exit of a tool: 0, or its error as one line on stderr and 1. Output cut short by
/// its reader (`| head`) is not a failure.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shoal: {}", one_line(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}

pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// A command line clap refused: help and version print as usual; anything else becomes
/// one line naming the problem, and exit code 2.
pub fn usage_error(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
        }
        _ => {
            let rendered = error.render().to_string();
            eprintln!("shoal: {} (see --help)", usage_summary(&rendered));
            ExitCode::from(2)
        }
    }
}

/// The first line of clap's rendered error, without its `error: ` prefix; a line that
/// ends in `:` introduces the next one (e.g. the missing arguments), which joins it.
fn usage_summary(rendered: &str) -> String {
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    match lines.next() {
        Some(next) if first.ends_with(':') => format!("{first} {next}"),
        _ => first.to_string(),
    }
}

/// Errors are printed on one line: line breaks inside a message become spaces.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_are_one_line() {
        let rendered =
            "error: unexpected argument '--bogus' found\n\n  tip: ...\n\nUsage: shoal topics\n";
        assert_eq!(
            usage_summary(rendered),
            "unexpected argument '--bogus' found"
        );
        let missing = "error: the following required arguments were not provided:\n  --topic <TOPIC>\n\nUsage: x\n";
        assert_eq!(
            usage_summary(missing),
            "the following required arguments were not provided: --topic <TOPIC>"
        );
        assert_eq!(one_line("a\n  b\tc\n"), "a b\tc");
    }
}
