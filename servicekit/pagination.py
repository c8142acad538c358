"""Opaque cursors for keyset pagination.

A cursor encodes the sort key of the last row returned (for example its creation time and
id). Keyset pagination stays correct while rows are inserted, unlike offsets.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime

import marshmallow as ma

from .problems import Problem

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class PageArgsSchema(ma.Schema):
    limit = ma.fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=ma.validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": "Page size (1-100)."},
    )
    cursor = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Length(max=512),
        metadata={"description": "Opaque cursor from a previous page's `next_cursor`."},
    )


def encode_cursor(values: list) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor() -> Problem:
    return Problem(
        422,
        "Validation failed",
        "The cursor is not valid.",
        slug="validation-error",
        errors={"cursor": ["Not a valid cursor."]},
    )


def decode_cursor(cursor: str | None, arity: int) -> list | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != arity or not all(
        isinstance(v, (str, int)) for v in values
    ):
        raise invalid_cursor()
    return values


def decode_keyset_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    """The (created_at, id) position of a newest-first list, checked here so a forged
    cursor is a 422 and never reaches the database as a bad timestamp or uuid."""
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    try:
        created_at = datetime.fromisoformat(str(values[0]))
        row_id = str(uuid.UUID(str(values[1])))
    except ValueError:
        raise invalid_cursor() from None
    if created_at.tzinfo is None:
        raise invalid_cursor()
    return created_at, row_id


def page(rows: list, limit: int, key) -> dict:
    """Build `{"data", "next_cursor"}` from up to limit+1 rows fetched by the caller."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(key(rows[-1])) if has_more and rows else None
    return {"data": rows, "next_cursor": next_cursor}


def keyset_page(rows: list, limit: int) -> dict:
    """`page` for lists ordered newest first on (created_at, id)."""
    return page(rows, limit, key=lambda row: [row["created_at"].isoformat(), str(row["id"])])
