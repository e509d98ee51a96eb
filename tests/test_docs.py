"""The README tells the truth about settings and commands."""

from __future__ import annotations

import re
from pathlib import Path

from genq.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    """Each field of Settings has a row in the README's settings table."""
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", README, re.MULTILINE))
    assert set(Settings.model_fields) <= documented


def test_the_first_screen_has_the_two_setup_commands() -> None:
    """The README's first code block runs genq and runs the tests, and scripts/test exists."""
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in first_block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "genq serve" in commands[0]
    assert commands[1].startswith("scripts/test")
    assert (Path(__file__).parent.parent / "scripts" / "test").is_file()


def test_every_path_the_readme_names_exists() -> None:
    """Each ``genq/...`` file or folder the README names (the layer diagram's packages among
    them) is in the tree; a placeholder in capitals (``NAME``, ``NNNN_name.sql``) and a model
    named with genq as its owner (``genq/demo-image``: not a package's path) aside."""
    root = Path(__file__).parent.parent
    found = set(re.findall(r"(?<![\w./~-])(genq/[\w./-]*\w/?)", README))
    package_path = re.compile(r"genq(/[a-z_][a-z0-9_]*)*(/[\w-]+\.[a-z]+)?/?")
    named = {
        path
        for path in found
        if package_path.fullmatch(path) and not re.search(r"(^|/)[A-Z]{3,}", path)
    }
    assert "genq/store/" in named
    assert "genq/http/dialects/" in named
    missing = sorted(path for path in named if not (root / path).exists())
    assert missing == []


def test_the_layer_diagram_names_every_package() -> None:
    """Every package of genq appears in the README's layer diagram."""
    root = Path(__file__).parent.parent
    diagram = README.split("### Layers\n```", 1)[1].split("```", 1)[0]
    packages = {
        f"{path.parent.relative_to(root).as_posix()}/"
        for path in (root / "genq").glob("*/__init__.py")
    }
    assert sorted(p for p in packages if p not in diagram) == []
