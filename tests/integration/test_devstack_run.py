"""`make run` (python -m devstack run) as a developer runs it, twice side by side.

Issue 12 items 8 and 9: two runs that differ only in PORT= both come up (every other port
is its default when free, else a free one, and printed); each stack listens only on the
ports it printed; and a SIGKILLed process (the marketplace's gunicorn master) is restarted
with backoff, saying so in the log, while the other stack is untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from devstack import free_ports, new_data_dir
from devstack.util import http_status, wait_until
from tools import procs

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


class DevstackRun:
    def __init__(self, gateway_port: int):
        self.gateway_port = gateway_port
        self.data_dir = new_data_dir("etalase-run-test-")
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "run", "--data-dir", str(self.data_dir),
             "--port", str(gateway_port)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.output)

    def wait_running(self, timeout: float = 240) -> dict[str, int]:
        found = wait_until(lambda: "Etalase is running" in self.text() or self.proc.poll()
                           is not None, timeout, interval=0.5)
        assert found and self.proc.poll() is None, self.text()[-3000:]
        line = wait_until(lambda: next((x for x in self.output if "ports:" in x), None), 10)
        assert line, self.text()
        return {name: int(port) for name, port in re.findall(r"(\w+) (\d+)", line)}

    def pids(self) -> dict[str, int]:
        return json.loads((self.data_dir / "run" / "pids.json").read_text())

    def postgres_pid(self) -> int:
        return int((self.data_dir / "pg" / "data" / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        subprocess.run([sys.executable, "-m", "devstack", "clean-data", "--data-dir",
                        str(self.data_dir)], cwd=ROOT, capture_output=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _listening_ports(pids: list[int]) -> set[int]:
    """TCP ports in LISTEN state whose sockets any of `pids` holds (from /proc)."""
    listening: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A":  # TCP_LISTEN
                listening[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    ports = set()
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            inode = target[len("socket:["):-1] if target.startswith("socket:[") else None
            if inode in listening:
                ports.add(listening[inode])
    return ports


def _stack_ports(run: DevstackRun) -> set[int]:
    roots = [*run.pids().values(), run.postgres_pid()]
    return _listening_ports([pid for root in roots for pid in procs.tree(root)])


def test_two_runs_side_by_side_and_a_killed_master_comes_back():
    gateway_a, gateway_b = free_ports(("a", "b")).values()
    run_a, run_b = DevstackRun(gateway_a), None
    try:
        ports_a = run_a.wait_running()
        run_b = DevstackRun(gateway_b)  # same settings but PORT: the rest must not clash
        ports_b = run_b.wait_running()

        assert ports_a["gateway"] == gateway_a and ports_b["gateway"] == gateway_b
        assert not set(ports_a.values()) & set(ports_b.values()), (ports_a, ports_b)
        for run, ports in ((run_a, ports_a), (run_b, ports_b)):
            assert http_status(f"http://127.0.0.1:{ports['gateway']}/readyz") == 200
            # Every port the stack opened is one it printed (none fixed behind PORT=).
            assert _stack_ports(run) == set(ports.values()), (run.text()[-2000:], ports)

        killed = run_a.pids()["transaction"]
        os.kill(killed, signal.SIGKILL)
        readyz_a = f"http://127.0.0.1:{gateway_a}/readyz"
        assert wait_until(lambda: "restarted transaction" in run_a.text(), 60), run_a.text()
        assert wait_until(lambda: http_status(readyz_a) == 200, 60), run_a.text()[-3000:]
        assert run_a.pids()["transaction"] != killed
        assert re.search(r"transaction exited \(status -9\); restarting in \d+s", run_a.text())
        assert http_status(f"http://127.0.0.1:{gateway_b}/readyz") == 200
        assert "restart" not in run_b.text()
    finally:
        for run in (run_b, run_a):
            if run is not None:
                run.stop()
