"""Client quotas (issue 20): AlterClientQuotas and DescribeClientQuotas as Kafka answers them
(encoded and decoded by kafka-python), `shoal configs` for users and clients, and produce and
fetch quotas that throttle real clients (confluent-kafka's throttle_cb sees the throttle time)
while clients without a quota go unthrottled.

The brokers measure quotas over 2 windows of 1 s (`quota.window.num`,
`quota.window.size.seconds`), so a client's rate is known within a second or two; the timing
checks are lower bounds only: a throttled client cannot move its bytes faster than its quota
allows, give or take the two windows the broker forgets."""

from __future__ import annotations

import itertools
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import NewTopic
from kafka.protocol.admin import (
    AlterClientQuotasRequest,
    AlterClientQuotasResponse,
    CreateTopicsRequest,
    CreateTopicsResponse,
    DeleteTopicsRequest,
    DeleteTopicsResponse,
    DescribeClientQuotasRequest,
    DescribeClientQuotasResponse,
)

import kafka_wire as kw
from clients import admin, base_conf, consume_all, produce_all, unique_topic, wait_futures
from test_prometheus import scrape
from test_sasl import login_conf, sasl_settings

INVALID_REQUEST = 42
THROTTLING_QUOTA_EXCEEDED = 89
CLUSTER_AUTHORIZATION_FAILED = 31
WINDOWS = {"quota.window.num": "2", "quota.window.size.seconds": "1"}
RATE = 100_000  # bytes per second
VALUE = b"q" * 10_000


@pytest.fixture
def cores() -> int:
    """Two shards: a client's quota is the broker's, whichever shard its connection is on."""
    return 2


def call(b, request, response_class, version: int = 1, client_id: str = "quota-tests"):
    with kw.Conn(b.bootstrap) as c:
        request.with_header(correlation_id=7, client_id=client_id)
        c.send_raw(request.encode(version=version, header=True, framed=True))
        return response_class.decode(c.recv_frame(), version=version, header=True)


def alter(b, entity: dict, ops: dict, validate_only: bool = False) -> tuple[int, str | None]:
    """AlterClientQuotas of one entity ({type: name or None for the default}); a None value
    removes the key. Answers the entity's (error code, message)."""
    A = AlterClientQuotasRequest
    entry = A.EntryData(
        entity=[A.EntryData.EntityData(entity_type=t, entity_name=n) for t, n in entity.items()],
        ops=[A.EntryData.OpData(key=k, value=v or 0.0, remove=v is None) for k, v in ops.items()])
    r = call(b, A(entries=[entry], validate_only=validate_only), AlterClientQuotasResponse)
    assert len(r.entries) == 1, r
    return r.entries[0].error_code, r.entries[0].error_message


def describe(b, components: list[tuple[str, int, str | None]], strict: bool):
    D = DescribeClientQuotasRequest
    request = D(components=[D.ComponentData(entity_type=t, match_type=m, match=n) for t, m, n in components],
                strict=strict)
    return call(b, request, DescribeClientQuotasResponse)


def described(b, components=(), strict=False) -> dict:
    """{frozenset of (type, name): {key: value}} of the entities a filter matches."""
    r = describe(b, list(components), strict)
    assert r.error_code == 0, r
    return {frozenset((e.entity_type, e.entity_name) for e in entry.entity): {v.key: v.value for v in entry.values}
            for entry in r.entries}


UNSUPPORTED_VERSION = 35
ALICE = frozenset({("user", "alice")})
DEFAULTS = frozenset({("user", None), ("client-id", None)})


