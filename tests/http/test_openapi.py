"""The OpenAPI document tells the truth: its error shapes, and schemathesis checking what a
real server answers to generated requests, on every operation, against the document."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case

from genq.server import build_app
from genq.settings import Settings
from tests.conftest import Backend, GenqServer

#: Answers whose bodies are not JSON: server-sent event streams and result files. Their
#: status codes and content types are checked, and that they are no 5xx, but not their bodies
#: against a schema (an event stream is text, a file is bytes of its own type).
NOT_JSON = r"/events$|/outputs/\{index\}$|^/files/"

#: Enough examples per operation to reach each refusal, few enough for a run of a minute or
#: two: no shrinking (a failure is reported as found), no example database in the tree.
SETTINGS = {
    "generation": {
        "max-examples": 12,
        "no-shrink": True,
        "database": "none",
        # The key is sent with every request (below); generated ones would only be 401s.
        "with-security-parameters": False,
    },
    "checks": {
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
    },
    "operations": [
        {
            "include-path-regex": NOT_JSON,
            "checks": {"response_schema_conformance": {"enabled": False}},
        }
    ],
    "request-timeout": 60,
    # Every request goes to a real server over HTTP: slow generation is expected, not a flaw.
    "suppress-health-check": ["all"],
}


def fetch_document(server: GenqServer) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{server.url}/openapi.json").json()
    return document


def default_document() -> dict[str, Any]:
    """The OpenAPI document of a server with the default settings, made in this process: the
    operations are known when tests are collected (the test servers serve the same one)."""
    with tempfile.TemporaryDirectory() as data_dir:
        app = build_app(Settings(data_dir=Path(data_dir)), workers=False)
        try:
            document: dict[str, Any] = json.loads(json.dumps(app.openapi()))
        finally:
            asyncio.run(app.state.service.close())
    return document


DOCUMENT = default_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=SchemathesisConfig.from_dict(SETTINGS))


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory, shared_backend: Backend
) -> Iterator[GenqServer]:
    """A server of its own: the examples in the document name real models, so generated
    requests queue jobs, which the shared server's other tests should not see."""
    directory = tmp_path_factory.mktemp(f"fuzzed-{shared_backend.name}")
    server = GenqServer(directory / "data", backend=shared_backend).start()
    yield server
    server.close()


# What an answer looks like does not depend on the store. What PostgreSQL could add (it
# refuses NUL and lone surrogates, its numbers are narrower) is sent to every route on both
# backends by test_hostile.py, and the stores are checked alike by tests/store.
@pytest.mark.backends("sqlite")
@schema.parametrize()
def test_every_answer_is_documented(case: Case, fuzzed: GenqServer) -> None:
    """Each operation's answers to generated requests, valid and invalid, are no 5xx, and
    their status codes, content types and bodies are the ones the document declares."""
    case.call_and_validate(base_url=fuzzed.url, headers={"Authorization": f"Bearer {fuzzed.key}"})


@pytest.mark.backends("sqlite")
def test_the_served_document_is_the_one_checked(server: GenqServer) -> None:
    """The test server serves the document the generated requests are made from."""
    assert fetch_document(server) == DOCUMENT


@pytest.mark.backends("sqlite")
def test_every_error_answer_names_a_schema_of_genqs(server: GenqServer) -> None:
    """No answer is documented in a framework's own validation-error shape, which genq never
    uses, and every error answer (4xx, 5xx) names a schema of genq's."""
    document = fetch_document(server)
    assert "ValidationError" not in json.dumps(document)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if status[0] in "45":
                    body = answer["content"]["application/json"]["schema"]
                    assert body["$ref"].startswith("#/components/schemas/"), (method, path)


@pytest.mark.backends("sqlite")
def test_each_surface_documents_its_own_error_shape(server: GenqServer) -> None:
    """The native routes' errors are documented as genq's ``{"error": {code, message}}``,
    each dialect's as its vendor's shape."""
    document = fetch_document(server)
    expected = {
        ("/v1/jobs", "post", "404"): "Error",
        ("/v1/generation", "post", "422"): "NetMindError",
        ("/v1/netmind-image-job", "post", "401"): "NetMindError",
        ("/api/v1/tasks", "post", "409"): "MindVideoError",
        ("/api/ai/queue", "post", "400"): "OxenError",
        ("/v2/{model}", "post", "422"): "SegmindFailed",
        ("/v2/{model}", "post", "404"): "SegmindError",
        ("/fal/queue/{app}", "post", "422"): "FalError",
        ("/fal/queue/{app}/requests/{request_id}", "get", "500"): "FalError",
        ("/files/{key}", "get", "403"): "Error",
    }
    for (path, method, status), name in expected.items():
        answer = document["paths"][path][method]["responses"][status]
        assert answer["content"]["application/json"]["schema"]["$ref"].endswith(f"/{name}")
    native = document["components"]["schemas"]["Error"]
    assert native["required"] == ["error"]
    assert document["components"]["schemas"]["ErrorDetail"]["required"] == ["code", "message"]


@pytest.mark.backends("sqlite")
def test_json_answers_are_documented_as_objects(server: GenqServer) -> None:
    """Every JSON success answer has a schema, at least that it is an object."""
    document = fetch_document(server)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                body = answer.get("content", {}).get("application/json")
                if status.startswith("2") and body is not None:
                    assert body["schema"], (method, path, status)
