"""The files in ops/ work as written: the sample configs start a broker, and the systemd
unit passes systemd's own check."""

import pathlib
import shutil
import subprocess

import pytest
from kafka import KafkaConsumer, KafkaProducer

import clients
from conftest import Broker, shoal_bin

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
