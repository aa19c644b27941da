//! `shoal metadata-quorum`: Kafka's kafka-metadata-quorum.sh — the metadata quorum's
//! leader, epoch and high watermark (`describe --status`) and each voter's progress
//! (`describe --replication`), in the layout of Kafka's tool; and a dynamic quorum's
//! voters changed (`add-controller`, `remove-controller`, KIP-853).

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use super::topics::topic_id_string;
use super::ConnectArgs;
use crate::client::admin::{change_raft_voter, describe_quorum, QuorumDescription};

#[derive(Args, Debug)]
pub struct MetadataQuorumArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Describe the metadata quorum.
    Describe(DescribeArgs),
    /// Make the controller whose server properties --command-config names a voter
    /// (it must be running, following the quorum as an observer).
    AddController,
    /// Make a voter an observer.
    RemoveController(RemoveArgs),
}

#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// The voter's node id.
    #[arg(long)]
    pub controller_id: i32,
    /// The voter's metadata directory id (as DescribeQuorum and add-controller print it).
    #[arg(long)]
    pub controller_directory_id: String,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// The leader, its epoch, the high watermark and the voters.
    #[arg(long)]
    pub status: bool,
    /// Each voter's log end offset, lag and last contact.
    #[arg(long)]
    pub replication: bool,
    /// Times as how long ago, not milliseconds since the epoch.
    #[arg(long)]
    pub human_readable: bool,
}

pub fn run(args: MetadataQuorumArgs) -> Result<()> {
    let describe = match args.action {
        Action::Describe(describe) => describe,
        Action::AddController => return add_controller(&args.connect),
        Action::RemoveController(remove) => return remove_controller(&args.connect, &remove),
    };
    if describe.status == describe.replication {
        bail!("describe takes one of --status or --replication");
    }
    let mut cluster = args.connect.connect()?;
    let quorum = describe_quorum(cluster.any())?;
    let now = now_ms();
    if describe.status {
        let cluster_id = cluster.metadata(Some(&[]), false)?.cluster_id;
        return Ok(super::say(status(&cluster_id, &quorum, now))?);
    }
    Ok(super::say(replication(
        &quorum,
        describe.human_readable,
        now,
    ))?)
}

/// Kafka's add-controller: the controller's node id, controller listener and metadata
/// directory id come from its own server properties (`--command-config`), as Kafka's
/// tool reads them, so it runs where the controller does.
fn add_controller(connect: &ConnectArgs) -> Result<()> {
    let Some(path) = &connect.command_config else {
        bail!("add-controller needs --command-config: the new controller's server properties");
    };
    let (config, _) = crate::config::BrokerConfig::load(Some(path), &[], &[])
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let Some(endpoint) = config.controller_endpoint() else {
        bail!(
            "{}: not a controller (process.roles has no controller, or no controller listener)",
            path.display()
        );
    };
    let log_dir = config.log_dirs.first().cloned().unwrap_or_default();
    let dir = log_dir.join(crate::quorum::disk::DIR);
    let file = dir.join(crate::quorum::member::DIRECTORY_ID_FILE);
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "reading {}: start the controller (or `shoal format` it) first",
            file.display()
        )
    })?;
    let directory_id = uuid::Uuid::parse_str(text.trim())
        .with_context(|| format!("{} holds no directory id", file.display()))?;
    let mut cluster = connect.connect()?;
    let (name, host, port) = (&endpoint.name, &endpoint.host, endpoint.port);
    change_raft_voter(
        cluster.any(),
        true,
        config.node_id,
        directory_id,
        Some((name.as_str(), host.as_str(), port)),
    )?;
    let endpoint = format!("{name}://{}", crate::config::join_host_port(host, port));
    Ok(super::say(format!(
        "Added controller {} with directory id {} and endpoints: {endpoint}",
        config.node_id,
        topic_id_string(directory_id)
    ))?)
}

fn remove_controller(connect: &ConnectArgs, remove: &RemoveArgs) -> Result<()> {
    let directory_id = parse_directory_id(&remove.controller_directory_id)?;
    let mut cluster = connect.connect()?;
    change_raft_voter(
        cluster.any(),
        false,
        remove.controller_id,
        directory_id,
        None,
    )?;
    Ok(super::say(format!(
        "Removed KRaft controller {} with directory id {}",
        remove.controller_id,
        topic_id_string(directory_id)
    ))?)
}

