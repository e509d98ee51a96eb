"""`genq accounts limits` and the limits column of `genq accounts list`: an account's weight
and limits set and shown from the command line, on the job store directly."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from genq.cli import app
from genq.cli.limits import byte_size, parse_limit
from genq.keys import create_key
from genq.store import open_store

pytestmark = pytest.mark.backends("sqlite")


def genq(data_dir: Path, command: str, *args: str) -> Result:
    """``genq COMMAND... ARGS... --data-dir DIR``."""
    environ = {"GENQ_DATA_DIR": None, "GENQ_DB": None, "GENQ_CONFIG": None, "COLUMNS": "200"}
    return CliRunner(env=environ).invoke(
        app, [*command.split(), *args, "--data-dir", str(data_dir)]
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = open_store(f"sqlite:///{tmp_path / 'genq.db'}")
    try:
        create_key(store, "acme")
    finally:
        store.close()
    return tmp_path


def test_limits_are_set_kept_and_reset(data_dir: Path) -> None:
    """Options set their values and keep the others; 'none' lifts a limit, 'default' puts it
    back; the report shows each value and where it comes from."""
    done = genq(
        data_dir,
        "accounts limits",
        "acme",
        "--weight",
        "3",
        "--max-running",
        "2",
        "--max-queued",
        "none",
        "--rate",
        "2.5",
        "--quota",
        "10GiB",
    )
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0] == "acme: weight 3"
    assert lines[1].split() == ["max_running", "2", "(account)"]
    assert lines[2].split() == ["max_queued", "no", "limit", "(account)"]
    assert lines[3].split() == ["rate_per_second", "2.5/s", "(account)"]
    assert lines[4].split() == ["rate_burst", "5", "(default)"]
    assert lines[5].split() == ["storage_quota_bytes", "10.0", "GiB", "(account)"]
    assert lines[6] == "usage: 0 queued, 0 running, 0 B stored"
    store = open_store(f"sqlite:///{data_dir / 'genq.db'}")
    try:
        account = store.find_account("acme")
        assert account is not None
        assert (account.weight, account.limits.storage_quota_bytes) == (3.0, 10 * 2**30)
    finally:
        store.close()
    shown = genq(data_dir, "accounts limits", "acme", "--max-running", "default")
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines()[1].split() == ["max_running", "no", "limit", "(default)"]
    assert shown.output.splitlines()[0] == "acme: weight 3"


def test_the_list_shows_weight_and_limits(data_dir: Path) -> None:
    """Each account's row has its weight and the limits that apply, its own marked."""
    assert (
        genq(data_dir, "accounts limits", "acme", "--weight", "2", "--max-queued", "7").exit_code
        == 0
    )
    listed = genq(data_dir, "accounts list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.output.splitlines() if "acme" in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[8:10] == ["2", "queued 7*"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--weight", "0"], "--weight: must be at least 0.001"),
        (["--weight", "none"], "--weight: a weight is a number"),
        (["--max-queued", "-1"], "--max-queued: must not be negative"),
        (["--max-running", "1.5"], "--max-running: must be a whole number"),
        (["--rate", "fast"], "--rate: not a number"),
        (["--max-queued", "5GB"], "--max-queued: not a number"),
        (["--quota", "5XB"], "--quota: not a number"),
    ],
)
def test_bad_values_are_refused(data_dir: Path, args: list[str], message: str) -> None:
    """A value a limit cannot take fails with the option named, and changes nothing."""
    refused = genq(data_dir, "accounts limits", "acme", *args)
    assert refused.exit_code == 2
    assert message in refused.output, refused.output


def test_an_unknown_account_is_refused(data_dir: Path) -> None:
    refused = genq(data_dir, "accounts limits", "nobody", "--max-queued", "1")
    assert (refused.exit_code, "no account 'nobody'" in refused.output) == (2, True)


def test_byte_counts_take_units() -> None:
    """A quota may be written with decimal or binary units; sizes are shown in binary ones."""
    assert parse_limit("storage_quota_bytes", "500 MB") == 500_000_000
    assert parse_limit("storage_quota_bytes", "1.5kib") == 1536
    assert parse_limit("storage_quota_bytes", "1e9") == 10**9
    assert (byte_size(512), byte_size(3 * 2**30)) == ("512 B", "3.0 GiB")
