"""Fixtures that run the real `shoal` binary as a subprocess (see tests/README.md).

The broker is started exactly as docs/CONTRACT.md says: `shoal serve --override k=v ...` with
`listeners=PLAINTEXT://127.0.0.1:0`, and is ready when it prints
`shoal ready: listening on 127.0.0.1:PORT`. Nothing here sleeps to wait for the broker: we wait
on that line, on a process exit, or on a client call with a timeout.

Environment:
  SHOAL_BIN            the binary (default: target/debug/shoal)
  SHOAL_TEST_CORES     comma-separated `cores` values to run the client tests with (default 1,2)
  SHOAL_TEST_SEED      replay a randomised test with this seed (each prints the seed it used)
  SHOAL_START_TIMEOUT  seconds to wait for the ready line (default 60)
  SHOAL_TEST_BROKER_LOG  the brokers' SHOAL_LOG (log filter), e.g. info,shoal::replication=debug
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pathlib
import queue
import random
import re
import resource
import signal
import socket
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
READY_RE = re.compile(r"^shoal ready: listening on (\d+\.\d+\.\d+\.\d+):(\d+)$")
START_TIMEOUT_S = float(os.environ.get("SHOAL_START_TIMEOUT", "60"))
STOP_TIMEOUT_S = 30.0
LOG_TAIL_LINES = 120

_BROKERS = pytest.StashKey[list]()
_LIVE: set = set()  # every Broker with a process, for the at-exit backstop
_SEED = pytest.StashKey[int]()
_EOF = object()


def shoal_bin() -> pathlib.Path:
    return pathlib.Path(os.environ.get("SHOAL_BIN", ROOT / "target" / "debug" / "shoal")).resolve()


def free_ports(count: int, consecutive: bool = False) -> list[int]:
    """Free ports below the kernel's ephemeral range, for addresses a test must name
    before any process starts (a quorum's voters). A port taken from the ephemeral range
    could meanwhile become some connection's local port, the nodes' own among them."""
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    rng = random.Random()
    while True:
        if consecutive:
            first = rng.randrange(max(1024, low - 10_000), low - count)
            ports = list(range(first, first + count))
        else:
            ports = rng.sample(range(max(1024, low - 10_000), low), count)
        if all(_bindable(p) for p in ports):
            return ports


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class BrokerError(AssertionError):
    pass


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL if the test process dies without tearing down."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@atexit.register
def _kill_leftovers() -> None:
    for b in list(_LIVE):
        b.close()


class Broker:
    """One `shoal serve` process (and its restarts), with its own log dir and log file."""

    def __init__(self, binary: pathlib.Path, work_dir: pathlib.Path, name: str, cores: int, overrides: dict):
        self.binary = binary
        self.work_dir = work_dir
        self.name = name
        self.cores = cores
        self.overrides = {str(k): str(v) for k, v in overrides.items()}
        self.log_dir = work_dir / f"{name}-data"
        self.log_path = work_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.starts = 0
        self.expect_exit = False  # set by stop()/kill9(): any other exit is a crash
        self.env: dict[str, str] = {}  # extra environment for the process (FAILPOINTS, ...)
        self.limits: dict[int, tuple[int, int]] = {}  # resource.RLIMIT_* -> (soft, hard) for the process
        self.wrapper: list[str] = []  # a command the broker runs under (nsenter into a test's mount namespace)
        self.config_file: pathlib.Path | None = None  # passed as --config (the overrides still win)
        self.stdout_lines: list[str] = []  # this start's stdout
        self._err_lines: queue.Queue = queue.Queue()  # this start's stderr, for wait_for_stderr
        self._ready: queue.Queue = queue.Queue()
        self._log_lock = threading.Lock()
        self._log_file = open(self.log_path, "a", encoding="utf-8", buffering=1)
        self._pumps: list[threading.Thread] = []

    # ------------------------------------------------------------------ properties
    @property
    def bootstrap(self) -> str:
        assert self.port is not None, "broker not started"
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def argv(self) -> list[str]:
        cmd = [*self.wrapper, str(self.binary)]
        settings = {
            "listeners": "PLAINTEXT://127.0.0.1:0",
            "log.dirs": str(self.log_dir),
            "cores": str(self.cores),
            # the Prometheus exporter's fixed default port would collide between brokers
            "metrics.port": "0",
            **self.overrides,
        }
        cmd.append("serve")
        if self.config_file is not None:
            cmd += ["--config", str(self.config_file)]
        for k, v in settings.items():
            cmd += ["--override", f"{k}={v}"]
        return cmd

    # ------------------------------------------------------------------ log
    def log(self, line: str) -> None:
        with self._log_lock:
            if not self._log_file.closed:
                self._log_file.write(line if line.endswith("\n") else line + "\n")

    def _pump(self, stream, tag: str, ready: queue.Queue) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log(f"[{tag}] {line}")
            ready.put(line)
        stream.close()
        ready.put(_EOF)

    def log_text(self) -> str:
        with self._log_lock:
            if not self._log_file.closed:
                self._log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = START_TIMEOUT_S) -> "Broker":
        self.launch()
        return self.wait_ready(timeout)

    def launch(self) -> "Broker":
        """Starts the process without waiting for its ready line (see wait_ready)."""
        assert not self.running, "already running"
        self.starts += 1
        self.expect_exit = False
        argv = self.argv()
        self.log(f"==== start #{self.starts}: {' '.join(argv)}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOAL_") and k != "FAILPOINTS"}
        env.setdefault("RUST_BACKTRACE", "1")
        env.update(self.env)
        if os.environ.get("SHOAL_TEST_BROKER_LOG"):
            env["SHOAL_LOG"] = os.environ["SHOAL_TEST_BROKER_LOG"]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=self.work_dir, env=env, preexec_fn=self._preexec,
        )
        _LIVE.add(self)
        self.log(f"==== pid {self.proc.pid}")
        self.stdout_lines = []
        self._ready, self._err_lines = queue.Queue(), queue.Queue()
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, "out", self._ready), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, "err", self._err_lines), daemon=True),
        ]
        for t in self._pumps:
            t.start()
        return self

    def _preexec(self) -> None:
        _die_with_parent()
        for which, limit in self.limits.items():
            resource.setrlimit(which, limit)

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> "Broker":
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                item = self._ready.get(timeout=max(left, 0.001))
            except queue.Empty:
                self.kill9()
                raise BrokerError(f"{self.name}: no ready line within {timeout}s\n{self.log_tail(40)}")
            if item is _EOF:
                rc = self._reap(10)
                raise BrokerError(f"{self.name}: exited with code {rc} before its ready line\n{self.log_tail(40)}")
            self.stdout_lines.append(item)
            m = READY_RE.match(item)
            if m:
                self.host, self.port = m.group(1), int(m.group(2))
                return self

    def wait_for_stderr(self, pattern: str, timeout: float = START_TIMEOUT_S) -> str:
        """The first line of this start's stderr that matches `pattern` (a regex)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                item = self._err_lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise BrokerError(f"{self.name}: no stderr line like {pattern!r} within {timeout}s\n{self.log_tail(40)}")
            if item is _EOF:
                raise BrokerError(f"{self.name}: stderr closed before a line like {pattern!r}\n{self.log_tail(40)}")
            if re.search(pattern, item):
                return item

    def stdout_after_exit(self) -> list[str]:
        """Every stdout line of this start, once the process has exited."""
        assert not self.running, f"{self.name} is still running"
        while True:
            item = self._ready.get(timeout=10)
            if item is _EOF:
                return self.stdout_lines
            self.stdout_lines.append(item)

    def _reap(self, timeout: float) -> int:
        assert self.proc is not None
        rc = self.proc.wait(timeout=timeout)
        for t in self._pumps:
            t.join(timeout=5)
        self.log(f"==== pid {self.proc.pid} exited with code {rc}")
        return rc

    def send_signal(self, sig: int) -> None:
        assert self.running, f"{self.name} is not running"
        os.kill(self.proc.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S, expect_rc: int | None = 0) -> int:
        """Signal the broker and wait for it to exit; asserts its exit code (0 by default)."""
        self.log(f"==== stop with signal {signal.Signals(sig).name}")
        self.send_signal(sig)
        self.expect_exit = True
        try:
            rc = self._reap(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise BrokerError(f"{self.name}: still running {timeout}s after {signal.Signals(sig).name}\n{self.log_tail(40)}")
        if expect_rc is not None and rc != expect_rc:
            raise BrokerError(f"{self.name}: exit code {rc} after {signal.Signals(sig).name}, expected {expect_rc}\n{self.log_tail(40)}")
        return rc

    def kill9(self) -> None:
        self.expect_exit = True
        if self.running:
            self.log("==== kill -9")
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self._reap(30)

    def restart(self, **start_kwargs) -> "Broker":
        """Graceful stop if running (asserting exit 0), then start on the same log dir."""
        if self.running:
            self.stop()
        return self.start(**start_kwargs)

    def close(self) -> None:
        if self.running:
            self.kill9()
        _LIVE.discard(self)
        with self._log_lock:
            self._log_file.close()


# ---------------------------------------------------------------------- fixtures
def pytest_configure(config) -> None:
    # SIGTERM (CI's timeout, a developer's kill) unwinds like Ctrl-C, so fixtures stop their brokers
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)


def _cores_params() -> list[int]:
    return [int(c) for c in os.environ.get("SHOAL_TEST_CORES", "1,2").split(",") if c.strip()]


@pytest.fixture(params=_cores_params(), ids=lambda c: f"cores{c}")
def cores(request) -> int:
    return request.param


def pytest_collection_modifyitems(config, items):
    """A module's `SHOAL_CORES = [n, ...]` keeps only its tests' runs with those `cores`
    values (as `on_cores` does for one test); the other runs are deselected, not run."""
    kept, dropped = [], []
    for item in items:
        only = getattr(item.module, "SHOAL_CORES", None)
        cores = getattr(item, "callspec", None) and item.callspec.params.get("cores")
        (dropped if only and cores is not None and cores not in only else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def on_cores(n: int):
    """Runs a test with `cores=n` only, not once per SHOAL_TEST_CORES value: for a test whose
    subject does not depend on the shard count, or shows only with several shards, where a
    second run costs CI time and proves nothing more."""
    return pytest.mark.parametrize("cores", [n], indirect=True, ids=[f"cores{n}"])


@pytest.fixture
def start_broker(request, tmp_path, cores):
    """Factory: start_broker({"num.partitions": 3}) -> a running Broker (`wrapper=[...]`: a
    command it runs under).

    At teardown every broker still running gets SIGTERM and must exit 0 within 30 s (a broker
    that cannot shut down cleanly after serving a test is a bug); any that does not, and every
    broker whatever happened, is killed by its PID. A broker log with a Rust panic fails the test.
    """
    binary = shoal_bin()
    if not binary.exists():
        pytest.fail(f"SHOAL_BIN={binary} does not exist (cargo build first)")
    brokers: list[Broker] = []
    request.node.stash[_BROKERS] = brokers

    def start(overrides: dict | None = None, wrapper: list[str] | None = None, env: dict | None = None,
              **kwargs) -> Broker:
        b = Broker(binary, tmp_path, f"broker{len(brokers)}", cores, overrides or {})
        b.wrapper = wrapper or []
        b.env.update(env or {})
        brokers.append(b)
        return b.start(**kwargs)

    yield start

    import clients  # closes the test's Kafka clients before their broker goes away

    clients.close_all()
    problems = []
    for b in brokers:
        if b.proc is not None and not b.running and not b.expect_exit:
            problems.append(f"{b.name} died during the test with exit code {b.proc.returncode}:\n{b.log_tail(30)}")
        try:
            if b.running:
                b.stop()
        except BrokerError as e:
            problems.append(str(e))
        finally:
            b.close()
        text = b.log_text()
        if "panicked at" in text:
            problems.append(f"{b.name} panicked (see {b.log_path}):\n" + "\n".join(
                ln for ln in text.splitlines() if "panicked" in ln or "[err]" in ln)[-3000:])
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def broker(start_broker) -> Broker:
    """A broker with the embedded default config (plus the test listeners/log dir/cores)."""
    return start_broker()


@pytest.fixture
def seed(request) -> int:
    """A seed for a randomised test: printed, reported on failure, replayable via SHOAL_TEST_SEED."""
    s = int(os.environ.get("SHOAL_TEST_SEED") or random.SystemRandom().randrange(1 << 32))
    request.node.stash[_SEED] = s
    print(f"seed={s} (replay: SHOAL_TEST_SEED={s})")
    return s


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.failed:
        if _SEED in item.stash:
            s = item.stash[_SEED]
            rep.sections.append(("seed", f"replay with SHOAL_TEST_SEED={s}"))
        for b in item.stash.get(_BROKERS, []):
            try:
                rep.sections.append((f"{b.name} log tail ({b.log_path})", b.log_tail()))
            except OSError as e:
                rep.sections.append((f"{b.name} log", f"unreadable: {e}"))
    return rep
