"""TLS listeners (SSL, SASL_SSL) with Kafka's PEM settings, against certificates this module
makes with openssl: produce and fetch through confluent-kafka, kafka-python and kcat; SCRAM and
PLAIN over SASL_SSL; client certificates (ssl.client.auth) whose subjects become principals
through ssl.principal.mapping.rules, with ACLs over them; a certificate replaced on disk while
the broker runs; a plaintext client on a TLS listener and the reverse; settings that cannot
work stopping the start."""

from __future__ import annotations

import os
import pathlib
import socket
import ssl
import subprocess
import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

import kafka_wire as kw
from pki import Pki
from clients import (admin, base_conf, consume_all, kcat_bin, produce_all, producer, unique_topic, wait_futures,
                     watermarks)
from test_prometheus import scrape

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret";'


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def cores() -> int:
    """Two shards: connections land on either, each with its own TLS config."""
    return 2


def tls_settings(pki: Pki, listener: str = "SSL", **extra) -> dict:
    return {
        "listeners": f"{listener}://127.0.0.1:0",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.keystore("broker")),
        **extra,
    }


def tls_conf(pki: Pki, **extra) -> dict:
    """confluent-kafka settings for an SSL listener."""
    return {"security.protocol": "SSL", "ssl.ca.location": str(pki.ca), **extra}


def as_kwargs(conf: dict) -> dict:
    """Settings with dots for the clients helpers, which take them as keyword arguments."""
    return {k.replace(".", "_"): v for k, v in conf.items()}


