"""Rows of the conformance docs (docs/conformance/security-quotas.md, replicas.md, quorum.md,
groups.md) checked against one real broker: the SASL login's edges, SCRAM credentials and
client quotas as their admin requests answer them, leader elections, reassignments, log
directories and leader epochs on a cluster of one, the metadata quorum's requests (on a
cluster of one, and on a one-node dynamic quorum formatted with `shoal format --standalone`),
and the group requests' checks that no client of ours sends wrong.

Real clients cannot send most of these requests as the rules need them, so they go out raw:
encoded and decoded by kafka-python's message classes (`ask`), or by kafka_wire's
primitives where kafka-python has no class (AddRaftVoter, RemoveRaftVoter,
ConsumerGroupHeartbeat) or the bytes themselves are the point. ACLs are created with
confluent-kafka's AdminClient (test_acls.py's helpers). Every connection here is PLAINTEXT
(User:ANONYMOUS) but the SASL ones.

Nothing sleeps to synchronise: waits poll a condition with a deadline. The one timing check
(JoinGroup v0's rebalance timeout) asserts lower bounds only."""

from __future__ import annotations

import os
import pathlib
import subprocess
import time
import uuid

import pytest
from confluent_kafka import TopicCollection
from confluent_kafka.admin import AclOperation, AclPermissionType, NewTopic, ResourcePatternType, ResourceType
from kafka.protocol.admin import (
    AlterClientQuotasRequest,
    AlterPartitionReassignmentsRequest,
    AlterUserScramCredentialsRequest,
    DeleteGroupsRequest,
    DescribeClientQuotasRequest,
    DescribeClusterRequest,
    DescribeLogDirsRequest,
    DescribeQuorumRequest,
    DescribeTopicPartitionsRequest,
    DescribeUserScramCredentialsRequest,
    ElectLeadersRequest,
    ListPartitionReassignmentsRequest,
)
from kafka.protocol.consumer import (
    HeartbeatRequest,
    JoinGroupRequest,
    LeaveGroupRequest,
    OffsetForLeaderEpochRequest,
    SyncGroupRequest,
)
from kafka.protocol.metadata import FindCoordinatorRequest

import kafka_wire as kw
from clients import admin, create_topic, produce_all, producer, unique_topic, wait_futures
from conftest import free_ports, shoal_bin
from test_acls import binding, cluster_acl, create, group_acl, secured, topic_acl
from test_conformance_admin import delete_records
from test_quorum import wait_for
from test_replication import start_cluster
from test_sasl import PASSWORDS, authenticate_v0, handshake_v1, plain_login, sasl_settings

# ---------------------------------------------------------------- error codes
UNKNOWN_SERVER_ERROR = -1
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
NOT_LEADER_OR_FOLLOWER = 6
REQUEST_TIMED_OUT = 7
INCONSISTENT_GROUP_PROTOCOL = 23
UNKNOWN_MEMBER_ID = 25
REBALANCE_IN_PROGRESS = 27
TOPIC_AUTHORIZATION_FAILED = 29
GROUP_AUTHORIZATION_FAILED = 30
CLUSTER_AUTHORIZATION_FAILED = 31
UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
INVALID_REQUEST = 42
UNSUPPORTED_VERSION = 35
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
KAFKA_STORAGE_ERROR = 56
SASL_AUTHENTICATION_FAILED = 58
GROUP_ID_NOT_FOUND = 69
UNKNOWN_LEADER_EPOCH = 75
MEMBER_ID_REQUIRED = 79
GROUP_MAX_SIZE_REACHED = 81
ELECTION_NOT_NEEDED = 84
RESOURCE_NOT_FOUND = 91
DUPLICATE_RESOURCE = 92
UNACCEPTABLE_CREDENTIAL = 93
INCONSISTENT_CLUSTER_ID = 104
UNSUPPORTED_ASSIGNOR = 112
DUPLICATE_VOTER = 126

# ---------------------------------------------------------------- API keys kafka_wire lacks
SASL_HANDSHAKE, SASL_AUTHENTICATE = 17, 36
OFFSET_COMMIT = 8
CONSUMER_GROUP_HEARTBEAT = 68
ADD_RAFT_VOTER, REMOVE_RAFT_VOTER = 80, 81

INT32_MIN = -(2**31)
SCRAM_SHA_256, SCRAM_SHA_512 = 1, 2
# Kafka's operation codes (AclOperation) and the ones each resource type takes.
CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE = 5, 7, 8, 9, 10, 11, 12
READ, WRITE, DELETE = 3, 4, 6
CLUSTER_OPERATIONS = {CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE}
TOPIC_OPERATIONS = {READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS}

# Groups: no initial rebalance delay, and sessions as short as a second.
GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": 0, "group.min.session.timeout.ms": 1000}


@pytest.fixture
def cores() -> int:
    """Two shards: a connection may land on either, while the controller, the quorum member
    and the coordinators live where they live; the rules hold whichever shard answers."""
    return 2


# ---------------------------------------------------------------- raw requests

def ask(conn: kw.Conn, request, version: int, timeout: float | None = None):
    """Sends a kafka-python request message at `version` and decodes its response."""
    corr = next(kw._correlation)
    request.with_header(correlation_id=corr, client_id="conformance")
    conn.send_raw(request.encode(version=version, header=True, framed=True))
    response = request.header.get_response_class().decode(conn.recv_frame(timeout), version=version, header=True)
    assert response.header.correlation_id == corr
    return response


def bits(operations: set[int]) -> int:
    """Kafka's authorized-operations bit field."""
    return sum(1 << op for op in operations)


def offset_commit_v2(conn: kw.Conn, group: str, topic: str, offset: int = 1) -> int:
    """A simple consumer's commit (generation -1) of partition 0: its error code."""
    partitions = kw.array([kw.i32(0) + kw.i64(offset) + kw.string("")])
    body = (kw.string(group) + kw.i32(-1) + kw.string("") + kw.i64(-1)
            + kw.array([kw.string(topic) + partitions]))
    rd = kw.Reader(conn.request(OFFSET_COMMIT, 2, body))
    ((_, ((_, error),)),) = rd.array(lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i16()))))
    return error


def consumer_group_heartbeat_v1(conn: kw.Conn, group: str, member: str, topics: list[str], epoch: int = 0,
                                assignor: str | None = None) -> tuple[int, str | None, int]:
    """A KIP-848 member's join (epoch 0) or beat: (error, message, member epoch)."""
    body = (kw.compact_string(group) + kw.compact_string(member) + kw.i32(epoch) + kw.compact_string(None)
            + kw.compact_string(None) + kw.i32(5000) + kw.compact_array([kw.compact_string(t) for t in topics])
            + kw.compact_string(None) + kw.compact_string(assignor) + kw.compact_array([]) + kw.EMPTY_TAGS)
    rd = kw.Reader(conn.request(CONSUMER_GROUP_HEARTBEAT, 1, body, flexible=True))
    rd.i32()  # throttle
    error, message = rd.i16(), rd.compact_string()
    rd.compact_string()  # member id
    return error, message, rd.i32()


def add_raft_voter(conn: kw.Conn, voter: int, directory: uuid.UUID, listeners: list[tuple[str, str, int]],
                   cluster_id: str | None = None, timeout_ms: int = 5000) -> tuple[int, str | None]:
    """AddRaftVoter v0: (error, message)."""
    endpoints = [kw.compact_string(name) + kw.compact_string(host) + kw.i16(port) + kw.EMPTY_TAGS
                 for name, host, port in listeners]
    body = (kw.compact_string(cluster_id) + kw.i32(timeout_ms) + kw.i32(voter) + directory.bytes
            + kw.compact_array(endpoints) + kw.EMPTY_TAGS)
    rd = kw.Reader(conn.request(ADD_RAFT_VOTER, 0, body, flexible=True, timeout=60))
    rd.i32()  # throttle
    return rd.i16(), rd.compact_string()


def remove_raft_voter(conn: kw.Conn, voter: int, directory: uuid.UUID,
                      cluster_id: str | None = None) -> tuple[int, str | None]:
    """RemoveRaftVoter v0: (error, message)."""
    body = kw.compact_string(cluster_id) + kw.i32(voter) + directory.bytes + kw.EMPTY_TAGS
    rd = kw.Reader(conn.request(REMOVE_RAFT_VOTER, 0, body, flexible=True, timeout=60))
    rd.i32()  # throttle
    return rd.i16(), rd.compact_string()


def describe_quorum(conn: kw.Conn, topics: list[tuple[str, list[int]]], version: int = 2):
    D = DescribeQuorumRequest
    return ask(conn, D(topics=[D.TopicData(topic_name=t, partitions=[D.TopicData.PartitionData(partition_index=p)
                                                                     for p in ps]) for t, ps in topics]), version)


