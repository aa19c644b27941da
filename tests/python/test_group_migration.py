"""KIP-848's online migration with real clients: a classic group whose consumers are
restarted one by one with group.protocol=consumer keeps consuming through the change.

- Upgrade: a KIP-848 member (confluent-kafka, group.protocol=consumer) joining a classic
  group with members turns it into a consumer group; the classic members stay, and the
  broker assigns to both kinds.
- The classic members (librdkafka's eager and cooperative assignors, kafka-python) keep
  speaking JoinGroup/SyncGroup/Heartbeat, commit, and give partitions up by rejoining.
- Downgrade: when the last KIP-848 member leaves, the group is classic again and its
  members rebalance among themselves; when a static classic member replaces it, the
  group turns classic without a rebalance.
- group.consumer.migration.policy=disabled keeps the two apart, as Kafka does.

Waits poll the clients for a condition with a deadline; nothing sleeps.
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from clients import CLIENT_TIMEOUT_S, _OPEN, admin, create_topic, producer, produce_all, unique_topic
from test_cli import ok
from test_groups import KIP848_OVERRIDES, assigned, group_consumer, kip848_consumer, poll_until, total


def group_listing(broker, group: str):
    listed = admin(broker).list_consumer_groups().result(timeout=CLIENT_TIMEOUT_S).valid
    return {g.group_id: g for g in listed}[group]


def produce_spread(broker, topic: str, per_partition: int) -> list[bytes]:
    records = [{"value": f"{p}-{i}".encode(), "partition": p} for p in range(4) for i in range(per_partition)]
    produce_all(producer(broker, acks="all"), topic, records)
    return sorted(r["value"] for r in records)


@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky"])
def test_a_classic_group_upgrades_online_and_downgrades_when_the_new_protocol_leaves(start_broker, strategy):
    broker = start_broker(KIP848_OVERRIDES)
    topic = unique_topic("migrate")
    create_topic(broker, topic, 4)
    group = unique_topic("g")
    classic = group_consumer(broker, group, partition_assignment_strategy=strategy)
    # Neither conversion may fence the classic member: librdkafka reports a fenced
    # member's partitions as lost.
    lost = []
    classic.subscribe([topic], on_lost=lambda consumer, partitions: lost.append(partitions))
    poll_until([classic], lambda got: assigned(classic) == {0, 1, 2, 3}, "the classic member to own all")
    assert group_listing(broker, group).type.name == "CLASSIC"

    new = kip848_consumer(broker, group)
    new.subscribe([topic])
    poll_until([classic, new], lambda got: len(assigned(classic)) == 2 and len(assigned(new)) == 2,
               "the two members to split the partitions")
    assert assigned(classic) | assigned(new) == {0, 1, 2, 3}
    assert group_listing(broker, group).type.name == "CONSUMER", "the group was upgraded"
    desc = admin(broker).describe_consumer_groups([group])[group].result(timeout=CLIENT_TIMEOUT_S)
    assert desc.type.name == "CONSUMER" and len(desc.members) == 2
    # kafka-consumer-groups.sh marks which members of a group in migration speak KIP-848.
    lines = ok(broker, "groups", "--describe", "--group", group, "--members", "--verbose").split("\n")
    assert lines[1].split()[-1] == "UPGRADED", lines
    assert sorted(line.split()[-1] for line in lines[2:-1]) == ["false", "true"], lines

    # Records produced once the split is done are each read once, by their partition's owner.
    values = produce_spread(broker, topic, 5)
    got = poll_until([classic, new], total(20), "the twenty records")
    assert sorted(v for records in got for _, _, v in records) == values
    for c, mine in zip((classic, new), got):
        assert {p for p, _, _ in mine} <= assigned(c), "a member read a partition it does not own"

    # The classic member commits in the consumer group, with its epoch as generation.
    classic.commit(asynchronous=False)
    mine = sorted(assigned(classic))
    committed = classic.committed([TopicPartition(topic, p) for p in mine], timeout=CLIENT_TIMEOUT_S)
    assert [tp.offset for tp in committed] == [5, 5]

    new.close()
    _OPEN.remove(new)
    poll_until([classic], lambda got: assigned(classic) == {0, 1, 2, 3},
               "the classic member to take the leaver's partitions")
    listing = group_listing(broker, group)
    assert (listing.type.name, listing.state.name) == ("CLASSIC", "STABLE"), "downgraded"
    assert lost == [], "the classic member was fenced"


def test_static_classic_members_restart_one_by_one_with_the_consumer_protocol(start_broker):
    """The usual migration of static members: each restarts with group.protocol=consumer
    under its group.instance.id, and takes over its own partitions; Kafka releases a
    classic member's instance id to a KIP-848 member at once."""
    broker = start_broker(KIP848_OVERRIDES)
    topic = unique_topic("migrate-static")
    create_topic(broker, topic, 4)
    group = unique_topic("g")
    olds = [group_consumer(broker, group, group_instance_id=f"i-{i}", session_timeout_ms=30000) for i in (1, 2)]
    for c in olds:
        c.subscribe([topic])
    poll_until(olds, lambda got: all(len(assigned(c)) == 2 for c in olds), "the classic members' split")
    members = list(olds)
    for i, old in enumerate(olds):
        held = assigned(old)
        old.close()  # a static member does not leave when it closes
        _OPEN.remove(old)
        new = kip848_consumer(broker, group, group_instance_id=f"i-{i + 1}")
        new.subscribe([topic])
        members[i] = new
        poll_until(members, lambda got: assigned(new) == held and all(len(assigned(c)) == 2 for c in members),
                   f"the restarted member i-{i + 1} to own its partitions again")
        assert group_listing(broker, group).type.name == "CONSUMER"
    desc = admin(broker).describe_consumer_groups([group])[group].result(timeout=CLIENT_TIMEOUT_S)
    assert sorted(m.group_instance_id for m in desc.members) == ["i-1", "i-2"]


