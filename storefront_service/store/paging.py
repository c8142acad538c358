"""Keyset pagination on (created_at, id), newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Keyset:
    """Position after which the next page starts, and how many rows to return."""

    limit: int
    after: tuple[datetime, str] | None = None

    def sql(self, alias: str) -> tuple[str, list]:
        """A WHERE fragment (or "TRUE") and its parameters for `alias`'s keyset."""
        if self.after is None:
            return "TRUE", []
        return f"({alias}.created_at, {alias}.id) < (%s, %s)", list(self.after)

    @property
    def fetch(self) -> int:
        # One extra row tells whether there is a next page.
        return self.limit + 1
