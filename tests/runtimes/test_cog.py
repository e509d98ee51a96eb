"""The cog runtime: Cog model folders, written as Cog's documentation shows, served unchanged.

Most tests run the models in this process, alone or through a worker with a real SQLite store
and file storage; the last ones drive the example folder through a real ``genq serve``. The
test predictors are in ``tests/runtimes/cog_models``, the examples in ``examples/cog``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from genq.errors import ConfigError, ValidationFailed
from genq.jobs import EventRecord, EventType, JobRecord
from genq.models.base import InputError, Stopped
from genq.models.registry import ModelRegistry
from genq.notify import LocalNotifier
from genq.runtimes.cog import CogModel, CogOptions
from genq.service import JobService
from genq.settings import Settings
from genq.storage import open_storage
from genq.store import open_store
from genq.worker.runner import Worker
from tests.conftest import GenqServer, wait_for, wait_until
from tests.demos.test_demo_models import RecordingContext
from tests.http.test_jobs import read_events
from tests.media.network import LocalServer, body, serve

pytest.importorskip("cog")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "cog"
PREDICTORS = Path(__file__).resolve().parent / "cog_models"


def predictor_table(predictor: str, **table: Any) -> dict[str, Any]:
    return {"runtime": "cog", "path": str(PREDICTORS), "predictor": predictor, **table}


MODELS: dict[str, dict[str, Any]] = {
    "resize": {"runtime": "cog", "path": str(EXAMPLES / "resize"), "modality": "image"},
    "words": {"runtime": "cog", "path": str(EXAMPLES / "words")},
    # cog.yaml's predict key names it.
    "shout": {"runtime": "cog", "path": str(PREDICTORS)},
    "squares": predictor_table("predictors.py:Squares", weights=str(PREDICTORS / "cog.yaml")),
    "copy": predictor_table("predictors.py:Copy"),
    "ticker": predictor_table("predictors.py:Ticker"),
    "frames": predictor_table("predictors.py:Frames"),
    "counts": predictor_table("predictors.py:Counts"),
    "describe": predictor_table("predictors.py:Describe"),
    "whisper": predictor_table("predictors.py:Whisper"),
}


def png_uri(size: tuple[int, int], colour: tuple[int, ...]) -> str:
    buffer = io.BytesIO()
    Image.new("RGBA" if len(colour) == 4 else "RGB", size, colour).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def registry() -> Iterator[ModelRegistry]:
    registry = ModelRegistry(MODELS)
    yield registry
    for registered in registry:
        registered.model.teardown()


@dataclass
class Ran:
    """A job run through a worker: its record, its events and its outputs' bytes."""

    job: JobRecord
    events: list[EventRecord]
    files: list[bytes]

    def of(self, type: EventType) -> list[dict[str, Any]]:
        return [event.data for event in self.events if event.type is type]

    def failure(self) -> tuple[str, str]:
        assert self.job.status == "failed", self.job
        assert self.job.error is not None
        return self.job.error.code, self.job.error.message

    def content_types(self) -> list[str]:
        assert self.job.status == "succeeded", self.job
        return [output.content_type for output in self.job.outputs]


@pytest.fixture
def run_jobs(tmp_path: Path, registry: ModelRegistry) -> Any:
    """Submit jobs (model and input) and run them, in order, through one worker in this
    process; ``settings`` are the worker's."""

    def run(*jobs: tuple[str, dict[str, Any]], **settings: Any) -> list[Ran]:
        config = Settings(data_dir=tmp_path, **{"progress_interval_seconds": 0, **settings})
        store = open_store(config.db_url)
        storage = open_storage(config.storage_url, config.signing_secret())
        service = JobService(config, store, storage, registry, LocalNotifier())
        account = store.ensure_account("tester", None, time.time()).id

        async def submit() -> list[str]:
            return [(await service.submit(account, m, i))[0].id for m, i in jobs]

        try:
            ids = asyncio.run(submit())
            worker = Worker(config, "w-test", store=store, storage=storage, registry=registry)
            assert worker.run(burst=True) == len(ids)
            ran = []
            for job_id in ids:
                job = store.get_job_any_account(job_id, time.time())
                assert job is not None
                files = [storage.read(output.key, 1 << 24) or b"" for output in job.outputs]
                ran.append(Ran(job, store.events_after(job_id, 0), files))
            return ran
        finally:
            store.close()

    return run


