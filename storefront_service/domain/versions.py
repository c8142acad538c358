"""Product versions named by an `If-Match` header (optimistic concurrency on PATCH)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Versions are Postgres bigints; a larger number can never be one of ours.
MAX_VERSION = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")


def versions_named(tags: Iterable[str | None]) -> list[int]:
    """The strong entity tags that are (decimal, ASCII, in-range) versions. Anything else
    (an empty tag, a word, a Unicode digit, a number past bigint) can never match, so it
    is left out and a write conditioned on it fails with 412 rather than an error."""
    versions = set()
    for tag in tags:
        if isinstance(tag, str) and _DIGITS.fullmatch(tag) and int(tag) <= MAX_VERSION:
            versions.add(int(tag))
    return sorted(versions)
