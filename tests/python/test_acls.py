"""ACLs and the authorizer: CreateAcls / DescribeAcls / DeleteAcls through confluent-kafka's
AdminClient (and raw frames for what a client will not send), persistence across a restart, and
enforcement on produce, consume, metadata and groups with Kafka's error codes. Every client
connects over PLAINTEXT, so the broker sees it as User:ANONYMOUS."""

import subprocess

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   ResourcePatternType, ResourceType)

from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                         ResourcePatternFilter)
from kafka.admin import ResourceType as KpResourceType
from kafka.errors import ClusterAuthorizationFailedError, SecurityDisabledError
from kafka.errors import KafkaError as KafkaPythonError

import kafka_wire as kw
from conftest import Broker, BrokerError, shoal_bin
from clients import (admin, assert_broker_serves, close_all, consume, consumer, create_topic, produce_all,
                     produce_one_error, producer, unique_topic, watermarks)

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ME = "User:ANONYMOUS"
TIMEOUT_S = 30
ALLOW, DENY = AclPermissionType.ALLOW, AclPermissionType.DENY
LITERAL, PREFIXED, MATCH, ANY = (ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED,
                                 ResourcePatternType.MATCH, ResourcePatternType.ANY)

CREATE_ACLS, DESCRIBE_ACLS, DELETE_ACLS = 30, 29, 31
INVALID_REQUEST, SECURITY_DISABLED = 42, 54


def binding(rtype, name, principal=ME, op=AclOperation.ALL, perm=ALLOW, pattern=LITERAL, host="*"):
    return AclBinding(rtype, name, pattern, principal, host, op, perm)


def topic_acl(name, op, perm=ALLOW, principal=ME, pattern=LITERAL):
    return binding(ResourceType.TOPIC, name, principal, op, perm, pattern)


def group_acl(name, op, perm=ALLOW, principal=ME):
    return binding(ResourceType.GROUP, name, principal, op, perm)


def cluster_acl(op, perm=ALLOW):
    return binding(ResourceType.BROKER, "kafka-cluster", ME, op, perm)


def filt(rtype=ResourceType.ANY, name=None, pattern=ANY, principal=None, op=AclOperation.ANY,
         perm=AclPermissionType.ANY):
    return AclBindingFilter(rtype, name, pattern, principal, None, op, perm)


def create(b, *bindings) -> list:
    """The error (or None) of each creation, in order."""
    futures = admin(b).create_acls(list(bindings), request_timeout=TIMEOUT_S)
    errors = []
    for acl in bindings:
        try:
            futures[acl].result(timeout=TIMEOUT_S)
            errors.append(None)
        except KafkaException as e:
            errors.append(e.args[0])
    return errors


def describe(b, f) -> set:
    return set(admin(b).describe_acls(f, request_timeout=TIMEOUT_S).result(timeout=TIMEOUT_S))


def delete(b, f) -> set:
    return set(admin(b).delete_acls([f], request_timeout=TIMEOUT_S)[f].result(timeout=TIMEOUT_S))


def describe_error(b) -> Exception | None:
    """DescribeAcls' error, through kafka-python: librdkafka drops that response's top-level
    error and answers an empty list."""
    kp = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    every = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY, permission_type=ACLPermissionType.ANY,
                      resource_pattern=ResourcePatternFilter(KpResourceType.ANY, None, ACLResourcePatternType.ANY))
    try:
        kp.describe_acls(every)
        return None
    except KafkaPythonError as e:
        return e
    finally:
        kp.close()


def secured(start_broker, **extra):
    overrides = {"authorizer.class.name": AUTHORIZER, "allow.everyone.if.no.acl.found": "true"}
    overrides.update(extra)
    return start_broker(overrides)


def code(err) -> int:
    return err.code() if isinstance(err, KafkaError) else err.args[0].code()


# ---------------------------------------------------------------------------------------- the APIs

def test_without_an_authorizer_every_acl_api_answers_security_disabled(broker):
    (err,) = create(broker, topic_acl("t", AclOperation.READ))
    assert err.code() == KafkaError.SECURITY_DISABLED, err
    assert isinstance(describe_error(broker), SecurityDisabledError)
    with pytest.raises(KafkaException) as e:
        delete(broker, filt())
    assert code(e.value) == KafkaError.SECURITY_DISABLED
    # Enforcement is off too: anything goes.
    t = unique_topic("open")
    create_topic(broker, t)
    assert produce_one_error(producer(broker), t) is None


