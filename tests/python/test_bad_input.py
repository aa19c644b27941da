"""Bad input over a raw socket: every case gets the Kafka error a client expects or a closed
connection, and the broker keeps serving everyone else (a fresh confluent-kafka client and kcat
work afterwards; a panic in the broker's log fails the test at teardown)."""

import random
import struct

import pytest

import kafka_wire as kw
from clients import assert_broker_serves, consume, kcat, produce_all, producer, unique_topic, watermarks

REQUEST_MAX = 200_000
MESSAGE_MAX = 20_000


@pytest.fixture
def b(start_broker):
    return start_broker({"socket.request.max.bytes": REQUEST_MAX, "message.max.bytes": MESSAGE_MAX})


def alive(broker) -> None:
    """A closed connection is only an acceptable answer if the broker itself is still up."""
    if not broker.running:
        broker.proc.wait(timeout=10)
        pytest.fail(f"the broker process died (exit code {broker.proc.returncode}):\n{broker.log_tail(12)}")


def still_serving(broker) -> None:
    alive(broker)
    assert_broker_serves(broker)
    kcat(broker, "-L")


def closed_or_answered(conn: kw.Conn, corr: int | None = None, timeout: float = 10.0) -> bytes | None:
    """None if the broker closed the connection, else the response frame (correlation checked)."""
    try:
        data = conn.recv_frame(timeout)
    except kw.Closed:
        return None
    except TimeoutError:
        pytest.fail(f"broker neither answered nor closed the connection within {timeout}s")
    if corr is not None:
        assert struct.unpack(">i", data[:4])[0] == corr
    return data


def topic_with_one_record(broker) -> str:
    t = unique_topic("raw")
    produce_all(producer(broker), t, [{"value": b"first", "partition": 0}])
    return t


def raw_produce(broker, topic: str, batch: bytes, partition: int = 0, acks: int = -1) -> tuple[int, int]:
    with kw.Conn(broker.bootstrap) as c:
        res = kw.parse_produce_v3(c.request(kw.PRODUCE, 3, kw.produce_v3(topic, partition, batch, acks=acks)))
    return res[(topic, partition)]


# ---------------------------------------------------------------- framing
@pytest.mark.parametrize("length", [REQUEST_MAX + 1, 0x7FFFFFFF], ids=["just-over", "int-max"])
def test_frame_over_socket_request_max_bytes_is_closed(b, length):
    with kw.Conn(b.bootstrap) as c:
        c.send_raw(kw.i32(length) + kw.request_header(kw.API_VERSIONS, 0, 1) + b"\0" * 100)
        assert c.wait_closed() == b"", "no response expected to an oversized frame"
    still_serving(b)


@pytest.mark.parametrize("length", [-1, -2147483648, 0, 3], ids=["minus-one", "int-min", "zero", "shorter-than-header"])
def test_bad_frame_length_is_closed(b, length):
    with kw.Conn(b.bootstrap) as c:
        c.send_raw(kw.i32(length) + b"\x00\x12\x00"[: max(0, min(length, 3))])
        assert c.wait_closed() == b""
    still_serving(b)


def test_half_sent_frame_does_not_block_others(b):
    """A client that sends part of a frame and stalls (or leaves) holds up nobody else."""
    stalled = kw.Conn(b.bootstrap)
    stalled.send_raw(kw.i32(1000) + kw.request_header(kw.METADATA, 1, 1) + b"\x00\x00")
    try:
        still_serving(b)
        with kw.Conn(b.bootstrap) as c:
            c.send_raw(kw.i32(5000) + b"\x00" * 10)
        still_serving(b)
    finally:
        stalled.close()
    still_serving(b)