def tls_socket(broker, pki: Pki, certificate=None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if certificate:
        context.load_cert_chain(*map(str, certificate))
    raw = socket.create_connection((broker.host, broker.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def authentications(broker) -> tuple[float, float]:
    """(successful, failed) authentications over every shard."""
    metrics = scrape(broker)

    def total(name: str) -> float:
        return sum(v for k, v in metrics.items() if k.startswith(f"kafka_server_socket_server_metrics_{name}_authentication_total"))
    return total("successful"), total("failed")


# ---------------------------------------------------------------- SSL

def test_ssl_listener_serves_produce_and_fetch_to_every_client(start_broker, pki):
    b = start_broker(tls_settings(pki))
    conf = tls_conf(pki)
    topic = unique_topic("tls")
    wait_futures(admin(b, **as_kwargs(conf)).create_topics([NewTopic(topic, 2, 1)]))
    # Large records: a fetch answer spans many TLS records and copy steps.
    values = [os.urandom(300_000) + b"%d" % i for i in range(20)]
    produce_all(producer(b, **as_kwargs(conf)), topic, [{"value": v, "partition": i % 2} for i, v in enumerate(values)])
    got = consume_all(b, topic, [0, 1], **conf)
    assert [r.value for r in got[0]] == values[0::2]
    assert [r.value for r in got[1]] == values[1::2]
    copied = sum(v for k, v in scrape(b).items() if k.startswith("shoal_fetch_copied_bytes_total"))
    assert copied >= sum(map(len, values)), copied

    from kafka import KafkaConsumer, KafkaProducer
    common = dict(bootstrap_servers=b.bootstrap, security_protocol="SSL", ssl_cafile=str(pki.ca))
    p = KafkaProducer(**common)
    try:
        p.send(topic, b"from kafka-python", partition=0).get(timeout=30)
    finally:
        p.close()
    c = KafkaConsumer(**common, auto_offset_reset="earliest", consumer_timeout_ms=10000)
    try:
        from kafka import TopicPartition
        c.assign([TopicPartition(topic, 0)])
        # The topic's 11 records (iterating further would only wait out consumer_timeout_ms).
        seen = [m.value for _, m in zip(range(11), c)]
    finally:
        c.close()
    assert seen[-1] == b"from kafka-python" and len(seen) == 11

    kcat = [kcat_bin(), "-b", b.bootstrap, "-X", "security.protocol=SSL", "-X", f"ssl.ca.location={pki.ca}"]
    subprocess.run([*kcat, "-P", "-t", topic, "-p", "1"], input=b"from kcat\n", check=True, timeout=30)
    out = subprocess.run([*kcat, "-C", "-t", topic, "-p", "1", "-o", "-1", "-e", "-q"],
                         capture_output=True, check=True, timeout=30)
    assert out.stdout.strip() == b"from kcat"
    succeeded, _ = authentications(b)
    assert succeeded >= 3, succeeded


def test_sasl_ssl_logs_in_with_scram_and_plain_inside_tls(start_broker, pki):
    b = start_broker(tls_settings(pki, "SASL_SSL", **{
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS,
    }))
    sasl = tls_conf(pki, **{"security.protocol": "SASL_SSL"})
    admin_conf = {**sasl, "sasl.mechanism": "PLAIN", "sasl.username": "admin", "sasl.password": "admin-secret"}
    a = admin(b, **as_kwargs(admin_conf))
    for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
        upsert = UserScramCredentialUpsertion("alice", ScramCredentialInfo(mechanism, 4096), b"alice-pw")
        a.alter_user_scram_credentials([upsert])["alice"].result(10)
    topic = unique_topic("sasl-ssl")
    wait_futures(a.create_topics([NewTopic(topic, 1, 1)]))
    for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        conf = {**sasl, "sasl.mechanism": mechanism, "sasl.username": "alice", "sasl.password": "alice-pw"}
        produce_all(producer(b, **as_kwargs(conf)), topic, [{"value": mechanism.encode(), "partition": 0}])
    got = consume_all(b, topic, [0], **admin_conf)
    assert [r.value for r in got[0]] == [b"SCRAM-SHA-256", b"SCRAM-SHA-512"]

    kcat = [kcat_bin(), "-b", b.bootstrap, "-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={pki.ca}",
            "-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=alice"]
    out = subprocess.run([*kcat, "-X", "sasl.password=alice-pw", "-C", "-t", topic, "-p", "0", "-o", "beginning",
                          "-e", "-q"], capture_output=True, timeout=30)
    assert out.returncode == 0 and out.stdout.split() == [b"SCRAM-SHA-256", b"SCRAM-SHA-512"], out.stderr
    refused = subprocess.run([*kcat, "-X", "sasl.password=wrong", "-L", "-m", "5"], capture_output=True, timeout=30)
    assert refused.returncode != 0
    assert b"invalid credentials with SASL mechanism SCRAM-SHA-512" in refused.stderr, refused.stderr


# ---------------------------------------------------------------- client certificates

def mtls_settings(pki: Pki, auth: str = "required", **extra) -> dict:
    return tls_settings(pki, **{
        "ssl.client.auth": auth,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca),
        "authorizer.class.name": AUTHORIZER,
        **extra,
    })


def test_client_certificates_are_principals_through_the_mapping_rules(start_broker, pki):
    b = start_broker(mtls_settings(pki, **{
        # Engineers by their lower-cased common name; anyone else by the whole subject.
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]+),OU=eng,O=shoal$/$1/L,DEFAULT",
        "super.users": "User:admin",
    }))
    certificate = {name: pki.issue(name, subject, server=False) for name, subject in (
        ("admin", "/O=shoal/OU=eng/CN=Admin"),
        ("alice", "/O=shoal/OU=eng/CN=Alice"),
        ("bob", "/O=shoal/OU=ops/CN=bob"),
    )}

    def conf(name: str, **extra) -> dict:
        crt, key = certificate[name]
        return tls_conf(pki, **{"ssl.certificate.location": str(crt), "ssl.key.location": str(key), **extra})

    topic = unique_topic("mtls")
    a = admin(b, **as_kwargs(conf("admin")))
    wait_futures(a.create_topics([NewTopic(topic, 1, 1)]))
    allow = [AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*", op,
                        AclPermissionType.ALLOW) for op in (AclOperation.WRITE, AclOperation.DESCRIBE)]
    wait_futures(a.create_acls(allow))
    produce_all(producer(b, **as_kwargs(conf("alice"))), topic, [{"value": b"allowed", "partition": 0}])

    # bob's subject matches no RULE: DEFAULT makes it his whole name, which no ACL allows.
    p = producer(b, **as_kwargs(conf("bob", **{"message.timeout.ms": 5000})))
    errors = []
    p.produce(topic, b"denied", partition=0, on_delivery=lambda err, msg: errors.append(err))
    p.flush(15)
    assert len(errors) == 1 and errors[0] is not None and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    whole = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:CN=bob,OU=ops,O=shoal", "*",
                       AclOperation.WRITE, AclPermissionType.ALLOW)
    wait_futures(a.create_acls([whole]))
    produce_all(producer(b, **as_kwargs(conf("bob"))), topic, [{"value": b"bob by his subject", "partition": 0}])

    # Without a certificate, or with one of another CA, there is no connection at all.
    _, failed_before = authentications(b)
    assert refused_tls(b, pki)
    stranger = Pki(pki.dir / "other", "another CA")
    assert refused_tls(b, pki, stranger.issue("eve", "/O=shoal/OU=eng/CN=eve", server=False))
    _, failed = authentications(b)
    assert failed >= failed_before + 2, (failed_before, failed)