def test_create_describe_and_delete_with_kafkas_filters(start_broker):
    b = secured(start_broker)
    literal = topic_acl("orders", AclOperation.READ, principal="User:alice")
    prefixed = topic_acl("ord", AclOperation.WRITE, principal="User:bob", pattern=PREFIXED)
    wildcard = topic_acl("*", AclOperation.DESCRIBE, principal="User:*")
    denied = topic_acl("orders", AclOperation.WRITE, DENY, principal="User:alice")
    group = group_acl("billing", AclOperation.READ, principal="User:alice")
    # Once the cluster has an ACL, allow-everyone no longer covers it: we keep the right
    # to administer ACLs by granting it to ourselves.
    cluster = binding(ResourceType.BROKER, "kafka-cluster", ME, AclOperation.ALL)
    every = [literal, prefixed, wildcard, denied, group, cluster]
    assert create(b, *every) == [None] * 6
    # Creating an ACL that exists succeeds and keeps one copy, as Kafka does.
    assert create(b, literal) == [None]
    assert describe(b, filt()) == set(every)

    # MATCH: every ACL that applies to the topic "orders" (literal, wildcard and prefix).
    assert describe(b, filt(ResourceType.TOPIC, "orders", MATCH)) == {literal, prefixed, wildcard, denied}
    # ANY pattern with a name: exactly that name.
    assert describe(b, filt(ResourceType.TOPIC, "orders", ANY)) == {literal, denied}
    assert describe(b, filt(ResourceType.TOPIC, "ord", PREFIXED)) == {prefixed}
    assert describe(b, filt(principal="User:alice")) == {literal, denied, group}
    assert describe(b, filt(op=AclOperation.WRITE, perm=DENY)) == {denied}
    assert describe(b, filt(ResourceType.GROUP)) == {group}
    assert describe(b, filt(ResourceType.TOPIC, "nothing", LITERAL)) == set()

    # DeleteAcls answers the ACLs each filter removed.
    assert delete(b, filt(ResourceType.TOPIC, "orders", MATCH, principal="User:alice")) == {literal, denied}
    assert describe(b, filt()) == {prefixed, wildcard, group, cluster}
    assert delete(b, filt(ResourceType.TOPIC, "orders", LITERAL)) == set()
    assert delete(b, filt()) == {prefixed, wildcard, group, cluster}
    assert describe(b, filt()) == set()


def test_one_filter_each_in_a_delete_both_report_a_shared_acl(start_broker):
    b = secured(start_broker)
    a, c = topic_acl("x", AclOperation.READ), topic_acl("y", AclOperation.READ)
    assert create(b, a, c) == [None, None]
    by_topic, everything = filt(ResourceType.TOPIC, "x", LITERAL), filt()
    futures = admin(b).delete_acls([by_topic, everything], request_timeout=TIMEOUT_S)
    assert set(futures[by_topic].result(timeout=TIMEOUT_S)) == {a}
    assert set(futures[everything].result(timeout=TIMEOUT_S)) == {a, c}


def test_one_request_adds_at_most_10000_acls_and_removes_at_most_10000(start_broker):
    """Kafka's controller bounds the records of one request: more than 10,000 new ACLs fail
    every creation with POLICY_VIOLATION, and a delete that would remove more than 10,000
    fails every filter with INVALID_REQUEST; nothing is changed either way."""
    b = secured(start_broker)
    bound = 10_000
    many = [topic_acl(f"t{i}", AclOperation.READ) for i in range(bound + 1)]
    errors = create(b, *many)
    assert {(e.code(), e.str()) for e in errors} == {
        (KafkaError.POLICY_VIOLATION, "Unable to perform excessively large batch operation.")}
    assert describe(b, filt()) == set()
    # Those already there do not count: the second request adds one.
    assert create(b, *many[:bound]) == [None] * bound
    assert create(b, *many) == [None] * (bound + 1)
    everything, one = filt(), filt(ResourceType.TOPIC, "t0", LITERAL)
    futures = admin(b).delete_acls([one, everything], request_timeout=TIMEOUT_S)
    for f in (one, everything):
        with pytest.raises(KafkaException) as refused:
            futures[f].result(timeout=TIMEOUT_S)
        error = refused.value.args[0]
        assert (error.code(), error.str()) == (
            KafkaError.INVALID_REQUEST, "Cannot remove more than 10000 acls in a single delete operation.")
    assert len(describe(b, filt())) == bound + 1
    assert delete(b, one) == {many[0]}
    assert delete(b, everything) == set(many[1:])
    assert describe(b, filt()) == set()


