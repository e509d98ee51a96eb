"""Replicate's official Python client, unmodified, against a real ``genq serve``: only its base
URL (``.../replicate``) and token point it at genq."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import replicate
import standardwebhooks
from PIL import Image, ImageOps
from replicate.exceptions import ModelError, ReplicateError

from tests.conftest import Backend, GenqServer
from tests.webhooks.receiver import Receiver

#: A model of the tests' own that takes a reference image (a file input).
MIRROR = '[models.mirror]\nentrypoint = "tests.http.dialects.replicate_models:Mirror"\n'


@pytest.fixture(scope="module")
def genq(tmp_path_factory: pytest.TempPathFactory, shared_backend: Backend) -> Iterator[GenqServer]:
    """One server for the module, which may call webhooks on this machine over http."""
    directory = tmp_path_factory.mktemp(f"replicate-{shared_backend.name}")
    server = GenqServer(
        directory / "data",
        toml=MIRROR,
        backend=shared_backend,
        webhook_allow_http=True,
        webhook_allow_private=True,
        webhook_backoff_seconds=0.3,
    ).start()
    yield server
    server.close()


def client_of(server: GenqServer, key: str | None = None) -> replicate.Client:
    client = replicate.Client(api_token=key or server.key, base_url=f"{server.url}/replicate")
    client.poll_interval = 0.1
    return client


@pytest.fixture
def client(genq: GenqServer) -> Iterator[replicate.Client]:
    made = client_of(genq)
    yield made
    # The client keeps its connections open for good: close them (it has no close of its own).
    made._client.close()


def download(url: str) -> bytes:
    answer = httpx.get(url)
    assert answer.status_code == 200, answer.text
    return answer.content


def png_file(tmp_path: Path, width: int = 48, height: int = 32) -> Path:
    """A small picture whose left and right halves differ."""
    picture = Image.new("RGB", (width, height), "navy")
    picture.paste(Image.new("RGB", (width // 2, height), "orange"), (0, 0))
    path = tmp_path / "input.png"
    picture.save(path)
    return path


def test_main_flow(genq: GenqServer, client: replicate.Client, tmp_path: Path) -> None:
    """run() by model answers the image's URL (a plain string over http), predictions.get
    reads it back, and a file input is uploaded by the client and read by the model."""
    output = client.run("genq/demo-image", input={"prompt": "a lighthouse", "num_outputs": 2})
    assert isinstance(output, list)
    assert len(output) == 2
    assert all(isinstance(url, str) and url.startswith("http://") for url in output)
    pictures = [Image.open(io.BytesIO(download(url))) for url in output]
    assert [p.format for p in pictures] == ["PNG", "PNG"]

    source = png_file(tmp_path)
    with source.open("rb") as image:
        mirrored = client.run("genq/mirror", input={"image": image})
    assert isinstance(mirrored, str)
    expected = ImageOps.mirror(Image.open(source).convert("RGB"))
    got = Image.open(io.BytesIO(download(mirrored))).convert("RGB")
    assert got.tobytes() == expected.tobytes()
    latest = client.predictions.list().results[0]
    assert latest.model == "genq/mirror"
    again = client.predictions.get(latest.id)
    assert (again.status, again.model) == ("succeeded", "genq/mirror")
    assert isinstance(again.output, str)
    assert download(again.output) == download(mirrored)
    assert again.input is not None
    assert again.input["image"].startswith(f"{genq.url}/replicate/v1/files/")
    assert "mirroring a 48x32 image" in (again.logs or "")


@pytest.mark.backends("sqlite")
def test_run_by_version(client: replicate.Client) -> None:
    """run('genq/demo-image:VERSION') creates by version and reads the version's schema."""
    model = client.models.get("genq/demo-image")
    assert model.latest_version is not None
    version = model.latest_version
    assert len(version.id) == 64
    assert version.openapi_schema["components"]["schemas"]["Input"]["required"] == ["prompt"]
    output = client.run(f"genq/demo-image:{version.id}", input={"prompt": "a fox"})
    assert isinstance(output, list)
    assert len(output) == 1
    assert Image.open(io.BytesIO(download(output[0]))).format == "PNG"
    assert [v.id for v in model.versions.list()] == [version.id]


