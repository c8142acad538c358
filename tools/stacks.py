"""Throwaway stacks for the tools: a private data dir, free ports, stopped and removed after.

The test suite has its own factory (tests/conftest.py); this one is for the command-line
tools (`make compliance`, `make chaos`, `make bench`), which must not touch `make run`'s
`.data/` or its ports.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack import Stack, free_port

PORT_NAMES = ("gateway", "storefront", "transaction", "sandbox", "postgres")
RESERVED_PORTS = {8080, 8001, 8002, 8003, 55432}  # what `make run` uses


def distinct_free_ports(names=PORT_NAMES, avoid: set[int] | None = None) -> dict[str, int]:
    taken = set(RESERVED_PORTS) | set(avoid or ())
    ports: dict[str, int] = {}
    while len(ports) < len(names):
        port = free_port()
        if port not in taken:
            taken.add(port)
            ports[names[len(ports)]] = port
    return ports


def new_data_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    # Traversable by others: as root, Postgres runs as `postgres` and nginx workers as
    # `nobody`, and they must reach their own files inside.
    path.chmod(0o711)
    return path


@contextmanager
def throwaway_stack(prefix: str = "etalase-tool-", *, keep: bool = False, **kwargs) -> Iterator[
    Stack
]:
    """A started Stack on free ports in a temp dir; stopped and deleted on exit (unless
    `keep` or ETALASE_KEEP_DATA=1, for reading its logs)."""
    data_dir = new_data_dir(prefix)
    kwargs.setdefault("ports", distinct_free_ports())
    kwargs.setdefault("sandbox_retry_schedule", "1,1,2,3")
    stack = Stack(data_dir, **kwargs)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        if keep or os.environ.get("ETALASE_KEEP_DATA") == "1":
            print(f"stack data kept in {data_dir}")
        else:
            stack.remove_data()
            shutil.rmtree(data_dir, ignore_errors=True)