def test_acls_survive_a_restart(start_broker):
    b = secured(start_broker)
    acls = {topic_acl("kept", AclOperation.READ, principal="User:alice"),
            topic_acl("pre-", AclOperation.WRITE, DENY, principal="User:*", pattern=PREFIXED)}
    assert create(b, *acls) == [None, None]
    b.restart()
    assert describe(b, filt()) == acls
    # The restored ACLs are enforced, not only listed: the topic has ACLs, none for us.
    t = "kept"
    create_topic(b, t)
    assert produce_one_error(producer(b), t).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_invalid_bindings_get_invalid_request_and_the_rest_are_created(start_broker):
    b = secured(start_broker)
    good = topic_acl("fine", AclOperation.READ)
    bad_principal = topic_acl("fine", AclOperation.WRITE, principal="alice")
    bad_cluster = binding(ResourceType.BROKER, "my-cluster", ME, AclOperation.ALTER)
    errors = create(b, bad_principal, good, bad_cluster)
    assert [e and e.code() for e in errors] == [KafkaError.INVALID_REQUEST, None, KafkaError.INVALID_REQUEST]
    assert describe(b, filt()) == {good}


def create_acls_v1(*creations: tuple) -> bytes:
    """CreateAcls v1: (resource type, name, pattern, principal, host, operation, permission)."""
    return kw.array([kw.i8(rt) + kw.string(name) + kw.i8(pt) + kw.string(principal) + kw.string(host)
                     + kw.i8(op) + kw.i8(perm) for rt, name, pt, principal, host, op, perm in creations])


def test_raw_creations_with_any_or_an_empty_name_are_refused_one_by_one(start_broker):
    b = secured(start_broker)
    topic, cluster, literal, prefixed, read, allow = 2, 4, 3, 4, 3, 3
    creations = [
        (1, "t", literal, ME, "*", read, allow),            # resource type ANY
        (topic, "t", 2, ME, "*", read, allow),              # pattern MATCH
        (topic, "t", literal, ME, "*", 1, allow),           # operation ANY
        (topic, "t", literal, ME, "*", read, 1),            # permission ANY
        (topic, "", literal, ME, "*", read, allow),         # empty resource name
        (cluster, "kafka-cluster", literal, ME, "*", 6, allow),  # a good one: DELETE on the cluster
        (topic, "p-", prefixed, ME, "*", read, allow),      # another good one
    ]
    with kw.Conn(b.bootstrap) as conn:
        corr = conn.send(CREATE_ACLS, 1, create_acls_v1(*creations))
        r = kw.Reader(conn.recv_frame(10))
        assert r.i32() == corr
        r.i32()  # throttle
        results = r.array(lambda rd: (rd.i16(), rd.string()))
    assert [c for c, _ in results] == [INVALID_REQUEST] * 5 + [0, 0]
    assert all(message for _, message in results[:5]), results
    assert len(describe(b, filt())) == 2
    assert_broker_serves(b)


@pytest.mark.parametrize("api", [CREATE_ACLS, DESCRIBE_ACLS, DELETE_ACLS])
def test_an_unknown_code_closes_the_connection_as_kafka_does(start_broker, api):
    b = secured(start_broker)
    unknown = 0
    if api == CREATE_ACLS:
        body = create_acls_v1((2, "t", 3, ME, "*", unknown, 3))
    else:
        one = kw.i8(2) + kw.string(None) + kw.i8(unknown) + kw.string(None) + kw.string(None) + kw.i8(1) + kw.i8(1)
        body = one if api == DESCRIBE_ACLS else kw.array([one])
    with kw.Conn(b.bootstrap) as conn:
        conn.send(api, 1, body)
        with pytest.raises(kw.Closed):
            conn.recv_frame(10)
    assert_broker_serves(b)