def refused_tls(broker, pki: Pki, certificate=None) -> bool:
    """Whether a TLS connection is refused: in the handshake, or by an alert or a close before
    any answer (under TLS 1.3 the client sends its certificate after its side of the handshake
    is done, so it learns of the refusal on its first read)."""
    try:
        with tls_socket(broker, pki, certificate) as s:
            s.sendall(kw.frame(kw.request_header(kw.API_VERSIONS, 0, 1) + kw.api_versions_v0()))
            return s.recv(4) == b""
    except (ssl.SSLError, ConnectionError):
        return True


def test_requested_client_auth_lets_clients_without_a_certificate_in_as_anonymous(start_broker, pki):
    b = start_broker(mtls_settings(pki, "requested", **{"super.users": "User:CN=carol,O=shoal"}))
    crt, key = pki.issue("carol", "/O=shoal/CN=carol", server=False)
    carol = tls_conf(pki, **{"ssl.certificate.location": str(crt), "ssl.key.location": str(key)})
    topic = unique_topic("requested")
    wait_futures(admin(b, **as_kwargs(carol)).create_topics([NewTopic(topic, 1, 1)]))
    anonymous = admin(b, **as_kwargs(tls_conf(pki)))
    with pytest.raises(KafkaException) as raised:
        wait_futures(anonymous.create_topics([NewTopic(unique_topic("anon"), 1, 1)]))
    assert raised.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, raised.value
    # ANONYMOUS may be granted what it needs.
    grant = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:ANONYMOUS", "*",
                       AclOperation.ALL, AclPermissionType.ALLOW)
    wait_futures(admin(b, **as_kwargs(carol)).create_acls([grant]))
    produce_all(producer(b, **as_kwargs(tls_conf(pki))), topic, [{"value": b"anonymous", "partition": 0}])


def test_an_encrypted_private_key_is_read_with_ssl_key_password(start_broker, pki):
    store = pki.encrypted_keystore("locked", "key-secret")
    b = start_broker(tls_settings(pki, **{"ssl.keystore.location": str(store), "ssl.key.password": "key-secret"}))
    topic = unique_topic("locked")
    produce_all(producer(b, **as_kwargs(tls_conf(pki))), topic, [{"value": b"through a locked key", "partition": 0}])
    got = consume_all(b, topic, [0], **as_kwargs(tls_conf(pki)))
    assert [r.value for r in got[0]] == [b"through a locked key"]
    # The broker's own output never shows the password (the harness logs its command line).
    assert not [line for line in b.log_text().splitlines()
                if line.startswith(("[out]", "[err]")) and "key-secret" in line]


# ---------------------------------------------------------------- reload, bad input, settings

def served_certificate(broker, pki: Pki) -> bytes:
    """The certificate a new connection is served, in DER."""
    with tls_socket(broker, pki) as s:
        return s.getpeercert(binary_form=True)


