//! Tests of broker config loading, precedence, describe and alter.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::broker_keys;
use super::source::env_name;
use super::*;
use crate::security::tls::{ClientAuth, KeyPassword, Keystore, Pem};

/// `BrokerConfig::load` without its notices.
pub(super) fn load(
    file: Option<&Path>,
    env: &[(String, String)],
    overrides: &[String],
) -> Result<BrokerConfig, ConfigError> {
    BrokerConfig::load(file, env, overrides).map(|(config, _)| config)
}

pub(super) fn with_overrides(args: &[&str]) -> Result<BrokerConfig, ConfigError> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    load(None, &[], &args)
}

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

fn entry<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
    entries.iter().find(|e| e.name == name).unwrap()
}

fn change(key: &str, value: Option<&str>) -> (String, Option<String>) {
    (key.to_string(), value.map(str::to_string))
}

#[test]
fn defaults_are_kafkas() {
    let c = load(None, &[], &[]).unwrap();
    assert_eq!(c, BrokerConfig::default());
    assert_eq!(c.node_id, 1);
    assert_eq!(c.listeners[0].to_string(), "PLAINTEXT://127.0.0.1:9092");
    assert_eq!(c.advertised(), &c.listeners[..]);
    assert_eq!(c.log_dirs, vec![PathBuf::from("./data")]);
    assert!(c.cores >= 1 && c.cores <= CORES_MAX);
    assert_eq!(c.num_partitions, 1);
    assert_eq!(c.default_replication_factor, 1);
    assert!(c.auto_create_topics_enable && c.delete_topic_enable);
    assert_eq!(c.message_max_bytes, 1_048_588);
    assert_eq!(c.socket_request_max_bytes, 104_857_600);
    assert_eq!(c.log_segment_bytes, 1_073_741_824);
    assert_eq!(c.log_roll_ms, 604_800_000);
    assert_eq!(c.log_retention_ms, 604_800_000);
    assert_eq!(c.log_retention_bytes, -1);
    assert_eq!(c.log_retention_check_interval_ms, 300_000);
    assert_eq!(c.log_index_interval_bytes, 4096);
    assert_eq!(c.log_flush_interval_messages, i64::MAX);
    assert_eq!(c.log_flush_interval_ms, None);
    assert_eq!(c.log_message_timestamp_type, TimestampType::CreateTime);
    assert_eq!(c.log_cleanup_policy, CleanupPolicy::DELETE);
    assert_eq!(c.log_cleaner_delete_retention_ms, 86_400_000);
    assert_eq!(c.compression_type, CompressionType::Producer);
    assert_eq!(c.min_insync_replicas, 1);
    assert_eq!(c.queued_max_requests, 500);
    assert_eq!(c.socket_send_buffer_bytes, 102_400);
    assert_eq!(c.socket_receive_buffer_bytes, 102_400);
    assert_eq!(c.connections_max_idle_ms, 600_000);
    // Kafka's quick-start value (its code default is 3000).
    assert_eq!(c.group_initial_rebalance_delay_ms, 0);
    assert_eq!(c.offsets_topic_num_partitions, 50);
    assert_eq!(c.offsets_topic_replication_factor, 1);
    assert_eq!(c.transaction_state_log_num_partitions, 50);
    assert_eq!(c.metrics_port, 9644);
}

#[test]
fn file_accepts_quoted_and_nested_keys() {
    let file = toml_file(
        r#"
        "log.dirs" = "/var/a,/var/b"
        num.partitions = 3
        auto.create.topics.enable = false
        listeners = "PLAINTEXT://:0"

        [log.retention]
        bytes = 1000
        "#,
    );
    let c = load(Some(file.path()), &[], &[]).unwrap();
    assert_eq!(
        c.log_dirs,
        vec![PathBuf::from("/var/a"), PathBuf::from("/var/b")]
    );
    assert_eq!(c.num_partitions, 3);
    assert!(!c.auto_create_topics_enable);
    assert_eq!(c.listeners[0].port, 0);
    assert_eq!(c.log_retention_bytes, 1000);
    let d = c.describe();
    assert_eq!(
        entry(&d, "num.partitions").source,
        ConfigSource::StaticBrokerConfig
    );
    assert_eq!(entry(&d, "node.id").source, ConfigSource::DefaultConfig);
}