def test_describe_acls_answers_its_error_without_an_authorizer_over_raw_frames(broker):
    body = kw.i8(1) + kw.string(None) + kw.i8(1) + kw.string(None) + kw.string(None) + kw.i8(1) + kw.i8(1)
    with kw.Conn(broker.bootstrap) as conn:
        corr = conn.send(DESCRIBE_ACLS, 1, body)
        r = kw.Reader(conn.recv_frame(10))
        assert r.i32() == corr
        r.i32()  # throttle
        assert r.i16() == SECURITY_DISABLED
        assert r.string()


# ------------------------------------------------------------------------------------ enforcement

def test_deny_beats_allow_and_acls_on_a_topic_end_allow_everyone_for_it(start_broker):
    b = secured(start_broker)
    t, open_topic = unique_topic("guarded"), unique_topic("open")
    create_topic(b, t)
    create_topic(b, open_topic)
    produce_all(producer(b), t, [{"value": b"before"}])
    assert create(b, topic_acl(t, AclOperation.WRITE, DENY)) == [None]
    close_all()
    assert produce_one_error(producer(b), t).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # The topic now has an ACL, so allow.everyone.if.no.acl.found no longer covers it: with
    # DESCRIBE granted (the consumer must find the partition's leader) a fetch is refused.
    assert create(b, topic_acl(t, AclOperation.DESCRIBE)) == [None]
    with pytest.raises(KafkaException) as e:
        consume(b, t, {0: 0}, {0: 1})
    assert code(e.value) == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # A topic nobody wrote an ACL for is still open to everyone.
    assert produce_one_error(producer(b), open_topic) is None

    # ALLOW ALL for us, and READ for every user: reading works, writing stays denied (DENY wins).
    assert create(b, topic_acl(t, AclOperation.ALL), topic_acl(t, AclOperation.READ, principal="User:*")) == [None] * 2
    close_all()
    assert [r.value for r in consume(b, t, {0: 0}, {0: 1})[0]] == [b"before"]
    assert produce_one_error(producer(b), t).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert watermarks(b, t, 0) == (0, 1)