def test_quotas_are_set_described_and_removed_as_kafka_answers(start_broker):
    b = start_broker()
    assert alter(b, {"user": "alice"}, {"producer_byte_rate": 1024.0}) == (0, None)
    assert alter(b, {"user": None, "client-id": None},
                 {"consumer_byte_rate": 2048.0, "request_percentage": 12.5}) == (0, None)
    # A dry run answers as the change would and changes nothing.
    assert alter(b, {"client-id": "c1"}, {"producer_byte_rate": 10.0}, validate_only=True) == (0, None)
    refused = [
        ({"user": "alice"}, {"nonsense": 1.0}, "Invalid configuration key nonsense"),
        ({"user": "alice"}, {"producer_byte_rate": 1.5}, "producer_byte_rate cannot be a fractional value."),
        ({"user": "alice"}, {"producer_byte_rate": 0.0}, "Quota producer_byte_rate must be greater than 0"),
        ({"user": "alice"}, {"consumer_byte_rate": 1e20},
         "Proposed value for consumer_byte_rate is too large for a LONG."),
        ({"ip": "127.0.0.1"}, {"connection_creation_rate": 3e9},
         "Proposed value for connection_creation_rate is too large for an INT."),
        ({}, {"producer_byte_rate": 1.0}, "Invalid empty client quota entity"),
        ({"group": "g"}, {"producer_byte_rate": 1.0}, "Unhandled client quota entity type: group"),
        ({"user": ""}, {"producer_byte_rate": 1.0}, "Empty user not supported"),
        ({"ip": "nowhere"}, {"connection_creation_rate": 1.0},
         "nowhere is not a valid IP (shoal takes addresses, not host names)"),
        ({"ip": "127.0.0.1", "user": "alice"}, {"connection_creation_rate": 1.0},
         "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"),
        ({"ip": "127.0.0.1"}, {"producer_byte_rate": 1.0}, "Invalid configuration key producer_byte_rate"),
        ({"user": "alice"}, {"connection_creation_rate": 1.0}, "Invalid configuration key connection_creation_rate"),
    ]
    for entity, ops, message in refused:
        assert alter(b, entity, ops) == (INVALID_REQUEST, message)
    assert described(b) == {ALICE: {"producer_byte_rate": 1024.0},
                            DEFAULTS: {"consumer_byte_rate": 2048.0, "request_percentage": 12.5}}
    # Filters: exact, default, any specified name; strict matches only exactly those types.
    assert set(described(b, [("user", 0, "alice")], strict=True)) == {ALICE}
    assert set(described(b, [("user", 2, None)], strict=True)) == {ALICE}
    # Any name of the type: the default too, as Kafka's type match takes it.
    assert set(described(b, [("user", 2, None)], strict=False)) == {ALICE, DEFAULTS}
    assert set(described(b, [("user", 1, None)], strict=False)) == {DEFAULTS}
    assert described(b, [("user", 1, None)], strict=True) == {}
    assert set(described(b, [("user", 1, None), ("client-id", 1, None)], strict=True)) == {DEFAULTS}
    bad = describe(b, [("user", 0, None)], strict=False)
    assert (bad.error_code, bad.error_message) == (
        INVALID_REQUEST, "Request specified MATCH_TYPE_EXACT, but set match string to null.")
    bad = describe(b, [("group", 2, None)], strict=False)
    assert (bad.error_code, bad.error_message) == (UNSUPPORTED_VERSION, "Unsupported entity type group")
    # Removing a key; the quotas outlive a restart.
    assert alter(b, {"user": "alice"}, {"producer_byte_rate": None}) == (0, None)
    b.restart()
    assert described(b) == {DEFAULTS: {"consumer_byte_rate": 2048.0, "request_percentage": 12.5}}


def test_only_a_cluster_admin_alters_or_describes_quotas(start_broker):
    b = start_broker(sasl_settings(**{
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:admin",
    }))
    from test_sasl import plain_login, PASSWORDS
    A = AlterClientQuotasRequest
    entry = A.EntryData(entity=[A.EntryData.EntityData(entity_type="user", entity_name="bob")],
                        ops=[A.EntryData.OpData(key="producer_byte_rate", value=1.0, remove=False)])
    for user, code in (("alice", CLUSTER_AUTHORIZATION_FAILED), ("admin", 0)):
        with kw.Conn(b.bootstrap) as c:
            plain_login(c, user, PASSWORDS[user])
            request = A(entries=[entry], validate_only=False)
            request.with_header(correlation_id=1, client_id="quota-tests")
            c.send_raw(request.encode(version=1, header=True, framed=True))
            assert AlterClientQuotasResponse.decode(c.recv_frame(), version=1, header=True).entries[0].error_code == code
            request = DescribeClientQuotasRequest(components=[], strict=False)
            request.with_header(correlation_id=2, client_id="quota-tests")
            c.send_raw(request.encode(version=1, header=True, framed=True))
            assert DescribeClientQuotasResponse.decode(c.recv_frame(), version=1, header=True).error_code == code