# -- the input schema --------------------------------------------------------------------------
def test_the_input_schema_comes_from_the_input_annotations(registry: ModelRegistry) -> None:
    """Types, defaults, descriptions, ge/le, choices, regex and lengths of each Input(...)
    become the model's JSON Schema; a Path input takes URLs and data: URIs, with an upload
    hint; inputs without a default are required."""
    schema = registry.get("resize").model.input_schema
    props = schema["properties"]
    assert list(props) == ["image", "scale", "resample", "background", "caption"]
    assert schema["required"] == ["image"]
    assert props["image"]["type"] == "string"
    assert props["image"]["format"] == "uri"
    assert props["image"]["description"] == "Image to resize"
    assert props["image"]["x-playground"] == {"widget": "file-upload"}
    assert (props["scale"]["type"], props["scale"]["default"]) == ("number", 2.0)
    assert (props["scale"]["minimum"], props["scale"]["maximum"]) == (0.1, 4)
    assert props["resample"]["enum"] == ["nearest", "bilinear", "bicubic", "lanczos"]
    assert props["resample"]["default"] == "lanczos"
    assert props["background"]["pattern"] == "^#[0-9a-fA-F]{6}$"
    assert props["caption"] == {
        "title": "Caption",
        "x-order": 4,
        "type": "string",
        "description": "Text to log with the result",
        "maxLength": 80,
        "default": "",
    }
    words = registry.get("words").model.input_schema["properties"]
    assert (words["prompt"]["minLength"], words["delay_ms"]["type"]) == (1, "integer")
    assert (words["upper"]["type"], words["upper"]["default"]) == ("boolean", False)
    copy = registry.get("copy").model.input_schema["properties"]
    assert copy["file"]["x-playground"] == {"widget": "file-upload", "accept": "text/*"}
    # Optional[str]: null is a value, and the input is not required.
    assert copy["note"]["type"] == ["string", "null"]
    assert "required" not in registry.get("describe").model.input_schema


def test_modality_and_output_schema_follow_the_output_type(registry: ModelRegistry) -> None:
    """A str or streamed-str predictor is a text model; the config names any other; the
    output schema is Cog's own."""
    modality = {name: registry.get(name).model.modality for name in ("resize", "words", "copy")}
    assert modality == {"resize": "image", "words": "text", "copy": "none"}
    model = registry.get("resize").model
    assert isinstance(model, CogModel)
    assert model.output_schema == {"title": "Output", "type": "string", "format": "uri"}
    assert registry.get("shout").model.description == "Shouts its text: the newer run() interface."


@pytest.mark.parametrize(
    ("model", "input", "path"),
    [
        ("resize", {"image": png_uri((2, 2), (0, 0, 0)), "scale": 9}, "input/scale"),
        ("resize", {"image": png_uri((2, 2), (0, 0, 0)), "resample": "cubic"}, "input/resample"),
        ("resize", {"image": "/etc/passwd"}, "input/image"),
        ("resize", {"scale": 1}, "input/image"),
        # Cog matches a regex at the start of the value: so does the schema.
        ("squares", {"colour": "x#ff0000"}, "input/colour"),
        ("shout", {"text": "x" * 41}, "input/text"),
    ],
)
def test_submit_refuses_what_the_annotations_forbid(
    registry: ModelRegistry, model: str, input: dict[str, Any], path: str
) -> None:
    """A value the annotations forbid is refused when the job is submitted, naming the field."""
    with pytest.raises(ValidationFailed) as refused:
        registry.get(model).validate(input)
    assert [detail["path"] for detail in refused.value.details] == [path]


