"""Request ids, one JSON log line per request, and Prometheus metrics.

The gateway sets `X-Request-ID` (or passes the client's); each service echoes it on the
response and in its logs, so one id follows a request through nginx, both services and the
payment provider callbacks.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a caller's id only if it is short and harmless in logs and headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time spent handling HTTP requests",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections currently checked out of the pool",
    ["service"],
    multiprocess_mode="livesum",
)
DB_POOL_OPEN = Gauge(
    "db_pool_connections_open",
    "Database connections currently open in the pool",
    ["service"],
    multiprocess_mode="livesum",
)

access_log = logging.getLogger("etalase.access")


class _RequestIdFilter(logging.Filter):
    """Stamp every log record made during a request with its id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            try:
                record.request_id = g.get("request_id")
            except RuntimeError:
                record.request_id = None
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON logs on stderr (gunicorn and the process supervisors collect them)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def init_request_tracking(app: Flask, service: str) -> None:
    @app.before_request
    def _start_request():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish_request(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        elapsed = time.perf_counter() - started if started else 0.0
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        if route != "/metrics":
            HTTP_REQUESTS.labels(service, request.method, route, str(response.status_code)).inc()
            HTTP_LATENCY.labels(service, request.method, route).observe(elapsed)
        access_log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 2),
                "remote_addr": request.headers.get("X-Real-IP", request.remote_addr),
            },
        )
        return response


def metrics_response() -> Response:
    """The Prometheus exposition, aggregated over gunicorn workers when multiprocess."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        payload = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        payload = generate_latest(REGISTRY)
    return Response(payload, headers={"Content-Type": CONTENT_TYPE_LATEST})