def timed_produce(b, topic: str, count: int, **conf) -> tuple[float, list]:
    """Produces `count` records of VALUE in small requests, one at a time; answers how long it
    took and the throttle events the producer saw."""
    events: list = []
    p = Producer({**base_conf(b, **conf), "throttle_cb": events.append, "batch.size": 16384,
                  "linger.ms": 0, "max.in.flight.requests.per.connection": 1})
    try:
        began = time.monotonic()
        produce_all(p, topic, [{"value": VALUE, "partition": 0} for _ in range(count)], flush_s=60)
        return time.monotonic() - began, events
    finally:
        p.flush(0)


def test_a_produce_quota_throttles_its_user_and_no_one_else(start_broker, tmp_path):
    from test_cli import ok

    b = start_broker(sasl_settings(**WINDOWS))
    topic = unique_topic("quota")
    wait_futures(admin(b, **login_conf("admin")).create_topics([NewTopic(topic, 1, 1)]))
    admin_config = tmp_path / "admin.properties"
    admin_config.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                            "sasl.username=admin\nsasl.password=admin-secret\n")
    login = ["--command-config", str(admin_config)]
    out = ok(b, "configs", "--alter", "--entity-type", "users", "--entity-name", "alice",
             "--add-config", f"producer_byte_rate={RATE}", *login)
    assert out.strip() == "Completed updating config for user alice."
    out = ok(b, "configs", "--describe", "--entity-type", "users", "--entity-name", "alice", *login)
    assert out.strip() == f"Quota configs for user-principal 'alice' are producer_byte_rate={RATE}.0"

    count = 60  # 600 KB: 6 s at the quota; the two windows forgotten allow 2 s of it sooner
    elapsed, events = timed_produce(b, topic, count, **login_conf("alice"))
    assert any(e.throttle_time > 0 for e in events), events
    assert elapsed >= 2.5, f"alice produced {count * len(VALUE)} bytes in {elapsed:.2f} s against {RATE} bytes/s"
    _, bob_events = timed_produce(b, topic, count, **login_conf("bob"))
    assert not [e for e in bob_events if e.throttle_time > 0], bob_events

    metrics = scrape(b)
    alice = '{user="alice",client_id=""}'
    assert metrics[f"kafka_server_produce_throttle_time{alice}"] > 0
    assert metrics[f"kafka_server_produce_byte_rate{alice}"] > 0
    assert not [k for k in metrics if 'user="bob"' in k]
    got = consume_all(b, topic, [0], **{k.replace("_", "."): v for k, v in login_conf("admin").items()})
    assert len(got[0]) == 2 * count and all(r.value == VALUE for r in got[0])

    # Removed, the quota throttles no more.
    ok(b, "configs", "--alter", "--user", "alice", "--delete-config", "producer_byte_rate", *login)
    assert ok(b, "configs", "--describe", "--entity-type", "users", *login).strip() == ""


def test_a_fetch_quota_throttles_its_client_id(start_broker):
    b = start_broker(WINDOWS)
    topic = unique_topic("quota")
    wait_futures(admin(b).create_topics([NewTopic(topic, 1, 1)]))
    count = 40  # 400 KB
    elapsed, _ = timed_produce(b, topic, count)
    assert alter(b, {"client-id": "slow-reader"}, {"consumer_byte_rate": float(RATE)}) == (0, None)

    events: list = []
    c = Consumer({**base_conf(b), "group.id": unique_topic("g"), "client.id": "slow-reader",
                  "throttle_cb": events.append, "enable.auto.commit": False})
    # The exported throttle time is a mean over the quota windows (2 s here): it is read
    # while the client is being throttled, right after a throttled answer, not once the
    # reading is over (on a loaded machine the windows may have passed by then).
    series = 'kafka_server_fetch_throttle_time{user="",client_id="slow-reader"}'
    exported = 0.0
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        got, began, throttled = [], time.monotonic(), 0
        while len(got) < count:
            assert time.monotonic() - began < 60, f"read {len(got)} of {count} records in 60 s"
            for m in c.consume(num_messages=100, timeout=1.0):
                assert m.error() is None, m.error()
                got.append(m)
            if len(events) > throttled and exported == 0:
                throttled = len(events)
                exported = scrape(b).get(series, 0.0)
        elapsed = time.monotonic() - began
    finally:
        c.close()
    assert [m.offset() for m in got] == list(range(count))
    assert any(e.throttle_time > 0 for e in events), events
    assert elapsed >= 1.5, f"read {count * len(VALUE)} bytes in {elapsed:.2f} s against {RATE} bytes/s"
    assert exported > 0, "the fetch throttle time was never exported while the client was throttled"


