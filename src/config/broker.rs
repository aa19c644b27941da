//! `BrokerConfig`: the node's validated settings under Kafka's broker property names.
//!
//! Invariants:
//! - The public fields are the resolved view (aliases and unit synonyms folded in,
//!   e.g. `log_retention_ms` from `.ms`/`.minutes`/`.hours`); they are always what
//!   re-parsing `explicit` with `dynamic` on top would give.
//! - `explicit` holds the strings set by file, environment or override; `dynamic`
//!   holds those set by `alter`, and only ever keys whose row says `dynamic`.
//! - Rebuilding always starts again from the defaults, so deleting a dynamic value
//!   falls back to the static one exactly as a restart would.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::broker_keys;
use super::kafka_keys::{env_key, Given};
use super::kraft::{self, Kraft};
use super::listener::{check_advertised, Listener};
use super::source::{parse_override, read_file};
use super::value::check_len;
use super::{
    CleanupPolicy, CompressionType, ConfigEntry, ConfigError, ConfigSource, ConfigType,
    MigrationPolicy, Synonym, TimestampType, CORES_MAX, GROUP_SIZE_MAX,
};

const MS_PER_MINUTE: i64 = 60 * 1000;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
/// Kafka's default retention and roll period: one week.
const WEEK_HOURS: i32 = 168;
/// Used when neither `log.dirs` nor `log.dir` is set.
const LOG_DIRS_DEFAULT: &str = "./data";
/// Used when nothing is set: Kafka's default port, reachable only from this host.
const LISTENER_DEFAULT_HOST: &str = "127.0.0.1";
const LISTENER_DEFAULT_PORT: u16 = 9092;
/// Dynamic keys Kafka accepts only for one broker (its `PerBrokerConfigs`), not as the
/// cluster-wide default.
const PER_BROKER_ONLY: &[&str] = &["sasl.kerberos.min.time.before.relogin"];

/// Keys read as given, before aliases and unit synonyms are folded into the fields.
/// The listener name the metrics endpoint's TLS settings are given under
/// (`listener.name.metrics.ssl.*`).
pub const METRICS_LISTENER: &str = "METRICS";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawKeys {
    pub log_dirs: Option<Vec<PathBuf>>,
    pub log_dir: Option<Vec<PathBuf>>,
    pub roll_ms: Option<i64>,
    pub roll_hours: i32,
    pub retention_ms: Option<i64>,
    pub retention_minutes: Option<i32>,
    pub retention_hours: i32,
}