#[test]
fn file_arrays_are_lists() {
    let file = toml_file(r#"log.dirs = ["/x", "/y"]"#);
    let c = load(Some(file.path()), &[], &[]).unwrap();
    assert_eq!(c.log_dirs, vec![PathBuf::from("/x"), PathBuf::from("/y")]);
}

#[test]
fn missing_file_and_bad_toml_are_one_line_errors() {
    let err = load(Some(Path::new("/nonexistent/shoal.toml")), &[], &[]);
    let err = err.unwrap_err();
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(err.to_string().contains("/nonexistent/shoal.toml"));
    let file = toml_file("num.partitions = \n");
    let err = load(Some(file.path()), &[], &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Toml { line: 1, .. }), "{err}");
    assert!(!err.to_string().contains('\n'));
    let file = toml_file("num.partitions = 3.0\n");
    let err = load(Some(file.path()), &[], &[]).unwrap_err();
    assert!(err.to_string().contains("3.0"), "{err}");
}

#[test]
fn env_sets_known_keys_and_ignores_other_prefixes() {
    let vars = env(&[
        ("SHOAL_NUM_PARTITIONS", "6"),
        ("SHOAL_LOG_DIRS", "/e1,/e2"),
        ("SHOAL_CORES", "2"),
        ("SHOAL_LOG", "debug"),
        ("SHOAL_LOG_FORMAT", "json"),
        ("NUM_PARTITIONS", "9"),
    ]);
    let c = load(None, &vars, &[]).unwrap();
    assert_eq!(c.num_partitions, 6);
    assert_eq!(c.log_dirs.len(), 2);
    assert_eq!(c.cores, 2);
    let err = load(None, &env(&[("SHOAL_CORES", "many")]), &[]).unwrap_err();
    assert!(err.to_string().contains("cores") && err.to_string().contains("many"));
}

#[test]
fn layers_override_in_order() {
    let file = toml_file("num.partitions = 2\nnode.id = 7\nmin.insync.replicas = 2\n");
    let vars = env(&[("SHOAL_NUM_PARTITIONS", "3"), ("SHOAL_NODE_ID", "8")]);
    let args = vec![
        "num.partitions=4".to_string(),
        "num.partitions=5".to_string(),
    ];
    let c = load(Some(file.path()), &vars, &args).unwrap();
    assert_eq!(
        c.num_partitions, 5,
        "override beats env and file; last wins"
    );
    assert_eq!(c.node_id, 8, "env beats file");
    assert_eq!(c.min_insync_replicas, 2, "file beats default");
}

