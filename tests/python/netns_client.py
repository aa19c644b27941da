"""confluent-kafka clients for test_network_partition.py, run inside the test's client
network namespace (`ip netns exec NS python netns_client.py ...`), one JSON object per
line on stdout.

  produce BOOTSTRAP TOPIC [CONF=VALUE ...]
      An idempotent acks=all producer writing numbered records until stdin closes, then
      flushing: {"acked": [partition, offset, value]} per acknowledgement and
      {"error": "..."} per delivery error, flushed as they come.
  consume BOOTSTRAP TOPIC PARTITIONS
      Every record of the partitions, from the start to their high watermarks:
      {"record": [partition, offset, value]}.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

CONSUME_TIMEOUT_S = 60.0


def say(obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def produce(bootstrap: str, topic: str, extra: list[str]) -> None:
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5}
    conf.update(kv.split("=", 1) for kv in extra)
    p = Producer(conf)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()

    def delivered(err, msg):
        if err is not None:
            say({"error": str(err)})
        else:
            say({"acked": [msg.partition(), msg.offset(), msg.value().decode()]})

    i = 0
    while not stop.is_set():
        try:
            p.produce(topic, value=b"%08d" % i, on_delivery=delivered)
            i += 1
        except BufferError:
            p.poll(0.05)
            continue
        p.poll(0)
        if i % 100 == 0:
            time.sleep(0.01)
    p.flush(300)


def consume(bootstrap: str, topic: str, partitions: list[int]) -> None:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "netns-verifier", "enable.auto.commit": False})
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1] for p in partitions}
    c.assign([TopicPartition(topic, p, 0) for p in partitions])
    got = {p: 0 for p in partitions}
    deadline = time.monotonic() + CONSUME_TIMEOUT_S
    while any(got[p] < ends[p] for p in partitions) and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is None or msg.error() is not None:
            continue
        got[msg.partition()] = msg.offset() + 1
        say({"record": [msg.partition(), msg.offset(), msg.value().decode()]})
    c.close()


if __name__ == "__main__":
    command, bootstrap, topic, *rest = sys.argv[1:]
    if command == "produce":
        produce(bootstrap, topic, rest)
    else:
        consume(bootstrap, topic, [int(p) for p in rest[0].split(",")])
