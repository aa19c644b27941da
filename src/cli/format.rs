//! `shoal format`: Kafka's `kafka-storage.sh format` for a controller of a dynamic
//! metadata quorum (KIP-853, `controller.quorum.bootstrap.servers`). `--standalone`
//! makes the node the quorum's only voter, to which the other controllers are added
//! (`shoal metadata-quorum add-controller`); `--no-initial-controllers` makes a node
//! that joins as an observer. Either gives the metadata directory its id. A combined
//! node needs it to take part in such a quorum (unformatted, it is a cluster of one, as
//! Kafka's quick-start file runs); a controller-only or broker-only node joins without
//! it, and a node of `controller.quorum.voters` needs none.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::config::BrokerConfig;
use crate::quorum::{disk, member, QuorumLog};

#[derive(Args, Debug)]
pub struct FormatArgs {
    /// The node's server properties (as `shoal serve` takes them; SHOAL_* variables
    /// are not read).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Set one property, overriding the file (repeatable).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// This controller is the quorum's first and only voter.
    #[arg(long, conflicts_with = "no_initial_controllers")]
    pub standalone: bool,
    /// This controller joins the quorum as an observer, to be made a voter later.
    #[arg(long)]
    pub no_initial_controllers: bool,
    /// Format a directory that has been formatted (or run) already; its log is kept.
    #[arg(long)]
    pub ignore_formatted: bool,
}

pub fn run(args: FormatArgs) -> Result<()> {
    if args.standalone == args.no_initial_controllers {
        bail!("format takes one of --standalone or --no-initial-controllers");
    }
    // The file and the overrides only, as kafka-storage.sh reads its file only.
    let (config, _) = BrokerConfig::load(args.config.as_deref(), &[], &args.overrides)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if !config.kraft.is_controller() || !config.kraft.quorum_voters.is_empty() {
        bail!(
            "format is for a controller whose voters the log names: process.roles with \
             controller, controller.quorum.bootstrap.servers, and no controller.quorum.voters"
        );
    }
    if config.kraft.quorum_bootstrap_servers.is_empty() {
        bail!("controller.quorum.bootstrap.servers is not set");
    }
    let log_dir = config.log_dirs.first().cloned().unwrap_or_default();
    let dir = log_dir.join(disk::DIR);
    // The state file is written last: entries without it are a format cut short.
    let formatted = [disk::STATE_FILE, disk::SNAPSHOT_FILE]
        .iter()
        .any(|f| dir.join(f).exists());
    if formatted && !args.ignore_formatted {
        bail!(
            "{} is already formatted (use --ignore-formatted to leave it as it is)",
            dir.display()
        );
    }
    let directory_id = member::directory_id(&dir)?;
    if args.standalone && !formatted {
        // The log of a quorum whose only voter is this node.
        let log = QuorumLog::first_voter(member::raft_id(config.node_id))?;
        let files = [
            (disk::ENTRIES_FILE, disk::encode_entries(log.entries_ref())),
            (disk::STATE_FILE, disk::encode_state(log.hard_state())),
        ];
        for (name, bytes) in files {
            member::write_synced(&dir.join(name), &bytes)?;
        }
        // The files' names are durable once the directory is.
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))?;
    }
    let what = match (formatted, args.standalone) {
        (true, _) => "; its log was left as it was".to_string(),
        (false, true) => format!(", node {} the quorum's only voter", config.node_id),
        (false, false) => String::new(),
    };
    Ok(super::say(format!(
        "Formatted {} with metadata directory id {}{what}",
        dir.display(),
        super::topics::topic_id_string(directory_id),
    ))?)
}
