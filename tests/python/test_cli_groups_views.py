"""`shoal groups`' other views and actions, as kafka-consumer-groups.sh 4.x has them:
`--describe --members [--verbose]`, `--describe --state`, `--all-groups`, the reset targets
`--to-current`, `--by-duration` and `--from-file` with `--export`'s CSV, and
`--delete-offsets`. Groups are made by confluent-kafka (librdkafka), whose commits are read
back with it."""

from __future__ import annotations

import re

import pytest
from confluent_kafka import TopicPartition

from clients import CLIENT_TIMEOUT_S, unique_topic
from test_cli import fails, ok, shoal
from test_cli_groups import GROUP_OVERRIDES, committed, fill, group_consumer, read, reset, wait_assigned


@pytest.fixture
def broker(start_broker):
    return start_broker(GROUP_OVERRIDES)


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_members_and_state_of_an_active_group(broker, protocol):
    """A KIP-848 group is described with ConsumerGroupDescribe: --verbose shows its epochs
    and target assignments, which a classic group has not."""
    t, group = unique_topic("views"), unique_topic("views-group")
    fill(broker, t, 3)
    c = group_consumer(broker, group, protocol)
    c.subscribe([t])
    wait_assigned(c, 4)

    lines = ok(broker, "groups", "--describe", "--group", group, "--members").split("\n")
    assert lines[0] == "" and lines[-1] == "", lines
    assert lines[1].split() == ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"], lines
    starts = [m.start() for m in re.finditer(r"\S+", lines[1])]
    assert [m.start() for m in re.finditer(r"\S+", lines[2])] == starts, "the columns are aligned"
    [row] = [line.split() for line in lines[2:-1]]
    assert row[0] == group and row[-1] == "4" and row[2].endswith("127.0.0.1"), row
    assert all(line.endswith(" ") for line in lines[1:-1]), "Kafka's #PARTITIONS cell is followed by a space"

    verbose = ok(broker, "groups", "--describe", "--group", group, "--members", "--verbose").split("\n")
    assert verbose[1].split()[-4:] == ["CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"]
    epoch, current, target_epoch, target = verbose[2].split()[-4:]
    assert current == f"{t}:0,1,2,3", verbose
    if protocol == "classic":
        assert (epoch, target_epoch, target) == ("-", "-", "-"), verbose
    else:
        assert int(epoch) >= 1 and target_epoch == epoch and target == current, verbose

    state = ok(broker, "groups", "--describe", "--group", group, "--state").split("\n")
    assert state[1].split() == ["GROUP", "COORDINATOR", "(ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"], state
    # The coordinator as host:port, two spaces, (id); librdkafka's classic group chose range,
    # a KIP-848 group has the broker's default assignor.
    assignor = "range" if protocol == "classic" else "uniform"
    assert re.fullmatch(rf"{re.escape(group)} +127\.0\.0\.1:\d+  \(1\) +{assignor} +Stable +1", state[2]), state
    state = ok(broker, "groups", "--describe", "--group", group, "--state", "--verbose").split("\n")
    epochs = state[2].split()[-3:-1]
    assert epochs == (["-", "-"] if protocol == "classic" else [epoch, epoch]), state

    assert "at most one of these options: [members], [offsets], [state]" in fails(
        broker, "groups", "--describe", "--group", group, "--members", "--offsets", rc=1)
    c.close()


def test_all_groups_are_described_and_reset(broker):
    t = unique_topic("all")
    fill(broker, t, 2)
    groups = sorted(unique_topic("all-group") for _ in range(2))
    for group in groups:
        c = group_consumer(broker, group)
        c.subscribe([t])
        read(c, 8)
        c.commit(asynchronous=False)
        c.close()
    out = ok(broker, "groups", "--describe", "--all-groups")
    tables = [block for block in out.split("\n\n") if block.strip()]
    described = [block.strip("\n").split("\n")[1].split()[0] for block in tables]
    assert [g for g in described if g in groups] == groups, out

    # Back to the start for every group (the other tests' groups are empty too).
    out = ok(broker, "groups", "--reset-offsets", "--all-groups", "--topic", t, "--to-earliest", "--execute")
    rows = [line.split() for line in out.split("\n")[2:] if line]
    assert {(r[0], int(r[2]), int(r[3])) for r in rows if r[0] in groups} == \
        {(g, p, 0) for g in groups for p in range(4)}, out
    assert all(committed(broker, g, t) == {p: 0 for p in range(4)} for g in groups)


def test_export_from_file_to_current_and_by_duration(broker, tmp_path):
    t, group = unique_topic("plan"), unique_topic("plan-group")
    fill(broker, t, 5)
    c = group_consumer(broker, group)
    c.subscribe([t])
    read(c, 20)
    c.commit(asynchronous=False)
    c.close()

    # --export prints what --from-file reads: topic,partition,offset for one group.
    plan = ok(broker, "groups", "--reset-offsets", "--group", group, "--topic", t, "--shift-by", "-2",
              "--dry-run", "--export")
    assert plan == "".join(f"{t},{p},3\n" for p in range(4)) + "\n", plan
    path = tmp_path / "plan.csv"
    path.write_text(plan)
    assert reset(broker, group, "--from-file", str(path), "--execute") == {p: 3 for p in range(4)}
    assert committed(broker, group, t) == {p: 3 for p in range(4)}
    # With the group named in each line, as --export writes for several groups.
    path.write_text(f"{group},{t},0,1\n{group},{t},1,9\n")
    assert reset(broker, group, "--from-file", str(path), "--execute") == {0: 1, 1: 5}
    assert "No reset plan for group" in fails(broker, "groups", "--reset-offsets", "--group", "elsewhere",
                                              "--from-file", str(path), "--dry-run")

    # --to-current keeps the committed offsets; --by-duration goes back to the first
    # record of the last hour: all of them.
    assert reset(broker, group, "--topic", t, "--to-current", "--dry-run") == {0: 1, 1: 5, 2: 3, 3: 3}
    assert reset(broker, group, "--topic", t, "--by-duration", "PT1H", "--dry-run") == {p: 0 for p in range(4)}
    assert "cannot be parsed to a Duration" in fails(broker, "groups", "--reset-offsets", "--group", group,
                                                     "--topic", t, "--by-duration", "1h", "--dry-run")


def test_delete_offsets_of_a_topic(broker):
    t, group = unique_topic("deloff"), unique_topic("deloff-group")
    fill(broker, t, 2)
    c = group_consumer(broker, group)
    c.subscribe([t])
    read(c, 8)
    c.commit(asynchronous=False)
    c.close()
    out = ok(broker, "groups", "--delete-offsets", "--group", group, "--topic", f"{t}:0,1")
    lines = out.split("\n")
    assert lines[0] == f"Request succeeded for deleting offsets from group {group}.", out
    assert lines[2].split() == ["TOPIC", "PARTITION", "STATUS"], out
    assert [line.split() for line in lines[3:5]] == [[t, "0", "Successful"], [t, "1", "Successful"]], out
    left = group_consumer(broker, group).committed([TopicPartition(t, p) for p in range(4)],
                                                   timeout=CLIENT_TIMEOUT_S)
    assert [tp.offset for tp in left] == [-1001, -1001, 2, 2], left
    assert shoal(broker, "groups", "--delete-offsets", "--group", group).returncode == 2  # needs --topic
