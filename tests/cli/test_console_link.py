"""`genq keys create --admin`, `genq console-link`, and the sign-in link `genq serve` prints on
its first start, used over real HTTP."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from genq.cli import app
from genq.keys import hash_key
from genq.server import base_url
from genq.settings import Settings
from genq.store import open_store

pytestmark = pytest.mark.backends("sqlite")

LINK = re.compile(r"Console: (http://\S+/#sign-in=([\w-]+)) \(a one-time link, valid 10 minutes\)")


def genq(data_dir: Path, *args: str) -> Result:
    environ = {"GENQ_DATA_DIR": None, "GENQ_DB": None, "GENQ_CONFIG": None}
    return CliRunner(env=environ).invoke(app, [*args, "--data-dir", str(data_dir)])


def test_keys_create_admin_and_console_link(tmp_path: Path) -> None:
    """--admin makes the account an admin one; console-link prints a fresh one-time link
    for a named account, alone on stdout, and refuses an unknown account."""
    made = genq(tmp_path, "keys", "create", "--account", "boss", "--admin")
    assert made.exit_code == 0, made.output
    assert "for admin account 'boss'" in made.stdout
    store = open_store(f"sqlite:///{tmp_path / 'genq.db'}")
    try:
        boss = store.find_account("boss")
        assert boss is not None
        assert boss.admin is True
        linked = genq(tmp_path, "console-link", "--account", "boss")
        assert linked.exit_code == 0, linked.output
        (link,) = linked.stdout.splitlines()
        assert link.startswith("http://127.0.0.1:8000/#sign-in=")
        token = link.split("=", 1)[1]
        assert len(token) >= 43
        assert store.take_sign_in(hash_key(token), time.time()) == boss.id
    finally:
        store.close()
    missing = genq(tmp_path, "console-link")
    assert missing.exit_code == 2
    assert "no account 'default'" in missing.output


def test_serve_prints_a_sign_in_link_on_its_first_start(make_server: Any) -> None:
    """The first start's account is an admin one; the first start prints a one-time link to
    it, whose token the running server trades once for a key of that account. Later starts
    print the console's address and no link (a log must not hold a way back in)."""
    server = make_server()
    assert httpx.get(f"{server.url}/v1/account", headers=auth(server.key)).json()["admin"]
    first = LINK.search(server.log.read_text())
    assert first is not None
    assert first.group(1).startswith(f"{server.url}/#sign-in=")
    signed = httpx.post(f"{server.url}/v1/console/sign-in", json={"token": first.group(2)})
    assert signed.status_code == 201, signed.text
    assert signed.json()["account"]["name"] == "default"
    mine = httpx.get(f"{server.url}/v1/account", headers=auth(signed.json()["key"])).json()
    assert (mine["name"], mine["admin"], mine["key"]["name"]) == (
        "default",
        True,
        "console sign-in",
    )
    again = httpx.post(f"{server.url}/v1/console/sign-in", json={"token": first.group(2)})
    assert again.json()["error"]["code"] == "invalid_sign_in_token"
    server.stop()
    server.start()
    log = server.log.read_text()
    assert len(LINK.findall(log)) == 1
    assert f"Console: {server.url}/ (sign in with a key, or a link from `genq console-link`)" in log


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::", "http://[::1]:8000"),
        ("fe80::1", "http://[fe80::1]:8000"),
        ("genq.example", "http://genq.example:8000"),
    ],
)
def test_links_point_where_a_browser_reaches_the_server(host: str, url: str) -> None:
    assert base_url(Settings(host=host, port=8000)) == url
    assert base_url(Settings(host=host, public_url="https://genq.example/")) == (
        "https://genq.example/"
    )


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
