"""Throwaway stacks for the tools: a private data dir, free ports, stopped and removed after.

The test suite has its own factory (tests/conftest.py); this one is for the command-line
tools (`make compliance`, `make chaos`, `make bench`), which must not touch `make run`'s
`.data/` or its ports.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from devstack import Stack, free_ports, new_data_dir


@contextmanager
def throwaway_stack(prefix: str = "etalase-tool-", *, keep: bool = False, **kwargs) -> Iterator[
    Stack
]:
    """A started Stack on free ports in a temp dir; stopped and deleted on exit (unless
    `keep` or ETALASE_KEEP_DATA=1, for reading its logs)."""
    data_dir = new_data_dir(prefix)
    kwargs.setdefault("ports", free_ports())
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