/// The broker's settings. Build with `load`; change with `alter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    pub node_id: i32,
    pub listeners: Vec<Listener>,
    /// `None` means "advertise `listeners`"; use `advertised()`.
    pub advertised_listeners: Option<Vec<Listener>>,
    pub log_dirs: Vec<PathBuf>,
    pub cores: usize,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub auto_create_topics_enable: bool,
    pub delete_topic_enable: bool,
    pub message_max_bytes: i32,
    pub socket_request_max_bytes: i32,
    pub log_segment_bytes: i32,
    /// From `log.roll.ms`, else `log.roll.hours`.
    pub log_roll_ms: i64,
    /// From `log.retention.ms`, else `.minutes`, else `.hours`; -1 = unlimited.
    pub log_retention_ms: i64,
    /// -1 = unlimited.
    pub log_retention_bytes: i64,
    pub log_retention_check_interval_ms: i64,
    /// `log.cleaner.dedupe.buffer.size`: memory for compaction's key maps, all shards.
    pub log_cleaner_dedupe_buffer_size: i64,
    pub log_index_interval_bytes: i32,
    pub log_flush_interval_messages: i64,
    /// `None`: flush on the scheduler's interval only.
    pub log_flush_interval_ms: Option<i64>,
    pub log_message_timestamp_type: TimestampType,
    pub log_cleanup_policy: CleanupPolicy,
    pub log_cleaner_delete_retention_ms: i64,
    pub compression_type: CompressionType,
    /// KIP-390's levels the broker compresses with (`compression.*.level`).
    pub compression_gzip_level: i32,
    pub compression_lz4_level: i32,
    pub compression_zstd_level: i32,
    pub min_insync_replicas: i32,
    pub queued_max_requests: i32,
    /// Bytes of requests read but not yet answered, for the whole broker (each shard
    /// gets its share); -1: no limit. Past it, shards stop reading sockets.
    pub queued_max_request_bytes: i64,
    /// -1 = the OS default.
    pub socket_send_buffer_bytes: i32,
    /// -1 = the OS default.
    pub socket_receive_buffer_bytes: i32,
    pub connections_max_idle_ms: i64,
    /// How long a SASL login holds (KIP-368); 0: for the connection's life.
    pub connections_max_reauth_ms: i64,
    /// The largest frame a SASL listener reads before the client has logged in.
    pub sasl_server_max_receive_size: i32,
    /// Connections the broker serves at once; past it, accepting waits for one to close.
    pub max_connections: i32,
    /// Connections one client address may hold; past it, a new one is closed.
    pub max_connections_per_ip: i32,
    /// Per-address exceptions to `max_connections_per_ip`: as configured, and parsed.
    pub max_connections_per_ip_overrides: Vec<(String, std::net::IpAddr, i32)>,
    /// Partitions the broker holds at most (KIP-578's name); CreateTopics and
    /// CreatePartitions past it get POLICY_VIOLATION.
    pub max_broker_partitions: i32,
    /// Client quotas' windows: how many (`quota.window.num`) of how long
    /// (`quota.window.size.seconds`) a client's use is measured over.
    pub quota_window_num: i32,
    pub quota_window_size_seconds: i32,
    /// The same for `controller_mutation_rate` (`controller.quota.window.*`).
    pub controller_quota_window_num: i32,
    pub controller_quota_window_size_seconds: i32,
    /// Replication throttles, bytes per second (Kafka's dynamic broker keys): what this
    /// broker sends as a leader, and fetches as a follower, of the replicas the topics'
    /// `*.replication.throttled.replicas` name. `None`: no throttle.
    pub leader_replication_throttled_rate: Option<i64>,
    pub follower_replication_throttled_rate: Option<i64>,
    /// Kept for Kafka's tools: shoal moves no replica between log directories.
    pub replica_alter_log_dirs_io_max_bytes_per_second: Option<i64>,
    /// The windows replication throttles are measured over (`replication.quota.window.*`).
    pub replication_quota_window_num: i32,
    pub replication_quota_window_size_seconds: i32,
    pub group_initial_rebalance_delay_ms: i64,
    pub group_min_session_timeout_ms: i64,
    pub group_max_session_timeout_ms: i64,
    pub group_max_size: i32,
    pub group_consumer_session_timeout_ms: i64,
    pub group_consumer_heartbeat_interval_ms: i64,
    /// What a group's own `consumer.session.timeout.ms` and
    /// `consumer.heartbeat.interval.ms` may be (`config::group`).
    pub group_consumer_min_session_timeout_ms: i64,
    pub group_consumer_max_session_timeout_ms: i64,
    pub group_consumer_min_heartbeat_interval_ms: i64,
    pub group_consumer_max_heartbeat_interval_ms: i64,
    /// Whether groups move between the classic and KIP-848 protocols while they have
    /// members (`group.consumer.migration.policy`).
    pub group_consumer_migration_policy: MigrationPolicy,
    pub offsets_topic_num_partitions: i32,
    pub offsets_retention_minutes: i64,
    pub offsets_retention_check_interval_ms: i64,
    pub offsets_topic_replication_factor: i16,
    pub transaction_state_log_num_partitions: i32,
    /// Replicas of each transaction state partition in a cluster (as Kafka's
    /// quick-start, 1 unless set).
    pub transaction_state_log_replication_factor: i16,
    pub transaction_state_log_segment_bytes: i32,
    /// Longest `transaction.timeout.ms` a producer may ask for.
    pub transaction_max_timeout_ms: i64,
    /// How often the coordinator aborts transactions past their timeout.
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: i64,
    /// A transactional id unused this long is forgotten.
    pub transactional_id_expiration_ms: i64,
    pub transaction_remove_expired_transaction_cleanup_interval_ms: i64,
    /// KIP-890: a transactional produce is checked with the coordinator first.
    pub transaction_partition_verification_enable: bool,
    /// A producer id silent this long is forgotten by the partitions it wrote.
    pub producer_id_expiration_ms: i64,
    pub metrics_port: u16,
    /// The address the metrics endpoint binds (`metrics.host`); empty: the client
    /// listener's.
    pub metrics_host: String,
    /// Whether /metrics names topics (`metrics.topic.names`); false leaves out every
    /// series with a `topic` label.
    pub metrics_topic_names: bool,
    /// `metrics.ssl.enabled`: the endpoint speaks TLS.
    pub metrics_ssl_enabled: bool,
    /// Its TLS settings when it does: the `ssl.*` keys of listener name `METRICS`
    /// (`listener.name.metrics.ssl.*`, else the broker's `ssl.*`).
    pub metrics_tls: Option<crate::security::tls::TlsSettings>,
    /// A shard that makes no start-up progress this long stops the broker (shoal's own).
    pub startup_stall_timeout_ms: i64,
    /// `broker.session.timeout.ms`: the active controller fences a broker it has not
    /// heard from for this long.
    pub broker_session_timeout_ms: i64,
    /// `replica.lag.time.max.ms`: a follower not caught up with its leader for this
    /// long leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// `replica.high.watermark.checkpoint.interval.ms`: how often each replicated
    /// partition's high watermark is written beside its log, for a restart.
    pub replica_high_watermark_checkpoint_interval_ms: i64,
    /// `controlled.shutdown.enable`: on SIGTERM a broker of a cluster first has its
    /// leaderships moved away.
    pub controlled_shutdown_enable: bool,
    /// `broker.rack`: the rack (or availability zone) of this broker, as it registers:
    /// replicas of a new partition go to as many racks as they can, and clients are
    /// told each broker's rack. `None`: no rack.
    pub broker_rack: Option<String>,
    /// `replica.selector.class`: whether a leader sends a consumer of another rack to
    /// a replica in its own (KIP-392).
    pub replica_selector: crate::replication::read_replica::ReplicaSelector,
    /// `auto.leader.rebalance.enable`: the active controller gives partitions back to
    /// their preferred replicas every `leader.imbalance.check.interval.seconds`.
    pub auto_leader_rebalance_enable: bool,
    pub leader_imbalance_check_interval_seconds: i64,
    /// `controller.quorum.election.timeout.ms`: a voter that hears no leader for this
    /// long (to twice it) stands for election.
    pub quorum_election_timeout_ms: i64,
    /// `metadata.log.max.record.bytes.between.snapshots`: the metadata log is cut to a
    /// snapshot of the image once this many bytes of records follow the last one.
    pub metadata_snapshot_bytes: i64,
    /// "" (no authorizer) or one of `broker_values::AUTHORIZERS`.
    pub authorizer_class_name: String,
    /// Principals (`User:admin`) every ACL check allows.
    pub super_users: Vec<String>,
    pub allow_everyone_if_no_acl_found: bool,
    /// Stored and described only: shoal has no Kerberos.
    pub sasl_kerberos_min_time_before_relogin: i64,
    /// `sasl.enabled.mechanisms`: what a SASL listener offers unless its own
    /// listener-prefixed key says otherwise.
    pub sasl_enabled_mechanisms: Vec<crate::security::Mechanism>,
    /// `sasl.mechanism.inter.broker.protocol`.
    pub sasl_mechanism_inter_broker: crate::security::Mechanism,
    /// `sasl.mechanism.controller.protocol`.
    pub sasl_mechanism_controller: crate::security::Mechanism,
    /// With a quorum whose controller listener speaks SSL or SASL_SSL: its TLS settings.
    pub controller_tls: Option<crate::security::tls::TlsSettings>,
    /// With a quorum whose controller listener speaks SASL: the login it asks for, and
    /// the one this node makes to the others.
    pub controller_login: Option<crate::security::QuorumLogin>,
    /// With a quorum and a SASL inter-broker listener: how this broker logs in to the
    /// others' replication ports.
    pub inter_broker_login: Option<crate::security::InterBrokerLogin>,
    /// How long a failed login's answer (and the connection's close) waits, which
    /// slows a client guessing passwords.
    pub connection_failed_authentication_delay_ms: i32,
    /// Failed logins a second one address may make before its new connections are
    /// closed at accept (shoal's own); 0: no limit.
    pub max_failed_authentication_rate_per_ip: i32,
    /// How clients of each client listener log in (from its security protocol and SASL
    /// settings), by listener name.
    pub client_security: BTreeMap<String, crate::security::ListenerSecurity>,
    /// The listener-prefixed keys given (`listener.name.<listener>.…`), by whole key.
    listener_settings: BTreeMap<String, String>,
    /// The `ssl.*` and `sasl.oauthbearer.*` keys given (`config::kept`), by key; a
    /// listener's TLS and OAUTHBEARER settings are resolved from them at start-up.
    pub(super) kept: BTreeMap<String, String>,
    /// `process.roles`, `controller.*`, `listener.security.protocol.map` and
    /// `inter.broker.listener.name`.
    pub kraft: Kraft,
    pub(super) raw: RawKeys,
    explicit: BTreeMap<String, String>,
    /// Set at runtime for this broker (resource name = its node id).
    dynamic: BTreeMap<String, String>,
    /// Set at runtime as the cluster-wide default (resource name ""); a per-broker
    /// value wins over it.
    dynamic_default: BTreeMap<String, String>,
}

