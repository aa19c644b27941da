"""The console tools' client properties and reading flags, as kafka-console-producer.sh and
kafka-console-consumer.sh take them: --producer-property/--producer.config and
--consumer-property/--consumer.config (after --command-config, the flags winning),
--isolation-level, and --formatter. Records are written and checked with real clients
(confluent-kafka's transactional producer, and the batches as stored)."""

from __future__ import annotations

from confluent_kafka import ConsumerGroupTopicPartitions

import kafka_wire as kw
from clients import admin, consume_all, create_topic, producer, unique_topic, wait_futures
from test_cli import CODECS, fails, ok, shoal


def stored_codecs(broker, topic: str) -> set[str]:
    names = {v: k for k, v in CODECS.items()}
    return {names[b.codec] for b in kw.fetch_all_batches(broker.bootstrap, topic, 0)}


def test_producer_properties_are_read_after_the_config_file_and_before_the_flags(broker, tmp_path):
    t = unique_topic("props")
    create_topic(broker, t, 1)
    lines = b"".join(b"line %d of a text that compresses well enough\n" % i for i in range(50))

    # A property sets the codec; a bigger batch than the lines keeps them in one batch.
    cp = shoal(broker, "produce", "--topic", t, "--producer-property", "compression.type=gzip",
               "--producer-property", "batch.size=1000000", "--producer-property", "acks=1", input=lines)
    assert cp.returncode == 0 and cp.stderr == b"", cp.stderr
    assert stored_codecs(broker, t) == {"gzip"}

    # The file is read first: --producer-property wins over it, and --compression over both.
    config = tmp_path / "producer.properties"
    config.write_text("compression.type=snappy\nlinger.ms=5\nenable.idempotence=true\n")
    t2 = unique_topic("props-file")
    create_topic(broker, t2, 1)
    cp = shoal(broker, "produce", "--topic", t2, "--producer.config", str(config), input=lines)
    assert cp.returncode == 0, cp.stderr
    # A Java producer setting shoal's has no counterpart for is named, and passed over.
    assert cp.stderr.decode() == "shoal produce: the client property 'enable.idempotence' is not used\n"
    ok(broker, "produce", "--topic", t2, "--producer.config", str(config), "--producer-property",
       "compression.type=lz4", input=lines)
    ok(broker, "produce", "--topic", t2, "--producer.config", str(config), "--producer-property",
       "compression.type=lz4", "--compression", "zstd", input=lines)
    assert stored_codecs(broker, t2) == {"snappy", "lz4", "zstd"}
    assert sum(len(v) for v in consume_all(broker, t2, [0]).values()) == 150

    assert fails(broker, "produce", "--topic", t, "--producer-property", "acks=2") == \
        "shoal: acks=2: expected all, -1, 1 or 0"
    assert fails(broker, "produce", "--topic", t, "--producer-property", "acks") == \
        "shoal: property 'acks' is not KEY=VALUE"


def test_read_committed_leaves_out_aborted_transactions(broker):
    t = unique_topic("committed")
    create_topic(broker, t, 1)
    p = producer(broker, **{"transactional.id": unique_topic("tid")})
    p.init_transactions(30)
    for outcome in ("commit", "abort", "commit"):
        p.begin_transaction()
        for i in range(3):
            p.produce(t, f"{outcome}-{i}".encode(), partition=0)
        # Written before the end: an abort purges what librdkafka has not sent yet.
        assert p.flush(30) == 0
        getattr(p, f"{outcome}_transaction")(30)

    def printed(*args: str) -> list[str]:
        return ok(broker, "consume", "--topic", t, "--from-beginning", "--timeout-ms", "2000", *args).splitlines()

    committed = ["commit-0", "commit-1", "commit-2"] * 2
    assert printed("--isolation-level", "read_committed") == committed
    assert printed("--consumer-property", "isolation.level=read_committed") == committed
    everything = ["commit-0", "commit-1", "commit-2", "abort-0", "abort-1", "abort-2",
                  "commit-0", "commit-1", "commit-2"]
    assert printed() == everything
    # The flag wins over the property.
    assert printed("--consumer-property", "isolation.level=read_committed",
                   "--isolation-level", "read_uncommitted") == everything