def test_metadata_hides_undescribable_topics_and_refuses_them_by_name(start_broker):
    b = secured(start_broker)
    hidden, shown = unique_topic("hidden"), unique_topic("shown")
    create_topic(b, hidden)
    create_topic(b, shown)
    assert create(b, topic_acl(hidden, AclOperation.DESCRIBE, DENY)) == [None]
    listed = admin(b).list_topics(timeout=TIMEOUT_S).topics
    assert shown in listed and hidden not in listed
    named = admin(b).list_topics(topic=hidden, timeout=TIMEOUT_S).topics[hidden]
    assert named.error is not None and named.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_auto_creation_needs_create_on_the_cluster_or_the_topic(start_broker):
    b = secured(start_broker)
    # The cluster gets an ACL (so allow-everyone no longer covers it) that does not grant CREATE
    # (ALTER keeps our right to change ACLs).
    assert create(b, cluster_acl(AclOperation.ALTER)) == [None]
    refused, allowed = unique_topic("nocreate"), unique_topic("mayc")
    # A topic with no ACL at all is still open to everyone (CREATE included), so each topic
    # gets one: WRITE only for the first, CREATE for the second.
    assert create(b, topic_acl(refused, AclOperation.WRITE), topic_acl(allowed, AclOperation.CREATE)) == [None] * 2
    p = producer(b, **{"allow.auto.create.topics": True})
    assert produce_one_error(p, refused).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert refused not in admin(b).list_topics(timeout=TIMEOUT_S).topics
    # CREATE does not imply WRITE (nor DESCRIBE): the producer needs both granted.
    assert create(b, topic_acl(allowed, AclOperation.WRITE)) == [None]
    assert produce_one_error(producer(b, **{"allow.auto.create.topics": True}), allowed) is None
    assert allowed in admin(b).list_topics(timeout=TIMEOUT_S).topics


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_group_read_is_needed_to_join_and_commit(start_broker, protocol):
    b = secured(start_broker)
    t, denied_group = unique_topic("grp"), unique_topic("nogroup")
    create_topic(b, t)
    produce_all(producer(b), t, [{"value": b"x"}])
    # DESCRIBE is granted, so the coordinator is found; READ, which joining and committing
    # need, is denied.
    assert create(b, group_acl(denied_group, AclOperation.READ, DENY),
                  group_acl(denied_group, AclOperation.DESCRIBE)) == [None, None]
    conf = {"group.id": denied_group, "auto.offset.reset": "earliest", "group.protocol": protocol}
    c = consumer(b, **conf)
    c.subscribe([t])

    def refused(error: KafkaError) -> bool:
        # librdkafka makes a refused ConsumerGroupHeartbeat fatal, naming the cause.
        return error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED or (
            error.code() == KafkaError._FATAL and "Group authorization failed" in error.str())
    error = None
    for _ in range(60):
        m = c.poll(0.5)
        if m is not None and m.error() is not None and refused(m.error()):
            error = m.error()
            break
    assert error is not None, "no GROUP_AUTHORIZATION_FAILED from a consumer in a denied group"
    with pytest.raises(KafkaException) as e:
        consumer(b, **conf).commit(offsets=[TopicPartition(t, 0, 1)], asynchronous=False)
    assert code(e.value) == KafkaError.GROUP_AUTHORIZATION_FAILED
    # ListGroups shows only groups we may describe; DescribeGroups refuses the denied one.
    other = unique_topic("okgroup")
    ok = consumer(b, **{"group.id": other})
    ok.commit(offsets=[TopicPartition(t, 0, 1)], asynchronous=False)
    # Who may DESCRIBE the cluster sees every group: the cluster gets an ACL that does not
    # grant it (allow-everyone stops covering the cluster).
    assert create(b, group_acl(other, AclOperation.DESCRIBE, DENY), cluster_acl(AclOperation.IDEMPOTENT_WRITE)) == [None] * 2
    listed = {g.group_id for g in admin(b).list_consumer_groups(request_timeout=TIMEOUT_S).result().valid}
    assert other not in listed
    (fut,) = admin(b).describe_consumer_groups([other], request_timeout=TIMEOUT_S).values()
    with pytest.raises(KafkaException) as e:
        fut.result(timeout=TIMEOUT_S)
    assert code(e.value) == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_without_allow_everyone_only_granted_actions_pass(start_broker):
    b = secured(start_broker)
    ok, other = "ok-" + unique_topic(), unique_topic("other")
    create_topic(b, ok)
    create_topic(b, other)
    acls = [cluster_acl(AclOperation.ALL), topic_acl("ok-", AclOperation.ALL, pattern=PREFIXED)]
    assert create(b, *acls) == [None, None]
    b.overrides["allow.everyone.if.no.acl.found"] = "false"
    b.restart()
    assert produce_one_error(producer(b), ok) is None
    assert produce_one_error(producer(b), other).code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    listed = admin(b).list_topics(timeout=TIMEOUT_S).topics
    assert ok in listed and other not in listed
    # ACL administration needs ALTER/DESCRIBE on the cluster, which ALL grants.
    assert describe(b, filt()) == set(acls)
    assert delete(b, filt(ResourceType.BROKER)) == {acls[0]}
    assert isinstance(describe_error(b), ClusterAuthorizationFailedError)
    (err,) = create(b, cluster_acl(AclOperation.ALL))
    assert err.code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def test_super_users_bypass_every_acl(start_broker):
    b = secured(start_broker, **{"super.users": f"User:admin;{ME}", "allow.everyone.if.no.acl.found": "false"})
    t = unique_topic("su")
    create_topic(b, t)
    assert create(b, topic_acl(t, AclOperation.ALL, DENY, principal="User:*")) == [None]
    assert produce_one_error(producer(b), t, value=b"x") is None
    assert [r.value for r in consume(b, t, {0: 0}, {0: 1})[0]] == [b"x"]


def test_an_unknown_authorizer_class_stops_the_broker(tmp_path):
    b = Broker(shoal_bin(), tmp_path, "b", 1, {"authorizer.class.name": "com.example.MyAuthorizer"})
    try:
        with pytest.raises(BrokerError, match="exited with code 2 before its ready line"):
            b.start()
        log = b.log_text()
    finally:
        b.close()
    assert "com.example.MyAuthorizer" in log and "authorizer.class.name" in log, log


# ------------------------------------------------------------------------------------ shoal acls

def shoal_acls(b, *args, input: bytes = b"") -> subprocess.CompletedProcess:
    cmd = [str(shoal_bin()), "acls", "--bootstrap-server", b.bootstrap, *args]
    return subprocess.run(cmd, input=input, capture_output=True, timeout=TIMEOUT_S)