impl Default for BrokerConfig {
    /// Every key at its default, as `load(None, &[], &[])` gives.
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(CORES_MAX);
        BrokerConfig {
            node_id: 1,
            listeners: vec![Listener {
                name: "PLAINTEXT".to_string(),
                host: LISTENER_DEFAULT_HOST.to_string(),
                port: LISTENER_DEFAULT_PORT,
            }],
            advertised_listeners: None,
            log_dirs: vec![PathBuf::from(LOG_DIRS_DEFAULT)],
            cores,
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics_enable: true,
            delete_topic_enable: true,
            message_max_bytes: 1_048_588,
            socket_request_max_bytes: 104_857_600,
            log_segment_bytes: 1_073_741_824,
            log_roll_ms: i64::from(WEEK_HOURS) * MS_PER_HOUR,
            log_retention_ms: i64::from(WEEK_HOURS) * MS_PER_HOUR,
            log_retention_bytes: -1,
            log_retention_check_interval_ms: 300_000,
            log_cleaner_dedupe_buffer_size: 128 << 20,
            log_index_interval_bytes: 4096,
            log_flush_interval_messages: i64::MAX,
            log_flush_interval_ms: None,
            log_message_timestamp_type: TimestampType::CreateTime,
            log_cleanup_policy: CleanupPolicy::DELETE,
            log_cleaner_delete_retention_ms: 86_400_000,
            compression_type: CompressionType::Producer,
            compression_gzip_level: -1,
            compression_lz4_level: 9,
            compression_zstd_level: 3,
            min_insync_replicas: 1,
            queued_max_requests: 500,
            queued_max_request_bytes: 512 << 20,
            socket_send_buffer_bytes: 102_400,
            socket_receive_buffer_bytes: 102_400,
            connections_max_idle_ms: 600_000,
            connections_max_reauth_ms: 0,
            sasl_server_max_receive_size: 512 * 1024,
            max_connections: i32::MAX,
            max_connections_per_ip: i32::MAX,
            max_connections_per_ip_overrides: Vec::new(),
            max_broker_partitions: i32::MAX,
            quota_window_num: 11,
            quota_window_size_seconds: 1,
            controller_quota_window_num: 11,
            controller_quota_window_size_seconds: 1,
            leader_replication_throttled_rate: None,
            follower_replication_throttled_rate: None,
            replica_alter_log_dirs_io_max_bytes_per_second: None,
            replication_quota_window_num: 11,
            replication_quota_window_size_seconds: 1,
            // Kafka's quick-start server.properties sets 0 (its code default is 3000), so a
            // newcomer's first consumer gets records at once; ops/server.properties keeps
            // 3000 for production, where it saves rebalances while a group's members start.
            group_initial_rebalance_delay_ms: 0,
            group_min_session_timeout_ms: 6000,
            group_max_session_timeout_ms: 1_800_000,
            // Kafka leaves this unbounded (i32::MAX); shoal bounds every collection.
            group_max_size: GROUP_SIZE_MAX,
            group_consumer_session_timeout_ms: 45_000,
            group_consumer_heartbeat_interval_ms: 5_000,
            group_consumer_min_session_timeout_ms: 45_000,
            group_consumer_max_session_timeout_ms: 60_000,
            group_consumer_min_heartbeat_interval_ms: 5_000,
            group_consumer_max_heartbeat_interval_ms: 15_000,
            group_consumer_migration_policy: MigrationPolicy::Bidirectional,
            offsets_topic_num_partitions: 50,
            offsets_retention_minutes: 7 * 24 * 60,
            offsets_retention_check_interval_ms: 600_000,
            offsets_topic_replication_factor: 1,
            transaction_state_log_num_partitions: 50,
            transaction_state_log_replication_factor: 1,
            transaction_state_log_segment_bytes: 104_857_600,
            transaction_max_timeout_ms: 900_000,
            transaction_abort_timed_out_transaction_cleanup_interval_ms: 10_000,
            transactional_id_expiration_ms: 604_800_000,
            transaction_remove_expired_transaction_cleanup_interval_ms: 3_600_000,
            transaction_partition_verification_enable: true,
            producer_id_expiration_ms: 86_400_000,
            metrics_port: 9644,
            metrics_host: String::new(),
            metrics_topic_names: true,
            metrics_ssl_enabled: false,
            metrics_tls: None,
            startup_stall_timeout_ms: 120_000,
            broker_session_timeout_ms: 9_000,
            replica_lag_time_max_ms: 30_000,
            replica_high_watermark_checkpoint_interval_ms: 5_000,
            controlled_shutdown_enable: true,
            broker_rack: None,
            replica_selector: Default::default(),
            auto_leader_rebalance_enable: true,
            leader_imbalance_check_interval_seconds: 300,
            quorum_election_timeout_ms: 1_000,
            metadata_snapshot_bytes: 20 << 20,
            authorizer_class_name: String::new(),
            super_users: Vec::new(),
            allow_everyone_if_no_acl_found: false,
            sasl_kerberos_min_time_before_relogin: 60_000,
            sasl_enabled_mechanisms: super::sasl::default_mechanisms(),
            sasl_mechanism_inter_broker: crate::security::Mechanism::Gssapi,
            sasl_mechanism_controller: crate::security::Mechanism::Gssapi,
            inter_broker_login: None,
            controller_tls: None,
            controller_login: None,
            connection_failed_authentication_delay_ms: 100,
            max_failed_authentication_rate_per_ip: 10,
            client_security: BTreeMap::from([(
                "PLAINTEXT".to_string(),
                crate::security::ListenerSecurity::plaintext(),
            )]),
            listener_settings: BTreeMap::new(),
            kept: BTreeMap::new(),
            kraft: Kraft::default(),
            raw: RawKeys {
                log_dirs: None,
                log_dir: None,
                roll_ms: None,
                roll_hours: WEEK_HOURS,
                retention_ms: None,
                retention_minutes: None,
                retention_hours: WEEK_HOURS,
            },
            explicit: BTreeMap::new(),
            dynamic: BTreeMap::new(),
            dynamic_default: BTreeMap::new(),
        }
    }
}

