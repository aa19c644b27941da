//! Tests of Kafka's configuration as operators have it: `server.properties` files, Kafka's
//! KRaft keys, aliases, keys accepted without effect, and what stops the broker.

use std::io::Write;
use std::path::Path;

use proptest::prelude::*;

use super::broker_tests::{env, load, toml_file, with_overrides};
use super::source::parse_properties;
use super::*;
use crate::security::{Mechanism, SecurityProtocol};

fn properties_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".properties")
        .tempfile()
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

/// The settings of Kafka 4's shipped `config/server.properties` (combined mode).
const KAFKA_4_QUICK_START: &str = include_str!("../../tests/config/kafka-4-server.properties");

#[test]
fn kafka_4_quick_start_properties_start_a_broker_of_one() {
    let file = properties_file(KAFKA_4_QUICK_START);
    let (c, notices) = BrokerConfig::load(Some(file.path()), &[], &[]).unwrap();
    assert_eq!(c.node_id, 1);
    let client = c.inter_broker_listener().unwrap();
    assert_eq!(client.to_string(), "PLAINTEXT://:9092");
    assert_eq!(
        c.advertised_for(client).to_string(),
        "PLAINTEXT://localhost:9092"
    );
    assert_eq!(c.log_dirs, vec![Path::new("/tmp/kraft-combined-logs")]);
    assert_eq!(c.log_retention_ms, 168 * 3_600_000);
    for key in [
        "num.network.threads=3",
        "num.io.threads=8",
        "num.recovery.threads.per.data.dir=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "transaction.state.log.min.isr=1",
        "controller listener CONTROLLER://:9093 is not opened",
        "inter.broker.listener.name=PLAINTEXT has no effect",
        "controller.quorum.bootstrap.servers=localhost:9093 is not used",
    ] {
        let found = notices.iter().filter(|n| n.starts_with(key)).count();
        assert_eq!(found, 1, "one notice for {key:?} in {notices:#?}");
    }
    assert_eq!(notices.len(), 9, "{notices:#?}");
    assert_eq!(c.transaction_state_log_replication_factor, 1);
    let described = c.describe();
    let value = |name: &str| {
        let entry = described.iter().find(|e| e.name == name).unwrap();
        (entry.value.clone(), entry.source)
    };
    assert_eq!(
        value("process.roles"),
        (
            Some("broker,controller".into()),
            ConfigSource::StaticBrokerConfig
        )
    );
    assert_eq!(
        value("controller.quorum.bootstrap.servers").0.as_deref(),
        Some("localhost:9093")
    );
}

#[test]
fn kafka_3_kraft_voters_naming_this_node_are_accepted() {
    let file = properties_file(
        "process.roles=broker,controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\n\
         listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n\
         advertised.listeners=PLAINTEXT://localhost:9092\n",
    );
    let c = load(Some(file.path()), &[], &[]).unwrap();
    assert_eq!(c.kraft.quorum_voters.len(), 1);
    let described = c.describe();
    let voters = described
        .iter()
        .find(|e| e.name == "controller.quorum.voters")
        .unwrap();
    assert_eq!(voters.value.as_deref(), Some("1@localhost:9093"));
    // No protocol map given: Kafka maps a controller listener to PLAINTEXT.
    assert!(c.kraft.protocol_map.is_none());
}

#[test]
fn a_node_among_several_voters_listens_for_them_on_its_controller_listener() {
    let file = properties_file(
        "node.id=2\ncontroller.quorum.voters=1@localhost:9093,2@localhost:9095,3@localhost:9097\n\
         listeners=PLAINTEXT://:9094,CONTROLLER://127.0.0.1:9095\ncontroller.listener.names=CONTROLLER\n",
    );
    let (c, notices) = BrokerConfig::load(Some(file.path()), &[], &[]).unwrap();
    let peers = c.quorum_peers().unwrap();
    assert_eq!(peers.listen, "127.0.0.1:9095");
    let ids: Vec<i32> = peers.voters.iter().map(|v| v.id).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert!(
        notices
            .iter()
            .any(|n| n.contains("metadata quorum of 3 voters")),
        "{notices:?}"
    );
    // A single voter is a cluster of one, as before.
    let single = with_overrides(&["controller.quorum.voters=1@localhost:9093"]).unwrap();
    assert_eq!(single.quorum_peers(), None);
}