def test_shoal_acls_adds_lists_and_removes_as_kafka_acls_does(start_broker):
    b = secured(start_broker)
    added = shoal_acls(b, "--add", "--allow-principal", "User:alice", "--operation", "Read", "--operation",
                       "Describe", "--topic", "orders", "--resource-pattern-type", "prefixed")
    assert added.returncode == 0, added.stderr
    out = added.stdout.decode()
    header = "`ResourcePattern(resourceType=TOPIC, name=orders, patternType=PREFIXED)`: \n"
    assert "Adding ACLs for resource " + header in out
    assert "Current ACLs for resource " + header in out
    assert "\t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)" in out
    # What the tool added is what a real client reads back.
    read = topic_acl("orders", AclOperation.READ, principal="User:alice", pattern=PREFIXED)
    describe_op = topic_acl("orders", AclOperation.DESCRIBE, principal="User:alice", pattern=PREFIXED)
    assert describe(b, filt()) == {read, describe_op}
    assert create(b, group_acl("billing", AclOperation.READ, DENY, principal="User:*")) == [None]

    listed = shoal_acls(b, "--list", "--group", "billing")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.decode() == (
        "Current ACLs for resource `ResourcePattern(resourceType=GROUP, name=billing, patternType=LITERAL)`: \n"
        " \t(principal=User:*, host=*, operation=READ, permissionType=DENY) \n\n")

    # Removing one ACL by its principal and operation; then, after a 'y', all of a resource's.
    one = shoal_acls(b, "--remove", "--force", "--topic", "orders", "--resource-pattern-type", "PREFIXED",
                     "--allow-principal", "User:alice", "--operation", "Read")
    assert one.returncode == 0, one.stderr
    assert describe(b, filt()) == {describe_op, group_acl("billing", AclOperation.READ, DENY, principal="User:*")}
    kept = shoal_acls(b, "--remove", "--group", "billing", input=b"n\n")
    assert kept.returncode == 0 and b"Are you sure" in kept.stdout
    assert len(describe(b, filt(ResourceType.GROUP))) == 1
    gone = shoal_acls(b, "--remove", "--group", "billing", input=b"y\n")
    assert gone.returncode == 0, gone.stderr
    assert describe(b, filt(ResourceType.GROUP)) == set()


def test_shoal_acls_producer_and_consumer_add_what_clients_need(start_broker):
    """kafka-acls.sh's --producer (WRITE, DESCRIBE, CREATE on the topic, WRITE and
    DESCRIBE on the transactional id, IDEMPOTENT_WRITE on the cluster with --idempotent)
    and --consumer (READ and DESCRIBE on the topic, READ on the group); removed the same
    way, they leave the resources' other ACLs."""
    b = secured(start_broker)
    alice, bob = "User:alice", "User:bob"
    # The tool itself may alter the cluster once a cluster ACL exists.
    assert create(b, cluster_acl(AclOperation.ALL)) == [None]
    added = shoal_acls(b, "--add", "--allow-principal", alice, "--producer", "--idempotent", "--topic", "out",
                       "--transactional-id", "tx")
    assert added.returncode == 0, added.stderr
    assert shoal_acls(b, "--add", "--allow-principal", bob, "--consumer", "--topic", "out", "--group", "g",
                      "--topic", "in").returncode == 0
    assert create(b, group_acl("g", AclOperation.DESCRIBE, principal=bob)) == [None]
    topic = lambda name, op, who: topic_acl(name, op, principal=who)  # noqa: E731
    txn = lambda name, op, who: binding(ResourceType.TRANSACTIONAL_ID, name, who, op, ALLOW)  # noqa: E731
    idempotent = binding(ResourceType.BROKER, "kafka-cluster", alice, AclOperation.IDEMPOTENT_WRITE, ALLOW)
    producer_acls = {topic("out", AclOperation.WRITE, alice), topic("out", AclOperation.DESCRIBE, alice),
                     topic("out", AclOperation.CREATE, alice), idempotent,
                     txn("tx", AclOperation.WRITE, alice), txn("tx", AclOperation.DESCRIBE, alice)}
    consumer_acls = {topic(t, op, bob) for t in ("out", "in") for op in (AclOperation.READ, AclOperation.DESCRIBE)}
    consumer_acls.add(group_acl("g", AclOperation.READ, principal=bob))
    others = {group_acl("g", AclOperation.DESCRIBE, principal=bob), cluster_acl(AclOperation.ALL)}
    assert describe(b, filt()) == producer_acls | consumer_acls | others
    removed = shoal_acls(b, "--remove", "--force", "--allow-principal", bob, "--consumer", "--topic", "out",
                         "--topic", "in", "--group", "g")
    assert removed.returncode == 0, removed.stderr
    assert describe(b, filt()) == producer_acls | others
    refused = shoal_acls(b, "--add", "--allow-principal", bob, "--consumer", "--topic", "out")
    assert refused.returncode == 1 and b"With --consumer you must specify a --topic and a --group" in refused.stderr


