"""`genq accounts list`, `genq accounts credit` and `genq keys enable`: the admin page's
actions from the command line, on the job store directly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from genq.cli import app
from genq.keys import create_key
from genq.store import open_store

pytestmark = pytest.mark.backends("sqlite")


def genq(data_dir: Path, command: str, *args: str) -> Result:
    """``genq COMMAND... --data-dir DIR -- ARGS...``: COMMAND is the words before the
    arguments, which may start with a dash."""
    environ = {"GENQ_DATA_DIR": None, "GENQ_DB": None, "GENQ_CONFIG": None, "COLUMNS": "200"}
    argv = [*command.split(), "--data-dir", str(data_dir), "--", *args]
    return CliRunner(env=environ).invoke(app, argv)


def test_accounts_list_and_credit(tmp_path: Path) -> None:
    """The list shows each account's balance, what it holds, its keys and whether it is an
    admin; credit adds exactly and refuses what it cannot add."""
    store = open_store(f"sqlite:///{tmp_path / 'genq.db'}")
    try:
        create_key(store, "boss", admin=True)
        create_key(store, "acme", credits=Decimal("0.5"))
        create_key(store, "acme")
    finally:
        store.close()
    listed = genq(tmp_path, "accounts list")
    assert listed.exit_code == 0, listed.output
    rows = {
        line.split("│")[2].strip(): line for line in listed.output.splitlines() if "acct_" in line
    }
    assert [cell.strip() for cell in rows["acme"].split("│")[3:7]] == ["0.5", "0", "2", ""]
    assert [cell.strip() for cell in rows["boss"].split("│")[3:7]] == [
        "no limit",
        "0",
        "1",
        "admin",
    ]

    added = genq(tmp_path, "accounts credit", "acme", "12345678901.123456")
    assert (added.exit_code, added.output) == (0, "acme: 12345678901.623456 credits\n")
    for amount, message in [
        ("0", "amount: must be more than 0"),
        ("-1", "amount: cannot be negative"),
        ("0.0000001", "amount:"),
        ("lots", "amount:"),
    ]:
        refused = genq(tmp_path, "accounts credit", "acme", amount)
        assert refused.exit_code == 2, amount
        assert message in refused.output, refused.output
    unlimited = genq(tmp_path, "accounts credit", "boss", "1")
    assert (unlimited.exit_code, "has no limit" in unlimited.output) == (2, True)
    missing = genq(tmp_path, "accounts credit", "nobody", "1")
    assert (missing.exit_code, "no account 'nobody'" in missing.output) == (2, True)


def test_keys_enable_undoes_disable(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'genq.db'}")
    try:
        key, _ = create_key(store, "acme")
        assert genq(tmp_path, "keys disable", key.id).exit_code == 0
        assert store.list_keys()[0].disabled
        enabled = genq(tmp_path, "keys enable", key.id)
        assert (enabled.exit_code, enabled.output) == (0, f"enabled {key.id}\n")
        assert not store.list_keys()[0].disabled
        assert genq(tmp_path, "keys enable", "key_nope").exit_code == 1
    finally:
        store.close()
