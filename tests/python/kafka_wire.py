"""A tiny, hand-written Kafka wire codec for the bad-input and protocol-edge tests.

Only what the tests need, written from Kafka's protocol guide and its message JSON schemas:
ApiVersions v0/v3, Metadata v1, Produce v3, Fetch v4, RecordBatch v2 (magic 2, CRC-32C),
and a reader that splits fetched log bytes back into batches and checks their CRCs.
Real clients cover the happy paths; this module exists so a test can send exactly the bytes
a broker must refuse, and look at exactly the bytes it serves.
"""

from __future__ import annotations

import dataclasses
import itertools
import socket
import struct
import time
import uuid
import zlib

# ---------------------------------------------------------------- error codes used by tests
NONE = 0
OFFSET_OUT_OF_RANGE = 1
CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
LEADER_NOT_AVAILABLE = 5
REQUEST_TIMED_OUT = 7
MESSAGE_TOO_LARGE = 10
INVALID_TOPIC_EXCEPTION = 17
UNSUPPORTED_VERSION = 35
OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
INVALID_TXN_STATE = 48
INVALID_PRODUCER_ID_MAPPING = 49
TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53
PRODUCER_FENCED = 90
INVALID_RECORD = 87
INVALID_TIMESTAMP = 32
INVALID_REQUIRED_ACKS = 21
TOPIC_AUTHORIZATION_FAILED = 29
INVALID_REQUEST = 42
UNKNOWN_LEADER_EPOCH = 75
UNSUPPORTED_COMPRESSION_TYPE = 76

# ---------------------------------------------------------------- API keys
PRODUCE = 0
FETCH = 1
LIST_OFFSETS = 2
METADATA = 3
API_VERSIONS = 18
CREATE_TOPICS = 19
DELETE_TOPICS = 20
DELETE_RECORDS = 21
OFFSET_FOR_LEADER_EPOCH = 23
DESCRIBE_CONFIGS = 32
ALTER_CONFIGS = 33
CREATE_PARTITIONS = 37
INCREMENTAL_ALTER_CONFIGS = 44
DESCRIBE_CLUSTER = 60
DESCRIBE_TOPIC_PARTITIONS = 75
INIT_PRODUCER_ID = 22
LIST_TRANSACTIONS = 66
ADD_PARTITIONS_TO_TXN = 24
END_TXN = 26
TXN_OFFSET_COMMIT = 28

# compression codec ids in a RecordBatch's attributes (low 3 bits)
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


# ---------------------------------------------------------------- CRC-32C (Castagnoli)
def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    try:  # the C implementation when installed (it is, by requirements.txt); same result
        import crc32c as _fast

        return _fast.crc32c(data)
    except ImportError:
        crc = 0xFFFFFFFF
        for b in data:
            crc = _CRC32C_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF


# ---------------------------------------------------------------- primitive encoders
def i8(v: int) -> bytes:
    return struct.pack(">b", v)


def i16(v: int) -> bytes:
    return struct.pack(">h", v)


def i32(v: int) -> bytes:
    return struct.pack(">i", v)


def i64(v: int) -> bytes:
    return struct.pack(">q", v)


def uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v: int) -> bytes:
    """Zigzag varint (Kafka's varint/varlong in records)."""
    return uvarint((v << 1) ^ (v >> 63))


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def compact_string(s: str | None) -> bytes:
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def nbytes(b: bytes | None) -> bytes:
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def array(items: list[bytes] | None) -> bytes:
    if items is None:
        return i32(-1)
    return i32(len(items)) + b"".join(items)


def compact_array(items: list[bytes]) -> bytes:
    return uvarint(len(items) + 1) + b"".join(items)


EMPTY_TAGS = uvarint(0)