impl BrokerConfig {
    /// Builds the config from defaults < `file` (Kafka's properties format, or TOML for
    /// a `.toml` file) < `env` (`SHOAL_*`) < `overrides` (`key=value`, later ones win),
    /// with the notices to log: one line per Kafka key accepted without effect. Unknown
    /// keys and unknown `SHOAL_*` variables are errors (`SHOAL_LOG` and
    /// `SHOAL_LOG_FORMAT` are the log's, not config keys).
    pub fn load(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &[String],
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let mut given = Given::default();
        if let Some(path) = file {
            for (key, value) in read_file(path)? {
                given.set(&key, &value)?;
            }
        }
        for (name, value) in env {
            if let Some(key) = env_key(name)? {
                given.set(key, value)?;
            }
        }
        for arg in overrides {
            let (key, value) = parse_override(arg)?;
            given.set(&key, &value)?;
        }
        let (explicit, mut notices) = given.finish()?;
        let config = Self::build(explicit, BTreeMap::new(), BTreeMap::new())?;
        notices.extend(kraft::notices(&config));
        Ok((config, notices))
    }

    /// The metadata quorum this node votes in, when it has other voters.
    pub fn quorum_peers(&self) -> Option<kraft::QuorumPeers> {
        kraft::quorum_peers(self)
    }

