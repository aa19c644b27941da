"""Kafka's smaller scripts as shoal's tools: `shoal get-offsets` as kafka-get-offsets.sh
(`topic:partition:offset` lines for latest, earliest, max-timestamp and a time in ms, over
--topic/--partitions or --topic-partitions patterns), and `shoal log-dirs` as
kafka-log-dirs.sh over DescribeLogDirs, which kafka-python reads too."""

from __future__ import annotations

import json
import re
import subprocess

from kafka.admin import KafkaAdminClient

from confluent_kafka import TopicPartition

from clients import consumer, create_topic, produce_all, producer, unique_topic, watermarks
from conftest import shoal_bin
from test_broker_loggers import node_id
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


def test_log_dirs_describes_every_partitions_size(broker):
    t, other = unique_topic("dirs"), unique_topic("dirs-other")
    create_topic(broker, t, 2)
    create_topic(broker, other, 1)
    produce_all(producer(broker, acks="all"), t, [{"value": b"x" * 100, "partition": 1} for _ in range(5)])
    assert watermarks(broker, t, 1) == (0, 5)
    out = ok(broker, "log-dirs", "--describe", "--topic-list", t).splitlines()
    assert out[:2] == ["Querying brokers for log directories information",
                       "Received log directory information from brokers 1"], out
    report = json.loads(out[2])
    assert report["version"] == 1 and [b["broker"] for b in report["brokers"]] == [1]
    [log_dir] = report["brokers"][0]["logDirs"]
    assert log_dir["error"] is None and log_dir["logDir"].endswith("-data"), log_dir
    sizes = {p["partition"]: p["size"] for p in log_dir["partitions"]}
    assert set(sizes) == {f"{t}-0", f"{t}-1"} and sizes[f"{t}-0"] == 0 and sizes[f"{t}-1"] > 500, sizes
    assert all(p["offsetLag"] == 0 and p["isFuture"] is False for p in log_dir["partitions"])
    assert "broker '7' is not in the cluster" in fails(broker, "log-dirs", "--describe", "--broker-list", "7")
    assert "--describe is the only action" in fails(broker, "log-dirs")

    # kafka-python's admin client reads the same answer.
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        described = a.describe_log_dirs()
    finally:
        a.close()
    [mine] = described
    assert mine["broker"] == 1, described
    [d] = mine["log_dirs"]
    assert d["error_code"] == 0 and d["log_dir"] == log_dir["logDir"], d
    by_topic = {x["name"]: {p["partition_index"]: p["partition_size"] for p in x["partitions"]} for x in d["topics"]}
    assert by_topic[t] == {0: 0, 1: sizes[f"{t}-1"]} and by_topic[other] == {0: 0}, by_topic
    # Version 4's file-system space.
    assert 0 <= d["usable_bytes"] <= d["total_bytes"] and d["total_bytes"] > 0, d


