"""`servicekit.config.env_field`: every service's Config reads its variables this one way."""

from __future__ import annotations

import dataclasses

import pytest

import payment_sandbox.config
import storefront_service.config
import transaction_service.config
from servicekit.config import env_field


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str = env_field("SAMPLE_NAME", str, "local")
    port: int = env_field("SAMPLE_PORT", int, 8000)
    ratio: float = env_field("SAMPLE_RATIO", float, 0.5)
    verbose: bool = env_field("SAMPLE_VERBOSE", bool, False)
    doubled: int = env_field("SAMPLE_DOUBLED", lambda name, default: default * 2, 21)


def test_defaults_when_unset_or_empty(monkeypatch):
    monkeypatch.setenv("SAMPLE_PORT", "")
    assert Sample() == Sample(name="local", port=8000, ratio=0.5, verbose=False, doubled=42)


def test_values_are_read_when_the_config_is_made(monkeypatch):
    monkeypatch.setenv("SAMPLE_NAME", "prod")
    monkeypatch.setenv("SAMPLE_PORT", "9000")
    monkeypatch.setenv("SAMPLE_RATIO", "1.5")
    monkeypatch.setenv("SAMPLE_VERBOSE", "yes")
    assert Sample() == Sample(name="prod", port=9000, ratio=1.5, verbose=True, doubled=42)


@pytest.mark.parametrize("variable, value, message", [
    ("SAMPLE_PORT", "80.5", "environment variable SAMPLE_PORT must be an integer, got '80.5'"),
    ("SAMPLE_RATIO", "half", "environment variable SAMPLE_RATIO must be a number, got 'half'"),
    ("SAMPLE_VERBOSE", "maybe", "environment variable SAMPLE_VERBOSE must be a boolean, got "
                                "'maybe'"),
])
def test_a_bad_value_names_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as error:
        Sample()
    assert str(error.value) == message


@pytest.mark.parametrize("config", [transaction_service.config.Config,
                                    storefront_service.config.Config,
                                    payment_sandbox.config.Config])
def test_every_service_config_field_names_its_variable(config):
    names = [field.metadata.get("env") for field in dataclasses.fields(config)]
    assert all(names), names
    assert len(set(names)) == len(names)


def test_the_sandbox_readers_keep_their_rules(monkeypatch):
    monkeypatch.setenv("SANDBOX_NOTIFIER_CONCURRENCY", "0")
    monkeypatch.setenv("SANDBOX_RETRY_SCHEDULE", "1, 2.5")
    config = payment_sandbox.config.Config()
    assert config.notifier_concurrency == 1
    assert config.retry_schedule == (1.0, 2.5)
    monkeypatch.setenv("SANDBOX_RETRY_SCHEDULE", "1,-2")
    with pytest.raises(ValueError, match="SANDBOX_RETRY_SCHEDULE must hold non-negative"):
        payment_sandbox.config.Config()
