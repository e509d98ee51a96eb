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
