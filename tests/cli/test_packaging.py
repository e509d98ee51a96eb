"""The client is the base install: the command line works without the server's packages,
and the server commands say which extra they need."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tomllib
from pathlib import Path

#: Runs the command line with the server's packages made unimportable (pydantic stays: the
#: command-line library itself needs it).
WITHOUT_SERVER = """
import sys

BLOCKED = {
    "starlette", "pydantic_settings", "numpy", "uvicorn", "jsonschema", "PIL", "orjson",
    "sse_starlette",
}


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
sys.argv = ["genq", *sys.argv[1:]]
from genq.cli import app

app()
"""


def genq_without_server(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_SERVER, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_works_without_the_server_packages() -> None:
    """`genq --help` lists the commands when only the client's packages are installed."""
    result = genq_without_server("--help")
    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout


def test_server_commands_name_the_extra_they_need(tmp_path: Path) -> None:
    """`genq serve` without the server's packages exits with a message naming the extra."""
    result = genq_without_server("serve", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "pip install 'genq[server]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_make_tiny_names_the_extra_it_needs(tmp_path: Path) -> None:
    """`genq models make-tiny` without the server's packages names the extra to install."""
    result = genq_without_server("models", "make-tiny", str(tmp_path))
    assert result.returncode == 2
    assert "pip install 'genq[diffusers]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_extra_that_runs_models_includes_the_server() -> None:
    """The extras that run models (and the database and storage backends) pull in the server,
    so `pip install 'genq[demo]'` is enough to run `genq serve`."""
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    base = " ".join(project["project"]["dependencies"])
    assert "starlette" not in base
    assert "starlette" in " ".join(extras["server"])
    for name in ("demo", "diffusers", "transformers", "postgres", "s3"):
        assert "genq[server]" in extras[name], name


#: SHA-256 of https://www.apache.org/licenses/LICENSE-2.0.txt, the complete licence text.
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def test_the_licence_files_are_complete_and_packaged() -> None:
    """LICENSE is the complete Apache License 2.0 text, and pyproject.toml declares that
    licence and lists LICENSE and the third-party list as the files to package with it."""
    root = Path(__file__).parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE", "THIRD-PARTY-LICENSES.md"]
    assert hashlib.sha256((root / "LICENSE").read_bytes()).hexdigest() == APACHE_2_SHA256
    third_party = (root / "THIRD-PARTY-LICENSES.md").read_text()
    for named in ("PyAV", "espeakng-loader", "GPL-3.0-or-later"):
        assert named in third_party
