//! `shoal metadata-quorum`: Kafka's kafka-metadata-quorum.sh — the metadata quorum's
//! leader, epoch and high watermark (`describe --status`) and each voter's progress
//! (`describe --replication`), in the layout of Kafka's tool; and a dynamic quorum's
//! voters changed (`add-controller`, `remove-controller`, KIP-853).

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use super::topics::topic_id_string;
use super::ConnectArgs;
use crate::client::admin::{change_raft_voter, describe_quorum, QuorumDescription, QuorumReplica};

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
    AddController(AddArgs),
    /// Make a voter an observer.
    RemoveController(RemoveArgs),
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// Print what would be done, but do not do it.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// The voter's node id.
    #[arg(long)]
    pub controller_id: i32,
    /// The voter's metadata directory id (as DescribeQuorum and add-controller print it).
    #[arg(long)]
    pub controller_directory_id: String,
    /// Print what would be done, but do not do it.
    #[arg(long)]
    pub dry_run: bool,
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
        Action::AddController(add) => return add_controller(&args.connect, add.dry_run),
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
fn add_controller(connect: &ConnectArgs, dry_run: bool) -> Result<()> {
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
    let (name, host, port) = (&endpoint.name, &endpoint.host, endpoint.port);
    if !dry_run {
        let mut cluster = connect.connect()?;
        change_raft_voter(
            cluster.any(),
            true,
            config.node_id,
            directory_id,
            Some((name.as_str(), host.as_str(), port)),
        )?;
    }
    let endpoint = format!("{name}://{}", crate::config::join_host_port(host, port));
    Ok(super::say(format!(
        "{} controller {} with directory id {} and endpoints: {endpoint}",
        if dry_run {
            "DRY RUN of adding"
        } else {
            "Added"
        },
        config.node_id,
        topic_id_string(directory_id)
    ))?)
}

