"""Process trees of a running Stack, read from /proc (Linux): for fault injection (which
pid is a gunicorn worker) and for memory accounting (RSS of everything the stack runs)."""

from __future__ import annotations

import os
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _ppid_map() -> dict[int, int]:
    """pid -> parent pid of every live process (zombies excluded: they are already dead,
    only not yet reaped by their parent)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may contain spaces and parentheses: split after it.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    return parents


def children(pid: int) -> list[int]:
    return sorted(child for child, parent in _ppid_map().items() if parent == pid)


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants that are alive now."""
    parents = _ppid_map()
    if pid not in parents:
        return []
    found, frontier = [pid], [pid]
    while frontier:
        current = frontier.pop()
        kids = [c for c, p in parents.items() if p == current]
        found += kids
        frontier += kids
    return found


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (0 if it is gone)."""
    try:
        resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident * PAGE_SIZE


def pss_bytes(pid: int) -> int:
    """Proportional set size: shared pages split between the processes sharing them, so
    the sum over a forked tree is what it really occupies (0 if unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def postmaster_pid(stack) -> int | None:
    try:
        return int((stack.postgres.pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, AttributeError, IndexError):
        return None


def stack_roots(stack) -> dict[str, int]:
    """Root pid of each process tree the stack runs (Postgres included)."""
    roots = {name: p.pid for name, p in stack.processes.items() if p.pid and p.running()}
    pg = postmaster_pid(stack)
    if pg:
        roots["postgres"] = pg
    return roots


def stack_pss(stack) -> dict[str, int]:
    """PSS bytes per stack process tree (see pss_bytes)."""
    return {name: sum(pss_bytes(p) for p in tree(root)) for name, root in
            stack_roots(stack).items()}


def stack_rss(stack) -> dict[str, int]:
    """RSS bytes per stack process tree (gunicorn masters with their workers, nginx with
    its workers, the postmaster with its backends). RSS double-counts pages shared between
    forked processes, so this is an upper bound of what the stack occupies."""
    return {name: sum(rss_bytes(p) for p in tree(root)) for name, root in
            stack_roots(stack).items()}
