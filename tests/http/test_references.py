"""Reference inputs (the image of an image-to-image job, an inpainting mask, the first frame of
an image-to-video job) are checked when the job is submitted, on the native API and on every
vendor dialect: what no fetch could ever use is a 422 naming the field, not a job that fails
later. Nothing here is fetched: the models' weights do not even exist, and no worker runs."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")

CONFIG = """
[models.i2i]
runtime = "diffusers"
source = "{missing}"
task = "image-to-image"

[models.inpaint]
runtime = "diffusers"
source = "{missing}"
task = "inpainting"

[models.i2v]
runtime = "diffusers"
source = "{missing}"
task = "image-to-video"
size_multiple = 32
"""

SCHEME = "only http://, https:// and data: references are accepted"


def png_uri() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    directory = tmp_path_factory.mktemp("references")
    toml = CONFIG.format(missing=directory / "no-weights")
    server = GenqServer(directory / "data", toml=toml, workers=0).start()
    yield server
    server.close()


def native(server: GenqServer, model: str, **input: Any) -> httpx.Response:
    with server.client() as client:
        return client.post("/v1/jobs", json={"model": model, "input": input})


@pytest.mark.parametrize(
    ("model", "field", "ref", "message"),
    [
        ("i2i", "image", "hello", SCHEME),
        ("i2i", "image", "file:///etc/passwd", SCHEME),
        ("i2i", "image", "ftp://example.com/cat.png", SCHEME),
        ("i2i", "image", "javascript:alert(1)", SCHEME),
        ("i2i", "image", "//example.com/cat.png", SCHEME),
        ("i2i", "image", "https://user:secret@example.com/cat.png", "URLs with credentials"),
        ("i2i", "image", "https://[::1/cat.png", "not a valid URL"),
        ("i2i", "image", "https:///cat.png", "the URL has no host"),
        ("i2i", "image", "data:image/png;base64,iVBOR!!w0KGgo", "its base64 data is not valid"),
        ("i2i", "image", "data:image/png;base64", "a data: URI needs a comma"),
        ("i2i", "image", "data:text/plain,hello", "not an image (text/plain)"),
        ("inpaint", "mask_image", "file:///etc/shadow", SCHEME),
        ("i2v", "image", "hello", SCHEME),
    ],
)
def test_unusable_references_are_refused_at_submit(
    server: GenqServer, model: str, field: str, ref: str, message: str
) -> None:
    """A reference that is no http(s) URL or valid image data: URI is a 422 naming its field."""
    input = {"prompt": "x", "image": png_uri(), "mask_image": png_uri(), field: ref}
    if model != "inpaint":
        del input["mask_image"]
    response = native(server, model, **input)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    [detail] = error["details"]
    assert detail["path"] == f"input/{field}"
    assert detail["message"].startswith(message)
    assert len(error["message"]) < 300, "a refused data: URI is not quoted whole"


def test_a_long_refused_data_uri_is_not_quoted(server: GenqServer) -> None:
    """A refused data: URI of 100 KB is named by its field, not repeated in the answer."""
    ref = "data:image/png;base64," + base64.b64encode(bytes(100_000)).decode()
    response = native(server, "i2i", prompt="x", image=ref)
    assert response.status_code == 422, response.text
    assert len(response.text) < 1000
    assert response.json()["error"]["details"] == [
        {
            "path": "input/image",
            "message": "not a PNG, JPEG, WebP or GIF image (declared as image/png)",
        }
    ]


@pytest.mark.parametrize(
    "ref",
    ["https://example.com/cat.png", "http://images.example.com/cat.png?size=2", "PNG"],
)
def test_usable_references_are_accepted_without_fetching(server: GenqServer, ref: str) -> None:
    """http(s) URLs and image data: URIs pass at submit; only the worker fetches them."""
    ref = png_uri() if ref == "PNG" else ref
    response = native(server, "i2i", prompt="x", image=ref)
    assert response.status_code == 202, response.text


def test_segmind_refuses_an_unusable_reference(server: GenqServer) -> None:
    """Segmind's submit answers its 422 with the field and the reason."""
    response = httpx.post(
        f"{server.url}/v2/i2i",
        headers={"x-api-key": server.key},
        json={"prompt": "x", "image": "file:///etc/passwd"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["status"] == "FAILED"
    assert f"input/image: {SCHEME}" in response.json()["error"]


def test_netmind_refuses_an_unusable_reference(server: GenqServer) -> None:
    """NetMind's create names the field in its errors list."""
    response = httpx.post(
        f"{server.url}/v1/generation",
        headers={"Authorization": f"Bearer {server.key}"},
        json={"model": "i2i", "config": {"prompt": "x", "image_url": "hello"}},
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"] == [{"path": "input/image", "message": SCHEME}]


def test_mindvideo_refuses_an_unusable_reference(server: GenqServer) -> None:
    """MindVideo's create task answers its error shape with the field's path."""
    response = httpx.post(
        f"{server.url}/api/v1/tasks",
        headers={"Authorization": f"Bearer {server.key}"},
        json={"model": "i2v", "input": {"prompt": "x", "image": "data:text/plain,hi"}},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["path"] == "input/image"


def test_oxen_refuses_an_unusable_reference(server: GenqServer) -> None:
    """Oxen's queue refuses the generation before anything is queued."""
    response = httpx.post(
        f"{server.url}/api/ai/queue",
        headers={"Authorization": f"Bearer {server.key}"},
        json={"model": "i2i", "prompt": "x", "input_image": "file:///etc/passwd"},
    )
    assert response.status_code == 422, response.text
    assert f"input/image: {SCHEME}" in response.json()["error"]


def test_the_schema_says_what_a_reference_is(server: GenqServer) -> None:
    """The published input schema marks references and names the accepted forms."""
    with server.client() as client:
        schema = client.get("/v1/models/inpaint").json()["input_schema"]
    for field in ("image", "mask_image"):
        assert schema["properties"][field]["format"] == "image-reference"
        assert "http(s) URL or a data: URI" in schema["properties"][field]["description"]
