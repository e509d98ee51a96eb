"""genq at another git revision, for a bench to measure beside this tree: a detached git
worktree whose ``genq`` a server imports first (``PYTHONPATH``)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """A server did not start, a route did not answer as it should, or a read failed."""


@contextlib.contextmanager
def baseline_tree(rev: str) -> Iterator[tuple[str, Path]]:
    """A detached git worktree of ``rev``, removed on exit; yields its short commit too."""
    commit = git("rev-parse", "--short", f"{rev}^{{commit}}")
    parent = Path(tempfile.mkdtemp(prefix="genq-baseline-"))
    tree = parent / "tree"
    git("worktree", "add", "--detach", str(tree), commit)
    try:
        check_imports_from(tree)
        yield commit, tree
    finally:
        git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(parent, ignore_errors=True)


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def check_imports_from(tree: Path) -> None:
    """The baseline must import genq from its worktree, not from this tree's editable install."""
    done = subprocess.run(
        [sys.executable, "-c", "import genq; print(genq.__file__)"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    )
    if not Path(done.stdout.strip()).is_relative_to(tree):
        raise BenchError(f"the baseline imports genq from {done.stdout.strip()}, not {tree}")
