//! The table of broker keys: one row per Kafka property name, binding the name to
//! how its value is parsed into `BrokerConfig` and rendered back for DescribeConfigs.
//!
//! Invariant: a key exists if and only if it has a row here; parsing and rendering
//! live in the same row so the two cannot drift apart. Rows are in describe order.

use super::broker::BrokerConfig;
use super::broker_values::{cores, parse_authorizer, parse_dirs, parse_super_users, render_dirs};
use super::kraft;
use super::listener::{parse_listeners, render_listeners};
use super::value::{invalid, parse_bool, parse_int};
use super::{
    CleanupPolicy, CompressionType, ConfigError, ConfigType, TimestampType, PARTITIONS_MAX,
    SEGMENT_BYTES_MIN,
};
use crate::replication::read_replica::{ReplicaSelector, LEADER_SELECTOR, RACK_AWARE_SELECTOR};

type Apply = fn(&mut BrokerConfig, &str, &str) -> Result<(), ConfigError>;
type Render = fn(&BrokerConfig) -> Option<String>;

pub(crate) struct BrokerKey {
    pub name: &'static str,
    pub kind: ConfigType,
    /// Whether `BrokerConfig::alter` may change it (Kafka's cluster-wide dynamic
    /// log configs that shoal honours).
    pub dynamic: bool,
    pub apply: Apply,
    /// `None` when the key is unset and has no default.
    pub render: Render,
}

pub(crate) fn find(name: &str) -> Option<&'static BrokerKey> {
    all().find(|k| k.name == name)
}

/// Every broker key, in describe order: this table's, the group coordinator's
/// (`group_keys`), the limits on clients (`limit_keys`), how clients and brokers log in
/// (`login_keys`), then the kept `ssl.*` and `sasl.oauthbearer.*` keys.
pub(crate) fn all() -> impl Iterator<Item = &'static BrokerKey> {
    BROKER_KEYS
        .iter()
        .chain(super::group_keys::GROUP_KEYS)
        .chain(super::limit_keys::LIMIT_KEYS)
        .chain(super::login_keys::LOGIN_KEYS)
        .chain(super::kept::KEPT_KEYS)
}

/// Keys that set one value, highest precedence first (Kafka's
/// `DynamicBrokerConfig.brokerConfigSynonyms`); any other key is its own only synonym.
const SYNONYM_GROUPS: [&[&str]; 2] = [
    &["log.roll.ms", "log.roll.hours"],
    &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ],
];

/// The synonyms of `name`, itself included.
pub(crate) fn synonym_group(name: &str) -> Vec<&str> {
    SYNONYM_GROUPS
        .iter()
        .find(|group| group.contains(&name))
        .map_or_else(|| vec![name], |group| group.to_vec())
}