METADATA_LOG = [("__cluster_metadata", [0])]


def high_watermark(conn: kw.Conn) -> int:
    """The metadata log's high watermark, as DescribeQuorum answers it."""
    r = describe_quorum(conn, METADATA_LOG)
    assert r.error_code == NONE and r.topics[0].partitions[0].error_code == NONE, r
    return r.topics[0].partitions[0].high_watermark


def cluster_id(conn: kw.Conn) -> str:
    return ask(conn, DescribeClusterRequest(include_cluster_authorized_operations=False), 0).cluster_id


def describe_topic_partitions(conn: kw.Conn, names: list[str], limit: int = 100):
    D = DescribeTopicPartitionsRequest
    r = ask(conn, D(topics=[D.TopicRequest(name=n) for n in names], response_partition_limit=limit, cursor=None), 0)
    return r.topics


def one_node_dynamic_quorum(start_broker, tmp_path: pathlib.Path, **extra):
    """A combined node formatted as the only voter of a dynamic quorum (`shoal format
    --standalone`, Kafka's `kafka-storage.sh format --standalone`), started and waited for
    until it leads, is registered and unfenced: then its metadata log is quiet. Answers the
    node, its controller port and its data directory."""
    (port,) = free_ports(1)
    data = tmp_path / "quorum-data"
    settings = {
        "node.id": 1,
        "listeners": f"PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{port}",
        "log.dirs": str(data),
        **extra,
    }
    config = tmp_path / "node1.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    formatted = subprocess.run([str(shoal_bin()), "format", "--config", str(config), "--standalone"],
                               capture_output=True, text=True, timeout=60)
    assert formatted.returncode == 0, formatted.stderr
    b = start_broker(settings)

    def registered() -> bool:
        with kw.Conn(b.bootstrap) as c:
            brokers = ask(c, DescribeClusterRequest(include_cluster_authorized_operations=False), 0).brokers
            return [x.broker_id for x in brokers] == [1]
    wait_for("the node leading its quorum, registered and unfenced", registered)
    return b, port, data


# ================================================================ SASL (security-quotas.md)