def test_cogs_own_check_refuses_and_fills_in_inputs(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    """In the worker, Cog's check_input fills in defaults and refuses, naming the field, what
    reaches the model against its annotations (a job queued before the model changed, say)."""
    model = registry.get("shout").model
    model.setup()
    ctx = RecordingContext(tmp_path)
    with pytest.raises(InputError, match=r"^times fails constraint <= 3$"):
        model.predict({"text": "hi", "times": 7}, ctx)
    with pytest.raises(InputError, match=r"^text: Field required$"):
        model.predict({}, ctx)
    model.predict({"text": "hey", "colour": "unknown"}, ctx)
    assert ctx.outputs[0]["path"].read_text() == "HEY!"
    assert ctx.logs == ["unknown input field ignored: colour", "shouting 'hey' 1 times"]


# -- running ----------------------------------------------------------------------------------
def test_run_and_predict_both_serve(run_jobs: Any) -> None:
    """BaseRunner.run (a str: a text output) and the older BasePredictor.predict (a list of
    Paths: an image output each, setup given its weights); what they print is the job's log,
    a tqdm bar its progress."""
    shout, squares = run_jobs(
        ("shout", {"text": "hi", "times": 2, "mark": "?"}), ("squares", {"count": 3})
    )
    assert shout.content_types() == ["text/plain; charset=utf-8"]
    assert shout.files == [b"HI? HI?"]
    assert [log["message"] for log in shout.of(EventType.LOG)] == ["shouting 'hi' 2 times"]
    assert squares.content_types() == ["image/png"] * 3
    sizes = [(output.width, output.height) for output in squares.job.outputs]
    assert sizes == [(8, 8), (16, 16), (24, 24)]
    assert Image.open(io.BytesIO(squares.files[2])).getpixel((0, 0)) == (255, 0, 0)
    logs = [log["message"] for log in squares.of(EventType.LOG)]
    assert logs == ["weights: cog.yaml", "100%|####| 3/3 [00:00<00:00]"]
    steps = [(p["step"], p["total"]) for p in squares.of(EventType.PROGRESS)]
    assert steps[:3] == [(1, 3), (2, 3), (3, 3)]


def test_the_example_resizes_a_data_uri(run_jobs: Any) -> None:
    """The example folder: a data: URI image in, a Path out, stored as a PNG image output
    with its size; its transparent pixels on the chosen background."""
    (ran,) = run_jobs(
        (
            "resize",
            {"image": png_uri((10, 6), (255, 0, 0, 0)), "scale": 1.5, "background": "#00ff00"},
        )
    )
    assert ran.content_types() == ["image/png"]
    output = ran.job.outputs[0]
    assert (output.width, output.height) == (15, 9)
    image = Image.open(io.BytesIO(ran.files[0]))
    assert (image.size, image.getpixel((7, 4))) == ((15, 9), (0, 255, 0))
    assert ran.of(EventType.LOG)[0]["message"] == "resizing 10x6 to 15x9"


@pytest.fixture
def files() -> Iterator[LocalServer]:
    yield from serve()


def test_file_inputs_are_fetched_through_genqs_guard(run_jobs: Any, files: LocalServer) -> None:
    """A Path input's URL on a private address is refused (invalid_input, naming the field,
    nothing requested) unless the operator allows private addresses; a data: URI needs no
    network. The predictor gets a local file of any type."""
    files.routes["/notes.txt"] = body(b"some notes", "text/plain")
    url = files.url("/notes.txt")
    (refused,) = run_jobs(("copy", {"file": url}))
    code, message = refused.failure()
    assert code == "invalid_input"
    assert (
        message
        == f"file: cannot fetch {url}: the host 127.0.0.1 does not resolve to a public address"
    )
    assert files.requests == []
    inline = "data:text/plain;base64," + base64.b64encode(b"inline").decode()
    fetched, given = run_jobs(
        ("copy", {"file": url, "note": "!"}),
        ("copy", {"file": inline}),
        reference_allow_private=True,
    )
    assert fetched.content_types() == ["text/plain"]
    assert (fetched.files, given.files) == ([b"some notes!"], [b"inline"])


def test_iterators_stream_their_items(run_jobs: Any) -> None:
    """Streamed strings are text events, in order, then one text output; yielded Paths are
    outputs; yielded values are partial events, then a JSON output; each item is progress
    (of an unknown total); an async iterator streams the same."""
    words, frames, counts, whisper = run_jobs(
        ("words", {"prompt": "one two three", "upper": True}),
        ("frames", {"count": 3}),
        ("counts", {"upto": 2}),
        ("whisper", {"text": "Soft Words"}),
    )
    assert [text["delta"] for text in words.of(EventType.TEXT)] == ["ONE ", "TWO ", "THREE"]
    assert words.files == [b"ONE TWO THREE"]
    progress = [(p["step"], p["total"]) for p in words.of(EventType.PROGRESS)]
    assert progress == [(1, 0), (2, 0), (3, 0)]
    assert frames.content_types() == ["image/png"] * 3
    assert [output.width for output in frames.job.outputs] == [4, 5, 6]
    values = [{"n": 1, "square": 1}, {"n": 2, "square": 4}]
    assert [partial["value"] for partial in counts.of(EventType.PARTIAL)] == values
    assert counts.content_types() == ["application/json"]
    assert json.loads(counts.files[0]) == values
    assert whisper.files == [b"softwords"]


def test_a_streams_progress_is_stored_once_per_interval(run_jobs: Any) -> None:
    """Items without a known total are progress like steps: with a long progress interval
    only the first of a quick stream's is stored."""
    (ran,) = run_jobs(("ticker", {"count": 20}), progress_interval_seconds=30)
    assert ran.files == [b"".join(f"t{n} ".encode() for n in range(20))]
    assert [(p["step"], p["total"]) for p in ran.of(EventType.PROGRESS)] == [(1, 0)]


def test_a_returned_object_is_json_with_its_files_as_outputs(run_jobs: Any) -> None:
    """A cog.BaseModel becomes a JSON output; a Path in it becomes an output of its own,
    named in the JSON by its file name."""
    (ran,) = run_jobs(("describe", {"name": "cog"}))
    assert ran.content_types() == ["image/png", "application/json"]
    assert json.loads(ran.files[1]) == {"name": "cog", "letters": 3, "badge": "badge.png"}
    assert (ran.job.outputs[0].width, ran.job.outputs[0].height) == (3, 2)


def test_a_cancel_ends_an_iterator_at_its_next_item(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    """Asked to stop, the job ends after the item in hand: the generator is closed (its own
    clean-up runs) and nothing is output."""
    model = registry.get("ticker").model
    model.setup()
    ctx = RecordingContext(tmp_path, stop_after=3)
    with pytest.raises(Stopped):
        model.predict({"count": 1000}, ctx)
    assert (ctx.texts, ctx.outputs) == (["t0 ", "t1 ", "t2 "], [])
    assert sys.modules["predictors"].Ticker.closed[-1] == 3


# -- loading ----------------------------------------------------------------------------------
PREDICT = """
from pathlib import Path

from cog import BasePredictor, Input

Path({marker!r}).open("a").write("imported\\n")
{imports}

class Predictor(BasePredictor):
    def predict(self, text: str = Input(description="Anything")) -> str:
        return text
"""


def model_folder(tmp_path: Path, module: str, imports: str = "") -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "cog.yaml").write_text(f'predict: "{module}.py:Predictor"\n')
    source = PREDICT.format(marker=str(tmp_path / "imported.txt"), imports=imports)
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    return folder


def test_the_config_is_read_without_importing_the_predictor_here(tmp_path: Path) -> None:
    """The schema comes from a child process: the predictor's module is imported there,
    once, and never in the process that reads the config."""
    folder = model_folder(tmp_path, "marked_predictor")
    model = CogModel(CogOptions(path=str(folder)))
    assert model.input_schema["properties"]["text"]["description"] == "Anything"
    assert (tmp_path / "imported.txt").read_text() == "imported\n"
    assert "marked_predictor" not in sys.modules


def test_a_predictor_whose_imports_are_missing_is_unavailable(tmp_path: Path) -> None:
    """A module the predictor imports that is not installed makes the model unavailable,
    naming it (not the cog extra), rather than stopping genq."""
    folder = model_folder(tmp_path, "needy_predictor", "import genq_no_such_package")
    registry = ModelRegistry({"needy": {"runtime": "cog", "path": str(folder)}})
    described = registry.get("needy").describe()
    assert described["available"] is False
    assert described["unavailable_reason"] == "missing Python packages: genq_no_such_package"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"path": "{tmp}"}, "cog.yaml"),
        ({"path": "{tmp}", "predictor": "predict.py:Predictor"}, "No such file"),
        ({"path": str(PREDICTORS), "predictor": "predictors.py:Card"}, "run or predict method"),
    ],
)
def test_a_folder_that_is_no_cog_model_is_refused(
    tmp_path: Path, table: dict[str, str], message: str
) -> None:
    """No cog.yaml, no predictor file, or no predictor class: the config is refused, saying
    which predictor and why."""
    entry = {"runtime": "cog", **{k: v.format(tmp=tmp_path) for k, v in table.items()}}
    with pytest.raises(ConfigError, match=message):
        ModelRegistry({"bad": entry})