# ---------------------------------------------------------------- primitive decoder
class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"short read: want {n} at {self.pos}, have {len(self.data)}")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def i8(self) -> int:
        return struct.unpack(">b", self._take(1))[0]

    def i16(self) -> int:
        return struct.unpack(">h", self._take(2))[0]

    def i32(self) -> int:
        return struct.unpack(">i", self._take(4))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self._take(4))[0]

    def i64(self) -> int:
        return struct.unpack(">q", self._take(8))[0]

    def uvarint(self) -> int:
        shift = result = 0
        while True:
            b = self._take(1)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def varint(self) -> int:
        v = self.uvarint()
        return (v >> 1) ^ -(v & 1)

    def string(self) -> str | None:
        n = self.i16()
        return None if n < 0 else self._take(n).decode()

    def compact_string(self) -> str | None:
        n = self.uvarint()
        return None if n == 0 else self._take(n - 1).decode()

    def nbytes(self) -> bytes | None:
        n = self.i32()
        return None if n < 0 else self._take(n)

    def array(self, item) -> list | None:
        n = self.i32()
        return None if n < 0 else [item(self) for _ in range(n)]

    def compact_array(self, item) -> list | None:
        n = self.uvarint()
        return None if n == 0 else [item(self) for _ in range(n - 1)]

    def skip_tags(self) -> dict[int, bytes]:
        tags = {}
        for _ in range(self.uvarint()):
            tag = self.uvarint()
            tags[tag] = self._take(self.uvarint())
        return tags


# ---------------------------------------------------------------- RecordBatch v2
@dataclasses.dataclass
class Record:
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] = dataclasses.field(default_factory=list)
    timestamp_delta: int = 0


def encode_record(offset_delta: int, r: Record) -> bytes:
    body = bytearray()
    body += i8(0)  # attributes (unused)
    body += varint(r.timestamp_delta)
    body += varint(offset_delta)
    for part in (r.key, r.value):
        if part is None:
            body += varint(-1)
        else:
            body += varint(len(part)) + part
    body += varint(len(r.headers))
    for hk, hv in r.headers:
        k = hk.encode()
        body += varint(len(k)) + k
        body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body)) + bytes(body)


def _compress(codec: int, data: bytes) -> bytes:
    if codec == 1:
        c = zlib.compressobj(wbits=31)  # gzip framing
        return c.compress(data) + c.flush()
    if codec == 3:
        import lz4.frame

        return lz4.frame.compress(data)
    if codec == 4:
        import zstandard

        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(f"no encoder here for codec {codec}")


def encode_batch(
    records: list[Record],
    base_timestamp: int | None = None,
    base_offset: int = 0,
    attributes: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    codec: str = "none",
    offset_deltas: list[int] | None = None,
) -> bytes:
    """A magic-2 RecordBatch with a correct CRC-32C; records compressed with `codec` (none, gzip,
    lz4 or zstd), at offset deltas 0, 1, 2 ... unless `offset_deltas` names others."""
    if base_timestamp is None:
        base_timestamp = int(time.time() * 1000)
    deltas = range(len(records)) if offset_deltas is None else offset_deltas
    recs = b"".join(encode_record(i, r) for i, r in zip(deltas, records))
    if CODECS[codec]:
        recs = _compress(CODECS[codec], recs)
        attributes |= CODECS[codec]
    max_ts = base_timestamp + max((r.timestamp_delta for r in records), default=0)
    after_crc = (
        i16(attributes)
        + i32(len(records) - 1)  # lastOffsetDelta
        + i64(base_timestamp)
        + i64(max_ts)
        + i64(producer_id)
        + i16(producer_epoch)
        + i32(base_sequence)
        + i32(len(records))
        + recs
    )
    crc = struct.pack(">I", crc32c(after_crc))
    # batchLength counts from partitionLeaderEpoch to the end
    rest = i32(-1) + i8(2) + crc + after_crc  # partitionLeaderEpoch, magic, crc, ...
    return i64(base_offset) + i32(len(rest)) + rest


BATCH_HEADER_BYTES = 61  # baseOffset .. recordCount
CRC_FIELD_OFFSET = 17  # baseOffset(8) batchLength(4) partitionLeaderEpoch(4) magic(1)