fn refused(args: &[&str], key: &str, says: &str) {
    let err = with_overrides(args).unwrap_err().to_string();
    assert!(
        err.contains(key) && err.contains(says),
        "{args:?}: {err:?} should name {key:?} and say {says:?}"
    );
}

#[test]
fn separate_controller_and_broker_nodes_take_part_in_the_quorum_by_role() {
    let broker = with_overrides(&[
        "process.roles=broker",
        "node.id=4",
        "listeners=PLAINTEXT://10.0.0.4:9092",
        "controller.listener.names=CONTROLLER",
        "controller.quorum.voters=1@a:9093,2@b:9093,3@c:9093",
    ])
    .unwrap();
    let peers = broker.quorum_peers().expect("a quorum");
    assert_eq!((peers.voter, peers.broker), (false, true));
    assert_eq!(
        peers.listen, "10.0.0.4:0",
        "its port is the kernel's choice"
    );
    let controller = with_overrides(&[
        "process.roles=controller",
        "node.id=1",
        "listeners=CONTROLLER://:9093",
        "controller.listener.names=CONTROLLER",
        "controller.quorum.voters=1@a:9093,2@b:9093,3@c:9093",
    ])
    .unwrap();
    assert!(controller.client_listeners().next().is_none());
    let peers = controller.quorum_peers().expect("a quorum");
    assert_eq!((peers.voter, peers.broker), (true, false));
    assert_eq!(peers.listen, "0.0.0.0:9093");
    // One controller alone is a quorum too, when the brokers are other nodes.
    let alone = with_overrides(&[
        "process.roles=controller",
        "node.id=1",
        "listeners=CONTROLLER://:9093",
        "controller.listener.names=CONTROLLER",
        "controller.quorum.voters=1@a:9093",
    ])
    .unwrap();
    assert!(alone.quorum_peers().is_some());
}

#[test]
fn layouts_shoal_cannot_run_yet_stop_with_the_key() {
    let controller = [
        "listeners=PLAINTEXT://:9092,CONTROLLER://:9093",
        "controller.listener.names=CONTROLLER",
    ];
    let with = |extra: &'static str| -> Vec<&'static str> {
        let mut args = controller.to_vec();
        args.push(extra);
        args
    };
    refused(
        &["process.roles=broker"],
        "process.roles",
        "unless controller.quorum.voters or controller.quorum.bootstrap.servers names the controllers",
    );
    refused(
        &["process.roles=controller"],
        "process.roles",
        "unless controller.quorum.voters or controller.quorum.bootstrap.servers names the controllers",
    );
    refused(
        &[
            "process.roles=broker",
            "controller.quorum.voters=1@a:9093,2@b:9093",
        ],
        "controller.quorum.voters",
        "has process.roles=broker and is not one",
    );
    refused(
        &with("process.roles=controller")
            .into_iter()
            .chain(["controller.quorum.voters=2@a:9093"])
            .collect::<Vec<_>>(),
        "controller.quorum.voters",
        "among the voters",
    );
    refused(
        &["process.roles=broker,observer"],
        "process.roles",
        "broker, controller",
    );
    refused(
        &with("controller.quorum.voters=2@a:9093,3@b:9093"),
        "controller.quorum.voters",
        "among the voters",
    );
    refused(
        &["controller.quorum.voters=1@a:9093,2@b:9093"],
        "controller.listener.names",
        "exactly one controller listener",
    );
    refused(
        &with("controller.quorum.voters=2@localhost:9093"),
        "controller.quorum.voters",
        "node.id=1",
    );
    refused(&["listeners=SSL://:9093"], "ssl.keystore.location", "SSL");
    refused(
        &["listeners=INTERNAL://:9092"],
        "listener.security.protocol.map",
        "INTERNAL",
    );
    refused(
        &[
            "listeners=CONTROLLER://:9093",
            "controller.listener.names=CONTROLLER",
        ],
        "listeners",
        "a listener for clients",
    );
    refused(
        &with("inter.broker.listener.name=ELSEWHERE"),
        "inter.broker.listener.name",
        "a listener that listeners uses",
    );
    refused(
        &["controller.listener.names=CONTROLLER"],
        "controller.listener.names",
        "listeners",
    );
    refused(
        &with("inter.broker.listener.name=CONTROLLER"),
        "inter.broker.listener.name",
        "not a controller listener",
    );
    refused(
        &["listener.security.protocol.map=PLAINTEXT:TLS"],
        "listener.security.protocol.map",
        "PLAINTEXT, SSL",
    );
    refused(
        &["zookeeper.connect=localhost:2181"],
        "zookeeper.connect",
        "ZooKeeper",
    );
}