def create_topic(b, name: str, partitions: int, version: int) -> tuple[int, int]:
    """CreateTopics from client id "mutator": (the topic's error code, the throttle time)."""
    C = CreateTopicsRequest
    request = C(topics=[C.CreatableTopic(name=name, num_partitions=partitions, replication_factor=1,
                                         assignments=[], configs=[])],
                timeout_ms=10_000, validate_only=False)
    r = call(b, request, CreateTopicsResponse, version=version, client_id="mutator")
    return r.topics[0].error_code, r.throttle_time_ms


def test_a_mutation_quota_refuses_topics_once_over_and_throttles_older_versions(start_broker):
    # Kafka's token bucket: 0.5 partitions a second, a burst of 0.5 over two windows of
    # 5 s, 5 partitions.
    b = start_broker({"controller.quota.window.num": "2", "controller.quota.window.size.seconds": "5"})
    assert alter(b, {"client-id": "mutator"}, {"controller_mutation_rate": 0.5}) == (0, None)
    first, second = unique_topic("m"), unique_topic("m")
    # Within the quota before it, a topic of 10 partitions is created, and takes the
    # client 5 partitions below an empty bucket, 10 s of refill. As Kafka's strict quota,
    # the request that went over is not throttled itself.
    assert create_topic(b, first, 10, version=7) == (0, 0)
    # Over it, the next one is refused (v6+), with the wait.
    code, throttle = create_topic(b, second, 1, version=7)
    assert (code, throttle > 0) == (THROTTLING_QUOTA_EXCEEDED, True)
    # An older version is not refused, only throttled.
    code, throttle = create_topic(b, second, 1, version=5)
    assert code == 0 and throttle > 0, (code, throttle)
    # Deleting counts too; another client id is not limited.
    D = DeleteTopicsRequest
    r = call(b, D(topic_names=[first], timeout_ms=10_000), DeleteTopicsResponse, version=5, client_id="mutator")
    assert r.responses[0].error_code == THROTTLING_QUOTA_EXCEEDED and r.throttle_time_ms > 0, r
    r = call(b, D(topic_names=[first], timeout_ms=10_000), DeleteTopicsResponse, version=5, client_id="other")
    assert (r.responses[0].error_code, r.throttle_time_ms) == (0, 0), r


def test_a_request_quota_counts_a_clients_time_on_the_shard(start_broker):
    """Over its request_percentage, a client is told so in its responses' throttle_time_ms
    (here Metadata's, encoded by kafka-python), and the quota's families show it."""
    from kafka.protocol.metadata import MetadataRequest, MetadataResponse

    b = start_broker(WINDOWS)
    # 1 % of a shard: 10 ms a second. Metadata requests, one after another, take more.
    assert alter(b, {"client-id": "shoal-tests"}, {"request_percentage": 1.0}) == (0, None)
    deadline = time.monotonic() + 30
    throttled = []
    with kw.Conn(b.bootstrap) as c:
        for correlation in itertools.count(1):
            assert time.monotonic() < deadline, "no request of the client was throttled in 30 s"
            request = MetadataRequest(topics=[], allow_auto_topic_creation=False)
            request.with_header(correlation_id=correlation, client_id="shoal-tests")
            c.send_raw(request.encode(version=9, header=True, framed=True))
            r = MetadataResponse.decode(c.recv_frame(timeout=30), version=9, header=True)
            assert r.brokers, r
            if r.throttle_time_ms > 0:
                throttled.append(r.throttle_time_ms)
                break
    # At most one quota window (1 s here), as Kafka bounds a request quota's wait.
    assert throttled and throttled[0] <= 1000, throttled
    metrics = scrape(b)
    assert metrics['kafka_server_request_throttle_time{user="",client_id="shoal-tests"}'] > 0
    assert metrics['kafka_server_request_request_time{user="",client_id="shoal-tests"}'] > 0


