"""Sending one webhook request to an integrator's URL.

The host is resolved here and every address checked (DNS rebinding: a name that was public
at registration may point at 127.0.0.1 now), then the connection goes to the address that
was checked, with the original name for `Host`, TLS SNI and certificate verification. No
redirects are followed, the whole attempt is bounded by the timeout, and at most 1 KiB of
the answer is read.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3

from ..domain import webhooks as rules


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    duration_ms: int
    error: str | None
    response_body: str | None

    @property
    def delivered(self) -> bool:
        return rules.is_success(self.status_code)


def resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def send(url: str, headers: dict[str, str], body: bytes, *, timeout: float,
         allow_private: bool) -> AttemptResult:
    started = time.perf_counter()

    def result(status=None, error=None, text=None) -> AttemptResult:
        elapsed = int((time.perf_counter() - started) * 1000)
        return AttemptResult(status, elapsed, error, text)

    try:
        scheme, host, port = rules.check_url(url, allow_private=allow_private)
        addresses = resolve(host, port)
        for address in addresses:
            rules.check_address(address, allow_private=allow_private)
    except rules.TargetRefused as exc:
        return result(error=f"refused: {exc}")
    except OSError as exc:
        return result(error=f"DNS lookup failed: {exc}")
    if not addresses:
        return result(error="DNS lookup returned no address")

    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if scheme == "https" else 80
    host_header = host if port == default_port else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if port == default_port else f"[{host}]:{port}"
    pool_options = {"timeout": urllib3.Timeout(total=timeout), "retries": False, "maxsize": 1}
    if scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            addresses[0], port, server_hostname=host, assert_hostname=host,
            cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(), **pool_options,
        )
    else:
        pool = urllib3.HTTPConnectionPool(addresses[0], port, **pool_options)
    try:
        response = pool.urlopen(
            "POST", path, body=body, headers={**headers, "Host": host_header},
            redirect=False, retries=False, preload_content=False, assert_same_host=False,
        )
        try:
            deadline_left = max(0.1, timeout - (time.perf_counter() - started))
            if response.connection is not None and response.connection.sock is not None:
                response.connection.sock.settimeout(deadline_left)
            kept = response.read(rules.RESPONSE_KEEP_BYTES, decode_content=False) or b""
        except (urllib3.exceptions.HTTPError, OSError):
            kept = b""
        finally:
            response.close()
        return result(status=response.status, text=kept.decode("utf-8", "replace") or None)
    except urllib3.exceptions.TimeoutError:
        return result(error=f"timed out after {timeout:g} s")
    except urllib3.exceptions.SSLError as exc:
        return result(error=f"TLS error: {exc}"[:500])
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return result(error=f"{exc.__class__.__name__}: {exc}"[:500])
    finally:
        pool.close()
