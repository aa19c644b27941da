#!/usr/bin/env python3
"""What client quotas cost on the request path: produce and fetch against brokers started
side by side, in interleaved rounds so the machine's drift hits each alike.

    SHOAL_BIN=target/release/shoal .venv/bin/python bench/quota_cost.py --rounds 3 \\
        --baseline /path/to/an/older/release/shoal

- `none`: SHOAL_BIN with no quota set (what every broker without quotas pays: a look at
  the snapshot per request);
- `quota`: SHOAL_BIN with quotas that apply to the client but never throttle it (byte
  rates and a request percentage far above what it uses), so every request is counted
  on the broker's sensors and timed on its shard;
- `baseline` (with --baseline): another binary, with no quota set.

Each run is tls_cost.py's: --megabytes of 4 KiB records produced with confluent-kafka to a
fresh one-partition topic, then fetched back, with the broker's CPU seconds per GB of each
phase. Prints each run, the medians, and the ratios to `none`.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from tls_cost import ROOT, Broker, interleaved, print_ratios  # noqa: E402

from kafka.protocol.admin import AlterClientQuotasRequest, AlterClientQuotasResponse  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "python"))
import kafka_wire as kw  # noqa: E402

# Far above anything one client on this machine reaches.
NEVER = {"producer_byte_rate": 1e15, "consumer_byte_rate": 1e15, "request_percentage": 1e9}


def set_default_quotas(broker: Broker) -> None:
    """The quotas NEVER for every client id, through AlterClientQuotas."""
    A = AlterClientQuotasRequest
    entry = A.EntryData(entity=[A.EntryData.EntityData(entity_type="client-id", entity_name=None)],
                        ops=[A.EntryData.OpData(key=k, value=v, remove=False) for k, v in NEVER.items()])
    request = A(entries=[entry], validate_only=False)
    request.with_header(correlation_id=1, client_id="quota-cost")
    with kw.Conn(broker.bootstrap) as c:
        c.send_raw(request.encode(version=1, header=True, framed=True))
        answer = AlterClientQuotasResponse.decode(c.recv_frame(), version=1, header=True)
    assert answer.entries[0].error_code == 0, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--baseline", help="another shoal binary to measure without quotas")
    args = parser.parse_args()
    binary = os.environ.get("SHOAL_BIN", str(ROOT / "target" / "release" / "shoal"))
    settings = {"listeners": "PLAINTEXT://127.0.0.1:0"}
    with tempfile.TemporaryDirectory(prefix="shoal-quota-cost-") as d:
        folder = pathlib.Path(d)
        brokers = {"none": Broker(binary, folder, "none", settings),
                   "quota": Broker(binary, folder, "quota", settings)}
        if args.baseline:
            brokers["baseline"] = Broker(args.baseline, folder, "baseline", settings)
        try:
            set_default_quotas(brokers["quota"])
            confs = {name: (b, {"bootstrap.servers": b.bootstrap}) for name, b in brokers.items()}
            medians = interleaved(confs, args.rounds, args.megabytes)
            for name in medians:
                if name != "none":
                    print_ratios(medians, name, "none")
        finally:
            for broker in brokers.values():
                broker.stop()


if __name__ == "__main__":
    main()
