"""What every writer returns, and what importing the writers loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, cast

from genq.media.encode import save_image
from genq.models.base import RunContext
from tests.media.images import gradient


def test_writers_do_not_import_pyav_or_soundfile() -> None:
    """Importing the writers (as the API process does) loads neither PyAV nor soundfile."""
    code = "import sys, genq.media.encode\nprint(sorted({'av', 'soundfile'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_written_adds_itself_to_a_job_with_its_metadata(tmp_path: Path) -> None:
    """``Written.add_to(ctx)`` publishes the file with its content type, size and duration."""
    added: list[tuple[Any, ...]] = []

    class Recorder:
        def add_output(self, path: Path, content_type: str, **metadata: Any) -> None:
            added.append((path, content_type, metadata))

    written = save_image(gradient(8, 6), tmp_path / "image")
    written.add_to(cast(RunContext, Recorder()))
    assert added == [
        (written.path, "image/png", {"width": 8, "height": 6, "duration": None}),
    ]
