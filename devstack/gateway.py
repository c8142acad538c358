"""Finding nginx and preparing the local gateway configuration.

The configuration is generated from the route table into a runtime directory at every
start. When we are root, nginx's workers drop to `nobody`: they need to write their temp
files and read the web page, so both are moved somewhere `nobody` can reach if the data
directory or the checkout is private (pytest temp dirs, a clone under /root).
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack.util import DevstackError, chown_tree, is_root, user_can
from gateway.build import STATIC_DIR, TEMP_KINDS, local_settings, write_config
from gateway.openapi import build_document, write_site

NGINX_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin", "/opt/homebrew/bin")
WORKER_USER = "nobody"


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    for directory in NGINX_DIRS:  # sbin is often not on an ordinary user's PATH
        candidate = Path(directory) / "nginx"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def ensure_nginx(allow_install: bool = False) -> str:
    """Path of nginx; installs the distribution's package when missing and permitted."""
    found = find_nginx()
    if found:
        return found
    apt = shutil.which("apt-get")
    sudo = shutil.which("sudo")
    if allow_install and apt and (is_root() or sudo):
        prefix = [] if is_root() else [sudo, "-n"]  # -n: fail rather than prompt
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        print("devstack: nginx not found; installing nginx-light with apt-get")
        cmd = [*prefix, apt, "install", "-y", "--no-install-recommends", "nginx-light"]
        if subprocess.run(cmd, env=env).returncode != 0:
            subprocess.run([*prefix, apt, "update"], env=env)
            subprocess.run(cmd, env=env)
        found = find_nginx()
        if found:
            return found
    raise DevstackError(
        "nginx is required for the gateway but was not found.\n"
        "Install it (Debian/Ubuntu: sudo apt-get install nginx-light; macOS: brew install nginx)\n"
        "and run again."
    )


def nginx_version(nginx: str) -> tuple[int, ...]:
    out = subprocess.run([nginx, "-v"], capture_output=True, text=True)
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out.stderr + out.stdout)
    return tuple(int(x) for x in match.groups()) if match else (0, 0, 0)


@dataclass(frozen=True)
class GatewayLaunch:
    conf_path: Path
    argv: list[str]
    static_root: Path
    temp_dir: Path


def _worker_user() -> tuple[str, int, int] | None:
    """(user directive value, uid, gid) for nginx workers when we are root."""
    if not is_root():
        return None
    try:
        entry = pwd.getpwnam(WORKER_USER)
    except KeyError:
        return None  # nginx's default would fail too; keep workers as root
    group = grp.getgrgid(entry.pw_gid).gr_name
    return f"{WORKER_USER} {group}", entry.pw_uid, entry.pw_gid


def fallback_temp_dir(runtime_dir: Path) -> Path:
    """Where the workers' temp files go when `nobody` cannot reach the runtime dir."""
    digest = hashlib.sha256(str(Path(runtime_dir).resolve()).encode()).hexdigest()[:12]
    return Path("/tmp") / f"etalase-nginx-{digest}"


def _addresses(ports: int | list[int]) -> str:
    """Upstream servers on 127.0.0.1: one port, or several (`make run SCALE=2`)."""
    ports = [ports] if isinstance(ports, int) else ports
    return " ".join(f"127.0.0.1:{port}" for port in ports)


def prepare_gateway(
    nginx: str,
    runtime_dir: Path,
    log_dir: Path,
    *,
    listen_port: int,
    upstream_ports: dict[str, int | list[int]],
    with_sandbox: bool = True,
    static_root: Path = STATIC_DIR,
    api_docs: bool = True,
    **settings_overrides,
) -> GatewayLaunch:
    runtime_dir = Path(runtime_dir).resolve()
    runtime_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    temp_dir = runtime_dir / "tmp"
    static_root = Path(static_root).resolve()
    # The merged public OpenAPI document and the reference page, regenerated every start
    # from the services' code (gateway/openapi.py).
    api_docs_root = write_site(runtime_dir / "apidocs", build_document()) if api_docs else None

    worker = _worker_user()
    user_directive = None
    if worker:
        user_directive, uid, gid = worker
        temp_dir.mkdir(parents=True, exist_ok=True)
        os.chown(temp_dir, uid, gid)
        if not user_can(WORKER_USER, "-w", temp_dir):
            temp_dir = fallback_temp_dir(runtime_dir)
            temp_dir.mkdir(mode=0o700, exist_ok=True)
            os.chown(temp_dir, uid, gid)
        if not user_can(WORKER_USER, "-r", static_root / "index.html"):
            # A copy the workers can read (the checkout is private); refreshed every start.
            copy = temp_dir / "static"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(static_root, copy)
            static_root = copy
        if api_docs_root and not user_can(WORKER_USER, "-r", api_docs_root / "index.html"):
            copy = temp_dir / "apidocs"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(api_docs_root, copy)
            api_docs_root = copy
        for kind in TEMP_KINDS:
            (temp_dir / f"{kind}_temp").mkdir(exist_ok=True)
        chown_tree(temp_dir, uid, gid)

    settings = local_settings(
        runtime_dir,
        listen=f"127.0.0.1:{listen_port}",
        storefront=_addresses(upstream_ports["storefront"]),
        transaction=_addresses(upstream_ports["transaction"]),
        sandbox=_addresses(upstream_ports["sandbox"]),
        with_sandbox=with_sandbox,
        static_root=static_root,
        log_dir=log_dir,
        user=user_directive,
        temp_dir=str(temp_dir),
        api_docs_root=str(api_docs_root) if api_docs_root else None,
        **settings_overrides,
    )
    conf_path = write_config(settings, runtime_dir / "nginx.conf")
    argv = [nginx]
    if nginx_version(nginx) >= (1, 19, 5):
        argv += ["-e", "stderr"]  # never touch the compiled-in error log path
    argv += ["-p", str(runtime_dir), "-c", str(conf_path)]
    return GatewayLaunch(conf_path=conf_path, argv=argv, static_root=static_root, temp_dir=temp_dir)
