"""Transaction version 2 (KIP-890's second part), which Kafka 4's Java producer speaks when the
broker finalizes `transaction.version` 2: no AddPartitionsToTxn or AddOffsetsToTxn (Produce v12
and TxnOffsetCommit v5 add their partitions themselves), and every EndTxn (v5) bumps the epoch
and answers the one to go on with. No client on this machine speaks it yet, so the requests
are kafka-python's own generated protocol classes (from Kafka's JSON schemas), sent on a raw
connection; what they write is read back with librdkafka's read_committed consumer."""

import itertools
import time

from confluent_kafka import Consumer, TopicPartition
from kafka.protocol.admin.transactions import DescribeTransactionsRequest, DescribeTransactionsResponse
from kafka.protocol.metadata.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafka.protocol.producer.produce import ProduceRequest, ProduceResponse
from kafka.protocol.producer.transaction import (
    EndTxnRequest,
    EndTxnResponse,
    InitProducerIdRequest,
    InitProducerIdResponse,
    TxnOffsetCommitRequest,
    TxnOffsetCommitResponse,
)

import kafka_wire as kw
from clients import base_conf, create_topic, unique_topic
from test_transactions import read_committed, values

TIMEOUT_S = 30
_correlation = itertools.count(1)


def call(c: kw.Conn, request, response_class, version: int):
    request.with_header(correlation_id=next(_correlation), client_id="shoal-tests")
    c.send_raw(request.encode(version=version, header=True, framed=True))
    return response_class.decode(c.recv_frame(), version=version, header=True)


def init(c: kw.Conn, tid: str, timeout_ms: int = 60000) -> tuple[int, int]:
    request = InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=timeout_ms,
                                    producer_id=-1, producer_epoch=-1)
    r = call(c, request, InitProducerIdResponse, 5)
    assert r.error_code == 0, r
    return r.producer_id, r.producer_epoch


def produce_request(tid: str, topic: str, pid: int, epoch: int, seq: int, value: bytes,
                    partition: int = 0) -> ProduceRequest:
    batch = kw.encode_batch([kw.Record(None, value)], producer_id=pid, producer_epoch=epoch,
                            base_sequence=seq, attributes=0x10)
    data = ProduceRequest.TopicProduceData
    partition_data = data.PartitionProduceData(index=partition, records=batch)
    return ProduceRequest(transactional_id=tid, acks=-1, timeout_ms=10000,
                          topic_data=[data(name=topic, partition_data=[partition_data])])


def produce_error(r: ProduceResponse) -> int:
    [topic_response] = r.responses
    [partition] = topic_response.partition_responses
    return partition.error_code


def produce(c: kw.Conn, tid: str, topic: str, pid: int, epoch: int, seq: int, value: bytes) -> int:
    request = produce_request(tid, topic, pid, epoch, seq, value)
    return produce_error(call(c, request, ProduceResponse, 12))


def end(c: kw.Conn, tid: str, pid: int, epoch: int, commit: bool) -> tuple[int, int, int]:
    request = EndTxnRequest(transactional_id=tid, producer_id=pid, producer_epoch=epoch, committed=commit)
    r = call(c, request, EndTxnResponse, 5)
    return r.error_code, r.producer_id, r.producer_epoch


def commit_offset(c: kw.Conn, tid: str, group: str, pid: int, epoch: int, topic: str, offset: int) -> int:
    topics = TxnOffsetCommitRequest.TxnOffsetCommitRequestTopic
    partition = topics.TxnOffsetCommitRequestPartition(
        partition_index=0, committed_offset=offset, committed_leader_epoch=-1, committed_metadata="")
    request = TxnOffsetCommitRequest(
        transactional_id=tid, group_id=group, producer_id=pid, producer_epoch=epoch,
        generation_id=-1, member_id="", group_instance_id=None,
        topics=[topics(name=topic, partitions=[partition])])
    r = call(c, request, TxnOffsetCommitResponse, 5)
    [topic_response] = r.topics
    [partition] = topic_response.partitions
    return partition.error_code


def state(c: kw.Conn, tid: str) -> str:
    r = call(c, DescribeTransactionsRequest(transactional_ids=[tid]), DescribeTransactionsResponse, 0)
    [described] = r.transaction_states
    assert described.error_code == 0, described
    return described.transaction_state


def committed(broker, group: str, topic: str) -> int:
    c = Consumer(base_conf(broker, **{"group.id": group}))
    try:
        return c.committed([TopicPartition(topic, 0)], timeout=TIMEOUT_S)[0].offset
    finally:
        c.close()


def features(broker, version: int = 4):
    """ApiVersions' features: supported (name, min, max), finalized (name, level), epoch."""
    with kw.Conn(broker.bootstrap) as c:
        r = call(c, ApiVersionsRequest(client_software_name="shoal-tests", client_software_version="1"),
                 ApiVersionsResponse, version)
    assert r.error_code == 0
    assert all(f.min_version_level == f.max_version_level for f in r.finalized_features), r
    return ([(f.name, f.min_version, f.max_version) for f in r.supported_features],
            [(f.name, f.max_version_level) for f in r.finalized_features], r.finalized_features_epoch, r)


