"""Success responses carry a null `error_message`, as Kafka's do (clients compare it with null,
and an empty string reads as an error with no text). Checked on the wire for every API that
has the field at the top of its results: CreateTopics, DescribeConfigs, AlterConfigs,
IncrementalAlterConfigs, CreateAcls, DescribeAcls and DeleteAcls (its filter results and
matching ACLs), AlterPartitionReassignments (at the top and per partition) and
ListPartitionReassignments. FindCoordinator is Kafka's exception, and shoal's: "NONE" or the error's own
text before v4, an empty string in each entry from v4."""

from __future__ import annotations

import kafka_wire as kw
from clients import unique_topic
from test_admin_configs import broker_id
from test_conformance_admin import join_group_v0

TOPIC, LITERAL, ANY, READ, ALLOW = 2, 3, 1, 3, 3


def first_results(body: bytes, named: bool = False) -> tuple[int, str | None]:
    """(error_code, error_message) of the first element of the results array that follows
    throttle_time_ms (after its name, when `named`)."""
    r = kw.Reader(body)
    r.i32()
    assert r.i32() >= 1, "no results"
    if named:
        r.string()
    return r.i16(), r.string()


def top_level(body: bytes) -> tuple[int, str | None]:
    r = kw.Reader(body)
    r.i32()
    return r.i16(), r.string()


def test_success_responses_carry_a_null_error_message(start_broker):
    b = start_broker({"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                      "allow.everyone.if.no.acl.found": "true"})
    t = unique_topic("nullmsg")
    s = kw.string
    acl = (kw.i8(TOPIC) + s(t) + kw.i8(LITERAL) + s("User:alice") + s("*") + kw.i8(READ) + kw.i8(ALLOW))
    any_filter = (kw.i8(ANY) + s(None) + kw.i8(ANY) + s(None) + s(None) + kw.i8(ANY) + kw.i8(ANY))
    with kw.Conn(b.bootstrap) as c:
        create = kw.array([s(t) + kw.i32(1) + kw.i16(1) + kw.array([]) + kw.array([])]) + kw.i32(10000) + kw.i8(0)
        assert first_results(c.request(19, 2, create), named=True) == (0, None), "CreateTopics v2"
        code, message = first_results(c.request(19, 2, create), named=True)  # again: refused
        assert code == 36 and message, "CreateTopics of an existing topic explains itself"

        describe = kw.array([kw.i8(TOPIC) + s(t) + kw.i32(-1)]) + kw.i8(0)
        assert first_results(c.request(32, 1, describe)) == (0, None), "DescribeConfigs v1"

        alter = kw.array([kw.i8(TOPIC) + s(t) + kw.array([s("retention.ms") + s("3600000")])]) + kw.i8(0)
        assert first_results(c.request(33, 0, alter)) == (0, None), "AlterConfigs v0"

        incremental = kw.array([kw.i8(TOPIC) + s(t) + kw.array([s("retention.ms") + kw.i8(0) + s("7200000")])])
        assert first_results(c.request(44, 0, incremental + kw.i8(0))) == (0, None), "IncrementalAlterConfigs v0"

        # FindCoordinator is Kafka's exception: before v4 the error's own text, "NONE" on
        # success (its v4+ entries carry an empty string).
        assert top_level(c.request(10, 1, s("a-group") + kw.i8(0))) == (0, "NONE"), "FindCoordinator v1"
        assert top_level(c.request(10, 2, s("a-group") + kw.i8(2))) == (42, (
            "This most likely occurs because of a request being malformed by the client library or the message "
            "was sent to an incompatible broker. See the broker logs for more details.")), "FindCoordinator v2"
        keys = kw.i8(0) + kw.compact_array([kw.compact_string("a-group")]) + kw.EMPTY_TAGS
        r = kw.Reader(c.request(10, 4, keys, flexible=True))
        r.i32()
        [entry] = r.compact_array(lambda e: (e.compact_string(), e.i32(), e.compact_string(), e.i32(), e.i16(),
                                             e.compact_string(), e.skip_tags()))
        assert (entry[0], entry[4], entry[5]) == ("a-group", 0, ""), "FindCoordinator v4"

        assert first_results(c.request(30, 1, kw.array([acl]))) == (0, None), "CreateAcls v1"
        assert top_level(c.request(29, 1, any_filter)) == (0, None), "DescribeAcls v1"

        r = kw.Reader(c.request(31, 1, kw.array([any_filter])))
        r.i32()
        assert r.i32() == 1
        assert (r.i16(), r.string()) == (0, None), "DeleteAcls v1 filter result"
        assert r.i32() == 1, "the ACL created above matched"
        assert (r.i16(), r.string()) == (0, None), "DeleteAcls v1 matching ACL"

        # The reassignment APIs (flexible from v0): a partition moved to where it is.
        cs, tags = kw.compact_string, kw.EMPTY_TAGS
        replicas = kw.compact_array([kw.i32(int(broker_id(b)))])
        move = kw.i32(30000) + kw.compact_array([cs(t) + kw.compact_array([kw.i32(0) + replicas + tags]) + tags]) + tags
        r = kw.Reader(c.request(45, 0, move, flexible=True))
        r.i32()
        assert (r.i16(), r.compact_string()) == (0, None), "AlterPartitionReassignments v0"
        [(name, [partition])] = r.compact_array(lambda q: (q.compact_string(), q.compact_array(
            lambda p: (p.i32(), p.i16(), p.compact_string(), p.skip_tags())), q.skip_tags())[:2])
        assert (name, partition[:3]) == (t, (0, 0, None)), "AlterPartitionReassignments v0 partition"
        r = kw.Reader(c.request(46, 0, kw.i32(30000) + kw.uvarint(0) + tags, flexible=True))
        r.i32()
        assert (r.i16(), r.compact_string()) == (0, None), "ListPartitionReassignments v0"


def test_group_descriptions_say_why_in_kafkas_words(broker):
    """ConsumerGroupDescribe and DescribeGroups v6 of a group that is not of their kind,
    or not there: GROUP_ID_NOT_FOUND with Kafka's message."""
    cs, tags = kw.compact_string, kw.EMPTY_TAGS
    modern, classic, missing = unique_topic("g-modern"), unique_topic("g-classic"), unique_topic("g-none")

    def first_group(api: int, version: int, group: str) -> tuple[int, str | None]:
        r = kw.Reader(c.request(api, version, kw.compact_array([cs(group)]) + kw.i8(0) + tags, flexible=True))
        r.i32()
        assert r.uvarint() == 2, "one group"
        return r.i16(), r.compact_string()

    with kw.Conn(broker.bootstrap) as c:
        join = (cs(modern) + cs("") + kw.i32(0) + cs(None) + cs(None) + kw.i32(5000)
                + kw.compact_array([cs("t")]) + cs(None) + kw.compact_array([]) + tags)
        r = kw.Reader(c.request(68, 0, join, flexible=True))
        r.i32()
        assert r.i16() == 0, "the KIP-848 member joined"
        assert kw.Reader(c.request(11, 0, join_group_v0(classic, "consumer"))).i16() == 0, "the classic member joined"
        for api, version, group, message in [
                (69, 0, missing, f"Group {missing} not found."),
                (69, 0, classic, f"Group {classic} is not a consumer group."),
                (15, 6, missing, f"Group {missing} not found."),
                (15, 6, modern, f"Group {modern} is not a classic group.")]:
            assert first_group(api, version, group) == (69, message), (api, group)