#[test]
fn unknown_keys_are_errors_naming_the_key() {
    let err = with_overrides(&["log.dirz=/x"]).unwrap_err();
    assert!(matches!(err, ConfigError::UnknownKey { ref key, .. } if key == "log.dirz"));
    assert!(err.to_string().contains("log.dirz"));
    assert!(
        err.to_string().contains(r#"did you mean "log.dirs"?"#),
        "{err}"
    );
    let file = toml_file("[num]\npartitionz = 3\n");
    let err = load(Some(file.path()), &[], &[]).unwrap_err();
    assert!(err.to_string().contains("num.partitionz"), "{err}");
    let err = with_overrides(&["no-equals-sign"]).unwrap_err();
    assert!(matches!(err, ConfigError::MalformedOverride { .. }));
}

#[test]
fn bad_values_name_key_value_and_expectation() {
    for (arg, key, value) in [
        ("num.partitions=0", "num.partitions", "0"),
        ("num.partitions=10001", "num.partitions", "10001"),
        ("num.partitions=lots", "num.partitions", "lots"),
        ("cores=0", "cores", "0"),
        ("cores=257", "cores", "257"),
        ("log.segment.bytes=1023", "log.segment.bytes", "1023"),
        (
            "auto.create.topics.enable=yes",
            "auto.create.topics.enable",
            "yes",
        ),
        ("compression.type=brotli", "compression.type", "brotli"),
        ("log.cleanup.policy=shred", "log.cleanup.policy", "shred"),
        ("metrics.port=70000", "metrics.port", "70000"),
        (
            "default.replication.factor=40000",
            "default.replication.factor",
            "40000",
        ),
        ("log.dirs=/a,/a", "log.dirs", "/a,/a"),
        ("log.retention.ms=-2", "log.retention.ms", "-2"),
    ] {
        let err = with_overrides(&[arg]).unwrap_err();
        match &err {
            ConfigError::InvalidValue {
                key: k,
                value: v,
                detail,
            } => {
                assert_eq!((k.as_str(), v.as_str()), (key, value));
                assert!(!detail.is_empty());
            }
            other => panic!("{arg}: expected InvalidValue, got {other:?}"),
        }
        let line = err.to_string();
        assert!(line.contains(key) && line.contains(value) && !line.contains('\n'));
    }
    assert_eq!(
        with_overrides(&["log.segment.bytes=1024"])
            .unwrap()
            .log_segment_bytes,
        1024
    );
}

#[test]
fn listeners_port_zero_ipv6_and_no_tls_yet() {
    let c = with_overrides(&["listeners=PLAINTEXT://127.0.0.1:0"]).unwrap();
    assert_eq!(c.listeners[0].port, 0);
    let c = with_overrides(&["listeners=PLAINTEXT://[::1]:9092"]).unwrap();
    assert_eq!(c.listeners[0].host, "::1");
    assert_eq!(c.listeners[0].bind_address(), "[::1]:9092");
    let d = c.describe();
    assert_eq!(
        entry(&d, "listeners").value.as_deref(),
        Some("PLAINTEXT://[::1]:9092")
    );
    let err = with_overrides(&["listeners=SSL://:9093"]).unwrap_err();
    assert!(err.to_string().contains("ssl.keystore.location"), "{err}");
}

#[test]
fn advertised_listeners_default_to_listeners_and_are_checked() {
    let c = with_overrides(&[
        "listeners=PLAINTEXT://:9092",
        "advertised.listeners=PLAINTEXT://broker1:9092",
    ])
    .unwrap();
    assert_eq!(c.advertised()[0].host, "broker1");
    assert_eq!(c.listeners[0].host, "");
    let err = with_overrides(&["advertised.listeners=PLAINTEXT://0.0.0.0:9092"]).unwrap_err();
    assert!(err.to_string().contains("advertised.listeners"));
}

#[test]
fn retention_prefers_ms_then_minutes_then_hours() {
    let hours = with_overrides(&["log.retention.hours=2"]).unwrap();
    assert_eq!(hours.log_retention_ms, 2 * 3_600_000);
    let minutes = with_overrides(&["log.retention.hours=2", "log.retention.minutes=3"]).unwrap();
    assert_eq!(minutes.log_retention_ms, 3 * 60_000);
    let ms = with_overrides(&[
        "log.retention.hours=2",
        "log.retention.minutes=3",
        "log.retention.ms=4",
    ])
    .unwrap();
    assert_eq!(ms.log_retention_ms, 4);
    let unlimited = with_overrides(&["log.retention.hours=-1"]).unwrap();
    assert_eq!(unlimited.log_retention_ms, -1);
    let unlimited = with_overrides(&["log.retention.ms=-1", "log.retention.hours=5"]).unwrap();
    assert_eq!(unlimited.log_retention_ms, -1);
    let roll = with_overrides(&["log.roll.hours=1"]).unwrap();
    assert_eq!(roll.log_roll_ms, 3_600_000);
    let roll = with_overrides(&["log.roll.hours=1", "log.roll.ms=500"]).unwrap();
    assert_eq!(roll.log_roll_ms, 500);
}

#[test]
fn log_dir_is_an_alias_that_log_dirs_beats() {
    let c = with_overrides(&["log.dir=/single"]).unwrap();
    assert_eq!(c.log_dirs, vec![PathBuf::from("/single")]);
    let d = c.describe();
    assert_eq!(entry(&d, "log.dirs").value.as_deref(), Some("/single"));
    assert_eq!(
        entry(&d, "log.dirs").source,
        ConfigSource::StaticBrokerConfig
    );
    let c = with_overrides(&["log.dir=/single", "log.dirs=/multi"]).unwrap();
    assert_eq!(c.log_dirs, vec![PathBuf::from("/multi")]);
}

#[test]
fn describe_lists_every_key_once_with_sources() {
    let c = with_overrides(&["num.partitions=3"]).unwrap();
    let d = c.describe();
    let names: BTreeSet<&str> = d.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.len(), broker_keys::all().count());
    assert_eq!(d.len(), broker_keys::all().count());
    let np = entry(&d, "num.partitions");
    assert_eq!(np.value.as_deref(), Some("3"));
    assert_eq!(np.source, ConfigSource::StaticBrokerConfig);
    assert!(np.read_only && !np.sensitive);
    assert_eq!(np.config_type, ConfigType::Int);
    let retention = entry(&d, "log.retention.ms");
    assert_eq!(
        retention.value, None,
        "unset and no default: Kafka sends null"
    );
    assert!(!retention.read_only);
    assert_eq!(retention.source, ConfigSource::DefaultConfig);
    assert_eq!(
        entry(&d, "log.retention.hours").value.as_deref(),
        Some("168")
    );
    assert_eq!(ConfigSource::StaticBrokerConfig.code(), 4);
    assert_eq!(ConfigSource::DefaultConfig.code(), 5);
}

