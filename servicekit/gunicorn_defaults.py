"""Shared gunicorn settings; each service's `gunicorn_conf.py` star-imports these and
sets its own default port."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def settings(default_port: int) -> dict:
    return {
        "bind": os.environ.get("BIND", f"127.0.0.1:{default_port}"),
        "workers": int(os.environ.get("WEB_CONCURRENCY", "2")),
        "threads": int(os.environ.get("WEB_THREADS", "4")),
        "worker_class": "gthread",
        # The app is imported once in the master and its workers fork from it, sharing
        # those pages (PSS of a service ~40% lower). Fork-safe: the psycopg2 pool and the
        # sandbox's SQLite connections are opened per pid on first use, and nothing starts
        # a thread at import.
        "preload_app": True,
        "timeout": int(os.environ.get("WEB_TIMEOUT", "30")),
        "graceful_timeout": 10,
        "keepalive": 75,  # longer than nginx's upstream keepalive_timeout
        # gunicorn's own 400/414 pages are HTML: keep its limits above the gateway's
        # (large_client_header_buffers 6k in gateway/build.py), so nginx refuses first,
        # with a problem. 8190 and 32768 are gunicorn's maxima.
        "limit_request_line": 8190,
        "limit_request_field_size": 8190,
        "limit_request_fields": 32768,
        "max_requests": int(os.environ.get("WEB_MAX_REQUESTS", "0")),
        "accesslog": None,  # the app writes its own JSON access line
        "errorlog": "-",
        # gunicorn >= 23 opens a control socket at one fixed per-user path; several
        # masters on one machine (three services, tests beside `make run`) would fight
        # over it, and nothing here uses it.
        "control_socket_disable": True,
    }


def prepare_metrics_dir(service: str) -> None:
    """prometheus-client multiprocess mode needs a per-service directory emptied at start."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        directory = str(Path(tempfile.gettempdir()) / f"etalase-metrics-{service}-{os.getpid()}")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    shutil.rmtree(directory, ignore_errors=True)
    Path(directory).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