def test_the_sasl_login_s_edges(start_broker):
    """SaslHandshake and SaslAuthenticate on a SASL listener (connection.failed.authentication.delay.ms
    1 s here): bytes that are not a Kafka request (an old client's raw GSSAPI token) as the
    first frame close the connection unanswered; a SaslAuthenticate version the broker does
    not serve (v3) closes it unanswered, during the login and after it; a failed login's
    SASL_AUTHENTICATION_FAILED goes out only after the delay, then the connection closes, and
    so do the answers to a mechanism not enabled, a second handshake and an ApiVersions after
    the handshake, and a failed bare token after a v0 handshake closes after it unanswered;
    after a login that no login again is due for, SaslHandshake and SaslAuthenticate are
    answered ILLEGAL_SASL_STATE (SaslAuthenticate with Kafka's message) and the connection
    stays open."""
    b = start_broker(sasl_settings(**{"connection.failed.authentication.delay.ms": "1000"}))
    # A GSS-API initial context token (RFC 2743 framing: 0x60, a DER length, the OID).
    gssapi = bytes.fromhex("6082024206092a864886f71201020201006e82023130820232a003020105a10302010ea2070305")
    with kw.Conn(b.bootstrap) as c:
        c.send_raw(kw.frame(gssapi))
        assert c.wait_closed() == b""

    with kw.Conn(b.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == NONE
        c.send(SASL_AUTHENTICATE, 3, kw.nbytes(b"\0alice\0alice-secret") + kw.EMPTY_TAGS, flexible_header=True)
        assert c.wait_closed() == b""

    with kw.Conn(b.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == NONE
        sent = time.monotonic()
        rd = kw.Reader(c.request(SASL_AUTHENTICATE, 1, authenticate_v0(b"\0alice\0wrong")))
        waited = time.monotonic() - sent
        assert (rd.i16(), rd.string()) == (SASL_AUTHENTICATION_FAILED,
                                           "Authentication failed: Invalid username or password")
        assert waited >= 0.95, f"the failed login was answered after {waited:.2f} s, not after the 1 s delay"
        assert c.wait_closed() == b""

    # Refused handshakes, and an ApiVersions after the handshake, are answered as a failed
    # login is: after the delay, then a close. A second handshake's answer lists no mechanisms.
    def refused_late(c: kw.Conn, api_key: int, body: bytes) -> kw.Reader:
        sent = time.monotonic()
        rd = kw.Reader(c.request(api_key, 1, body))
        waited = time.monotonic() - sent
        assert waited >= 0.95, f"the refusal was answered after {waited:.2f} s, not after the 1 s delay"
        assert c.wait_closed() == b""
        return rd
    with kw.Conn(b.bootstrap) as c:
        rd = refused_late(c, SASL_HANDSHAKE, handshake_v1("GSSAPI"))
        assert (rd.i16(), rd.array(kw.Reader.string)) == (UNSUPPORTED_SASL_MECHANISM,
                                                          ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    with kw.Conn(b.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == NONE
        rd = refused_late(c, SASL_HANDSHAKE, handshake_v1("PLAIN"))
        assert (rd.i16(), rd.array(kw.Reader.string)) == (ILLEGAL_SASL_STATE, [])
    with kw.Conn(b.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 1, handshake_v1("PLAIN"))).i16() == NONE
        assert refused_late(c, kw.API_VERSIONS, kw.api_versions_v0()).i16() == ILLEGAL_SASL_STATE
    # After a v0 handshake, a bare token that fails the login gets no answer: the
    # connection closes after the delay.
    with kw.Conn(b.bootstrap) as c:
        assert kw.Reader(c.request(SASL_HANDSHAKE, 0, handshake_v1("PLAIN"))).i16() == NONE
        sent = time.monotonic()
        c.send_raw(kw.frame(b"\0alice\0wrong"))
        assert c.wait_closed() == b""
        waited = time.monotonic() - sent
        assert waited >= 0.95, f"the failed bare token was closed after {waited:.2f} s, not after the 1 s delay"

    with kw.Conn(b.bootstrap) as c:
        assert plain_login(c, "alice", PASSWORDS["alice"]) == 0  # no lifetime: no login again is due
        for version in (0, 1):
            assert kw.Reader(c.request(SASL_HANDSHAKE, version, handshake_v1("PLAIN"))).i16() == ILLEGAL_SASL_STATE
        rd = kw.Reader(c.request(SASL_AUTHENTICATE, 1, authenticate_v0(b"\0alice\0alice-secret")))
        assert (rd.i16(), rd.string()) == (ILLEGAL_SASL_STATE,
                                           "SaslAuthenticate request received after successful authentication")
        assert kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1([]))).brokers, "the connection stays"
        c.send(SASL_AUTHENTICATE, 3, kw.nbytes(b"") + kw.EMPTY_TAGS, flexible_header=True)
        assert c.wait_closed() == b""


# ================================================================ SCRAM credentials (security-quotas.md)

def describe_scram(conn: kw.Conn, users: list[str] | None):
    D = DescribeUserScramCredentialsRequest
    return ask(conn, D(users=None if users is None else [D.UserName(name=u) for u in users]), 0)


def alter_scram(conn: kw.Conn, deletions=(), upsertions=()) -> dict[str, tuple[int, str | None]]:
    """AlterUserScramCredentials of (user, mechanism) deletions and (user, mechanism,
    iterations, salt, salted password) upsertions: {user: (error, message)}, each user once."""
    A = AlterUserScramCredentialsRequest
    r = ask(conn, A(deletions=[A.ScramCredentialDeletion(name=n, mechanism=m) for n, m in deletions],
                    upsertions=[A.ScramCredentialUpsertion(name=n, mechanism=m, iterations=i, salt=s, salted_password=p)
                                for n, m, i, s, p in upsertions]), 0)
    users = [x.user for x in r.results]
    assert len(users) == len(set(users)), f"a user answered twice: {users}"
    return {x.user: (x.error_code, x.error_message) for x in r.results}


def test_scram_credential_requests_check_as_kafka_does(start_broker):
    """DescribeUserScramCredentials: without DESCRIBE on the cluster, CLUSTER_AUTHORIZATION_FAILED
    at the top and one result per user named, with that error and no user name; a user
    named twice is answered once, DUPLICATE_RESOURCE with Kafka's message.
    AlterUserScramCredentials: deletions are read before upsertions, and a user's first
    refusal is its answer, its later entries passed over (neither refused as duplicates nor
    written); an empty user name is UNACCEPTABLE_CREDENTIAL "Username must not be empty"; a
    mechanism other than SCRAM-SHA-256/512 UNSUPPORTED_SASL_MECHANISM "Unknown SCRAM
    mechanism"; more than 16384 iterations UNACCEPTABLE_CREDENTIAL "Too many iterations"
    (16384 is taken); shoal's own check: an empty salt or salted password is
    UNACCEPTABLE_CREDENTIAL "Salt and salted password must not be empty"."""
    b = start_broker(sasl_settings(**{
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin",
    }))
    key = b"k" * 32
    with kw.Conn(b.bootstrap) as c:
        plain_login(c, "alice", PASSWORDS["alice"])  # no ACL: she may not describe the cluster
        r = describe_scram(c, ["carol", "dave"])
        assert r.error_code == CLUSTER_AUTHORIZATION_FAILED, r
        assert [(x.user, x.error_code, x.credential_infos) for x in r.results] == \
            [("", CLUSTER_AUTHORIZATION_FAILED, []), ("", CLUSTER_AUTHORIZATION_FAILED, [])]

    with kw.Conn(b.bootstrap) as c:
        plain_login(c, "admin", PASSWORDS["admin"])
        assert alter_scram(c, upsertions=[("carol", SCRAM_SHA_256, 4096, b"salt", key)]) == {"carol": (NONE, None)}
        r = describe_scram(c, ["carol", "bob", "carol"])
        assert r.error_code == NONE, r
        assert [(x.user, x.error_code, x.error_message) for x in r.results] == [
            ("carol", DUPLICATE_RESOURCE,
             "Cannot describe SCRAM credentials for the same user twice in a single request: carol"),
            ("bob", RESOURCE_NOT_FOUND, "Attempt to describe a user credential that does not exist: bob")]

        # Deletions first: dan's deletion (an unknown mechanism) is his answer, and his
        # upsertion, refused for its own reason too, is passed over.
        assert alter_scram(c, deletions=[("dan", 7)], upsertions=[("dan", SCRAM_SHA_256, 100, b"s", key)]) == \
            {"dan": (UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism")}
        # A first refusal stands: erin's second, good upsertion is not a duplicate, nor written.
        assert alter_scram(c, upsertions=[("erin", SCRAM_SHA_256, 100, b"s", key),
                                          ("erin", SCRAM_SHA_256, 4096, b"s", key)]) == \
            {"erin": (UNACCEPTABLE_CREDENTIAL, "Too few iterations")}
        assert alter_scram(c, deletions=[("", SCRAM_SHA_256)]) == \
            {"": (UNACCEPTABLE_CREDENTIAL, "Username must not be empty")}
        assert alter_scram(c, upsertions=[("", SCRAM_SHA_256, 4096, b"s", key)]) == \
            {"": (UNACCEPTABLE_CREDENTIAL, "Username must not be empty")}
        assert alter_scram(c, deletions=[("frank", 0)], upsertions=[("gina", 3, 4096, b"s", key)]) == \
            {"frank": (UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"),
             "gina": (UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism")}
        assert alter_scram(c, upsertions=[("hana", SCRAM_SHA_512, 16385, b"s", key * 2),
                                          ("ivan", SCRAM_SHA_512, 16384, b"s", key * 2)]) == \
            {"hana": (UNACCEPTABLE_CREDENTIAL, "Too many iterations"), "ivan": (NONE, None)}
        assert alter_scram(c, upsertions=[("jane", SCRAM_SHA_256, 4096, b"", key),
                                          ("kim", SCRAM_SHA_256, 4096, b"s", b"")]) == \
            {"jane": (UNACCEPTABLE_CREDENTIAL, "Salt and salted password must not be empty"),
             "kim": (UNACCEPTABLE_CREDENTIAL, "Salt and salted password must not be empty")}
        everyone = describe_scram(c, None)
        assert {x.user: [(i.mechanism, i.iterations) for i in x.credential_infos] for x in everyone.results} == \
            {"carol": [(SCRAM_SHA_256, 4096)], "ivan": [(SCRAM_SHA_512, 16384)]}


# ================================================================ client quotas (security-quotas.md)

def alter_quotas(conn: kw.Conn, entries: list[tuple[list[tuple[str, str | None]], list[tuple[str, float | None]]]],
                 validate_only: bool = False) -> list[tuple[int, str | None]]:
    """AlterClientQuotas v1 of entries ([(entity type, name)], [(key, value or None to
    remove)]), each part and op sent as given (twice, if given twice): each entry's
    (error, message), in order."""
    A = AlterClientQuotasRequest
    request = A(entries=[A.EntryData(entity=[A.EntryData.EntityData(entity_type=t, entity_name=n) for t, n in entity],
                                     ops=[A.EntryData.OpData(key=k, value=v or 0.0, remove=v is None) for k, v in ops])
                         for entity, ops in entries], validate_only=validate_only)
    return [(e.error_code, e.error_message) for e in ask(conn, request, 1).entries]


def quotas(conn: kw.Conn) -> dict:
    """Every entity with a quota: {frozenset of (type, name): {key: value}}."""
    r = ask(conn, DescribeClientQuotasRequest(components=[], strict=False), 1)
    assert r.error_code == NONE, r
    return {frozenset((e.entity_type, e.entity_name) for e in entry.entity): {v.key: v.value for v in entry.values}
            for entry in r.entries}


def test_client_quota_entries_are_read_and_written_as_kafka_does(start_broker, tmp_path):
    """AlterClientQuotas on a node whose quotas are metadata records (a one-node dynamic
    quorum; DescribeQuorum's high watermark counts its metadata log's entries). An entity
    type given twice in one entry names the entity by its last name, refusing nothing; a key
    given twice is INVALID_REQUEST before the entity is looked at, with shoal's message
    "Duplicate quota key K not updating quota for this entity E"; an entity given again later
    in the request: shoal answers each entry, the first as it went (and its change written),
    the later one INVALID_REQUEST "Ignoring duplicate entity E". Only values that change are
    written (the same value again, or the removal of a key the entity lacks, writes
    nothing), and the changes of all accepted entries are written together, in one entry of
    the log."""
    b, _, _ = one_node_dynamic_quorum(start_broker, tmp_path)
    alice = frozenset({("user", "alice")})
    with kw.Conn(b.bootstrap) as c:
        assert alter_quotas(c, [([("user", "bob"), ("user", "alice")], [("producer_byte_rate", 1000.0)])]) == \
            [(NONE, None)]
        assert quotas(c) == {alice: {"producer_byte_rate": 1000.0}}

        message = ("Duplicate quota key producer_byte_rate not updating quota for this entity "
                   "ClientQuotaEntity(entries={%s})")
        assert alter_quotas(c, [([("user", "alice")], [("producer_byte_rate", 5.0), ("producer_byte_rate", 6.0)])]) == \
            [(INVALID_REQUEST, message % "user=alice")]
        # The entity (an empty user name) and the values (0 is refused) would fail later checks.
        assert alter_quotas(c, [([("user", "")], [("producer_byte_rate", 0.0), ("producer_byte_rate", 6.0)])]) == \
            [(INVALID_REQUEST, message % "user=")]

        twice = [("user", "carol"), ("client-id", None)]
        again = [(twice, [("consumer_byte_rate", 2000.0)]), (twice, [("request_percentage", 50.0)])]
        assert alter_quotas(c, again) == \
            [(NONE, None),
             (INVALID_REQUEST, "Ignoring duplicate entity ClientQuotaEntity(entries={user=carol, client-id=null})")]
        carol = frozenset(twice)
        assert quotas(c) == {alice: {"producer_byte_rate": 1000.0}, carol: {"consumer_byte_rate": 2000.0}}

        written = high_watermark(c)
        assert alter_quotas(c, [([("user", "alice")], [("producer_byte_rate", 1000.0)]),
                                ([("user", "nobody")], [("consumer_byte_rate", None)])]) == [(NONE, None)] * 2
        assert high_watermark(c) == written, "a change that changes nothing was written"
        assert alter_quotas(c, [([("user", "alice")], [("producer_byte_rate", 2000.0), ("consumer_byte_rate", 3000.0)]),
                                ([("client-id", "reader")], [("consumer_byte_rate", 4000.0)]),
                                ([("user", "dave")], [("nonsense", 1.0)])]) == \
            [(NONE, None), (NONE, None), (INVALID_REQUEST, "Invalid configuration key nonsense")]
        assert high_watermark(c) == written + 1, "the accepted entries were not written in one entry"
        assert quotas(c) == {alice: {"producer_byte_rate": 2000.0, "consumer_byte_rate": 3000.0},
                             carol: {"consumer_byte_rate": 2000.0},
                             frozenset({("client-id", "reader")}): {"consumer_byte_rate": 4000.0}}


# ================================================================ ElectLeaders, reassignments (replicas.md)

def elect_leaders(conn: kw.Conn, version: int, partitions: list[tuple[str, list[int]]] | None,
                  election_type: int = 0):
    E = ElectLeadersRequest
    fields = dict(topic_partitions=None if partitions is None else [E.TopicPartitions(topic=t, partitions=ps)
                                                                    for t, ps in partitions], timeout_ms=10000)
    if version >= 1:
        fields["election_type"] = election_type
    return ask(conn, E(**fields), version)


def election_results(r) -> list[tuple[str, int, int]]:
    return [(t.topic, p.partition_id, p.error_code) for t in r.replica_election_results for p in t.partition_result]


def test_elect_leaders_refuses_an_unknown_election_type_and_unknown_partitions(broker):
    """ElectLeaders: an election type other than 0 (preferred) or 1 (unclean) is
    INVALID_REQUEST for the whole request, at the top level (v1+) and on every partition
    asked; v0 carries no type and is never refused for one (a cluster of one answers both
    kinds ELECTION_NOT_NEEDED, so which kind v0 runs is not seen here). A topic that does not
    exist, or a partition it does not have, is UNKNOWN_TOPIC_OR_PARTITION, each answered in
    the order asked, the top level NONE. An empty list is an empty answer, whatever the type."""
    t = unique_topic("elect")
    create_topic(broker, t, 2)
    asked = [(t, [0, 5]), ("no-such-topic", [0])]
    with kw.Conn(broker.bootstrap) as c:
        for version in (1, 2):
            r = elect_leaders(c, version, asked, election_type=2)
            assert r.error_code == INVALID_REQUEST, r
            assert election_results(r) == [(t, 0, INVALID_REQUEST), (t, 5, INVALID_REQUEST),
                                           ("no-such-topic", 0, INVALID_REQUEST)]
            for election_type in (0, 1):
                r = elect_leaders(c, version, asked, election_type)
                assert r.error_code == NONE, r
                assert election_results(r) == [(t, 0, ELECTION_NOT_NEEDED), (t, 5, UNKNOWN_TOPIC_OR_PARTITION),
                                               ("no-such-topic", 0, UNKNOWN_TOPIC_OR_PARTITION)]
        r = elect_leaders(c, 0, asked)
        assert election_results(r) == [(t, 0, ELECTION_NOT_NEEDED), (t, 5, UNKNOWN_TOPIC_OR_PARTITION),
                                       ("no-such-topic", 0, UNKNOWN_TOPIC_OR_PARTITION)]
        # An empty (not null) list is answered at once, before the type is read.
        for version in (1, 2):
            r = elect_leaders(c, version, [], election_type=2)
            assert (r.error_code, election_results(r)) == (NONE, []), r


def test_reassignment_requests_on_a_cluster_of_one(broker):
    """ListPartitionReassignments naming topics: unknown topics and partitions, and
    partitions not moving (a cluster of one moves none for long), are left out, and so is a
    topic left with none; an empty list is an empty answer. AlterPartitionReassignments v1
    repeats the request's allow_replication_factor_change in its answer."""
    t = unique_topic("moves")
    create_topic(broker, t, 2)
    L = ListPartitionReassignmentsRequest
    A = AlterPartitionReassignmentsRequest
    with kw.Conn(broker.bootstrap) as c:
        named = [L.ListPartitionReassignmentsTopics(name=t, partition_indexes=[0, 1, 7]),
                 L.ListPartitionReassignmentsTopics(name="no-such-topic", partition_indexes=[0])]
        for topics in (named, []):
            r = ask(c, L(timeout_ms=10000, topics=topics), 0)
            assert (r.error_code, r.topics) == (NONE, []), r
        for allow in (False, True):
            target = A.ReassignableTopic.ReassignablePartition(partition_index=0, replicas=[1])
            r = ask(c, A(timeout_ms=10000, allow_replication_factor_change=allow,
                         topics=[A.ReassignableTopic(name=t, partitions=[target])]), 1)
            assert (r.error_code, r.allow_replication_factor_change) == (NONE, allow), r
            assert [(x.name, [(p.partition_index, p.error_code) for p in x.partitions]) for x in r.responses] == \
                [(t, [(0, NONE)])]


# ================================================================ log directories and epochs (replicas.md)

def describe_log_dirs(conn: kw.Conn, version: int, topics: list[tuple[str, list[int]]] | None):
    D = DescribeLogDirsRequest
    return ask(conn, D(topics=None if topics is None else [D.DescribableLogDirTopic(topic=t, partitions=ps)
                                                           for t, ps in topics]), version)


def test_describe_log_dirs_of_named_topics_and_of_an_unreadable_file_system(broker):
    """DescribeLogDirs naming topics: the partitions of them the directory holds; unknown
    topics and partitions are left out, and so is a topic left with none. A directory whose
    file system cannot be read (here: moved away for one request) is answered with
    UNKNOWN_SERVER_ERROR, sizes -1 and no topics."""
    t, other = unique_topic("dirs"), unique_topic("dirs-other")
    create_topic(broker, t, 2)
    create_topic(broker, other, 1)
    produce_all(producer(broker), t, [{"value": b"v", "partition": 1}])
    with kw.Conn(broker.bootstrap) as c:
        r = describe_log_dirs(c, 4, [(t, [1, 9]), (other, [4]), ("no-such-topic", [0])])
        (result,) = r.results
        assert (r.error_code, result.error_code, result.log_dir) == (NONE, NONE, str(broker.log_dir))
        assert [(x.name, [p.partition_index for p in x.partitions]) for x in result.topics] == [(t, [1])]
        assert result.topics[0].partitions[0].partition_size > 0

        away = broker.log_dir.with_name(broker.log_dir.name + "-away")
        os.rename(broker.log_dir, away)
        try:
            answers = {version: describe_log_dirs(c, version, None).results for version in (1, 4)}
        finally:
            os.rename(away, broker.log_dir)
        for version, (result,) in answers.items():
            assert (result.error_code, result.log_dir, result.topics) == \
                (UNKNOWN_SERVER_ERROR, str(broker.log_dir), []), (version, result)
        assert (answers[4][0].total_bytes, answers[4][0].usable_bytes) == (-1, -1)
        # Back in place, the directory is read again.
        assert describe_log_dirs(c, 4, None).results[0].error_code == NONE


def offsets_for_leader_epoch(conn: kw.Conn, replica_id: int, asked: list[tuple[str, int, int]]):
    """OffsetForLeaderEpoch v3 of (topic, partition, current leader epoch) for epoch 0:
    [(topic, partition, error, epoch, end offset)]."""
    O = OffsetForLeaderEpochRequest
    P = O.OffsetForLeaderTopic.OffsetForLeaderPartition
    r = ask(conn, O(replica_id=replica_id, topics=[
        O.OffsetForLeaderTopic(topic=t, partitions=[P(partition=p, current_leader_epoch=current, leader_epoch=0)])
        for t, p, current in asked]), 3)
    return [(t.topic, p.partition, p.error_code, p.leader_epoch, p.end_offset) for t in r.topics for p in t.partitions]


def test_an_offline_log_in_offset_for_leader_epoch_and_describe_log_dirs(start_broker):
    """A log taken offline (the `storage::fdatasync` failpoint fails its fdatasync with EIO):
    OffsetForLeaderEpoch answers KAFKA_STORAGE_ERROR for it; DescribeLogDirs, where shoal
    takes a single log offline and not its directory, answers the directory without error and
    lists the offline log with its size. OffsetForLeaderEpoch's replica_id (a consumer's -1,
    this broker's id, another's) changes no check, and a partition the cluster does not have
    is UNKNOWN_TOPIC_OR_PARTITION."""
    doomed, fine = unique_topic("doomed"), unique_topic("fine")
    b = start_broker(env={"FAILPOINTS": f"storage::fdatasync=return(eio@{doomed}-0)"})
    create_topic(b, doomed)
    create_topic(b, fine)
    batch = kw.encode_batch([kw.Record(b"k", b"v")])
    with kw.Conn(b.bootstrap) as c:
        assert kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(fine, 0, batch)))[(fine, 0)][0] == NONE
        assert kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(doomed, 0, batch)))[(doomed, 0)][0] == \
            KAFKA_STORAGE_ERROR
        b.wait_for_stderr(rf"the log is offline.*{doomed}-0")
        asked = [(doomed, 0, -1), (fine, 0, -1), (fine, 0, 1), (fine, 9, -1), ("no-such-topic", 0, -1)]
        expected = [(doomed, 0, KAFKA_STORAGE_ERROR, -1, -1), (fine, 0, NONE, 0, 1),
                    (fine, 0, UNKNOWN_LEADER_EPOCH, -1, -1), (fine, 9, UNKNOWN_TOPIC_OR_PARTITION, -1, -1),
                    ("no-such-topic", 0, UNKNOWN_TOPIC_OR_PARTITION, -1, -1)]
        for replica_id in (-1, 1, 7):
            assert offsets_for_leader_epoch(c, replica_id, asked) == expected, replica_id

        (result,) = describe_log_dirs(c, 4, None).results
        assert result.error_code == NONE, result
        sizes = {(x.name, p.partition_index): p.partition_size for x in result.topics for p in x.partitions}
        on_disk = sum(f.stat().st_size for f in (b.log_dir / f"{doomed}-0").glob("*.log"))
        assert sizes[(doomed, 0)] == on_disk > 0, (sizes, on_disk)


def test_a_follower_and_a_broker_without_a_replica_refuse_leader_requests(start_broker):
    """Three brokers, a partition on brokers 1 (its leader) and 2. Broker 2, a follower:
    OffsetForLeaderEpoch checks the client's leader epoch before the lead (a newer epoch is
    UNKNOWN_LEADER_EPOCH, the current one or none NOT_LEADER_OR_FOLLOWER), and DeleteRecords
    is NOT_LEADER_OR_FOLLOWER. Broker 3, which holds no replica of a partition the cluster
    has: NOT_LEADER_OR_FOLLOWER too."""
    by_id = start_cluster(start_broker)
    t = unique_topic("led-by-1")
    new = NewTopic(t, num_partitions=1, replica_assignment=[[1, 2]])
    wait_futures(admin(by_id[1]).create_topics([new], operation_timeout=20))

    def seen_by(b) -> tuple | None:
        """(leader, ISR, leader epoch) of partition 0 in broker b's DescribeTopicPartitions."""
        with kw.Conn(b.bootstrap) as c:
            (topic,) = describe_topic_partitions(c, [t])
        return next(((p.leader_id, p.isr_nodes, p.leader_epoch) for p in topic.partitions), None)
    wait_for("every broker seeing broker 1 lead, broker 2 in the ISR",
             lambda: all((seen_by(b) or (0, []))[:2] == (1, [1, 2]) for b in by_id.values()))
    epoch = seen_by(by_id[1])[2]
    with kw.Conn(by_id[2].bootstrap) as c:
        asked = [(t, 0, -1), (t, 0, epoch), (t, 0, epoch + 1)]
        assert offsets_for_leader_epoch(c, -1, asked) == [
            (t, 0, NOT_LEADER_OR_FOLLOWER, -1, -1), (t, 0, NOT_LEADER_OR_FOLLOWER, -1, -1),
            (t, 0, UNKNOWN_LEADER_EPOCH, -1, -1)]
    assert delete_records(by_id[2], [(t, 0, 0)]) == {(t, 0): (NOT_LEADER_OR_FOLLOWER, -1)}
    with kw.Conn(by_id[3].bootstrap) as c:
        assert offsets_for_leader_epoch(c, -1, [(t, 0, -1)]) == [(t, 0, NOT_LEADER_OR_FOLLOWER, -1, -1)]
    assert delete_records(by_id[1], [(t, 0, 0)]) == {(t, 0): (NONE, 0)}


# ================================================================ DescribeTopicPartitions (replicas.md)

def test_describe_topic_partitions_checks_describe_and_answers_ids_and_operations(start_broker):
    """DescribeTopicPartitions: listing every topic, those the caller may not DESCRIBE are left
    out; a topic named that it may not describe is TOPIC_AUTHORIZATION_FAILED with no id, no
    partitions and no authorized operations (INT32_MIN), before its existence is looked at,
    and the refused topics come last. Each topic answered carries its id (Metadata's), whether
    it is internal, and its authorized operations, always; each partition's eligible leader
    replicas and last known ELR are empty (shoal keeps no ELR)."""
    b = secured(start_broker)
    shown, granted, hidden = unique_topic("a-shown"), unique_topic("b-granted"), unique_topic("z-hidden")
    for t in (shown, granted, hidden):
        create_topic(b, t, 2)
    with kw.Conn(b.bootstrap) as c:
        assert offset_commit_v2(c, unique_topic("g"), shown) == NONE  # makes __consumer_offsets
    deny_prefix = topic_acl("z-", AclOperation.DESCRIBE, AclPermissionType.DENY, pattern=ResourcePatternType.PREFIXED)
    assert create(b, deny_prefix, topic_acl(granted, AclOperation.READ),
                  topic_acl(granted, AclOperation.DESCRIBE)) == [None] * 3
    described = admin(b).describe_topics(TopicCollection([shown, granted]))
    ids = {}
    for name, future in described.items():
        u = future.result(timeout=30).topic_id  # two signed 64-bit halves
        high, low = u.get_most_significant_bits() % 2**64, u.get_least_significant_bits() % 2**64
        ids[name] = uuid.UUID(int=high << 64 | low)

    with kw.Conn(b.bootstrap) as c:
        listed = [t.name for t in describe_topic_partitions(c, [])]
        assert shown in listed and granted in listed and "__consumer_offsets" in listed, listed
        assert hidden not in listed, listed
        topics = describe_topic_partitions(c, [hidden, granted, "z-unknown", shown, "__consumer_offsets"], limit=1000)
    answered = [(t.name, t.error_code, t.topic_id, t.partitions, t.topic_authorized_operations)
                for t in topics if t.error_code != NONE]
    assert answered == [(hidden, TOPIC_AUTHORIZATION_FAILED, None, [], INT32_MIN),
                        ("z-unknown", TOPIC_AUTHORIZATION_FAILED, None, [], INT32_MIN)]
    assert [t.name for t in topics] == ["__consumer_offsets", shown, granted, hidden, "z-unknown"]
    by_name = {t.name: t for t in topics}
    assert (by_name[shown].topic_id, by_name[shown].is_internal, by_name[shown].topic_authorized_operations) == \
        (ids[shown], False, bits(TOPIC_OPERATIONS))
    # READ and DESCRIBE granted, and the topic's ACLs end allow-everyone for it.
    assert (by_name[granted].topic_id, by_name[granted].topic_authorized_operations) == \
        (ids[granted], bits({READ, DESCRIBE}))
    assert by_name["__consumer_offsets"].is_internal is True
    for t in (by_name[shown], by_name[granted], by_name["__consumer_offsets"]):
        assert t.partitions and all((p.eligible_leader_replicas, p.last_known_elr) == ([], [])
                                    for p in t.partitions), t


# ================================================================ ApiVersions, DescribeCluster (quorum.md)

def test_api_versions_says_the_broker_is_not_ready_for_a_zookeeper_migration(broker):
    """ApiVersions v3+: zk_migration_ready is false (a tagged field, tag 3: absent or 0)."""
    with kw.Conn(broker.bootstrap) as c:
        for version in (3, 4):
            rd = kw.Reader(c.request(kw.API_VERSIONS, version, kw.api_versions_v3(), flexible=True))
            assert rd.i16() == NONE
            rd.compact_array(lambda r: (r.i16(), r.i16(), r.i16(), r.skip_tags()))
            rd.i32()
            tags = rd.skip_tags()
            assert tags.get(3, b"\x00") == b"\x00", tags


def describe_cluster_operations(b, asked: bool = True) -> int:
    """DescribeCluster v0's cluster_authorized_operations, read raw."""
    with kw.Conn(b.bootstrap) as c:
        rd = kw.Reader(c.request(kw.DESCRIBE_CLUSTER, 0, kw.i8(int(asked)) + kw.EMPTY_TAGS, flexible=True))
    rd.i32()
    assert rd.i16() == NONE
    rd.compact_string(), rd.compact_string(), rd.i32()
    rd.compact_array(lambda r: (r.i32(), r.compact_string(), r.i32(), r.compact_string(), r.skip_tags()))
    return rd.i32()


def test_describe_cluster_answers_the_cluster_operations_the_caller_holds(start_broker):
    """DescribeCluster needs no ACL. cluster_authorized_operations, when asked: every cluster
    operation without an authorizer (and with one, for a cluster no ACL names, allow-everyone
    on); the operations the caller holds (an ALTER_CONFIGS grant implies DESCRIBE_CONFIGS);
    0 without DESCRIBE on the cluster, whatever else it holds. Not asked: INT32_MIN."""
    plain = start_broker()
    assert describe_cluster_operations(plain) == bits(CLUSTER_OPERATIONS)
    assert describe_cluster_operations(plain, asked=False) == INT32_MIN
    b = secured(start_broker)
    assert describe_cluster_operations(b) == bits(CLUSTER_OPERATIONS)
    assert describe_cluster_operations(b, asked=False) == INT32_MIN
    assert create(b, cluster_acl(AclOperation.ALTER), cluster_acl(AclOperation.DESCRIBE),
                  cluster_acl(AclOperation.ALTER_CONFIGS)) == [None] * 3
    assert describe_cluster_operations(b) == bits({ALTER, DESCRIBE, ALTER_CONFIGS, DESCRIBE_CONFIGS})
    assert create(b, cluster_acl(AclOperation.DESCRIBE, AclPermissionType.DENY)) == [None]
    assert describe_cluster_operations(b) == 0


# ================================================================ DescribeQuorum, Add/RemoveRaftVoter (quorum.md)

def test_describe_quorum_on_a_cluster_of_one(broker):
    """DescribeQuorum: anything but the one partition 0 of `__cluster_metadata` answers each
    partition asked UNKNOWN_TOPIC_OR_PARTITION (no INVALID_REQUEST: the top level is NONE).
    A cluster of one has no replicated log: it reports itself as the leader and only voter,
    at epoch 0 and high watermark 0."""
    with kw.Conn(broker.bootstrap) as c:
        for asked in ([("__cluster_metadata", [1])], [("other", [0])], [("__cluster_metadata", [0, 1])],
                      METADATA_LOG * 2):
            for version in (0, 2):
                r = describe_quorum(c, asked, version)
                assert r.error_code == NONE, r
                assert [(t.topic_name, p.partition_index, p.error_code) for t in r.topics for p in t.partitions] == \
                    [(t, p, UNKNOWN_TOPIC_OR_PARTITION) for t, ps in asked for p in ps]
        assert describe_quorum(c, []).topics == []
        r = describe_quorum(c, METADATA_LOG)
        (p,) = r.topics[0].partitions
        assert (p.error_code, p.leader_id, p.leader_epoch, p.high_watermark) == (NONE, 1, 0, 0), p
        assert [v.replica_id for v in p.current_voters] == [1] and p.observers == [], p


def test_a_cluster_of_one_checks_a_voter_change_request_before_refusing_it(broker):
    """AddRaftVoter and RemoveRaftVoter check the request itself first (a voter id below 0 or
    a zero directory id, an added voter without listeners: INVALID_REQUEST), as Kafka does,
    before a cluster of one, whose voters are fixed, answers UNSUPPORTED_VERSION."""
    zero, some = uuid.UUID(int=0), uuid.uuid4()
    with kw.Conn(broker.bootstrap) as c:
        assert add_raft_voter(c, -1, some, [("CONTROLLER", "127.0.0.1", 9)])[0] == INVALID_REQUEST
        assert add_raft_voter(c, 2, zero, [("CONTROLLER", "127.0.0.1", 9)])[0] == INVALID_REQUEST
        assert add_raft_voter(c, 2, some, [])[0] == INVALID_REQUEST
        assert remove_raft_voter(c, 2, zero)[0] == INVALID_REQUEST
        assert add_raft_voter(c, 2, some, [("CONTROLLER", "127.0.0.1", 9)])[0] == UNSUPPORTED_VERSION
        assert remove_raft_voter(c, 2, some)[0] == UNSUPPORTED_VERSION


def test_quorum_requests_need_describe_or_alter_on_the_cluster(start_broker):
    """Without DESCRIBE on the cluster, DescribeQuorum is CLUSTER_AUTHORIZATION_FAILED at the
    top level; without ALTER, AddRaftVoter and RemoveRaftVoter are CLUSTER_AUTHORIZATION_FAILED,
    before the cluster id is looked at (with the right to, a wrong one is
    INCONSISTENT_CLUSTER_ID)."""
    b = secured(start_broker)
    some = uuid.uuid4()
    with kw.Conn(b.bootstrap) as c:
        assert describe_quorum(c, METADATA_LOG).error_code == NONE
        assert add_raft_voter(c, 2, some, [("CONTROLLER", "127.0.0.1", 9)], cluster_id="wrong")[0] == \
            INCONSISTENT_CLUSTER_ID
        assert remove_raft_voter(c, 2, some, cluster_id="wrong")[0] == INCONSISTENT_CLUSTER_ID
    assert create(b, cluster_acl(AclOperation.ALTER, AclPermissionType.DENY),
                  cluster_acl(AclOperation.DESCRIBE, AclPermissionType.DENY)) == [None] * 2
    with kw.Conn(b.bootstrap) as c:
        for version in (0, 2):
            r = describe_quorum(c, METADATA_LOG, version)
            assert (r.error_code, r.topics) == (CLUSTER_AUTHORIZATION_FAILED, []), r
        assert add_raft_voter(c, 2, some, [("CONTROLLER", "127.0.0.1", 9)], cluster_id="wrong")[0] == \
            CLUSTER_AUTHORIZATION_FAILED
        assert remove_raft_voter(c, 2, some, cluster_id="wrong")[0] == CLUSTER_AUTHORIZATION_FAILED
        # ElectLeaders without ALTER: every partition asked carries the refusal; from v1 the
        # top level too (v0 has no field for it).
        t = unique_topic("elect-refused")
        for version in (0, 1, 2):
            r = elect_leaders(c, version, [(t, [0, 3])])
            assert election_results(r) == [(t, 0, CLUSTER_AUTHORIZATION_FAILED), (t, 3, CLUSTER_AUTHORIZATION_FAILED)]
            assert version == 0 or r.error_code == CLUSTER_AUTHORIZATION_FAILED, r


def test_add_and_remove_raft_voter_check_as_kafka_does_on_a_dynamic_quorum(start_broker, tmp_path):
    """AddRaftVoter and RemoveRaftVoter on a one-node dynamic quorum: a cluster id other than
    this cluster's (an empty one too) is INCONSISTENT_CLUSTER_ID, a null or the right one is
    not refused for it; a voter id below 0 or a zero directory id is INVALID_REQUEST; an
    AddRaftVoter naming no listener is INVALID_REQUEST; the listeners given are checked after
    DUPLICATE_VOTER; and, shoal's own (no ApiVersions probe), a new voter that is no controller
    registered under that directory id is REQUEST_TIMED_OUT."""
    b, port, data = one_node_dynamic_quorum(start_broker, tmp_path)
    directory = uuid.UUID((data / "__cluster_metadata-0" / "directory-id").read_text().strip())
    other = uuid.uuid4()
    listener = [("CONTROLLER", "127.0.0.1", port)]
    with kw.Conn(b.bootstrap) as c:
        ours = cluster_id(c)
        for wrong in ("wrong", ""):
            assert add_raft_voter(c, 2, other, listener, cluster_id=wrong)[0] == INCONSISTENT_CLUSTER_ID
            assert remove_raft_voter(c, 2, other, cluster_id=wrong)[0] == INCONSISTENT_CLUSTER_ID
        for theirs in (None, ours):
            assert add_raft_voter(c, 1, directory, listener, cluster_id=theirs)[0] == DUPLICATE_VOTER
        assert add_raft_voter(c, -1, other, listener)[0] == INVALID_REQUEST
        assert add_raft_voter(c, 2, uuid.UUID(int=0), listener)[0] == INVALID_REQUEST
        assert add_raft_voter(c, 2, other, [])[0] == INVALID_REQUEST
        assert remove_raft_voter(c, -1, directory)[0] == INVALID_REQUEST
        assert remove_raft_voter(c, 1, uuid.UUID(int=0))[0] == INVALID_REQUEST
        # Voter 1 named with a listener it did not register: already a voter comes first.
        assert add_raft_voter(c, 1, directory, [("CONTROLLER", "127.0.0.1", 9)])[0] == DUPLICATE_VOTER
        error, message = add_raft_voter(c, 2, other, listener)
        assert error == REQUEST_TIMED_OUT, message
        r = describe_quorum(c, METADATA_LOG)
        assert [v.replica_id for v in r.topics[0].partitions[0].current_voters] == [1], "the voters changed"


def test_a_controller_registers_its_listener_again_when_it_changes(start_broker, tmp_path):
    """In place of ControllerRegistration and UpdateRaftVoter: a controller of a dynamic
    quorum restarted with another controller listener proposes its registration again, and
    DescribeQuorum v2 names the voter at its new listener."""
    b, port, _ = one_node_dynamic_quorum(start_broker, tmp_path)

    def voter_listeners(conn) -> list:
        r = describe_quorum(conn, METADATA_LOG)
        return [(n.node_id, [(x.name, x.host, x.port) for x in n.listeners]) for n in r.nodes]

    with kw.Conn(b.bootstrap) as c:
        assert voter_listeners(c) == [(1, [("CONTROLLER", "127.0.0.1", port)])]
    (moved,) = free_ports(1)
    b.overrides.update({"listeners": f"PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:{moved}",
                        "controller.quorum.bootstrap.servers": f"127.0.0.1:{moved}"})
    b.restart()

    def registered_again():
        with kw.Conn(b.bootstrap) as c:
            return voter_listeners(c) == [(1, [("CONTROLLER", "127.0.0.1", moved)])]
    wait_for("the voter named at its new listener", registered_again)


# ================================================================ not on the Kafka wire (quorum.md)

# Kafka's controller and quorum APIs that shoal's handler table does not hold.
UNSERVED_APIS = {"Vote": 52, "BeginQuorumEpoch": 53, "EndQuorumEpoch": 54, "AlterPartition": 56,
                 "UpdateFeatures": 57, "Envelope": 58, "FetchSnapshot": 59, "BrokerRegistration": 62,
                 "BrokerHeartbeat": 63, "UnregisterBroker": 64, "AllocateProducerIds": 67,
                 "ControllerRegistration": 70, "AssignReplicasToDirs": 73, "UpdateRaftVoter": 82}


def test_the_metadata_log_and_the_controllers_apis_are_not_on_the_kafka_wire(start_broker, tmp_path):
    """On a node that holds a metadata log (a one-node dynamic quorum): a Fetch of
    `__cluster_metadata` is answered as for a topic that does not exist
    (UNKNOWN_TOPIC_OR_PARTITION, v4 and v12). Kafka's controller APIs (AlterPartition,
    UnregisterBroker, AllocateProducerIds, AssignReplicasToDirs, Envelope, UpdateFeatures,
    and the quorum's own) are not in the ApiVersions answer, and a request naming one closes
    the connection unanswered."""
    b, _, _ = one_node_dynamic_quorum(start_broker, tmp_path)
    with kw.Conn(b.bootstrap) as c:
        # Metadata never creates a topic of the metadata log's name, as Kafka refuses it.
        named = kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1(["__cluster_metadata"])))
        assert named.topics["__cluster_metadata"][0] == UNKNOWN_TOPIC_OR_PARTITION, named
        fetched = kw.parse_fetch_v4(c.request(kw.FETCH, 4, kw.fetch_v4("__cluster_metadata", 0, 0, max_wait_ms=0)))
        assert (fetched[("__cluster_metadata", 0)].error_code, fetched[("__cluster_metadata", 0)].records) == \
            (UNKNOWN_TOPIC_OR_PARTITION, b"")
        fetched = kw.parse_fetch_v12(c.request(kw.FETCH, 12, kw.fetch_v12("__cluster_metadata", 0, 0), flexible=True))
        assert (fetched[("__cluster_metadata", 0)].error_code, fetched[("__cluster_metadata", 0)].records) == \
            (UNKNOWN_TOPIC_OR_PARTITION, b"")
        served = kw.parse_api_versions(c.request(kw.API_VERSIONS, 0, kw.api_versions_v0()), 0).versions
    assert not set(UNSERVED_APIS.values()) & set(served), served
    for name, key in UNSERVED_APIS.items():
        with kw.Conn(b.bootstrap) as c:
            c.send(key, 0, b"\0" * 16)
            assert c.wait_closed() == b"", name