#[test]
fn named_plaintext_listeners_are_served() {
    let c = with_overrides(&[
        "listeners=CLIENT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        "listener.security.protocol.map=CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "advertised.listeners=CLIENT://broker1:19092",
    ])
    .unwrap();
    let client = c.inter_broker_listener().unwrap();
    assert_eq!(client.name, "CLIENT");
    assert_eq!(
        c.advertised_for(client).to_string(),
        "CLIENT://broker1:19092"
    );
}

#[test]
fn several_client_listeners_each_have_their_protocol_and_address() {
    let c = with_overrides(&[
        "listeners=INTERNAL://127.0.0.1:9092,EXTERNAL://0.0.0.0:9094,CONTROLLER://127.0.0.1:9093",
        "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names=CONTROLLER",
        "advertised.listeners=INTERNAL://127.0.0.1:9092,EXTERNAL://broker1.example.com:9094",
        "listener.name.external.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"pw\";",
        "sasl.enabled.mechanisms=PLAIN",
    ])
    .unwrap();
    let names: Vec<&str> = c.client_listeners().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["INTERNAL", "EXTERNAL"]);
    let external = c.client_listeners().nth(1).unwrap();
    assert_eq!(
        c.advertised_for(external).to_string(),
        "EXTERNAL://broker1.example.com:9094"
    );
    assert_eq!(
        c.security_of("INTERNAL").protocol,
        SecurityProtocol::Plaintext
    );
    assert_eq!(
        c.security_of("EXTERNAL").protocol,
        SecurityProtocol::SaslPlaintext
    );
    assert_eq!(
        c.security_of("EXTERNAL")
            .plain_users
            .keys()
            .collect::<Vec<_>>(),
        ["alice"]
    );
    // Without inter.broker.listener.name, other brokers use the one named PLAINTEXT, or
    // else the first; with it, the one it names.
    assert_eq!(c.inter_broker_listener().unwrap().name, "INTERNAL");
    let named = with_overrides(&[
        "listeners=A://127.0.0.1:9092,B://127.0.0.1:9094",
        "listener.security.protocol.map=A:PLAINTEXT,B:PLAINTEXT",
        "inter.broker.listener.name=B",
    ])
    .unwrap();
    assert_eq!(named.inter_broker_listener().unwrap().name, "B");
}

#[test]
fn broker_id_is_node_id() {
    assert_eq!(with_overrides(&["broker.id=5"]).unwrap().node_id, 5);
    assert_eq!(
        with_overrides(&["broker.id=5", "node.id=5"])
            .unwrap()
            .node_id,
        5
    );
    refused(&["broker.id=5", "node.id=6"], "broker.id", "node.id (6)");
    let vars = env(&[("SHOAL_BROKER_ID", "4")]);
    assert_eq!(load(None, &vars, &[]).unwrap().node_id, 4);
}

#[test]
fn inert_keys_get_one_notice_each_from_any_layer() {
    let file = toml_file("num.io.threads = 8\n");
    let vars = env(&[("SHOAL_NUM_IO_THREADS", "16")]);
    let args = vec![
        "num.io.threads=32".to_string(),
        "num.network.threads=3".to_string(),
    ];
    let (_, notices) = BrokerConfig::load(Some(file.path()), &vars, &args).unwrap();
    assert_eq!(
        notices,
        vec![
            "num.io.threads=32 is accepted and has no effect: each core's shard handles its own connections' requests",
            "num.network.threads=3 is accepted and has no effect: each core's shard reads and writes its own connections",
        ]
    );
    let (_, notices) = BrokerConfig::load(None, &[], &[]).unwrap();
    assert!(notices.is_empty(), "{notices:?}");
}