def test_shoal_acls_errors_are_one_line(start_broker, broker):
    disabled = shoal_acls(broker, "--list")
    assert disabled.returncode == 1
    assert disabled.stderr.decode().startswith("shoal: ") and b"SECURITY_DISABLED" in disabled.stderr
    b = secured(start_broker)
    bad_op = shoal_acls(b, "--add", "--allow-principal", "User:a", "--operation", "Write", "--group", "g")
    assert bad_op.returncode == 1 and b"GROUP only supports operations" in bad_op.stderr
    bad_principal = shoal_acls(b, "--add", "--allow-principal", "alice", "--topic", "t")
    assert bad_principal.returncode == 1 and b"INVALID_REQUEST" in bad_principal.stderr, bad_principal.stderr
    usage = shoal_acls(b, "--topic", "t")
    assert usage.returncode == 2 and usage.stderr.count(b"\n") == 1


def test_a_fetch_as_a_replica_without_cluster_action_is_refused_per_partition(start_broker):
    """Kafka refuses a follower's fetch (replica_id >= 0) from a principal without
    CLUSTER_ACTION on the cluster by answering TOPIC_AUTHORIZATION_FAILED for every
    partition it names, not with a request-level error."""
    b = secured(start_broker)
    t = unique_topic("replica-fetch")
    create_topic(b, t, 2)
    produce_all(producer(b), t, [{"value": b"v", "partition": 0}])
    assert create(b, cluster_acl(AclOperation.CLUSTER_ACTION, DENY)) == [None]
    with kw.Conn(b.bootstrap) as conn:
        for partition in (0, 1, 7):
            body = conn.request(kw.FETCH, 4, kw.fetch_v4(t, partition, 0, max_wait_ms=0, replica_id=1))
            got = kw.parse_fetch_v4(body)[(t, partition)]
            assert (got.error_code, got.high_watermark, got.records) == \
                (kw.TOPIC_AUTHORIZATION_FAILED, -1, b""), (partition, got)
        # As a consumer, the same principal reads (allow.everyone.if.no.acl.found).
        got = kw.parse_fetch_v4(conn.request(kw.FETCH, 4, kw.fetch_v4(t, 0, 0, max_wait_ms=0)))[(t, 0)]
        assert got.error_code == kw.NONE and got.high_watermark == 1, got


def test_a_created_topics_counts_and_configs_need_describe_configs(start_broker):
    """CreateTopics v5+ shows a new topic's counts and configs only to who may
    DESCRIBE_CONFIGS it; anyone else gets -1 counts, no configs, and
    TOPIC_AUTHORIZATION_FAILED as the configs' error. Altering its configs is refused
    with the error's own text, as Kafka's controller words it."""
    b = secured(start_broker)
    hidden, shown = unique_topic("hidden-configs"), unique_topic("shown-configs")
    assert create(b, topic_acl(hidden, AclOperation.DESCRIBE_CONFIGS, DENY),
                  topic_acl(hidden, AclOperation.CREATE), topic_acl(shown, AclOperation.ALL)) == [None] * 3
    with kw.Conn(b.bootstrap) as conn:
        request = kw.create_topics_v5([kw.NewTopicRaw(hidden, 2, 1), kw.NewTopicRaw(shown, 2, 1)])
        got = kw.parse_create_topics_v5(conn.request(kw.CREATE_TOPICS, 5, request, flexible=True))
        alter = kw.incremental_alter_configs_v0([(kw.RESOURCE_TOPIC, hidden, [("retention.ms", 0, "1")])])
        assert kw.parse_alter_configs_v0(conn.request(kw.INCREMENTAL_ALTER_CONFIGS, 0, alter)) == [
            (kw.RESOURCE_TOPIC, hidden, kw.TOPIC_AUTHORIZATION_FAILED, "Topic authorization failed.")]
    assert [(g.name, g.error_code, g.num_partitions, g.replication_factor, g.config_error_code, bool(g.configs))
            for g in got] == [(hidden, 0, -1, -1, kw.TOPIC_AUTHORIZATION_FAILED, False), (shown, 0, 2, 1, 0, True)]