#[test]
fn described_values_load_back_to_the_same_config() {
    let c = with_overrides(&[
        "node.id=9",
        "listeners=PLAINTEXT://[::]:19092",
        "advertised.listeners=PLAINTEXT://b9:19092",
        "log.dirs=/d1,/d2",
        "log.cleanup.policy=compact,delete",
        "log.retention.minutes=30",
        "log.flush.interval.ms=1000",
        "log.message.timestamp.type=LogAppendTime",
        "compression.type=zstd",
        "group.initial.rebalance.delay.ms=0",
    ])
    .unwrap();
    let args: Vec<String> = c
        .describe()
        .into_iter()
        .filter_map(|e| e.value.map(|v| format!("{}={}", e.name, v)))
        .collect();
    let again = load(None, &[], &args).unwrap();
    assert_eq!(again.describe().len(), c.describe().len());
    for (a, b) in again.describe().iter().zip(c.describe().iter()) {
        assert_eq!(a.value, b.value, "{}", a.name);
    }
}

#[test]
fn every_key_has_a_distinct_env_name_and_a_toml_spelling() {
    let envs: BTreeSet<String> = broker_keys::all().map(|k| env_name(k.name)).collect();
    assert_eq!(envs.len(), broker_keys::all().count());
    // `a.b = 1` nests `b` inside table `a`, so no key may be a table of another, except
    // Kafka's `max.connections` family: a file that sets more than one of them quotes them.
    let quoted = ["max.connections", "max.connections.per.ip"];
    for a in broker_keys::all().filter(|k| !quoted.contains(&k.name)) {
        for b in broker_keys::all() {
            assert!(
                !b.name.starts_with(&format!("{}.", a.name)),
                "{} / {}",
                a.name,
                b.name
            );
        }
    }
}

#[test]
fn the_max_connections_keys_load_from_toml_quoted() {
    let file = toml_file(
        "\"max.connections\" = 100\n\"max.connections.per.ip\" = 5\n\
         \"max.connections.per.ip.overrides\" = \"127.0.0.1:50,[::1]:7\"\n",
    );
    let c = load(Some(file.path()), &[], &[]).unwrap();
    assert_eq!((c.max_connections, c.max_connections_per_ip), (100, 5));
    let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    assert_eq!(
        c.max_connections_per_ip_overrides[0],
        ("127.0.0.1".to_string(), loopback, 50)
    );
    assert_eq!(c.max_connections_per_ip_overrides[1].0, "[::1]");
    let bad = load(
        None,
        &[],
        &["max.connections.per.ip.overrides=nohost".into()],
    );
    assert!(bad
        .unwrap_err()
        .to_string()
        .contains("max.connections.per.ip.overrides"));
}

#[test]
fn alter_refuses_read_only_and_unknown_keys() {
    let c = BrokerConfig::default();
    for key in [
        "num.partitions",
        "listeners",
        "log.dirs",
        "log.retention.hours",
        "cores",
    ] {
        let err = c.alter(&[change(key, Some("1"))]).unwrap_err();
        assert!(
            matches!(err, ConfigError::ReadOnly { key: ref k } if k == key),
            "{err:?}"
        );
        assert!(err.to_string().contains(key));
    }
    let err = c.alter(&[change("no.such.key", Some("1"))]).unwrap_err();
    assert!(matches!(err, ConfigError::UnknownKey { .. }));
    assert_eq!(err.kafka_error_code(), 40);
}

#[test]
fn alter_sets_and_deletes_dynamic_values() {
    let c = with_overrides(&["log.retention.hours=10", "message.max.bytes=2000"]).unwrap();
    let altered = c
        .alter(&[
            change("log.retention.ms", Some("5000")),
            change("message.max.bytes", Some("3000")),
            change("log.flush.interval.ms", Some("100")),
        ])
        .unwrap();
    assert_eq!(
        altered.log_retention_ms, 5000,
        "dynamic ms beats static hours"
    );
    assert_eq!(altered.message_max_bytes, 3000);
    assert_eq!(altered.log_flush_interval_ms, Some(100));
    let d = altered.describe();
    assert_eq!(
        entry(&d, "message.max.bytes").source,
        ConfigSource::DynamicBrokerConfig
    );
    assert_eq!(
        entry(&d, "log.retention.hours").source,
        ConfigSource::StaticBrokerConfig
    );

    let restored = altered
        .alter(&[
            change("log.retention.ms", None),
            change("message.max.bytes", None),
            change("log.flush.interval.ms", None),
        ])
        .unwrap();
    assert_eq!(
        restored, c,
        "deleting every dynamic value restores the static config"
    );
    let d = restored.describe();
    assert_eq!(
        entry(&d, "message.max.bytes").source,
        ConfigSource::StaticBrokerConfig
    );
}

