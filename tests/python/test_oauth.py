"""SASL/OAUTHBEARER with Kafka's KIP-768 settings: tokens (JWTs, RS256) signed here with keys
made by openssl, checked by the broker against a JWKS file; the token's subject is the
principal ACLs see. Expired tokens, tokens for another audience or issuer, of an unknown key
or unsigned are refused with RFC 7628's invalid_token; a rotated JWKS is read again. Clients:
confluent-kafka (oauth_cb), kafka-python (a token provider) and kcat (librdkafka's unsecured
JWT, which must be refused)."""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

import kafka_wire as kw
from clients import _OPEN, base_conf, kcat_bin, login_refused, produce_all, unique_topic, wait_futures
from pki import Pki, openssl

AUDIENCE = "shoal-test"
ISSUER = "https://issuer.test"
VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """An RSA key, its JWK, and the RS256 tokens it signs (with openssl)."""

    def __init__(self, folder: pathlib.Path, kid: str):
        self.kid, self.key = kid, folder / f"{kid}.pem"
        openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", self.key.name, cwd=folder)
        modulus = subprocess.run(["openssl", "rsa", "-in", str(self.key), "-noout", "-modulus"], check=True,
                                 capture_output=True, text=True).stdout.strip().split("=", 1)[1]
        self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                    "n": b64url(bytes.fromhex(modulus)), "e": "AQAB"}

    def token(self, sub: str, lifetime: int = 600, **claims) -> str:
        now = int(time.time())
        header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": self.kid}).encode())
        body = {"sub": sub, "iat": now, "exp": now + lifetime, "aud": AUDIENCE, "iss": ISSUER, **claims}
        payload = b64url(json.dumps(body).encode())
        signed = f"{header}.{payload}"
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)], input=signed.encode(),
                                   check=True, capture_output=True).stdout
        return f"{signed}.{b64url(signature)}"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    folder = tmp_path_factory.mktemp("oauth")
    return folder, Pki(folder / "pki"), Signer(folder, "key-1"), Signer(folder, "key-2")


@pytest.fixture
def cores() -> int:
    return 2


def write_jwks(path: pathlib.Path, *signers: Signer) -> None:
    """Writes the key set whole under another name, then renames it over `path`."""
    fresh = path.with_suffix(".new")
    fresh.write_text(json.dumps({"keys": [s.jwk for s in signers]}))
    os.replace(fresh, path)


def oauth_settings(keys, jwks: pathlib.Path, **extra) -> dict:
    _, pki, _, _ = keys
    return {
        "listeners": "SASL_SSL://127.0.0.1:0",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.keystore("broker")),
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class": VALIDATOR,
        "sasl.oauthbearer.jwks.endpoint.url": f"file://{jwks}",
        "sasl.oauthbearer.expected.audience": AUDIENCE,
        "sasl.oauthbearer.expected.issuer": ISSUER,
        **extra,
    }


def token_conf(keys, token: str) -> dict:
    """confluent-kafka settings logging in with `token` (oauth_cb hands it over)."""
    _, pki, _, _ = keys
    return {"security.protocol": "SASL_SSL", "ssl.ca.location": str(pki.ca), "sasl.mechanism": "OAUTHBEARER",
            "oauth_cb": lambda _config: (token, time.time() + 600)}


def refused(broker, keys, token: str) -> KafkaError:
    """The error a client logging in with `token` is refused with."""
    return login_refused({**base_conf(broker), **token_conf(keys, token)})


def client(kind, broker, conf: dict, **extra):
    """A confluent-kafka client of `kind` with `conf` as given (keys such as oauth_cb keep
    their underscores), closed when the test ends (clients' registry), its token fetched."""
    made = kind({**base_conf(broker, **extra), **conf})
    _OPEN.append(made)
    made.poll(1)  # oauth_cb is served by a poll
    return made


def test_a_signed_token_logs_in_as_its_subject_and_acls_see_it(start_broker, keys):
    folder, _, signer, _ = keys
    jwks = folder / "jwks-acl.json"
    write_jwks(jwks, signer)
    b = start_broker(oauth_settings(keys, jwks, **{
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin-service",
    }))
    a = client(AdminClient, b, token_conf(keys, signer.token("admin-service")))
    topic = unique_topic("oauth")
    wait_futures(a.create_topics([NewTopic(topic, 1, 1)]))
    allow = [AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*", op,
                        AclPermissionType.ALLOW) for op in (AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.READ)]
    wait_futures(a.create_acls(allow))
    p = client(Producer, b, token_conf(keys, signer.token("alice")))
    produce_all(p, topic, [{"value": b"by alice", "partition": 0}])

    bob = client(Producer, b, token_conf(keys, signer.token("bob")), message_timeout_ms=5000)
    errors = []
    bob.produce(topic, b"denied", partition=0, on_delivery=lambda err, msg: errors.append(err))
    bob.flush(15)
    assert len(errors) == 1 and errors[0] is not None and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # kafka-python, with a token provider.
    from kafka import KafkaConsumer, TopicPartition
    from kafka.net.sasl.oauth import AbstractTokenProvider

    class Provider(AbstractTokenProvider):
        def token(self):
            return signer.token("alice")

    _, pki, _, _ = keys
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, security_protocol="SASL_SSL", ssl_cafile=str(pki.ca),
                      sasl_mechanism="OAUTHBEARER", sasl_oauth_token_provider=Provider(),
                      auto_offset_reset="earliest", consumer_timeout_ms=10000)
    try:
        c.assign([TopicPartition(topic, 0)])
        # The one record (iterating further would only wait out consumer_timeout_ms).
        assert next(c).value == b"by alice"
    finally:
        c.close()


