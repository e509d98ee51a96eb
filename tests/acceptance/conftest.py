"""What the acceptance tests share: scaled-out topologies of real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.s3server import S3Server
from tests.topology import Topology


@pytest.fixture
def topology(tmp_path: Path, s3_server: S3Server) -> Iterator[Any]:
    made: list[Topology] = []

    def make(**settings: Any) -> Topology:
        topology = Topology(tmp_path, s3_server, **settings)
        made.append(topology)
        return topology

    yield make
    for topology in made:
        topology.close()