#[test]
fn alter_with_a_bad_value_changes_nothing() {
    let c = BrokerConfig::default();
    let err = c
        .alter(&[
            change("min.insync.replicas", Some("2")),
            change("log.segment.bytes", Some("12")),
        ])
        .unwrap_err();
    assert!(err.to_string().contains("log.segment.bytes") && err.to_string().contains("12"));
    assert_eq!(c.min_insync_replicas, 1);
}

#[test]
fn dynamic_overrides_replay_on_restart() {
    let c = with_overrides(&["node.id=4"]).unwrap();
    let altered = c
        .alter(&[
            change("compression.type", Some("lz4")),
            change("log.cleanup.policy", Some("compact")),
        ])
        .unwrap();
    let saved = altered.dynamic_overrides();
    assert_eq!(saved.len(), 2);
    let restarted = with_overrides(&["node.id=4"])
        .unwrap()
        .with_dynamic_overrides(&saved)
        .unwrap();
    assert_eq!(restarted, altered);
    let mut bad = BTreeMap::new();
    bad.insert("node.id".to_string(), "5".to_string());
    assert!(matches!(
        c.with_dynamic_overrides(&bad),
        Err(ConfigError::ReadOnly { .. })
    ));
}

proptest! {
    #[test]
    fn num_partitions_accepts_exactly_its_range(n in any::<i32>()) {
        let result = with_overrides(&[&format!("num.partitions={n}")]);
        if (1..=PARTITIONS_MAX).contains(&n) {
            let c = result.unwrap();
            prop_assert_eq!(c.num_partitions, n);
            prop_assert_eq!(entry(&c.describe(), "num.partitions").value.clone(), Some(n.to_string()));
        } else {
            let is_invalid = matches!(result, Err(ConfigError::InvalidValue { .. }));
            prop_assert!(is_invalid);
        }
    }

    #[test]
    fn dynamic_values_round_trip(
        retention in -1i64..=i64::MAX,
        segment in SEGMENT_BYTES_MIN..=i32::MAX,
        insync in 1i32..=i32::MAX,
        flush in prop::option::of(0i64..=i64::MAX),
    ) {
        let mut changes = vec![
            change("log.retention.ms", Some(&retention.to_string())),
            change("log.segment.bytes", Some(&segment.to_string())),
            change("min.insync.replicas", Some(&insync.to_string())),
        ];
        changes.push(change("log.flush.interval.ms", flush.map(|f| f.to_string()).as_deref()));
        let c = BrokerConfig::default().alter(&changes).unwrap();
        prop_assert_eq!(c.log_retention_ms, retention);
        prop_assert_eq!(c.log_segment_bytes, segment);
        prop_assert_eq!(c.min_insync_replicas, insync);
        prop_assert_eq!(c.log_flush_interval_ms, flush);
        let replayed = BrokerConfig::default().with_dynamic_overrides(&c.dynamic_overrides()).unwrap();
        prop_assert_eq!(replayed, c);
    }
}

#[test]
fn cluster_defaults_sit_below_per_broker_values() {
    let c = BrokerConfig::default()
        .alter_defaults(&[
            change("log.retention.ms", Some("1000")),
            change("compression.type", Some("gzip")),
        ])
        .unwrap()
        .alter(&[change("log.retention.ms", Some("2000"))])
        .unwrap();
    assert_eq!(c.log_retention_ms, 2000, "the per-broker value wins");
    assert_eq!(
        c.compression_type.to_string(),
        "gzip",
        "the default applies where the broker sets nothing"
    );
    let described = c.describe();
    assert_eq!(
        entry(&described, "log.retention.ms").source,
        ConfigSource::DynamicBrokerConfig
    );
    assert_eq!(
        entry(&described, "compression.type").source,
        ConfigSource::DynamicDefaultBrokerConfig
    );
    let defaults = c.describe_defaults();
    let mut names: Vec<&str> = defaults.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["compression.type", "log.retention.ms"]);
    assert_eq!(
        entry(&defaults, "log.retention.ms").value.as_deref(),
        Some("1000")
    );
    let replayed = BrokerConfig::default()
        .with_default_overrides(&c.default_overrides())
        .unwrap()
        .with_dynamic_overrides(&c.dynamic_overrides())
        .unwrap();
    assert_eq!(replayed, c);
    let back = c.alter(&[change("log.retention.ms", None)]).unwrap();
    assert_eq!(
        back.log_retention_ms, 1000,
        "deleting the broker's value shows the default"
    );
}