def test_tokens_that_do_not_validate_are_refused_with_invalid_token(start_broker, keys):
    folder, pki, signer, stranger = keys
    jwks = folder / "jwks-refused.json"
    write_jwks(jwks, signer)
    b = start_broker(oauth_settings(keys, jwks, **{"sasl.oauthbearer.clock.skew.seconds": "5"}))
    for token in (
        signer.token("alice", lifetime=-60),                 # expired, past the skew
        signer.token("alice", aud="someone-else"),          # another audience
        signer.token("alice", iss="https://elsewhere"),     # another issuer
        stranger.token("alice"),                            # a key the JWKS does not hold
        signer.token("alice").rsplit(".", 1)[0] + "." + b64url(b"forged"),  # a bad signature
    ):
        error = refused(b, keys, token)
        assert "invalid_token" in error.str(), error
    # librdkafka's unsecured JWT (alg none), as kcat makes it.
    args = [kcat_bin(), "-b", b.bootstrap, "-X", "security.protocol=SASL_SSL", "-X", f"ssl.ca.location={pki.ca}",
            "-X", "sasl.mechanisms=OAUTHBEARER", "-X", "enable.sasl.oauthbearer.unsecure.jwt=true",
            "-X", "sasl.oauthbearer.config=principal=alice", "-L", "-m", "5"]
    unsigned = subprocess.run(args, capture_output=True, timeout=30)
    assert unsigned.returncode != 0
    assert b"invalid_token" in unsigned.stderr, unsigned.stderr
    # The broker still serves a good token.
    good = client(AdminClient, b, token_conf(keys, signer.token("alice")))
    wait_futures(good.create_topics([NewTopic(unique_topic("after"), 1, 1)]))


def test_a_rotated_jwks_is_read_again(start_broker, keys):
    folder, _, old, new = keys
    jwks = folder / "jwks-rotated.json"
    write_jwks(jwks, old)
    b = start_broker(oauth_settings(keys, jwks))
    assert "invalid_token" in refused(b, keys, new.token("alice")).str()
    write_jwks(jwks, old, new)
    # Each shard reads the file again on a connection at least a second after its last look.
    deadline, in_a_row = time.monotonic() + 30, 0
    while in_a_row < 4:
        assert time.monotonic() < deadline, "the rotated JWKS was not taken within 30 s"
        a = client(AdminClient, b, token_conf(keys, new.token("alice")))
        try:
            a.list_topics(timeout=5)
            in_a_row += 1
        except KafkaException:
            in_a_row = 0
    topic = unique_topic("rotated")
    p = client(Producer, b, token_conf(keys, new.token("alice")))
    produce_all(p, topic, [{"value": b"new key", "partition": 0}])


def test_a_login_holds_only_while_its_token_is_valid(start_broker, keys):
    """Kafka bounds an OAUTHBEARER login by its token's expiry, whatever
    connections.max.reauth.ms says: the client is told the lifetime, and the first request
    after it closes the connection."""
    folder, _, signer, _ = keys
    jwks = folder / "jwks-lifetime.json"
    write_jwks(jwks, signer)
    b = start_broker(oauth_settings(keys, jwks, **{
        "listeners": "SASL_PLAINTEXT://127.0.0.1:0",
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": VALIDATOR,
    }))
    token = signer.token("alice", lifetime=3)
    with kw.Conn(b.bootstrap) as c:
        assert kw.Reader(c.request(17, 1, kw.string("OAUTHBEARER"))).i16() == 0
        first = b"n,,\x01auth=Bearer " + token.encode() + b"\x01\x01"
        # The broker starts the session between sending and answering, so the clock starts
        # before the request goes out.
        logged_in = time.monotonic()
        rd = kw.Reader(c.request(36, 1, kw.nbytes(first)))
        assert rd.i16() == 0
        rd.string()
        rd.nbytes()
        lifetime = rd.i64()
        assert 0 < lifetime <= 3000, lifetime
        while True:
            try:
                c.request(kw.METADATA, 1, kw.metadata_v1([]), timeout=10)
            except kw.Closed:
                break
            assert time.monotonic() - logged_in < 15, "a login past its token's expiry was still served"
        assert time.monotonic() - logged_in >= lifetime / 1000


@pytest.mark.parametrize("settings, expected", [
    ({"listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class": ""}, "JWKS only"),
    ({"sasl.oauthbearer.jwks.endpoint.url": "https://issuer.test/jwks"}, "file: URL"),
    ({"sasl.oauthbearer.jwks.endpoint.url": "file:///nonexistent/jwks.json"}, "/nonexistent/jwks.json"),
    ({"sasl.oauthbearer.clock.skew.seconds": "soon"}, "sasl.oauthbearer.clock.skew.seconds"),
])
def test_oauth_settings_that_cannot_work_stop_the_broker(tmp_path, keys, settings, expected):
    from conftest import shoal_bin
    folder, _, signer, _ = keys
    jwks = folder / "jwks-settings.json"
    write_jwks(jwks, signer)
    argv = [str(shoal_bin()), "serve"]
    for key, value in {**oauth_settings(keys, jwks), "log.dirs": str(tmp_path), **settings}.items():
        argv += ["--override", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    done = subprocess.run(argv, capture_output=True, timeout=60, env=env)
    assert done.returncode != 0
    assert expected.encode() in done.stderr, done.stderr
