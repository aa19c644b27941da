//! The broker keys that limit what clients and replicas take: connections (Kafka's
//! `max.connections*`, and shoal's `max.failed.authentication.rate.per.ip`), the
//! windows client quotas are measured over (`quota.window.*`,
//! `controller.quota.window.*`), and replication throttles (`*.replication.throttled.rate`,
//! `replication.quota.window.*`). Rows as `broker_keys`' table.

use super::broker_keys::BrokerKey;
use super::broker_values::parse_ip_overrides;
use super::value::parse_int;
use super::ConfigType;

pub(crate) static LIMIT_KEYS: &[BrokerKey] = &[
    BrokerKey {
        name: "max.connections",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.max_connections = parse_int(k, v, 0, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.max_connections.to_string()),
    },
    BrokerKey {
        name: "max.connections.per.ip",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.max_connections_per_ip = parse_int(k, v, 0, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.max_connections_per_ip.to_string()),
    },
    BrokerKey {
        // shoal's own: Kafka has only the failed login's delay.
        name: "max.failed.authentication.rate.per.ip",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.max_failed_authentication_rate_per_ip = parse_int(k, v, 0, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.max_failed_authentication_rate_per_ip.to_string()),
    },
    BrokerKey {
        // Kafka sets no upper bound; each quota sensor holds this many windows.
        name: "quota.window.num",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.quota_window_num = parse_int(k, v, 1, 1000)?;
            Ok(())
        },
        render: |c| Some(c.quota_window_num.to_string()),
    },
    BrokerKey {
        name: "quota.window.size.seconds",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.quota_window_size_seconds = parse_int(k, v, 1, 86_400)?;
            Ok(())
        },
        render: |c| Some(c.quota_window_size_seconds.to_string()),
    },
    BrokerKey {
        name: "controller.quota.window.num",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.controller_quota_window_num = parse_int(k, v, 1, 1000)?;
            Ok(())
        },
        render: |c| Some(c.controller_quota_window_num.to_string()),
    },
    BrokerKey {
        name: "controller.quota.window.size.seconds",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.controller_quota_window_size_seconds = parse_int(k, v, 1, 86_400)?;
            Ok(())
        },
        render: |c| Some(c.controller_quota_window_size_seconds.to_string()),
    },
    BrokerKey {
        // Kafka's dynamic-only broker key; unset, nothing is throttled.
        name: "leader.replication.throttled.rate",
        kind: ConfigType::Long,
        dynamic: true,
        apply: |c, k, v| {
            c.leader_replication_throttled_rate = Some(parse_int(k, v, 0, i64::MAX)?);
            Ok(())
        },
        render: |c| c.leader_replication_throttled_rate.map(|n| n.to_string()),
    },
    BrokerKey {
        name: "follower.replication.throttled.rate",
        kind: ConfigType::Long,
        dynamic: true,
        apply: |c, k, v| {
            c.follower_replication_throttled_rate = Some(parse_int(k, v, 0, i64::MAX)?);
            Ok(())
        },
        render: |c| c.follower_replication_throttled_rate.map(|n| n.to_string()),
    },
    BrokerKey {
        // Kept and described only: shoal moves no replica between log directories
        // (AlterReplicaLogDirs), so nothing is throttled by it. Kafka's reassignment
        // tool clears it with the replication throttles.
        name: "replica.alter.log.dirs.io.max.bytes.per.second",
        kind: ConfigType::Long,
        dynamic: true,
        apply: |c, k, v| {
            c.replica_alter_log_dirs_io_max_bytes_per_second = Some(parse_int(k, v, 0, i64::MAX)?);
            Ok(())
        },
        render: |c| {
            c.replica_alter_log_dirs_io_max_bytes_per_second
                .map(|n| n.to_string())
        },
    },
    BrokerKey {
        name: "replication.quota.window.num",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.replication_quota_window_num = parse_int(k, v, 1, 1000)?;
            Ok(())
        },
        render: |c| Some(c.replication_quota_window_num.to_string()),
    },
    BrokerKey {
        name: "replication.quota.window.size.seconds",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.replication_quota_window_size_seconds = parse_int(k, v, 1, 86_400)?;
            Ok(())
        },
        render: |c| Some(c.replication_quota_window_size_seconds.to_string()),
    },
    BrokerKey {
        name: "max.connections.per.ip.overrides",
        kind: ConfigType::String,
        dynamic: true,
        apply: |c, k, v| {
            c.max_connections_per_ip_overrides = parse_ip_overrides(k, v)?;
            Ok(())
        },
        render: |c| {
            let entries: Vec<String> = c
                .max_connections_per_ip_overrides
                .iter()
                .map(|(host, _, count)| format!("{host}:{count}"))
                .collect();
            Some(entries.join(","))
        },
    },
];
