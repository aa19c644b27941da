"""Small helpers around the real clients (confluent-kafka, kcat) shared by the tests."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CLIENT_TIMEOUT_S = 30.0


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def base_conf(broker, **extra) -> dict:
    conf = {
        "bootstrap.servers": broker.bootstrap,
        "broker.address.family": "v4",
        "socket.connection.setup.timeout.ms": 10000,
    }
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    return conf


# Every client a test makes is closed at the end of that test (conftest's start_broker calls
# close_all before it stops the brokers), so none keeps reconnecting to a stopped broker.
_OPEN: list = []


def close_all() -> None:
    while _OPEN:
        c = _OPEN.pop()
        try:
            if isinstance(c, Producer):
                c.purge()
                c.flush(0)
            if not isinstance(c, AdminClient):
                c.close()
        except (RuntimeError, KafkaException):
            pass  # already closed by the test


def producer(broker, **extra) -> Producer:
    p = Producer(base_conf(broker, **extra))
    _OPEN.append(p)
    return p


def consumer(broker, **extra) -> Consumer:
    """A consumer for assign() only: a group.id is mandatory in confluent-kafka, but no group
    protocol is used (no subscribe, no commits, offsets given explicitly)."""
    conf = {
        "group.id": unique_topic("g"),
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "error",
        "check.crcs": True,
    }
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    c = Consumer(base_conf(broker, **conf))
    _OPEN.append(c)
    return c


def admin(broker, **extra) -> AdminClient:
    # kept referenced until the test ends: an AdminClient destroyed while a request is in flight
    # fails its futures with _DESTROY, so `admin(b).create_topics(...)` needs the registry
    a = AdminClient(base_conf(broker, **extra))
    _OPEN.append(a)
    return a


def wait_futures(futures: dict, timeout: float = CLIENT_TIMEOUT_S) -> dict:
    """{key: future} -> {key: result}; raises the first KafkaException."""
    return {k: f.result(timeout=timeout) for k, f in futures.items()}


def future_error(fut, timeout: float = CLIENT_TIMEOUT_S) -> KafkaError | None:
    """The KafkaError a future failed with, or None if it succeeded."""
    try:
        fut.result(timeout=timeout)
    except KafkaException as e:
        return e.args[0]
    return None


def create_topic(broker, name: str, partitions: int = 1, config: dict | None = None) -> None:
    a = admin(broker)
    wait_futures(a.create_topics([NewTopic(name, partitions, 1, config=config or {})], operation_timeout=20))


def topic_partitions(broker, name: str) -> dict | None:
    """partition id -> PartitionMetadata, or None when the broker does not list the topic."""
    md = admin(broker).list_topics(timeout=CLIENT_TIMEOUT_S)
    t = md.topics.get(name)
    if t is None or t.error is not None:
        return None
    return dict(t.partitions)


# ---------------------------------------------------------------------- produce
@dataclasses.dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple = ()
    timestamp: int | None = None

    @classmethod
    def from_msg(cls, m) -> "Rec":
        ts_type, ts = m.timestamp()
        return cls(m.partition(), m.offset(), m.key(), m.value(), tuple(m.headers() or ()), ts if ts_type else None)

    def content(self) -> tuple:
        """What a producer controls: key, value, headers, timestamp (not partition/offset)."""
        return (self.key, self.value, self.headers, self.timestamp)


def produce_all(p: Producer, topic: str, records: list[dict], flush_s: float = CLIENT_TIMEOUT_S) -> list[Rec]:
    """Produce records (dicts of produce() kwargs) and return their delivery reports in produce
    order. Fails on any delivery error."""
    reports: list = [None] * len(records)
    errors = []

    def cb(i):
        def on_delivery(err, msg):
            if err is not None:
                errors.append((i, err))
            else:
                reports[i] = msg
        return on_delivery

    for i, r in enumerate(records):
        while True:
            try:
                p.produce(topic, on_delivery=cb(i), **r)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(flush_s)
    assert left == 0, f"{left} messages still undelivered after {flush_s}s"
    assert not errors, f"delivery errors: {errors[:5]}"
    out = []
    for i, m in enumerate(reports):
        h = records[i].get("headers")
        ts = records[i].get("timestamp")
        out.append(Rec(m.partition(), m.offset(), m.key(), m.value(), tuple(h or ()), ts))
    return out


def produce_one_error(p: Producer, topic: str, flush_s: float = CLIENT_TIMEOUT_S, **kwargs) -> KafkaError | None:
    """Produce one record and return its delivery error (None on success)."""
    result = []
    p.produce(topic, on_delivery=lambda err, msg: result.append(err), **kwargs)
    left = p.flush(flush_s)
    assert left == 0 and result, f"no delivery report within {flush_s}s"
    return result[0]


# ---------------------------------------------------------------------- consume
def consume(broker, topic: str, starts: dict[int, int], ends: dict[int, int], timeout: float = CLIENT_TIMEOUT_S,
            **conf) -> dict[int, list[Rec]]:
    """Assign partitions at the given start offsets (absolute or OFFSET_BEGINNING/END) and read
    until each partition's next offset reaches `ends[p]` (exclusive). Any consumer error fails."""
    c = consumer(broker, **conf)
    got: dict[int, list[Rec]] = {p: [] for p in starts}
    try:
        c.assign([TopicPartition(topic, p, off) for p, off in starts.items()])
        # nothing to wait for when the range is empty (a start past the end may be reset, so wait)
        pending = {p for p in starts if ends[p] > 0 and ends[p] != starts[p]}
        deadline = time.monotonic() + timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                counts = {p: (len(v), v[-1].offset if v else None) for p, v in got.items()}
                raise AssertionError(f"timed out reading {topic}: (count, last offset) {counts}, wanted ends {ends}")
            for m in c.consume(num_messages=1000, timeout=min(left, 1.0)):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(m.error())
                r = Rec.from_msg(m)
                lst = got[r.partition]
                assert not lst or r.offset > lst[-1].offset, f"offset went backwards: {lst[-1].offset} -> {r.offset}"
                lst.append(r)
                if r.offset + 1 >= ends[r.partition]:
                    pending.discard(r.partition)
        return got
    finally:
        c.close()