# ================================================================ classic groups (groups.md)

def subscription(topics: list[str]) -> bytes:
    """A ConsumerProtocolSubscription v0."""
    return kw.i16(0) + kw.array([kw.string(t) for t in topics]) + kw.nbytes(None)


def assignment(topic: str, partitions: list[int]) -> bytes:
    """A ConsumerProtocolAssignment v0."""
    return kw.i16(0) + kw.array([kw.string(topic) + kw.array([kw.i32(p) for p in partitions])]) + kw.nbytes(None)


def join_request(group: str, version: int, member: str = "", instance: str | None = None,
                 session_ms: int = 6000, topic: str = "t"):
    J = JoinGroupRequest
    fields = dict(group_id=group, session_timeout_ms=session_ms, member_id=member, protocol_type="consumer",
                  protocols=[J.JoinGroupRequestProtocol(name="range", metadata=subscription([topic]))])
    if version >= 1:
        fields["rebalance_timeout_ms"] = session_ms
    if version >= 5:
        fields["group_instance_id"] = instance
    return J(**fields)


def sync_group(conn: kw.Conn, group: str, generation: int, member: str, version: int = 5,
               protocol_type: str | None = "consumer", protocol_name: str | None = "range", assigned: bytes = b""):
    S = SyncGroupRequest
    fields = dict(group_id=group, generation_id=generation, member_id=member,
                  assignments=[S.SyncGroupRequestAssignment(member_id=member, assignment=assigned)])
    if version >= 3:
        fields["group_instance_id"] = None
    if version >= 5:
        fields.update(protocol_type=protocol_type, protocol_name=protocol_name)
    return ask(conn, S(**fields), version)


