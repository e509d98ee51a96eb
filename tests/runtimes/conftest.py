"""Tiny random-weight pipelines, built once per test run and loaded by genq through the same
``from_pretrained`` path real checkpoints take."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("diffusers")
    from genq.testing.tiny import make_tiny

    # Nothing may come from a model hub: every load must find its files in the folder.
    os.environ["HF_HUB_OFFLINE"] = "1"
    # The hub client reads that once, when imported, which collecting the tests may have done
    # already: models loaded in this process (by a worker on a thread) must be offline too.
    import huggingface_hub.constants

    huggingface_hub.constants.HF_HUB_OFFLINE = True
    directory = tmp_path_factory.mktemp("tiny-models")
    make_tiny(directory)
    return directory
