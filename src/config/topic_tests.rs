//! Tests of topic overrides, resolution and describe sources.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::topic_keys::{Rule, TOPIC_KEYS};
use super::*;

fn topic(pairs: &[(&str, &str)]) -> Result<TopicConfig, ConfigError> {
    TopicConfig::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

fn broker(args: &[&str]) -> BrokerConfig {
    super::broker_tests::with_overrides(args).unwrap()
}

fn described(entries: &[ConfigEntry], name: &str) -> (Option<String>, ConfigSource) {
    let e = entries.iter().find(|e| e.name == name).unwrap();
    (e.value.clone(), e.source)
}

#[test]
fn unknown_keys_and_bad_values_are_refused_by_name() {
    let err = topic(&[("retention.msec", "1")]).unwrap_err();
    assert_eq!(err.to_string(), "Unknown topic config name: retention.msec");
    for (key, value) in [
        ("retention.ms", "-2"),
        ("retention.ms", "soon"),
        ("segment.bytes", "1023"),
        ("max.message.bytes", "3000000000"),
        ("cleanup.policy", "delete,archive"),
        ("message.timestamp.type", "Now"),
        ("compression.type", "rar"),
        ("min.cleanable.dirty.ratio", "1.5"),
        ("remote.storage.enable", "true"),
        ("preallocate", "sure"),
        ("leader.replication.throttled.replicas", "0-1"),
        ("min.insync.replicas", "0"),
        ("compression.gzip.level", "0"),
        ("compression.gzip.level", "10"),
        ("compression.lz4.level", "18"),
        ("compression.zstd.level", "23"),
    ] {
        let err = topic(&[(key, value)]).unwrap_err();
        assert!(
            matches!(err, ConfigError::InvalidValue { key: ref k, .. } if k == key),
            "{key}={value}: {err:?}"
        );
        assert!(err.to_string().contains(key));
    }
}

#[test]
fn valid_values_are_stored_trimmed() {
    let t = topic(&[
        ("retention.ms", " 1000 "),
        ("cleanup.policy", "compact, delete"),
        ("leader.replication.throttled.replicas", "0:1,1:2"),
        ("follower.replication.throttled.replicas", "*"),
        ("min.cleanable.dirty.ratio", "0.1"),
        ("remote.storage.enable", "false"),
    ])
    .unwrap();
    assert_eq!(t.get("retention.ms"), Some("1000"));
    assert_eq!(
        t.get_list("cleanup.policy"),
        Some(vec!["compact", "delete"])
    );
    assert_eq!(t.get_list("retention.ms"), None, "not a list key");
    assert_eq!(t.get("segment.ms"), None);
    assert_eq!(
        TopicConfig::key_type("cleanup.policy"),
        Some(ConfigType::List)
    );
    assert_eq!(TopicConfig::key_type("nope"), None);
}

#[test]
fn throttled_replicas_lists_name_partitions_on_brokers() {
    let (leader, follower) = (
        "leader.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
    );
    let t = topic(&[(leader, "0:1, 2:3"), (follower, "*")]).unwrap();
    assert!(t.throttles(leader, 0, 1));
    assert!(t.throttles(leader, 2, 3));
    assert!(
        !t.throttles(leader, 0, 3),
        "partition 0 is named on broker 1 only"
    );
    assert!(!t.throttles(leader, 1, 1));
    assert!(t.throttles(follower, 7, 9), "* names every replica");
    assert!(!topic(&[]).unwrap().throttles(leader, 0, 1));
}

#[test]
fn alter_sets_removes_and_is_all_or_nothing() {
    let t = topic(&[("retention.ms", "1000")]).unwrap();
    let set = |k: &str, v: Option<&str>| (k.to_string(), v.map(str::to_string));
    let t2 = t
        .alter(&[set("retention.ms", None), set("segment.ms", Some("60000"))])
        .unwrap();
    assert_eq!(t2.get("retention.ms"), None);
    assert_eq!(t2.get("segment.ms"), Some("60000"));
    assert!(t.alter(&[set("segment.ms", Some("0"))]).is_err());
    assert!(t.alter(&[set("bogus", Some("1"))]).is_err());
    // As Kafka: removing a key that is not set, known or not, changes nothing.
    assert_eq!(t.alter(&[set("bogus", None)]).ok().as_ref(), Some(&t));
    assert_eq!(t.get("retention.ms"), Some("1000"));
}

#[test]
fn the_compaction_lag_s_bounds_are_checked_against_each_other() {
    let err = topic(&[
        ("min.compaction.lag.ms", "500"),
        ("max.compaction.lag.ms", "100"),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "conflict topic config setting min.compaction.lag.ms (500) > max.compaction.lag.ms (100)"
    );
    let t = topic(&[("min.compaction.lag.ms", "500")]).unwrap();
    let set = |k: &str, v: &str| (k.to_string(), Some(v.to_string()));
    assert!(t.alter(&[set("max.compaction.lag.ms", "499")]).is_err());
    assert!(t.alter(&[set("max.compaction.lag.ms", "500")]).is_ok());
}

#[test]
fn the_level_is_the_effective_codec_s_from_the_topic_or_the_broker() {
    let b = broker(&["compression.type=zstd", "compression.zstd.level=7"]);
    let level = |pairs: &[(&str, &str)]| topic(pairs).unwrap().resolve(&b).compression_level;
    assert_eq!(level(&[]), 7);
    assert_eq!(level(&[("compression.zstd.level", "-2")]), -2);
    assert_eq!(level(&[("compression.type", "gzip")]), -1, "zlib's default");
    assert_eq!(level(&[("compression.type", "lz4")]), 9, "Kafka's default");
    assert_eq!(level(&[("compression.type", "snappy")]), 0);
}

#[test]
fn resolve_takes_overrides_then_broker_values() {
    let b = broker(&[
        "log.retention.hours=1",
        "log.segment.bytes=2048",
        "compression.type=gzip",
        "log.flush.interval.ms=500",
    ]);
    let none = TopicConfig::default().resolve(&b);
    assert_eq!(none.retention_ms, 3_600_000);
    assert_eq!(none.segment_bytes, 2048);
    assert_eq!(none.segment_ms, 604_800_000);
    assert_eq!(none.compression_type, CompressionType::Gzip);
    assert_eq!(none.flush_ms, Some(500));
    assert_eq!(none.max_message_bytes, 1_048_588);
    assert_eq!(none.cleanup_policy, CleanupPolicy::DELETE);
    assert_eq!(none.segment_index_bytes, 10 * 1024 * 1024);
    assert_eq!(none.message_timestamp_before_max_ms, i64::MAX);

    let t = topic(&[
        ("retention.ms", "-1"),
        ("segment.bytes", "1024"),
        ("cleanup.policy", "compact"),
        ("message.timestamp.type", "LogAppendTime"),
        ("flush.ms", "9223372036854775807"),
        ("message.timestamp.difference.max.ms", "5000"),
        ("message.timestamp.after.max.ms", "7000"),
        ("min.insync.replicas", "2"),
    ])
    .unwrap();
    let r = t.resolve(&b);
    assert_eq!(r.retention_ms, -1);
    assert_eq!(r.segment_bytes, 1024);
    assert!(r.cleanup_policy.compact && !r.cleanup_policy.delete);
    assert_eq!(r.message_timestamp_type, TimestampType::LogAppendTime);
    assert_eq!(r.flush_ms, None, "Long.MAX_VALUE means never");
    assert_eq!(
        r.message_timestamp_before_max_ms, 5000,
        "difference fills in"
    );
    assert_eq!(r.message_timestamp_after_max_ms, 7000);
    assert_eq!(r.min_insync_replicas, 2);
    assert_eq!(r.compression_type, CompressionType::Gzip);
}

#[test]
fn describe_sources_follow_where_the_value_came_from() {
    let b = broker(&["log.retention.hours=1"])
        .alter(&[("log.segment.bytes".to_string(), Some("4096".to_string()))])
        .unwrap();
    let t = topic(&[("max.message.bytes", "500")]).unwrap();
    let d = t.describe(&b);
    assert_eq!(d.len(), TOPIC_KEYS.len());
    assert_eq!(
        described(&d, "max.message.bytes"),
        (Some("500".into()), ConfigSource::DynamicTopicConfig)
    );
    // Kafka's quirk, kept: retention.ms lists the broker's values from log.retention.ms
    // on, so one set only as log.retention.hours leaves it no synonym and DEFAULT_CONFIG.
    assert_eq!(
        described(&d, "retention.ms"),
        (Some("3600000".into()), ConfigSource::DefaultConfig)
    );
    assert_eq!(
        described(&d, "segment.bytes"),
        (Some("4096".into()), ConfigSource::DynamicBrokerConfig)
    );
    let synonyms = |name: &str| -> Vec<(String, Option<String>, ConfigSource)> {
        let entry = d.iter().find(|e| e.name == name).unwrap();
        entry
            .synonyms
            .iter()
            .map(|s| (s.name.clone(), s.value.clone(), s.source))
            .collect()
    };
    let synonym =
        |name: &str, value: &str, source| (name.to_string(), Some(value.to_string()), source);
    assert_eq!(
        synonyms("segment.bytes"),
        [
            synonym(
                "log.segment.bytes",
                "4096",
                ConfigSource::DynamicBrokerConfig
            ),
            synonym(
                "log.segment.bytes",
                "1073741824",
                ConfigSource::DefaultConfig
            ),
        ]
    );
    assert_eq!(
        synonyms("max.message.bytes"),
        [
            synonym("max.message.bytes", "500", ConfigSource::DynamicTopicConfig),
            synonym("message.max.bytes", "1048588", ConfigSource::DefaultConfig),
        ]
    );
    assert!(synonyms("retention.ms").is_empty());
    assert!(
        synonyms("segment.jitter.ms").is_empty(),
        "no broker key: no synonym"
    );
    let b = broker(&["log.retention.ms=5000", "log.retention.hours=2"]);
    let d = TopicConfig::default().describe(&b);
    let entry = d.iter().find(|e| e.name == "retention.ms").unwrap();
    let listed: Vec<(&str, ConfigSource)> = entry
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.source))
        .collect();
    assert_eq!(
        listed,
        [
            ("log.retention.ms", ConfigSource::StaticBrokerConfig),
            ("log.retention.hours", ConfigSource::StaticBrokerConfig),
            ("log.retention.hours", ConfigSource::DefaultConfig),
        ]
    );
    assert_eq!(entry.source, ConfigSource::StaticBrokerConfig);
    assert_eq!(
        described(&d, "segment.ms"),
        (Some("604800000".into()), ConfigSource::DefaultConfig)
    );
    assert_eq!(
        described(&d, "flush.ms"),
        (Some(i64::MAX.to_string()), ConfigSource::DefaultConfig)
    );
    assert_eq!(
        described(&d, "unclean.leader.election.enable"),
        (Some("false".into()), ConfigSource::DefaultConfig)
    );
    assert!(d.iter().all(|e| !e.read_only && !e.sensitive));
    assert_eq!(ConfigSource::DynamicTopicConfig.code(), 1);
    assert_eq!(ConfigSource::DynamicBrokerConfig.code(), 2);
}