# ---------------------------------------------------------------- ApiVersions
def test_api_versions_v0_and_v3_list_every_required_api(b):
    # every API issue 2 names; for the data path also the oldest versions current Kafka still
    # serves (Produce v3, Fetch v4, ListOffsets v1, Metadata v0/v1, ApiVersions v0..v3)
    required = {kw.PRODUCE: 3, kw.FETCH: 4, kw.LIST_OFFSETS: 1, kw.METADATA: 0, kw.API_VERSIONS: 0,
                kw.CREATE_TOPICS: None, kw.DELETE_TOPICS: None, kw.DELETE_RECORDS: None,
                kw.OFFSET_FOR_LEADER_EPOCH: None, kw.DESCRIBE_CONFIGS: None, kw.ALTER_CONFIGS: None,
                kw.CREATE_PARTITIONS: None, kw.INCREMENTAL_ALTER_CONFIGS: None, kw.DESCRIBE_CLUSTER: None,
                kw.DESCRIBE_TOPIC_PARTITIONS: None}
    with kw.Conn(b.bootstrap) as c:
        v0 = kw.parse_api_versions(c.request(kw.API_VERSIONS, 0, kw.api_versions_v0()), 0)
        v3 = kw.parse_api_versions(c.request(kw.API_VERSIONS, 3, kw.api_versions_v3(), flexible=True), 3)
    for resp in (v0, v3):
        assert resp.error_code == kw.NONE
        missing = {k for k in required if k not in resp.versions}
        assert not missing, f"APIs not advertised: {sorted(missing)}"
        for k, (lo, hi) in resp.versions.items():
            assert 0 <= lo <= hi, (k, lo, hi)
        for k, v in required.items():
            lo, hi = resp.versions[k]
            assert v is None or lo <= v <= hi, f"API {k} advertises {lo}..{hi}, needed {v}"
        assert resp.versions[kw.API_VERSIONS][1] >= 3 and resp.versions[kw.METADATA][0] <= 1
    assert v0.versions == v3.versions


@pytest.mark.parametrize("version", [5, 127, 32767])
def test_api_versions_unsupported_version_answers_v0_with_error_35(b, version):
    with kw.Conn(b.bootstrap) as c:
        body = c.request(kw.API_VERSIONS, version, kw.api_versions_v3(), flexible=True)
        resp = kw.parse_api_versions(body, 0)  # Kafka answers in v0 format, so any client can read it
        assert resp.error_code == kw.UNSUPPORTED_VERSION
        # Kafka names ApiVersions' own versions only, for the client to retry with.
        assert list(resp.versions) == [kw.API_VERSIONS] and resp.versions[kw.API_VERSIONS][1] >= 3
        # the connection stays usable: the client retries with a version the broker named
        again = kw.parse_api_versions(c.request(kw.API_VERSIONS, 0, kw.api_versions_v0()), 0)
        assert again.error_code == kw.NONE
    still_serving(b)


@pytest.mark.parametrize("name,version", [("", "1.0"), ("shoal tests", "1.0"), ("shoal-tests", "1.0-"),
                                          ("-shoal", "1.0"), ("shoal", "")])
def test_api_versions_v3_refuses_a_badly_formed_client_software(b, name, version):
    """KIP-511's software name and version: letters, digits, '-' and '.', beginning and
    ending with a letter or digit; else INVALID_REQUEST with no API listed."""
    with kw.Conn(b.bootstrap) as c:
        body = kw.compact_string(name) + kw.compact_string(version) + kw.EMPTY_TAGS
        resp = kw.parse_api_versions(c.request(kw.API_VERSIONS, 3, body, flexible=True), 3)
        assert (resp.error_code, resp.versions) == (kw.INVALID_REQUEST, {})
        # A body that does not decode closes the connection, as Kafka's parser does.
        c.send(kw.API_VERSIONS, 3, b"\x05ab", flexible_header=True)
        assert c.wait_closed() == b""
    still_serving(b)


# ---------------------------------------------------------------- unknown / unsupported requests
@pytest.mark.parametrize("api_key,version", [(32000, 0), (-1, 0), (kw.METADATA, 99), (kw.PRODUCE, 99), (kw.FETCH, 1000)],
                         ids=["unknown-key", "negative-key", "metadata-v99", "produce-v99", "fetch-v1000"])
