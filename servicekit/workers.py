"""One supervised process for a service's background loops.

Each service has a table of loops (`Loop`: a name and a step to repeat, or a `run` of its
own); `python -m <service> workers [--only NAME ...] [--skip NAME ...]` runs them in one
process, each on its own thread, because a process per loop costs ~50 MB of interpreter
each. The loops share the process's psycopg2 pool (a ThreadedConnectionPool: one
connection per thread at a time) and nothing else; each service builds a loop's clients for
that loop alone (an HTTP session is not shared between threads).

Supervision, per loop, like `make run` does for processes: a step that raises is logged
and the loop goes on (a database restarting must not kill it); a loop whose thread dies
(an exception escaping `run`, or a crash asked for by `make chaos`) is restarted on its own
after a delay that doubles on each death in a row (RestartBackoff). Liveness shows in the
log ("worker loop died" / "restarted", and a "worker loops" summary every
STATUS_LOG_SECONDS with each loop's restarts and seconds since its last step) and, with
`--control-dir`, in `status.json` there.

Killing one loop (fault injection): with `--control-dir DIR`, creating `DIR/crash-NAME`
makes the supervisor raise `LoopKilled` inside loop NAME's thread, mid-step wherever it is
(a transaction open, a message half-sent): the loop dies as a killed process would, its
open transaction rolls back, and it is restarted as above. Only devstack passes a control
dir; a deployment that wants to kill one loop scales a `--only NAME` process instead.

SIGTERM/SIGINT: every loop finishes its step in hand, then the process exits 0.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("servicekit.workers")

TICK_SECONDS = 0.2  # how often the supervisor looks at its loops and the control dir
STATUS_LOG_SECONDS = 60.0


class RestartBackoff:
    """When to restart something that died: like compose's `restart: unless-stopped`, with a
    delay that doubles on each death in a row (base, 2*base, ... up to `cap`) and starts
    over once it has stayed up for `stable_after` seconds. Pure: times are given.
    Used for loops here and for processes by devstack (`make run`).
    """

    def __init__(self, base: float = 1.0, cap: float = 30.0, stable_after: float = 60.0):
        self.base, self.cap, self.stable_after = base, cap, stable_after
        self.deaths_in_a_row = 0
        self.started_at: float | None = None
        self.due_at: float | None = None  # set while a restart is pending

    def started(self, now: float) -> None:
        self.started_at = now
        self.due_at = None

    def died(self, now: float) -> float:
        """Record a death seen at `now`; returns the delay before the restart."""
        if self.started_at is not None and now - self.started_at >= self.stable_after:
            self.deaths_in_a_row = 0
        delay = min(self.cap, self.base * (2 ** self.deaths_in_a_row))
        self.deaths_in_a_row += 1
        self.due_at = now + delay
        return delay

    def pending(self) -> bool:
        return self.due_at is not None

    def due(self, now: float) -> bool:
        return self.due_at is not None and now >= self.due_at


class LoopKilled(BaseException):
    """Raised inside a loop's thread to kill it (BaseException: the loops' own
    `except Exception` guards must not swallow it)."""


@dataclass(frozen=True)
class Loop:
    """A background loop. `step` does one pass and returns how many things it handled;
    the loop repeats it every `interval` seconds. A loop that is not a plain repetition
    (the sandbox's notifier polls and sends concurrently) gives `run(stop)` instead, which
    returns once `stop` is set; `step` is still its single pass (`--once`)."""

    name: str
    step: Callable[[], int]
    interval: float
    run: Callable[[threading.Event], None] | None = None


def repeat(loop: Loop, stop: threading.Event, on_step: Callable[[], None] = lambda: None) -> None:
    """Do `loop.step` every `loop.interval` seconds until `stop` is set."""
    while not stop.is_set():
        try:
            handled = loop.step()
            if handled:
                log.info("worker step", extra={"worker": loop.name, "handled": handled})
        except Exception:
            # A step failing (database restarting, a bug on one row) must not kill the
            # loop; the next step tries again.
            log.exception("worker step failed", extra={"worker": loop.name})
        on_step()
        stop.wait(loop.interval)


def select(loops: Sequence[Loop], only: Iterable[str] = (), skip: Iterable[str] = ()) -> list[Loop]:
    """The loops named by `--only` (all when empty) minus those named by `--skip`."""
    only, skip = _names(only), _names(skip)
    known = {loop.name for loop in loops}
    unknown = sorted((only | skip) - known)
    if unknown:
        raise ValueError(f"unknown worker loop(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    chosen = [loop for loop in loops if (not only or loop.name in only) and loop.name not in skip]
    if not chosen:
        raise ValueError("no worker loop left to run")
    return chosen


def _names(values: Iterable[str]) -> set[str]:
    # `--only a,b` and `--only a --only b` both work.
    return {name.strip() for value in values for name in value.split(",") if name.strip()}


def run_once(loops: Sequence[Loop]) -> int:
    """One pass of each loop, in order (tests, cron-like use); 1 if any step failed."""
    status = 0
    for loop in loops:
        try:
            handled = loop.step()
            log.info("worker step", extra={"worker": loop.name, "handled": handled})
        except Exception:
            log.exception("worker step failed", extra={"worker": loop.name})
            status = 1
    return status


def add_worker_commands(commands, names: Iterable[str]) -> None:
    """`workers [--only NAME] [--skip NAME] [--once]` and its one-loop form `worker NAME`
    on a service's argparse subcommands (`names`: its loop table's names)."""
    names = sorted(names)
    control = "devstack only: `DIR/crash-NAME` kills loop NAME; status in DIR/status.json"
    workers = commands.add_parser(
        "workers", help="run the background loops in one supervised process, a thread each")
    workers.add_argument("--only", action="append", default=[], metavar="NAME[,NAME]",
                         help=f"run only these loops (of {', '.join(names)})")
    workers.add_argument("--skip", action="append", default=[], metavar="NAME[,NAME]",
                         help="run every loop but these")
    workers.add_argument("--once", action="store_true", help="one pass of each, then exit")
    workers.add_argument("--control-dir", help=control)
    worker = commands.add_parser("worker", help="run one background loop (workers --only NAME)")
    worker.add_argument("name", choices=names)
    worker.add_argument("--once", action="store_true", help="one pass, then exit")
    worker.add_argument("--control-dir", help=control)


def run_worker_command(args, loops: Sequence[Loop]) -> int:
    """Run what `add_worker_commands`' parsed `args` ask for."""
    only = [args.name] if args.command == "worker" else args.only
    try:
        chosen = select(loops, only, getattr(args, "skip", ()))
    except ValueError as exc:
        log.error(str(exc))
        return 2
    if args.once:
        return run_once(chosen)
    return supervise(chosen, control_dir=args.control_dir)