@dataclasses.dataclass
class Batch:
    base_offset: int
    last_offset_delta: int
    attributes: int
    base_timestamp: int
    max_timestamp: int
    record_count: int
    crc_ok: bool
    raw: bytes
    records: list[tuple[int, int, Record]] | None  # (offset, timestamp, record) when decodable

    @property
    def partition_leader_epoch(self) -> int:
        return struct.unpack(">i", self.raw[12:16])[0]

    @property
    def codec(self) -> int:
        return self.attributes & 0x07

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta


def _decompress(codec: int, data: bytes) -> bytes:
    if codec == 1:
        return zlib.decompress(data, 47)  # gzip
    if codec == 2:
        import cramjam  # Kafka's snappy is xerial-framed; cramjam reads the raw form only

        if data[:8] == b"\x82SNAPPY\x00":
            out, pos = bytearray(), 16
            while pos < len(data):
                n = struct.unpack(">i", data[pos : pos + 4])[0]
                out += bytes(cramjam.snappy.decompress_raw(data[pos + 4 : pos + 4 + n]))
                pos += 4 + n
            return bytes(out)
        return bytes(cramjam.snappy.decompress_raw(data))
    if codec == 3:
        import lz4.frame

        return lz4.frame.decompress(data)
    if codec == 4:
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    raise ValueError(f"unknown codec {codec}")


def _decode_records(b: Batch, payload: bytes) -> list[tuple[int, int, Record]]:
    rd = Reader(payload)
    out = []
    for _ in range(b.record_count):
        length = rd.varint()
        end = rd.pos + length
        rd.i8()
        ts_delta = rd.varint()
        off_delta = rd.varint()
        kl = rd.varint()
        key = None if kl < 0 else rd._take(kl)
        vl = rd.varint()
        value = None if vl < 0 else rd._take(vl)
        headers = []
        for _ in range(rd.varint()):
            hk = rd._take(rd.varint()).decode()
            hl = rd.varint()
            headers.append((hk, None if hl < 0 else rd._take(hl)))
        if rd.pos != end:
            raise ValueError("record length mismatch")
        out.append((b.base_offset + off_delta, b.base_timestamp + ts_delta, Record(key, value, headers, ts_delta)))
    return out


def decode_batches(data: bytes, decode_records: bool = True) -> list[Batch]:
    """Split log bytes (a Fetch response's records, or a segment file) into batches.

    A trailing partial batch is allowed (a fetch may end mid-batch) and ignored. The CRC of
    every whole batch is checked and reported in `crc_ok`; records are decoded when asked and
    the CRC is good.
    """
    batches = []
    pos = 0
    while pos + 12 <= len(data):
        base_offset, length = struct.unpack(">qi", data[pos : pos + 12])
        if length <= 0 or pos + 12 + length > len(data):
            break
        raw = data[pos : pos + 12 + length]
        rd = Reader(raw)
        rd.i64()
        rd.i32()
        rd.i32()  # partitionLeaderEpoch
        magic = rd.i8()
        if magic != 2:
            raise ValueError(f"batch at byte {pos}: magic {magic}")
        crc = rd.u32()
        crc_ok = crc32c(raw[21:]) == crc
        attributes = rd.i16()
        last_offset_delta = rd.i32()
        base_ts = rd.i64()
        max_ts = rd.i64()
        rd.i64()
        rd.i16()
        rd.i32()
        count = rd.i32()
        b = Batch(base_offset, last_offset_delta, attributes, base_ts, max_ts, count, crc_ok, raw, None)
        if decode_records and crc_ok:
            payload = raw[BATCH_HEADER_BYTES:]
            if b.codec:
                payload = _decompress(b.codec, payload)
            b.records = _decode_records(b, payload)
        batches.append(b)
        pos += 12 + length
    return batches


def valid_log_end(data: bytes) -> int:
    """Byte position just after the last whole batch with a good CRC in a segment's bytes."""
    end = 0
    for b in decode_batches(data, decode_records=False):
        if not b.crc_ok:
            break
        end += len(b.raw)
    return end


