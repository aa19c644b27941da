"""Writes the fuzz targets' seed corpus from real clients' traffic.

Starts a broker (target/debug/shoal) that advertises a recording proxy in front of it,
runs confluent-kafka (librdkafka) and kafka-python through the proxy (admin calls,
plain, compressed, idempotent and transactional produce, a consumer group), and keeps:
- corpus/request_decode: each request frame a client sent (after its length prefix);
- corpus/batch_validate: each record batch the broker stored, as a client sent it;
- corpus/segment_recovery: the segment files, each behind the byte that picks where the
  target cuts its input in two.
Run from the repository root with the test venv: `.venv/bin/python tests/fuzz/capture_corpus.py`.
"""

import hashlib
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import threading

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import kafka_wire as kw  # noqa: E402

CORPUS = ROOT / "tests" / "fuzz" / "corpus"
FRAME_MAX = 64 << 10  # larger inputs slow the fuzzer more than they teach it


def keep(target: str, data: bytes) -> None:
    if len(data) <= FRAME_MAX:
        folder = CORPUS / target
        folder.mkdir(parents=True, exist_ok=True)
        (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def pump(source: socket.socket, sink: socket.socket, record: bool) -> None:
    pending = b""
    while chunk := source.recv(1 << 16):
        sink.sendall(chunk)
        if record:
            pending += chunk
            while len(pending) >= 4 and len(pending) >= 4 + int.from_bytes(pending[:4], "big"):
                length = int.from_bytes(pending[:4], "big")
                keep("request_decode", pending[4 : 4 + length])
                pending = pending[4 + length :]
    try:
        sink.shutdown(socket.SHUT_WR)
    except OSError:  # the other side went first
        pass


def proxy(listener: socket.socket, broker_port: int) -> None:
    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection(("127.0.0.1", broker_port))
        threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()


def traffic(bootstrap: str) -> None:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    from kafka import KafkaConsumer, KafkaProducer

    base = {"bootstrap.servers": bootstrap, "broker.address.family": "v4"}
    admin = AdminClient(base)
    topics = ["corpus-plain", "corpus-compact"]
    for f in admin.create_topics([NewTopic(topics[0], 2, 1),
                                  NewTopic(topics[1], 1, 1, config={"cleanup.policy": "compact"})]).values():
        f.result(30)
    admin.list_topics(timeout=30)
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        p = Producer({**base, "compression.type": codec, "linger.ms": 5, "enable.idempotence": codec == "zstd"})
        for i in range(50):
            p.produce(topics[i % 2], key=b"k%d" % (i % 7), value=b"%s-%d" % (codec.encode(), i) * 3,
                      headers=[("h", b"v")] if i % 5 == 0 else None)
        p.flush(30)
    tx = Producer({**base, "transactional.id": "corpus-tx"})
    tx.init_transactions(30)
    for commit in (True, False):
        tx.begin_transaction()
        tx.produce(topics[0], value=b"in a transaction")
        (tx.commit_transaction if commit else tx.abort_transaction)(30)
    c = Consumer({**base, "group.id": "corpus-group", "auto.offset.reset": "earliest"})
    c.subscribe([topics[0]])
    seen = 0
    while seen < 20:
        m = c.poll(10)
        assert m is not None, "the consumer read nothing"
        seen += m.error() is None
    c.commit(asynchronous=False)
    c.close()
    kp = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip")
    for i in range(20):
        kp.send(topics[0], key=b"kp", value=b"kafka-python %d" % i)
    kp.flush(30)
    kp.close()
    kc = KafkaConsumer(topics[0], bootstrap_servers=bootstrap, group_id="corpus-kp", auto_offset_reset="earliest",
                       consumer_timeout_ms=15000)
    assert sum(1 for _ in kc) > 0
    kc.close()


def main() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with tempfile.TemporaryDirectory() as data:
        broker = subprocess.Popen(
            [str(ROOT / "target" / "debug" / "shoal"), "serve",
             "--override", "listeners=PLAINTEXT://127.0.0.1:0",
             "--override", f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
             "--override", f"log.dirs={data}", "--override", "metrics.port=0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            for line in broker.stdout:
                if found := re.search(r"shoal ready: listening on 127\.0\.0\.1:(\d+)", line):
                    break
            threading.Thread(target=proxy, args=(listener, int(found.group(1))), daemon=True).start()
            traffic(f"127.0.0.1:{port}")
        finally:
            broker.terminate()
            broker.wait(30)
        for segment in pathlib.Path(data).glob("corpus-*/*.log"):
            raw = segment.read_bytes()
            for batch in kw.decode_batches(raw, decode_records=False):
                keep("batch_validate", batch.raw)
            keep("segment_recovery", bytes([255]) + raw[:FRAME_MAX - 1])
            keep("segment_recovery", bytes([128]) + raw[:FRAME_MAX - 1])
    for target in ("request_decode", "batch_validate", "segment_recovery"):
        print(target, len(list((CORPUS / target).iterdir())))


if __name__ == "__main__":
    main()
