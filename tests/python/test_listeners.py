"""Several client listeners at once, as Kafka runs them: an internal PLAINTEXT listener and
an external SASL one, each with its own `advertised.listeners` entry. A client is told of
every broker at its address on the listener the client came in on (Metadata, FindCoordinator,
DescribeCluster), logs in as that listener asks, and other brokers use
`inter.broker.listener.name`, over TLS when it speaks TLS. Clients: confluent-kafka, kcat
and kafka-python."""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess

import pytest
from confluent_kafka import Consumer, KafkaError
from confluent_kafka.admin import NewTopic
from kafka.protocol.metadata import FindCoordinatorRequest, MetadataRequest

import kafka_wire as kw
from clients import admin, base_conf, consume_all, kcat, login_refused, produce_all, producer, unique_topic, wait_futures
from conftest import free_ports, shoal_bin
from pki import Pki
from test_conformance_cluster import ask, describe_topic_partitions
from test_quorum import describe_cluster, wait_for
from test_replication import full_isr, layout
from test_sasl import (JAAS, PASSWORDS, SASL_AUTHENTICATE, SASL_AUTHENTICATION_FAILED, SASL_HANDSHAKE, authenticate_v0,
                       handshake_v1, inter_broker_login, login_conf, plain_login, sasl_settings)
from test_tls import AUTHORIZER

LISTENER_NOT_FOUND = 72
COORDINATOR_NOT_AVAILABLE = 15

# Listeners are the broker's, not a shard's: its tests run once, with two shards (conftest's SHOAL_CORES).
SHOAL_CORES = [2]


# An internal PLAINTEXT listener and an external SASL_PLAINTEXT one, where alice logs in.
TWO_LISTENERS = {
    "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
    "sasl.enabled.mechanisms": "PLAIN",
    "listener.name.external.plain.sasl.jaas.config": JAAS,
    "connection.failed.authentication.delay.ms": "50",
}


def two_listeners(internal: int, external: int) -> str:
    return f"INTERNAL://127.0.0.1:{internal},EXTERNAL://127.0.0.1:{external}"


def brokers_listed(b, **conf) -> dict[int, tuple[str, int]]:
    """Metadata's brokers as a confluent-kafka client of `b` with `conf` is told of them."""
    md = admin(b, **conf).list_topics(timeout=20)
    return {x.id: (x.host, x.port) for x in md.brokers.values()}


def start_three(start_broker, client_listeners, settings: dict, node_settings=lambda i: {},
                env: dict | None = None) -> tuple[list, list[int]]:
    """Three nodes, each broker and voter, with `settings` and node i's `node_settings(i)`,
    and `env` in their environment: node i's listeners are `client_listeners(i)` and a
    controller listener. The brokers and controller ports."""
    controller_ports = free_ports(3)
    voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(controller_ports))
    brokers = [start_broker({
        **settings,
        "node.id": i + 1,
        "listeners": f"{client_listeners(i)},CONTROLLER://127.0.0.1:{controller_ports[i]}",
        "controller.quorum.voters": voters,
        "controller.listener.names": "CONTROLLER",
        "broker.session.timeout.ms": 2000,
        **node_settings(i),
    }, env=env) for i in range(3)]
    return brokers, controller_ports


def replicated_write_and_read(brokers, bootstrap: str, min_isr: int, **conf) -> None:
    """A topic of 2 partitions on all three brokers, 10 records written with acks=all
    through `bootstrap` and read back from the third broker, with client settings `conf`."""
    a = admin(brokers[0], bootstrap_servers=bootstrap, **conf)
    topic = unique_topic("rf3")
    new = NewTopic(topic, 2, 3, config={"min.insync.replicas": str(min_isr)})
    wait_futures(a.create_topics([new], operation_timeout=20))
    wait_for("every partition with a full ISR", lambda: full_isr(a, topic, {1, 2, 3}, 2))
    produce_all(producer(brokers[0], acks="all", bootstrap_servers=bootstrap, **conf), topic,
                [{"value": b"%d" % i, "partition": i % 2} for i in range(10)])
    got = consume_all(brokers[2], topic, [0, 1], bootstrap_servers=bootstrap, **conf)
    assert sorted(r.value for rs in got.values() for r in rs) == sorted(b"%d" % i for i in range(10))