# A Kafka 4.0 broker's features; kraft.version is finalized only on a quorum whose voters
# can change, and listed as supported from ApiVersions v4 (its range starts at 0).
SUPPORTED = [("metadata.version", 7, 25), ("kraft.version", 0, 1), ("transaction.version", 0, 2),
             ("group.version", 0, 1)]
FINALIZED = [("metadata.version", 25), ("transaction.version", 2), ("group.version", 1)]


def test_the_broker_finalizes_transaction_version_2(broker):
    supported, finalized, epoch, r = features(broker)
    assert (supported, finalized, epoch) == (SUPPORTED, FINALIZED, 0)
    supported, finalized, _, _ = features(broker, version=3)
    assert (supported, finalized) == ([("metadata.version", 7, 25)], FINALIZED)
    served = {k.api_key: k.max_version for k in r.api_keys}
    assert served[kw.PRODUCE] >= 12 and served[kw.END_TXN] >= 5 and served[kw.TXN_OFFSET_COMMIT] >= 5


def test_writes_add_their_partitions_and_every_end_bumps_the_epoch(broker):
    t, group, tid = unique_topic("tv2"), unique_topic("tv2-g"), unique_topic("tv2-tid")
    create_topic(broker, t, 1)
    with kw.Conn(broker.bootstrap) as c:
        pid, epoch = init(c, tid)
        # No AddPartitionsToTxn, no AddOffsetsToTxn: the writes add their partitions.
        assert produce(c, tid, t, pid, epoch, 0, b"kept") == 0
        assert commit_offset(c, tid, group, pid, epoch, t, 1) == 0
        assert state(c, tid) == "Ongoing"
        assert end(c, tid, pid, epoch, commit=True) == (0, pid, epoch + 1)
        # A retry of that EndTxn is answered as it was; the old epoch writes nothing more.
        assert end(c, tid, pid, epoch, commit=True) == (0, pid, epoch + 1)
        assert produce(c, tid, t, pid, epoch, 1, b"late") == kw.INVALID_PRODUCER_EPOCH
        # The next transaction, at the new epoch, starts its sequence again at 0.
        epoch += 1
        assert produce(c, tid, t, pid, epoch, 0, b"dropped") == 0
        assert end(c, tid, pid, epoch, commit=False) == (0, pid, epoch + 1)
        # An EndTxn of an older epoch than the one before the current is fenced.
        assert end(c, tid, pid, epoch - 1, commit=False)[0] == kw.PRODUCER_FENCED
    assert values(read_committed(broker, t, [0])) == [b"kept"]
    assert committed(broker, group, t) == 1


def test_pipelined_writes_to_new_partitions_wait_for_each_others_adds(broker):
    # Each request adds its partition while the one before is still writing its own add.
    t, tid = unique_topic("tv2-pipe"), unique_topic("tv2-tid")
    create_topic(broker, t, 4)
    with kw.Conn(broker.bootstrap) as c:
        pid, epoch = init(c, tid)
        for p in range(4):
            request = produce_request(tid, t, pid, epoch, 0, b"p%d" % p, partition=p)
            request.with_header(correlation_id=next(_correlation), client_id="shoal-tests")
            c.send_raw(request.encode(version=12, header=True, framed=True))
        errors = [produce_error(ProduceResponse.decode(c.recv_frame(), version=12, header=True))
                  for _ in range(4)]
        assert errors == [0, 0, 0, 0]
        assert end(c, tid, pid, epoch, commit=True)[0] == 0
    assert values(read_committed(broker, t, [0, 1, 2, 3])) == [b"p0", b"p1", b"p2", b"p3"]


def test_a_transaction_the_coordinator_aborts_fences_its_version_2_producer(start_broker):
    b = start_broker({"transaction.abort.timed.out.transaction.cleanup.interval.ms": 100})
    t, tid = unique_topic("tv2-timeout"), unique_topic("tv2-tid")
    create_topic(b, t, 1)
    with kw.Conn(b.bootstrap) as c:
        pid, epoch = init(c, tid, timeout_ms=500)
        assert produce(c, tid, t, pid, epoch, 0, b"abandoned") == 0
        deadline = time.monotonic() + TIMEOUT_S
        while state(c, tid) != "CompleteAbort":
            assert time.monotonic() < deadline, "the coordinator did not abort the transaction"
            time.sleep(0.05)
        # Neither a commit nor an abort at the producer's epoch passes for a retry.
        assert end(c, tid, pid, epoch, commit=True)[0] == kw.PRODUCER_FENCED
        assert end(c, tid, pid, epoch, commit=False)[0] == kw.PRODUCER_FENCED
        assert produce(c, tid, t, pid, epoch, 1, b"late") == kw.INVALID_PRODUCER_EPOCH
    assert values(read_committed(b, t, [0])) == []