def joined(conn: kw.Conn, group: str, version: int, **kwargs):
    """A member's join, taking the id MEMBER_ID_REQUIRED hands out (v4+)."""
    r = ask(conn, join_request(group, version, **kwargs), version)
    if r.error_code == MEMBER_ID_REQUIRED:
        r = ask(conn, join_request(group, version, member=r.member_id, **kwargs), version)
    assert r.error_code == NONE, r
    return r


def test_join_group_v0_waits_its_session_timeout_for_the_members_to_rejoin(start_broker):
    """JoinGroup v0 has no rebalance timeout: the session timeout serves. A member joined at
    v0 with a 3 s session keeps beating (told REBALANCE_IN_PROGRESS) but never rejoins; a
    second member's join completes without it once 3 s have passed, not sooner, and the first
    is gone."""
    b = start_broker(GROUP_OVERRIDES)
    group = unique_topic("g-v0")
    with kw.Conn(b.bootstrap) as first, kw.Conn(b.bootstrap) as second:
        r = joined(first, group, 0, session_ms=3000)
        member, generation = r.member_id, r.generation_id
        assert sync_group(first, group, generation, member, version=0).error_code == NONE
        began = time.monotonic()
        corr = next(kw._correlation)
        request = join_request(group, 0, session_ms=3000)
        request.with_header(correlation_id=corr, client_id="conformance")
        second.send_raw(request.encode(version=0, header=True, framed=True))
        answer, beats = None, []
        while answer is None:
            assert time.monotonic() - began < 30, f"the second join was not answered within 30 s: {beats}"
            beats.append(ask(first, HeartbeatRequest(group_id=group, generation_id=generation, member_id=member),
                             0).error_code)
            try:
                answer = second.recv_frame(timeout=0.3)
            except TimeoutError:
                pass
        waited = time.monotonic() - began
        r = request.header.get_response_class().decode(answer, version=0, header=True)
        assert r.error_code == NONE and r.generation_id == generation + 1, r
        assert [m.member_id for m in r.members] == [r.member_id], r
        assert waited >= 2.9, f"the join completed after {waited:.2f} s, before the first member's 3 s session"
        # Beats that reach the group before the second join are answered as before; after
        # it, every one is told of the rebalance.
        assert REBALANCE_IN_PROGRESS in beats and set(beats[beats.index(REBALANCE_IN_PROGRESS):]) == \
            {REBALANCE_IN_PROGRESS}, beats
        gone = ask(first, HeartbeatRequest(group_id=group, generation_id=generation, member_id=member), 0)
        assert gone.error_code == UNKNOWN_MEMBER_ID, gone


