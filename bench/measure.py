# ruff: noqa: S603, S607 - runs fixed local tools (wrk, pgbench, nginx, devstack)
"""`make bench`, measuring: the tools and meters every scenario uses.

CPU seconds per process tree (`CpuMeter`), the stack's peak RSS/PSS (`RssSampler`), one
scenario's figures (`Scenario`), wrk for HTTP reads (`run_wrk`), the same-run ceilings
(`Ceilings`: nginx `return 200`, the hello app direct and behind the real gateway config;
`run_pgbench`), and `python -m devstack run` -> /readyz (`time_to_ready`).
"""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg2  # noqa: E402

from devstack import free_ports, new_data_dir  # noqa: E402
from devstack.gateway import prepare_gateway  # noqa: E402
from devstack.util import free_port, http_status, port_in_use  # noqa: E402
from tools import procs  # noqa: E402

WRK_SCRIPT = REPO_ROOT / "bench" / "wrk" / "report.lua"
CONNECTIONS = 32
WRK_THREADS = 2
BUYERS = 32
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# The gateway's per-address and per-token rate limits (gateway/build.py) would cap a
# single-address load generator at a few hundred requests per second and answer the rest
# 429: the bench measures capacity, so its gateways run without them (the report says so).
NO_RATE_LIMITS = {"client_rate": None, "token_rate": None,
                  "auth_rate": "1000r/s", "auth_burst": 5000}

# ----------------------------------------------------------------------------- helpers


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


def ensure_wrk(allow_install: bool) -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if allow_install and os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found; installing it with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", "wrk"]
        if subprocess.run(cmd, env=env).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env)
            subprocess.run(cmd, env=env)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is required: apt-get install wrk (make bench installs it as root)")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS


class CpuMeter:
    """CPU seconds used per named process tree (plus our children, e.g. wrk) over a span."""

    def __init__(self, roots: dict[str, int]):
        self.roots = roots
        self.start: dict[str, float] = {}

    def _sample(self) -> dict[str, float]:
        sample = {name: cpu_seconds(procs.tree(pid)) for name, pid in self.roots.items()}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        sample["load generator"] = (children.ru_utime + children.ru_stime + own.ru_utime
                                    + own.ru_stime)
        return sample

    def __enter__(self) -> CpuMeter:
        self.start = self._sample()
        return self

    def __exit__(self, *exc) -> None:
        end = self._sample()
        self.used = {name: round(max(0.0, end[name] - self.start.get(name, 0.0)), 3)
                     for name in end}


class RssSampler:
    """Peak summed RSS of the stack's process trees, sampled in the background."""

    def __init__(self, stack, interval: float = 0.5):
        self.stack = stack
        self.interval = interval
        self.peak_total = 0
        self.peak_by_tree: dict[str, int] = {}
        self.peak_pss_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            by_tree = procs.stack_rss(self.stack)
            total = sum(by_tree.values())
            if total > self.peak_total:
                self.peak_total, self.peak_by_tree = total, by_tree
            self.peak_pss_total = max(self.peak_pss_total,
                                      sum(procs.stack_pss(self.stack).values()))
            self._stop.wait(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def mb(nbytes: int) -> float:
    return round(nbytes / 2**20, 1)


@dataclass
class Scenario:
    name: str
    kind: str  # read | pipeline | ceiling
    via: str  # gateway | direct | -
    url: str
    rps: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    errors: int = 0
    error_detail: dict = field(default_factory=dict)
    cpu_s: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @property
    def work_units(self) -> int:
        """What the CPU in `cpu_s` was spent on: requests, or for the pipeline the
        purchases (checkout, pay, notification, the relay's commit) in the window."""
        return self.requests

    @property
    def cpu_ms_per_request(self) -> dict[str, float]:
        if not self.work_units:
            return {}
        return {k: round(v * 1000 / self.work_units, 3) for k, v in self.cpu_s.items() if v}


# ----------------------------------------------------------------------------- wrk


def run_wrk(wrk: str, scenario: Scenario, duration: int, roots: dict[str, int],
            token: str | None = None) -> Scenario:
    env = dict(os.environ, BENCH_TOKEN=token or "")
    cmd = [wrk, f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--timeout", "10s",
           "-s", str(WRK_SCRIPT), scenario.url]
    with CpuMeter(roots) as meter:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True,
                             timeout=duration + 60)
    match = re.search(r"^BENCH_JSON (\{.*\})$", out.stdout, re.M)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed for {scenario.name}: {out.stdout[-800:]}"
                           f"{out.stderr[-800:]}")
    data = json.loads(match.group(1))
    scenario.requests = data["requests"]
    scenario.rps = round(data["requests"] / (data["duration_us"] / 1e6), 1)
    scenario.p50_ms = round(data["p50_us"] / 1000, 2)
    scenario.p95_ms = round(data["p95_us"] / 1000, 2)
    scenario.p99_ms = round(data["p99_us"] / 1000, 2)
    detail = {k: data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts",
                                   "non_2xx_3xx") if data[k]}
    scenario.errors = sum(detail.values())
    scenario.error_detail = detail
    scenario.cpu_s = meter.used
    log(f"{scenario.name:<40} {scenario.rps:>9.1f} req/s  p50 {scenario.p50_ms:>6.2f} ms  "
        f"p99 {scenario.p99_ms:>7.2f} ms  errors {scenario.errors}")
    return scenario