class _Running:
    """A loop's thread and the supervisor's bookkeeping for it."""

    def __init__(self, loop: Loop):
        self.loop = loop
        self.thread: threading.Thread | None = None
        self.backoff = RestartBackoff()
        self.restarts = 0
        self.last_step = time.monotonic()

    def start(self, stop: threading.Event) -> None:
        self.thread = threading.Thread(target=self._main, args=(stop,), daemon=True,
                                       name=f"loop:{self.loop.name}")
        self.thread.start()
        self.backoff.started(time.monotonic())

    def _main(self, stop: threading.Event) -> None:
        log.info("worker loop started", extra={"worker": self.loop.name,
                                               "interval": self.loop.interval})
        try:
            if self.loop.run is not None:
                self.loop.run(stop)
            else:
                repeat(self.loop, stop, on_step=self._stepped)
        except LoopKilled:
            log.error("worker loop killed", extra={"worker": self.loop.name})
            return  # the thread ends; the supervisor restarts the loop
        except BaseException:
            log.exception("worker loop died", extra={"worker": self.loop.name})
            return
        log.info("worker loop stopped", extra={"worker": self.loop.name})

    def _stepped(self) -> None:
        self.last_step = time.monotonic()

    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def kill(self) -> bool:
        """Raise LoopKilled in the loop's thread (at its next Python instruction)."""
        if not self.alive():
            return False
        hit = ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(self.thread.ident), ctypes.py_object(LoopKilled))
        return hit == 1

    def status(self, now: float) -> dict:
        return {"alive": self.alive(), "restarts": self.restarts,
                "since_last_step_s": round(now - self.last_step, 1)
                if self.loop.run is None else None}