def test_unknown_api_key_or_version_is_closed_or_refused(b, api_key, version):
    with kw.Conn(b.bootstrap) as c:
        corr = c.send(api_key, version, b"\x00" * 16)
        closed_or_answered(c, corr)
    still_serving(b)


@pytest.mark.parametrize("case", ["metadata-count-without-topics", "metadata-huge-count", "delete-topics-huge-compact-count",
                                  "create-topics-huge-count", "metadata-string-past-end", "produce-records-past-end",
                                  "header-only", "client-id-past-end"])
def test_truncated_request_is_closed_or_refused(b, case):
    t = topic_with_one_record(b)
    if case == "metadata-count-without-topics":
        payload = kw.request_header(kw.METADATA, 1, 7) + kw.i32(5)
    elif case == "metadata-huge-count":  # an array length no request of this size can hold
        payload = kw.request_header(kw.METADATA, 1, 7) + kw.i32(0x7FFFFFF0)
    elif case == "delete-topics-huge-compact-count":  # DeleteTopics v6 is flexible: compact arrays
        payload = kw.request_header(kw.DELETE_TOPICS, 6, 7, flexible=True) + kw.uvarint(0x7FFFFFF0) + b"\x00" * 8
    elif case == "create-topics-huge-count":
        payload = kw.request_header(kw.CREATE_TOPICS, 4, 7) + kw.i32(0x10000000) + kw.string("x") + kw.i32(1)
    elif case == "metadata-string-past-end":
        payload = kw.request_header(kw.METADATA, 1, 7) + kw.i32(1) + kw.i16(500) + b"abc"
    elif case == "produce-records-past-end":
        batch = kw.encode_batch([kw.Record(b"k", b"v")])
        body = kw.produce_v3(t, 0, batch)
        payload = kw.request_header(kw.PRODUCE, 3, 7) + body[: -len(batch) - 4] + kw.i32(len(batch) + 100) + batch
    elif case == "header-only":
        payload = kw.request_header(kw.PRODUCE, 3, 7)
    else:
        payload = kw.i16(kw.METADATA) + kw.i16(1) + kw.i32(7) + kw.i16(300) + b"short"
    with kw.Conn(b.bootstrap) as c:
        c.send_raw(kw.frame(payload))
        closed_or_answered(c, 7)
    alive(b)
    assert watermarks(b, t, 0) == (0, 1), "a malformed produce must append nothing"
    still_serving(b)


def test_random_garbage_requests(b, seed):
    """Seeded garbage after a well-formed header, for many APIs and versions: each connection is
    answered or closed, never left hanging, and the broker keeps serving."""
    rng = random.Random(seed)
    keys = [kw.FETCH, kw.LIST_OFFSETS, kw.METADATA, kw.API_VERSIONS, kw.CREATE_TOPICS, kw.DELETE_TOPICS,
            kw.DELETE_RECORDS, kw.OFFSET_FOR_LEADER_EPOCH, kw.DESCRIBE_CONFIGS, kw.ALTER_CONFIGS,
            kw.CREATE_PARTITIONS, kw.INCREMENTAL_ALTER_CONFIGS, kw.DESCRIBE_CLUSTER, kw.DESCRIBE_TOPIC_PARTITIONS]
    for n in range(60):
        key, version = rng.choice(keys), rng.randrange(0, 14)
        body = rng.randbytes(rng.randrange(0, 300))
        with kw.Conn(b.bootstrap) as c:
            corr = c.send(key, version, body, flexible_header=rng.random() < 0.5)
            closed_or_answered(c, corr)
        alive(b)
        if n % 20 == 19:
            still_serving(b)
    still_serving(b)


