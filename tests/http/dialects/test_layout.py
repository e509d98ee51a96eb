"""A vendor API is one package listed once: its name stays in it, and the registry, the
settings and the mounted routes agree."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import genq
from genq.errors import ConfigError
from genq.http.app import GenqApp
from genq.http.dialects.dialect import Dialect, DialectTable
from genq.http.dialects.registry import DEFAULT_ALIASES, DIALECTS
from genq.http.openapi import document_path
from genq.server import build_app
from genq.settings import Settings

GENQ = Path(genq.__file__).parent
DIALECTS_DIR = GENQ / "http" / "dialects"
REGISTRY = DIALECTS_DIR / "registry.py"
MODELS_REGISTRY = GENQ / "models" / "registry.py"
#: A runtime's entry in ``RUNTIMES``: its name, then its own module of ``genq.runtimes``.
RUNTIME_ENTRY = re.compile(r'^ *"(\w+)": "genq\.runtimes\.\1:\w+",$', re.MULTILINE)
NAMES = [dialect.name for dialect in DIALECTS]
#: A vendor's word: the first part of its dialects' names (netmind for netmind_legacy).
VENDORS = sorted({name.split("_")[0] for name in NAMES})

Route = tuple[str, str]
AppWith = Callable[..., GenqApp]


def dialect_routes(dialect: Dialect[Any]) -> set[Route]:
    """The dialect's operations, as the OpenAPI document names them."""
    return {(op.method, document_path(op.path)) for op in dialect.router().operations}


def mounted(app: GenqApp) -> set[Route]:
    """The application's operations, from its OpenAPI document."""
    paths = app.openapi()["paths"]
    return {(method.upper(), path) for path, item in paths.items() for method in item}


@pytest.fixture
def app_with(tmp_path: Path) -> Iterator[AppWith]:
    """Build the real application with given dialect tables; each is started and stopped."""
    clients: list[TestClient] = []

    def build(**dialects: dict[str, Any]) -> GenqApp:
        settings = Settings.load(data_dir=tmp_path / f"data{len(clients)}", dialects=dialects)
        app = build_app(settings, workers=False)
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return app

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def test_vendor_names_stay_in_their_own_package() -> None:
    """No file of genq names a vendor outside that vendor's packages, but the registry and
    the runtime that runs the vendor's model code (``genq/runtimes/runpod.py``, listed once
    by its name among the models' runtimes)."""
    assert set(VENDORS) >= {"netmind", "mindvideo", "oxen", "segmind", "replicate", "fal"}
    words = {vendor: re.compile(rf"\b{vendor}\b") for vendor in VENDORS}
    strays = []
    for path in sorted(GENQ.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path == REGISTRY:
            continue
        text = path.read_text(errors="ignore").lower()
        if path == MODELS_REGISTRY:
            text = RUNTIME_ENTRY.sub("", text)
        inside = (
            path.relative_to(DIALECTS_DIR).parts[0] if path.is_relative_to(DIALECTS_DIR) else ""
        )
        runtime = path.stem if path.parent == GENQ / "runtimes" else ""
        strays += [
            f"{path.relative_to(GENQ)}: {vendor}"
            for vendor, word in words.items()
            if word.search(text) and not inside.startswith(vendor) and runtime != vendor
        ]
    assert strays == []


def test_each_dialect_is_the_package_of_its_name() -> None:
    """Each registered dialect is what ``genq.http.dialects.NAME`` exports, with routes of
    its own under its title; no two dialects share a route or disagree on a default alias."""
    seen: set[Route] = set()
    for dialect in DIALECTS:
        package = importlib.import_module(f"genq.http.dialects.{dialect.name}")
        assert package.DIALECT is dialect
        assert package.__all__ == ["DIALECT"]
        routes = dialect_routes(dialect)
        assert routes, dialect.name
        tags = {op.tags for op in dialect.router().operations}
        assert tags == {(dialect.title,)}, dialect.name
        assert not seen & routes, dialect.name
        seen |= routes
        for slug, entry in dialect.default_aliases.items():
            assert DEFAULT_ALIASES[slug] == entry
    assert len(set(NAMES)) == len(NAMES)


def test_the_settings_have_one_table_per_dialect() -> None:
    """``settings.dialects`` has a table for each registered dialect, in order, read by name
    and typed by the dialect's own settings; an unknown name is refused."""
    dialects = Settings().dialects
    assert isinstance(dialects, DialectTable)
    assert list(type(dialects).model_fields) == NAMES
    for dialect in DIALECTS:
        assert type(dialects[dialect.name]) is dialect.settings_model
    with pytest.raises(KeyError):
        dialects["nosuch"]
    with pytest.raises(ConfigError, match="nosuch"):
        Settings.load(dialects={"nosuch": {"enabled": False}})


@pytest.mark.parametrize("off", NAMES)
def test_a_dialect_switched_off_has_no_routes(app_with: AppWith, off: str) -> None:
    """An application with one dialect off has none of its routes and all of the others'."""
    app = app_with(**{off: {"enabled": False}})
    operations = mounted(app)
    for dialect in DIALECTS:
        routes = dialect_routes(dialect)
        if dialect.name == off:
            assert not routes & operations, off
        else:
            assert routes <= operations, dialect.name


def test_all_dialects_off_leaves_the_native_api(app_with: AppWith) -> None:
    """With every dialect off, the application has only the native routes."""
    every = app_with()
    none = app_with(**{name: {"enabled": False} for name in NAMES})
    native = mounted(none)
    assert ("POST", "/v1/jobs") in native
    assert mounted(every) - native == set().union(*map(dialect_routes, DIALECTS))


def test_reading_the_settings_loads_no_routes() -> None:
    """``import genq.settings`` reads the registry without importing any dialect's routes."""
    code = "import sys, genq.settings; print(*sorted(sys.modules), sep='\\n')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(run.stdout.split())
    assert "genq.settings" in loaded
    routes = {dialect.routes for dialect in DIALECTS} | {"genq.http.dialects.base"}
    assert not routes & loaded


def test_dialects_reach_only_the_service_interface() -> None:
    """No dialect module imports the job store or reaches past the service's public methods."""
    private = {"registry", "settings", "store", "storage"}
    found = []
    for path in sorted(DIALECTS_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("genq.store"):
                found.append(f"{path.name}: imports {node.module}")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in private
                and isinstance(node.value, ast.Attribute | ast.Name)
                and getattr(node.value, "attr", getattr(node.value, "id", "")) in {"svc", "service"}
            ):
                found.append(f"{path.relative_to(DIALECTS_DIR)}:{node.lineno}: .{node.attr}")
    assert found == []
