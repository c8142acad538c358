"""Real-process fixtures for the payment sandbox: gunicorn (2 workers), two notifier
processes with a short retry schedule, and a tiny HTTP receiver standing in for the
marketplace's notification endpoint."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from devstack.util import free_port
from devstack.util import wait_until as poll

REPO_ROOT = Path(__file__).resolve().parents[3]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

SERVER_KEY = "it-server-key"
RETRY_SCHEDULE = "0.2,0.5,1"


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = ""):
    value = poll(predicate, timeout, interval)
    if not value:
        raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")
    return value


# The marketplace stand-in ------------------------------------------------------------------


class Receiver:
    """Records every notification POSTed to it; answers an error status (500 unless told
    otherwise; 307 redirects to /moved) the first N times for a given
    (order_id, transaction_status) when told to, and slowly for the orders told to."""

    def __init__(self):
        self.records: list[dict] = []
        self.lock = threading.Lock()
        self._fail_plan: dict[tuple[str, str], tuple[int, int]] = {}
        self._slow: dict[str, float] = {}
        self._server: ThreadingHTTPServer | None = None

    # control
    def fail(self, order_id: str, status: str, times: int, answer: int = 500) -> None:
        with self.lock:
            self._fail_plan[(order_id, status)] = (times, answer)

    def slow(self, order_ids, seconds: float) -> None:
        """Take `seconds` to answer each notification of these orders."""
        with self.lock:
            self._slow.update(dict.fromkeys(order_ids, seconds))

    def for_order(self, order_id: str, *, delivered_only: bool = True) -> list[dict]:
        with self.lock:
            return [
                r for r in self.records
                if r["body"].get("order_id") == order_id
                and (r["answered"] == 200 or not delivered_only)
            ]

    def wait_for(self, order_id: str, predicate, timeout: float = 10.0, **kwargs) -> list[dict]:
        def check():
            records = self.for_order(order_id, **kwargs)
            return records if predicate(records) else None

        return wait_until(check, timeout, message=f"notifications of {order_id}")

    def statuses(self, order_id: str, **kwargs) -> list[str]:
        return [r["body"]["transaction_status"] for r in self.for_order(order_id, **kwargs)]

    # server
    def _answer(self, body: dict) -> int:
        key = (body.get("order_id"), body.get("transaction_status"))
        with self.lock:
            delay = self._slow.get(body.get("order_id"), 0.0)
        if delay:
            time.sleep(delay)
        with self.lock:
            remaining, answer = self._fail_plan.get(key, (0, 500))
            if remaining > 0:
                self._fail_plan[key] = (remaining - 1, answer)
                return answer
        return 200

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received = time.time()
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_raw": raw.decode(errors="replace")}
                status = receiver._answer(body)
                with receiver.lock:
                    receiver.records.append(
                        {
                            "body": body,
                            "headers": dict(self.headers.items()),
                            "path": self.path,
                            "answered": status,
                            "received": received,
                            "at": time.time(),
                        }
                    )
                payload = b'{"ok": true}' if status == 200 else b'{"error": "planned"}'
                self.send_response(status)
                if status in (301, 302, 303, 307, 308):
                    self.send_header("Location", "/moved")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/v1/payments/notifications/sandbox"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


# The sandbox processes ---------------------------------------------------------------------


class SandboxStack:
    """gunicorn + notifier processes sharing one SQLite file under `workdir`."""

    def __init__(self, workdir: Path, notification_url: str, *, workers: int = 2,
                 retry_schedule: str = RETRY_SCHEDULE, extra_env: dict | None = None):
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.server_key = SERVER_KEY
        self.db_path = workdir / "sandbox.sqlite3"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "SANDBOX_SERVER_KEY": SERVER_KEY,
            "SANDBOX_DB_PATH": str(self.db_path),
            "SANDBOX_NOTIFICATION_URL": notification_url,
            "SANDBOX_RETRY_SCHEDULE": retry_schedule,
            "SANDBOX_NOTIFIER_INTERVAL": "0.1",
            "SANDBOX_NOTIFY_READ_TIMEOUT": "3",
            "SANDBOX_PUBLIC_URL": f"{self.base_url}",
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": str(workers),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            "LOG_LEVEL": "INFO",
            **(extra_env or {}),
        }
        self.web: subprocess.Popen | None = None
        self.notifiers: list[subprocess.Popen] = []
        self.session = requests.Session()
        self.session.auth = (SERVER_KEY, "")

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen:
        log = open(self.workdir / log_name, "ab")
        return subprocess.Popen(
            args, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def start_web(self) -> None:
        self.web = self._spawn(
            [sys.executable, "-m", "gunicorn", "-c", "payment_sandbox/gunicorn_conf.py",
             "payment_sandbox.wsgi:app"],
            "gunicorn.log",
        )
        wait_until(self._ready, timeout=20, message="sandbox /readyz")

    def _ready(self) -> bool:
        if self.web is not None and self.web.poll() is not None:
            raise AssertionError(f"gunicorn exited early:\n{self.logs('gunicorn.log')}")
        try:
            return requests.get(f"{self.base_url}/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def start_notifier(self, *extra: str) -> subprocess.Popen:
        process = self._spawn(
            [sys.executable, "-m", "payment_sandbox", "worker", "notifier", *extra],
            "notifier.log",
        )
        if not extra:
            self.notifiers.append(process)
        return process

    @staticmethod
    def terminate(process: subprocess.Popen, timeout: float = 15) -> int:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            raise

    def stop_web(self) -> None:
        if self.web is not None:
            self.terminate(self.web)
            self.web = None

    def stop_notifiers(self) -> list[int]:
        codes = [self.terminate(p) for p in self.notifiers]
        self.notifiers = []
        return codes

    def stop(self) -> None:
        self.stop_notifiers()
        self.stop_web()

    def logs(self, name: str) -> str:
        path = self.workdir / name
        return path.read_text(errors="replace") if path.exists() else ""

    # API helpers
    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def post(self, path: str, json=None, **kwargs) -> requests.Response:
        return self.session.post(self.url(path), json=json, timeout=10, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url(path), timeout=10, **kwargs)

    def charge(self, order_id: str, amount: int = 150000, payment_type: str = "bank_transfer",
               bank: str = "bca", **extra) -> requests.Response:
        body = {
            "payment_type": payment_type,
            "transaction_details": {"order_id": order_id, "gross_amount": amount},
            **extra,
        }
        if payment_type == "bank_transfer":
            body["bank_transfer"] = {"bank": bank}
        return self.post("/v2/charge", body)

    def pay(self, order_id: str, **switches) -> requests.Response:
        return requests.post(
            self.url(f"/v2/{order_id}/pay"), json=switches or None, timeout=10
        )

    def resend(self, order_id: str) -> dict:
        response = requests.post(self.url(f"/v2/{order_id}/notifications/resend"), timeout=10)
        assert response.status_code == 202, response.text
        return response.json()

    def deliveries(self, order_id: str) -> list[dict]:
        response = requests.get(self.url(f"/v2/{order_id}/notifications"), timeout=10)
        response.raise_for_status()
        return response.json()["data"]


@pytest.fixture(scope="session")
def receiver():
    server = Receiver()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sandbox(receiver, tmp_path_factory):
    """One sandbox for the session: gunicorn with 2 workers and 2 competing notifiers."""
    stack = SandboxStack(tmp_path_factory.mktemp("sandbox"), receiver.url)
    try:
        stack.start_web()
        stack.start_notifier()
        stack.start_notifier()
        yield stack
    finally:
        codes = stack.stop_notifiers()
        stack.stop_web()
    assert codes == [0, 0], f"notifiers did not exit cleanly:\n{stack.logs('notifier.log')}"


@pytest.fixture
def make_sandbox(receiver, tmp_path):
    """A private sandbox (no notifier started) for tests that stop and restart processes."""
    stacks: list[SandboxStack] = []

    def make(name: str, notification_url: str | None = None, **kwargs) -> SandboxStack:
        stack = SandboxStack(tmp_path / name, notification_url or receiver.url, **kwargs)
        stacks.append(stack)
        stack.start_web()
        return stack

    yield make
    for stack in stacks:
        stack.stop()


@pytest.fixture
def dead_url() -> str:
    """A URL on a free local port where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/nothing-listens-here"


@pytest.fixture(name="wait_until")
def wait_until_fixture():
    return wait_until


@pytest.fixture
def order_id() -> str:
    return f"it-{uuid.uuid4().hex[:20]}"


@pytest.fixture(scope="session")
def expected_signature():
    """DESIGN.md §7's signature, written out here rather than taken from the sandbox's own
    signer, so a bug shared by its signer and verifier cannot pass."""

    def signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
        raw = (order_id + status_code + gross_amount + server_key).encode()
        return hashlib.sha512(raw).hexdigest()

    return signature
