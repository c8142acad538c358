"""Throwaway stacks: a private data dir, free ports, stopped and removed after.

The one way to build a stack that is not `make run`'s: the command-line tools
(`make compliance`, `make chaos`, `make bench`) and the test suite's fixtures
(tests/conftest.py adds the suite's settings on top) all use `throwaway_stack`, so none of
them touches `.data/` or the default ports, and ETALASE_KEEP_DATA=1 keeps any of their data
dirs (every process's log) for reading afterwards.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from devstack import Stack, free_ports, new_data_dir

KEEP_DATA_ENV = "ETALASE_KEEP_DATA"


def keep_data() -> bool:
    return os.environ.get(KEEP_DATA_ENV) == "1"


@contextmanager
def throwaway_stack(prefix: str = "etalase-tool-", *, keep: bool = False, **kwargs) -> Iterator[
    Stack
]:
    """A started Stack on free ports in a temp dir; stopped and deleted on exit (unless
    `keep` or ETALASE_KEEP_DATA=1, for reading its logs). `kwargs` go to Stack."""
    data_dir = new_data_dir(prefix)
    kwargs.setdefault("ports", free_ports())
    kwargs.setdefault("sandbox_retry_schedule", "1,1,2,3")
    stack = Stack(data_dir, **kwargs)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        if keep or keep_data():
            print(f"\nstack data kept in {data_dir}")
        else:
            stack.remove_data()
            shutil.rmtree(data_dir, ignore_errors=True)