pub(crate) static BROKER_KEYS: &[BrokerKey] = &[
    BrokerKey {
        name: "node.id",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.node_id = parse_int(k, v, 0, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.node_id.to_string()),
    },
    BrokerKey {
        name: "listeners",
        kind: ConfigType::List,
        dynamic: false,
        apply: |c, k, v| {
            c.listeners = parse_listeners(k, v)?;
            Ok(())
        },
        render: |c| Some(render_listeners(&c.listeners)),
    },
    BrokerKey {
        name: "advertised.listeners",
        kind: ConfigType::List,
        dynamic: false,
        apply: |c, k, v| {
            c.advertised_listeners = Some(parse_listeners(k, v)?);
            Ok(())
        },
        render: |c| c.advertised_listeners.as_deref().map(render_listeners),
    },
    BrokerKey {
        name: "process.roles",
        kind: ConfigType::List,
        dynamic: false,
        apply: |c, k, v| {
            c.kraft.process_roles = kraft::parse_roles(k, v)?;
            Ok(())
        },
        render: |c| Some(c.kraft.process_roles.join(",")),
    },
    BrokerKey {
        name: "controller.listener.names",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, k, v| {
            c.kraft.controller_listener_names = kraft::parse_names(k, v)?;
            Ok(())
        },
        render: |c| {
            let names = &c.kraft.controller_listener_names;
            (!names.is_empty()).then(|| names.join(","))
        },
    },
    BrokerKey {
        name: "listener.security.protocol.map",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, k, v| {
            c.kraft.protocol_map = Some(kraft::parse_protocol_map(k, v)?);
            Ok(())
        },
        render: |c| Some(kraft::render_protocol_map(&c.kraft)),
    },
    BrokerKey {
        name: "inter.broker.listener.name",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, _, v| {
            c.kraft.inter_broker_listener_name = Some(v.trim().to_ascii_uppercase());
            Ok(())
        },
        render: |c| c.kraft.inter_broker_listener_name.clone(),
    },
    BrokerKey {
        // Kafka's older way to name the inter-broker listener: the one named as the
        // protocol.
        name: "security.inter.broker.protocol",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, k, v| {
            let protocol = v.trim().to_ascii_uppercase();
            if crate::security::SecurityProtocol::parse(&protocol).is_none() {
                return Err(invalid(k, v, "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"));
            }
            c.kraft.security_inter_broker_protocol = Some(protocol);
            Ok(())
        },
        render: |c| c.kraft.security_inter_broker_protocol.clone(),
    },
    BrokerKey {
        name: "controller.quorum.voters",
        kind: ConfigType::List,
        dynamic: false,
        apply: |c, k, v| {
            c.kraft.quorum_voters = kraft::parse_voters(k, v)?;
            Ok(())
        },
        render: |c| Some(kraft::render_voters(&c.kraft.quorum_voters)),
    },
    BrokerKey {
        name: "controller.quorum.bootstrap.servers",
        kind: ConfigType::List,
        dynamic: false,
        apply: |c, k, v| {
            c.kraft.quorum_bootstrap_servers = kraft::parse_servers(k, v)?;
            Ok(())
        },
        render: |c| Some(c.kraft.quorum_bootstrap_servers.join(",")),
    },
    BrokerKey {
        name: "log.dirs",
        kind: ConfigType::List,
        dynamic: false,
        apply: |c, k, v| {
            c.raw.log_dirs = Some(parse_dirs(k, v)?);
            Ok(())
        },
        render: |c| Some(render_dirs(&c.log_dirs)),
    },
    BrokerKey {
        name: "log.dir",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, k, v| {
            c.raw.log_dir = Some(parse_dirs(k, v)?);
            Ok(())
        },
        render: |c| c.raw.log_dir.as_deref().map(render_dirs),
    },
    BrokerKey {
        name: "cores",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.cores = cores(k, v)?;
            Ok(())
        },
        render: |c| Some(c.cores.to_string()),
    },
    BrokerKey {
        name: "num.partitions",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.num_partitions = parse_int(k, v, 1, PARTITIONS_MAX)?;
            Ok(())
        },
        render: |c| Some(c.num_partitions.to_string()),
    },
    BrokerKey {
        name: "default.replication.factor",
        kind: ConfigType::Short,
        dynamic: false,
        apply: |c, k, v| {
            c.default_replication_factor = parse_int(k, v, 1, i16::MAX)?;
            Ok(())
        },
        render: |c| Some(c.default_replication_factor.to_string()),
    },
    BrokerKey {
        name: "auto.create.topics.enable",
        kind: ConfigType::Boolean,
        dynamic: false,
        apply: |c, k, v| {
            c.auto_create_topics_enable = parse_bool(k, v)?;
            Ok(())
        },
        render: |c| Some(c.auto_create_topics_enable.to_string()),
    },
    BrokerKey {
        name: "delete.topic.enable",
        kind: ConfigType::Boolean,
        dynamic: false,
        apply: |c, k, v| {
            c.delete_topic_enable = parse_bool(k, v)?;
            Ok(())
        },
        render: |c| Some(c.delete_topic_enable.to_string()),
    },
    BrokerKey {
        name: "message.max.bytes",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.message_max_bytes = parse_int(k, v, 0, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.message_max_bytes.to_string()),
    },
    BrokerKey {
        name: "socket.request.max.bytes",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.socket_request_max_bytes = parse_int(k, v, 1, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.socket_request_max_bytes.to_string()),
    },
    BrokerKey {
        name: "log.segment.bytes",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.log_segment_bytes = parse_int(k, v, SEGMENT_BYTES_MIN, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.log_segment_bytes.to_string()),
    },
    BrokerKey {
        name: "log.roll.ms",
        kind: ConfigType::Long,
        dynamic: true,
        apply: |c, k, v| {
            c.raw.roll_ms = Some(parse_int(k, v, 1, i64::MAX)?);
            Ok(())
        },
        render: |c| c.raw.roll_ms.map(|n| n.to_string()),
    },
    BrokerKey {
        name: "log.roll.hours",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.raw.roll_hours = parse_int(k, v, 1, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.raw.roll_hours.to_string()),
    },
    BrokerKey {
        name: "log.retention.ms",
        kind: ConfigType::Long,
        dynamic: true,
        apply: |c, k, v| {
            c.raw.retention_ms = Some(parse_int(k, v, -1, i64::MAX)?);
            Ok(())
        },
        render: |c| c.raw.retention_ms.map(|n| n.to_string()),
    },
    BrokerKey {
        name: "log.retention.minutes",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.raw.retention_minutes = Some(parse_int(k, v, -1, i32::MAX)?);
            Ok(())
        },
        render: |c| c.raw.retention_minutes.map(|n| n.to_string()),
    },
    BrokerKey {
        name: "log.retention.hours",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.raw.retention_hours = parse_int(k, v, -1, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.raw.retention_hours.to_string()),
    },
    BrokerKey {
        name: "log.retention.bytes",
        kind: ConfigType::Long,
        dynamic: true,
        apply: |c, k, v| {
            c.log_retention_bytes = parse_int(k, v, -1, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.log_retention_bytes.to_string()),
    },
    BrokerKey {
        name: "log.retention.check.interval.ms",
        kind: ConfigType::Long,
        dynamic: false,
        apply: |c, k, v| {
            c.log_retention_check_interval_ms = parse_int(k, v, 1, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.log_retention_check_interval_ms.to_string()),
    },
    BrokerKey {
        name: "log.cleaner.dedupe.buffer.size",
        kind: ConfigType::Long,
        dynamic: true,
        apply: |c, k, v| {
            c.log_cleaner_dedupe_buffer_size = parse_int(k, v, 1 << 20, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.log_cleaner_dedupe_buffer_size.to_string()),
    },
    BrokerKey {
        name: "log.index.interval.bytes",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.log_index_interval_bytes = parse_int(k, v, 0, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.log_index_interval_bytes.to_string()),
    },
    BrokerKey {
        name: "log.flush.interval.messages",
        kind: ConfigType::Long,
        dynamic: true,
        apply: |c, k, v| {
            c.log_flush_interval_messages = parse_int(k, v, 1, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.log_flush_interval_messages.to_string()),
    },
    BrokerKey {
        name: "log.flush.interval.ms",
        kind: ConfigType::Long,
        dynamic: true,
        apply: |c, k, v| {
            c.log_flush_interval_ms = Some(parse_int(k, v, 0, i64::MAX)?);
            Ok(())
        },
        render: |c| c.log_flush_interval_ms.map(|n| n.to_string()),
    },
    BrokerKey {
        name: "log.message.timestamp.type",
        kind: ConfigType::String,
        dynamic: true,
        apply: |c, k, v| {
            c.log_message_timestamp_type = TimestampType::parse(k, v)?;
            Ok(())
        },
        render: |c| Some(c.log_message_timestamp_type.to_string()),
    },
    BrokerKey {
        name: "log.cleanup.policy",
        kind: ConfigType::List,
        dynamic: true,
        apply: |c, k, v| {
            c.log_cleanup_policy = CleanupPolicy::parse(k, v)?;
            Ok(())
        },
        render: |c| Some(c.log_cleanup_policy.to_string()),
    },
    BrokerKey {
        name: "log.cleaner.delete.retention.ms",
        kind: ConfigType::Long,
        dynamic: false,
        apply: |c, k, v| {
            c.log_cleaner_delete_retention_ms = parse_int(k, v, 0, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.log_cleaner_delete_retention_ms.to_string()),
    },
    BrokerKey {
        name: "compression.type",
        kind: ConfigType::String,
        dynamic: true,
        apply: |c, k, v| {
            c.compression_type = CompressionType::parse(k, v)?;
            Ok(())
        },
        render: |c| Some(c.compression_type.to_string()),
    },
    BrokerKey {
        name: "compression.gzip.level",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.compression_gzip_level = CompressionType::Gzip.parse_level(k, v)?;
            Ok(())
        },
        render: |c| Some(c.compression_gzip_level.to_string()),
    },
    BrokerKey {
        name: "compression.lz4.level",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.compression_lz4_level = CompressionType::Lz4.parse_level(k, v)?;
            Ok(())
        },
        render: |c| Some(c.compression_lz4_level.to_string()),
    },
    BrokerKey {
        name: "compression.zstd.level",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.compression_zstd_level = CompressionType::Zstd.parse_level(k, v)?;
            Ok(())
        },
        render: |c| Some(c.compression_zstd_level.to_string()),
    },
    BrokerKey {
        name: "min.insync.replicas",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.min_insync_replicas = parse_int(k, v, 1, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.min_insync_replicas.to_string()),
    },
    BrokerKey {
        name: "queued.max.requests",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.queued_max_requests = parse_int(k, v, 1, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.queued_max_requests.to_string()),
    },
    BrokerKey {
        name: "queued.max.request.bytes",
        kind: ConfigType::Long,
        dynamic: false,
        apply: |c, k, v| {
            let bytes = parse_int(k, v, -1, i64::MAX)?;
            if bytes == 0 {
                return Err(invalid(k, v, "-1 (no limit) or a positive number of bytes"));
            }
            c.queued_max_request_bytes = bytes;
            Ok(())
        },
        render: |c| Some(c.queued_max_request_bytes.to_string()),
    },
    BrokerKey {
        name: "socket.send.buffer.bytes",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.socket_send_buffer_bytes = parse_int(k, v, -1, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.socket_send_buffer_bytes.to_string()),
    },
    BrokerKey {
        name: "socket.receive.buffer.bytes",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.socket_receive_buffer_bytes = parse_int(k, v, -1, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.socket_receive_buffer_bytes.to_string()),
    },
    BrokerKey {
        name: "connections.max.idle.ms",
        kind: ConfigType::Long,
        dynamic: false,
        apply: |c, k, v| {
            c.connections_max_idle_ms = parse_int(k, v, -1, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.connections_max_idle_ms.to_string()),
    },
    BrokerKey {
        // KIP-368: a SASL login holds for this long; the client logs in again on the
        // same connection before then, or is disconnected. 0: for the connection's life.
        name: "connections.max.reauth.ms",
        kind: ConfigType::Long,
        dynamic: false,
        apply: |c, k, v| {
            c.connections_max_reauth_ms = parse_int(k, v, 0, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.connections_max_reauth_ms.to_string()),
    },
    BrokerKey {
        // A frame larger than this before a SASL login closes the connection unread.
        name: "sasl.server.max.receive.size",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.sasl_server_max_receive_size = parse_int(k, v, 1, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.sasl_server_max_receive_size.to_string()),
    },
    BrokerKey {
        name: "max.broker.partitions",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.max_broker_partitions = parse_int(k, v, 1, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.max_broker_partitions.to_string()),
    },
    BrokerKey {
        name: "offsets.retention.minutes",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.offsets_retention_minutes = parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.offsets_retention_minutes.to_string()),
    },
    BrokerKey {
        name: "offsets.retention.check.interval.ms",
        kind: ConfigType::Long,
        dynamic: false,
        apply: |c, k, v| {
            c.offsets_retention_check_interval_ms = parse_int(k, v, 1, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.offsets_retention_check_interval_ms.to_string()),
    },
    BrokerKey {
        name: "offsets.topic.num.partitions",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.offsets_topic_num_partitions = parse_int(k, v, 1, PARTITIONS_MAX)?;
            Ok(())
        },
        render: |c| Some(c.offsets_topic_num_partitions.to_string()),
    },
    BrokerKey {
        name: "offsets.topic.replication.factor",
        kind: ConfigType::Short,
        dynamic: false,
        apply: |c, k, v| {
            c.offsets_topic_replication_factor = parse_int(k, v, 1, i16::MAX)?;
            Ok(())
        },
        render: |c| Some(c.offsets_topic_replication_factor.to_string()),
    },
    BrokerKey {
        name: "transaction.state.log.replication.factor",
        kind: ConfigType::Short,
        dynamic: false,
        apply: |c, k, v| {
            c.transaction_state_log_replication_factor = parse_int(k, v, 1, i16::MAX)?;
            Ok(())
        },
        render: |c| Some(c.transaction_state_log_replication_factor.to_string()),
    },
    BrokerKey {
        name: "transaction.state.log.num.partitions",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.transaction_state_log_num_partitions = parse_int(k, v, 1, PARTITIONS_MAX)?;
            Ok(())
        },
        render: |c| Some(c.transaction_state_log_num_partitions.to_string()),
    },
    BrokerKey {
        name: "transaction.state.log.segment.bytes",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.transaction_state_log_segment_bytes = parse_int(k, v, 1, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.transaction_state_log_segment_bytes.to_string()),
    },
    BrokerKey {
        name: "transaction.max.timeout.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.transaction_max_timeout_ms = parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.transaction_max_timeout_ms.to_string()),
    },
    BrokerKey {
        name: "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.transaction_abort_timed_out_transaction_cleanup_interval_ms =
                parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| {
            Some(
                c.transaction_abort_timed_out_transaction_cleanup_interval_ms
                    .to_string(),
            )
        },
    },
    BrokerKey {
        name: "transactional.id.expiration.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.transactional_id_expiration_ms = parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.transactional_id_expiration_ms.to_string()),
    },
    BrokerKey {
        name: "transaction.remove.expired.transaction.cleanup.interval.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.transaction_remove_expired_transaction_cleanup_interval_ms =
                parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| {
            Some(
                c.transaction_remove_expired_transaction_cleanup_interval_ms
                    .to_string(),
            )
        },
    },
    BrokerKey {
        name: "transaction.partition.verification.enable",
        kind: ConfigType::Boolean,
        dynamic: false,
        apply: |c, k, v| {
            c.transaction_partition_verification_enable = parse_bool(k, v)?;
            Ok(())
        },
        render: |c| Some(c.transaction_partition_verification_enable.to_string()),
    },
    BrokerKey {
        name: "producer.id.expiration.ms",
        kind: ConfigType::Int,
        dynamic: true,
        apply: |c, k, v| {
            c.producer_id_expiration_ms = parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.producer_id_expiration_ms.to_string()),
    },
    BrokerKey {
        name: "authorizer.class.name",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, k, v| {
            c.authorizer_class_name = parse_authorizer(k, v)?;
            Ok(())
        },
        render: |c| Some(c.authorizer_class_name.clone()),
    },
    BrokerKey {
        name: "super.users",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, k, v| {
            c.super_users = parse_super_users(k, v)?;
            Ok(())
        },
        render: |c| (!c.super_users.is_empty()).then(|| c.super_users.join(";")),
    },
    BrokerKey {
        name: "allow.everyone.if.no.acl.found",
        kind: ConfigType::Boolean,
        dynamic: false,
        apply: |c, k, v| {
            c.allow_everyone_if_no_acl_found = parse_bool(k, v)?;
            Ok(())
        },
        render: |c| Some(c.allow_everyone_if_no_acl_found.to_string()),
    },
    BrokerKey {
        // Kafka reconfigures it per broker at runtime; shoal has no Kerberos, so the
        // value is only stored and described.
        name: "sasl.kerberos.min.time.before.relogin",
        kind: ConfigType::Long,
        dynamic: true,
        apply: |c, k, v| {
            c.sasl_kerberos_min_time_before_relogin = parse_int(k, v, i64::MIN, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.sasl_kerberos_min_time_before_relogin.to_string()),
    },
    BrokerKey {
        name: "metrics.port",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.metrics_port = parse_int(k, v, 0, u16::MAX)?;
            Ok(())
        },
        render: |c| Some(c.metrics_port.to_string()),
    },
    BrokerKey {
        name: "metrics.host",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, _, v| {
            c.metrics_host = v.trim().to_string();
            Ok(())
        },
        render: |c| Some(c.metrics_host.clone()),
    },
    BrokerKey {
        name: "metrics.topic.names",
        kind: ConfigType::Boolean,
        dynamic: false,
        apply: |c, k, v| {
            c.metrics_topic_names = parse_bool(k, v)?;
            Ok(())
        },
        render: |c| Some(c.metrics_topic_names.to_string()),
    },
    BrokerKey {
        name: "metrics.ssl.enabled",
        kind: ConfigType::Boolean,
        dynamic: false,
        apply: |c, k, v| {
            c.metrics_ssl_enabled = parse_bool(k, v)?;
            Ok(())
        },
        render: |c| Some(c.metrics_ssl_enabled.to_string()),
    },
    BrokerKey {
        name: "startup.stall.timeout.ms",
        kind: ConfigType::Long,
        dynamic: false,
        apply: |c, k, v| {
            c.startup_stall_timeout_ms = parse_int(k, v, 1, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.startup_stall_timeout_ms.to_string()),
    },
    BrokerKey {
        name: "broker.session.timeout.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.broker_session_timeout_ms = parse_int(k, v, 1, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.broker_session_timeout_ms.to_string()),
    },
    BrokerKey {
        name: "replica.lag.time.max.ms",
        kind: ConfigType::Long,
        dynamic: false,
        apply: |c, k, v| {
            c.replica_lag_time_max_ms = parse_int(k, v, 1, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.replica_lag_time_max_ms.to_string()),
    },
    BrokerKey {
        name: "replica.high.watermark.checkpoint.interval.ms",
        kind: ConfigType::Long,
        dynamic: false,
        apply: |c, k, v| {
            c.replica_high_watermark_checkpoint_interval_ms = parse_int(k, v, 1, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.replica_high_watermark_checkpoint_interval_ms.to_string()),
    },
    BrokerKey {
        name: "controlled.shutdown.enable",
        kind: ConfigType::Boolean,
        dynamic: false,
        apply: |c, k, v| {
            c.controlled_shutdown_enable = parse_bool(k, v)?;
            Ok(())
        },
        render: |c| Some(c.controlled_shutdown_enable.to_string()),
    },
    BrokerKey {
        name: "broker.rack",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, _, v| {
            c.broker_rack = Some(v.trim().to_string()).filter(|rack| !rack.is_empty());
            Ok(())
        },
        render: |c| c.broker_rack.clone(),
    },
    BrokerKey {
        name: "replica.selector.class",
        kind: ConfigType::Class,
        dynamic: false,
        apply: |c, k, v| {
            c.replica_selector = ReplicaSelector::parse(v).ok_or_else(|| {
                let known = format!("{LEADER_SELECTOR} or {RACK_AWARE_SELECTOR}");
                invalid(k, v, &known)
            })?;
            Ok(())
        },
        render: |c| match c.replica_selector {
            ReplicaSelector::Leader => None,
            ReplicaSelector::RackAware => Some(RACK_AWARE_SELECTOR.to_string()),
        },
    },
    BrokerKey {
        name: "auto.leader.rebalance.enable",
        kind: ConfigType::Boolean,
        dynamic: false,
        apply: |c, k, v| {
            c.auto_leader_rebalance_enable = parse_bool(k, v)?;
            Ok(())
        },
        render: |c| Some(c.auto_leader_rebalance_enable.to_string()),
    },
    BrokerKey {
        name: "leader.imbalance.check.interval.seconds",
        kind: ConfigType::Long,
        dynamic: false,
        apply: |c, k, v| {
            c.leader_imbalance_check_interval_seconds = parse_int(k, v, 1, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.leader_imbalance_check_interval_seconds.to_string()),
    },
    BrokerKey {
        name: "controller.quorum.election.timeout.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.quorum_election_timeout_ms = parse_int(k, v, 200, i32::MAX)?.into();
            Ok(())
        },
        render: |c| Some(c.quorum_election_timeout_ms.to_string()),
    },
    BrokerKey {
        name: "metadata.log.max.record.bytes.between.snapshots",
        kind: ConfigType::Long,
        dynamic: false,
        apply: |c, k, v| {
            c.metadata_snapshot_bytes = parse_int(k, v, 1, i64::MAX)?;
            Ok(())
        },
        render: |c| Some(c.metadata_snapshot_bytes.to_string()),
    },
];
