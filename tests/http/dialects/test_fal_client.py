"""fal's official client (``fal-client``), unmodified, against a real ``genq serve`` over TLS.

The client speaks only https and reads its hosts at import: the module points
``FAL_QUEUE_RUN_HOST`` and ``FAL_RUN_HOST`` at the server's ``/fal/queue`` and ``/fal/run``,
``FAL_KEY`` at its key and ``SSL_CERT_FILE`` at the test authority, then imports the client
again so that it reads them, as its documentation says to set them: before the import.
"""

from __future__ import annotations

import importlib
import io
import itertools
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx
import orjson
import pytest
from PIL import Image
from standardwebhooks import Webhook

from tests.conftest import Backend, GenqServer, wait_until
from tests.tls import TlsFiles, tls_files
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return tls_files(tmp_path_factory.mktemp("fal-tls"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[GenqServer]:
    directory = tmp_path_factory.mktemp("fal-client")
    server = GenqServer(
        directory / "data",
        backend=Backend("sqlite"),
        tls_ca=str(tls.ca),
        tls_cert=str(tls.cert),
        tls_key=str(tls.key),
        # The webhook receiver of these tests listens on plain HTTP on loopback.
        webhook_allow_http=True,
        webhook_allow_private=True,
    ).start()
    yield server
    server.close()


def import_client() -> ModuleType:
    """``fal_client`` imported again: its hosts are read from the environment at import."""
    import fal_client
    import fal_client.auth
    import fal_client.client

    importlib.reload(fal_client.auth)
    importlib.reload(fal_client.client)
    return importlib.reload(fal_client)


@pytest.fixture(scope="module")
def fal(server: GenqServer, tls: TlsFiles) -> Iterator[ModuleType]:
    """The client, set up through its documented environment variables."""
    host = f"127.0.0.1:{server.port}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FAL_QUEUE_RUN_HOST", f"{host}/fal/queue")
        env.setenv("FAL_RUN_HOST", f"{host}/fal/run")
        env.setenv("FAL_KEY", server.key)
        env.setenv("SSL_CERT_FILE", str(tls.ca))
        client = import_client()
        yield client
    # The client keeps its connections open, which the server would wait for as it stops;
    # it has no public way to close them.
    for made in (client.sync_client, client.async_client):
        http = vars(made).get("_client")
        if isinstance(http, httpx.Client):
            http.close()
    import_client()


def download(server: GenqServer, url: str) -> httpx.Response:
    assert url.startswith(f"{server.url}/"), url
    response = httpx.get(url, verify=server.verify)
    assert response.status_code == 200
    return response


def test_subscribe_sees_queue_updates_and_logs_then_the_result(
    fal: ModuleType, server: GenqServer
) -> None:
    """``subscribe`` with logs on an app id with a path reports the request queued or in
    progress, then completed with the model's log lines, and returns fal's image result,
    whose image downloads over TLS."""
    updates: list[Any] = []
    enqueued: list[str] = []
    result = fal.subscribe(
        "fal-ai/flux/schnell",
        arguments={"prompt": "a red kite", "image_size": "square_hd", "num_inference_steps": 50},
        with_logs=True,
        on_enqueue=enqueued.append,
        on_queue_update=updates.append,
    )
    assert enqueued[0].startswith("job_")
    *pending, done = updates
    assert pending, "no update came before the request completed"
    assert all(isinstance(update, fal.Queued | fal.InProgress) for update in pending)
    for update in pending:
        if isinstance(update, fal.InProgress):
            assert isinstance(update.logs, list)
    assert isinstance(done, fal.Completed)
    assert any("seed" in line["message"] for line in done.logs)
    assert done.metrics["inference_time"] > 0
    [image] = result["images"]
    assert (image["width"], image["height"], image["content_type"]) == (1024, 1024, "image/png")
    assert result["prompt"] == "a red kite"
    assert result["has_nsfw_concepts"] == [False]
    picture = Image.open(io.BytesIO(download(server, image["url"]).content))
    assert picture.size == (1024, 1024)


def test_submit_then_status_and_result_by_request_id(fal: ModuleType) -> None:
    """``submit`` answers a handle; ``status`` and ``result`` by app and request id (the
    URLs the client rebuilds itself) follow the same request to its result."""
    handle = fal.submit("genq/demo-image", arguments={"prompt": "pebbles", "seed": 3})
    status = fal.status("genq/demo-image", handle.request_id, with_logs=True)
    assert isinstance(status, fal.Queued | fal.InProgress | fal.Completed)
    result = fal.result("genq/demo-image", handle.request_id)
    assert result["seed"] == 3
    assert result["images"][0]["url"].startswith("https://")
    done = fal.status("genq/demo-image", handle.request_id)
    assert isinstance(done, fal.Completed)
    assert done.logs is None
    assert unsigned(handle.get()) == unsigned(result)


def test_cancel_stops_a_request_and_its_result_says_so(fal: ModuleType, server: GenqServer) -> None:
    """``cancel`` stops a running request; its result then raises the client's error with
    client_cancelled, and cancelling it again raises ALREADY_COMPLETED's 400."""
    handle = fal.submit("genq/noop", arguments={"sleep_ms": 60_000, "steps": 600})
    wait_until(lambda: isinstance(handle.status(), fal.InProgress))
    fal.cancel("genq/noop", handle.request_id)
    with pytest.raises(fal.FalClientHTTPError) as ended:
        fal.result("genq/noop", handle.request_id)
    assert (ended.value.status_code, ended.value.error_type) == (499, "client_cancelled")
    with pytest.raises(fal.FalClientHTTPError) as again:
        handle.cancel()
    assert again.value.status_code == 400
    assert again.value.response.json()["status"] == "ALREADY_COMPLETED"
    with server.client() as native:
        assert native.get(f"/v1/jobs/{handle.request_id}").json()["status"] == "canceled"


def test_a_failed_request_raises_the_clients_error(fal: ModuleType) -> None:
    """A request whose model fails raises ``FalClientHTTPError`` from ``subscribe`` with the
    model's message and error type; an invalid argument raises it at submit, with each
    refused field."""
    with pytest.raises(fal.FalClientHTTPError) as failed:
        fal.subscribe("genq/noop", arguments={"fail": "out of paint"})
    assert str(failed.value) == "out of paint"
    assert (failed.value.status_code, failed.value.error_type) == (500, "runner_server_error")
    with pytest.raises(fal.FalClientHTTPError) as refused:
        fal.submit("genq/demo-image", arguments={"prompt": "x", "num_images": 99})
    assert refused.value.status_code == 422
    [issue] = refused.value.message
    assert issue["loc"] == ["body", "num_images"]


def test_run_answers_the_result_at_once(fal: ModuleType, server: GenqServer) -> None:
    """``run`` (fal's synchronous host) answers the result itself, and raises the client's
    error for a request that fails."""
    result = fal.run("fal-ai/flux/dev", arguments={"prompt": "moss", "image_size": "square"})
    [image] = result["images"]
    assert (image["width"], image["height"]) == (512, 512)
    assert download(server, image["url"]).headers["content-type"] == "image/png"
    text = fal.run("genq/noop", arguments={"output_text": "plain words"})
    assert text == {"output": "plain words", "partial": False, "reasoning": None, "error": None}
    with pytest.raises(fal.FalClientHTTPError) as failed:
        fal.run("genq/noop", arguments={"fail": "no luck"})
    assert (failed.value.status_code, str(failed.value)) == (500, "no luck")


def test_a_webhook_gets_fals_body_signed_as_genq_signs(fal: ModuleType, server: GenqServer) -> None:
    """``submit(webhook_url=...)`` has the request's end posted there in fal's shape (status
    OK, the result as payload), signed per Standard Webhooks with the account's secret."""
    receiver = Receiver()
    try:
        handle = fal.submit(
            "genq/demo-image", arguments={"prompt": "a gull"}, webhook_url=receiver.url
        )
        [call] = receiver.wait(1)
    finally:
        receiver.close()
    body = call.json
    assert (body["request_id"], body["status"], body["error"]) == (handle.request_id, "OK", None)
    assert unsigned(body["payload"]) == unsigned(handle.get())
    with server.client() as native:
        secret = native.get("/v1/webhooks/default/secret").json()["key"]
    Webhook(secret).verify(call.body, call.headers)


def test_stream_sends_the_text_as_it_is_written_then_the_result(fal: ModuleType) -> None:
    """``stream`` of a text model gets the text so far as the model writes it, each event
    longer than the last, then the whole result."""
    events = list(fal.stream("fal-ai/any-llm", arguments={"prompt": "the sea", "max_tokens": 24}))
    *partials, result = events
    assert partials, "no text came before the result"
    assert all(event["partial"] is True for event in partials)
    texts = [event["output"] for event in partials]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(texts))
    assert result["partial"] is False
    assert result["output"] == texts[-1]
    assert len(result["output"].split()) == 24


def unsigned(result: dict[str, Any]) -> dict[str, Any]:
    """A result with its links' signatures (made anew for each answer) taken out."""
    images = [{**image, "url": image["url"].split("?")[0]} for image in result["images"]]
    return {**result, "images": images}


def test_the_status_stream_follows_a_request_to_completed(
    fal: ModuleType, server: GenqServer
) -> None:
    """The status stream (which fal's JavaScript client reads) sends the request's status at
    each change, ending with COMPLETED."""
    handle = fal.submit("genq/noop", arguments={"sleep_ms": 300, "steps": 3})
    headers = {"Authorization": f"Key {server.key}"}
    statuses = []
    with httpx.stream(
        "GET", handle.status_url + "/stream", headers=headers, verify=server.verify, timeout=60
    ) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                statuses.append(orjson.loads(line.removeprefix("data:"))["status"])
    assert statuses[-1] == "COMPLETED"
    assert set(statuses) <= {"IN_QUEUE", "IN_PROGRESS", "COMPLETED"}
    assert statuses.count("COMPLETED") == 1