#[test]
fn unknown_names_stop_the_broker_with_the_closest_known() {
    let err = with_overrides(&["num.partition=3"])
        .unwrap_err()
        .to_string();
    assert!(err.contains(r#"did you mean "num.partitions"?"#), "{err}");
    let err = with_overrides(&["retention.ms=1000"])
        .unwrap_err()
        .to_string();
    assert!(err.contains(r#"did you mean "log.retention.ms"?"#), "{err}");
    let err = with_overrides(&["completely.different=1"])
        .unwrap_err()
        .to_string();
    assert!(!err.contains("did you mean"), "{err}");
    let err = load(None, &env(&[("SHOAL_NUM_PARTITION", "3")]), &[]).unwrap_err();
    assert!(matches!(err, ConfigError::UnknownVariable { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("did you mean \"SHOAL_NUM_PARTITIONS\"?"),
        "{err}"
    );
    let err = load(None, &env(&[("SHOAL_BIN", "/x")]), &[]).unwrap_err();
    assert!(err.to_string().contains("SHOAL_BIN"), "{err}");
    let err = load(None, &env(&[("SHOAL_ZOOKEEPER_CONNECT", "zk:2181")]), &[]).unwrap_err();
    assert!(err.to_string().contains("needs no ZooKeeper"), "{err}");
}

fn parsed(text: &str) -> Vec<(String, String)> {
    parse_properties(Path::new("t.properties"), text.as_bytes()).unwrap()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn properties_read_as_java_reads_them() {
    let text = "# a comment\n! another\n\n  log.dirs = /a,\\\n     /b\nnum.partitions:3\n\
                node.id 7\nkey\\ with\\ spaces=v\\=1\\:2\\\\\nunicode=caf\\u00e9 Ω\n\
                num.partitions=4\nempty=\n";
    assert_eq!(
        parsed(text),
        pairs(&[
            ("log.dirs", "/a,/b"),
            ("num.partitions", "3"),
            ("node.id", "7"),
            ("key with spaces", "v=1:2\\"),
            ("unicode", "café Ω"),
            ("num.partitions", "4"),
            ("empty", ""),
        ])
    );
    // The last of a repeated key wins, as in java.util.Properties.
    let file = properties_file("num.partitions=3\nnum.partitions=4\n");
    assert_eq!(load(Some(file.path()), &[], &[]).unwrap().num_partitions, 4);
}

#[test]
fn malformed_properties_name_the_file_and_line() {
    let file = properties_file("num.partitions=3\nbad=\\u12\n");
    let err = load(Some(file.path()), &[], &[]).unwrap_err();
    assert!(
        matches!(err, ConfigError::Properties { line: 2, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains(&file.path().display().to_string()), "{text}");
    assert!(
        !text.contains('\n') && !text.contains("line_number"),
        "{text}"
    );
    let missing = load(Some(Path::new("/nonexistent/server.properties")), &[], &[]);
    assert!(matches!(missing, Err(ConfigError::Io { .. })));
}

proptest! {
    /// Whatever a properties writer escapes (separators, comment marks, backslashes,
    /// blanks at either end, non-ASCII), the reader gives back.
    #[test]
    fn written_properties_read_back(
        items in proptest::collection::vec(("[a-z.=: #!\\\\é]{1,12}", "[ -~é\u{3a9}\t]{0,24}"), 0..8),
    ) {
        let mut out: Vec<u8> = Vec::new();
        {
            let mut writer =
                java_properties::PropertiesWriter::new_with_encoding(&mut out, encoding_rs::UTF_8);
            for (k, v) in &items {
                writer.write(k, v).unwrap();
            }
            writer.finish().unwrap();
        }
        let read = parse_properties(Path::new("p.properties"), &out[..]).unwrap();
        prop_assert_eq!(read, items);
    }

    /// Every broker value, described and written out as server.properties, loads back to
    /// the same description.
    #[test]
    fn described_config_round_trips_through_properties(
        partitions in 1..1000i32,
        retention_ms in -1..i64::from(i32::MAX),
        dirs in proptest::collection::vec("/[a-z0-9é]{1,10}", 1..3),
    ) {
        let mut dirs = dirs;
        dirs.sort();
        dirs.dedup();
        let args = vec![
            format!("num.partitions={partitions}"),
            format!("log.retention.ms={retention_ms}"),
            format!("log.dirs={}", dirs.join(",")),
        ];
        let c = load(None, &[], &args).unwrap();
        let mut out: Vec<u8> = Vec::new();
        {
            let mut writer =
                java_properties::PropertiesWriter::new_with_encoding(&mut out, encoding_rs::UTF_8);
            for entry in c.describe() {
                if let Some(value) = &entry.value {
                    writer.write(&entry.name, value).unwrap();
                }
            }
            writer.finish().unwrap();
        }
        let mut file = tempfile::Builder::new().suffix(".properties").tempfile().unwrap();
        file.write_all(&out).unwrap();
        let again = load(Some(file.path()), &[], &[]).unwrap();
        let values = |c: &BrokerConfig| -> Vec<(String, Option<String>)> {
            c.describe().into_iter().map(|e| (e.name, e.value)).collect()
        };
        prop_assert_eq!(values(&again), values(&c));
    }
}

#[test]
fn brokers_log_in_to_each_other_as_the_inter_broker_listener_asks() {
    let quorum = [
        "listeners=SASL_PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        "controller.listener.names=CONTROLLER",
        "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9193",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
    ];
    let module = "listener.name.sasl_plaintext.plain.sasl.jaas.config=\
        org.apache.kafka.common.security.plain.PlainLoginModule required \
        username=\"broker\" password=\"secret\" user_broker=\"secret\";";
    let with = |extra: &[&str]| with_overrides(&[&quorum[..], extra].concat());
    // Kafka's default mechanism, GSSAPI, is not served.
    let error = with(&[module]).unwrap_err().to_string();
    assert!(
        error.contains("sasl.mechanism.inter.broker.protocol"),
        "{error}"
    );
    let c = with(&[module, "sasl.mechanism.inter.broker.protocol=PLAIN"]).unwrap();
    let login = c.inter_broker_login.clone().expect("a login");
    assert_eq!(
        (
            login.mechanism,
            login.username.as_str(),
            login.password.as_str()
        ),
        (Mechanism::Plain, "broker", "secret")
    );
    assert!(!format!("{login:?}").contains("secret"), "{login:?}");
    // SCRAM's login module names no users: only the broker's own login.
    let scram = "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=\
        org.apache.kafka.common.security.scram.ScramLoginModule required \
        username=\"broker\" password=\"pw\";";
    let c = with(&[
        module,
        scram,
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
    ])
    .unwrap();
    assert_eq!(c.inter_broker_login.unwrap().username, "broker");
    let error = with(&["sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512", module])
        .unwrap_err()
        .to_string();
    assert!(error.contains("scram-sha-512.sasl.jaas.config"), "{error}");
    // A cluster of one has no other broker to log in to.
    let alone = with_overrides(&[quorum[0], quorum[1], quorum[3], module]).unwrap();
    assert!(alone.inter_broker_login.is_none());
}

#[test]
fn a_quorums_controller_listener_may_speak_ssl() {
    let ssl = [
        "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
        "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9193",
        "ssl.keystore.type=PEM",
        "listener.name.controller.ssl.keystore.location=/etc/shoal/controller.pem",
        "ssl.truststore.type=PEM",
        "listener.name.controller.ssl.truststore.location=/etc/shoal/ca.pem",
        "listener.name.controller.ssl.client.auth=required",
    ];
    let c = with_overrides(&ssl).unwrap();
    let keystore = c.controller_tls.expect("TLS settings").keystore;
    assert_eq!(
        keystore,
        crate::security::tls::Keystore::File("/etc/shoal/controller.pem".into())
    );
    // Each node must show a certificate: the quorum believes its peers.
    let error = with_overrides(&ssl[..ssl.len() - 1])
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("listener.name.controller.ssl.client.auth"),
        "{error}"
    );
    // A broker-only node dials the voters as the map says: with their TLS settings.
    let error = with_overrides(&[
        "process.roles=broker",
        "node.id=4",
        "listeners=PLAINTEXT://127.0.0.1:9092",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL",
        "controller.quorum.voters=1@127.0.0.1:9093",
    ])
    .unwrap_err()
    .to_string();
    assert!(error.contains("ssl.keystore.location"), "{error}");
}

#[test]
fn a_quorums_controller_listener_may_ask_for_a_plain_login() {
    let jaas = "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"node\" password=\"node-secret\" user_node=\"node-secret\";";
    let sasl = [
        "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9193",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        jaas,
        "sasl.mechanism.controller.protocol=PLAIN",
    ];
    let c = with_overrides(&sasl).unwrap();
    let login = c.controller_login.expect("a login");
    assert_eq!(login.dial.username, "node");
    assert_eq!(login.accept.plain_users.len(), 1);
    assert!(c.controller_tls.is_none());
    assert!(!format!("{login:?}").contains("node-secret"), "{login:?}");
    // Kafka's default mechanism, GSSAPI; SCRAM, whose users live in the quorum; a
    // login module without this node's own user.
    let mut scram = sasl.to_vec();
    scram[4] = "listener.name.controller.sasl.enabled.mechanisms=SCRAM-SHA-512";
    scram[6] = "sasl.mechanism.controller.protocol=SCRAM-SHA-512";
    let unnamed = "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_node=\"node-secret\";";
    let mut anonymous = sasl.to_vec();
    anonymous[5] = unnamed;
    for (args, expected) in [
        (&sasl[..6], "sasl.mechanism.controller.protocol"),
        (&scram[..], "sasl.mechanism.controller.protocol"),
        (&anonymous[..], "username"),
    ] {
        let error = with_overrides(args).unwrap_err().to_string();
        assert!(error.contains(expected), "{args:?}: {error}");
        assert!(!error.contains("node-secret"), "{error}");
    }
}

#[test]
fn security_inter_broker_protocol_names_the_inter_broker_listener_as_kafka_does() {
    let listeners = "listeners=PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9094";
    let tls = [
        "ssl.keystore.type=PEM",
        "ssl.keystore.location=/etc/shoal/b.pem",
    ];
    let c =
        with_overrides(&[&[listeners, "security.inter.broker.protocol=SSL"], &tls[..]].concat())
            .unwrap();
    assert_eq!(c.inter_broker_listener().unwrap().name, "SSL");
    let both = [
        listeners,
        "security.inter.broker.protocol=SSL",
        "inter.broker.listener.name=PLAINTEXT",
    ];
    let error = with_overrides(&[&both[..], &tls[..]].concat())
        .unwrap_err()
        .to_string();
    assert!(error.contains("security.inter.broker.protocol"), "{error}");
    let error = with_overrides(&["security.inter.broker.protocol=SASL_SSL"])
        .unwrap_err()
        .to_string();
    assert!(error.contains("a listener that listeners uses"), "{error}");
}

#[test]
fn a_listener_s_endpoint_identification_says_whether_nodes_check_each_other_s_host() {
    let tls = [
        "listeners=SSL://127.0.0.1:9093",
        "ssl.keystore.type=PEM",
        "ssl.keystore.location=/k.pem",
    ];
    for (algorithm, check_host) in [("", false), ("HTTPS", true)] {
        let own = format!("listener.name.ssl.ssl.endpoint.identification.algorithm={algorithm}");
        let c = with_overrides(&[&tls[..], &[own.as_str()]].concat()).unwrap();
        let settings = c.security_of("SSL").tls.clone().expect("TLS settings");
        assert_eq!(settings.check_host, check_host, "{algorithm:?}");
    }
}

#[test]
fn bootstrap_servers_without_voters_make_a_quorum_whose_voters_the_log_names() {
    let dir = tempfile::tempdir().unwrap();
    let log_dirs = format!("log.dirs={}", dir.path().display());
    let node = |extra: &[&str]| {
        let mut args = vec![
            "node.id=2",
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            "controller.listener.names=CONTROLLER",
            "controller.quorum.bootstrap.servers=a:9093,b:9093",
            log_dirs.as_str(),
        ];
        args.extend_from_slice(extra);
        with_overrides(&args).unwrap()
    };
    // A combined node is a cluster of one until `shoal format` made its log dir a
    // quorum's (Kafka's quick-start file names only itself, and runs so).
    let (combined, notices) = {
        let file = properties_file(&format!(
            "node.id=2\nlisteners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093\n\
             controller.listener.names=CONTROLLER\ncontroller.quorum.bootstrap.servers=a:9093\n{log_dirs}\n"
        ));
        BrokerConfig::load(Some(file.path()), &[], &[]).unwrap()
    };
    assert_eq!(combined.quorum_peers(), None);
    assert!(
        notices.iter().any(|n| n.contains("a:9093 is not used")),
        "{notices:?}"
    );
    // Several servers name a quorum it is not part of yet.
    let err = {
        let args = [
            "node.id=2",
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            "controller.listener.names=CONTROLLER",
            "controller.quorum.bootstrap.servers=a:9093,b:9093",
            log_dirs.as_str(),
        ];
        with_overrides(&args).unwrap_err().to_string()
    };
    assert!(err.contains("unless `shoal format`"), "{err}");
    std::fs::create_dir(dir.path().join(crate::quorum::disk::DIR)).unwrap();
    let peers = node(&[]).quorum_peers().expect("a quorum");
    assert!(peers.voters.is_empty());
    assert_eq!(peers.bootstrap, vec!["a:9093", "b:9093"]);
    assert_eq!(
        node(&[]).controller_endpoint().map(|e| (e.host, e.port)),
        Some(("127.0.0.1".to_string(), 9093))
    );
    // Controller-only and broker-only nodes need no format.
    let other = tempfile::tempdir().unwrap();
    let other_dirs = format!("log.dirs={}", other.path().display());
    let controller = node(&[
        "process.roles=controller",
        "listeners=CONTROLLER://:9093",
        other_dirs.as_str(),
    ]);
    assert!(controller.quorum_peers().is_some());
    assert_eq!(
        controller.controller_endpoint().map(|e| e.host),
        Some("localhost".to_string()),
        "a wildcard listener is reached at localhost"
    );
    let broker = node(&[
        "process.roles=broker",
        "listeners=PLAINTEXT://127.0.0.1:9092",
        other_dirs.as_str(),
    ]);
    let peers = broker.quorum_peers().expect("a quorum");
    assert_eq!((peers.voter, peers.broker), (false, true));
    assert_eq!(broker.controller_endpoint(), None);
    // With voters, the bootstrap servers are not used.
    let fixed = node(&["controller.quorum.voters=1@a:9093,2@127.0.0.1:9093"]);
    assert!(fixed.quorum_peers().unwrap().bootstrap.is_empty());
}

#[test]
fn kafka_keys_without_effect_are_taken_at_their_values_and_none_is_also_a_key_of_shoals() {
    for name in super::kafka_inert::names() {
        assert!(
            super::broker_keys::find(name).is_none(),
            "{name} is a key of shoal's and of the inert tables"
        );
    }
    for name in super::kafka_inert::INERT_GROUPS
        .iter()
        .flat_map(|(_, keys)| keys.iter())
    {
        let (_, notices) = BrokerConfig::load(None, &[], &[format!("{name}=1")]).unwrap();
        assert!(notices[0].contains("has no effect"), "{notices:?}");
    }
    for (name, accepted, _) in super::kafka_inert::DEFAULT_ONLY {
        for value in *accepted {
            let (_, notices) = BrokerConfig::load(None, &[], &[format!("{name}={value}")]).unwrap();
            assert!(
                notices[0].starts_with(&format!("{name}={value} is accepted: ")),
                "{notices:?}"
            );
        }
        let err = with_overrides(&[&format!("{name}=something-else")]).unwrap_err();
        assert!(err.to_string().contains("shoal takes only"), "{err}");
    }
}