# -- a real server -----------------------------------------------------------------------------
SERVED = f"""
[models.resize]
runtime = "cog"
path = "{EXAMPLES / "resize"}"
modality = "image"

[models.words]
runtime = "cog"
path = "{EXAMPLES / "words"}"
"""


@pytest.fixture(scope="module")
def cog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    server = GenqServer(tmp_path_factory.mktemp("cog") / "data", toml=SERVED, workers=1)
    server.start(timeout=60)
    yield server
    server.close()


def test_the_example_serves_through_the_native_api(cog_server: GenqServer) -> None:
    """The example folder as a genq model: its schema listed, bad input refused at submit
    naming the field, a job run by a real worker and its PNG downloaded."""
    image = png_uri((20, 10), (10, 20, 30))
    with cog_server.client() as api:
        schema = api.get("/v1/models/resize").json()["input_schema"]
        assert schema["properties"]["scale"]["maximum"] == 4
        bad = api.post("/v1/jobs", json={"model": "resize", "input": {"image": image, "scale": 5}})
        assert bad.status_code == 422
        assert [d["path"] for d in bad.json()["error"]["details"]] == ["input/scale"]
        job = api.post(
            "/v1/jobs", json={"model": "resize", "input": {"image": image, "caption": "hi"}}
        ).json()
        done = wait_for(api, job["id"])
        assert done["status"] == "succeeded", done
        assert done["outputs"][0]["content_type"] == "image/png"
        png = api.get(f"/v1/jobs/{job['id']}/outputs/0").content
        assert Image.open(io.BytesIO(png)).size == (40, 20)
        logs = [e["data"]["message"] for e in read_events(api, job["id"]) if e["event"] == "log"]
        assert logs == ["resizing 20x10 to 40x20 hi"]