def supervise(loops: Sequence[Loop], *, control_dir: str | Path | None = None,
              stop: threading.Event | None = None) -> int:
    """Run every loop on its own thread until SIGTERM/SIGINT (or `stop`), restarting a
    loop that dies; returns the exit status (0)."""
    stop = stop or threading.Event()
    control = Path(control_dir) if control_dir else None
    if control is not None:
        control.mkdir(parents=True, exist_ok=True)

    def _stop(signum, _frame):
        log.info("workers stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    running = {loop.name: _Running(loop) for loop in loops}
    log.info("workers started", extra={"workers": list(running), "pid": os.getpid()})
    for entry in running.values():
        entry.start(stop)
    next_status_log = time.monotonic() + STATUS_LOG_SECONDS
    written: dict | None = None
    try:
        while True:
            now = time.monotonic()
            if control is not None:
                _crash_requested(control, running)
            for name, entry in running.items():
                if entry.alive():
                    continue
                if not entry.backoff.pending():
                    delay = entry.backoff.died(now)
                    log.error("worker loop restarting", extra={
                        "worker": name, "in_s": delay,
                        "deaths_in_a_row": entry.backoff.deaths_in_a_row})
                if entry.backoff.due(now):
                    entry.restarts += 1
                    entry.start(stop)
                    log.warning("worker loop restarted",
                                extra={"worker": name, "restarts": entry.restarts})
            status = {name: {k: v for k, v in e.status(now).items()
                             if k != "since_last_step_s"} for name, e in running.items()}
            if control is not None and status != written:
                _write_status(control, status)
                written = status
            if now >= next_status_log:
                next_status_log = now + STATUS_LOG_SECONDS
                log.info("worker loops", extra={"loops": {
                    name: e.status(now) for name, e in running.items()}})
            if stop.wait(TICK_SECONDS):
                break
    finally:
        for entry in running.values():
            if entry.thread is not None:
                entry.thread.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("workers stopped")
    return 0


def _crash_requested(control: Path, running: dict[str, _Running]) -> None:
    for name, entry in running.items():
        request = control / f"crash-{name}"
        if request.exists():
            request.unlink(missing_ok=True)
            killed = entry.kill()
            log.warning("worker loop crash requested",
                        extra={"worker": name, "delivered": killed})


def _write_status(control: Path, status: dict) -> None:
    # Written whole then renamed: a reader never sees half a file.
    tmp = control / "status.json.tmp"
    tmp.write_text(json.dumps({"pid": os.getpid(), "loops": status}))
    tmp.replace(control / "status.json")


def crash_loop(control_dir: str | Path, name: str) -> int:
    """Ask the worker process watching `control_dir` to kill its loop `name` (fault
    injection: tools/chaos.py); returns the loop's restart count before, for
    `wait_restarted`."""
    control = Path(control_dir)
    before = _loop_status(control, name).get("restarts", 0)
    (control / f"crash-{name}").touch()
    return before


def wait_restarted(control_dir: str | Path, name: str, restarts_before: int,
                   timeout: float = 30.0) -> None:
    """Wait until loop `name` has been restarted since `crash_loop` and is running."""
    control = Path(control_dir)
    deadline = time.monotonic() + timeout
    while True:
        now = _loop_status(control, name)
        if now.get("alive") and now.get("restarts", 0) > restarts_before:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker loop {name} was not restarted within {timeout:.0f}s "
                               f"(status {now})")
        time.sleep(0.1)


def _loop_status(control: Path, name: str) -> dict:
    try:
        return json.loads((control / "status.json").read_text())["loops"].get(name, {})
    except (OSError, ValueError, KeyError):
        return {}
