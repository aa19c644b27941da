"""Success responses carry a null `error_message`, as Kafka's do (clients compare it with null,
and an empty string reads as an error with no text). Checked on the wire for every API that
has the field at the top of its results: CreateTopics, DescribeConfigs, AlterConfigs,
IncrementalAlterConfigs, CreateAcls, DescribeAcls and DeleteAcls (its filter results and
matching ACLs). FindCoordinator is Kafka's exception, and shoal's: "NONE" or the error's own
text before v4, an empty string in each entry from v4."""

from __future__ import annotations

import kafka_wire as kw
from clients import unique_topic

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
