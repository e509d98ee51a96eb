"""Client and server never give one name to two different things."""

from __future__ import annotations

import ast
from pathlib import Path

import genq.client

PACKAGE = Path(genq.client.__file__).parent.parent


def server_definitions() -> dict[str, list[str]]:
    """Every class, function and module-level name the server's modules define, with where."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent)
        if relative.parts[1] == "client" or relative == Path("genq/__init__.py"):
            continue
        for node in ast.parse(path.read_text()).body:
            names: list[str] = []
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for name in names:
                found.setdefault(name, []).append(f"{relative}:{node.lineno}")
    return found


def test_no_server_module_defines_a_client_name() -> None:
    """No server module defines a class, function or constant under a name the client exports
    (``genq.NotFound`` is the client's alone, ``genq.Job`` too)."""
    defined = server_definitions()
    assert "JobRecord" in defined  # the scan sees the server's modules
    clashes = {name: defined[name] for name in genq.client.__all__ if name in defined}
    assert clashes == {}