def test_the_formatter_and_consumer_properties_read_as_kafkas(broker, tmp_path):
    t = unique_topic("formatted")
    create_topic(broker, t, 1)
    ok(broker, "produce", "--topic", t, input=b"a\nb\nc\n")

    for formatter in ("kafka.tools.DefaultMessageFormatter", "org.apache.kafka.tools.consumer.DefaultMessageFormatter"):
        assert ok(broker, "consume", "--topic", t, "--from-beginning", "--max-messages", "3",
                  "--formatter", formatter).splitlines() == ["a", "b", "c"]
    cp = shoal(broker, "consume", "--topic", t, "--from-beginning", "--max-messages", "3",
               "--formatter", "org.apache.kafka.tools.consumer.NoOpMessageFormatter")
    assert cp.returncode == 0 and cp.stdout == b"", cp.stderr
    assert cp.stderr.decode().endswith("Processed a total of 3 messages\n")
    assert "DefaultMessageFormatter" in fails(broker, "consume", "--topic", t, "--formatter", "my.Formatter")

    # group.id and auto.offset.reset from the file: the group reads from the beginning
    # and commits what it printed.
    group = unique_topic("props-group")
    config = tmp_path / "consumer.properties"
    config.write_text(f"group.id={group}\nauto.offset.reset=earliest\n")
    assert ok(broker, "consume", "--topic", t, "--consumer.config", str(config),
              "--max-messages", "3").splitlines() == ["a", "b", "c"]
    committed = admin(broker).list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    [result] = wait_futures(committed).values()
    assert [(tp.topic, tp.partition, tp.offset) for tp in result.topic_partitions] == [(t, 0, 3)]

    assert fails(broker, "consume", "--topic", t, "--consumer.config", str(config), "--group", "other") == (
        "shoal: The group ids provided in different places (directly using '--group', via '--consumer-property', "
        f"or via '--consumer.config') do not match. Detected group ids: 'other', '{group}'")
    assert fails(broker, "consume", "--topic", t, "--from-beginning", "--consumer-property",
                 "auto.offset.reset=latest") == \
        "shoal: Can't simultaneously specify --from-beginning and 'auto.offset.reset=latest'"
    # The file's group id against --consumer-property's, and none against --from-beginning.
    assert fails(broker, "consume", "--topic", t, "--consumer.config", str(config), "--consumer-property",
                 "group.id=third").endswith(f"Detected group ids: '{group}', 'third'")
    assert fails(broker, "consume", "--topic", t, "--from-beginning", "--consumer-property",
                 "auto.offset.reset=none") == \
        "shoal: Can't simultaneously specify --from-beginning and 'auto.offset.reset=none'"
    # A login the properties cannot make names the flag its keys came from.
    login = tmp_path / "login.properties"
    login.write_text("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n")
    assert fails(broker, "consume", "--topic", t, "--consumer.config", str(login)).startswith(
        f"shoal: --consumer.config {login} names no user and password")


def test_reading_and_printing_properties_come_from_files_too(broker, tmp_path):
    """--reader-config and --formatter-config: files of the --property settings, the
    flags winning over them; the Java producer's tuning flags are taken, each with a
    notice, and --max-partition-memory-bytes is --batch-size."""
    t = unique_topic("files")
    create_topic(broker, t, 1)
    reader = tmp_path / "reader.properties"
    reader.write_text("parse.key=true\nkey.separator=:\n")
    cp = shoal(broker, "produce", "--topic", t, "--reader-config", str(reader), "--max-block-ms", "1000",
               "--message-send-max-retries", "3", "--max-partition-memory-bytes", "16384",
               input=b"k1:v1\nk2:v2\n")
    assert cp.returncode == 0, cp.stderr
    assert cp.stderr.decode().splitlines() == [
        "shoal produce: --message-send-max-retries has no effect: this tool retries and sizes its buffers itself",
        "shoal produce: --max-block-ms has no effect: this tool retries and sizes its buffers itself"]
    formatter = tmp_path / "formatter.properties"
    formatter.write_text("print.key=true\nkey.separator=|\nprint.offset=true\n")
    out = ok(broker, "consume", "--topic", t, "--from-beginning", "--max-messages", "2",
             "--formatter-config", str(formatter), "--property", "print.offset=false")
    assert out.splitlines() == ["k1|v1", "k2|v2"]
    # Kafka's leader-election tool names its client file --admin.config.
    admin_config = tmp_path / "admin.properties"
    admin_config.write_text("client.id=elector\n")
    out = ok(broker, "leader-election", "--admin.config", str(admin_config), "--election-type", "preferred",
             "--topic", t, "--partition", "0")
    assert f"Valid replica already elected for partitions {t}-0" in out, out