    /// Where a controller's quorum peers reach it.
    pub fn controller_endpoint(&self) -> Option<crate::cluster::image::Endpoint> {
        kraft::controller_endpoint(self)
    }

    /// A listener-prefixed key's value, if given.
    pub(super) fn listener_setting(&self, key: &str) -> Option<&str> {
        self.listener_settings.get(key).map(String::as_str)
    }

    /// The listeners clients connect to, in `listeners` order (the others are controller
    /// listeners).
    pub fn client_listeners(&self) -> impl Iterator<Item = &Listener> {
        self.listeners
            .iter()
            .filter(|l| !self.kraft.is_controller_listener(&l.name))
    }

    /// The client listener other brokers reach this one on (its host is where the
    /// replication ports listen): `inter.broker.listener.name`, else the listener named
    /// as `security.inter.broker.protocol` (by default PLAINTEXT), else the first.
    pub fn inter_broker_listener(&self) -> Option<&Listener> {
        let named = |name: &str| self.client_listeners().find(|l| l.name == name);
        let k = &self.kraft;
        match k
            .inter_broker_listener_name
            .as_ref()
            .or(k.security_inter_broker_protocol.as_ref())
        {
            Some(name) => named(name),
            None => named("PLAINTEXT").or_else(|| self.client_listeners().next()),
        }
    }