#[test]
fn authorizer_keys_take_kafkas_names_and_refuse_other_classes() {
    let off = with_overrides(&[]).unwrap();
    assert!(!off.authorizer_enabled());
    assert!(!off.allow_everyone_if_no_acl_found);
    for class in [
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "kafka.security.authorizer.AclAuthorizer",
    ] {
        let on = with_overrides(&[&format!("authorizer.class.name={class}")]).unwrap();
        assert!(on.authorizer_enabled());
    }
    let error = with_overrides(&["authorizer.class.name=com.example.Mine"]).unwrap_err();
    assert!(error.to_string().contains("com.example.Mine"), "{error}");
    let config = with_overrides(&[
        "super.users=User:admin; User:ops ;",
        "allow.everyone.if.no.acl.found=true",
    ])
    .unwrap();
    assert_eq!(config.super_users, ["User:admin", "User:ops"]);
    assert!(config.allow_everyone_if_no_acl_found);
    assert_eq!(
        entry(&config.describe(), "super.users").value.as_deref(),
        Some("User:admin;User:ops")
    );
    assert!(with_overrides(&["super.users=admin"]).is_err());
}

#[test]
fn kerberos_relogin_time_is_dynamic_per_broker_only() {
    let config = with_overrides(&[]).unwrap();
    let key = "sasl.kerberos.min.time.before.relogin";
    assert_eq!(config.sasl_kerberos_min_time_before_relogin, 60_000);
    let changed = config.alter(&[change(key, Some("58000"))]).unwrap();
    assert_eq!(changed.sasl_kerberos_min_time_before_relogin, 58_000);
    assert_eq!(
        entry(&changed.describe(), key).source,
        ConfigSource::DynamicBrokerConfig
    );
    assert!(matches!(
        config.alter_defaults(&[change(key, Some("58000"))]),
        Err(ConfigError::PerBrokerOnly { .. })
    ));
}

#[test]
fn connection_overrides_take_ip_literals_and_refuse_host_names() {
    let c =
        with_overrides(&["max.connections.per.ip.overrides=127.0.0.1:4, [::1]:2,::2:3"]).unwrap();
    let addresses: Vec<(String, i32)> = c
        .max_connections_per_ip_overrides
        .iter()
        .map(|(_, ip, count)| (ip.to_string(), *count))
        .collect();
    assert_eq!(
        addresses,
        [
            ("127.0.0.1".into(), 4),
            ("::1".into(), 2),
            ("::2".into(), 3)
        ]
    );
    let err = with_overrides(&["max.connections.per.ip.overrides=localhost:4"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"localhost\" is not an IP address"),
        "{err}"
    );
    let err = with_overrides(&["max.connections.per.ip.overrides=127.0.0.1"]).unwrap_err();
    assert!(err.to_string().contains("address:count"), "{err}");
}

#[test]
fn broker_synonyms_list_every_source_from_the_key_itself_on() {
    let c = with_overrides(&["log.retention.minutes=30", "log.retention.hours=2"])
        .unwrap()
        .alter(&[change("log.retention.ms", Some("5000"))])
        .unwrap()
        .alter_defaults(&[change("log.retention.ms", Some("7000"))])
        .unwrap();
    let listed = |entries: &[ConfigEntry], name: &str| -> Vec<(String, ConfigSource)> {
        entry(entries, name)
            .synonyms
            .iter()
            .map(|s| (s.name.clone(), s.source))
            .collect()
    };
    let to = |items: &[(&str, ConfigSource)]| -> Vec<(String, ConfigSource)> {
        items.iter().map(|(n, s)| (n.to_string(), *s)).collect()
    };
    let d = c.describe();
    // By source first, then in the group's order; everything before the key dropped.
    assert_eq!(
        listed(&d, "log.retention.ms"),
        to(&[
            ("log.retention.ms", ConfigSource::DynamicBrokerConfig),
            ("log.retention.ms", ConfigSource::DynamicDefaultBrokerConfig),
            ("log.retention.minutes", ConfigSource::StaticBrokerConfig),
            ("log.retention.hours", ConfigSource::StaticBrokerConfig),
            ("log.retention.hours", ConfigSource::DefaultConfig),
        ])
    );
    assert_eq!(
        listed(&d, "log.retention.minutes"),
        to(&[
            ("log.retention.minutes", ConfigSource::StaticBrokerConfig),
            ("log.retention.hours", ConfigSource::StaticBrokerConfig),
            ("log.retention.hours", ConfigSource::DefaultConfig),
        ])
    );
    assert_eq!(
        listed(&d, "num.partitions"),
        to(&[("num.partitions", ConfigSource::DefaultConfig)])
    );
    // Unset with no default: no synonym at all.
    assert!(listed(&d, "log.flush.interval.ms").is_empty());
    // The "" resource lists only cluster-wide defaults.
    assert_eq!(
        listed(&c.describe_defaults(), "log.retention.ms"),
        to(&[("log.retention.ms", ConfigSource::DynamicDefaultBrokerConfig)])
    );
}

