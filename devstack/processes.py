"""Supervised child processes: one log file each, own process group, orderly stop."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.util import DevstackError, http_status, tail

MARKER_ENV = "ETALASE_DEVSTACK"  # set in every child: identifies our leftovers safely


def _load_prctl():
    # Resolved once in the parent: the child between fork and exec must not dlopen (a lock
    # held by another thread at fork time would deadlock it).
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux/glibc
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """preexec: SIGTERM this child if the devstack process dies without cleaning up.

    Without it (non-Linux), leftovers are still reaped at the next start (reap_leftovers).
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    ready_url: str | None = None  # polled until it answers 200
    extra: dict = field(default_factory=dict)


class ManagedProcess:
    def __init__(self, spec: ProcessSpec, log_path: Path):
        self.spec = spec
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(
                f"\n=== devstack: starting {self.name}: {' '.join(self.spec.argv)}\n".encode()
            )
            log.flush()
            self.proc = subprocess.Popen(
                self.spec.argv,
                env=self.spec.env,
                cwd=self.spec.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own process group: we signal the whole tree (gunicorn master + workers),
                # and Ctrl-C in the terminal reaches only devstack, which stops us in order.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    def wait_ready(self, timeout: float) -> None:
        url = self.spec.ready_url
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                code = self.proc.returncode if self.proc else None
                raise DevstackError(
                    f"{self.name} exited (status {code}) before becoming ready; "
                    f"last lines of {self.log_path}:\n{tail(self.log_path)}"
                )
            if url is None or http_status(url, timeout=2) == 200:
                return
            if time.monotonic() >= deadline:
                raise DevstackError(
                    f"{self.name} not ready at {url} after {timeout:.0f}s; "
                    f"last lines of {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(0.2)

    def terminate(self) -> None:
        """SIGTERM the group without waiting (stop() then waits): a tier of processes is
        signalled at once and stops in parallel."""
        if self.proc is not None and self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the leader's pid is the group id
        if self.proc.poll() is None:
            _signal_group(pgid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(pgid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        # Stragglers of a group whose leader is gone (e.g. orphaned gunicorn workers).
        _signal_group(pgid, signal.SIGKILL)
        self.proc = None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# ---------------------------------------------------------------- leftovers of a dead run


def record_pids(path: Path, processes: dict[str, ManagedProcess]) -> None:
    pids = {name: p.pid for name, p in processes.items() if p.pid}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pids))


def reap_leftovers(path: Path, marker: str) -> list[str]:
    """Stop process groups recorded by an earlier run of this data dir that are still alive.

    Only processes whose environment carries our marker for this data dir are touched, so a
    recycled pid belonging to something else is left alone.
    """
    if not path.exists():
        return []
    try:
        pids = json.loads(path.read_text())
    except ValueError:
        pids = {}
    reaped = []
    for name, pid in pids.items():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"{MARKER_ENV}={marker}".encode() not in environ:
            continue
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        _signal_group(pid, signal.SIGKILL)
        reaped.append(name)
    path.unlink(missing_ok=True)
    return reaped