# ----------------------------------------------------------------------------- ceilings


class Ceilings:
    """nginx `return 200`, and the hello app direct and behind the real gateway config."""

    def __init__(self, nginx: str, workdir: Path):
        self.nginx = nginx
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []
        self.ports = free_ports(("nginx_return", "hello", "hello_gateway"))

    def start(self) -> None:
        self._start_nginx_return()
        self._start_hello()
        self._start_hello_gateway()

    def _spawn(self, argv: list[str], log_name: str, env: dict | None = None) -> None:
        log_file = open(self.workdir / log_name, "ab")  # closed when the child exits
        self.processes.append(subprocess.Popen(
            argv, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True))

    def _start_nginx_return(self) -> None:
        root = self.workdir / "nginx-return"
        root.mkdir(parents=True, exist_ok=True)
        temp = "".join(f"    {kind}_temp_path {root}/{kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
        conf = root / "nginx.conf"
        conf.write_text(
            f"{user}worker_processes auto;\ndaemon off;\npid {root}/nginx.pid;\n"
            "error_log stderr;\nevents { worker_connections 1024; }\n"
            f"http {{\n    access_log {root}/access.log;\n{temp}"
            f"    server {{\n        listen 127.0.0.1:{self.ports['nginx_return']};\n"
            "        location / {\n            default_type application/json;\n"
            "            return 200 '{\"status\":\"ok\"}';\n        }\n    }\n}\n"
        )
        self._spawn([self.nginx, "-e", "stderr", "-p", str(root), "-c", str(conf)],
                    "nginx-return.log")

    def _start_hello(self) -> None:
        env = dict(os.environ, BIND=f"127.0.0.1:{self.ports['hello']}", WEB_CONCURRENCY="2",
                   PYTHONPATH=str(REPO_ROOT))
        self._spawn([sys.executable, "-m", "gunicorn", "-c", "bench/hello_gunicorn_conf.py",
                     "bench.hello_app:app"], "hello.log", env)

    def _start_hello_gateway(self) -> None:
        # The real gateway configuration, with every upstream pointed at the hello app.
        hello = self.ports["hello"]
        launch = prepare_gateway(
            self.nginx, self.workdir / "hello-gateway", self.workdir,
            listen_port=self.ports["hello_gateway"],
            upstream_ports={"storefront": hello, "transaction": hello, "sandbox": hello},
            **NO_RATE_LIMITS,
        )
        self._spawn(launch.argv, "hello-gateway.log")

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        for port in self.ports.values():
            while http_status(f"http://127.0.0.1:{port}/") != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"ceiling on port {port} not ready; see {self.workdir}")
                time.sleep(0.2)

    def roots(self) -> dict[str, int]:
        names = ("nginx return", "hello gunicorn", "hello gateway nginx")
        return {name: p.pid for name, p in zip(names, self.processes, strict=True)}

    def stop(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()


def run_pgbench(stack, duration: int) -> Scenario:
    """TPC-B (pgbench's default read-write transaction) on the stack's own Postgres."""
    bindir = stack.postgres.bindir
    pgbench = str(bindir / "pgbench") if (bindir / "pgbench").exists() else shutil.which(
        "pgbench")
    if not pgbench:
        raise RuntimeError("pgbench not found")
    admin = psycopg2.connect(stack.dsn("superuser"))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS bench_pgbench")
        cursor.execute("CREATE DATABASE bench_pgbench")
    admin.close()
    # Through the cluster's private socket as the superuser (trusted there only).
    base = ["-h", str(stack.postgres.socket_dir), "-p", str(stack.ports["postgres"]),
            "-U", "postgres"]
    prefix = ["runuser", "-u", stack.postgres.os_user, "--"] if stack.postgres.os_user else []
    subprocess.run([*prefix, pgbench, *base, "-i", "-q", "-s", "10", "bench_pgbench"],
                   check=True, capture_output=True, cwd="/", timeout=300)
    scenario = Scenario("pgbench TPC-B", "ceiling", "-", f"postgres:{stack.ports['postgres']}")
    with CpuMeter({"postgres": procs.postmaster_pid(stack)}) as meter:
        out = subprocess.run(
            [*prefix, pgbench, *base, "-c", str(CONNECTIONS), "-j", str(WRK_THREADS), "-T",
             str(duration), "bench_pgbench"],
            capture_output=True, text=True, cwd="/", timeout=duration + 120)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", out.stdout)
    processed = re.search(r"number of transactions actually processed: (\d+)", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    if not tps:
        raise RuntimeError(f"pgbench failed: {out.stdout[-800:]} {out.stderr[-800:]}")
    scenario.rps = round(float(tps.group(1)), 1)
    scenario.requests = int(processed.group(1)) if processed else 0
    scenario.errors = int(failed.group(1)) if failed else 0
    scenario.p50_ms = float(latency.group(1)) if latency else 0.0  # pgbench: average only
    scenario.extra = {"latency": "average (pgbench reports no percentiles)", "scale": 10}
    scenario.cpu_s = meter.used
    log(f"{scenario.name:<40} {scenario.rps:>9.1f} tps    avg {scenario.p50_ms:.2f} ms")
    return scenario


# ----------------------------------------------------------------------------- readiness


def time_to_ready(timeout: float = 120) -> dict:
    """`python -m devstack run` (what `make run` calls, deps installed) until the gateway's
    /readyz answers 200: on a fresh data dir, then again on the same (reused) one."""
    busy = [p for p in (8001, 8002, 8003) if port_in_use(p)]
    if busy:
        return {"skipped": f"ports {busy} busy (is `make run` up?); devstack run binds them"}
    data_dir = new_data_dir("etalase-bench-ready-")
    gateway, pg = free_port(), free_port()
    results = {}
    try:
        for label in ("fresh", "reused"):
            started = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "-m", "devstack", "run", "--data-dir", str(data_dir),
                 "--port", str(gateway), "--pg-port", str(pg)],
                cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            ready = None
            while time.monotonic() - started < timeout and process.poll() is None:
                if http_status(f"http://127.0.0.1:{gateway}/readyz", timeout=1) == 200:
                    ready = time.monotonic() - started
                    break
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)  # devstack stops everything in order
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            results[f"{label}_s"] = round(ready, 2) if ready is not None else None
            log(f"devstack run -> /readyz 200 ({label} data dir): {results[f'{label}_s']} s")
    finally:
        subprocess.run([sys.executable, "-m", "devstack", "clean-data", "--data-dir",
                        str(data_dir)], cwd=REPO_ROOT, capture_output=True)
        shutil.rmtree(data_dir, ignore_errors=True)
    return results