# ---------------------------------------------------------------- requests
_correlation = itertools.count(1)


def request_header(api_key: int, version: int, corr: int, client_id: str | None = "shoal-tests", flexible: bool = False) -> bytes:
    h = i16(api_key) + i16(version) + i32(corr) + string(client_id)
    return h + EMPTY_TAGS if flexible else h


def frame(payload: bytes) -> bytes:
    return i32(len(payload)) + payload


def api_versions_v0() -> bytes:
    return b""


def api_versions_v3() -> bytes:
    return compact_string("shoal-tests") + compact_string("1.0") + EMPTY_TAGS


def metadata_v1(topics: list[str] | None) -> bytes:
    return array(None if topics is None else [string(t) for t in topics])


def produce_v3(topic: str, partition: int, records: bytes, acks: int = -1, timeout_ms: int = 10000) -> bytes:
    part = i32(partition) + nbytes(records)
    return string(None) + i16(acks) + i32(timeout_ms) + array([string(topic) + array([part])])


def fetch_v4(topic: str, partition: int, offset: int, max_wait_ms: int = 500, min_bytes: int = 1,
             max_bytes: int = 50 * 1024 * 1024, partition_max_bytes: int = 10 * 1024 * 1024,
             replica_id: int = -1) -> bytes:
    part = i32(partition) + i64(offset) + i32(partition_max_bytes)
    return (
        i32(replica_id) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
        + array([string(topic) + array([part])])
    )


def fetch_v12(topic: str, partition: int, offset: int, last_fetched_epoch: int = -1,
              current_leader_epoch: int = -1, max_wait_ms: int = 0, rack: str = "") -> bytes:
    """A sessionless Fetch v12 (the first flexible one, which carries last_fetched_epoch)
    from a consumer in `rack`."""
    part = (i32(partition) + i32(current_leader_epoch) + i64(offset) + i32(last_fetched_epoch)
            + i64(-1) + i32(1 << 20) + EMPTY_TAGS)
    topics = compact_array([compact_string(topic) + compact_array([part]) + EMPTY_TAGS])
    return (i32(-1) + i32(max_wait_ms) + i32(1) + i32(50 << 20) + i8(0) + i32(0) + i32(-1)
            + topics + compact_array([]) + compact_string(rack) + EMPTY_TAGS)


def list_offsets_v5(queries: list[tuple[str, int, int]]) -> bytes:
    """ListOffsets v5 for (topic, partition, timestamp) queries, in order (a topic named
    again gets its own entry, as a client may send it)."""
    topics = [string(t) + array([i32(p) + i32(-1) + i64(ts)]) for t, p, ts in queries]
    return i32(-1) + i8(0) + array(topics)


def init_producer_id_v0(transactional_id: str | None = None, timeout_ms: int = 60000) -> bytes:
    return string(transactional_id) + i32(timeout_ms)


# ---------------------------------------------------------------- responses
@dataclasses.dataclass
class ApiVersions:
    error_code: int
    versions: dict[int, tuple[int, int]]
    throttle_time_ms: int | None


def parse_api_versions(body: bytes, version: int) -> ApiVersions:
    rd = Reader(body)
    err = rd.i16()
    if version >= 3:
        keys = rd.compact_array(lambda r: (r.i16(), r.i16(), r.i16(), r.skip_tags()))
    else:
        keys = rd.array(lambda r: (r.i16(), r.i16(), r.i16()))
    throttle = rd.i32() if version >= 1 else None
    if version >= 3:
        rd.skip_tags()
    if rd.remaining():
        raise ValueError(f"{rd.remaining()} trailing bytes in ApiVersions v{version} response")
    return ApiVersions(err, {k[0]: (k[1], k[2]) for k in keys or []}, throttle)


@dataclasses.dataclass
class MetadataV1:
    brokers: list[tuple[int, str, int]]
    controller_id: int
    topics: dict[str, tuple[int, list[tuple[int, int, int]]]]  # name -> (error, [(partition, error, leader)])