def each_listing_three(brokers, client_ports, **conf) -> None:
    """Waits until every node's Metadata, asked with `conf`, lists the three brokers."""
    each = [admin(b, bootstrap_servers=f"127.0.0.1:{p}", **conf) for b, p in zip(brokers, client_ports)]
    wait_for("every node listing the three brokers",
             lambda: all(len(x.list_topics(timeout=10).brokers) == 3 for x in each))


def test_each_listener_has_its_protocol_and_tells_clients_its_own_address(start_broker):
    internal, external = free_ports(2)
    b = start_broker({**TWO_LISTENERS, "listeners": two_listeners(internal, external),
                      "advertised.listeners": f"INTERNAL://127.0.0.1:{internal},EXTERNAL://localhost:{external}"})
    # The ready line names the first listener; each is named on its own line.
    assert b.port == internal
    lines = b.stdout_lines
    assert f"shoal listener INTERNAL: listening on 127.0.0.1:{internal}" in lines, lines
    assert f"shoal listener EXTERNAL: listening on 127.0.0.1:{external}" in lines, lines

    outside = base_conf(b, bootstrap_servers=f"127.0.0.1:{external}", **login_conf("alice"))
    assert brokers_listed(b) == {1: ("127.0.0.1", internal)}
    assert brokers_listed(b, **outside) == {1: ("localhost", external)}
    # The external listener asks for a login; the internal one for none.
    refused = login_refused(base_conf(b, bootstrap_servers=f"127.0.0.1:{external}", **login_conf("alice", password="wrong")))
    assert refused.code() == KafkaError._AUTHENTICATION, refused
    # Written inside, read outside (through the advertised name), and the reverse.
    topic = unique_topic("two")
    produce_all(producer(b, acks="all"), topic, [{"value": b"in", "partition": 0}])
    produce_all(producer(b, **{"bootstrap.servers": outside["bootstrap.servers"], **login_conf("alice")}),
                topic, [{"value": b"out", "partition": 0}])
    got = consume_all(b, topic, [0], bootstrap_servers=outside["bootstrap.servers"], **login_conf("alice"))
    assert [r.value for r in got[0]] == [b"in", b"out"]
    # kcat's view of each listener.
    listed = kcat(b, "-L", "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
                  "-X", "sasl.username=alice", "-X", f"sasl.password={login_conf('alice')['sasl_password']}",
                  "-b", f"127.0.0.1:{external}").stdout.decode()
    assert re.search(rf"broker 1 at localhost:{external}", listed), listed
    listed = kcat(b, "-L").stdout.decode()
    assert re.search(rf"broker 1 at 127.0.0.1:{internal}", listed), listed
    # A group's coordinator is found at the client's listener too: a consumer group
    # that only reaches the external address commits and reads its offset back.
    group = unique_topic("g")
    c = Consumer({**outside, "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        seen = []
        for _ in range(60):
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                seen.append(m.value())
            if len(seen) == 2:
                break
        assert seen == [b"in", b"out"]
        c.commit(asynchronous=False)
    finally:
        c.close()


def test_a_cluster_tells_each_listener_its_brokers_and_replicates_on_the_inter_broker_one(start_broker):
    """Three nodes, each with an internal PLAINTEXT and an external SASL listener and
    `inter.broker.listener.name=INTERNAL`: clients of either listener see every broker at
    that listener's address; replicas follow their leaders."""
    internal_ports, external_ports = free_ports(3), free_ports(3)
    brokers, _ = start_three(start_broker, lambda i: two_listeners(internal_ports[i], external_ports[i]),
                             {**TWO_LISTENERS, "inter.broker.listener.name": "INTERNAL"})
    wait_for("every node registering the three brokers",
             lambda: all(set(describe_cluster(b)[1]) == {1, 2, 3} for b in brokers))
    inside = {i + 1: ("127.0.0.1", p) for i, p in enumerate(internal_ports)}
    outside = {i + 1: ("127.0.0.1", p) for i, p in enumerate(external_ports)}
    for b, external_port in zip(brokers, external_ports):
        assert brokers_listed(b) == inside
        assert brokers_listed(b, bootstrap_servers=f"127.0.0.1:{external_port}", **login_conf("alice")) == outside
        # DescribeCluster (kafka-python's encoding) on the internal listener.
        assert describe_cluster(b)[1] == {i: p for i, (_, p) in inside.items()}

    external = ",".join(f"127.0.0.1:{p}" for p in external_ports)
    replicated_write_and_read(brokers, external, 2, **login_conf("alice"))


def test_brokers_replicate_over_tls_as_the_principal_of_their_certificate(start_broker, tmp_path):
    """Three nodes whose client and controller listeners speak SSL and ask every client
    for a certificate, with an authorizer: the quorum's messages and replication go over
    TLS too, and a follower is the principal of its certificate (a super user here;
    ANONYMOUS may not replicate)."""
    pki = Pki(tmp_path / "pki")
    keystore = pki.keystore("broker", "/CN=broker", client=True)
    client_ports = free_ports(3)
    brokers, controller_ports = start_three(start_broker, lambda i: f"SSL://127.0.0.1:{client_ports[i]}", {
        "listener.security.protocol.map": "SSL:SSL,CONTROLLER:SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca),
        "ssl.client.auth": "required",
        "authorizer.class.name": AUTHORIZER,
        "super.users": "User:CN=broker;User:CN=admin",
    })
    crt, key = pki.issue("admin", "/CN=admin", server=False)
    tls = {"security_protocol": "SSL", "ssl_ca_location": str(pki.ca),
           "ssl_certificate_location": str(crt), "ssl_key_location": str(key)}
    each_listing_three(brokers, client_ports, **tls)
    replicated_write_and_read(brokers, ",".join(f"127.0.0.1:{p}" for p in client_ports), 3, **tls)
    # The controller listener speaks TLS, and takes no one without a certificate; with
    # the authorizer, no one whose principal may not CLUSTER_ACTION (closed once it is
    # known who they are).
    assert tls_handshake(controller_ports[0], pki, (crt, key)) is not None
    assert tls_handshake(controller_ports[0], pki, None) is None
    stranger = pki.issue("stranger", "/CN=stranger", server=False)
    assert tls_handshake(controller_ports[0], pki, stranger, then_closed=True) is not None
    wait_for("the stranger's refusal said", lambda: "User:CN=stranger from 127.0.0.1 may not CLUSTER_ACTION"
             in brokers[0].log_text())


def test_brokers_dial_each_other_with_the_inter_broker_listener_s_tls_settings(start_broker, tmp_path):
    """Brokers whose certificates name another host, with no truststore set: nodes 1 and 2
    set ssl.endpoint.identification.algorithm empty and take any certificate the system's
    CAs vouch for (SSL_CERT_FILE names the test's CA); node 3 keeps Kafka's default,
    checks the host, and so cannot follow the others. The listener allows one protocol
    version and one cipher suite, which the dialling side must offer."""
    pki = Pki(tmp_path / "pki")
    keystore = pki.keystore("elsewhere", "/CN=broker", client=True, hosts="DNS:elsewhere.invalid")
    client_ports = free_ports(3)
    brokers, _ = start_three(start_broker, lambda i: f"SSL://127.0.0.1:{client_ports[i]}", {
        "listener.security.protocol.map": "SSL:SSL,CONTROLLER:PLAINTEXT",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.enabled.protocols": "TLSv1.2",
        "ssl.cipher.suites": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "replica.lag.time.max.ms": 3000,
    }, node_settings=lambda i: {"ssl.endpoint.identification.algorithm": ""} if i < 2 else {},
        env={"SSL_CERT_FILE": str(pki.ca)})
    tls = {"security_protocol": "SSL", "ssl_ca_location": str(pki.ca),
           "ssl_endpoint_identification_algorithm": "none"}
    each_listing_three(brokers, client_ports, **tls)
    bootstrap = ",".join(f"127.0.0.1:{p}" for p in client_ports)
    a = admin(brokers[0], bootstrap_servers=bootstrap, **tls)
    topic = unique_topic("dial")
    wait_futures(a.create_topics([NewTopic(topic, 3, 3, config={"min.insync.replicas": "2"})],
                                 operation_timeout=20))

    def settled():
        # Node 3 follows nobody; the others follow everybody, node 3 included.
        parts = layout(a, topic)
        return parts and len(parts) == 3 and all(
            set(isr) == ({1, 2, 3} if leader == 3 else {1, 2}) for leader, _, isr in parts.values())
    wait_for("node 3 in the ISR of its own partitions only", settled)
    produce_all(producer(brokers[0], acks="all", bootstrap_servers=bootstrap, **tls), topic,
                [{"value": b"%d" % i, "partition": i % 3} for i in range(9)])
    got = consume_all(brokers[1], topic, [0, 1, 2], bootstrap_servers=bootstrap, **tls)
    assert sorted(r.value for rs in got.values() for r in rs) == sorted(b"%d" % i for i in range(9))
    wait_for("node 3 saying why it cannot follow", lambda: "not valid for name" in brokers[2].log_text())
    assert "not valid for name" not in brokers[0].log_text() + brokers[1].log_text()

    # shoal's tools dial alike: the system's CAs without ssl.ca.location, and the host
    # checked unless the algorithm is empty (or librdkafka's none).
    from test_cli import fails, ok
    config = tmp_path / "tools.properties"
    system_ca = {"SSL_CERT_FILE": str(pki.ca)}
    for algorithm in ("", "none"):
        config.write_text(f"security.protocol=SSL\nssl.endpoint.identification.algorithm={algorithm}\n")
        assert topic in ok(brokers[0], "topics", "--list", "--command-config", str(config), env=system_ca)
    config.write_text("security.protocol=SSL\n")
    assert "not valid for name" in fails(brokers[0], "topics", "--list", "--command-config", str(config), env=system_ca)


def tls_handshake(port: int, pki: Pki, certificate, then_closed: bool = False) -> str | None:
    """The TLS version a connection to `port` speaks, or None when the handshake is
    refused. TLS 1.2, where the server checks the client's certificate within the
    handshake (under 1.3 it refuses one after the handshake is over). With `then_closed`,
    None unless the server also closes the connection after the handshake."""
    context = ssl.create_default_context(cafile=str(pki.ca))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    if certificate:
        context.load_cert_chain(*map(str, certificate))
    try:
        with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                                 server_hostname="127.0.0.1") as s:
            version = s.version()
            if then_closed:
                try:
                    return version if s.recv(1) == b"" else None
                except (ssl.SSLError, ConnectionError):
                    return version  # closed without TLS's goodbye
            return version
    except (ssl.SSLError, ConnectionError):
        return None


def test_brokers_log_in_to_each_other_when_the_inter_broker_listener_asks_for_sasl(start_broker):
    """Three nodes whose one client listener speaks SASL_PLAINTEXT, with an authorizer:
    brokers log in to each other's replication ports with PLAIN as `broker`, a super user
    (ANONYMOUS may not replicate), and acks=all from three replicas works."""
    client_ports = free_ports(3)
    settings = {**sasl_settings(**inter_broker_login("bob")), "authorizer.class.name": AUTHORIZER,
                "super.users": "User:bob;User:admin"}
    brokers, _ = start_three(start_broker, lambda i: f"SASL_PLAINTEXT://127.0.0.1:{client_ports[i]}", settings)
    each_listing_three(brokers, client_ports, **login_conf("admin"))
    replicated_write_and_read(brokers, ",".join(f"127.0.0.1:{p}" for p in client_ports), 3, **login_conf("admin"))
    # A broker whose password the others refuse cannot follow them, and says why.
    third = brokers[2]
    third.stop()
    wrong = JAAS.replace(" required ", ' required username="bob" password="wrong" ', 1)
    third.overrides["listener.name.sasl_plaintext.plain.sasl.jaas.config"] = wrong
    third.start()
    wait_for("the follower saying it is refused", lambda: "replication port refuses this broker" in third.log_text())


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
def test_the_quorum_s_nodes_log_in_to_each_other_on_a_sasl_controller_listener(start_broker, tmp_path, protocol):
    """A SASL controller listener: the nodes shake hands over TLS (SASL_SSL) and log in
    with PLAIN (Kafka's sasl.mechanism.controller.protocol and the listener's login module)
    before a message of the quorum's is taken. With an authorizer, a login whose
    principal may not CLUSTER_ACTION is closed once logged in; a wrong password is
    answered SASL_AUTHENTICATION_FAILED, and anything but a login is closed."""
    pki = Pki(tmp_path / "pki")
    jaas = ('org.apache.kafka.common.security.plain.PlainLoginModule required username="node" '
            'password="node-secret" user_node="node-secret" user_ivan="ivan-secret";')
    client_ports = free_ports(3)
    brokers, controller_ports = start_three(start_broker, lambda i: f"PLAINTEXT://127.0.0.1:{client_ports[i]}", {
        "listener.security.protocol.map": f"PLAINTEXT:PLAINTEXT,CONTROLLER:{protocol}",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": jaas,
        "sasl.mechanism.controller.protocol": "PLAIN",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.keystore("broker")),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca),
        # The clients here come in on the PLAINTEXT listener, as ANONYMOUS.
        "authorizer.class.name": AUTHORIZER,
        "super.users": "User:node;User:ANONYMOUS",
    })
    each_listing_three(brokers, client_ports)
    replicated_write_and_read(brokers, ",".join(f"127.0.0.1:{p}" for p in client_ports), 3)

    context = ssl.create_default_context(cafile=str(pki.ca))

    def connection() -> kw.Conn:
        c = kw.Conn(f"127.0.0.1:{controller_ports[0]}")
        if protocol == "SASL_SSL":
            c.sock = context.wrap_socket(c.sock, server_hostname="127.0.0.1")
        return c

    def closed(c: kw.Conn) -> bool:
        try:
            return c.sock.recv(1) == b""
        except TimeoutError:
            return False
        except (ssl.SSLError, ConnectionError):
            return True

    with connection() as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == 0
        refused = kw.Reader(c.request(SASL_AUTHENTICATE, 1, authenticate_v0(b"\0node\0wrong")))
        assert refused.i16() == SASL_AUTHENTICATION_FAILED
        assert closed(c)
    with connection() as c:
        assert plain_login(c, "ivan", "ivan-secret") == 0
        assert closed(c)
    wait_for("ivan's refusal said", lambda: "User:ivan from 127.0.0.1 may not CLUSTER_ACTION"
             in brokers[0].log_text())
    with connection() as c:
        c.send(kw.METADATA, 1, kw.metadata_v1([]))
        assert closed(c)
    # The quorum still works after all that: a topic made now is listed everywhere.
    replicated_write_and_read(brokers, ",".join(f"127.0.0.1:{p}" for p in client_ports), 3)