# ---------------------------------------------------------------- produce validation
def test_produce_with_bad_crc_is_corrupt_message(b):
    t = topic_with_one_record(b)
    good = kw.encode_batch([kw.Record(b"k1", b"good one", [("h", b"v")])])
    assert raw_produce(b, t, good) == (kw.NONE, 1), "a well-formed hand-built batch must be accepted"
    bad = bytearray(kw.encode_batch([kw.Record(b"k2", b"bad one")]))
    bad[-3] ^= 0x01  # inside the value: the CRC no longer matches
    assert raw_produce(b, t, bytes(bad))[0] == kw.CORRUPT_MESSAGE
    crc_only = bytearray(kw.encode_batch([kw.Record(b"k3", b"bad crc")]))
    crc_only[kw.CRC_FIELD_OFFSET] ^= 0xFF
    assert raw_produce(b, t, bytes(crc_only))[0] == kw.CORRUPT_MESSAGE
    assert watermarks(b, t, 0) == (0, 2)
    assert raw_produce(b, t, kw.encode_batch([kw.Record(b"k4", b"after")])) == (kw.NONE, 2)
    got = consume(b, t, {0: 0}, {0: 3})[0]
    assert [(r.key, r.value) for r in got] == [(None, b"first"), (b"k1", b"good one"), (b"k4", b"after")]
    assert got[1].headers == (("h", b"v"),)
    still_serving(b)


@pytest.mark.parametrize("case", ["magic-1", "length-too-short", "count-too-high", "count-too-low", "zero-records",
                                  "trailing-bytes"])
def test_produce_with_malformed_batch_is_refused(b, case):
    t = topic_with_one_record(b)
    recs = [kw.Record(b"k", b"v1"), kw.Record(b"k", b"v2")]
    batch = bytearray(kw.encode_batch(recs))

    def recrc(buf: bytearray) -> bytes:
        buf[kw.CRC_FIELD_OFFSET:kw.CRC_FIELD_OFFSET + 4] = struct.pack(">I", kw.crc32c(bytes(buf[21:])))
        return bytes(buf)

    if case == "magic-1":
        batch[16] = 1
        data = bytes(batch)
    elif case == "length-too-short":
        batch[8:12] = kw.i32(len(batch) - 12 - 5)
        data = bytes(batch)
    elif case == "count-too-high":
        batch[57:61] = kw.i32(3)
        data = recrc(batch)
    elif case == "count-too-low":
        batch[57:61] = kw.i32(1)
        data = recrc(batch)
    elif case == "zero-records":
        data = kw.encode_batch([])
    else:
        batch += b"\x00\x01\x02"
        batch[8:12] = kw.i32(len(batch) - 12)
        data = recrc(batch)
    err, _ = raw_produce(b, t, data)
    assert err in (kw.CORRUPT_MESSAGE, 87), f"{case}: error {err}, expected CORRUPT_MESSAGE (2) or INVALID_RECORD (87)"
    assert watermarks(b, t, 0) == (0, 1)
    still_serving(b)


