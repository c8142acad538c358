"""A real webhook receiver on loopback for the tests, `make chaos` and the bench.

It verifies every request's signature with the `standardwebhooks` package when given the
endpoint's secret(s), records what arrived, and can be told how to answer the next
requests: `"ok"` (204), `"500"`, `"slow"` (sleep past the sender's timeout, then 200),
`"redirect"` (302 to a URL that would answer 200).
"""

from __future__ import annotations

import collections
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    webhook_id: str
    timestamp: str
    signature: str
    body: bytes
    path: str
    verified: bool
    error: str | None = None

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    host: str = "127.0.0.1"
    port: int = 0
    slow_seconds: float = 12.0
    secrets: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    plan: collections.deque = field(default_factory=collections.deque)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    def start(self) -> Receiver:
        if not self.port:
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.port = probe.getsockname()[1]
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args):
                pass

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                mode = receiver._next_mode()
                receiver._record(self.headers, body, self.path)
                if mode == "slow":
                    time.sleep(receiver.slow_seconds)
                    self._answer(200)
                elif mode == "500":
                    self._answer(500, b'{"error": "receiver broke"}' + b"x" * 4000)
                elif mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", receiver.url + "?redirected=1")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._answer(204)

            def _answer(self, status: int, body: bytes = b""):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    try:
                        self.wfile.write(body)
                    except OSError:
                        pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _next_mode(self) -> str:
        with self._lock:
            return self.plan.popleft() if self.plan else "ok"

    def _record(self, headers, body: bytes, path: str) -> None:
        verified, error = False, None
        if self.secrets:
            from standardwebhooks import Webhook

            for secret in self.secrets:
                try:
                    Webhook(secret).verify(body, dict(headers.items()))
                    verified = True
                    break
                except Exception as exc:  # noqa: BLE001 (any failure means "not verified")
                    error = f"{exc.__class__.__name__}: {exc}"
        with self._lock:
            self.received.append(Received(
                webhook_id=headers.get("webhook-id", ""),
                timestamp=headers.get("webhook-timestamp", ""),
                signature=headers.get("webhook-signature", ""),
                body=body, path=path, verified=verified, error=None if verified else error,
            ))

    def ids(self) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received]

    def of_type(self, event_type: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.event.get("type") == event_type]