def test_a_sasl_inter_broker_listener_without_a_login_for_the_brokers_stops_the_start(tmp_path):
    argv = [str(shoal_bin()), "serve"]
    settings = {**sasl_settings(), "listeners": "SASL_PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:19093",
                "controller.listener.names": "CONTROLLER", "log.dirs": str(tmp_path),
                "controller.quorum.voters": "1@127.0.0.1:19093,2@127.0.0.1:19094"}
    for key, value in settings.items():
        argv += ["--override", f"{key}={value}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
    done = subprocess.run(argv, capture_output=True, timeout=60, env=env)
    assert done.returncode != 0
    assert b"sasl.mechanism.inter.broker.protocol" in done.stderr, done.stderr
    argv += ["--override", "sasl.mechanism.inter.broker.protocol=PLAIN"]
    done = subprocess.run(argv, capture_output=True, timeout=60, env=env)
    assert done.returncode != 0
    assert b'username="..." and password="..." options' in done.stderr, done.stderr
    assert b"secret" not in done.stderr


def test_a_leader_without_the_client_s_listener_is_not_named_and_its_replicas_are_offline(start_broker):
    """Brokers 1 and 2 have the EXTERNAL listener, broker 3 only INTERNAL. A partition that
    broker 3 leads, seen from EXTERNAL: Metadata answers LISTENER_NOT_FOUND with no leader,
    DescribeTopicPartitions no error and no leader, and both list broker 3 offline; seen from
    INTERNAL, broker 3 leads and nothing is offline. FindCoordinator from EXTERNAL answers
    COORDINATOR_NOT_AVAILABLE for the groups broker 3 coordinates."""
    internal_ports, external_ports = free_ports(3), free_ports(2)
    listeners = lambda i: (two_listeners(internal_ports[i], external_ports[i]) if i < 2  # noqa: E731
                           else f"INTERNAL://127.0.0.1:{internal_ports[i]}")
    brokers, _ = start_three(start_broker, listeners, {**TWO_LISTENERS, "inter.broker.listener.name": "INTERNAL"})
    wait_for("every node registering the three brokers",
             lambda: all(set(describe_cluster(b)[1]) == {1, 2, 3} for b in brokers))
    a = admin(brokers[0])
    topic = unique_topic("led-by-3")
    wait_futures(a.create_topics([NewTopic(topic, num_partitions=1, replica_assignment=[[3, 1, 2]])], operation_timeout=20))
    wait_for("broker 3 leading with a full ISR", lambda: full_isr(a, topic, {1, 2, 3}, 1)
             and layout(a, topic)[0][0] == 3)

    def seen(port: int, login: bool) -> tuple[tuple, tuple] | None:
        """(error, leader, offline) of partition 0 in Metadata v9 and DescribeTopicPartitions
        v0, once both list it (each shard of each node learns of the topic in its time)."""
        with kw.Conn(f"127.0.0.1:{port}") as c:
            if login:
                plain_login(c, "alice", PASSWORDS["alice"])
            M = MetadataRequest
            md = ask(c, M(topics=[M.MetadataRequestTopic(topic_id=None, name=topic)], allow_auto_topic_creation=False,
                          include_topic_authorized_operations=False), 9)
            (t,) = describe_topic_partitions(c, [topic])
        if len(md.topics[0].partitions) != 1 or len(t.partitions) != 1:
            return None
        (p,), (q,) = md.topics[0].partitions, t.partitions
        return (p.error_code, p.leader_id, p.offline_replicas), (t.error_code, q.leader_id, q.offline_replicas)

    views = [(port, True) for port in external_ports] + [(port, False) for port in internal_ports]
    wait_for("every listener of every broker listing the partition", lambda: all(seen(*v) for v in views))
    for port in external_ports:
        assert seen(port, login=True) == ((LISTENER_NOT_FOUND, -1, [3]), (0, -1, [3]))
    for port in internal_ports:
        assert seen(port, login=False) == ((0, 3, []), (0, 3, []))

    # FindCoordinator (v4): a group whose offsets partition broker 3 leads has no coordinator
    # a client of EXTERNAL can reach: COORDINATOR_NOT_AVAILABLE there, as Kafka answers; the
    # others are named with their EXTERNAL address.
    groups = [f"g-{i}" for i in range(24)]

    def coordinators(port: int, login: bool) -> dict[str, tuple[int, int, int]]:
        with kw.Conn(f"127.0.0.1:{port}") as c:
            if login:
                plain_login(c, "alice", PASSWORDS["alice"])
            r = ask(c, FindCoordinatorRequest(key_type=0, coordinator_keys=groups), 4)
        return {x.key: (x.error_code, x.node_id, x.port) for x in r.coordinators}

    inside = wait_for("every group's coordinator known inside", lambda: (
        lambda found: found if all(e == 0 for e, _, _ in found.values()) else None)(
        coordinators(internal_ports[0], login=False)))
    assert {node for _, node, _ in inside.values()} == {1, 2, 3}, inside
    expected = {group: (COORDINATOR_NOT_AVAILABLE, -1, -1) if node == 3 else (0, node, external_ports[node - 1])
                for group, (_, node, _) in inside.items()}
    # The connection may land on a shard whose metadata is a moment behind.
    wait_for("EXTERNAL's answers", lambda: coordinators(external_ports[0], login=True) == expected)
