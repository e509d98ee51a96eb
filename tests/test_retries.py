"""The rule of automatic retries (``genq.retries``) and how a model's table sets it."""

from __future__ import annotations

import tomllib

import pytest

from genq.errors import ConfigError
from genq.jobs import Failure
from genq.models.registry import ModelRegistry
from genq.retries import JITTER, MAX_BACKOFF_SECONDS, AutoRetry

BOOM = Failure("model_error", "boom")


def test_a_retryable_failure_waits_twice_as_long_each_time_within_its_jitter() -> None:
    """Attempt n waits backoff * 2 ** (n - 1), a fifth either way at most; the last attempt
    allowed, and any other failure, is not retried."""
    rule = AutoRetry(max_retries=3, backoff_seconds=5)
    for attempt, base in ((1, 5), (2, 10), (3, 20)):
        delays = [rule.delay(BOOM, attempt) for _ in range(200)]
        assert all(
            d is not None and base * (1 - JITTER) <= d <= base * (1 + JITTER) for d in delays
        )
        assert len(set(delays)) > 1
    assert rule.delay(BOOM, 4) is None
    assert rule.delay(Failure("out_of_memory", "oom"), 1) is not None
    for code in ("invalid_input", "timeout", "worker_lost", "storage_error"):
        assert rule.delay(Failure(code, "no"), 1) is None
    assert AutoRetry().delay(BOOM, 1) is None


def test_a_wait_is_at_most_an_hour() -> None:
    """However many retries came before, the wait stays within an hour (and its jitter)."""
    delay = AutoRetry(max_retries=100, backoff_seconds=60).delay(BOOM, 90)
    assert delay is not None
    assert delay <= MAX_BACKOFF_SECONDS * (1 + JITTER)


def registry(table: str) -> ModelRegistry:
    return ModelRegistry(
        tomllib.loads(f'[models.x]\nentrypoint = "tests.plugins:Echo"\n{table}\n')["models"]
    )


def test_a_models_table_sets_its_retries() -> None:
    """max_retries and retry_backoff_seconds come from the table; none: no retries."""
    assert registry("max_retries = 2\nretry_backoff_seconds = 0.5").get("x").retry == AutoRetry(
        2, 0.5
    )
    assert registry("").get("x").retry == AutoRetry(0, 5.0)
    assert registry("max_retries = 1").get("x").describe()["max_retries"] == 1


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("max_retries = -1", "max_retries must be"),
        ("max_retries = 1.5", "max_retries must be"),
        ("max_retries = true", "max_retries must be"),
        ("max_retries = 101", "max_retries must be"),
        ("retry_backoff_seconds = -1", "retry_backoff_seconds must be"),
        ('retry_backoff_seconds = "5"', "retry_backoff_seconds must be"),
        ("retry_backoff_seconds = 3601", "retry_backoff_seconds must be"),
    ],
)
def test_bad_retry_settings_are_refused(table: str, message: str) -> None:
    """A table whose retry settings make no sense is refused, naming the setting."""
    with pytest.raises(ConfigError) as caught:
        registry(table)
    assert caught.value.message.startswith(f"[models.x].{message.split()[0]}")
    assert message in caught.value.message