def test_classic_group_requests_check_the_protocol_and_the_group(start_broker):
    """JoinGroup v9: shoal never sets skip_assignment, even where Kafka would (a static
    leader replaced in a stable group, KIP-814). SyncGroup v5: a protocol type or name other
    than the group's is INCONSISTENT_GROUP_PROTOCOL (a null one is not checked). LeaveGroup
    of a group that does not exist: UNKNOWN_MEMBER_ID (v0, and at the top level from v3)."""
    b = start_broker(GROUP_OVERRIDES)
    group = unique_topic("g-classic")
    with kw.Conn(b.bootstrap) as c:
        first = joined(c, group, 9, instance="static-1")
        assert (first.skip_assignment, first.leader) == (False, first.member_id), first
        for protocol_type, protocol_name in (("connect", "range"), ("consumer", "roundrobin"), ("connect", None),
                                             (None, "roundrobin")):
            r = sync_group(c, group, first.generation_id, first.member_id, protocol_type=protocol_type,
                           protocol_name=protocol_name)
            assert r.error_code == INCONSISTENT_GROUP_PROTOCOL, (protocol_type, protocol_name, r)
        for protocol_type, protocol_name in ((None, None), ("consumer", "range")):
            r = sync_group(c, group, first.generation_id, first.member_id, protocol_type=protocol_type,
                           protocol_name=protocol_name, assigned=b"a")
            assert (r.error_code, r.assignment) == (NONE, b"a"), r
        # The static leader comes back under a new member id: it replaces the old one.
        again = joined(c, group, 9, instance="static-1")
        assert again.member_id != first.member_id and again.leader == again.member_id, again
        assert again.skip_assignment is False, again

        L = LeaveGroupRequest
        assert ask(c, L(group_id="no-such-group", member_id="m"), 0).error_code == UNKNOWN_MEMBER_ID
        for version in (3, 5):
            identity = dict(member_id="m", group_instance_id=None, **({"reason": "bye"} if version >= 5 else {}))
            r = ask(c, L(group_id="no-such-group", members=[L.MemberIdentity(**identity)]), version)
            assert (r.error_code, r.members) == (UNKNOWN_MEMBER_ID, []), r


