"""Configuration: where the client finds its server and its API key."""

from __future__ import annotations

from pathlib import Path

import pytest

import genq
from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No key or URL in the environment, and an empty data dir; returns the data dir."""
    monkeypatch.delenv("GENQ_API_KEY", raising=False)
    monkeypatch.delenv("GENQ_URL", raising=False)
    monkeypatch.setenv("GENQ_DATA_DIR", str(tmp_path))
    return tmp_path


def test_a_missing_key_says_where_it_looked(no_settings: Path) -> None:
    """With no key anywhere, the client raises AuthenticationError naming the key file."""
    with pytest.raises(genq.AuthenticationError) as caught:
        genq.Client()
    assert caught.value.code == "missing_api_key"
    assert "GENQ_API_KEY" in str(caught.value)
    assert str(no_settings / "api-key") in str(caught.value)


def test_the_key_file_of_genq_serve_is_found_by_default(
    server: GenqServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With GENQ_DATA_DIR and GENQ_URL set, Client() uses the key file genq serve wrote."""
    monkeypatch.delenv("GENQ_API_KEY", raising=False)
    monkeypatch.setenv("GENQ_DATA_DIR", str(server.data_dir))
    monkeypatch.setenv("GENQ_URL", server.url)
    with genq.Client() as client:
        assert client.base_url == server.url
        assert client.api_key == server.key
        assert client.models.get("noop").name == "noop"


def test_the_home_key_file_is_the_last_resort(
    no_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without GENQ_DATA_DIR the key file is ~/.genq/api-key."""
    monkeypatch.delenv("GENQ_DATA_DIR")
    monkeypatch.setenv("HOME", str(no_settings))
    (no_settings / ".genq").mkdir()
    (no_settings / ".genq" / "api-key").write_text("gq_from_home\n")
    assert genq.Client().api_key == "gq_from_home"


def test_arguments_win_over_the_environment(
    no_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """base_url and api_key arguments win over GENQ_URL and GENQ_API_KEY, which win over the
    defaults."""
    assert genq.Client(api_key="k").base_url == "http://127.0.0.1:8000"
    monkeypatch.setenv("GENQ_URL", "http://genq.example:9000/")
    monkeypatch.setenv("GENQ_API_KEY", "from-env")
    from_env = genq.Client()
    assert (from_env.base_url, from_env.api_key) == ("http://genq.example:9000", "from-env")
    given = genq.Client("http://other:1", "given")
    assert (given.base_url, given.api_key) == ("http://other:1", "given")


def test_max_retries_come_from_the_argument_then_the_environment(
    no_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """max_retries defaults to GENQ_MAX_RETRIES, then 5; the argument wins over both."""
    monkeypatch.delenv("GENQ_MAX_RETRIES", raising=False)
    assert genq.Client(api_key="k").retry.max_retries == 5
    monkeypatch.setenv("GENQ_MAX_RETRIES", "1")
    assert genq.Client(api_key="k").retry.max_retries == 1
    assert genq.AsyncClient(api_key="k").retry.max_retries == 1
    assert genq.Client(api_key="k", max_retries=0).retry.max_retries == 0


@pytest.mark.parametrize("value", ["many", "-1", "2.5"])
def test_a_malformed_genq_max_retries_is_refused(
    no_settings: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A GENQ_MAX_RETRIES that is not a whole number ≥ 0 raises ValueError naming it."""
    monkeypatch.setenv("GENQ_MAX_RETRIES", value)
    with pytest.raises(ValueError, match=f"GENQ_MAX_RETRIES must be .*{value}"):
        genq.Client(api_key="k")
