"""Records Kafka's LogValidator refuses, refused the same way (KIP-467): a compacted topic
takes no record without a key, a CreateTime topic no timestamp outside
message.timestamp.before.max.ms / after.max.ms (Kafka 4's default: an hour ahead at most).
The whole batch is refused, nothing of it is appended, and ProduceResponse v8+ names each
record that failed and why."""

import time

from confluent_kafka import KafkaError

import clients
import kafka_wire as kw

PRODUCE_V8 = 8


def produce_v8(broker, topic: str, batch: bytes) -> kw.ProducedV8:
    with kw.Conn(broker.bootstrap) as conn:
        body = conn.request(kw.PRODUCE, PRODUCE_V8, kw.produce_v3(topic, 0, batch), timeout=30)
    return kw.parse_produce_v8(body)[(topic, 0)]


def test_keyless_records_on_a_compacted_topic_are_named(broker):
    topic = clients.unique_topic("kip467-compact")
    clients.create_topic(broker, topic, 1, {"cleanup.policy": "compact"})
    records = [kw.Record(b"a", b"1"), kw.Record(None, b"2"), kw.Record(b"c", b"3"), kw.Record(None, b"4")]
    for codec in ["none", "zstd"]:
        got = produce_v8(broker, topic, kw.encode_batch(records, codec=codec))
        assert got.error_code == kw.INVALID_RECORD, got
        assert [i for i, _ in got.record_errors] == [1, 3], got
        expected = f"Compacted topic cannot accept message without key in topic partition {topic}-0."
        assert all(message == expected for _, message in got.record_errors), got
        assert got.error_message.startswith("One or more records have been rejected due to 2 record errors"), got
        assert "RecordError(batchIndex=1, message='Compacted topic" in got.error_message, got
    assert clients.watermarks(broker, topic, 0) == (0, 0)


def test_timestamps_outside_the_topics_bounds_are_named(broker):
    topic = clients.unique_topic("kip467-time")
    clients.create_topic(broker, topic, 1, {"message.timestamp.before.max.ms": "60000"})
    now = int(time.time() * 1000)
    # Record 0 is two minutes old, record 1 current, record 2 two hours ahead.
    records = [kw.Record(None, b"old"), kw.Record(None, b"now", timestamp_delta=120_000),
               kw.Record(None, b"ahead", timestamp_delta=120_000 + 7_200_000)]
    got = produce_v8(broker, topic, kw.encode_batch(records, base_timestamp=now - 120_000))
    assert got.error_code == kw.INVALID_TIMESTAMP, got
    assert got.error_message == "One or more records have been rejected due to invalid timestamp", got
    assert [i for i, _ in got.record_errors] == [0, 2], got
    assert got.record_errors[0][1].startswith(f"Timestamp {now - 120_000} of message with offset 0 is out of range."), got
    assert clients.watermarks(broker, topic, 0) == (0, 0)
    # The same records within the bounds are appended.
    got = produce_v8(broker, topic, kw.encode_batch([kw.Record(None, b"now")]))
    assert (got.error_code, got.record_errors, got.error_message) == (kw.NONE, [], None), got


def test_a_client_is_told_its_timestamp_is_too_far_ahead(broker):
    """librdkafka (confluent-kafka) reports INVALID_TIMESTAMP for a record stamped more than
    Kafka 4's default hour ahead; a record from years ago is accepted, as there is no lower
    bound by default."""
    topic = clients.unique_topic("kip467-client")
    clients.create_topic(broker, topic, 1)
    p = clients.producer(broker, acks="all", retries=0)
    ahead = int(time.time() * 1000) + 2 * 3_600_000
    err = clients.produce_one_error(p, topic, value=b"ahead", partition=0, timestamp=ahead)
    assert err is not None and err.code() == KafkaError.INVALID_TIMESTAMP, err
    assert clients.produce_one_error(p, topic, value=b"old", partition=0, timestamp=1_000_000_000_000) is None
    assert clients.watermarks(broker, topic, 0) == (0, 1)