def parse_metadata_v1(body: bytes) -> MetadataV1:
    rd = Reader(body)
    brokers = rd.array(lambda r: (r.i32(), r.string(), r.i32(), r.string())) or []
    controller = rd.i32()

    def partition(r: Reader):
        err, idx, leader = r.i16(), r.i32(), r.i32()
        r.array(Reader.i32)
        r.array(Reader.i32)
        return (idx, err, leader)

    def topic(r: Reader):
        err, name, _internal = r.i16(), r.string(), r.i8()
        return name, (err, r.array(partition) or [])

    topics = dict(rd.array(topic) or [])
    return MetadataV1([(b[0], b[1], b[2]) for b in brokers], controller, topics)


def parse_produce_v3(body: bytes) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) -> (error_code, base_offset)."""
    rd = Reader(body)
    out = {}
    for name, parts in rd.array(lambda r: (r.string(), r.array(lambda q: (q.i32(), q.i16(), q.i64(), q.i64())))) or []:
        for idx, err, base, _append_time in parts or []:
            out[(name, idx)] = (err, base)
    rd.i32()
    return out


@dataclasses.dataclass
class ProducedV8:
    error_code: int
    base_offset: int
    record_errors: list[tuple[int, str | None]]
    error_message: str | None
    log_start_offset: int = -1


def parse_produce_v8(body: bytes) -> dict[tuple[str, int], ProducedV8]:
    """(topic, partition) -> what ProduceResponse v8 says, KIP-467's record errors included.
    (Version 8 has the same request as version 3.)"""
    rd = Reader(body)
    out = {}

    def partition(r: Reader) -> tuple[int, ProducedV8]:
        index, error, base = r.i32(), r.i16(), r.i64()
        r.i64()  # log_append_time_ms
        log_start = r.i64()
        errors = r.array(lambda q: (q.i32(), q.string())) or []
        return index, ProducedV8(error, base, errors, r.string(), log_start)

    for name, parts in rd.array(lambda r: (r.string(), r.array(partition))) or []:
        for index, produced in parts or []:
            out[(name, index)] = produced
    rd.i32()
    return out


def parse_init_producer_id_v0(body: bytes) -> tuple[int, int, int]:
    """(error_code, producer_id, producer_epoch)."""
    rd = Reader(body)
    rd.i32()
    return rd.i16(), rd.i64(), rd.i16()


@dataclasses.dataclass
class FetchPartition:
    error_code: int
    high_watermark: int
    records: bytes


def parse_fetch_v4(body: bytes) -> dict[tuple[str, int], FetchPartition]:
    rd = Reader(body)
    rd.i32()  # throttle
    out = {}

    def partition(r: Reader):
        idx, err, hw, _lso = r.i32(), r.i16(), r.i64(), r.i64()
        r.array(lambda q: (q.i64(), q.i64()))
        return idx, FetchPartition(err, hw, r.nbytes() or b"")

    for name, parts in rd.array(lambda r: (r.string(), r.array(partition))) or []:
        for idx, p in parts or []:
            out[(name, idx)] = p
    return out


@dataclasses.dataclass
class FetchedV12:
    error_code: int
    high_watermark: int
    log_start_offset: int
    diverging_epoch: tuple[int, int]
    records: bytes
    preferred_read_replica: int = -1


def parse_fetch_v12(body: bytes) -> dict[tuple[str, int], FetchedV12]:
    rd = Reader(body)
    rd.i32(), rd.i16(), rd.i32()  # throttle, error, session id

    def partition(r: Reader):
        idx, err, hw, _lso, log_start = r.i32(), r.i16(), r.i64(), r.i64(), r.i64()
        r.compact_array(lambda q: (q.i64(), q.i64(), q.skip_tags()))
        preferred = r.i32()
        n = r.uvarint()
        records = b"" if n == 0 else r._take(n - 1)
        diverging = (-1, -1)
        tags = r.skip_tags()
        if 0 in tags:  # DivergingEpoch: epoch, end offset, its own tags
            d = Reader(tags[0])
            diverging = (d.i32(), d.i64())
        return idx, FetchedV12(err, hw, log_start, diverging, records, preferred)

    out = {}
    topics = rd.compact_array(lambda r: (r.compact_string(), r.compact_array(partition), r.skip_tags()))
    for name, parts, _ in topics or []:
        for idx, p in parts or []:
            out[(name, idx)] = p
    return out


def parse_list_offsets_v5(body: bytes) -> list[tuple[str, int, int, int, int]]:
    """Every (topic, partition, error, timestamp, offset) answered, in order."""
    rd = Reader(body)
    rd.i32()
    out = []
    partition = lambda q: (q.i32(), q.i16(), q.i64(), q.i64(), q.i32())  # noqa: E731
    for name, parts in rd.array(lambda r: (r.string(), r.array(partition))) or []:
        for idx, err, ts, offset, _epoch in parts or []:
            out.append((name, idx, err, ts, offset))
    return out


# ---------------------------------------------------------------- topic admin
@dataclasses.dataclass
class NewTopicRaw:
    name: str
    partitions: int = -1
    replication_factor: int = -1
    assignments: list[tuple[int, list[int]]] = dataclasses.field(default_factory=list)
    configs: dict[str, str | None] = dataclasses.field(default_factory=dict)


def create_topics_v5(topics: list[NewTopicRaw], validate_only: bool = False) -> bytes:
    """CreateTopics v5 (flexible; its answer carries each new topic's counts and configs)."""
    def topic(t: NewTopicRaw) -> bytes:
        assignments = compact_array([i32(p) + compact_array([i32(b) for b in brokers]) + EMPTY_TAGS
                                     for p, brokers in t.assignments])
        configs = compact_array([compact_string(k) + compact_string(v) + EMPTY_TAGS for k, v in t.configs.items()])
        return compact_string(t.name) + i32(t.partitions) + i16(t.replication_factor) + assignments + configs + EMPTY_TAGS
    return compact_array([topic(t) for t in topics]) + i32(30000) + i8(int(validate_only)) + EMPTY_TAGS


@dataclasses.dataclass
class CreatedTopic:
    name: str
    error_code: int
    error_message: str | None
    num_partitions: int
    replication_factor: int
    configs: dict[str, str | None] | None
    config_error_code: int


def parse_create_topics_v5(body: bytes) -> list[CreatedTopic]:
    rd = Reader(body)
    rd.i32()

    def topic(r: Reader) -> CreatedTopic:
        name, error, message = r.compact_string(), r.i16(), r.compact_string()
        partitions, factor = r.i32(), r.i16()
        configs = r.compact_array(lambda q: (q.compact_string(), q.compact_string(), q.i8(), q.i8(), q.i8(),
                                             q.skip_tags()))
        tags = r.skip_tags()
        config_error = struct.unpack(">h", tags[0])[0] if 0 in tags else 0
        return CreatedTopic(name, error, message, partitions, factor,
                            None if configs is None else {c[0]: c[1] for c in configs}, config_error)

    return rd.compact_array(topic) or []


def delete_topics_v6(topics: list[tuple[str | None, uuid.UUID | None]]) -> bytes:
    """DeleteTopics v6: each entry by name or by id (or, to be refused, both or neither)."""
    entries = [compact_string(name) + (topic_id or uuid.UUID(int=0)).bytes + EMPTY_TAGS for name, topic_id in topics]
    return compact_array(entries) + i32(30000) + EMPTY_TAGS


def parse_delete_topics_v6(body: bytes) -> list[tuple[str | None, uuid.UUID, int, str | None]]:
    """Every (name, id, error, message) answered, in order."""
    rd = Reader(body)
    rd.i32()
    return rd.compact_array(lambda r: (r.compact_string(), uuid.UUID(bytes=r._take(16)), r.i16(),
                                       r.compact_string(), r.skip_tags())[:4]) or []


def delete_topics_v1(names: list[str]) -> bytes:
    return array([string(n) for n in names]) + i32(30000)


def parse_delete_topics_v1(body: bytes) -> list[tuple[str, int]]:
    rd = Reader(body)
    rd.i32()
    return rd.array(lambda r: (r.string(), r.i16())) or []


def create_partitions_v1(changes: list[tuple[str, int]], validate_only: bool = False) -> bytes:
    return array([string(name) + i32(count) + i32(-1) for name, count in changes]) + i32(30000) + i8(int(validate_only))


def parse_create_partitions_v1(body: bytes) -> list[tuple[str, int, str | None]]:
    rd = Reader(body)
    rd.i32()
    return rd.array(lambda r: (r.string(), r.i16(), r.string())) or []


def metadata_v10(topics: list[tuple[str | None, uuid.UUID | None]]) -> bytes:
    """Metadata v10 for (name, id) entries: a topic id in a request only counts from v12."""
    entries = [(topic_id or uuid.UUID(int=0)).bytes + compact_string(name) + EMPTY_TAGS for name, topic_id in topics]
    return compact_array(entries) + i8(0) + i8(0) + i8(0) + EMPTY_TAGS


def parse_metadata_v10_errors(body: bytes) -> list[tuple[str | None, int]]:
    """Each topic's (name, error code), in order."""
    rd = Reader(body)
    rd.i32()
    rd.compact_array(lambda r: (r.i32(), r.compact_string(), r.i32(), r.compact_string(), r.skip_tags()))
    rd.compact_string(), rd.i32()

    def partition(r: Reader):
        r.i16(), r.i32(), r.i32(), r.i32()
        for _ in range(3):
            r.compact_array(lambda q: q.i32())
        r.skip_tags()

    def topic(r: Reader):
        error, name = r.i16(), r.compact_string()
        r._take(16), r.i8()
        r.compact_array(partition)
        r.i32(), r.skip_tags()
        return name, error

    return rd.compact_array(topic) or []


def list_transactions_v0(states: list[str], producer_ids: list[int] | None = None) -> bytes:
    return compact_array([compact_string(s) for s in states]) + compact_array([i64(p) for p in producer_ids or []]) \
        + EMPTY_TAGS


def parse_list_transactions_v0(body: bytes) -> tuple[int, list[str], list[tuple[str, str]]]:
    """(error, unknown state filters, [(transactional id, state)])."""
    rd = Reader(body)
    rd.i32()
    error = rd.i16()
    unknown = rd.compact_array(lambda r: r.compact_string()) or []
    listed = rd.compact_array(lambda r: (r.compact_string(), r.i64(), r.compact_string(), r.skip_tags())) or []
    return error, unknown, [(tid, state) for tid, _, state, _ in listed]


# ---------------------------------------------------------------- config admin
RESOURCE_TOPIC, RESOURCE_BROKER = 2, 4
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def incremental_alter_configs_v0(resources: list[tuple[int, str, list[tuple[str, int, str | None]]]],
                                 validate_only: bool = False) -> bytes:
    """(resource type, name, [(key, operation, value)]) per resource."""
    return array([i8(rtype) + string(name) + array([string(k) + i8(op) + string(v) for k, op, v in ops])
                  for rtype, name, ops in resources]) + i8(int(validate_only))


def alter_configs_v0(resources: list[tuple[int, str, list[tuple[str, str | None]]]],
                     validate_only: bool = False) -> bytes:
    return array([i8(rtype) + string(name) + array([string(k) + string(v) for k, v in configs])
                  for rtype, name, configs in resources]) + i8(int(validate_only))


def parse_alter_configs_v0(body: bytes) -> list[tuple[int, str, int, str | None]]:
    """Every (resource type, name, error, message) answered, in order (both APIs, v0)."""
    rd = Reader(body)
    rd.i32()
    answers = rd.array(lambda r: (r.i16(), r.string(), r.i8(), r.string())) or []
    return [(rtype, name, err, message) for err, message, rtype, name in answers]


# ---------------------------------------------------------------- connection
class Closed(Exception):
    """The broker closed the connection (EOF or reset)."""


class Conn:
    """One TCP connection to the broker, speaking raw frames."""

    def __init__(self, bootstrap: str, timeout: float = 10.0):
        host, port = bootstrap.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout

    def __enter__(self) -> "Conn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def send_raw(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(str(e)) from e

    def send(self, api_key: int, version: int, body: bytes, flexible_header: bool = False) -> int:
        corr = next(_correlation)
        self.send_raw(frame(request_header(api_key, version, corr, flexible=flexible_header) + body))
        return corr

    def _recv_exact(self, n: int, timeout: float) -> bytes:
        buf = bytearray()
        deadline = time.monotonic() + timeout
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no complete frame within {timeout}s ({len(buf)}/{n} bytes)")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(n - len(buf))
            except socket.timeout as e:
                raise TimeoutError(f"no complete frame within {timeout}s ({len(buf)}/{n} bytes)") from e
            except ConnectionResetError as e:
                raise Closed("connection reset") from e
            if not chunk:
                raise Closed(f"EOF after {len(buf)}/{n} bytes")
            buf += chunk
        return bytes(buf)

    def recv_frame(self, timeout: float | None = None) -> bytes:
        timeout = self.timeout if timeout is None else timeout
        n = struct.unpack(">i", self._recv_exact(4, timeout))[0]
        if n < 4:
            raise ValueError(f"response frame length {n}")
        return self._recv_exact(n, timeout)

    def recv_response(self, corr: int, flexible_header: bool = False, timeout: float | None = None) -> bytes:
        """The body of the response to request `corr` (responses come in request order)."""
        data = self.recv_frame(timeout)
        rd = Reader(data)
        got = rd.i32()
        if got != corr:
            raise AssertionError(f"response correlation id {got}, expected {corr}")
        if flexible_header:
            rd.skip_tags()
        return data[rd.pos :]

    def request(self, api_key: int, version: int, body: bytes, flexible: bool = False, timeout: float | None = None) -> bytes:
        corr = self.send(api_key, version, body, flexible_header=flexible)
        # ApiVersions responses always use header v0, even when the request is flexible
        resp_flexible = flexible and api_key != API_VERSIONS
        return self.recv_response(corr, flexible_header=resp_flexible, timeout=timeout)

    def wait_closed(self, timeout: float = 10.0) -> bytes:
        """Read until the broker closes the connection; returns whatever arrived before.

        Raises TimeoutError if the connection is still open after `timeout` seconds.
        """
        got = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"connection still open after {timeout}s ({len(got)} bytes received)")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return bytes(got)
            if not chunk:
                return bytes(got)
            got += chunk


def fetch_all_batches(bootstrap: str, topic: str, partition: int, start: int = 0, timeout: float = 30.0) -> list[Batch]:
    """Every batch from `start` to the high watermark, by repeated Fetch v4 requests."""
    out: list[Batch] = []
    offset = start
    deadline = time.monotonic() + timeout
    with Conn(bootstrap) as c:
        while time.monotonic() < deadline:
            resp = parse_fetch_v4(c.request(FETCH, 4, fetch_v4(topic, partition, offset, max_wait_ms=0)))
            p = resp[(topic, partition)]
            if p.error_code != NONE:
                raise AssertionError(f"fetch {topic}-{partition}@{offset}: error {p.error_code}")
            batches = [b for b in decode_batches(p.records) if b.last_offset >= offset]
            out += batches
            if batches:
                offset = batches[-1].last_offset + 1
            if offset >= p.high_watermark:
                return out
            if not batches:
                raise AssertionError(f"fetch {topic}-{partition}@{offset} below high watermark {p.high_watermark} "
                                     f"returned no whole batch ({len(p.records)} bytes)")
    raise TimeoutError(f"fetching {topic}-{partition} took over {timeout}s")
