"""`make run`'s restart policy and port choice (devstack), as pure logic."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from devstack.stack import DEFAULT_PORTS, WORKERS, instance_base, instance_names, resolve_ports
from servicekit.workers import RestartBackoff


def test_restart_delay_doubles_for_deaths_in_a_row_up_to_the_cap():
    backoff = RestartBackoff(base=1, cap=5, stable_after=60)
    delays = []
    now = 0.0
    for _ in range(5):
        backoff.started(now)
        now += 2  # dies two seconds after each start: crash looping
        delays.append(backoff.died(now))
        assert backoff.pending() and not backoff.due(now)
        now += delays[-1]
        assert backoff.due(now)
    assert delays == [1, 2, 4, 5, 5]


def test_a_process_that_stayed_up_starts_over_at_the_base_delay():
    backoff = RestartBackoff(base=1, cap=30, stable_after=60)
    backoff.started(0)
    assert backoff.died(1) == 1
    backoff.started(2)
    assert backoff.died(3) == 2
    backoff.started(5)
    assert backoff.died(5 + 61) == 1  # ran longer than stable_after: not a crash loop


def test_restart_is_not_pending_once_started():
    backoff = RestartBackoff()
    backoff.died(10)
    backoff.started(11)
    assert not backoff.pending() and not backoff.due(1000)


def test_explicit_ports_are_kept_and_missing_ones_never_collide():
    with socket.socket() as busy:
        try:
            busy.bind(("127.0.0.1", DEFAULT_PORTS["storefront"]))
            busy.listen()
        except OSError:
            pass  # a `make run` on this machine holds it already: just as good
        ports = resolve_ports({"gateway": 8090, "postgres": None, "storefront": None,
                               "transaction": None, "sandbox": None})
    assert ports["gateway"] == 8090
    assert ports["storefront"] != DEFAULT_PORTS["storefront"]  # taken: another was picked
    assert len(set(ports.values())) == len(ports)


@pytest.mark.parametrize("name, base", [
    ("storefront", "storefront"), ("storefront-2", "storefront"),
    ("sandbox-workers", "sandbox-workers"), ("sandbox-workers-3", "sandbox-workers"),
    ("transaction-workers-2", "transaction-workers"), ("gateway", "gateway"),
    ("postgres-2", "postgres-2"),
])
def test_instance_names_map_back_to_their_service_or_worker(name, base):
    assert instance_base(name) == base


def test_scale_names_the_extra_copies():
    assert instance_names("transaction-workers", 1) == ["transaction-workers"]
    assert instance_names("transaction-workers", 3) == [
        "transaction-workers", "transaction-workers-2", "transaction-workers-3"]


def test_each_worker_process_runs_every_loop_of_its_service(tmp_path):
    from payment_sandbox.config import Config as SandboxConfig
    from payment_sandbox.workers.notifier import loops as sandbox_loops
    from storefront_service.config import Config as StorefrontConfig
    from storefront_service.workers.reservation_sweeper import loops as storefront_loops
    from transaction_service.workers.steps import WORKERS as TRANSACTION_STEPS

    sandbox = replace(SandboxConfig(), db_path=str(tmp_path / "sandbox.db"))
    tables = {
        "storefront": [loop.name for loop in storefront_loops(StorefrontConfig(), None)],
        "transaction": list(TRANSACTION_STEPS),
        "sandbox": [loop.name for loop in sandbox_loops(sandbox)],
    }
    assert {service: list(loops) for service, loops in WORKERS.values()} == tables