#[test]
fn a_sasl_listener_takes_kafkas_listener_prefixed_settings() {
    use crate::security::{Mechanism, ScramMechanism, SecurityProtocol};
    let jaas = r#"listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="a-pw";"#;
    let c = with_overrides(&[
        "listeners=SASL_PLAINTEXT://127.0.0.1:9092",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
        jaas,
    ])
    .unwrap();
    let security = c.security_of("SASL_PLAINTEXT");
    assert_eq!(security.protocol, SecurityProtocol::SaslPlaintext);
    assert_eq!(
        security.mechanisms,
        [Mechanism::Plain, Mechanism::Scram(ScramMechanism::Sha512)]
    );
    assert_eq!(security.plain_users["alice"], "a-pw");
    // The listener's own list wins over the broker's.
    let c = with_overrides(&[
        "listeners=SASL_PLAINTEXT://127.0.0.1:9092",
        "sasl.enabled.mechanisms=PLAIN",
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-256",
    ])
    .unwrap();
    assert_eq!(
        c.security_of("SASL_PLAINTEXT").mechanisms,
        [Mechanism::Scram(ScramMechanism::Sha256)]
    );
    // A PLAINTEXT listener asks for nothing, whatever the SASL keys say.
    let c = with_overrides(&["sasl.enabled.mechanisms=PLAIN"]).unwrap();
    assert_eq!(
        c.security_of("PLAINTEXT").protocol,
        SecurityProtocol::Plaintext
    );
}

#[test]
fn sasl_settings_that_cannot_work_are_refused_without_showing_passwords() {
    let sasl = "listeners=SASL_PLAINTEXT://127.0.0.1:9092";
    for (args, expected) in [
        (vec![sasl], "GSSAPI is not served"),
        (
            vec![sasl, "sasl.enabled.mechanisms=PLAIN"],
            "PlainLoginModule's users",
        ),
        (
            vec![sasl, "sasl.enabled.mechanisms=MD5"],
            "SASL mechanisms among",
        ),
        (
            vec![
                sasl,
                "sasl.enabled.mechanisms=PLAIN",
                r#"listener.name.sasl_plaintext.plain.sasl.jaas.config=M required password="secret""#,
            ],
            "not shown",
        ),
        (
            vec!["listener.name.x.ssl.keystore.flavour=/k"],
            "listener-prefixed keys",
        ),
    ] {
        let error = with_overrides(&args).unwrap_err().to_string();
        assert!(error.contains(expected), "{args:?}: {error}");
        assert!(!error.contains("secret"), "{error}");
    }
}

