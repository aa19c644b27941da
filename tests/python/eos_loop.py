"""A consume-transform-produce loop, run as its own process by test_transactions.py so the test
can kill -9 it: reads the input topic (read_committed) from the group's committed offsets,
writes each record's result ("out-" + value) to the output topic and commits the input offsets
in the same transaction, a few records at a time. Before each commit it prints "sent N" (the
results written and the offsets sent, nothing committed) and waits for a line on stdin, so the
test decides what happens mid-transaction; after it prints "committed N". It exits 0 once the
group's offsets reach the input's end.

usage: eos_loop.py BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID PARTITIONS END0,END1,...
"""

import sys

from confluent_kafka import Consumer, Producer, TopicPartition

TIMEOUT_S = 30


def main() -> int:
    bootstrap, source, sink, group, tid, partitions, ends = sys.argv[1:8]
    partitions = int(partitions)
    ends = [int(e) for e in ends.split(",")]
    # With its one broker gone for a moment, librdkafka 2.16's re-bootstrap (the default
    # metadata.recovery.strategy) decommissions it, and a TxnOffsetCommit queued for the
    # group's coordinator then waits on the old handle forever: so no re-bootstrap.
    common = {"bootstrap.servers": bootstrap, "broker.address.family": "v4",
              "metadata.recovery.strategy": "none"}
    c = Consumer({**common, "group.id": group, "isolation.level": "read_committed",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    p = Producer({**common, "transactional.id": tid, "linger.ms": 1})
    p.init_transactions(TIMEOUT_S)  # fences whatever transaction a killed run left open
    tps = [TopicPartition(source, q) for q in range(partitions)]
    committed = c.committed(tps, timeout=TIMEOUT_S)
    c.assign([TopicPartition(source, tp.partition, max(tp.offset, 0)) for tp in committed])
    positions = {tp.partition: max(tp.offset, 0) for tp in committed}
    done = 0
    while any(positions[q] < ends[q] for q in range(partitions)):
        batch = [m for m in c.consume(7, timeout=1) if not m.error()]
        if not batch:
            continue
        p.begin_transaction()
        for m in batch:
            p.produce(sink, key=m.key(), value=b"out-" + m.value(), partition=m.partition())
            positions[m.partition()] = m.offset() + 1
        offsets = [TopicPartition(source, q, off) for q, off in positions.items()]
        p.send_offsets_to_transaction(offsets, c.consumer_group_metadata(), TIMEOUT_S)
        # The results are in the log, uncommitted: a kill now leaves them to be aborted.
        p.flush(TIMEOUT_S)
        print(f"sent {done + len(batch)}", flush=True)
        if not sys.stdin.readline():
            return 1
        p.commit_transaction(TIMEOUT_S)
        done += len(batch)
        print(f"committed {done}", flush=True)
    c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
