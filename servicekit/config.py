"""Reading configuration from environment variables with explicit, typed defaults."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import field
from typing import Any


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be a number, got {value!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"environment variable {name} must be a boolean, got {value!r}")


def env_float_list(name: str, default: list[float]) -> list[float]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return list(default)
    return [float(part) for part in value.split(",") if part.strip()]


_READERS: dict[type, Callable[[str, Any], Any]] = {
    str: env_str, int: env_int, float: env_float, bool: env_bool,
}


def env_field(name: str, kind: type | Callable[[str, Any], Any], default: Any) -> Any:
    """A `Config` dataclass field read from environment variable `name` each time a Config
    is made (`Config()` in every process), `default` when it is unset or empty.

    `kind` is `str`, `int`, `float` or `bool` (read by `env_str`, ... with their errors),
    or a reader `(name, default) -> value` of its own. The variable's name is kept in the
    field's metadata (`env`)."""
    read = _READERS[kind] if isinstance(kind, type) else kind
    return field(default_factory=lambda: read(name, default), metadata={"env": name})
