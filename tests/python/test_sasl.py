"""SASL on a SASL_PLAINTEXT listener, with Kafka's settings: PLAIN users from the listener's
JAAS config, SCRAM-SHA-256/512 users created through AlterUserScramCredentials, wrong
passwords refused with Kafka's message, ACLs over the principals users log in as, and the
login exchange's bad input. Clients: confluent-kafka, kafka-python and kcat."""

from __future__ import annotations

import os
import struct
import subprocess
import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AclBinding,
    AclOperation,
    AclPermissionType,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

import kafka_wire as kw
from clients import admin, base_conf, consume_all, future_error, kcat_bin, login_refused, produce_all, producer, unique_topic, wait_futures
from test_prometheus import scrape

PASSWORDS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}
JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required " + " ".join(
    f'user_{user}="{password}"' for user, password in PASSWORDS.items()
) + ";"

SASL_AUTHENTICATE = 36
SASL_HANDSHAKE = 17
SASL_AUTHENTICATION_FAILED = 58
ILLEGAL_SASL_STATE = 34
UNSUPPORTED_SASL_MECHANISM = 33


def sasl_settings(**extra) -> dict:
    return {
        "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
        "connection.failed.authentication.delay.ms": "50",
        **extra,
    }


def inter_broker_login(user: str, listener: str = "sasl_plaintext") -> dict:
    """Settings with which brokers log in to each other as `user`, with PLAIN: Kafka's
    `sasl.mechanism.inter.broker.protocol`, and the listener's PLAIN login module with its
    `username` and `password` options besides its users."""
    options = f'username="{user}" password="{PASSWORDS[user]}" '
    module = JAAS.replace(" required ", f" required {options}", 1)
    return {"sasl.mechanism.inter.broker.protocol": "PLAIN",
            f"listener.name.{listener}.plain.sasl.jaas.config": module}


def login_conf(user: str, mechanism: str = "PLAIN", password: str | None = None) -> dict:
    """confluent-kafka settings for logging in as `user`."""
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_username": user,
        "sasl_password": PASSWORDS.get(user, "") if password is None else password,
    }


@pytest.fixture
def cores() -> int:
    """Two shards: connections land on either, and each must see the same users."""
    return 2


@pytest.fixture
def sasl_broker(start_broker):
    return start_broker(sasl_settings())


def refused_login(broker, **conf) -> KafkaError:
    """The error a client reports when its login is refused."""
    return login_refused(base_conf(broker, **conf))


def test_plain_users_produce_and_consume_and_a_wrong_password_is_refused(sasl_broker):
    topic = unique_topic("plain")
    wait_futures(admin(sasl_broker, **login_conf("admin")).create_topics([NewTopic(topic, 1, 1)]))
    produce_all(producer(sasl_broker, **login_conf("alice")), topic, [{"value": b"v%d" % i, "partition": 0} for i in range(5)])
    got = consume_all(sasl_broker, topic, [0], **{k.replace("_", "."): v for k, v in login_conf("bob").items()})
    assert [r.value for r in got[0]] == [b"v%d" % i for i in range(5)]

    for conf in (login_conf("alice", password="wrong"), login_conf("mallory", password="x")):
        error = refused_login(sasl_broker, **conf)
        assert error.code() == KafkaError._AUTHENTICATION, error
        assert "Invalid username or password" in error.str(), error
    error = refused_login(sasl_broker, **login_conf("alice", mechanism="SCRAM-SHA-256"))
    assert error.code() == KafkaError._AUTHENTICATION, error
    metrics = scrape(sasl_broker)
    failed = sum(v for k, v in metrics.items() if k.startswith("kafka_server_socket_server_metrics_failed_authentication_total"))
    succeeded = sum(v for k, v in metrics.items() if k.startswith("kafka_server_socket_server_metrics_successful_authentication_total"))
    assert failed >= 3 and succeeded >= 3, (failed, succeeded)