def test_log_dirs_needs_describe_on_the_cluster(start_broker):
    b = start_broker({"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                      "allow.everyone.if.no.acl.found": "false"})
    assert "CLUSTER_AUTHORIZATION_FAILED" in fails(b, "log-dirs", "--describe")


def test_flags_as_kafkas_scripts_take_them(broker):
    """Kafka's scripts take any unambiguous prefix of a flag (`--from-begin`), the old
    console producer's `--broker-list`, `--version` on each tool, and the consumer
    groups tool's `--timeout`; shoal's tools do too."""
    t = unique_topic("flags")
    create_topic(broker, t, 1)
    ok(broker, "produce", "--topic", t, input=b"one\ntwo\n")
    done = subprocess.run([str(shoal_bin()), "produce", "--broker-list", broker.bootstrap, "--topic", t],
                          input=b"three\n", capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    out = ok(broker, "consume", "--topic", t, "--from-begin", "--max-mess", "3").splitlines()
    assert out == ["one", "two", "three"], out
    version = subprocess.run([str(shoal_bin()), "topics", "--version"], capture_output=True, timeout=30)
    assert version.returncode == 0 and version.stdout.decode().startswith("shoal-topics "), version
    nobody = unique_topic("nobody")
    assert fails(broker, "groups", "--describe", "--group", nobody, "--timeout", "5000") == \
        f"shoal: Consumer group '{nobody}' does not exist."


def test_delete_records_from_kafkas_offset_file(broker, tmp_path):
    t = unique_topic("delrec")
    create_topic(broker, t, 2)
    produce_all(producer(broker, acks="all"), t, [{"value": b"v", "partition": p} for p in (0, 1) for _ in range(5)])
    spec = tmp_path / "offsets.json"
    spec.write_text(json.dumps({"partitions": [{"topic": t, "partition": 0, "offset": 3},
                                               {"topic": t, "partition": 1, "offset": -1}], "version": 1}))
    out = ok(broker, "delete-records", "--offset-json-file", str(spec)).splitlines()
    assert out == ["Executing records delete operation", "Records delete operation completed:",
                   f"partition: {t}-0\tlow_watermark: 3", f"partition: {t}-1\tlow_watermark: 5"], out
    assert watermarks(broker, t, 0) == (3, 5) and watermarks(broker, t, 1) == (5, 5)
    # Past the high watermark: Kafka's error for the partition, the others still done.
    spec.write_text(json.dumps({"partitions": [{"topic": t, "partition": 0, "offset": 99}]}))
    out = ok(broker, "delete-records", "--offset-json-file", str(spec)).splitlines()
    assert out[2] == f"partition: {t}-0\terror: OFFSET_OUT_OF_RANGE", out
    spec.write_text(json.dumps({"partitions": [{"topic": t, "partition": 0, "offset": 1},
                                               {"topic": t, "partition": 0, "offset": 2}]}))
    assert "duplicate topic partitions" in fails(broker, "delete-records", "--offset-json-file", str(spec))


def test_topics_with_overrides_lists_only_topics_that_have_them(broker):
    plain, tuned = unique_topic("plain"), unique_topic("tuned")
    create_topic(broker, plain, 1)
    create_topic(broker, tuned, 2, {"retention.ms": "60000"})
    out = ok(broker, "topics", "--describe", "--topics-with-overrides", "--exclude-internal").splitlines()
    mine = [line for line in out if plain in line or tuned in line]
    assert len(mine) == 1 and mine[0].startswith(f"Topic: {tuned}\t") and "retention.ms=60000" in mine[0], out
    assert "can only be used with --describe" in fails(broker, "topics", "--list", "--topics-with-overrides")


def dump_log(*args: str) -> tuple[str, str]:
    """`shoal dump-log ARGS` (offline: no broker needed); (stdout, stderr)."""
    cp = subprocess.run([str(shoal_bin()), "dump-log", *args], capture_output=True, timeout=60)
    assert cp.returncode == 0, cp.stderr.decode()
    return cp.stdout.decode(), cp.stderr.decode()


def test_dump_log_prints_segments_and_indexes_as_kafka_dump_log_does(start_broker):
    """librdkafka's records, a committed transaction (a control batch) and small segments
    (so sealed ones have indexes), dumped offline from the stopped broker's files in
    kafka-dump-log.sh's words; then a damaged and a cut copy of a segment."""
    b = start_broker()
    t = unique_topic("dump")
    create_topic(b, t, 1, config={"segment.bytes": "8000", "index.interval.bytes": "100"})
    plain = producer(b)
    for n in range(12):
        # A request at a time, a batch of about 3 KB each: three to a segment.
        produce_all(plain, t, [{"key": b"k%d" % i, "value": b"value-%d" % i + b"." * 300, "partition": 0,
                                "headers": [("h1", b"x"), ("h2", None)]} for i in range(10 * n, 10 * n + 10)])
    p = producer(b, **{"transactional.id": unique_topic("tid")})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(t, key=b"in-txn", value=b"committed", partition=0)
    p.commit_transaction(30)
    end = watermarks(b, t, 0)[1]
    b.stop()
    folder = b.log_dir / f"{t}-0"
    logs = sorted(folder.glob("*.log"))
    assert len(logs) > 2, logs
    out, err = dump_log("--files", ",".join(map(str, logs)), "--print-data-log")
    assert err == "", err
    batch_lines = [line for line in out.splitlines() if line.startswith("baseOffset: ")]
    record_lines = [line for line in out.splitlines() if line.startswith("| offset: ")]
    assert len(record_lines) == end, (len(record_lines), end)
    assert "| offset: 0 CreateTime: " in out and " keySize: 2 valueSize: 307 sequence: -1 headerKeys: [h1,h2] key: k0 payload: value-0..." in out
    assert all(" magic: 2 compresscodec: none crc: " in line and line.endswith("isvalid: true") for line in batch_lines)
    assert any(" isTransactional: true isControl: true " in line for line in batch_lines)
    assert "endTxnMarker: COMMIT coordinatorEpoch: " in out and "key: in-txn payload: committed" in out
    assert out.count("Log starting offset: ") == len(logs)
    # A sealed segment's indexes name its batches.
    sealed = logs[0]
    indexes = [str(sealed.with_suffix(".index")), str(sealed.with_suffix(".timeindex"))]
    out, err = dump_log("--files", ",".join(indexes))
    # (The first batch is not indexed: a lookup starts at the segment's start anyway.)
    assert err == "" and "offset: 10 position: " in out and "timestamp: " in out, (out, err)
    out, err = dump_log("--files", ",".join(indexes), "--verify-index-only")
    assert err == "" and "position: " not in out, (out, err)
    # An index entry that points elsewhere is reported against its segment.
    copy = b.work_dir / "copy"
    copy.mkdir()
    (copy / sealed.name).write_bytes(sealed.read_bytes())
    index = bytearray(sealed.with_suffix(".index").read_bytes())
    index[7] ^= 0x01
    (copy / sealed.with_suffix(".index").name).write_bytes(bytes(index))
    out, err = dump_log("--files", str(copy / sealed.with_suffix(".index").name), "--verify-index-only")
    assert "Mismatches in :" in err and "  Index offset: 10, log offset: -1" in err, err
    # A flipped byte fails its batch's CRC; a cut file leaves bytes that are no batch.
    damaged = b.work_dir / sealed.name
    data = bytearray(sealed.read_bytes())
    data[100] ^= 0xFF
    damaged.write_bytes(bytes(data[:-10]))
    out, _ = dump_log("--files", str(damaged))
    assert "isvalid: false" in out
    assert f"invalid bytes at the end of {sealed.name}" in out


def test_configs_takes_a_file_of_configs_and_kafkas_entity_shortcuts(broker, tmp_path):
    """kafka-configs.sh's --add-config-file (a properties file, whose values may hold
    commas) and its --group and --broker-logger shortcuts."""
    t = unique_topic("cfgfile")
    create_topic(broker, t, 1)
    configs = tmp_path / "topic.properties"
    configs.write_text("# set from a file\ncleanup.policy=compact,delete\nretention.ms=60000\n")
    assert ok(broker, "configs", "--alter", "--topic", t, "--add-config-file", str(configs)) == \
        f"Completed updating config for topic {t}.\n"
    lines = ok(broker, "configs", "--describe", "--topic", t).splitlines()
    assert [ln.split(" sensitive")[0].strip() for ln in lines[1:]] == \
        ["cleanup.policy=compact,delete", "retention.ms=60000"]
    group = unique_topic("cfg-group")
    assert ok(broker, "configs", "--alter", "--group", group, "--add-config", "consumer.session.timeout.ms=50000") == \
        f"Completed updating config for group {group}.\n"
    assert ok(broker, "configs", "--describe", "--group", group).splitlines() == [
        f"Dynamic configs for group {group} are:", "  consumer.session.timeout.ms=50000 sensitive=false synonyms={}"]
    node = node_id(broker)
    assert ok(broker, "configs", "--describe", "--broker-logger", node).splitlines()[0] == \
        f"Dynamic configs for broker-logger {node} are:"


def test_dump_log_decodes_the_internal_topics_as_kafkas_decoders_do(start_broker):
    """--offsets-decoder and --transaction-log-decoder print the records of
    __consumer_offsets and __transaction_state as Kafka 4's kafka-dump-log.sh does: key
    and value as compact JSON in the schemas' field order."""
    b = start_broker({"offsets.topic.num.partitions": 1, "transaction.state.log.num.partitions": 1})
    t, group, tid = unique_topic("decoded"), unique_topic("g"), unique_topic("tid")
    create_topic(b, t, 1)
    c = consumer(b, **{"group.id": group})
    c.commit(offsets=[TopicPartition(t, 0, 7)], asynchronous=False)
    c.close()
    p = producer(b, **{"transactional.id": tid})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(t, value=b"v", partition=0)
    p.commit_transaction(30)
    b.stop()

    def decoded(topic: str, decoder: str, key: str) -> list[str]:
        logs = sorted((b.log_dir / f"{topic}-0").glob("*.log"))
        out, err = dump_log("--files", ",".join(map(str, logs)), decoder)
        assert err == "", err
        return [line for line in out.splitlines() if line.startswith("| offset: ") and f" key: {key}" in line]

    commits = decoded("__consumer_offsets", "--offsets-decoder",
                      '{"type":"1","data":{"group":"%s","topic":"%s","partition":0}}' % (group, t))
    assert len(commits) == 1 and re.search(
        r' payload: \{"version":"3","data":\{"offset":7,"leaderEpoch":-?\d+,"metadata":"","commitTimestamp":\d+\}\}$',
        commits[0]), commits
    states = decoded("__transaction_state", "--transaction-log-decoder",
                     '{"type":"0","data":{"transactionalId":"%s"}}' % tid)
    assert states and all(' payload: {"version":"1","data":{"producerId":' in line for line in states), states
    assert '"transactionStatus":0,"transactionPartitions":null,' in states[0], states[0]
    assert any('"transactionStatus":1,"transactionPartitions":[{"topic":"%s","partitionIds":[0]}],' % t in line
               for line in states), states


def test_topics_describes_a_topic_by_its_id(broker):
    """kafka-topics.sh's --topic-id, with --describe: the topic of that id, as Kafka
    prints ids; an id no topic has is refused as Kafka refuses it."""
    t = unique_topic("by-id")
    create_topic(broker, t, 2)
    by_name = ok(broker, "topics", "--describe", "--topic", t)
    topic_id = re.search(r"\tTopicId: (\S+)\t", by_name).group(1)
    assert ok(broker, "topics", "--describe", "--topic-id", topic_id) == by_name
    assert fails(broker, "topics", "--describe", "--topic-id", "AAAAAAAAAAAAAAAAAAAAAA") == \
        "shoal: Topic ID 'AAAAAAAAAAAAAAAAAAAAAA' does not exist as expected"
