//! The `shoal` command: `shoal serve` runs a broker; `topics`, `produce`, `consume`,
//! `groups`, `configs` and `acls` are Kafka-style tools (src/cli/); `bench` is the load
//! harness (bench/harness/).
//! This file only parses and dispatches.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use shoal::cli;
use shoal::config::BrokerConfig;

#[global_allocator]
static ALLOCATOR: shoal::alloc::Allocator = shoal::alloc::Allocator;

#[derive(Parser)]
#[command(
    name = "shoal",
    version,
    about = "A Kafka-compatible message broker, thread-per-core on io_uring",
    // As Kafka's scripts (joptsimple): an unambiguous prefix names a flag (--from-begin),
    // and each tool answers --version.
    infer_long_args = true,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker (defaults: 127.0.0.1:9092, data in ./data, one shard per core).
    Serve {
        /// Broker properties: Kafka's server.properties format, or TOML for a .toml file
        /// (Kafka's names: log.dirs, num.partitions, ...).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Set one property, overriding the file and the environment (repeatable).
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Prepare a controller of a quorum whose voters can change (Kafka's
    /// kafka-storage.sh format).
    Format(cli::format::FormatArgs),
    /// Create, list, describe, alter or delete topics (Kafka's kafka-topics.sh).
    Topics(cli::topics::TopicsArgs),
    /// Send stdin's lines as records (Kafka's kafka-console-producer.sh).
    Produce(cli::produce::ProduceArgs),
    /// Print a topic's records (Kafka's kafka-console-consumer.sh).
    Consume(cli::consume::ConsumeArgs),
    /// List, describe, reset the offsets of, or delete consumer groups
    /// (Kafka's kafka-consumer-groups.sh).
    Groups(cli::groups::GroupsArgs),
    /// Describe or alter topic and broker configs (Kafka's kafka-configs.sh).
    Configs(cli::configs::ConfigsArgs),
    /// List, add or remove ACLs (Kafka's kafka-acls.sh).
    Acls(cli::acls::AclsArgs),
    /// List, describe, find hanging and abort transactions (Kafka's kafka-transactions.sh).
    Transactions(cli::transactions::TransactionsArgs),
    /// Print the offset a time resolves to in each partition (Kafka's kafka-get-offsets.sh).
    GetOffsets(cli::get_offsets::GetOffsetsArgs),
    /// Describe each broker's log directories and partition sizes (Kafka's kafka-log-dirs.sh).
    LogDirs(cli::log_dirs::LogDirsArgs),
    /// Delete records before given offsets (Kafka's kafka-delete-records.sh).
    DeleteRecords(cli::delete_records::DeleteRecordsArgs),
    /// Print a partition's segment and index files, offline (Kafka's kafka-dump-log.sh).
    DumpLog(cli::dump_log::DumpLogArgs),
    /// Elect preferred (or unclean) partition leaders (Kafka's kafka-leader-election.sh).
    LeaderElection(cli::leader_election::LeaderElectionArgs),
    /// Move partitions to other brokers (Kafka's kafka-reassign-partitions.sh).
    Reassign(cli::reassign::ReassignArgs),
    /// Describe the metadata quorum, add or remove its voters (Kafka's
    /// kafka-metadata-quorum.sh).
    MetadataQuorum(cli::metadata_quorum::MetadataQuorumArgs),
    /// Produce records at a given rate and print throughput and latency (Kafka's
    /// kafka-producer-perf-test.sh).
    ProducerPerfTest(cli::producer_perf::ProducerPerfArgs),
    /// Read records as a consumer group member and print throughput (Kafka's
    /// kafka-consumer-perf-test.sh).
    ConsumerPerfTest(cli::consumer_perf::ConsumerPerfArgs),
    /// Send increasing integers and print each acknowledgement as JSON (Kafka's
    /// kafka-verifiable-producer.sh).
    VerifiableProducer(cli::verifiable_producer::VerifiableProducerArgs),
    /// Read as a consumer group member and print what happens as JSON (Kafka's
    /// kafka-verifiable-consumer.sh).
    VerifiableConsumer(cli::verifiable_consumer::VerifiableConsumerArgs),
    /// Load a Kafka-compatible broker and report throughput and latency (bench/README.md).
    Bench(shoal::bench::BenchArgs),
}

/// Log lines go to stderr: filtered by `SHOAL_LOG` (tracing's syntax, default `info`),
/// one JSON object per line with `SHOAL_LOG_FORMAT=json`, and coloured only on a terminal.
/// The filter can be changed while the process runs (`shoal::loggers`, Kafka's broker
/// loggers).
fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let initial = std::env::var("SHOAL_LOG")
        .ok()
        .filter(|filter| EnvFilter::try_new(filter).is_ok())
        .unwrap_or_else(|| "info".to_string());
    let filter = EnvFilter::new(&initial);
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let apply: shoal::loggers::Apply =
        if std::env::var("SHOAL_LOG_FORMAT").is_ok_and(|format| format == "json") {
            let logs = logs.json().with_env_filter(filter).with_filter_reloading();
            let handle = logs.reload_handle();
            logs.init();
            Box::new(move |directives| {
                let filter = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
                handle.reload(filter).map_err(|e| e.to_string())
            })
        } else {
            let logs = logs.with_env_filter(filter).with_filter_reloading();
            let handle = logs.reload_handle();
            logs.init();
            Box::new(move |directives| {
                let filter = EnvFilter::try_new(directives).map_err(|e| e.to_string())?;
                handle.reload(filter).map_err(|e| e.to_string())
            })
        };
    shoal::loggers::install(&initial, apply);
}

