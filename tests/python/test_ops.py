"""The files in ops/ work as written: the sample configs start a broker, the systemd unit
passes systemd's own check, and the alert rules pass promtool and read a live broker's
metrics in a real Prometheus."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import time

import pytest
from confluent_kafka import TopicPartition
from kafka import KafkaConsumer, KafkaProducer

import clients
import prom
from conftest import Broker, free_ports, shoal_bin

OPS = pathlib.Path(__file__).resolve().parents[2] / "ops"


@pytest.mark.parametrize("sample", ["server.properties", "shoal.toml"])
def test_the_sample_configs_start_a_broker(tmp_path, cores, sample):
    """Each sample starts a broker as written, but for its addresses and data directory,
    which a test cannot use, and prints no notice: every key in it means something."""
    b = Broker(shoal_bin(), tmp_path, "b", cores, {"listeners": "PLAINTEXT://127.0.0.1:0"})
    b.config_file = OPS / sample
    try:
        b.start()
        topic = clients.unique_topic("sample")
        p = KafkaProducer(bootstrap_servers=b.bootstrap, enable_idempotence=False)
        try:
            p.send(topic, value=b"x").get(timeout=30)
        finally:
            p.close(10)
        c = KafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id=clients.unique_topic("g"),
                          auto_offset_reset="earliest", consumer_timeout_ms=10_000)
        try:
            assert next(iter(c)).value == b"x"
        finally:
            c.close()
        b.stop()
        assert "has no effect" not in b.log_text() and "is not opened" not in b.log_text()
    finally:
        b.close()


def test_the_systemd_unit_passes_systemd_analyze(tmp_path):
    """`systemd-analyze verify` warns about every unknown or misspelt directive; the unit,
    pointed at the binary under test, must get no warning at all."""
    unit = (OPS / "shoal.service").read_text()
    assert "Type=notify" in unit and "ExecStart=/usr/local/bin/shoal serve" in unit
    copy = tmp_path / "shoal.service"
    copy.write_text(unit.replace("/usr/local/bin/shoal", str(shoal_bin())))
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: .ci/run installs the systemd package"
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    # The unit's user exists only where the unit is installed.
    warnings = [line for line in done.stderr.splitlines() if "shoal" not in line or "User" not in line]
    assert done.returncode == 0 and warnings == [], done.stderr


def poll(what: str, condition, timeout: float = 60.0):
    """`condition()`'s first truthy value, asked every 0.2 s until `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s")


METRIC_NAME = re.compile(r"\b(?:kafka|shoal|process)_[a-z_]+\b|\bup\b")


@pytest.mark.timeout(180)
def test_the_alert_rules_pass_promtool_and_read_a_live_brokers_metrics(start_broker, tmp_path):
    """promtool accepts ops/alerts.yml; loaded into a real Prometheus scraping a broker, every
    rule evaluates without error and every family it reads has series; a topic whose
    min.insync.replicas exceeds its one replica raises KafkaUnderMinIsrPartitions, and a
    stopped broker KafkaBrokerDown's expression."""
    rules_file = OPS / "alerts.yml"
    checked = subprocess.run(["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True,
                             timeout=60)
    assert checked.returncode == 0 and "SUCCESS: 13 rules found" in checked.stdout, checked.stdout + checked.stderr

    b = start_broker()
    strict, plain = clients.unique_topic("alerts-strict"), clients.unique_topic("alerts-plain")
    clients.create_topic(b, strict, 1, {"min.insync.replicas": "2"})
    clients.create_topic(b, plain, 2)
    clients.produce_all(clients.producer(b, acks="1"), plain,
                        [{"value": b"v%d" % i, "partition": i % 2} for i in range(10)])
    c = clients.consumer(b, **{"group.id": clients.unique_topic("alerts-group")})
    c.commit(offsets=[TopicPartition(plain, 0, 1), TopicPartition(plain, 1, 1)], asynchronous=False)
    m = re.search(r"shoal metrics: listening on (\S+)", b.log_text())
    assert m, "the broker printed no metrics address"
    prometheus = prom.Prometheus(tmp_path, [m.group(1)], rule_files=[rules_file])
    try:
        def evaluated():
            rules = prometheus.rules()
            return rules if all(r["health"] != "unknown" for r in rules) else None

        rules = poll("every rule evaluated", evaluated)
        assert len(rules) == 13
        poll("lag scraped", lambda: prometheus.query("kafka_consumergroup_lag_sum"))
        for rule in rules:
            assert rule["health"] == "ok", rule
            for name in set(METRIC_NAME.findall(rule["query"])):
                assert prometheus.query(f"count({name})"), f"{rule['name']} reads {name}, which has no series"
        by_name = {r["name"]: r["query"] for r in rules}
        firing = prometheus.query(by_name["KafkaUnderMinIsrPartitions"])
        assert [s["value"][1] for s in firing] == ["1"], firing
        # (Disk space and lag depend on the machine and the thresholds; the families they read
        # have series, checked above.)
        for quiet in ["KafkaBrokerDown", "KafkaNoActiveController", "KafkaMetadataQuorumNoLeader",
                      "KafkaOfflinePartitions", "KafkaOfflineLogDirectory",
                      "KafkaUnderReplicatedPartitions", "KafkaUncleanLeaderElection"]:
            assert prometheus.query(by_name[quiet]) == [], quiet
        b.stop()
        down = poll("KafkaBrokerDown's expression after the stop",
                    lambda: prometheus.query(by_name["KafkaBrokerDown"]))
        assert down[0]["metric"]["job"] == "shoal", down
    finally:
        prometheus.close()


def test_the_cluster_script_runs_three_nodes_that_elect_and_fail_over(tmp_path):
    """ops/cluster.sh as its header shows it: start 3, status, kill a node, restart it,
    stop. Every node it started is gone afterwards."""
    env = dict(os.environ)
    env.update({
        "CLUSTER_DIR": str(tmp_path / "cluster"),
        "CLUSTER_BIN": str(shoal_bin()),
        "CLUSTER_CLIENT_PORT": str(free_ports(3, consecutive=True)[0]),
        "CLUSTER_CONTROLLER_PORT": str(free_ports(3, consecutive=True)[0]),
        "CLUSTER_METRICS_PORT": str(free_ports(3, consecutive=True)[0]),
    })

    def script(*args: str) -> str:
        cp = subprocess.run([str(OPS / "cluster.sh"), *args], env=env, capture_output=True, text=True,
                            timeout=120)
        assert cp.returncode == 0, f"cluster.sh {' '.join(args)}: {cp.stdout}{cp.stderr}"
        return cp.stdout

    pids = tmp_path / "cluster"
    try:
        started = script("start", "3")
        assert re.search(r"^quorum: node [123] leads$", started, re.M), started
        status = script("status")
        assert len(re.findall(r"^node \d: running", status, re.M)) == 3, status
        voters = re.search(r"^CurrentVoters: +(.*)$", status, re.M).group(1)
        assert [v["id"] for v in json.loads(voters)] == [1, 2, 3], status
        assert script("kill", "2") == "node 2: stopped (KILL)\n"
        assert "node 2: stopped" in script("status")
        assert script("restart", "2").startswith("node 2: ready on 127.0.0.1:")
        assert len(re.findall(r"^node \d: running", script("status"), re.M)) == 3
        stopped = script("stop")
        assert stopped.count("stopped (TERM)") == 3, stopped
    finally:
        for pid_file in pids.glob("node-*.pid"):
            pid = int(pid_file.read_text())
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    for i in (1, 2, 3):
        log = (pids / f"node-{i}.log").read_text()
        assert "panicked" not in log, log