#[test]
fn describe_and_resolve_agree_on_inherited_values() {
    let b = broker(&[
        "log.retention.minutes=5",
        "log.roll.ms=777",
        "log.retention.bytes=99",
        "log.cleanup.policy=compact",
        "log.index.interval.bytes=10",
        "log.flush.interval.messages=3",
        "log.cleaner.delete.retention.ms=11",
        "min.insync.replicas=2",
        "message.max.bytes=12",
        "log.message.timestamp.type=LogAppendTime",
    ]);
    let d = TopicConfig::default().describe(&b);
    let r = TopicConfig::default().resolve(&b);
    let value = |k: &str| described(&d, k).0.unwrap();
    assert_eq!(value("retention.ms"), r.retention_ms.to_string());
    assert_eq!(value("segment.ms"), r.segment_ms.to_string());
    assert_eq!(value("retention.bytes"), r.retention_bytes.to_string());
    assert_eq!(value("segment.bytes"), r.segment_bytes.to_string());
    assert_eq!(value("cleanup.policy"), r.cleanup_policy.to_string());
    assert_eq!(
        value("index.interval.bytes"),
        r.index_interval_bytes.to_string()
    );
    assert_eq!(value("flush.messages"), r.flush_messages.to_string());
    assert_eq!(
        value("delete.retention.ms"),
        r.delete_retention_ms.to_string()
    );
    assert_eq!(
        value("min.insync.replicas"),
        r.min_insync_replicas.to_string()
    );
    assert_eq!(value("max.message.bytes"), r.max_message_bytes.to_string());
    assert_eq!(
        value("message.timestamp.type"),
        r.message_timestamp_type.to_string()
    );
    assert_eq!(value("compression.type"), r.compression_type.to_string());
    assert_eq!(
        value("segment.index.bytes"),
        r.segment_index_bytes.to_string()
    );
    assert_eq!(value("segment.jitter.ms"), r.segment_jitter_ms.to_string());
    assert_eq!(
        value("file.delete.delay.ms"),
        r.file_delete_delay_ms.to_string()
    );
    // Set as log.retention.minutes: before log.retention.ms in no list, so Kafka reports
    // the default source.
    assert_eq!(described(&d, "retention.ms").1, ConfigSource::DefaultConfig);
    assert_eq!(
        described(&d, "segment.ms").1,
        ConfigSource::StaticBrokerConfig
    );
}

