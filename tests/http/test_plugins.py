"""Users' own models, registered in the config file through the plug-in interface."""

from __future__ import annotations

import tomllib

import pytest

from genq.errors import ConfigError
from genq.models.registry import ModelRegistry
from tests.conftest import GenqServer, wait_for
from tests.http.test_jobs import read_events

PLUGINS = """
[models.echo]
entrypoint = "tests.plugins:Echo"

[models.broken]
entrypoint = "tests.plugins:Broken"

[models.needs-missing]
entrypoint = "tests.plugins:NeedsMissingPackage"

[models.demo-video]
price = { per_second = 0.5 }

[models.demo-speech]
enabled = false
"""


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory: pytest.TempPathFactory):
    server = GenqServer(tmp_path_factory.mktemp("plugins") / "data", toml=PLUGINS).start()
    yield server
    server.close()


def test_a_plugin_model_runs_like_a_built_in(plugin_server: GenqServer) -> None:
    """A model class named in [models.NAME] is listed, validated, run and priced."""
    with plugin_server.client() as api:
        assert api.get("/v1/models/echo").json()["price"]["per_job"] == 0.5
        assert api.post("/v1/jobs", json={"model": "echo", "input": {}}).status_code == 422
        job = api.post("/v1/jobs", json={"model": "echo", "input": {"prompt": "hi"}}).json()
        done = wait_for(api, job["id"])
        assert done["status"] == "succeeded"
        assert done["cost"]["actual"] == 0.5
        assert api.get(f"/v1/jobs/{job['id']}/outputs/0").text == "hi"
        logs = [e for e in read_events(api, job["id"]) if e["event"] == "log"]
        assert logs[0]["data"]["message"] == "echoing 2 characters"


def test_config_overrides_and_disables_built_ins(plugin_server: GenqServer) -> None:
    """The config file changes a built-in model's price and can switch one off."""
    with plugin_server.client() as api:
        assert api.get("/v1/models/demo-video").json()["price"]["per_second"] == 0.5
        assert api.get("/v1/models/demo-speech").status_code == 404


def test_a_model_that_fails_to_load_fails_its_jobs_clearly(plugin_server: GenqServer) -> None:
    """A model whose setup raises fails its jobs with model_load_failed; others still run."""
    with plugin_server.client() as api:
        job = api.post("/v1/jobs", json={"model": "broken", "input": {"prompt": "x"}}).json()
        done = wait_for(api, job["id"])
        assert done["status"] == "failed"
        assert done["error"]["code"] == "model_load_failed"
        assert "weights not found" in done["error"]["message"]
        ok = api.post("/v1/jobs", json={"model": "echo", "input": {"prompt": "y"}}).json()
        assert wait_for(api, ok["id"])["status"] == "succeeded"


def test_a_model_missing_its_packages_is_unavailable(plugin_server: GenqServer) -> None:
    """A model whose packages are not installed is listed as unavailable and answers 503."""
    with plugin_server.client() as api:
        model = api.get("/v1/models/needs-missing").json()
        assert model["available"] is False
        assert "genq[imaginary]" in model["unavailable_reason"]
        response = api.post("/v1/jobs", json={"model": "needs-missing", "input": {"prompt": "x"}})
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "model_unavailable"


def test_a_bad_config_stops_the_server_with_a_clear_message(tmp_path) -> None:
    """An entry point that cannot be imported makes genq serve exit with the reason."""
    server = GenqServer(tmp_path / "data", toml='[models.x]\nentrypoint = "nowhere:Nothing"\n')
    with pytest.raises(RuntimeError, match="exited"):
        server.start(timeout=20)
    log = server.log.read_text()
    assert "cannot load model entry point 'nowhere:Nothing'" in log


PYTHON_PLUGINS = """
[models.swatch]
runtime = "python"
callable = "tests.plugins:swatch"
modality = "image"

[models.shout]
runtime = "python"
callable = "tests.plugins:Shouter"
settings = { suffix = "!!" }
"""


def test_plain_functions_and_classes_serve_as_models(tmp_path) -> None:
    """runtime = "python": a function with a Pydantic input, and a class with setup/predict
    and constructor settings from the config; what they return becomes the outputs."""
    server = GenqServer(tmp_path / "data", toml=PYTHON_PLUGINS).start()
    try:
        with server.client() as api:
            schema = api.get("/v1/models/swatch").json()["input_schema"]
            assert schema["properties"]["size"]["maximum"] == 64
            bad = api.post("/v1/jobs", json={"model": "swatch", "input": {"color": "red"}})
            assert bad.status_code == 422
            job = api.post(
                "/v1/jobs", json={"model": "swatch", "input": {"color": "#ff0000", "size": 4}}
            ).json()
            done = wait_for(api, job["id"])
            assert done["outputs"][0]["content_type"] == "image/png"
            assert (done["outputs"][0]["width"], done["outputs"][0]["height"]) == (4, 4)
            job = api.post("/v1/jobs", json={"model": "shout", "input": {"text": "hi"}}).json()
            done = wait_for(api, job["id"])
            assert done["status"] == "succeeded", done
            texts = [api.get(f"/v1/jobs/{job['id']}/outputs/{i}").text for i in (0, 1)]
            assert texts == ["HI!!", "hi"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('runtime = "tensorflow"', "runtime 'tensorflow' is not one of diffusers"),
        ('runtime = "python"\nentrypoint = "tests.plugins:Echo"', "both a runtime and an"),
        ('runtime = "diffusers"\nsource = "/models/x"\ntask = "painting"', "task: Input should be"),
        ('runtime = "diffusers"\nsource = "/x"\ntask = "text-to-image"\nsteps = 3', "steps: Extra"),
        ('runtime = "python"\ncallable = "tests.plugins:nothing"', "cannot load model entry"),
        ('entrypoint = "tests.plugins:Echo"\nmax_batch = 0', "max_batch must be"),
    ],
)
def test_bad_model_tables_are_refused_with_the_reason(table: str, message: str) -> None:
    """The registry reads the config as genq serve does (see the test above for the exit)."""
    with pytest.raises(ConfigError) as caught:
        ModelRegistry(tomllib.loads(f"[models.x]\n{table}\n")["models"])
    assert message in caught.value.message
    assert caught.value.message.startswith("[models.x]") or "entry point" in caught.value.message