def test_a_cancel_stops_a_stream_without_killing_the_worker(cog_server: GenqServer) -> None:
    """A streaming job canceled while it runs ends canceled at its next item: the worker
    process is not killed for it."""
    with cog_server.client() as api:
        workers = cog_server.worker_pids()
        prompt = " ".join(f"w{n}" for n in range(100))
        job = api.post(
            "/v1/jobs", json={"model": "words", "input": {"prompt": prompt, "delay_ms": 100}}
        ).json()

        def streaming() -> bool:
            return bool(api.get(f"/v1/jobs/{job['id']}").json()["progress"]["step"])

        wait_until(streaming)
        canceled = time.monotonic()
        assert api.post(f"/v1/jobs/{job['id']}/cancel").status_code in (200, 202)
        done = wait_for(api, job["id"])
        assert done["status"] == "canceled"
        # Well within the grace period after which a worker would be killed.
        assert time.monotonic() - canceled < cog_server.settings["cancel_grace_seconds"]
        assert cog_server.worker_pids() == workers


def test_the_example_runs_through_replicates_own_client(
    cog_server: GenqServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Replicate's official client, pointed at genq by REPLICATE_BASE_URL alone, runs the
    example folder by name: the image it uploads is resized and the output is the PNG's URL
    (a plain string over http); the streaming example's words come as the client's stream."""
    replicate = pytest.importorskip("replicate")
    monkeypatch.setenv("REPLICATE_BASE_URL", f"{cog_server.url}/replicate")
    monkeypatch.setenv("REPLICATE_API_TOKEN", cog_server.key)
    client = replicate.Client()
    client.poll_interval = 0.1
    picture = tmp_path / "picture.png"
    Image.new("RGB", (12, 8), "red").save(picture)
    try:
        with picture.open("rb") as file:
            output = client.run("genq/resize", input={"image": file, "scale": 0.5})
        streamed = list(client.stream("genq/words", input={"prompt": "one two three"}))
    finally:
        client._client.close()
    assert isinstance(output, str)
    assert output.startswith("http://")
    with cog_server.client() as api:
        resized = Image.open(io.BytesIO(api.get(output).content))
    assert (resized.format, resized.size) == ("PNG", (6, 4))
    assert "".join(str(event) for event in streamed) == "one two three"