#[test]
fn every_inherited_value_passes_its_own_rule() {
    let b = BrokerConfig::default();
    for key in TOPIC_KEYS {
        let value = (key.inherited)(&b);
        if matches!(key.rule, Rule::Replicas) && value.is_empty() {
            continue;
        }
        assert!(
            key.rule.check(key.name, &value).is_ok(),
            "{}={value}",
            key.name
        );
    }
}

#[test]
fn serde_validates_on_the_way_in() {
    let t = topic(&[("retention.ms", "5"), ("cleanup.policy", "compact")]).unwrap();
    let text = toml::to_string(&t).unwrap();
    let back: TopicConfig = toml::from_str(&text).unwrap();
    assert_eq!(back, t);
    assert!(toml::from_str::<TopicConfig>("\"retention.ms\" = \"x\"").is_err());
    assert!(toml::from_str::<TopicConfig>("\"bogus\" = \"1\"").is_err());
}

#[test]
fn topic_names_follow_kafkas_rules() {
    for good in [
        "orders",
        "a",
        "A.b_c-9",
        &"x".repeat(TOPIC_NAME_BYTES_MAX),
        "...",
    ] {
        assert!(valid_topic_name(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        ".",
        "..",
        "has space",
        "slash/y",
        "ünï",
        &"x".repeat(250),
    ] {
        assert!(valid_topic_name(bad).is_err(), "{bad}");
    }
    assert_eq!(
        valid_topic_name("a b").unwrap_err(),
        "Topic name is invalid: 'a b' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
    );
    assert_eq!(
        valid_topic_name("..").unwrap_err(),
        "Topic name is invalid: '..' is not allowed"
    );
}

/// A value that `rule` accepts, drawn from its whole range.
fn valid_value(rule: &Rule) -> BoxedStrategy<String> {
    match rule {
        Rule::Int { min, max } => (*min..=*max).prop_map(|n| n.to_string()).boxed(),
        Rule::Bool => any::<bool>().prop_map(|b| b.to_string()).boxed(),
        Rule::FalseOnly => Just("false".to_string()).boxed(),
        Rule::Ratio => (0.0f64..=1.0).prop_map(|r| r.to_string()).boxed(),
        Rule::Timestamp => prop_oneof![Just("CreateTime"), Just("LogAppendTime")]
            .prop_map(str::to_string)
            .boxed(),
        Rule::Compression => prop::sample::select(vec![
            "producer",
            "uncompressed",
            "gzip",
            "snappy",
            "lz4",
            "zstd",
        ])
        .prop_map(str::to_string)
        .boxed(),
        Rule::Version => prop::sample::select(vec!["0.10.0.0", "2.8", "3.0-IV1"])
            .prop_map(str::to_string)
            .boxed(),
        Rule::Cleanup => prop::sample::select(vec!["delete", "compact", "compact,delete"])
            .prop_map(str::to_string)
            .boxed(),
        Rule::Replicas => prop_oneof![
            Just("*".to_string()),
            prop::collection::vec((0u32..10_000, 0u32..100), 0..5).prop_map(|pairs| {
                let items: Vec<String> = pairs.iter().map(|(p, b)| format!("{p}:{b}")).collect();
                items.join(",")
            }),
        ]
        .boxed(),
        Rule::Level(codec) => {
            let (_, range, default) = codec.level().expect("a codec with levels");
            prop_oneof![Just(default), range]
                .prop_map(|n| n.to_string())
                .boxed()
        }
    }
}

fn any_override() -> impl Strategy<Value = (String, String)> {
    prop::sample::select((0..TOPIC_KEYS.len()).collect::<Vec<_>>()).prop_flat_map(|i| {
        let key = &TOPIC_KEYS[i];
        valid_value(&key.rule).prop_map(move |v| (key.name.to_string(), v))
    })
}

proptest! {
    #[test]
    fn any_valid_override_round_trips_through_describe(
        overrides in prop::collection::btree_map(any::<u8>(), any_override(), 0..8)
    ) {
        let pairs: BTreeMap<String, String> = overrides.into_values().collect();
        // Bounds drawn apart may cross, which Kafka refuses (tested on its own).
        let lag = |key: &str, default: i64| pairs.get(key).map_or(default, |v| v.parse().unwrap_or(default));
        prop_assume!(lag("min.compaction.lag.ms", 0) <= lag("max.compaction.lag.ms", i64::MAX));
        let t = TopicConfig::new(pairs.clone()).unwrap();
        let b = BrokerConfig::default();
        let d = t.describe(&b);
        for (key, value) in &pairs {
            prop_assert_eq!(described(&d, key), (Some(value.clone()), ConfigSource::DynamicTopicConfig));
        }
        // The described values, fed back as overrides, describe identically.
        let all = d.iter().filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)));
        let all = all.filter(|(_, v)| !v.is_empty());
        let again = TopicConfig::new(all).unwrap();
        let values = |d: &[ConfigEntry]| d.iter().map(|e| e.value.clone()).collect::<Vec<_>>();
        prop_assert_eq!(values(&again.describe(&b)), values(&d));
        prop_assert_eq!(again.resolve(&b), t.resolve(&b));
    }
}
