"""The public surface: what ``genq`` and ``genq.client`` export, and what they import."""

from __future__ import annotations

import subprocess
import sys
import types

import genq
import genq.client


def public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }


def test_client_all_lists_exactly_what_it_exports() -> None:
    """genq.client.__all__ names every public name of the package, and only those."""
    assert sorted(genq.client.__all__) == sorted(public_names(genq.client))
    assert len(set(genq.client.__all__)) == len(genq.client.__all__)


def test_genq_reexports_the_client() -> None:
    """genq.__all__ is the client's names plus __version__, each the same object, listed by
    dir() before first use."""
    assert sorted(genq.__all__) == sorted([*genq.client.__all__, "__version__"])
    assert set(genq.client.__all__) <= set(dir(genq))
    for name in genq.client.__all__:
        assert getattr(genq, name) is getattr(genq.client, name)
        assert getattr(genq, name).__module__ == "genq.client"


def test_importing_the_client_imports_no_server_package() -> None:
    """Importing genq.client loads none of the server's dependencies (a client-only install
    lacks them)."""
    script = (
        "import sys, genq.client\n"
        "print(sorted(m for m in ('starlette', 'pydantic', 'numpy', 'starlette', 'orjson',"
        " 'genq.jobs', 'genq.errors', 'genq.service') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_importing_genq_imports_the_client_on_first_use() -> None:
    """A worker process imports ``genq`` on its way to ``genq.worker``: the client comes only
    when one of its names is used (``from genq import Client`` still works)."""
    script = (
        "import sys, genq\n"
        "before = 'genq.client' in sys.modules\n"
        "from genq import Client\n"
        "print(before, Client.__module__, genq.Client is Client)\n"
        "try:\n"
        "    genq.NoSuchName\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.splitlines() == [
        "False genq.client True",
        "module 'genq' has no attribute 'NoSuchName'",
    ]