def test_static_members_restart_one_by_one_with_the_classic_protocol_without_a_rebalance(start_broker):
    """The way back: static KIP-848 members restart one by one as classic members under
    their group.instance.id. The first joins the KIP-848 group as a classic member; the
    second replaces the last KIP-848 member, and the group turns classic as Kafka's
    coordinator turns it: stable with the assignments it had, so the restarted member
    takes its own partitions back and the other is not made to rebalance (no revocation
    reaches it)."""
    broker = start_broker(KIP848_OVERRIDES)
    topic = unique_topic("migrate-back")
    create_topic(broker, topic, 4)
    group = unique_topic("g")
    news = [kip848_consumer(broker, group, group_instance_id=f"i-{i}") for i in (1, 2)]
    for c in news:
        c.subscribe([topic])
    poll_until(news, lambda got: all(len(assigned(c)) == 2 for c in news), "the KIP-848 members' split")
    revoked: list[set[int]] = []
    members = list(news)
    for i, new in enumerate(news):
        held = assigned(new)
        new.close()  # a static member leaves for a moment only
        _OPEN.remove(new)
        old = group_consumer(broker, group, group_instance_id=f"i-{i + 1}", session_timeout_ms=30000)
        if i == 0:
            old.subscribe([topic], on_revoke=lambda c, parts: revoked.append({p.partition for p in parts}))
        else:
            old.subscribe([topic])
        members[i] = old
        poll_until(members, lambda got: assigned(old) == held and all(len(assigned(c)) == 2 for c in members),
                   f"the restarted member i-{i + 1} to own its partitions again")
        if i == 0:
            assert group_listing(broker, group).type.name == "CONSUMER"
            revoked.clear()
    assert group_listing(broker, group).type.name == "CLASSIC"
    # Had the conversion rebalanced the group, the second member would own its partitions
    # only after the first had rejoined, giving up its own first (eager range).
    assert revoked == [], revoked
    desc = admin(broker).describe_consumer_groups([group])[group].result(timeout=CLIENT_TIMEOUT_S)
    assert desc.state.name == "STABLE" and sorted(m.group_instance_id for m in desc.members) == ["i-1", "i-2"]


def test_kafka_python_stays_a_classic_member_of_an_upgraded_group(start_broker):
    from kafka import KafkaConsumer

    broker = start_broker(KIP848_OVERRIDES)
    topic = unique_topic("migrate-kpy")
    create_topic(broker, topic, 4)
    group = unique_topic("g")
    old = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False,
                        auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=500)
    try:
        def owned() -> set[int]:
            return {tp.partition for tp in old.assignment()}

        def poll_both(done, what: str, new=None) -> list[bytes]:
            seen: list[bytes] = []
            deadline = time.monotonic() + CLIENT_TIMEOUT_S
            while not done(seen):
                assert time.monotonic() < deadline, f"timed out waiting for {what}: old owns {owned()}"
                for records in old.poll(timeout_ms=100).values():
                    seen.extend(r.value for r in records)
                if new is not None:
                    m = new.poll(0.1)
                    if m is not None:
                        if m.error():
                            raise KafkaException(m.error())
                        seen.append(m.value())
            return seen

        poll_both(lambda _: owned() == {0, 1, 2, 3}, "kafka-python to own all")
        new = kip848_consumer(broker, group)
        new.subscribe([topic])
        poll_both(lambda _: len(owned()) == 2 and len(assigned(new)) == 2, "the split", new)
        assert owned() | assigned(new) == {0, 1, 2, 3}
        values = produce_spread(broker, topic, 3)
        assert sorted(poll_both(lambda seen: len(seen) >= 12, "the records", new)) == values
        new.close()
        _OPEN.remove(new)
        poll_both(lambda _: owned() == {0, 1, 2, 3}, "kafka-python to take all back")
        assert group_listing(broker, group).type.name == "CLASSIC"
    finally:
        old.close()


def test_with_migration_disabled_a_new_protocol_member_cannot_join_a_classic_group(start_broker):
    broker = start_broker({**KIP848_OVERRIDES, "group.consumer.migration.policy": "disabled"})
    topic = unique_topic("no-migrate")
    create_topic(broker, topic, 2)
    group = unique_topic("g")
    classic = group_consumer(broker, group)
    classic.subscribe([topic])
    poll_until([classic], lambda got: assigned(classic) == {0, 1}, "the classic member to own all")
    new = kip848_consumer(broker, group)
    new.subscribe([topic])
    # The refused heartbeat (GROUP_ID_NOT_FOUND) is fatal to librdkafka's consumer, as
    # against Kafka.
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    error = None
    while error is None:
        assert time.monotonic() < deadline, "the KIP-848 member was never refused"
        classic.poll(0.1)
        m = new.poll(0.1)
        if m is not None and m.error():
            error = m.error()
    assert error.code() == KafkaError._FATAL and "The group id does not exist" in error.str(), error
    assert not assigned(new)
    assert assigned(classic) == {0, 1}
    assert group_listing(broker, group).type.name == "CLASSIC"