    /// Where clients of `listener` are told to connect: its `advertised.listeners`
    /// entry, else the listener itself.
    pub fn advertised_for<'a>(&'a self, listener: &'a Listener) -> &'a Listener {
        self.advertised()
            .iter()
            .find(|a| a.name == listener.name)
            .unwrap_or(listener)
    }

    /// How clients of `listener` log in: as nobody (`User:ANONYMOUS`) on a port that is
    /// no client listener's (a replication port, a controller-only node's loopback).
    pub fn security_of(&self, listener: &str) -> &crate::security::ListenerSecurity {
        static NONE: crate::security::ListenerSecurity =
            crate::security::ListenerSecurity::plaintext();
        self.client_security.get(listener).unwrap_or(&NONE)
    }

    /// Where clients are told to connect: `advertised.listeners`, else `listeners`.
    pub fn advertised(&self) -> &[Listener] {
        self.advertised_listeners
            .as_deref()
            .unwrap_or(&self.listeners)
    }

    /// Whether ACLs are stored and enforced (`authorizer.class.name` is set).
    pub fn authorizer_enabled(&self) -> bool {
        !self.authorizer_class_name.is_empty()
    }

    /// Whether `alter` accepts `key`.
    pub fn is_dynamic(key: &str) -> bool {
        broker_keys::find(key).is_some_and(|k| k.dynamic)
    }

    /// Every broker key with its current value, as DescribeConfigs shows it.
    pub fn describe(&self) -> Vec<ConfigEntry> {
        broker_keys::all()
            .map(|key| ConfigEntry {
                name: key.name.to_string(),
                value: (key.render)(self),
                source: match key.name {
                    // Shows the resolved list, which the `log.dir` alias may have supplied.
                    "log.dirs" => self.source_of(&["log.dirs", "log.dir"]),
                    name => self.source_of(&[name]),
                },
                read_only: !key.dynamic,
                sensitive: key.kind == ConfigType::Password,
                config_type: key.kind,
                synonyms: self.synonyms(key.name),
            })
            .collect()
    }

    /// Kafka's synonyms of broker key `name`: each of its synonym group's values, by
    /// source (dynamic per broker, dynamic default, static, then the built-in default),
    /// from the first that is `name` itself on.
    pub(crate) fn synonyms(&self, name: &str) -> Vec<Synonym> {
        // Built once: `Default` asks the system for its CPU count.
        static DEFAULTS: std::sync::OnceLock<BrokerConfig> = std::sync::OnceLock::new();
        let defaults = DEFAULTS.get_or_init(BrokerConfig::default);
        let group = broker_keys::synonym_group(name);
        // A secret (a private key, a password) is never described, in any layer.
        let sensitive = broker_keys::find(name).is_some_and(|k| k.kind == ConfigType::Password);
        let mut found = Vec::new();
        let layers = [
            (&self.dynamic, ConfigSource::DynamicBrokerConfig),
            (
                &self.dynamic_default,
                ConfigSource::DynamicDefaultBrokerConfig,
            ),
            (&self.explicit, ConfigSource::StaticBrokerConfig),
        ];
        for (values, source) in layers {
            for key in &group {
                if let Some(value) = values.get(*key) {
                    found.push(Synonym {
                        name: key.to_string(),
                        value: (!sensitive).then(|| value.clone()),
                        source,
                    });
                }
            }
        }
        for key in &group {
            if let Some(value) = broker_keys::find(key).and_then(|k| (k.render)(defaults)) {
                found.push(Synonym {
                    name: key.to_string(),
                    value: Some(value),
                    source: ConfigSource::DefaultConfig,
                });
            }
        }
        let first = found
            .iter()
            .position(|s| s.name == name)
            .unwrap_or(found.len());
        found.split_off(first)
    }

