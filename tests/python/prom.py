"""A real Prometheus for the tests (Debian's `prometheus` package), and the queries of the
Grafana dashboards in grafana/dashboards/ with their variables filled in as Grafana would.

`Prometheus` runs the binary as this test's own child process: a temporary config and data
directory, a free loopback port, SIGTERM (then SIGKILL) by its PID at the end.
"""

from __future__ import annotations

import ctypes
import json
import math
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"
START_TIMEOUT_S = 30.0
JOB = "shoal"


def _die_with_parent() -> None:
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, method: str = "GET", timeout: float = 10.0) -> tuple[int, str]:
    """(status, body) of a request; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Prometheus:
    def __init__(self, work_dir: pathlib.Path, targets: list[str], scrape_interval: str = "1s",
                 rule_files: list[pathlib.Path] | None = None):
        binary = shutil.which("prometheus")
        assert binary, "prometheus is not installed (bash .ci/run install adds Debian's package)"
        self.dir = work_dir / "prometheus"
        (self.dir / "data").mkdir(parents=True)
        config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "scrape_configs": [{"job_name": JOB, "scrape_timeout": scrape_interval,
                                "static_configs": [{"targets": targets}]}],
            "rule_files": [str(p) for p in rule_files or []],
        }
        # JSON is YAML: no YAML library needed to write the config.
        (self.dir / "prometheus.yml").write_text(json.dumps(config))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.dir / "prometheus.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.dir,
            preexec_fn=_die_with_parent,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"prometheus exited with {self.proc.returncode}:\n{self.log()}"
            try:
                if http(f"{self.url}/-/ready", timeout=2)[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.2)
        raise AssertionError(f"prometheus not ready within {START_TIMEOUT_S}s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def _api(self, path: str, params: list[tuple[str, str]]) -> dict:
        status, body = http(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}")
        reply = json.loads(body)
        assert status == 200 and reply.get("status") == "success", f"{path} {params}: {status} {body[:500]}"
        return reply["data"]

    def query(self, expr: str) -> list[dict]:
        """The instant vector (or scalar, as one series) `expr` evaluates to now."""
        data = self._api("query", [("query", expr)])
        if data["resultType"] == "vector":
            return data["result"]
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return []

    def rules(self) -> list[dict]:
        """Every loaded rule, with its health and last error."""
        return [r for g in self._api("rules", [])["groups"] for r in g["rules"]]

    def label_values(self, label: str, selector: str) -> list[str]:
        return self._api(f"label/{label}/values", [("match[]", selector)])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()


def finite(series: list[dict]) -> bool:
    """Whether any series has a number Grafana can draw (not NaN, not infinite)."""
    return any(math.isfinite(float(s["value"][1])) for s in series)


# ---------------------------------------------------------------------- dashboards
RATE_INTERVAL = "10s"  # what Grafana's $__rate_interval becomes with a 1 s scrape interval, rounded up


def dashboards() -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def variable_values(dashboard: dict) -> dict[str, str]:
    """Each variable as Grafana substitutes it with "All" selected (its allValue)."""
    values = {"__rate_interval": RATE_INTERVAL, "__interval": "1s", "__range": "5m"}
    for v in dashboard["templating"]["list"]:
        if v["type"] == "datasource":
            continue
        assert v.get("includeAll") and v.get("allValue"), f"variable {v['name']} needs an All value"
        values[v["name"]] = v["allValue"]
    return values


def substitute(text: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):
        text = text.replace("${" + name + "}", values[name]).replace("$" + name, values[name])
    # `$1` (a label_replace group) is no variable: Grafana leaves it as it is.
    assert not re.search(r"\$\{?[A-Za-z_]", text), f"unknown variable left in {text!r}"
    return text


def panel_queries(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title and refId, PromQL with variables filled) for every panel target."""
    values = variable_values(dashboard)
    out = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            out.append((f"{panel['title']} [{target['refId']}]", substitute(target["expr"], values)))
    return out


LABEL_VALUES = re.compile(r"^label_values\((.+),\s*(\w+)\)$")


def variable_queries(dashboard: dict) -> list[tuple[str, str, str]]:
    """(variable name, label, series selector) of every label_values variable."""
    values = variable_values(dashboard)
    out = []
    for v in dashboard["templating"]["list"]:
        if v["type"] != "query":
            continue
        m = LABEL_VALUES.match(v["query"]["query"])
        assert m, f"variable {v['name']}: only label_values(selector, label) queries are checked"
        out.append((v["name"], m.group(2), substitute(m.group(1), values)))
    return out