fn main() -> ExitCode {
    shoal::alloc::keep_large_buffers();
    init_logging();
    let matches = match Cli::command().try_get_matches() {
        Ok(matches) => matches,
        Err(error) => return cli::usage_error(error),
    };
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => return cli::usage_error(error),
    };
    // kafka-configs.sh pairs entity types with names by their order on the command line.
    if let (Command::Configs(args), Some((_, configs))) = (&mut cli.command, matches.subcommand()) {
        args.order_entities(configs);
    }
    match cli.command {
        Command::Serve { config, overrides } => {
            shoal::failpoint::setup();
            let env: Vec<(String, String)> = std::env::vars().collect();
            let config = match BrokerConfig::load(config.as_deref(), &env, &overrides) {
                Ok((config, notices)) => {
                    for notice in notices {
                        tracing::info!(target: "shoal::config", "{notice}");
                    }
                    config
                }
                Err(error) => {
                    eprintln!("shoal: {error}");
                    return ExitCode::from(2);
                }
            };
            match shoal::shard::runtime::serve(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("shoal: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Format(args) => cli::finish(cli::format::run(args)),
        Command::Topics(args) => cli::finish(cli::topics::run(args)),
        Command::Produce(args) => cli::finish(cli::produce::run(args)),
        Command::Consume(args) => cli::finish(cli::consume::run(args)),
        Command::Groups(args) => cli::finish(cli::groups::run(args)),
        Command::Configs(args) => cli::finish(cli::configs::run(args)),
        Command::Acls(args) => cli::finish(cli::acls::run(args)),
        Command::Transactions(args) => cli::finish(cli::transactions::run(args)),
        Command::GetOffsets(args) => cli::finish(cli::get_offsets::run(args)),
        Command::LogDirs(args) => cli::finish(cli::log_dirs::run(args)),
        Command::MetadataQuorum(args) => cli::finish(cli::metadata_quorum::run(args)),
        Command::DeleteRecords(args) => cli::finish(cli::delete_records::run(args)),
        Command::DumpLog(args) => cli::finish(cli::dump_log::run(args)),
        Command::LeaderElection(args) => cli::finish(cli::leader_election::run(args)),
        Command::Reassign(args) => cli::finish(cli::reassign::run(args)),
        Command::ProducerPerfTest(args) => cli::finish(cli::producer_perf::run(args)),
        Command::ConsumerPerfTest(args) => cli::finish(cli::consumer_perf::run(args)),
        Command::VerifiableProducer(args) => cli::finish(cli::verifiable_producer::run(args)),
        Command::VerifiableConsumer(args) => cli::finish(cli::verifiable_consumer::run(args)),
        Command::Bench(args) => cli::finish(shoal::bench::run(args)),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap's own checks of every subcommand (no flag named twice, ...), which it would
    /// otherwise make only when that subcommand runs in a debug build.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
