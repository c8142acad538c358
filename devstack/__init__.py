"""Local orchestration of the whole system, shared by `make run` and the test fixtures.

    from devstack import Stack, free_port

Imports are lazy so that `python -m devstack keys` (used inside the service images, where
the gateway builder is not installed) needs nothing beyond the key-generation modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack.stack import Stack, Urls, free_ports
    from devstack.util import DevstackError, free_port, new_data_dir

__all__ = ["DevstackError", "Stack", "Urls", "free_port", "free_ports", "new_data_dir"]


def __getattr__(name: str):
    if name in ("Stack", "Urls", "free_ports"):
        from devstack import stack

        return getattr(stack, name)
    if name in ("DevstackError", "free_port", "new_data_dir"):
        from devstack import util

        return getattr(util, name)
    raise AttributeError(name)