#[test]
fn a_tls_listener_takes_kafka_s_pem_settings_its_own_first() {
    let ssl = "listeners=SSL://127.0.0.1:9093";
    let c = with_overrides(&[
        ssl,
        "ssl.keystore.type=PEM",
        "ssl.keystore.location=/etc/shoal/broker.pem",
        "ssl.client.auth=required",
        "ssl.truststore.type=PEM",
        "ssl.truststore.location=/etc/shoal/ca.pem",
        "listener.name.ssl.ssl.principal.mapping.rules=RULE:^CN=(.*?),.*$/$1/L,DEFAULT",
        "ssl.key.password=",
    ])
    .unwrap();
    let tls = c.security_of("SSL").tls.as_ref().expect("TLS settings");
    assert_eq!(tls.keystore, Keystore::File("/etc/shoal/broker.pem".into()));
    assert_eq!(tls.truststore, Some(Pem::File("/etc/shoal/ca.pem".into())));
    assert_eq!(tls.client_auth, ClientAuth::Required);
    assert_eq!(tls.versions, ["TLSv1.2", "TLSv1.3"]);
    assert!(
        tls.principal_rules.starts_with("RULE:"),
        "the listener's own"
    );
    assert!(tls.check_host, "https, Kafka's default");
    let d = c.describe();
    assert_eq!(
        entry(&d, "ssl.client.auth").value.as_deref(),
        Some("required")
    );
    assert_eq!(entry(&d, "ssl.keystore.type").value.as_deref(), Some("PEM"));
    let key = entry(&d, "ssl.keystore.key");
    assert!(key.sensitive && key.value.is_none());
    assert_eq!(key.config_type, ConfigType::Password);
    // Nor through its synonyms (kafka-configs.sh --describe --all asks for them).
    let inline = with_overrides(&[ssl, "ssl.keystore.key=-----BEGIN PRIVATE KEY----- secret"]);
    let inline = inline.unwrap_err().to_string();
    assert!(!inline.contains("secret"), "{inline}");
    let c = with_overrides(&["ssl.keystore.key=-----BEGIN PRIVATE KEY----- secret"]).unwrap();
    let synonyms = c.synonyms("ssl.keystore.key");
    assert_eq!(synonyms.len(), 1);
    assert_eq!(synonyms[0].source, ConfigSource::StaticBrokerConfig);
    assert_eq!(synonyms[0].value, None);
    // Inline PEM.
    let c = with_overrides(&[
        "listeners=SASL_SSL://127.0.0.1:9093",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "listener.name.sasl_ssl.ssl.keystore.type=PEM",
        "listener.name.sasl_ssl.ssl.keystore.certificate.chain=-----BEGIN CERTIFICATE----- x",
        "listener.name.sasl_ssl.ssl.keystore.key=-----BEGIN PRIVATE KEY----- secret",
    ])
    .unwrap();
    let tls = c
        .security_of("SASL_SSL")
        .tls
        .as_ref()
        .expect("TLS settings");
    assert!(matches!(tls.keystore, Keystore::Inline { .. }));
    // The broker-wide ssl.client.auth is an SSL listener's; SASL_SSL takes its own only.
    let sasl_ssl = [
        "listeners=SASL_SSL://127.0.0.1:9093",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "ssl.keystore.type=PEM",
        "ssl.keystore.location=/k.pem",
    ];
    let c = with_overrides(&[&sasl_ssl[..], &["ssl.client.auth=required"]].concat()).unwrap();
    assert_eq!(
        c.security_of("SASL_SSL").tls.clone().unwrap().client_auth,
        ClientAuth::None
    );
    let own = "listener.name.sasl_ssl.ssl.client.auth=required";
    let error = with_overrides(&[&sasl_ssl[..], &[own]].concat()).unwrap_err();
    assert!(
        error.to_string().contains(own.split('=').next().unwrap()),
        "{error}"
    );
    assert!(!format!("{tls:?}").contains("secret"), "{tls:?}");
    // What cannot work stops the start, naming the key, never showing a secret.
    let keystore = ["ssl.keystore.type=PEM", "ssl.keystore.location=/k.pem"];
    for (args, expected) in [
        (vec![ssl, "ssl.keystore.location=/k.jks"], "PEM"),
        (vec![ssl, "ssl.keystore.type=PEM"], "ssl.keystore.location"),
        (
            [&[ssl, "ssl.client.auth=required"], &keystore[..]].concat(),
            "ssl.client.auth",
        ),
        (
            [&[ssl, "ssl.keystore.password=secret"], &keystore[..]].concat(),
            "no password",
        ),
        (
            vec![ssl, "ssl.client.auth=always"],
            "required, requested, none",
        ),
        (vec![ssl, "ssl.enabled.protocols=TLSv1.1"], "TLSv1.2"),
        (
            vec![ssl, "ssl.principal.mapping.rules=RULE:x"],
            "invalid rule",
        ),
        (
            vec![ssl, "ssl.endpoint.identification.algorithm=ldap"],
            "https, or empty",
        ),
    ] {
        let error = with_overrides(&args).unwrap_err().to_string();
        assert!(error.contains(expected), "{args:?}: {error}");
        assert!(!error.contains("secret"), "{error}");
    }
    // An encrypted private key's password is taken, and never shown.
    let c = with_overrides(&[&[ssl, "ssl.key.password=secret"], &keystore[..]].concat()).unwrap();
    let tls = c.security_of("SSL").tls.clone().expect("TLS settings");
    assert_eq!(tls.key_password, Some(KeyPassword("secret".to_string())));
    assert!(!format!("{tls:?}").contains("secret"), "{tls:?}");
}