def test_a_certificate_replaced_on_disk_is_served_to_new_connections(start_broker, pki):
    store = pki.keystore("reloaded")
    b = start_broker(tls_settings(pki, **{"ssl.keystore.location": str(store)}))
    first = served_certificate(b, pki)
    # A broken file is not taken: the last good certificate stays in use. The broker looks
    # at its files at most once a second, when a connection comes.
    store.write_text("-----BEGIN CERTIFICATE-----\nYnJva2Vu\n-----END CERTIFICATE-----\n")
    deadline = time.monotonic() + 30
    while "TLS certificates not reloaded" not in b.log_tail(200):
        assert served_certificate(b, pki) == first
        assert time.monotonic() < deadline, "the broken file was never looked at"
    assert served_certificate(b, pki) == first
    # A new certificate, written whole under another name and renamed over the old file.
    # Each shard reloads on its own, on a connection at least a second after its last look:
    # every new connection has the new certificate once 20 in a row have had it.
    renewed = pki.keystore("renewed", "/CN=localhost/O=renewed")
    second = ssl.PEM_cert_to_DER_cert(renewed.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    os.replace(renewed, store)
    deadline, in_a_row = time.monotonic() + 30, 0
    while in_a_row < 20:
        served = served_certificate(b, pki)
        assert served in (first, second)
        in_a_row = in_a_row + 1 if served == second else 0
        assert time.monotonic() < deadline, "the new certificate was not served within 30 s"
    produce_all(producer(b, **as_kwargs(tls_conf(pki))), unique_topic("renewed"), [{"value": b"x", "partition": 0}])


def test_plaintext_and_tls_clients_on_the_wrong_listener_are_closed(start_broker, pki):
    tls = start_broker(tls_settings(pki))
    plain = start_broker({})
    # A Kafka request in the clear to a TLS listener: a TLS alert, then the connection closes.
    raw = socket.create_connection((tls.host, tls.port), timeout=10)
    raw.sendall(kw.frame(kw.request_header(kw.API_VERSIONS, 0, 1) + kw.api_versions_v0()))
    answer = raw.recv(100)
    assert answer[:1] in (b"\x15", b""), answer  # 0x15: a TLS alert record
    # A TLS client hello to a plaintext listener reads as a huge frame length: closed.
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        tls_socket(plain, pki)
    # A connection that starts a handshake and stops holds nobody else up.
    stalled = socket.create_connection((tls.host, tls.port), timeout=10)
    stalled.sendall(b"\x16\x03\x01\x00\x10")
    produce_all(producer(tls, **as_kwargs(tls_conf(pki))), unique_topic("after"), [{"value": b"x", "partition": 0}])
    produce_all(producer(plain), unique_topic("after"), [{"value": b"x", "partition": 0}])
    stalled.close()
    _, failed = authentications(tls)
    assert failed >= 1, failed


@pytest.mark.parametrize("settings, expected", [
    ({"ssl.keystore.type": "JKS"}, "ssl.keystore.type"),
    ({"ssl.keystore.location": "/nonexistent/broker.pem"}, "/nonexistent/broker.pem"),
    ({"ssl.keystore.location": "CA"}, "no private key"),
    ({"ssl.keystore.location": "KEY"}, "holds no certificate"),
    ({"ssl.client.auth": "required"}, "ssl.truststore"),
    ({"ssl.principal.mapping.rules": "RULE:^CN=(.*)$"}, "invalid rule"),
    ({"ssl.cipher.suites": "TLS_RSA_WITH_NULL_SHA"}, "does not offer"),
    ({"ssl.key.password": "secret-pw"}, "ssl.key.password is set, but the private key is not encrypted"),
    ({"ssl.keystore.location": "LOCKED"}, "the private key is encrypted: set ssl.key.password"),
    ({"ssl.keystore.location": "LOCKED", "ssl.key.password": "secret-pw"}, "does not decrypt with ssl.key.password"),
    # Kafka knows https, and empty for no host check, when nodes dial each other.
    ({"listener.name.ssl.ssl.endpoint.identification.algorithm": "ldap"}, "https, or empty"),
])
def test_tls_settings_that_cannot_work_stop_the_broker(tmp_path, pki, settings, expected):
    from conftest import shoal_bin
    files = {"CA": str(pki.ca), "KEY": str(pki.dir / "ca.key")}
    if "LOCKED" in settings.values():
        files["LOCKED"] = str(pki.encrypted_keystore("locked-bad", "the-right-pw"))
    settings = {k: files.get(v, v) for k, v in settings.items()}
    argv = [str(shoal_bin()), "serve"]
    for key, value in {**tls_settings(pki), "log.dirs": str(tmp_path), **settings}.items():
        argv += ["--override", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    done = subprocess.run(argv, capture_output=True, timeout=60, env=env)
    assert done.returncode != 0
    assert expected.encode() in done.stderr, done.stderr
    assert b"secret-pw" not in done.stderr and b"PRIVATE KEY" not in done.stderr


# ---------------------------------------------------------------- shoal's own tools

def test_shoal_tools_speak_tls_with_command_config(start_broker, pki, tmp_path):
    from test_cli import fails, ok

    b = start_broker(mtls_settings(pki, "requested", **{
        "listeners": "SASL_SSL://127.0.0.1:0",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS,
        "super.users": "User:admin",
    }))
    # librdkafka's names for the CA, Java's for the user.
    admin_config = tmp_path / "admin.properties"
    admin_config.write_text(
        f"security.protocol=SASL_SSL\nssl.ca.location={pki.ca}\nsasl.mechanism=PLAIN\n"
        'sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required '
        'username="admin" password="admin-secret";\n')
    login = ["--command-config", str(admin_config)]
    topic = unique_topic("tools-tls")
    ok(b, "topics", "--create", "--topic", topic, "--partitions", "1", *login)
    ok(b, "produce", "--topic", topic, *login, input=b"over tls\n")
    assert topic in ok(b, "topics", "--list", *login).split()
    out = ok(b, "consume", "--topic", topic, "--from-beginning", "--max-messages", "1", *login)
    assert out.strip() == "over tls", out

    # A CA that did not sign the broker's certificate, the system's CAs (none of which
    # did), a host check Kafka does not know.
    stranger = Pki(tmp_path / "stranger", "a stranger CA")
    for text, says in (
        (f"security.protocol=SSL\nssl.ca.location={stranger.ca}\n", "UnknownIssuer"),
        ("security.protocol=SSL\n", "UnknownIssuer"),
        (f"security.protocol=SSL\nssl.ca.location={pki.ca}\nssl.endpoint.identification.algorithm=ldap\n",
         "ssl.endpoint.identification.algorithm=ldap"),
    ):
        config = tmp_path / "bad.properties"
        config.write_text(text)
        err = fails(b, "topics", "--list", "--command-config", str(config))
        assert says in err, err


def test_the_bench_harness_loads_a_sasl_ssl_listener(start_broker, pki, tmp_path):
    """The bench's producer writes on one thread and reads acknowledgements on another,
    both on one TLS session; its consumers and transactions run over TLS too."""
    from test_bench import bench, check_common, check_latency

    b = start_broker(tls_settings(pki, "SASL_SSL", **{
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS,
    }))
    config = tmp_path / "admin.properties"
    config.write_text(
        f"security.protocol=SASL_SSL\nssl.ca.location={pki.ca}\nsasl.mechanism=PLAIN\n"
        "sasl.username=admin\nsasl.password=admin-secret\n")
    login = ("--command-config", str(config))
    topic = unique_topic("bench-tls")
    # Many requests in flight, records of a size that spans TLS records.
    report = bench(b, tmp_path, "end-to-end", "--topic", topic, "--partitions", "2", "--messages", "4000",
                   "--message-size", "20000", "--in-flight", "8", "--consumers", "2", *login)
    check_common(report, "end-to-end")
    assert report["produce"]["records"] == 4000 and report["consume"]["records"] == 4000
    assert report["consume"]["bytes"] == report["produce"]["bytes"]
    check_latency(report["produce"]["latency"], 4000)
    check_latency(report["end_to_end_latency"], 4000)
    conf = as_kwargs({**tls_conf(pki, **{"security.protocol": "SASL_SSL"}), "sasl.mechanism": "PLAIN",
                      "sasl.username": "admin", "sasl.password": "admin-secret"})
    assert sum(len(records) for records in consume_all(b, topic, [0, 1], **conf).values()) == 4000
    report = bench(b, tmp_path, "produce", "--topic", topic, "--messages", "300", "--transactional", "100", *login)
    assert report["transactions"]["count"] == 3
    # 300 records and a commit marker at least per transaction.
    assert sum(watermarks(b, topic, p, **conf)[1] for p in (0, 1)) >= 4303


# ---------------------------------------------------------------- the metrics endpoint

def https_get(address: str, pki: Pki, path: str, certificate=None) -> tuple[int, str]:
    """(status, body) of a GET over TLS to the metrics endpoint at `address`."""
    context = ssl.create_default_context(cafile=str(pki.ca))
    if certificate:
        context.load_cert_chain(*map(str, certificate))
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def test_the_metrics_endpoint_has_its_own_address_serves_tls_to_scrapers_with_a_certificate_and_hides_topics(
        start_broker, pki):
    from test_prometheus import metrics_address

    b = start_broker({
        "metrics.host": "127.0.0.2",
        "metrics.ssl.enabled": "true",
        "metrics.topic.names": "false",
        "listener.name.metrics.ssl.keystore.type": "PEM",
        "listener.name.metrics.ssl.keystore.location": str(pki.keystore("metrics")),
        "listener.name.metrics.ssl.truststore.type": "PEM",
        "listener.name.metrics.ssl.truststore.location": str(pki.ca),
        "listener.name.metrics.ssl.client.auth": "required",
    })
    address = metrics_address(b)
    assert address.startswith("127.0.0.2:"), address
    topic = unique_topic("secret-topic")
    produce_all(producer(b), topic, [{"value": b"v", "partition": 0}])
    scraper = pki.issue("scraper", "/CN=prometheus", server=False)

    status, body = https_get(address, pki, "/metrics", scraper)
    assert status == 200, body
    assert "kafka_server_brokertopicmetrics_messagesin_total " in body
    assert topic not in body and 'topic="' not in body
    assert https_get(address, pki, "/ready", scraper) == (200, "ready\n")
    # Plain HTTP gets no answer; TLS without a client certificate is refused.
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
        try:
            answer = s.recv(4096)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/")
    with pytest.raises((ssl.SSLError, ConnectionError, IndexError)):
        https_get(address, pki, "/metrics")
