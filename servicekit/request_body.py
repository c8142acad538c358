"""Read what is left of a request body before answering (WSGI middleware).

A service may answer without reading the body it was sent (401 before parsing, a 422 for
a Content-Type it does not parse). gunicorn then discards at most 64 KiB of the rest and,
past that, closes the keep-alive connection after the response. The gateway (nginx, with
upstream keep-alive) is not told and gives that closed connection to the next request,
whoever sent it: a 502 for a bystander. Draining the body inside the request keeps every
connection reusable. The gateway already limits bodies to 1 MiB, so this reads at most
that; a larger one (possible only bypassing the gateway) is left to gunicorn's close.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

CHUNK = 64 * 1024


def drain_unread_body(wsgi_app: Callable, limit: int) -> Callable:
    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            return wsgi_app(environ, start_response)
        finally:
            _drain(environ.get("wsgi.input"), limit)

    return app


def _drain(stream, limit: int) -> None:
    if stream is None:
        return
    left = limit
    try:
        while left > 0:
            chunk = stream.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
    except (OSError, ValueError):
        return  # the client went away; gunicorn closes the connection itself
