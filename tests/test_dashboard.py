"""The Grafana dashboard in ``deploy/grafana/`` asks only for figures genq serves: an API
process or a ``genq worker``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from genq.server import build_app
from genq.service.readiness import Workers
from genq.settings import Settings
from genq.worker.exporter import SupervisorFigures

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "genq.json"
#: What a family's samples add to its name.
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def expressions(node: Any) -> list[str]:
    """Every query of the dashboard: panels' targets and template variables."""
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        if isinstance(node.get("definition"), str):
            found.append(node["definition"])
        return found + [e for value in node.values() for e in expressions(value)]
    if isinstance(node, list):
        return [e for item in node for e in expressions(item)]
    return []


def family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def test_every_figure_the_dashboard_asks_for_is_served(tmp_path: Path) -> None:
    """Each figure a panel or a variable asks for is served by an API process that runs no
    workers or by a ``genq worker``'s exporter."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = expressions(dashboard["panels"]) + expressions(dashboard["templating"])
    assert len(queries) > 10
    asked = {family(name) for query in queries for name in re.findall(r"\bgenq_\w+", query)}
    app = build_app(Settings(data_dir=tmp_path / "data"), workers=False)
    with TestClient(app, client=("127.0.0.1", 5000)) as local:
        answer = local.get("/metrics")
    assert answer.status_code == 200, answer.text
    worker = generate_latest(SupervisorFigures(lambda: Workers(alive=1, ready=1, busy=0)))
    served = {
        f.name
        for text in (answer.text, worker.decode())
        for f in text_string_to_metric_families(text)
    }
    assert asked <= served, sorted(asked - served)
    assert len(asked) > 10
