"""kcat (librdkafka's command-line client): produce keyed lines, consume with -e / -o / -c,
metadata with -L, offsets by time with -Q, headers and every compression codec."""

import json
import time

import pytest

from clients import create_topic, kcat, kcat_json_lines, produce_all, producer, unique_topic

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def lines(cp) -> list[str]:
    return cp.stdout.decode().splitlines()


def test_kcat_produce_keyed_lines_and_consume_from_beginning(broker):
    t = unique_topic("kc")
    data = "".join(f"key{i}:value {i}\n" for i in range(50)).encode()
    kcat(broker, "-P", "-t", t, "-p", "0", "-K", ":", input=data)
    out = kcat(broker, "-C", "-t", t, "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%k=%s@%o\n")
    assert lines(out) == [f"key{i}=value {i}@{i}" for i in range(50)]


def test_kcat_offsets(broker):
    t = unique_topic("kco")
    kcat(broker, "-P", "-t", t, "-p", "0", input="".join(f"m{i}\n" for i in range(20)).encode())
    fmt = ("-q", "-e", "-f", "%o:%s\n")
    assert lines(kcat(broker, "-C", "-t", t, "-p", "0", "-o", "5", *fmt)) == [f"{i}:m{i}" for i in range(5, 20)]
    assert lines(kcat(broker, "-C", "-t", t, "-p", "0", "-o", "-3", *fmt)) == [f"{i}:m{i}" for i in range(17, 20)]
    assert lines(kcat(broker, "-C", "-t", t, "-p", "0", "-o", "beginning", "-c", "2", *fmt)) == ["0:m0", "1:m1"]
    assert lines(kcat(broker, "-C", "-t", t, "-p", "0", "-o", "end", *fmt)) == []
    assert lines(kcat(broker, "-C", "-t", t, "-p", "0", "-o", "19", *fmt)) == ["19:m19"]


def test_kcat_metadata(start_broker):
    b = start_broker({"num.partitions": 4})
    t = unique_topic("kcl")
    kcat(b, "-P", "-t", t, input=b"one\n")  # auto-created with num.partitions
    doc = json.loads(kcat(b, "-L", "-J", "-t", t).stdout)
    [topic] = doc["topics"]
    assert topic["topic"] == t and sorted(p["partition"] for p in topic["partitions"]) == [0, 1, 2, 3]
    (bid,) = [x["id"] for x in doc["brokers"]]
    assert all(p["leader"] == bid for p in topic["partitions"])
    text = kcat(b, "-L").stdout.decode()
    assert f'topic "{t}" with 4 partitions:' in text, text


def test_kcat_query_offsets_by_time(broker):
    t = unique_topic("kcq")
    create_topic(broker, t, 1)
    base = int(time.time() * 1000) - 60_000
    produce_all(producer(broker), t, [{"value": b"%d" % i, "partition": 0, "timestamp": base + 1000 * i}
                                      for i in range(10)])
    for ts, want in ((base, 0), (base + 4500, 5), (base + 9000, 9), (base + 20_000, -1)):
        out = kcat(broker, "-Q", "-t", f"{t}:0:{ts}").stdout.decode()
        assert f"{t} [0] offset {want}" in out, (ts, out)
    # kcat -J -C shows the record timestamps it was given
    recs = kcat_json_lines(kcat(broker, "-C", "-t", t, "-p", "0", "-o", "beginning", "-e", "-q", "-J"))
    assert [(r["offset"], r["ts"]) for r in recs] == [(i, base + 1000 * i) for i in range(10)]


@pytest.mark.parametrize("codec", CODECS)
def test_kcat_compression_and_headers(broker, codec):
    t = unique_topic(f"kcz-{codec}")
    data = "".join(f"k{i}|{'payload ' * (i % 7)}{i}\n" for i in range(200)).encode()
    kcat(broker, "-P", "-t", t, "-p", "0", "-K", "|", "-z", codec, "-H", "source=kcat", "-H", "codec=" + codec,
         "-X", "linger.ms=50", input=data)
    recs = kcat_json_lines(kcat(broker, "-C", "-t", t, "-p", "0", "-o", "beginning", "-e", "-q", "-J"))
    assert [(r["offset"], r["key"], r["payload"]) for r in recs] == \
        [(i, f"k{i}", f"{'payload ' * (i % 7)}{i}") for i in range(200)]
    assert all(r.get("headers") == ["source", "kcat", "codec", codec] for r in recs), recs[0]
