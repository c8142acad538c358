"""The SET list of an UPDATE of a few named columns, one way for every table here."""

from __future__ import annotations

NOW = "now()"


def set_clause(changes: dict, allowed: set[str], what: str) -> tuple[str, list]:
    """`updated_at = now(), <column> = %s, ...` and its values, for `changes` limited to the
    `allowed` columns (anything else is a ValueError naming `what`, e.g. "refund"). The
    value `"now()"` means the database clock, never the string."""
    assignments, values = ["updated_at = now()"], []
    for column, value in changes.items():
        if column not in allowed:
            raise ValueError(f"not an updatable {what} column: {column}")
        if value == NOW:
            assignments.append(f"{column} = now()")
        else:
            assignments.append(f"{column} = %s")
            values.append(value)
    return ", ".join(assignments), values