def test_record_over_message_max_bytes_is_message_too_large(b):
    t = topic_with_one_record(b)
    one_big = kw.encode_batch([kw.Record(b"k", b"x" * (MESSAGE_MAX + 1000))])
    assert raw_produce(b, t, one_big)[0] == kw.MESSAGE_TOO_LARGE
    many_small = kw.encode_batch([kw.Record(b"k", b"y" * 1000) for _ in range(MESSAGE_MAX // 1000 + 5)])
    assert raw_produce(b, t, many_small)[0] == kw.MESSAGE_TOO_LARGE, "the limit applies to the whole batch"
    assert raw_produce(b, t, kw.encode_batch([kw.Record(b"k", b"z" * (MESSAGE_MAX // 2))]))[0] == kw.NONE
    assert watermarks(b, t, 0) == (0, 2)
    still_serving(b)


def test_produce_to_unknown_partition_and_bad_acks(b):
    t = topic_with_one_record(b)
    batch = kw.encode_batch([kw.Record(None, b"v")])
    assert raw_produce(b, t, batch, partition=9)[0] == kw.UNKNOWN_TOPIC_OR_PARTITION
    assert raw_produce(b, t, batch, acks=2)[0] == 21  # INVALID_REQUIRED_ACKS
    assert watermarks(b, t, 0) == (0, 1)
    still_serving(b)


def test_produce_with_invalid_topic_name(b):
    for name in ("bad name", "x" * 300, ".."):
        err, _ = raw_produce(b, name, kw.encode_batch([kw.Record(None, b"v")]))
        assert err in (kw.INVALID_TOPIC_EXCEPTION, kw.UNKNOWN_TOPIC_OR_PARTITION), (name, err)
    with kw.Conn(b.bootstrap) as c:
        md = kw.parse_metadata_v1(c.request(kw.METADATA, 1, kw.metadata_v1(["bad name"])))
    assert md.topics["bad name"][0] in (kw.INVALID_TOPIC_EXCEPTION, kw.UNKNOWN_TOPIC_OR_PARTITION)
    still_serving(b)


def test_pipelined_requests_are_answered_in_order(b):
    """Several requests written back to back on one connection get their responses in request
    order, even when they touch partitions on different shards."""
    t = unique_topic("pipe")
    produce_all(producer(b), t, [{"value": b"x", "partition": 0}])
    with kw.Conn(b.bootstrap) as c:
        corrs = []
        for i in range(30):
            if i % 3 == 0:
                corrs.append(c.send(kw.METADATA, 1, kw.metadata_v1([t])))
            elif i % 3 == 1:
                corrs.append(c.send(kw.API_VERSIONS, 0, b""))
            else:
                corrs.append(c.send(kw.FETCH, 4, kw.fetch_v4(t, 0, 0, max_wait_ms=0)))
        got = [struct.unpack(">i", c.recv_frame(10)[:4])[0] for _ in corrs]
    assert got == corrs


def server_side_receive_queues(broker, client_ports: set[int]) -> dict[int, int]:
    """Bytes waiting in the broker's receive queue of each of our connections (/proc/net/tcp)."""
    queues = {}
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        if local_port == broker.port and remote_port in client_ports:
            queues[remote_port] = int(fields[4].split(":")[1], 16)
    return queues


def wait_until_read(broker, sockets: list, timeout: float = 30.0) -> None:
    """Returns once the broker has taken everything we sent out of its sockets."""
    import time
    ports = {s.getsockname()[1] for s in sockets}
    deadline = time.monotonic() + timeout
    while True:
        queues = server_side_receive_queues(broker, ports)
        if len(queues) == len(ports) and not any(queues.values()):
            return
        assert time.monotonic() < deadline, f"the broker left bytes unread: {queues}"
        time.sleep(0.05)


def rss_bytes(broker) -> int:
    for line in open(f"/proc/{broker.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_declared_frame_length_is_a_limit_not_an_allocation(start_broker):
    """40 connections declare 30 MiB frames: the broker holds memory for the bytes that came,
    not for the lengths declared (it used to zero-fill 30 MiB for each, 1.2 GB)."""
    import socket
    broker = start_broker({"socket.request.max.bytes": 100 << 20})
    sockets = [socket.create_connection((broker.host, broker.port)) for _ in range(40)]
    try:
        before = rss_bytes(broker)
        for s in sockets:
            s.sendall(struct.pack(">i", 30 << 20))
        wait_until_read(broker, sockets)
        after_prefix = rss_bytes(broker)
        assert after_prefix - before < 4 << 20, f"40 length prefixes cost {after_prefix - before} bytes"
        for s in sockets:
            s.sendall(bytes(256 << 10))
        wait_until_read(broker, sockets)
        after_body = rss_bytes(broker)
        # Each buffer holds what came, at most about twice that: 40 x 256 KiB arrived.
        assert after_body - before < 40 << 20, f"40 x 256 KiB of frames cost {after_body - before} bytes"
    finally:
        for s in sockets:
            s.close()
    still_serving(broker)
