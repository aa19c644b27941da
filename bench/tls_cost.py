#!/usr/bin/env python3
"""What TLS and SASL cost: produce and fetch through a SASL_SSL listener (SCRAM-SHA-512)
against a PLAINTEXT one, on two brokers started side by side, in interleaved pairs so the
machine's drift hits both alike; then the rate of new TLS + SCRAM logins.

    SHOAL_BIN=target/release/shoal .venv/bin/python bench/tls_cost.py --pairs 3 --megabytes 512

Each run produces --megabytes of 4 KiB records with confluent-kafka (librdkafka: acks=1,
lz4 off, 1 MiB batches) to a fresh one-partition topic, then fetches them all back. The
broker's CPU seconds over each phase (from /proc/PID/stat) are divided by the bytes moved.
Prints per run and as medians: MB/s and broker CPU seconds per GB for produce and fetch,
and the SASL_SSL / PLAINTEXT ratios. The login rate is measured with a small client here
(TLS handshake, ApiVersions, SaslHandshake, two SaslAuthenticate rounds): logins per
second, and broker CPU milliseconds per login. Certificates are made with openssl.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import pathlib
import re
import socket
import ssl
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from pki import Pki  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion  # noqa: E402

PASSWORD = "bench-secret"
RECORD = 4096


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Broker:
    def __init__(self, binary: str, folder: pathlib.Path, name: str, settings: dict):
        argv = [binary, "serve", "--override", f"log.dirs={folder / name}", "--override", "metrics.port=0"]
        for key, value in settings.items():
            argv += ["--override", f"{key}={value}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_")}
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        for line in self.proc.stdout:
            m = re.match(r"shoal ready: listening on (\S+)", line)
            if m:
                self.bootstrap = m.group(1)
                break
        else:
            raise SystemExit(f"{name} did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def run(broker: Broker, conf: dict, megabytes: int, n: int) -> dict:
    topic = f"tls-cost-{n}-{time.monotonic_ns()}"
    a = AdminClient(conf)
    a.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    count = megabytes * 1024 * 1024 // RECORD
    value = os.urandom(RECORD)
    p = Producer({**conf, "acks": 1, "linger.ms": 5, "batch.size": 1 << 20, "queue.buffering.max.kbytes": 1 << 20})
    start_cpu, start = cpu_seconds(broker.proc.pid), time.monotonic()
    for _ in range(count):
        while True:
            try:
                p.produce(topic, value, partition=0)
                break
            except BufferError:
                p.poll(0.01)
    assert p.flush(120) == 0
    produce = (time.monotonic() - start, cpu_seconds(broker.proc.pid) - start_cpu)
    c = Consumer({**conf, "group.id": topic, "enable.auto.commit": False, "fetch.max.bytes": 50 << 20,
                  "max.partition.fetch.bytes": 50 << 20})
    c.assign([TopicPartition(topic, 0, 0)])
    got = 0
    start_cpu, start = cpu_seconds(broker.proc.pid), time.monotonic()
    while got < count:
        for m in c.consume(min(10000, count - got), 10):
            if m.error() is None:
                got += 1
    fetch = (time.monotonic() - start, cpu_seconds(broker.proc.pid) - start_cpu)
    c.close()
    gigabytes = count * RECORD / 1e9
    return {
        "produce_mb_s": count * RECORD / 1e6 / produce[0],
        "produce_cpu_per_gb": produce[1] / gigabytes,
        "fetch_mb_s": count * RECORD / 1e6 / fetch[0],
        "fetch_cpu_per_gb": fetch[1] / gigabytes,
    }


def interleaved(confs: dict[str, tuple[Broker, dict]], rounds: int, megabytes: int) -> dict[str, dict]:
    """`run` on each broker (name -> (broker, client settings)) `rounds` times, their order
    reversed every other round; prints each run and the medians, and answers the medians."""
    results: dict[str, list[dict]] = {name: [] for name in confs}
    for n in range(rounds):
        order = list(confs) if n % 2 == 0 else list(reversed(confs))
        for name in order:
            broker, conf = confs[name]
            r = run(broker, conf, megabytes, n)
            results[name].append(r)
            print(f"round {n} {name:9} produce {r['produce_mb_s']:7.1f} MB/s {r['produce_cpu_per_gb']:6.2f} cpu-s/GB"
                  f"   fetch {r['fetch_mb_s']:7.1f} MB/s {r['fetch_cpu_per_gb']:6.2f} cpu-s/GB", flush=True)
    medians = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in results.items()}
    for name, m in medians.items():
        print(f"median {name:9} " + "  ".join(f"{k} {v:.2f}" for k, v in m.items()))
    return medians


def print_ratios(medians: dict[str, dict], name: str, base: str) -> None:
    ratios = (f"{k} {medians[name][k] / b:.2f}x" if b else f"{k} - (no CPU tick measured)"
              for k, b in medians[base].items())
    print(f"{name} / {base}  " + "  ".join(ratios))


# ---------------------------------------------------------------- logins

def frame(api: int, version: int, corr: int, body: bytes) -> bytes:
    header = struct.pack(">hhi", api, version, corr) + struct.pack(">h", 5) + b"bench"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def answer(s: ssl.SSLSocket) -> bytes:
    def exact(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data
    return exact(struct.unpack(">i", exact(4))[0])


def scram_login(s: ssl.SSLSocket, user: str, password: str) -> None:
    """SaslHandshake v1 and SaslAuthenticate v1 with SCRAM-SHA-512 (RFC 5802)."""
    mech = b"SCRAM-SHA-512"
    s.sendall(frame(17, 1, 1, struct.pack(">h", len(mech)) + mech))
    assert struct.unpack(">h", answer(s)[4:6])[0] == 0
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user},r={nonce}"

    def authenticate(corr: int, message: str) -> str:
        raw = message.encode()
        s.sendall(frame(36, 1, corr, struct.pack(">i", len(raw)) + raw))
        body = answer(s)[4:]
        error = struct.unpack(">h", body[:2])[0]
        assert error == 0, error
        text_len = struct.unpack(">h", body[2:4])[0]
        rest = body[4 + max(text_len, 0):]
        length = struct.unpack(">i", rest[:4])[0]
        return rest[4:4 + length].decode()

    server_first = authenticate(2, "n,," + first_bare)
    fields = dict(part.split("=", 1) for part in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", "sha512").digest()
    stored = hashlib.sha512(client_key).digest()
    without_proof = f"c=biws,r={fields['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored, auth_message, "sha512").digest()
    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature))).decode()
    authenticate(3, f"{without_proof},p={proof}")


def logins(broker: Broker, ca: pathlib.Path, seconds: float) -> tuple[float, float]:
    """(logins per second, broker CPU milliseconds per login) over `seconds`, one at a time."""
    context = ssl.create_default_context(cafile=str(ca))
    host, port = broker.bootstrap.rsplit(":", 1)
    done = 0
    start_cpu, start = cpu_seconds(broker.proc.pid), time.monotonic()
    while time.monotonic() - start < seconds:
        with context.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host) as s:
            scram_login(s, "bench", PASSWORD)
        done += 1
    elapsed, cpu = time.monotonic() - start, cpu_seconds(broker.proc.pid) - start_cpu
    return done / elapsed, cpu * 1000 / done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--megabytes", type=int, default=512)
    parser.add_argument("--login-seconds", type=float, default=10.0)
    args = parser.parse_args()
    binary = os.environ.get("SHOAL_BIN", str(ROOT / "target" / "release" / "shoal"))
    with tempfile.TemporaryDirectory(prefix="shoal-tls-cost-") as d:
        folder = pathlib.Path(d)
        pki = Pki(folder / "pki")
        plain = Broker(binary, folder, "plain", {"listeners": "PLAINTEXT://127.0.0.1:0"})
        secure = Broker(binary, folder, "secure", {
            "listeners": "SASL_SSL://127.0.0.1:0",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(pki.keystore("broker")),
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
            "listener.name.sasl_ssl.plain.sasl.jaas.config":
                f'org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="{PASSWORD}";',
        })
        try:
            admin_conf = {"bootstrap.servers": secure.bootstrap, "security.protocol": "SASL_SSL",
                          "ssl.ca.location": str(pki.ca), "sasl.mechanism": "PLAIN",
                          "sasl.username": "admin", "sasl.password": PASSWORD}
            upsert = UserScramCredentialUpsertion("bench", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                                  PASSWORD.encode())
            admin = AdminClient(admin_conf)  # kept: a client destroyed mid-request fails it
            admin.alter_user_scram_credentials([upsert])["bench"].result(30)
            confs = {
                "PLAINTEXT": (plain, {"bootstrap.servers": plain.bootstrap}),
                "SASL_SSL": (secure, {**admin_conf, "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "bench"}),
            }
            medians = interleaved(confs, args.pairs, args.megabytes)
            print_ratios(medians, "SASL_SSL", "PLAINTEXT")
            rate, cpu_ms = logins(secure, pki.ca, args.login_seconds)
            print(f"TLS + SCRAM-SHA-512 logins: {rate:.0f}/s one at a time, {cpu_ms:.2f} broker CPU ms each")
        finally:
            plain.stop()
            secure.stop()


if __name__ == "__main__":
    main()
