"""Small helpers shared by the devstack modules."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


class DevstackError(RuntimeError):
    """A failure the developer can act on; the message says what to do."""


def new_data_dir(prefix: str) -> Path:
    """A fresh temporary data dir for a throwaway stack."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    # Traversable (not listable) by others: as root, Postgres runs as `postgres` and nginx
    # workers as `nobody`, and they must reach their own files inside.
    path.chmod(0o711)
    return path


def is_root() -> bool:
    return os.geteuid() == 0


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """Status code of a GET, or None when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (local URL)
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_until(predicate, timeout: float, interval: float = 0.2):
    """Call `predicate` every `interval` seconds until it returns something truthy, and
    return that; None once `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def run_as(user: str | None, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a command, as `user` through runuser when given (we are root then)."""
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(argv, **kwargs)


def user_can(user: str, test_flag: str, path: Path) -> bool:
    """Whether `user` passes `test <flag> path` (permissions of every parent included)."""
    if not shutil.which("runuser"):
        return False
    return run_as(user, ["test", test_flag, str(path)], capture_output=True).returncode == 0


def chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
