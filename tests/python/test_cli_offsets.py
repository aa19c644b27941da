"""`shoal get-offsets` as kafka-get-offsets.sh: `topic:partition:offset` lines for latest,
earliest, max-timestamp and a time in ms, over --topic/--partitions or --topic-partitions
patterns."""

from __future__ import annotations

from clients import create_topic, produce_all, producer, unique_topic
from test_cli import fails, ok


def test_get_offsets_reads_each_time_and_pattern(broker):
    t, other = unique_topic("offsets"), unique_topic("offsets-other")
    create_topic(broker, t, 3)
    create_topic(broker, other, 1)
    base = 1_700_000_000_000
    # Partition 0: 4 records, timestamps base+0..3 with the largest at offset 2; partition 1: 2.
    stamps = {0: [base, base + 1, base + 9, base + 3], 1: [base + 5, base + 6]}
    produce_all(producer(broker, acks="all"), t,
                [{"value": b"v", "partition": p, "timestamp": ts} for p, tss in stamps.items() for ts in tss])

    def lines(*args: str) -> list[str]:
        return ok(broker, "get-offsets", *args).splitlines()

    assert lines("--topic", t) == [f"{t}:0:4", f"{t}:1:2", f"{t}:2:0"]
    assert lines("--topic", t, "--time", "earliest") == [f"{t}:0:0", f"{t}:1:0", f"{t}:2:0"]
    assert lines("--topic", t, "--time", "-2", "--partitions", "1") == [f"{t}:1:0"]
    # max-timestamp: the offset of the record with the largest timestamp; none in an empty partition.
    assert lines("--topic", t, "--time", "max-timestamp") == [f"{t}:0:2", f"{t}:1:1"]
    # A time: the first offset stamped at or after it; a partition with none prints nothing.
    assert lines("--topic", t, "--time", str(base + 4)) == [f"{t}:0:2", f"{t}:1:0"]
    assert lines("--topic-partitions", f"{t}:1-3,{other}") == [f"{t}:1:2", f"{t}:2:0", f"{other}:0:0"]
    assert lines("--topic-partitions", f"{t}:-1") == [f"{t}:0:4"]
    everything = lines()
    assert f"{t}:0:4" in everything and f"{other}:0:0" in everything
    assert lines("--topic", "offsets-nothing-matches.*") == []
    assert "--time must be" in fails(broker, "get-offsets", "--time", "yesterday")
    assert "is not topicRegex[:partition]" in fails(broker, "get-offsets", "--topic-partitions", f"{t}:x")