def watermarks(broker, topic: str, partition: int, **conf) -> tuple[int, int]:
    c = consumer(broker, **conf)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=CLIENT_TIMEOUT_S, cached=False)
    finally:
        c.close()


def consume_all(broker, topic: str, partitions: list[int], **conf) -> dict[int, list[Rec]]:
    """Everything between each partition's low and high watermark."""
    marks = {p: watermarks(broker, topic, p, **conf) for p in partitions}
    return consume(broker, topic, {p: lo for p, (lo, _) in marks.items()}, {p: hi for p, (_, hi) in marks.items()}, **conf)


def assert_broker_serves(broker) -> None:
    """A brand-new client can create a topic by producing, and read its record back."""
    t = unique_topic("alive")
    p = producer(broker, acks="all")
    recs = produce_all(p, t, [{"key": b"k", "value": b"still alive", "partition": 0}])
    got = consume(broker, t, {0: recs[0].offset}, {0: recs[0].offset + 1})
    assert [r.value for r in got[0]] == [b"still alive"]


# ---------------------------------------------------------------------- kcat
def kcat_bin() -> str:
    path = shutil.which("kcat") or shutil.which("kafkacat")
    assert path, "kcat is not installed (.ci/run install does it)"
    return path


def kcat(broker, *args: str, input: bytes | None = None, timeout: float = CLIENT_TIMEOUT_S,
         check: bool = True) -> subprocess.CompletedProcess:
    cmd = [kcat_bin(), "-b", broker.bootstrap, "-X", "broker.address.family=v4", *args]
    cp = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)
    if check and cp.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {cp.returncode}\nstdout: {cp.stdout[-2000:]!r}\n"
                             f"stderr: {cp.stderr[-2000:]!r}")
    return cp


def kcat_json_lines(cp: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(ln) for ln in cp.stdout.decode().splitlines() if ln.strip()]


def login_refused(conf: dict):
    """The error a client with `conf` (confluent-kafka's settings, as given) reports when
    its login is refused: librdkafka reports it through its error callback, served by polls
    (which also serve an OAUTHBEARER token callback) until it comes."""
    errors: list = []
    a = AdminClient({**conf, "error_cb": errors.append})
    deadline = time.monotonic() + CLIENT_TIMEOUT_S
    while True:
        refused = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
        if refused:
            return refused[0]
        assert time.monotonic() < deadline, f"no authentication error within {CLIENT_TIMEOUT_S} s: {errors}"
        a.poll(0.1)
