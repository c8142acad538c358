"""servicekit.workers: loops on threads, each restarted on its own, one killable alone."""

from __future__ import annotations

import json
import threading
import time

import pytest

from servicekit import workers
from servicekit.workers import Loop


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _supervised(loops, control_dir):
    stop = threading.Event()
    thread = threading.Thread(target=workers.supervise, args=(loops,),
                              kwargs={"control_dir": control_dir, "stop": stop}, daemon=True)
    thread.start()
    return stop, thread


def test_only_and_skip_choose_loops_by_name():
    table = [Loop(name, lambda: 0, 1) for name in ("a", "b", "c")]
    assert [loop.name for loop in workers.select(table)] == ["a", "b", "c"]
    assert [loop.name for loop in workers.select(table, only=["a,c"])] == ["a", "c"]
    assert [loop.name for loop in workers.select(table, only=["a", "b"], skip=["b"])] == ["a"]
    with pytest.raises(ValueError, match="unknown worker loop"):
        workers.select(table, only=["x"])
    with pytest.raises(ValueError, match="no worker loop left"):
        workers.select(table, skip=["a,b,c"])


def test_a_failing_step_does_not_stop_its_loop_nor_the_others(tmp_path):
    counts = {"bad": 0, "good": 0}

    def bad():
        counts["bad"] += 1
        raise RuntimeError("database restarting")

    def good():
        counts["good"] += 1
        return 0

    stop, thread = _supervised([Loop("bad", bad, 0.01), Loop("good", good, 0.01)], tmp_path)
    _wait(lambda: counts["bad"] >= 3 and counts["good"] >= 3)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    status = json.loads((tmp_path / "status.json").read_text())["loops"]
    assert status["bad"]["restarts"] == 0  # a failed step is not a death


def test_one_loop_killed_is_restarted_alone_while_the_other_keeps_running(tmp_path):
    ticks = {"victim": 0, "bystander": 0}
    bystander_threads = set()

    def victim():
        ticks["victim"] += 1
        return 0

    def bystander():
        ticks["bystander"] += 1
        bystander_threads.add(threading.get_ident())
        return 0

    stop, thread = _supervised([Loop("victim", victim, 0.01),
                                Loop("bystander", bystander, 0.01)], tmp_path)
    try:
        _wait(lambda: (tmp_path / "status.json").exists() and ticks["victim"] > 0)
        before = workers.crash_loop(tmp_path, "victim")
        assert before == 0
        workers.wait_restarted(tmp_path, "victim", before, timeout=10)
        status = json.loads((tmp_path / "status.json").read_text())["loops"]
        assert status["victim"] == {"alive": True, "restarts": 1}
        assert status["bystander"] == {"alive": True, "restarts": 0}
        assert len(bystander_threads) == 1  # never restarted
        seen = ticks["victim"]
        _wait(lambda: ticks["victim"] > seen)  # stepping again
    finally:
        stop.set()
        thread.join(5)


def test_a_loop_whose_run_returns_early_is_restarted_with_backoff(tmp_path):
    runs = []

    def run(stop):
        runs.append(time.monotonic())  # returns at once: died

    stop, thread = _supervised([Loop("flaky", lambda: 0, 1, run=run)], tmp_path)
    try:
        _wait(lambda: len(runs) >= 3, timeout=15)
        gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)]
        assert gaps[0] >= 0.9 and gaps[1] >= 1.9  # 1 s, then 2 s: doubling
    finally:
        stop.set()
        thread.join(5)


def test_once_runs_each_step_one_time_and_reports_a_failure():
    calls = []
    ok = Loop("ok", lambda: calls.append("ok") or 1, 1)
    assert workers.run_once([ok]) == 0 and calls == ["ok"]
    bad = Loop("bad", lambda: 1 / 0, 1)
    assert workers.run_once([ok, bad]) == 1