def test_scram_users_are_created_described_used_and_deleted(sasl_broker):
    a = admin(sasl_broker, **login_conf("admin"))
    upserts = [
        UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"carol-256"),
        UserScramCredentialUpsertion("carol", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"carol-512"),
        UserScramCredentialUpsertion("dave", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"dave-512"),
    ]
    # Kafka takes one change of a user per request: carol twice is refused, and neither
    # of her credentials is set.
    refused = a.alter_user_scram_credentials(upserts)
    refused["dave"].result(10)
    with pytest.raises(KafkaException) as raised:
        refused["carol"].result(10)
    assert raised.value.args[0].code() == KafkaError.DUPLICATE_RESOURCE, raised.value
    with pytest.raises(KafkaException) as raised:
        a.describe_user_scram_credentials(["carol"])["carol"].result(10)
    assert raised.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND, raised.value
    assert "does not exist: carol" in raised.value.args[0].str(), raised.value
    for upsert in upserts[:2]:
        a.alter_user_scram_credentials([upsert])["carol"].result(10)
    described = a.describe_user_scram_credentials(["carol", "dave"])["carol"].result(10)
    assert {(i.mechanism, i.iterations) for i in described.scram_credential_infos} == {
        (ScramMechanism.SCRAM_SHA_256, 4096), (ScramMechanism.SCRAM_SHA_512, 8192)}
    assert set(a.describe_user_scram_credentials().result(10)) == {"carol", "dave"}

    topic = unique_topic("scram")
    wait_futures(a.create_topics([NewTopic(topic, 1, 1)]))
    for mechanism, password in (("SCRAM-SHA-256", "carol-256"), ("SCRAM-SHA-512", "carol-512")):
        p = producer(sasl_broker, **login_conf("carol", mechanism, password))
        produce_all(p, topic, [{"value": mechanism.encode(), "partition": 0}])
    error = refused_login(sasl_broker, **login_conf("carol", "SCRAM-SHA-512", "carol-256"))
    assert error.code() == KafkaError._AUTHENTICATION, error
    assert "invalid credentials with SASL mechanism SCRAM-SHA-512" in error.str(), error

    # Kafka's checks: too few iterations, a credential that is not there to delete.
    bad = a.alter_user_scram_credentials([
        UserScramCredentialUpsertion("erin", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 100), b"x"),
        UserScramCredentialDeletion("dave", ScramMechanism.SCRAM_SHA_256),
    ])
    for user, code in (("erin", KafkaError.UNACCEPTABLE_CREDENTIAL), ("dave", KafkaError.RESOURCE_NOT_FOUND)):
        with pytest.raises(KafkaException) as raised:
            bad[user].result(10)
        assert raised.value.args[0].code() == code, raised.value

    a.alter_user_scram_credentials([UserScramCredentialDeletion("carol", ScramMechanism.SCRAM_SHA_512)])["carol"].result(10)
    error = refused_login(sasl_broker, **login_conf("carol", "SCRAM-SHA-512", "carol-512"))
    assert error.code() == KafkaError._AUTHENTICATION, error
    produce_all(producer(sasl_broker, **login_conf("carol", "SCRAM-SHA-256", "carol-256")), topic, [{"value": b"still", "partition": 0}])


def test_scram_users_survive_a_restart(start_broker):
    b = start_broker(sasl_settings())
    a = admin(b, **login_conf("admin"))
    upsert = UserScramCredentialUpsertion("frank", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"frank-pw")
    a.alter_user_scram_credentials([upsert])["frank"].result(10)
    b.restart()
    topic = unique_topic("restart")
    produce_all(producer(b, **login_conf("frank", "SCRAM-SHA-256", "frank-pw")), topic, [{"value": b"x", "partition": 0}])