CLUSTER_AUTHORIZATION_FAILED = 31


def test_replica_apis_refuse_and_allow_as_kafka_does(start_broker):
    """OffsetForLeaderEpoch: DESCRIBE on the topic, or CLUSTER_ACTION on the cluster, which
    covers every topic (followers ask with it). Alter/ListPartitionReassignments refused
    for want of ALTER/DESCRIBE on the cluster repeat each partition asked."""
    b = secured(start_broker)
    t = unique_topic("epochs")
    create_topic(b, t, 1)
    produce_all(producer(b), t, [{"value": b"v", "partition": 0}])
    assert create(b, topic_acl(t, AclOperation.DESCRIBE, DENY), cluster_acl(AclOperation.ALL)) == [None, None]
    body = kw.i32(-1) + kw.array([kw.string(t) + kw.array([kw.i32(0) + kw.i32(-1) + kw.i32(0)])])

    def epochs(conn):
        rd = kw.Reader(conn.request(kw.OFFSET_FOR_LEADER_EPOCH, 3, body))
        rd.i32()
        return rd.array(lambda r: (r.string(), r.array(lambda q: (q.i16(), q.i32(), q.i32(), q.i64()))))

    with kw.Conn(b.bootstrap) as conn:
        assert epochs(conn) == [(t, [(kw.NONE, 0, 0, 1)])]
    denied = [cluster_acl(op, DENY) for op in (AclOperation.CLUSTER_ACTION, AclOperation.ALTER,
                                                AclOperation.DESCRIBE)]
    assert create(b, *denied) == [None] * 3
    with kw.Conn(b.bootstrap) as conn:
        assert epochs(conn) == [(t, [(kw.TOPIC_AUTHORIZATION_FAILED, 0, -1, -1)])]
        parts = kw.compact_array([kw.i32(0) + kw.compact_array([kw.i32(1)]) + kw.EMPTY_TAGS,
                                  kw.i32(3) + kw.uvarint(0) + kw.EMPTY_TAGS])
        moves = kw.i32(30000) + kw.compact_array([kw.compact_string(t) + parts + kw.EMPTY_TAGS]) + kw.EMPTY_TAGS
        rd = kw.Reader(conn.request(45, 0, moves, flexible=True))
        rd.i32()
        assert rd.i16() == CLUSTER_AUTHORIZATION_FAILED and rd.compact_string()
        answers = rd.compact_array(lambda r: (r.compact_string(), r.compact_array(
            lambda q: (q.i32(), q.i16(), q.compact_string(), q.skip_tags())), r.skip_tags()))
        assert [(name, [(p, e) for p, e, _, _ in ps]) for name, ps, _ in answers] == \
            [(t, [(0, CLUSTER_AUTHORIZATION_FAILED), (3, CLUSTER_AUTHORIZATION_FAILED)])]
        listing = kw.i32(30000) + kw.compact_array([kw.compact_string(t) + kw.compact_array([kw.i32(0)])
                                                    + kw.EMPTY_TAGS]) + kw.EMPTY_TAGS
        rd = kw.Reader(conn.request(46, 0, listing, flexible=True))
        rd.i32()
        assert rd.i16() == CLUSTER_AUTHORIZATION_FAILED and rd.compact_string()
        listed = rd.compact_array(lambda r: (r.compact_string(), r.compact_array(lambda q: (
            q.i32(), q.compact_array(lambda x: x.i32()), q.compact_array(lambda x: x.i32()),
            q.compact_array(lambda x: x.i32()), q.skip_tags())), r.skip_tags()))
        assert [(name, [(p, r, a, d) for p, r, a, d, _ in ps]) for name, ps, _ in listed] == [(t, [(0, [], [], [])])]