fn remove_controller(connect: &ConnectArgs, remove: &RemoveArgs) -> Result<()> {
    if remove.controller_id < 0 {
        bail!("Invalid negative --controller-id: {}", remove.controller_id);
    }
    let directory_id = parse_directory_id(&remove.controller_directory_id)?;
    if !remove.dry_run {
        let mut cluster = connect.connect()?;
        change_raft_voter(
            cluster.any(),
            false,
            remove.controller_id,
            directory_id,
            None,
        )?;
    }
    // Kafka's line, two spaces and all ("%s KRaft controller" after "Removed ").
    Ok(super::say(format!(
        "{}  KRaft controller {} with directory id {}",
        if remove.dry_run {
            "DRY RUN of removing"
        } else {
            "Removed"
        },
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
        .find(|v| v.id == q.leader_id && v.log_end_offset >= 0)
        .map_or(q.high_watermark, |v| v.log_end_offset)
}

/// Kafka's list of voters or observers in `--status`: `[{"id": 1, "directoryId": "...",
/// "endpoints": ["CONTROLLER://host:port"]}, ...]`, the directory id left out when nil
/// and the endpoints when none are known.
fn replica_list(q: &QuorumDescription, replicas: &[QuorumReplica]) -> String {
    let each: Vec<String> = replicas
        .iter()
        .map(|r| {
            let mut text = format!("{{\"id\": {}", r.id);
            if !r.directory_id.is_nil() {
                text += &format!(", \"directoryId\": \"{}\"", topic_id_string(r.directory_id));
            }
            let endpoints: Vec<String> = q
                .endpoints
                .get(&r.id)
                .into_iter()
                .flatten()
                .map(|(name, host, port)| {
                    format!(
                        "\"{name}://{}\"",
                        crate::config::join_host_port(host, *port)
                    )
                })
                .collect();
            if !endpoints.is_empty() {
                text += &format!(", \"endpoints\": [{}]", endpoints.join(", "));
            }
            text + "}"
        })
        .collect();
    format!("[{}]", each.join(", "))
}

/// Kafka's `--status` block.
fn status(cluster_id: &str, q: &QuorumDescription, now: i64) -> String {
    let end = leader_end(q);
    // Followers whose log end the answering node does not know are left out.
    let followers = q
        .voters
        .iter()
        .filter(|v| v.id != q.leader_id && v.log_end_offset >= 0);
    let max_lag = followers
        .clone()
        .map(|v| (end - v.log_end_offset).max(0))
        .max()
        .unwrap_or(0);
    let max_lag_ms = followers
        .map(|v| {
            if v.last_caught_up_ms < 0 {
                -1
            } else {
                now - v.last_caught_up_ms
            }
        })
        .fold(0, |worst, lag| {
            if lag < 0 || worst < 0 {
                -1
            } else {
                worst.max(lag)
            }
        });
    [
        format!("ClusterId:              {cluster_id}"),
        format!("LeaderId:               {}", q.leader_id),
        format!("LeaderEpoch:            {}", q.leader_epoch),
        format!("HighWatermark:          {}", q.high_watermark),
        format!("MaxFollowerLag:         {max_lag}"),
        format!("MaxFollowerLagTimeMs:   {max_lag_ms}"),
        format!("CurrentVoters:          {}", replica_list(q, &q.voters)),
        format!("CurrentObservers:       {}", replica_list(q, &q.observers)),
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
        "DirectoryId",
        "LogEndOffset",
        "Lag",
        "LastFetchTimestamp",
        "LastCaughtUpTimestamp",
        "Status",
    ]
    .map(str::to_string)
    .to_vec()];
    let mut voters: Vec<&QuorumReplica> = q.voters.iter().collect();
    voters.sort_by_key(|v| (v.id != q.leader_id, v.id));
    let listed = voters
        .into_iter()
        .map(|v| {
            (
                v,
                if v.id == q.leader_id {
                    "Leader"
                } else {
                    "Follower"
                },
            )
        })
        .chain(q.observers.iter().map(|o| (o, "Observer")));
    for (replica, role) in listed {
        let lag = if replica.log_end_offset < 0 {
            "-1".to_string()
        } else {
            (end - replica.log_end_offset).to_string()
        };
        rows.push(vec![
            replica.id.to_string(),
            topic_id_string(replica.directory_id),
            replica.log_end_offset.to_string(),
            lag,
            when(replica.last_fetch_ms),
            when(replica.last_caught_up_ms),
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

    fn replica(
        id: i32,
        log_end_offset: i64,
        last_fetch_ms: i64,
        last_caught_up_ms: i64,
    ) -> QuorumReplica {
        QuorumReplica {
            id,
            directory_id: uuid::Uuid::nil(),
            log_end_offset,
            last_fetch_ms,
            last_caught_up_ms,
        }
    }

    fn quorum() -> QuorumDescription {
        let mut voters = vec![
            replica(1, 38, 9_000, 8_000),
            replica(2, 41, -1, -1),
            replica(3, 41, 9_500, 9_500),
        ];
        voters[1].directory_id = uuid::Uuid::from_bytes([7; 16]);
        QuorumDescription {
            leader_id: 2,
            leader_epoch: 7,
            high_watermark: 40,
            voters,
            observers: vec![replica(4, 30, 9_900, -1)],
            endpoints: [(
                2,
                vec![
                    ("CONTROLLER".to_string(), "::1".to_string(), 9093),
                    ("OTHER".to_string(), "h".to_string(), 9094),
                ],
            )]
            .into(),
        }
    }

    #[test]
    fn status_is_kafkas_block() {
        let text = status("abc", &quorum(), 10_000);
        assert_eq!(
            text,
            "ClusterId:              abc\nLeaderId:               2\nLeaderEpoch:            7\n\
             HighWatermark:          40\nMaxFollowerLag:         3\nMaxFollowerLagTimeMs:   2000\n\
             CurrentVoters:          [{\"id\": 1}, {\"id\": 2, \"directoryId\": \"BwcHBwcHBwcHBwcHBwcHBw\", \
             \"endpoints\": [\"CONTROLLER://[::1]:9093\", \"OTHER://h:9094\"]}, {\"id\": 3}]\n\
             CurrentObservers:       [{\"id\": 4}]"
        );
    }

    #[test]
    fn replication_lists_the_leader_first() {
        let text = replication(&quorum(), true, 10_000);
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|line| line.split('\t').map(str::trim).collect())
            .collect();
        assert_eq!(
            rows[0],
            [
                "NodeId",
                "DirectoryId",
                "LogEndOffset",
                "Lag",
                "LastFetchTimestamp",
                "LastCaughtUpTimestamp",
                "Status"
            ]
        );
        assert_eq!(
            rows[1],
            [
                "2",
                "BwcHBwcHBwcHBwcHBwcHBw",
                "41",
                "0",
                "-1",
                "-1",
                "Leader"
            ]
        );
        assert_eq!(
            rows[2],
            [
                "1",
                "AAAAAAAAAAAAAAAAAAAAAA",
                "38",
                "3",
                "1000 ms ago",
                "2000 ms ago",
                "Follower"
            ]
        );
        assert_eq!(rows[4][0], "4");
        assert_eq!(rows[4][6], "Observer");
        assert_eq!(rows.len(), 5);
    }
}