@pytest.mark.backends("sqlite")
def test_module_functions_use_the_environment(
    genq: GenqServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """replicate.run with only REPLICATE_BASE_URL and REPLICATE_API_TOKEN set reaches genq,
    an alias of a Replicate slug runs the demo model it names."""
    monkeypatch.setenv("REPLICATE_BASE_URL", f"{genq.url}/replicate")
    monkeypatch.setenv("REPLICATE_API_TOKEN", genq.key)
    fresh = replicate.Client()
    try:
        output = fresh.run("black-forest-labs/flux-schnell", input={"prompt": "dunes"})
    finally:
        fresh._client.close()
    assert isinstance(output, list)
    assert Image.open(io.BytesIO(download(output[0]))).format == "PNG"


@pytest.mark.backends("sqlite")
def test_predictions_create_get_wait_and_cancel(client: replicate.Client) -> None:
    """create() answers a starting prediction, wait() follows it to its end, and cancel()
    stops a running one, whose progress the logs show."""
    done = client.predictions.create(model="genq/demo-text", input={"prompt": "rain"})
    assert done.status in ("starting", "processing")
    done.wait()
    assert done.status == "succeeded"
    assert isinstance(done.output, list)
    assert "".join(done.output).endswith(".")
    assert done.metrics is not None
    assert done.metrics["predict_time"] >= 0

    running = client.predictions.create(model="genq/noop", input={"sleep_ms": 20_000, "steps": 10})
    deadline = time.monotonic() + 30
    while running.progress is None and time.monotonic() < deadline:
        time.sleep(0.1)
        running.reload()
    assert running.status == "processing"
    assert running.progress is not None
    assert running.progress.total == 10
    running.cancel()
    running.wait()
    assert running.status == "canceled"
    assert client.predictions.get(running.id).status == "canceled"


@pytest.mark.backends("sqlite")
def test_list_follows_next(genq: GenqServer) -> None:
    """predictions.list() gives the newest 100, and its next URL the rest."""
    lister = client_of(genq, genq.new_key("lister"))
    try:
        made = [lister.predictions.create(model="genq/noop", input={}).id for _ in range(101)]
        first = lister.predictions.list()
        assert len(first.results) == 100
        assert first.next is not None
        second = lister.predictions.list(first.next)
    finally:
        lister._client.close()
    assert second.next is None
    listed = [p.id for p in first.results] + [p.id for p in second.results]
    assert listed == made[::-1]


@pytest.mark.backends("sqlite")
def test_prefer_wait(client: replicate.Client) -> None:
    """A create that waits answers the ended prediction; one whose wait runs out answers
    starting though the model runs, and run() still returns the whole output."""
    # (predictions.create(model=...) drops its wait: the models' own create keeps it.)
    waited = client.models.predictions.create("genq/demo-image", input={"prompt": "x"}, wait=30)
    assert waited.status == "succeeded"
    assert isinstance(waited.output, list)

    slow = {"prompt": "light", "max_tokens": 30, "token_delay_ms": 50}
    cut = client.models.predictions.create("genq/demo-text", input=slow, wait=1)
    assert cut.status == "starting"
    cut.wait()
    output = client.run("genq/demo-text", input=slow, wait=1)
    assert isinstance(output, list)
    assert "".join(output) == "".join(cut.output or [])
    assert len("".join(output).split()) == 30


@pytest.mark.backends("sqlite")
def test_stream_text(client: replicate.Client) -> None:
    """replicate.stream() over a text model yields its text as it is written, then done; the
    pieces make the prediction's output."""
    events = list(
        client.stream("genq/demo-text", input={"prompt": "waves", "max_tokens": 30, "seed": 3})
    )
    kinds = [event.event.value for event in events]
    assert kinds[-1] == "done"
    assert set(kinds) <= {"output", "logs", "done"}
    text = "".join(str(event) for event in events)
    assert len(text.split()) == 30
    ran = client.run("genq/demo-text", input={"prompt": "waves", "max_tokens": 30, "seed": 3})
    assert "".join(ran) == text


@pytest.mark.backends("sqlite")
def test_webhook_with_events_filter(client: replicate.Client) -> None:
    """A webhook with webhook_events_filter ["completed"] gets start (always sent) and
    completed, each a prediction signed with the default secret."""
    receiver = Receiver()
    try:
        prediction = client.predictions.create(
            model="genq/demo-image",
            input={"prompt": "a kite"},
            webhook=receiver.url,
            webhook_events_filter=["completed"],
        )
        calls = receiver.wait(2)
        time.sleep(0.5)  # any call beyond the two would have come by now
        assert len(receiver.calls) == 2
    finally:
        receiver.close()
    secret = client.webhooks.default.secret().key
    verifier = standardwebhooks.Webhook(secret)
    bodies = [verifier.verify(call.body, call.headers) for call in calls]
    assert [body["id"] for body in bodies] == [prediction.id, prediction.id]
    assert bodies[0]["status"] in ("starting", "processing")
    assert bodies[1]["status"] == "succeeded"
    [image] = bodies[1]["output"]
    assert Image.open(io.BytesIO(download(image))).format == "PNG"
    # The client's own check too: it raises on a bad signature.
    replicate.webhooks.validate(
        headers=calls[1].headers,
        body=calls[1].body.decode(),
        secret=client.webhooks.default.secret(),
    )


@pytest.mark.backends("sqlite")
def test_a_failed_prediction_raises_model_error(client: replicate.Client) -> None:
    """run() raises the client's ModelError with the model's message."""
    with pytest.raises(ModelError, match="out of ink") as raised:
        client.run("genq/noop", input={"fail": "out of ink"})
    assert raised.value.prediction.status == "failed"


@pytest.mark.backends("sqlite")
def test_errors_are_replicate_errors(client: replicate.Client) -> None:
    """An unknown model and an invalid input are the client's ReplicateError, with the
    status, title and detail Replicate gives."""
    with pytest.raises(ReplicateError) as missing:
        client.run("nobody/nothing", input={})
    assert (missing.value.status, missing.value.title) == (404, "Not found")
    with pytest.raises(ReplicateError) as invalid:
        client.run("genq/demo-image", input={"prompt": "x", "steps": 500})
    assert invalid.value.status == 422
    assert "input/steps" in (invalid.value.detail or "")