# ================================================================ KIP-848 groups (groups.md)

def test_consumer_group_heartbeat_refuses_unknown_assignors_and_full_groups(start_broker):
    """ConsumerGroupHeartbeat (group.max.size 1): an assignor other than `uniform` or `range`
    is UNSUPPORTED_ASSIGNOR with Kafka's message; a member joining a full group is
    GROUP_MAX_SIZE_REACHED; and a KIP-848 member joining a classic group that is already at
    the size (shoal has one group.max.size for both protocols) is GROUP_MAX_SIZE_REACHED, the
    classic group left as it was."""
    b = start_broker({**GROUP_OVERRIDES, "group.max.size": 1})
    topic = unique_topic("t")
    create_topic(b, topic)
    with kw.Conn(b.bootstrap) as c:
        error, message, _ = consumer_group_heartbeat_v1(c, unique_topic("g"), "m-1", [topic], assignor="sticky")
        assert (error, message) == (UNSUPPORTED_ASSIGNOR,
                                    "ServerAssignor sticky is not supported. Supported assignors: uniform, range.")
        full = unique_topic("g-full")
        error, _, epoch = consumer_group_heartbeat_v1(c, full, "m-1", [topic], assignor="range")
        assert error == NONE and epoch > 0
        assert consumer_group_heartbeat_v1(c, full, "m-2", [topic])[0] == GROUP_MAX_SIZE_REACHED

        classic = unique_topic("g-classic")
        r = joined(c, classic, 5, topic=topic)
        assert sync_group(c, classic, r.generation_id, r.member_id, assigned=assignment(topic, [0])).error_code == NONE
        assert consumer_group_heartbeat_v1(c, classic, "m-new", [topic])[0] == GROUP_MAX_SIZE_REACHED
        beat = ask(c, HeartbeatRequest(group_id=classic, generation_id=r.generation_id, member_id=r.member_id), 3)
        assert beat.error_code == NONE, beat