/// A directory id as Kafka prints it (URL-safe base64 of its 16 bytes), or as a UUID.
fn parse_directory_id(text: &str) -> Result<uuid::Uuid> {
    use base64::Engine;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim());
    if let Some(bytes) = decoded.ok().and_then(|b| <[u8; 16]>::try_from(b).ok()) {
        return Ok(uuid::Uuid::from_bytes(bytes));
    }
    uuid::Uuid::parse_str(text.trim())
        .with_context(|| format!("--controller-directory-id {text}: not a directory id"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The leader's log end; the high watermark when the answering node does not know it
/// (a follower answers from its own view: see the DescribeQuorum handler).
fn leader_end(q: &QuorumDescription) -> i64 {
    q.voters
        .iter()
        .find(|v| v.0 == q.leader_id && v.1 >= 0)
        .map_or(q.high_watermark, |v| v.1)
}

/// Kafka's `--status` block.
fn status(cluster_id: &str, q: &QuorumDescription, now: i64) -> String {
    let end = leader_end(q);
    // Followers whose log end the answering node does not know are left out.
    let followers = q.voters.iter().filter(|v| v.0 != q.leader_id && v.1 >= 0);
    let max_lag = followers
        .clone()
        .map(|v| (end - v.1).max(0))
        .max()
        .unwrap_or(0);
    let max_lag_ms = followers
        .map(|v| if v.3 < 0 { -1 } else { now - v.3 })
        .fold(0, |worst, lag| {
            if lag < 0 || worst < 0 {
                -1
            } else {
                worst.max(lag)
            }
        });
    let ids = |list: &[(i32, i64, i64, i64)]| {
        let ids: Vec<String> = list.iter().map(|v| v.0.to_string()).collect();
        format!("[{}]", ids.join(","))
    };
    [
        format!("ClusterId:              {cluster_id}"),
        format!("LeaderId:               {}", q.leader_id),
        format!("LeaderEpoch:            {}", q.leader_epoch),
        format!("HighWatermark:          {}", q.high_watermark),
        format!("MaxFollowerLag:         {max_lag}"),
        format!("MaxFollowerLagTimeMs:   {max_lag_ms}"),
        format!("CurrentVoters:          {}", ids(&q.voters)),
        format!("CurrentObservers:       {}", ids(&q.observers)),
    ]
    .join("\n")
}

/// Kafka's `--replication` table: the leader first, then the other voters, then
/// observers.
fn replication(q: &QuorumDescription, human: bool, now: i64) -> String {
    let end = leader_end(q);
    let when = |ms: i64| match (ms, human) {
        (ms, _) if ms < 0 => "-1".to_string(),
        (ms, true) => format!("{} ms ago", (now - ms).max(0)),
        (ms, false) => ms.to_string(),
    };
    let mut rows = vec![[
        "NodeId",
        "LogEndOffset",
        "Lag",
        "LastFetchTimestamp",
        "LastCaughtUpTimestamp",
        "Status",
    ]
    .map(str::to_string)
    .to_vec()];
    let mut voters: Vec<&(i32, i64, i64, i64)> = q.voters.iter().collect();
    voters.sort_by_key(|v| (v.0 != q.leader_id, v.0));
    let listed = voters
        .into_iter()
        .map(|v| {
            (
                v,
                if v.0 == q.leader_id {
                    "Leader"
                } else {
                    "Follower"
                },
            )
        })
        .chain(q.observers.iter().map(|o| (o, "Observer")));
    for (&(node, log_end, fetch, caught_up), role) in listed {
        let lag = if log_end < 0 {
            "-1".to_string()
        } else {
            (end - log_end).to_string()
        };
        rows.push(vec![
            node.to_string(),
            log_end.to_string(),
            lag,
            when(fetch),
            when(caught_up),
            role.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            cells.join("\t").trim_end().to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quorum() -> QuorumDescription {
        QuorumDescription {
            leader_id: 2,
            leader_epoch: 7,
            high_watermark: 40,
            voters: vec![
                (1, 38, 9_000, 8_000),
                (2, 41, -1, -1),
                (3, 41, 9_500, 9_500),
            ],
            observers: vec![],
        }
    }

    #[test]
    fn status_is_kafkas_block() {
        let text = status("abc", &quorum(), 10_000);
        assert_eq!(
            text,
            "ClusterId:              abc\nLeaderId:               2\nLeaderEpoch:            7\n\
             HighWatermark:          40\nMaxFollowerLag:         3\nMaxFollowerLagTimeMs:   2000\n\
             CurrentVoters:          [1,2,3]\nCurrentObservers:       []"
        );
    }

    #[test]
    fn replication_lists_the_leader_first() {
        let text = replication(&quorum(), true, 10_000);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NodeId\tLogEndOffset\tLag"), "{text}");
        assert!(
            lines[1].starts_with("2 ") && lines[1].ends_with("Leader"),
            "{text}"
        );
        assert!(
            lines[2].contains("1000 ms ago") && lines[2].contains("\t3 "),
            "{text}"
        );
        assert_eq!(lines.len(), 4);
    }
}