    /// Applies dynamic changes to this broker: `Some(v)` sets a key, `None` deletes its
    /// dynamic value so the default, static or built-in one shows again. All or nothing.
    pub fn alter(&self, changes: &[(String, Option<String>)]) -> Result<BrokerConfig, ConfigError> {
        let dynamic = apply_changes(&self.dynamic, changes)?;
        Self::build(self.explicit.clone(), dynamic, self.dynamic_default.clone())
    }

    /// Applies dynamic changes to the cluster-wide default, as `alter` does.
    pub fn alter_defaults(
        &self,
        changes: &[(String, Option<String>)],
    ) -> Result<BrokerConfig, ConfigError> {
        // As Kafka: listener-level security keys are set per broker, never as a default.
        if let Some((key, _)) = changes
            .iter()
            .find(|(key, _)| PER_BROKER_ONLY.contains(&key.as_str()))
        {
            return Err(ConfigError::PerBrokerOnly { key: key.clone() });
        }
        let defaults = apply_changes(&self.dynamic_default, changes)?;
        Self::build(self.explicit.clone(), self.dynamic.clone(), defaults)
    }

    /// This broker's dynamically set keys and their values, to persist across restarts.
    pub fn dynamic_overrides(&self) -> BTreeMap<String, String> {
        self.dynamic.clone()
    }

    /// The cluster-wide dynamic defaults, to persist across restarts.
    pub fn default_overrides(&self) -> BTreeMap<String, String> {
        self.dynamic_default.clone()
    }

    /// This config with its dynamic values replaced by `map` (as saved from
    /// `dynamic_overrides`), for reload on restart.
    pub fn with_dynamic_overrides(
        &self,
        map: &BTreeMap<String, String>,
    ) -> Result<BrokerConfig, ConfigError> {
        check_saved(map)?;
        Self::build(
            self.explicit.clone(),
            map.clone(),
            self.dynamic_default.clone(),
        )
    }

    /// This config with its cluster-wide defaults replaced by `map`.
    pub fn with_default_overrides(
        &self,
        map: &BTreeMap<String, String>,
    ) -> Result<BrokerConfig, ConfigError> {
        check_saved(map)?;
        Self::build(self.explicit.clone(), self.dynamic.clone(), map.clone())
    }

    /// The cluster-wide dynamic defaults as DescribeConfigs shows the "" broker
    /// resource: only the keys set there.
    pub fn describe_defaults(&self) -> Vec<ConfigEntry> {
        self.describe()
            .into_iter()
            .filter(|entry| self.dynamic_default.contains_key(&entry.name))
            .map(|entry| ConfigEntry {
                value: self.dynamic_default.get(&entry.name).cloned(),
                source: ConfigSource::DynamicDefaultBrokerConfig,
                // As Kafka: the default resource lists only cluster-wide defaults.
                synonyms: entry
                    .synonyms
                    .into_iter()
                    .filter(|s| s.source == ConfigSource::DynamicDefaultBrokerConfig)
                    .collect(),
                ..entry
            })
            .collect()
    }

    /// The source of the highest-precedence value among `keys` (a key and its
    /// synonyms, e.g. `log.retention.ms` and `log.retention.hours`).
    pub(crate) fn source_of(&self, keys: &[&str]) -> ConfigSource {
        if keys.iter().any(|k| self.dynamic.contains_key(*k)) {
            ConfigSource::DynamicBrokerConfig
        } else if keys.iter().any(|k| self.dynamic_default.contains_key(*k)) {
            ConfigSource::DynamicDefaultBrokerConfig
        } else if keys.iter().any(|k| self.explicit.contains_key(*k)) {
            ConfigSource::StaticBrokerConfig
        } else {
            ConfigSource::DefaultConfig
        }
    }