def test_a_consumer_group_heartbeat_subscribing_to_an_undescribable_topic_is_refused(start_broker):
    """ConsumerGroupHeartbeat: a subscription naming a topic the member may not DESCRIBE is
    TOPIC_AUTHORIZATION_FAILED, whatever else it names; a describable one is joined."""
    b = secured(start_broker)
    allowed, hidden = unique_topic("allowed"), unique_topic("hidden")
    create_topic(b, allowed)
    create_topic(b, hidden)
    assert create(b, topic_acl(hidden, AclOperation.DESCRIBE, AclPermissionType.DENY)) == [None]
    group = unique_topic("g")
    with kw.Conn(b.bootstrap) as c:
        for topics in ([hidden], [allowed, hidden]):
            assert consumer_group_heartbeat_v1(c, group, "m-1", topics)[0] == TOPIC_AUTHORIZATION_FAILED, topics
        error, _, epoch = consumer_group_heartbeat_v1(c, group, "m-1", [allowed])
        assert error == NONE and epoch > 0


# ================================================================ FindCoordinator, DeleteGroups (groups.md)

def find_coordinator(conn: kw.Conn, key: str, key_type: int, version: int) -> tuple[int, int, str, int]:
    """(error, node, host, port) of one key."""
    if version >= 4:
        r = ask(conn, FindCoordinatorRequest(key_type=key_type, coordinator_keys=[key]), version)
        (x,) = r.coordinators
        assert x.key == key, r
        return x.error_code, x.node_id, x.host, x.port
    fields = dict(key=key) if version == 0 else dict(key=key, key_type=key_type)
    r = ask(conn, FindCoordinatorRequest(**fields), version)
    return r.error_code, r.node_id, r.host, r.port


NO_NODE = (-1, "", -1)


def test_find_coordinator_checks_describe_and_takes_any_key(start_broker):
    """FindCoordinator: a group key (type 0) without DESCRIBE on the group is
    GROUP_AUTHORIZATION_FAILED, a transactional id (type 1) without DESCRIBE on it
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED; an error names node -1, host "" and port -1
    (INVALID_REQUEST for an unknown key type too); the key itself is not checked: an empty
    key is found like any other. In every version, v4+'s keys each answered."""
    b = secured(start_broker)
    assert create(b, group_acl("g-denied", AclOperation.DESCRIBE, AclPermissionType.DENY),
                  binding(ResourceType.TRANSACTIONAL_ID, "t-denied", op=AclOperation.DESCRIBE,
                          perm=AclPermissionType.DENY)) == [None] * 2
    me = (1, "127.0.0.1", b.port)
    with kw.Conn(b.bootstrap) as c:
        for version in (0, 1, 3, 4, 6):
            assert find_coordinator(c, "g-denied", 0, version) == (GROUP_AUTHORIZATION_FAILED, *NO_NODE), version
            assert find_coordinator(c, "", 0, version) == (NONE, *me), version
            if version >= 1:
                assert find_coordinator(c, "t-denied", 1, version) == \
                    (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, *NO_NODE), version
                assert find_coordinator(c, "", 1, version) == (NONE, *me), version
                assert find_coordinator(c, "k", 3, version) == (INVALID_REQUEST, *NO_NODE), version
        r = ask(c, FindCoordinatorRequest(key_type=0, coordinator_keys=["g-denied", "", "g-other"]), 4)
        assert [(x.key, x.error_code, x.node_id, x.host, x.port) for x in r.coordinators] == [
            ("g-denied", GROUP_AUTHORIZATION_FAILED, *NO_NODE), ("", NONE, *me), ("g-other", NONE, *me)]


def internal_topic_exists(conn: kw.Conn, name: str) -> bool:
    (t,) = describe_topic_partitions(conn, [name])
    assert t.error_code in (NONE, UNKNOWN_TOPIC_OR_PARTITION), t
    return t.error_code == NONE


def test_find_coordinator_when_the_internal_topic_does_not_exist(start_broker, tmp_path):
    """FindCoordinator before `__consumer_offsets` or `__transaction_state` exists (shoal's
    own): a cluster of one answers itself without making the topic, which the group's or the
    transaction's first request makes; with a metadata quorum (a one-node dynamic quorum
    here) the broker makes the topic and answers the coordinator at once."""
    one = start_broker()
    me = (1, "127.0.0.1", one.port)
    with kw.Conn(one.bootstrap) as c:
        for key_type, internal in ((0, "__consumer_offsets"), (1, "__transaction_state")):
            for version in (1, 4):
                assert find_coordinator(c, "key", key_type, version) == (NONE, *me)
            assert not internal_topic_exists(c, internal), internal
        topic = unique_topic("t")
        create_topic(one, topic)
        assert offset_commit_v2(c, "first-group", topic) == NONE
        assert internal_topic_exists(c, "__consumer_offsets")
        rd = kw.Reader(c.request(kw.INIT_PRODUCER_ID, 0, kw.init_producer_id_v0("first-transaction")))
        rd.i32()
        assert rd.i16() == NONE
        assert internal_topic_exists(c, "__transaction_state")

    quorum, _, _ = one_node_dynamic_quorum(start_broker, tmp_path)
    me = (1, "127.0.0.1", quorum.port)
    with kw.Conn(quorum.bootstrap) as c:
        for key_type, internal in ((0, "__consumer_offsets"), (1, "__transaction_state")):
            assert not internal_topic_exists(c, internal), internal
            assert find_coordinator(c, "key", key_type, 4) == (NONE, *me)
            assert internal_topic_exists(c, internal), internal


def test_delete_groups_needs_delete_on_each_group(start_broker):
    """DeleteGroups: a group the caller may not DELETE is GROUP_AUTHORIZATION_FAILED, and
    stays; the other groups of the request go on (deleted, or GROUP_ID_NOT_FOUND)."""
    b = secured(start_broker)
    topic = unique_topic("t")
    create_topic(b, topic)
    kept, deleted = unique_topic("g-kept"), unique_topic("g-deleted")
    deny_delete = group_acl(kept, AclOperation.DELETE, AclPermissionType.DENY)
    assert create(b, group_acl(kept, AclOperation.ALL), deny_delete) == [None] * 2
    with kw.Conn(b.bootstrap) as c:
        assert offset_commit_v2(c, kept, topic) == NONE
        assert offset_commit_v2(c, deleted, topic) == NONE
        r = ask(c, DeleteGroupsRequest(groups_names=[kept, deleted, "no-such-group"]), 2)
        assert [(x.group_id, x.error_code) for x in r.results] == \
            [(kept, GROUP_AUTHORIZATION_FAILED), (deleted, NONE), ("no-such-group", GROUP_ID_NOT_FOUND)]
    listed = {g.group_id for g in admin(b).list_consumer_groups().result(timeout=30).valid}
    assert kept in listed and deleted not in listed, listed