def test_acls_follow_the_principal_a_user_logs_in_as(start_broker):
    b = start_broker(sasl_settings(**{
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin",
        "allow.everyone.if.no.acl.found": "false",
    }))
    topic = unique_topic("acl")
    a = admin(b, **login_conf("admin"))
    wait_futures(a.create_topics([NewTopic(topic, 1, 1)]))
    acls = [AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*", op,
                       AclPermissionType.ALLOW) for op in (AclOperation.WRITE, AclOperation.DESCRIBE)]
    wait_futures(a.create_acls(acls))
    produce_all(producer(b, **login_conf("alice")), topic, [{"value": b"allowed", "partition": 0}])

    p = producer(b, **login_conf("bob"), message_timeout_ms=5000)
    errors = []
    p.produce(topic, b"denied", partition=0, on_delivery=lambda err, msg: errors.append(err))
    p.flush(15)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors[0]
    # Only the admin may manage users.
    upsert = UserScramCredentialUpsertion("gina", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"pw")
    with pytest.raises(KafkaException) as raised:
        admin(b, **login_conf("alice")).alter_user_scram_credentials([upsert])["gina"].result(10)
    assert raised.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def test_kafka_python_logs_in_with_scram_and_plain(sasl_broker):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.errors import KafkaError as PyKafkaError

    a = admin(sasl_broker, **login_conf("admin"))
    upsert = UserScramCredentialUpsertion("hana", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"hana-pw")
    a.alter_user_scram_credentials([upsert])["hana"].result(10)
    topic = unique_topic("kpy")
    wait_futures(a.create_topics([NewTopic(topic, 1, 1)]))
    common = dict(bootstrap_servers=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT")
    p = KafkaProducer(**common, sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="hana",
                      sasl_plain_password="hana-pw", enable_idempotence=False)
    try:
        p.send(topic, b"from kafka-python", partition=0).get(timeout=30)
    finally:
        p.close()
    c = KafkaConsumer(topic, **common, sasl_mechanism="PLAIN", sasl_plain_username="bob",
                      sasl_plain_password="bob-secret", auto_offset_reset="earliest", consumer_timeout_ms=10000)
    try:
        # The one record (iterating further would only wait out consumer_timeout_ms).
        assert next(c).value == b"from kafka-python"
    finally:
        c.close()
    with pytest.raises(PyKafkaError):
        KafkaProducer(**common, sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="hana",
                      sasl_plain_password="wrong", request_timeout_ms=5000, max_block_ms=5000,
                      bootstrap_timeout_ms=3000).close()


def test_kcat_logs_in_with_plain_and_scram(sasl_broker):
    topic = unique_topic("kcat")
    args = ["-b", sasl_broker.bootstrap, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
            "-X", "sasl.username=alice", "-X", f"sasl.password={PASSWORDS['alice']}"]
    wait_futures(admin(sasl_broker, **login_conf("admin")).create_topics([NewTopic(topic, 1, 1)]))
    subprocess.run([kcat_bin(), *args, "-P", "-t", topic, "-p", "0"], input=b"one\ntwo\n", check=True, timeout=30)
    out = subprocess.run([kcat_bin(), *args, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"],
                         capture_output=True, check=True, timeout=30)
    assert out.stdout.split() == [b"one", b"two"]
    # Debian's kcat carries a librdkafka older than 2.6.1, whose SCRAM final message repeats
    # its own nonce before the server's: accepted, as Kafka 3.8.1-3.9 accept it.
    a = admin(sasl_broker, **login_conf("admin"))
    for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
        upsert = UserScramCredentialUpsertion("kim", ScramCredentialInfo(mechanism, 4096), b"kim-pw")
        a.alter_user_scram_credentials([upsert])["kim"].result(10)
    for name in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        scram = ["-b", sasl_broker.bootstrap, "-X", "security.protocol=SASL_PLAINTEXT", "-X", f"sasl.mechanisms={name}",
                 "-X", "sasl.username=kim", "-X", "sasl.password=kim-pw"]
        listed = subprocess.run([kcat_bin(), *scram, "-L", "-t", topic, "-m", "10"], capture_output=True, timeout=30)
        assert listed.returncode == 0 and topic.encode() in listed.stdout, listed.stderr
    bad = [a if not a.startswith("sasl.password=") else "sasl.password=nope" for a in args]
    refused = subprocess.run([kcat_bin(), *bad, "-L", "-m", "5"], capture_output=True, timeout=30)
    assert refused.returncode != 0
    assert b"Invalid username or password" in refused.stderr, refused.stderr


# ---------------------------------------------------------------- the exchange's bad input

def handshake_v1(mechanism: str) -> bytes:
    return kw.string(mechanism)


def authenticate_v0(token: bytes) -> bytes:
    return kw.nbytes(token)


def test_requests_before_the_login_close_the_connection(sasl_broker):
    with kw.Conn(sasl_broker.bootstrap) as c:
        # ApiVersions is answered before the login, as Kafka does.
        versions = kw.parse_api_versions(c.request(kw.API_VERSIONS, 0, kw.api_versions_v0()), 0)
        assert versions.error_code == 0
        c.send(kw.METADATA, 1, kw.metadata_v1(None))
        assert c.wait_closed() == b""


def test_an_unknown_mechanism_is_answered_then_closed(sasl_broker):
    with kw.Conn(sasl_broker.bootstrap) as c:
        body = c.request(SASL_HANDSHAKE, 1, handshake_v1("GSSAPI"))
        rd = kw.Reader(body)
        assert rd.i16() == UNSUPPORTED_SASL_MECHANISM
        assert rd.array(kw.Reader.string) == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        assert c.wait_closed() == b""


@pytest.mark.parametrize("token", [b"", b"\0alice", b"\xff" * 1000, b"\0alice\0" + b"x" * 70000])
def test_malformed_plain_tokens_fail_the_login(sasl_broker, token):
    with kw.Conn(sasl_broker.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
        rd = kw.Reader(c.request(SASL_AUTHENTICATE, 0, authenticate_v0(token)))
        assert rd.i16() == SASL_AUTHENTICATION_FAILED
        assert rd.string()
        assert c.wait_closed() == b""
    produce_all(producer(sasl_broker, **login_conf("alice")), unique_topic("after"), [{"value": b"x"}])


def test_a_frame_over_512_kib_before_the_login_is_closed_unread(sasl_broker):
    with kw.Conn(sasl_broker.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
        c.send_raw(struct.pack(">i", 512 * 1024 + 1) + b"\0" * 100)
        assert c.wait_closed() == b""


def test_sasl_server_max_receive_size_bounds_the_frames_before_the_login(start_broker):
    """Kafka's `sasl.server.max.receive.size`: a frame over it before the login closes the
    connection unread; one within it is read and judged (a wrong password here)."""
    b = start_broker(sasl_settings(**{"sasl.server.max.receive.size": "2048"}))
    with kw.Conn(b.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
        c.send_raw(struct.pack(">i", 2049) + b"\0" * 100)
        assert c.wait_closed() == b""
    with kw.Conn(b.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
        rd = kw.Reader(c.request(SASL_AUTHENTICATE, 0, authenticate_v0(b"\0alice\0" + b"x" * 1500)))
        assert rd.i16() == SASL_AUTHENTICATION_FAILED


@pytest.mark.parametrize("first", [b"", b"n,,", b"x,,n=a,r=b", b"n,,n=nobody,r=abc", b"\xff\xfe"])
def test_malformed_scram_messages_fail_the_login(sasl_broker, first):
    with kw.Conn(sasl_broker.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("SCRAM-SHA-256"))).i16() == 0
        rd = kw.Reader(c.request(SASL_AUTHENTICATE, 0, authenticate_v0(first)))
        assert rd.i16() == SASL_AUTHENTICATION_FAILED
        assert c.wait_closed() == b""


def test_authenticate_before_a_handshake_and_a_second_handshake_are_illegal(sasl_broker):
    # SaslAuthenticate before a handshake: Kafka closes without answering.
    with kw.Conn(sasl_broker.bootstrap) as c:
        c.send(SASL_AUTHENTICATE, 0, authenticate_v0(b"\0alice\0alice-secret"))
        assert c.wait_closed() == b""
    with kw.Conn(sasl_broker.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == ILLEGAL_SASL_STATE
        assert c.wait_closed() == b""


def test_api_versions_is_answered_once_before_the_handshake(sasl_broker):
    """As Kafka's authenticator: an ApiVersions of a version the broker does not know is
    answered and may be retried; a second answered one closes the connection; one after a
    v1 handshake is answered ILLEGAL_SASL_STATE, then the connection closes."""
    with kw.Conn(sasl_broker.bootstrap) as c:
        newer = kw.parse_api_versions(c.request(kw.API_VERSIONS, 99, kw.api_versions_v3(), flexible=True), 0)
        assert newer.error_code == kw.UNSUPPORTED_VERSION
        assert kw.parse_api_versions(c.request(kw.API_VERSIONS, 0, kw.api_versions_v0()), 0).error_code == 0
        c.send(kw.API_VERSIONS, 0, kw.api_versions_v0())
        assert c.wait_closed() == b""
    with kw.Conn(sasl_broker.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
        assert kw.parse_api_versions(c.request(kw.API_VERSIONS, 0, kw.api_versions_v0()), 0).error_code == \
            ILLEGAL_SASL_STATE
        assert c.wait_closed() == b""


def test_another_request_after_a_v1_handshake_gets_its_own_error_answer_then_a_close(sasl_broker):
    """As Kafka's authenticator: where only SaslAuthenticate may come, any other request is
    answered with its own error response (ILLEGAL_SASL_STATE in every entry, with Kafka's
    text where the response has a message), then the connection closes. A request that
    does not parse, or of a version not served, is closed unanswered."""
    with kw.Conn(sasl_broker.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
        metadata = kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1(["a", "b"])))
        assert metadata.topics == {"a": (ILLEGAL_SASL_STATE, []), "b": (ILLEGAL_SASL_STATE, [])}
        assert metadata.brokers == []
        assert c.wait_closed() == b""
    with kw.Conn(sasl_broker.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
        produced = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3("t", 2, b"")))
        assert produced == {("t", 2): (ILLEGAL_SASL_STATE, -1)}
        assert c.wait_closed() == b""
    create_acls_v1 = kw.array([kw.i8(2) + kw.string("t") + kw.i8(3) + kw.string("User:a") + kw.string("*")
                               + kw.i8(3) + kw.i8(3)])
    with kw.Conn(sasl_broker.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
        rd = kw.Reader(c.request(30, 1, create_acls_v1))
        rd.i32()  # throttle
        assert rd.array(lambda r: (r.i16(), r.string())) == [
            (ILLEGAL_SASL_STATE, "Unexpected Kafka request of type CREATE_ACLS during SASL authentication.")]
        assert c.wait_closed() == b""
    for version, body in [(1, b"\0\0\0\5"), (99, kw.metadata_v1([]))]:
        with kw.Conn(sasl_broker.bootstrap) as c:
            assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
            c.send(kw.METADATA, version, body)
            assert c.wait_closed() == b""


def test_a_v0_handshake_takes_bare_tokens(sasl_broker):
    """After SaslHandshake v0 the mechanism's messages come without Kafka's framing, as
    older clients send them: a good PLAIN token gets an empty token back, a bad one a close."""
    with kw.Conn(sasl_broker.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 0, handshake_v1("PLAIN"))).i16() == 0
        c.send_raw(kw.frame(b"\0alice\0alice-secret"))
        assert c._recv_exact(4, 10) == b"\0\0\0\0"  # an empty token
        assert kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1([]))).brokers
    with kw.Conn(sasl_broker.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 0, handshake_v1("PLAIN"))).i16() == 0
        c.send_raw(kw.frame(b"\0alice\0wrong"))
        assert c.wait_closed() == b""


def test_a_plaintext_listener_answers_sasl_requests_illegal_state(broker):
    with kw.Conn(broker.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == ILLEGAL_SASL_STATE
        assert kw.Reader(c.request(SASL_AUTHENTICATE, 0, authenticate_v0(b"\0a\0b"))).i16() == ILLEGAL_SASL_STATE
        versions = kw.parse_api_versions(c.request(kw.API_VERSIONS, 0, kw.api_versions_v0()), 0)
        assert versions.error_code == 0


@pytest.mark.parametrize("settings, expected", [
    ({"sasl.enabled.mechanisms": "GSSAPI"}, "GSSAPI is not served"),
    ({"listener.name.sasl_plaintext.plain.sasl.jaas.config": "Module required"}, "not shown: it holds passwords"),
    ({"listener.name.sasl_plaintext.plain.sasl.jaas.config": "Module required username=\"a\";"}, "user_NAME"),
    ({"listener.name.sasl_plaintext.plain.sasl.jaas.confg": "x"}, "listener-prefixed keys"),
])
def test_sasl_settings_that_cannot_work_stop_the_broker(tmp_path, settings, expected):
    from conftest import shoal_bin
    argv = [str(shoal_bin()), "serve"]
    for key, value in {**sasl_settings(), "log.dirs": str(tmp_path), **settings}.items():
        argv += ["--override", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    done = subprocess.run(argv, capture_output=True, timeout=60, env=env)
    assert done.returncode != 0
    assert expected.encode() in done.stderr, done.stderr
    assert b"alice-secret" not in done.stderr


# ---------------------------------------------------------------- shoal's own tools

def test_shoal_tools_log_in_with_command_config_and_manage_scram_users(sasl_broker, tmp_path):
    from test_cli import fails, ok

    admin_config = tmp_path / "admin.properties"
    admin_config.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required '
        'username="admin" password="admin-secret";\n')
    login = ["--command-config", str(admin_config)]
    # Without a login the broker closes the connection before answering anything.
    fails(sasl_broker, "topics", "--list")
    topic = unique_topic("tools")
    ok(sasl_broker, "topics", "--create", "--topic", topic, "--partitions", "1", *login)
    assert topic in ok(sasl_broker, "topics", "--list", *login).split()

    out = ok(sasl_broker, "configs", "--alter", "--entity-type", "users", "--entity-name", "ivan",
             "--add-config", "SCRAM-SHA-512=[iterations=8192,password=ivan-pw],SCRAM-SHA-256=[password=ivan-256]", *login)
    assert out.strip() == "Completed updating config for user ivan."
    out = ok(sasl_broker, "configs", "--describe", "--entity-type", "users", "--entity-name", "ivan", *login)
    assert out.strip() == "SCRAM credential configs for user-principal 'ivan' are SCRAM-SHA-256=iterations=4096,SCRAM-SHA-512=iterations=8192"

    ivan_config = tmp_path / "ivan.properties"
    ivan_config.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"
                           "sasl.username=ivan\nsasl.password=ivan-pw\n")
    ok(sasl_broker, "produce", "--topic", topic, "--command-config", str(ivan_config), input=b"by ivan\n")
    got = consume_all(sasl_broker, topic, [0], **{k.replace("_", "."): v for k, v in login_conf("ivan", "SCRAM-SHA-512", "ivan-pw").items()})
    assert [r.value for r in got[0]] == [b"by ivan"]

    ok(sasl_broker, "configs", "--alter", "--entity-type", "users", "--entity-name", "ivan",
       "--delete-config", "SCRAM-SHA-512", *login)
    err = fails(sasl_broker, "topics", "--list", "--command-config", str(ivan_config))
    assert "SASL_AUTHENTICATION_FAILED" in err, err
    err = fails(sasl_broker, "configs", "--alter", "--entity-type", "users", "--entity-name", "ivan",
                "--add-config", "SCRAM-SHA-256=[iterations=100,password=x]", *login)
    assert "UNACCEPTABLE_CREDENTIAL" in err and "Too few iterations" in err, err


# ---------------------------------------------------------------- a cluster

def test_a_cluster_shares_its_scram_users_and_runs_transactions_across_brokers(start_broker):
    """Three nodes with SASL_PLAINTEXT client listeners: a SCRAM user created through one
    broker logs in on every broker (the credential is the quorum's), and a transaction whose
    partitions are led by all three commits (the coordinator's markers reach the other
    brokers on their replication ports, where brokers log in as the inter-broker listener
    asks: with PLAIN, as admin)."""
    from conftest import free_ports
    from confluent_kafka import Consumer, Producer, TopicPartition
    from test_quorum import wait_for

    ports = free_ports(3)
    voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(ports))
    brokers = [start_broker({**sasl_settings(**inter_broker_login("admin")), "node.id": i + 1,
                             "controller.quorum.voters": voters,
                             "listeners": f"SASL_PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}",
                             "controller.listener.names": "CONTROLLER", "broker.session.timeout.ms": 2000})
               for i, port in enumerate(ports)]
    everyone = ",".join(b.bootstrap for b in brokers)

    def conf(broker, user, mechanism="PLAIN", password=None, **extra) -> dict:
        settings = {k.replace("_", "."): v for k, v in login_conf(user, mechanism, password).items()}
        return {**base_conf(broker), **settings, **extra}

    a = AdminClient(conf(brokers[0], "admin", **{"bootstrap.servers": everyone}))
    wait_for("three brokers registered", lambda: len(a.list_topics(timeout=10).brokers) == 3)
    upsert = UserScramCredentialUpsertion("lena", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"lena-pw")
    through_first = AdminClient(conf(brokers[0], "admin"))  # kept referenced until it answers
    through_first.alter_user_scram_credentials([upsert])["lena"].result(20)

    def logs_in(broker) -> bool:
        errors: list = []
        client = AdminClient({**conf(broker, "lena", "SCRAM-SHA-512", "lena-pw"), "error_cb": errors.append})
        try:
            client.list_topics(timeout=5)
            return True
        except KafkaException:
            return False
    for b in brokers:
        wait_for(f"{b.name} letting lena log in", lambda: logs_in(b))

    topic = unique_topic("txn")
    # Partition p on broker p + 1: each broker leads one. A broker listed in Metadata may
    # not be unfenced yet, and takes no replica until it is.
    def created() -> bool:
        new = NewTopic(topic, num_partitions=3, replica_assignment=[[1], [2], [3]])
        error = future_error(a.create_topics([new], operation_timeout=20)[topic])
        assert error is None or error.code() in (KafkaError.INVALID_REPLICA_ASSIGNMENT,
                                                 KafkaError.TOPIC_ALREADY_EXISTS), error
        return error is None or error.code() == KafkaError.TOPIC_ALREADY_EXISTS
    wait_for("the topic placed on the three brokers", created)

    def led() -> bool:
        partitions = a.list_topics(topic, timeout=10).topics[topic].partitions or {}
        return {p.id: p.leader for p in partitions.values()} == {0: 1, 1: 2, 2: 3}
    wait_for("each broker leading its partition", led)

    p = Producer(conf(brokers[0], "lena", "SCRAM-SHA-512", "lena-pw",
                      **{"bootstrap.servers": everyone, "transactional.id": unique_topic("tid")}))
    p.init_transactions(30)
    p.begin_transaction()
    for partition in range(3):
        p.produce(topic, value=b"kept-%d" % partition, partition=partition)
    p.commit_transaction(30)
    c = Consumer(conf(brokers[1], "lena", "SCRAM-SHA-512", "lena-pw",
                      **{"bootstrap.servers": everyone, "group.id": unique_topic("g"),
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"}))
    try:
        c.assign([TopicPartition(topic, partition, 0) for partition in range(3)])
        got: list[bytes] = []

        def read_all() -> bool:
            got.extend(m.value() for m in c.consume(10, timeout=1) if m.error() is None)
            return len(got) >= 3
        wait_for("the committed records", read_all)
        assert sorted(got) == [b"kept-0", b"kept-1", b"kept-2"]
    finally:
        c.close()


# ---------------------------------------------------------------- logging in again (KIP-368)

def metric_total(broker, name: str) -> float:
    return sum(v for k, v in scrape(broker).items() if k.startswith(name))


def test_clients_log_in_again_before_their_login_expires(start_broker):
    b = start_broker(sasl_settings(**{"connections.max.reauth.ms": "2000"}))
    topic = unique_topic("reauth")
    wait_futures(admin(b, **login_conf("admin")).create_topics([NewTopic(topic, 1, 1)]))
    p = producer(b, **login_conf("alice"))
    produce_all(p, topic, [{"value": b"first", "partition": 0}])
    logins = metric_total(b, "kafka_server_socket_server_metrics_successful_authentication_total")
    connections = metric_total(b, "kafka_server_socket_server_metrics_connection_creation_total")
    # librdkafka logs in again at about 90% of the 2 s it was told: produce until the broker
    # has seen two more logins, on the connections the producer already had.
    sent = 1
    deadline = time.monotonic() + 30
    while metric_total(b, "kafka_server_socket_server_metrics_successful_authentication_total") < logins + 2:
        assert time.monotonic() < deadline, "the producer did not log in again within 30 s"
        produce_all(p, topic, [{"value": b"v%d" % sent, "partition": 0}])
        sent += 1
    assert metric_total(b, "kafka_server_socket_server_metrics_connection_creation_total") == connections
    got = consume_all(b, topic, [0], **{k.replace("_", "."): v for k, v in login_conf("bob").items()})
    assert [r.value for r in got[0]] == [b"first"] + [b"v%d" % i for i in range(1, sent)]


def plain_login(c: kw.Conn, user: str, password: str) -> int:
    """SaslHandshake v1 and SaslAuthenticate v1 with PLAIN: the session lifetime the
    broker answers."""
    assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
    rd = kw.Reader(c.request(SASL_AUTHENTICATE, 1, authenticate_v0(f"\0{user}\0{password}".encode())))
    assert rd.i16() == 0
    rd.string()
    rd.nbytes()
    return rd.i64()


def test_a_listeners_own_reauth_limit_for_a_mechanism_wins_over_the_brokers(start_broker):
    """Kafka's `listener.name.<listener>.<mechanism>.connections.max.reauth.ms` (its
    documentation's example: `listener.name.sasl_ssl.oauthbearer.connections.max.reauth.ms`)
    bounds the logins of that mechanism on that listener; the others keep the broker's."""
    own = {"connections.max.reauth.ms": "1500", "listener.name.sasl_plaintext.plain.connections.max.reauth.ms": "2500",
           "listener.name.sasl_plaintext.scram-sha-256.connections.max.reauth.ms": "700"}
    b = start_broker(sasl_settings(**own))
    with kw.Conn(b.bootstrap) as c:
        assert plain_login(c, "alice", PASSWORDS["alice"]) == 2500
    others = {"connections.max.reauth.ms": "1500",
              "listener.name.sasl_plaintext.scram-sha-256.connections.max.reauth.ms": "700",
              "listener.name.sasl_plaintext.oauthbearer.connections.max.reauth.ms": "3600000"}
    b = start_broker(sasl_settings(**others))
    with kw.Conn(b.bootstrap) as c:
        assert plain_login(c, "alice", PASSWORDS["alice"]) == 1500


def test_a_login_that_expires_closes_the_connection_and_may_be_renewed_only_as_the_same_user(start_broker):
    b = start_broker(sasl_settings(**{"connections.max.reauth.ms": "1500"}))
    with kw.Conn(b.bootstrap) as c:
        # The broker starts the session between sending and answering: the clock starts
        # before the request goes out, so the expiry is never earlier than logged_in + 1.5.
        logged_in = time.monotonic()
        assert plain_login(c, "alice", PASSWORDS["alice"]) == 1500
        # Requests are served until the login expires; the first one after closes it.
        while True:
            try:
                c.request(kw.METADATA, 1, kw.metadata_v1([]), timeout=10)
            except kw.Closed:
                break
            assert time.monotonic() - logged_in < 15, "the expired login was still served"
        assert time.monotonic() - logged_in >= 1.5
    with kw.Conn(b.bootstrap) as c:
        plain_login(c, "alice", PASSWORDS["alice"])
        # Logging in again as alice renews the login; as bob, closes the connection.
        renewed = time.monotonic()
        assert plain_login(c, "alice", PASSWORDS["alice"]) == 1500
        # A login again sooner than a second after the last began is served as any
        # request would be: ILLEGAL_SASL_STATE, and the connection stays.
        handshake = lambda: kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16()  # noqa: E731
        assert handshake() == ILLEGAL_SASL_STATE
        assert kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1([]))).brokers
        while (answer := handshake()) == ILLEGAL_SASL_STATE:
            assert time.monotonic() - renewed < 10, "no login again was let in a second after the last"
            time.sleep(0.05)
        assert (answer, time.monotonic() - renewed >= 1.0) == (0, True)
        rd = kw.Reader(c.request(SASL_AUTHENTICATE, 1, authenticate_v0(b"\0bob\0" + PASSWORDS["bob"].encode())))
        assert rd.i16() == SASL_AUTHENTICATION_FAILED
        assert "Cannot change principals during re-authentication from User:alice: User:bob" in rd.string()
        assert c.wait_closed() == b""
    with kw.Conn(b.bootstrap) as c:
        plain_login(c, "alice", PASSWORDS["alice"])
        # Another mechanism than the login's: the handshake is answered as any, then the
        # login fails at the next request, unanswered.
        rd = kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("SCRAM-SHA-256")))
        assert (rd.i16(), rd.array(kw.Reader.string)) == (0, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
        c.send(SASL_AUTHENTICATE, 1, authenticate_v0(b"n,,n=alice,r=abcdefgh"))
        assert c.wait_closed() == b""


def login_error(b) -> int | None:
    """A PLAIN login as alice with a wrong password on a new connection: the error code
    answered, or None when the connection is closed before it is answered."""
    try:
        with kw.Conn(b.bootstrap) as c:
            assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
            return kw.Reader(c.request(SASL_AUTHENTICATE, 1, authenticate_v0(b"\0alice\0wrong"))).i16()
    except (kw.Closed, ConnectionError):
        return None


def test_an_address_that_fails_logins_too_fast_is_shut_out_until_it_slows_down(start_broker):
    """Over max.failed.authentication.rate.per.ip (1 a second here, over two windows of
    1 s), an address's new connections are closed at accept, a right password or not,
    until its failed logins slow down."""
    b = start_broker(sasl_settings(**{"max.failed.authentication.rate.per.ip": "1",
                                      "quota.window.num": "2", "quota.window.size.seconds": "1"}))
    errors = []
    while None not in errors:
        assert len(errors) < 20, errors
        errors.append(login_error(b))
    assert set(errors[:-1]) == {SASL_AUTHENTICATION_FAILED} and len(errors) >= 3, errors
    assert "are over max.failed.authentication.rate.per.ip" in b.log_text()
    from test_quorum import wait_for

    def logs_in() -> bool:
        try:
            with kw.Conn(b.bootstrap) as c:
                plain_login(c, "alice", PASSWORDS["alice"])
            return True
        except (kw.Closed, ConnectionError):
            return False
    assert not logs_in()
    # The windows pass without failures: the address is let in again.
    wait_for("the address let in again", logs_in, deadline_s=10)
