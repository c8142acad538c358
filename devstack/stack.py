"""The whole local system: Postgres, keys, migrations, services, workers and the gateway.

Used by `python -m devstack run` (make run) and by the test fixtures:

    stack = Stack(tmp_dir, ports={...}, sandbox_retry_schedule="1,1,2")
    stack.start()
    stack.urls.gateway            # http://127.0.0.1:<port>
    stack.dsn("transaction")      # the service role's URL
    stack.dsn("superuser", "etalase_transaction")
    stack.restart_process("storefront")
    stack.stop()

Process names: postgres, storefront, transaction, sandbox, one worker process per service
(storefront-workers, transaction-workers, sandbox-workers: each runs its service's
background loops on a thread each, WORKERS) and gateway. Environment variables follow
docs/architecture.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from devstack import keys as keymod
from devstack.gateway import ensure_nginx, fallback_temp_dir, prepare_gateway
from devstack.postgres import PostgresCluster, find_bindir
from devstack.processes import (
    MARKER_ENV,
    ManagedProcess,
    ProcessSpec,
    reap_leftovers,
    record_pids,
)
from devstack.util import DevstackError, free_port, http_status, port_in_use, tail
from servicekit.workers import RestartBackoff

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORTS = {
    "gateway": 8080,
    "storefront": 8001,
    "transaction": 8002,
    "sandbox": 8003,
    "postgres": 55432,
}
WEB_SERVICES = ("storefront", "transaction", "sandbox")


def free_ports(names=tuple(DEFAULT_PORTS), avoid=()) -> dict[str, int]:
    """Distinct free ports for `names`, never one a default `make run` uses, so a test or
    tool stack can run beside it."""
    taken = set(DEFAULT_PORTS.values()) | set(avoid)
    ports: dict[str, int] = {}
    while len(ports) < len(names):
        port = free_port()
        if port not in taken:
            taken.add(port)
            ports[names[len(ports)]] = port
    return ports


def resolve_ports(requested: dict[str, int | None]) -> dict[str, int]:
    """Ports for `make run`: a port given explicitly is kept (and must be free at start); a
    missing one (None) is its default when that is free, otherwise one the OS picks, so a
    second `make run PORT=8090` beside the first just works. Print what you got."""
    resolved = {name: port for name, port in requested.items() if port is not None}
    taken = set(resolved.values())
    for name, port in requested.items():
        if port is not None:
            continue
        preferred = DEFAULT_PORTS.get(name)
        if preferred and preferred not in taken and not port_in_use(preferred):
            resolved[name] = preferred
        else:
            resolved[name] = next(p for p in iter(free_port, None) if p not in taken)
        taken.add(resolved[name])
    return {name: resolved[name] for name in requested}


def instance_base(name: str) -> str:
    """The service or worker an instance name belongs to: "storefront-2" -> "storefront"
    (`make run SCALE=2` runs a second copy of each service and worker)."""
    base, _, number = name.rpartition("-")
    if number.isdigit() and (base in WEB_SERVICES or base in WORKERS):
        return base
    return name


def instance_names(base: str, scale: int) -> list[str]:
    return [base] + [f"{base}-{n}" for n in range(2, scale + 1)]


PACKAGES = {
    "storefront": "storefront_service",
    "transaction": "transaction_service",
    "sandbox": "payment_sandbox",
}
# worker process name -> (service whose environment it shares, the loops it runs): one
# `python -m <pkg> workers` process per service, a thread per loop (servicekit.workers),
# so the loops cost one interpreter per service, not one each. The loop names are the
# services' own tables' (a unit test holds them equal).
WORKERS = {
    "storefront-workers": ("storefront", ("reservation-sweeper",)),
    "transaction-workers": ("transaction", ("outbox-relay", "payment-expiry", "auto-complete",
                                            "audit-log", "webhook-dispatcher")),
    "sandbox-workers": ("sandbox", ("notifier",)),
}
# loop name -> the worker process running it
LOOPS = {loop: process for process, (_service, loops) in WORKERS.items() for loop in loops}
SETUP_STEPS = ("storefront-migrate", "transaction-migrate", "storefront-seed")
SEED_STAMP = ".seeded"
DEMO_FILE = "demo-credentials.txt"


@dataclass(frozen=True)
class Urls:
    gateway: str
    storefront: str
    transaction: str
    sandbox: str

    def __getitem__(self, name: str) -> str:
        return getattr(self, name)


class Stack:
    def __init__(
        self,
        data_dir: str | Path,
        *,
        ports: dict[str, int] | None = None,
        env_overrides: dict[str, dict[str, str]] | None = None,
        with_workers: bool = True,
        with_sandbox_route: bool = True,
        sandbox_retry_schedule: str | None = None,
        seed: bool = True,
        fast_unsafe_db: bool = False,
        pg_stat_statements: bool = False,
        web_concurrency: int = 2,
        log_level: str = "INFO",
        commands: dict[str, list[str]] | None = None,
        allow_install: bool = False,
        ready_timeout: float = 90.0,
        stop_grace: float = 10.0,
        gateway_settings: dict | None = None,
        scale: int = 1,
    ):
        """
        env_overrides: {service or process name: {VAR: value}}; a service name (storefront,
            transaction, sandbox) applies to its web process and its workers, a process name
            to that process only, "all" to every process.
        commands: argv overrides by process or setup-step name (storefront-migrate,
            transaction-migrate, storefront-seed); for trying devstack with stand-in apps.
        gateway_settings: overrides of gateway.build.GatewaySettings (e.g. timeouts).
        scale: copies of each web service (all behind the gateway's upstream) and of each
            worker; the extra ones are named "<name>-2", ... and get ports "<service>-2", ...
            (free ones unless given).
        """
        self.data_dir = Path(data_dir).resolve()
        self.ports = {**DEFAULT_PORTS, **(ports or {})}
        self.scale = max(1, int(scale))
        extra = [n for s in WEB_SERVICES for n in instance_names(s, self.scale)[1:]]
        taken = set(self.ports.values()) | set(DEFAULT_PORTS.values())
        for name in extra:
            while name not in self.ports:
                port = free_port()
                if port not in taken:
                    self.ports[name] = port
                    taken.add(port)
        self.env_overrides = env_overrides or {}
        self.with_workers = with_workers
        self.with_sandbox_route = with_sandbox_route
        self.sandbox_retry_schedule = sandbox_retry_schedule
        self.seed = seed
        self.fast_unsafe_db = fast_unsafe_db
        self.pg_stat_statements = pg_stat_statements
        self.web_concurrency = web_concurrency
        self.log_level = log_level
        self.commands = commands or {}
        self.allow_install = allow_install
        self.ready_timeout = ready_timeout
        self.stop_grace = stop_grace
        self.gateway_settings = gateway_settings or {}

        self.logs_dir = self.data_dir / "logs"
        self.run_dir = self.data_dir / "run"
        self.keys_dir = self.data_dir / "keys"
        self.secrets: dict[str, str] = {}
        self.jwt_kid: str | None = None
        self.jwt_private_key_path: Path | None = None
        self.jwks_path: Path | None = None
        self.audit_keys: dict[str, Path] = {}
        self.postgres: PostgresCluster | None = None
        self.processes: dict[str, ManagedProcess] = {}
        self._backoff: dict[str, RestartBackoff] = {}
        self._started = False

    # ------------------------------------------------------------------ public API
    @property
    def urls(self) -> Urls:
        return Urls(
            **{
                name: f"http://127.0.0.1:{self.ports[name]}"
                for name in ("gateway", "storefront", "transaction", "sandbox")
            }
        )

    def dsn(self, service: str, dbname: str | None = None) -> str:
        """Connection URL: "storefront"/"transaction" (their own role and database), or
        "superuser" (optionally for `dbname`, default the maintenance database)."""
        if self.postgres is None:
            raise DevstackError("the stack has not been started")
        if service in ("superuser", "postgres"):
            return self.postgres.superuser_dsn(dbname or "postgres")
        return self.postgres.service_dsn(service, self.secrets[f"{service}_db_password"])

    def env(self, name: str) -> dict[str, str]:
        """Environment of a service (storefront, transaction, sandbox), process name, or
        worker loop name (its worker process's: to run that loop alone)."""
        if name in LOOPS:
            return self._worker_env(LOOPS[name])
        if instance_base(name) in WORKERS:
            return self._worker_env(name)
        return self._service_env(name)

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def control_dir(self, worker: str) -> Path:
        """Where worker process `worker` takes crash requests for one loop and writes its
        loops' status (servicekit.workers.crash_loop)."""
        return self.run_dir / "workers" / worker

    def process_names(self) -> list[str]:
        names = ["postgres", *self._web_instances()]
        if self.with_workers:
            names += self._worker_instances()
        return [*names, "gateway"]

    def _web_instances(self) -> list[str]:
        return [n for s in WEB_SERVICES for n in instance_names(s, self.scale)]

    def _worker_instances(self) -> list[str]:
        return [n for w in WORKERS for n in instance_names(w, self.scale)]

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Stack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        for directory in (self.data_dir, self.logs_dir, self.run_dir):
            directory.mkdir(parents=True, exist_ok=True)
        reaped = reap_leftovers(self.run_dir / "pids.json", str(self.data_dir))
        if reaped:
            print(f"devstack: stopped leftovers of an earlier run: {', '.join(reaped)}")
        self.postgres = PostgresCluster(
            self.data_dir,
            self.ports["postgres"],
            bindir=find_bindir(allow_install=self.allow_install),
            log_path=self.log_path("postgres"),
            fast_unsafe=self.fast_unsafe_db,
            stat_statements=self.pg_stat_statements,
        )
        if self.postgres.stop_leftover():
            print("devstack: stopped the Postgres of an earlier run of this data dir")
        self._check_ports()

        self.secrets = keymod.ensure_secrets(self.data_dir)
        self.jwt_kid, self.jwt_private_key_path, self.jwks_path = keymod.ensure_jwt_keys(
            self.keys_dir
        )
        self.audit_keys = keymod.ensure_audit_keys(self.keys_dir)
        self._started = True
        self.postgres.init()
        self.postgres.start()
        self.postgres.bootstrap(
            {
                "storefront": self.secrets["storefront_db_password"],
                "transaction": self.secrets["transaction_db_password"],
            }
        )

        self._run_setup("storefront-migrate")
        self._run_setup("transaction-migrate")
        if self.seed and not (self.data_dir / SEED_STAMP).exists():
            self._run_setup("storefront-seed", stdout_file=self.data_dir / DEMO_FILE)
            (self.data_dir / SEED_STAMP).write_text("seeded\n")

        # Web services first (they start in parallel, then we wait for each), then the
        # workers, then the gateway in front of them.
        for name in self._web_instances():
            self._spawn(name)
        for name in self._web_instances():
            self.processes[name].wait_ready(self.ready_timeout)
        if self.with_workers:
            for name in self._worker_instances():
                self._spawn(name)
        self._spawn("gateway")
        self.processes["gateway"].wait_ready(self.ready_timeout)
        self._wait_gateway_ready()
        if self.with_workers:
            for name in self._worker_instances():  # one that crashed at import shows by now
                self.processes[name].wait_ready(0)

    def stop(self) -> None:
        """Stop everything (gateway, workers, services, Postgres). Safe to call twice."""
        # Tiers in reverse start order (gateway, workers, web services); each tier is
        # signalled at once so that a scaled stack stops as fast as a single one.
        tiers = [
            [n for n in self.processes if n == "gateway"],
            [n for n in self.processes if instance_base(n) in WORKERS],
            [n for n in self.processes if n != "gateway" and instance_base(n) not in WORKERS],
        ]
        for tier in tiers:
            for name in tier:
                self.processes[name].terminate()
            for name in tier:
                self.processes[name].stop(self.stop_grace)
        self.processes.clear()
        (self.run_dir / "pids.json").unlink(missing_ok=True)
        if self.postgres is not None and self._started:
            self.postgres.stop()
        self._started = False

    def stop_process(self, name: str) -> None:
        if name == "postgres":
            self._require_postgres().stop()
            return
        process = self.processes.pop(name, None)
        if process is None:
            raise DevstackError(f"no running process named {name!r}")
        process.stop(self.stop_grace)
        record_pids(self.run_dir / "pids.json", self.processes)

    def start_process(self, name: str) -> None:
        if name == "postgres":
            self._require_postgres().start()
            return
        if name in self.processes and self.processes[name].running():
            return
        self._spawn(name)
        self.processes[name].wait_ready(self.ready_timeout)

    def restart_process(self, name: str) -> None:
        if name == "postgres" or name in self.processes:
            self.stop_process(name)
        self.start_process(name)

    def running(self) -> dict[str, bool]:
        return {name: p.running() for name, p in self.processes.items()}

    def supervise(self, now: float | None = None) -> list[str]:
        """Restart processes that died, with backoff (RestartBackoff), as compose's restart
        policy does; `make run` calls this every tick. Returns what happened, for the log.
        Processes stopped on purpose (stop_process) are not in self.processes: left alone.
        """
        now = time.monotonic() if now is None else now
        events: list[str] = []
        for name, process in list(self.processes.items()):
            backoff = self._backoff.setdefault(name, RestartBackoff())
            if process.running():
                if backoff.started_at is None:
                    backoff.started(now)
                continue
            if not backoff.pending():
                status = process.proc.returncode if process.proc else None
                delay = backoff.died(now)
                events.append(
                    f"{name} exited (status {status}); restarting in {delay:g}s "
                    f"(death {backoff.deaths_in_a_row} in a row); see {self.log_path(name)}"
                )
            if backoff.due(now):
                process.stop(grace=0)  # reap the group's stragglers (orphaned workers)
                try:
                    self._spawn(name)
                except DevstackError as exc:  # e.g. the gateway config failed to build
                    delay = backoff.died(now)
                    events.append(f"{name} could not be restarted ({exc}); again in {delay:g}s")
                    continue
                backoff.started(now)
                events.append(f"restarted {name} (pid {self.processes[name].pid})")
        return events

    # ------------------------------------------------------------------ internals
    def _require_postgres(self) -> PostgresCluster:
        if self.postgres is None:
            raise DevstackError("the stack has not been started")
        return self.postgres

    def _check_ports(self) -> None:
        busy = [f"{name}={port}" for name, port in self.ports.items() if port_in_use(port)]
        if busy:
            raise DevstackError(
                f"ports already in use: {', '.join(busy)}; is another stack running? "
                "Stop it or choose other ports (python -m devstack run --port N)."
            )

    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        python_path = [str(REPO_ROOT)]
        if env.get("PYTHONPATH"):
            python_path.append(env["PYTHONPATH"])
        env.update(
            {
                "PYTHONPATH": os.pathsep.join(python_path),
                "PYTHONUNBUFFERED": "1",
                "LOG_LEVEL": self.log_level,
                MARKER_ENV: str(self.data_dir),
            }
        )
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return env

    def _service_env(self, instance: str) -> dict[str, str]:
        service = instance_base(instance)
        if service not in WEB_SERVICES:
            raise DevstackError(f"unknown service {instance!r}")
        # Instance n of the marketplace calls instance n of the showcase and the sandbox.
        suffix = instance[len(service):]
        p = {name: self.ports.get(name + suffix, port) for name, port in self.ports.items()}
        p["gateway"] = self.ports["gateway"]
        env = self._base_env()
        env.update(
            {
                "BIND": f"127.0.0.1:{p[service]}",
                "WEB_CONCURRENCY": str(self.web_concurrency),
                "PROMETHEUS_MULTIPROC_DIR": str(self.run_dir / "metrics" / instance),
            }
        )
        if service in ("storefront", "transaction"):
            env.update(
                {
                    "DATABASE_URL": self.dsn(service),
                    "JWKS_FILE": str(self.jwks_path),
                }
            )
        if service == "storefront":
            env.update(
                {
                    "JWT_PRIVATE_KEY_FILE": str(self.jwt_private_key_path),
                    "JWT_KID": str(self.jwt_kid),
                    "INTERNAL_TOKEN": self.secrets["internal_token"],
                    "WITNESS_KEY_FILE": str(self.audit_keys["witness_key"]),
                    "WITNESS_LOG_VKEYS_FILE": str(self.audit_keys["log_vkeys"]),
                }
            )
        elif service == "transaction":
            env.update(
                {
                    "STOREFRONT_URL": f"http://127.0.0.1:{p['storefront']}",
                    "STOREFRONT_INTERNAL_TOKEN": self.secrets["internal_token"],
                    "PAYMENT_PROVIDER": "sandbox",
                    "PAYMENT_BASE_URL": f"http://127.0.0.1:{p['sandbox']}",
                    "PAYMENT_SERVER_KEY": self.secrets["sandbox_server_key"],
                    "AUDIT_LOG_VKEYS_FILE": str(self.audit_keys["log_vkeys"]),
                    "AUDIT_WITNESS_VKEYS_FILE": str(self.audit_keys["witness_vkeys"]),
                    "WEBHOOK_ENCRYPTION_KEYS": self.secrets["webhook_encryption_key"],
                    # Local runs and tests send webhooks to receivers on this machine.
                    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
                }
            )
        elif service == "sandbox":
            gateway = f"http://127.0.0.1:{p['gateway']}"
            sandbox_dir = self.data_dir / "sandbox"
            sandbox_dir.mkdir(parents=True, exist_ok=True)
            env.update(
                {
                    "SANDBOX_SERVER_KEY": self.secrets["sandbox_server_key"],
                    "SANDBOX_DB_PATH": str(sandbox_dir / "sandbox.db"),
                    # Notifications go through the gateway, like a real provider's would.
                    "SANDBOX_NOTIFICATION_URL": f"{gateway}/api/v1/payments/notifications/sandbox",
                    # E-wallet deeplinks point at the sandbox's pay page behind the gateway.
                    "SANDBOX_PUBLIC_URL": f"{gateway}/sandbox",
                }
            )
            if self.sandbox_retry_schedule:
                env["SANDBOX_RETRY_SCHEDULE"] = self.sandbox_retry_schedule
        env.update(self.env_overrides.get("all", {}))
        env.update(self.env_overrides.get(service, {}))
        if instance != service:
            env.update(self.env_overrides.get(instance, {}))
        return env

    def _single_process_env(self, service: str, name: str) -> dict[str, str]:
        """Env of a worker or setup step: the service's, minus the web-only settings (a
        single process must not use gunicorn's multiprocess metrics directory)."""
        env = self._service_env(service)
        for var in ("BIND", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"):
            env.pop(var, None)
        env.update(self.env_overrides.get(instance_base(name), {}))
        if instance_base(name) != name:
            env.update(self.env_overrides.get(name, {}))
        return env

    def _worker_env(self, worker: str) -> dict[str, str]:
        env = self._single_process_env(WORKERS[instance_base(worker)][0], worker)
        if "audit-log" in WORKERS[instance_base(worker)][1]:  # the only process with the key
            env.setdefault("AUDIT_LOG_KEY_FILE", str(self.audit_keys["log_key"]))
        return env

    def _argv(self, name: str) -> list[str]:
        if name in self.commands:
            return list(self.commands[name])
        if instance_base(name) in self.commands:
            return list(self.commands[instance_base(name)])
        py = sys.executable
        base = instance_base(name)
        if base in WEB_SERVICES:
            pkg = PACKAGES[base]
            return [py, "-m", "gunicorn", "-c", f"{pkg}/gunicorn_conf.py", f"{pkg}.wsgi:app"]
        if base in WORKERS:
            service, _loops = WORKERS[base]
            return [py, "-m", PACKAGES[service], "workers",
                    "--control-dir", str(self.control_dir(name))]
        if name in SETUP_STEPS:
            service, action = name.split("-", 1)
            return [py, "-m", PACKAGES[service], action]
        raise DevstackError(f"unknown process {name!r}")

    def _spec(self, name: str) -> ProcessSpec:
        if name == "gateway":
            launch = prepare_gateway(
                ensure_nginx(allow_install=self.allow_install),
                self.run_dir / "gateway",
                self.logs_dir,
                listen_port=self.ports["gateway"],
                upstream_ports={
                    s: [self.ports[n] for n in instance_names(s, self.scale)]
                    for s in WEB_SERVICES
                },
                with_sandbox=self.with_sandbox_route,
                **self.gateway_settings,
            )
            argv = self.commands.get("gateway", launch.argv)
            return ProcessSpec(
                name,
                list(argv),
                self._base_env(),
                REPO_ROOT,
                ready_url=f"{self.urls.gateway}/healthz",
            )
        if instance_base(name) in WEB_SERVICES:
            return ProcessSpec(
                name,
                self._argv(name),
                self._service_env(name),
                REPO_ROOT,
                ready_url=f"http://127.0.0.1:{self.ports[name]}/readyz",
            )
        if instance_base(name) in WORKERS:
            return ProcessSpec(name, self._argv(name), self._worker_env(name), REPO_ROOT)
        raise DevstackError(f"unknown process {name!r}; known: {', '.join(self.process_names())}")

    def _spawn(self, name: str) -> None:
        process = ManagedProcess(self._spec(name), self.log_path(name))
        self.processes[name] = process
        process.start()
        record_pids(self.run_dir / "pids.json", self.processes)

    def _run_setup(self, step: str, stdout_file: Path | None = None) -> None:
        service = step.split("-", 1)[0]
        log_path = self.log_path(step)
        argv = self._argv(step)
        with open(log_path, "ab") as log:
            log.write(f"\n=== devstack: {' '.join(argv)}\n".encode())
            log.flush()
            out = open(stdout_file, "wb") if stdout_file else log
            try:
                result = subprocess.run(
                    argv,
                    env=self._single_process_env(service, step),
                    cwd=REPO_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=log,
                    timeout=600,
                )
            finally:
                if stdout_file:
                    out.close()
        if result.returncode != 0:
            raise DevstackError(
                f"`{' '.join(argv[1:])}` failed (status {result.returncode}); "
                f"last lines of {log_path}:\n{tail(log_path)}"
            )

    def _wait_gateway_ready(self) -> None:
        url = f"{self.urls.gateway}/readyz"
        deadline = time.monotonic() + self.ready_timeout
        while http_status(url) != 200:
            if time.monotonic() > deadline:
                raise DevstackError(
                    f"gateway /readyz is not 200 at {url}; gateway log:\n"
                    f"{tail(self.log_path('gateway'))}"
                )
            time.sleep(0.2)

    def demo_summary(self) -> str:
        path = self.data_dir / DEMO_FILE
        return path.read_text().strip() if path.exists() else ""

    def remove_data(self) -> None:
        """Delete the data dir (and an out-of-tree Postgres dir), stopping a Postgres that
        an earlier run left behind; the rest of the stack must be stopped."""
        link = self.data_dir / "pg"
        if (link / "data" / "postmaster.pid").exists():
            cluster = self.postgres or PostgresCluster(
                self.data_dir,
                self.ports["postgres"],
                bindir=find_bindir(),
                log_path=self.log_path("postgres"),
            )
            cluster.stop_leftover()
        if link.is_symlink():
            shutil.rmtree(link.resolve(), ignore_errors=True)
        shutil.rmtree(fallback_temp_dir(self.run_dir / "gateway"), ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