    fn build(
        explicit: BTreeMap<String, String>,
        dynamic: BTreeMap<String, String>,
        dynamic_default: BTreeMap<String, String>,
    ) -> Result<BrokerConfig, ConfigError> {
        let mut config = BrokerConfig::default();
        for key in broker_keys::all() {
            let value = dynamic
                .get(key.name)
                .or_else(|| dynamic_default.get(key.name))
                .or_else(|| explicit.get(key.name));
            if let Some(value) = value {
                (key.apply)(&mut config, key.name, value)?;
            }
        }
        config.fold_synonyms();
        if let Some(advertised) = &config.advertised_listeners {
            check_advertised("advertised.listeners", advertised, &config.listeners)?;
        }
        config.listener_settings = explicit
            .iter()
            .filter(|(key, _)| key.starts_with(super::sasl::LISTENER_PREFIX))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        kraft::check(&config)?;
        let mut client_security = BTreeMap::new();
        for listener in config.client_listeners() {
            let protocol = config.kraft.security_protocol(&listener.name);
            let mut security = super::sasl::listener_security(&config, listener, protocol)?;
            if protocol.is_tls() {
                let sasl = protocol.is_sasl();
                security.tls = Some(super::ssl::listener_tls(&config, listener, sasl)?);
            }
            client_security.insert(listener.name.clone(), security);
        }
        config.client_security = client_security;
        config.inter_broker_login = super::sasl::inter_broker_login(&config)?;
        (config.controller_tls, config.controller_login) = kraft::controller_security(&config)?;
        if config.metrics_ssl_enabled {
            let metrics = Listener {
                name: METRICS_LISTENER.to_string(),
                host: String::new(),
                port: 0,
            };
            config.metrics_tls = Some(super::ssl::listener_tls(&config, &metrics, false)?);
        }
        config.explicit = explicit;
        config.dynamic = dynamic;
        config.dynamic_default = dynamic_default;
        Ok(config)
    }

    /// Resolves aliases and unit synonyms the way Kafka does: the finest unit wins.
    fn fold_synonyms(&mut self) {
        let raw = &self.raw;
        self.log_dirs = raw
            .log_dirs
            .clone()
            .or_else(|| raw.log_dir.clone())
            .unwrap_or_else(|| vec![PathBuf::from(LOG_DIRS_DEFAULT)]);
        self.log_roll_ms = raw
            .roll_ms
            .unwrap_or(i64::from(raw.roll_hours) * MS_PER_HOUR);
        let retention = raw
            .retention_ms
            .or(raw.retention_minutes.map(|m| i64::from(m) * MS_PER_MINUTE))
            .unwrap_or(i64::from(raw.retention_hours) * MS_PER_HOUR);
        // Kafka: any negative retention means unlimited, reported as -1.
        self.log_retention_ms = retention.max(-1);
    }
}

/// `current` with `changes` applied: `Some` sets a dynamic key, `None` removes it.
fn apply_changes(
    current: &BTreeMap<String, String>,
    changes: &[(String, Option<String>)],
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut dynamic = current.clone();
    for (key, value) in changes {
        dynamic_key(key)?;
        match value {
            Some(value) => {
                check_len(key, value)?;
                dynamic.insert(key.clone(), value.trim().to_string());
            }
            None => {
                dynamic.remove(key);
            }
        }
    }
    Ok(dynamic)
}

/// Saved dynamic values must still name dynamic keys with sane lengths.
fn check_saved(map: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    for (key, value) in map {
        dynamic_key(key)?;
        check_len(key, value)?;
    }
    Ok(())
}

fn known(key: &str) -> Result<(), ConfigError> {
    match broker_keys::find(key) {
        Some(_) => Ok(()),
        None => Err(ConfigError::UnknownKey {
            key: key.to_string(),
            hint: String::new(),
        }),
    }
}

fn dynamic_key(key: &str) -> Result<(), ConfigError> {
    known(key)?;
    if BrokerConfig::is_dynamic(key) {
        Ok(())
    } else {
        Err(ConfigError::ReadOnly {
            key: key.to_string(),
        })
    }
}

impl std::fmt::Display for BrokerConfig {
    /// One `key=value` line per key, for start-up logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for entry in self.describe() {
            let value = entry.value.as_deref().unwrap_or("null");
            writeln!(f, "{}={}", entry.name, value)?;
        }
        Ok(())
    }
}