def test_an_ip_connection_rate_quota_closes_connections_over_it(start_broker):
    from test_cli import ok

    b = start_broker(WINDOWS)
    # 10 connections a second from any address (KIP-612), set with the tool.
    out = ok(b, "configs", "--alter", "--entity-type", "ips", "--entity-default",
             "--add-config", "connection_creation_rate=10")
    assert out.strip() == "Completed updating config for ip <default>."
    out = ok(b, "configs", "--describe", "--entity-type", "ips", "--entity-default")
    assert out.strip() == "Quota configs for the default ip are connection_creation_rate=10.0"
    # Kafka's shorthands for the same entities: --ip-defaults, --ip.
    assert ok(b, "configs", "--describe", "--ip-defaults") == out
    out = ok(b, "configs", "--alter", "--ip", "192.0.2.7", "--add-config", "connection_creation_rate=3")
    assert out.strip() == "Completed updating config for ip 192.0.2.7."
    out = ok(b, "configs", "--describe", "--ip", "192.0.2.7")
    assert out.strip() == "Quota configs for ip '192.0.2.7' are connection_creation_rate=3.0", out
    assert set(described(b, [("ip", 1, None)], strict=True)) == {frozenset({("ip", None)})}
    # Forty connections at once: the first are served, the ones over the rate closed
    # before they are answered.
    served = refused = 0
    for _ in range(40):
        with kw.Conn(b.bootstrap) as c:
            try:
                assert kw.parse_api_versions(c.request(kw.API_VERSIONS, 0, kw.api_versions_v0(), timeout=10), 0).error_code == 0
                served += 1
            except kw.Closed:
                refused += 1
    assert served >= 1 and refused >= 1, (served, refused)


def test_configs_pairs_each_entity_type_with_the_name_or_default_in_its_place(broker):
    """kafka-configs.sh's quotas of a user and a client id together, as Kafka's documentation
    writes them: each --entity-type takes the --entity-name or --entity-default standing in
    the same place among them. Kafka's refusals: a type twice, types other than users and
    clients together, more names than types, a type without a name in --alter."""
    from test_cli import fails, ok

    def alter(quota: str, *entity: str) -> str:
        return ok(broker, "configs", "--alter", "--add-config", quota, *entity).strip()

    def describe(*entity: str) -> str:
        return ok(broker, "configs", "--describe", *entity).strip()

    named = ["--entity-type", "users", "--entity-name", "user1", "--entity-type", "clients", "--entity-name", "clientA"]
    assert alter("producer_byte_rate=1024", *named) == "Completed updating config for user user1, client clientA."
    assert describe(*named) == \
        "Quota configs for user-principal 'user1', client-id 'clientA' are producer_byte_rate=1024.0"
    default_user = ["--entity-type", "users", "--entity-default",
                    "--entity-type", "clients", "--entity-name", "clientB"]
    assert alter("consumer_byte_rate=2048", *default_user) == \
        "Completed updating config for user <default>, client clientB."
    assert describe(*default_user) == \
        "Quota configs for the default user-principal, client-id 'clientB' are consumer_byte_rate=2048.0"
    default_client = ["--entity-type", "users", "--entity-name", "user2",
                      "--entity-type", "clients", "--entity-default"]
    assert alter("request_percentage=50", *default_client) == \
        "Completed updating config for user user2, client <default>."
    assert describe(*default_client) == \
        "Quota configs for user-principal 'user2', the default client-id are request_percentage=50.0"

    assert fails(broker, "configs", "--describe", "--entity-type", "users", "--entity-type", "users") == \
        "shoal: Duplicate entity type(s) specified: users"
    assert fails(broker, "configs", "--describe", "--entity-type", "topics", "--entity-type", "clients") == \
        "shoal: Only 'users' and 'clients' entity types may be specified together"
    assert fails(broker, "configs", "--describe", "--entity-type", "users", "--entity-name", "a",
                 "--entity-name", "b") == \
        "shoal: --entity-name or --entity-default must be specified with each --entity-type"
    assert "an entity name or default entity must be specified" in fails(
        broker, "configs", "--alter", "--add-config", "producer_byte_rate=1", "--entity-type", "users",
        "--entity-name", "user3", "--entity-type", "clients")
