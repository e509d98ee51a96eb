"""NetMind's legacy job dialect (``/v1/netmind-video-job``, ``/v1/netmind-image-job``),
through real HTTP against a real ``genq serve``, with the requests of the vendor's own curl
and Python examples (only host and key replaced)."""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any

import av
import httpx
import pytest
from PIL import Image

from tests.conftest import GenqServer

pytestmark = pytest.mark.backends("sqlite")

VIDEO = "/v1/netmind-video-job"
IMAGE = "/v1/netmind-image-job"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
UPDATE_AT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
FINAL = ("succeed", "failed")

VIDEO_PROMPT = (
    "A sci-fi and historical drama that tells the story of a time traveler\u2019s experiences "
    "across different historical periods and how they influence major events."
)
#: The video example's body, as its curl sends it (``--data``).
VIDEO_CURL_BODY = """{
      "job_type":"text2video",
      "config": {
        "prompt": "PROMPT"
      }
}""".replace("PROMPT", VIDEO_PROMPT)
VIDEO_PYTHON_BODY = json.dumps({"job_type": "text2video", "config": {"prompt": VIDEO_PROMPT}})
#: The request as the document's answer echoes it, defaults filled in.
VIDEO_ORIGINAL_REQUEST = {
    "job_type": "text2video",
    "config": {
        "prompt": VIDEO_PROMPT,
        "negative_prompt": None,
        "settings": {"seed": -1, "aspect_ratio": "16:9", "resolution": 720, "duration": 4},
        "gen_mode": "standard",
        "is_public": True,
        "use_ff_cond": None,
        "is_enable_prompt_enhancer": None,
    },
}

#: The image example's body, as its curl sends it (``--data-raw``, no Content-Type).
IMAGE_CURL_BODY = """{
    "config": {
        "prompt": "An angry dog with a lollipop",
        "settings": {
            "seed": 123,
            "resolution": 720,
            "aspect_ratio": "16:9"
        },
        "config": {
            "image_number": 2
        }
    },
    "job_type": "text2image"
}"""
IMAGE_CONFIG: dict[str, Any] = {
    "prompt": "An angry dog with a lollipop",
    "settings": {"seed": 123, "resolution": 720, "aspect_ratio": "16:9"},
    "config": {"image_number": 2},
}
IMAGE_PYTHON_BODY = json.dumps({"config": IMAGE_CONFIG, "job_type": "text2image"}, indent=4)
IMAGE_ORIGINAL_REQUEST = {
    "config": {**IMAGE_CONFIG, "negative_prompt": None},
    "job_type": "text2image",
}

JOB_FIELDS = {
    "job_id",
    "user_id",
    "name",
    "description",
    "payment_type",
    "status",
    "meta_info",
    "created_at",
    "updated_at",
    "deleted_at",
    "is_deleted",
    "outputs",
}


def bearer(server: GenqServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.key}"}


def json_headers(server: GenqServer) -> dict[str, str]:
    return {"Content-Type": "application/json", **bearer(server)}


def create(server: GenqServer, path: str, body: str, headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}{path}", headers=headers, content=body, timeout=30)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def poll(server: GenqServer, path: str, job_id: str, timeout: float = 120) -> dict[str, Any]:
    """Get the job until it has succeeded or failed, as a client of the vendor does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{server.url}{path}/{job_id}", headers=bearer(server), timeout=30)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        assert job["status"] in ("initializing", "running", *FINAL)
        if job["status"] in FINAL:
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def download(url: str) -> bytes:
    response = httpx.get(url, timeout=30, follow_redirects=True)
    assert response.status_code == 200, url
    return response.content


def assert_job_shape(job: dict[str, Any], original_request: dict[str, Any]) -> None:
    assert set(job) == JOB_FIELDS
    assert job["job_id"].startswith("job_")
    assert job["user_id"]
    assert (job["name"], job["description"], job["payment_type"]) == ("", "", "usd")
    assert job["meta_info"]["original_request"] == original_request
    assert "netmind_api_token" not in job["meta_info"]
    assert ISO.match(job["created_at"]), job["created_at"]
    assert ISO.match(job["updated_at"]), job["updated_at"]
    assert job["deleted_at"] is None
    assert job["is_deleted"] is False


def assert_just_created(job: dict[str, Any], original_request: dict[str, Any]) -> None:
    assert_job_shape(job, original_request)
    assert job["status"] == "initializing"
    assert job["outputs"] == {}
    assert "update_at" not in job["meta_info"]


def check_video(job: dict[str, Any]) -> None:
    """A finished video job: one MP4 of 4 s with a real first frame, and a thumbnail that is
    a JPEG no larger than the video."""
    assert job["status"] == "succeed", job
    assert UPDATE_AT.match(job["meta_info"]["update_at"])
    [output] = job["outputs"]
    assert set(output) == {"id", "media_url", "thumbnail_url"}
    with av.open(io.BytesIO(download(output["media_url"])), mode="r") as container:
        stream = container.streams.video[0]
        assert container.duration is not None
        assert container.duration / av.time_base == pytest.approx(4, abs=0.1)
        frame = next(container.decode(stream))
        size = (frame.width, frame.height)
    assert frame.to_ndarray(format="rgb24").std() > 0
    thumbnail = Image.open(io.BytesIO(download(output["thumbnail_url"])))
    assert thumbnail.format == "JPEG"
    assert thumbnail.width <= size[0]
    assert thumbnail.height <= size[1]


@pytest.mark.parametrize(
    ("body", "headers"),
    [(VIDEO_CURL_BODY, json_headers), (VIDEO_PYTHON_BODY, json_headers)],
    ids=["curl", "python"],
)
def test_video_examples_make_a_4_second_video_with_a_thumbnail(
    server: GenqServer, body: str, headers: Any
) -> None:
    """The video examples create an initializing job echoing the request with the vendor's
    defaults, which succeeds with one 4 s MP4 and a JPEG thumbnail of its first frame."""
    created = create(server, VIDEO, body, headers(server))
    assert_just_created(created, VIDEO_ORIGINAL_REQUEST)
    done = poll(server, VIDEO, created["job_id"])
    assert_job_shape(done, VIDEO_ORIGINAL_REQUEST)
    assert done["created_at"] == created["created_at"]
    check_video(done)


@pytest.mark.parametrize(
    ("body", "headers"),
    [(IMAGE_CURL_BODY, bearer), (IMAGE_PYTHON_BODY, json_headers)],
    ids=["curl-no-content-type", "python"],
)
def test_image_examples_make_two_1280x720_images(
    server: GenqServer, body: str, headers: Any
) -> None:
    """The image examples (the curl one sends no Content-Type) create a job that succeeds with
    two 1280x720 images, image_number 2 at resolution 720 and 16:9."""
    created = create(server, IMAGE, body, headers(server))
    assert_just_created(created, IMAGE_ORIGINAL_REQUEST)
    done = poll(server, IMAGE, created["job_id"])
    assert_job_shape(done, IMAGE_ORIGINAL_REQUEST)
    assert done["status"] == "succeed", done
    assert len(done["outputs"]) == 2
    for output in done["outputs"]:
        assert set(output) == {"id", "media_url"}
        image = Image.open(io.BytesIO(download(output["media_url"])))
        assert image.size == (1280, 720)
    assert len({o["id"] for o in done["outputs"]}) == 2


def test_image_number_defaults_to_one_and_request_keys_are_kept(server: GenqServer) -> None:
    """An image request without config.config echoes image_number 1 and keeps the request's
    own extra keys (a name is the job's name); it makes one image."""
    body = {"job_type": "text2image", "name": "dog", "config": {"prompt": "a dog", "style": "flat"}}
    created = create(server, IMAGE, json.dumps(body), json_headers(server))
    assert created["name"] == "dog"
    assert created["meta_info"]["original_request"] == {
        "job_type": "text2image",
        "name": "dog",
        "config": {
            "prompt": "a dog",
            "style": "flat",
            "negative_prompt": None,
            "settings": {},
            "config": {"image_number": 1},
        },
    }
    done = poll(server, IMAGE, created["job_id"])
    assert done["status"] == "succeed", done
    assert len(done["outputs"]) == 1


def test_video_settings_left_null_get_the_defaults(server: GenqServer) -> None:
    """Video settings that are missing or null echo the vendor's defaults, given ones are
    kept; a job deleted before it finishes is gone."""
    body = {
        "job_type": "text2video",
        "config": {"prompt": "a", "settings": {"seed": 7, "duration": None}},
    }
    created = create(server, VIDEO, json.dumps(body), json_headers(server))
    settings = created["meta_info"]["original_request"]["config"]["settings"]
    assert settings == {"seed": 7, "duration": 4, "aspect_ratio": "16:9", "resolution": 720}
    url = f"{server.url}{VIDEO}/{created['job_id']}"
    assert httpx.delete(url, headers=bearer(server), timeout=30).json() == {}
    assert httpx.get(url, headers=bearer(server), timeout=30).status_code == 404


@pytest.mark.backends("sqlite", "postgres")
def test_full_life_create_poll_download_list_delete(server: GenqServer) -> None:
    """A video job is created, polled to success, downloaded, listed with its total, the same
    job in the native API, deleted (``{}``), and then answers 404."""
    created = create(server, VIDEO, VIDEO_PYTHON_BODY, json_headers(server))
    done = poll(server, VIDEO, created["job_id"])
    check_video(done)

    with server.client() as api:
        native = api.get(f"/v1/jobs/{created['job_id']}").json()
    assert native["status"] == "succeeded"
    assert native["model"] == "demo-video"
    assert native["origin"] == {"api": "netmind-video-job", "model": "text2video"}

    listed = httpx.get(
        f"{server.url}{VIDEO}?page=1&page_size=10", headers=bearer(server), timeout=30
    ).json()
    assert set(listed) == {"total_count", "job_list"}
    assert listed["total_count"] >= 1
    assert listed["job_list"][0]["job_id"] == created["job_id"]
    assert_job_shape(listed["job_list"][0], VIDEO_ORIGINAL_REQUEST)

    url = f"{server.url}{VIDEO}/{created['job_id']}"
    deleted = httpx.delete(url, headers=bearer(server), timeout=30)
    assert deleted.status_code == 200
    assert deleted.json() == {}
    assert httpx.get(url, headers=bearer(server), timeout=30).status_code == 404
    assert httpx.delete(url, headers=bearer(server), timeout=30).status_code == 404
    media = httpx.get(done["outputs"][0]["media_url"], timeout=30, follow_redirects=True)
    assert media.status_code in (403, 404)
    after = httpx.get(
        f"{server.url}{VIDEO}?page=1&page_size=10", headers=bearer(server), timeout=30
    ).json()
    assert created["job_id"] not in [j["job_id"] for j in after["job_list"]]
    assert after["total_count"] == listed["total_count"] - 1


def test_each_endpoint_lists_and_finds_only_its_own_jobs(server: GenqServer) -> None:
    """The video list holds video jobs only and the image list image jobs only, newest first,
    paged by page and page_size; a job of the other endpoint (or a native job) is a 404."""
    video = create(server, VIDEO, VIDEO_PYTHON_BODY, json_headers(server))
    images = [create(server, IMAGE, IMAGE_PYTHON_BODY, json_headers(server)) for _ in range(2)]
    with server.client() as api:
        native = api.post("/v1/jobs", json={"model": "noop", "input": {}}).json()

    def listing(path: str, page: int, page_size: int) -> dict[str, Any]:
        url = f"{server.url}{path}?page={page}&page_size={page_size}"
        response = httpx.get(url, headers=bearer(server), timeout=30)
        assert response.status_code == 200
        listed: dict[str, Any] = response.json()
        return listed

    video_ids = [j["job_id"] for j in listing(VIDEO, 1, 100)["job_list"]]
    image_list = listing(IMAGE, 1, 100)
    image_ids = [j["job_id"] for j in image_list["job_list"]]
    assert video["job_id"] in video_ids
    assert not {i["job_id"] for i in images} & set(video_ids)
    assert video["job_id"] not in image_ids
    assert native["id"] not in video_ids + image_ids
    assert image_ids.index(images[1]["job_id"]) < image_ids.index(images[0]["job_id"])
    assert image_list["total_count"] == len(image_ids)

    first, second = listing(IMAGE, 1, 1), listing(IMAGE, 2, 1)
    assert first["total_count"] == second["total_count"] == len(image_ids)
    assert [first["job_list"][0]["job_id"], second["job_list"][0]["job_id"]] == image_ids[:2]

    for path, job_id in (
        (IMAGE, video["job_id"]),
        (VIDEO, images[0]["job_id"]),
        (VIDEO, native["id"]),
    ):
        response = httpx.get(f"{server.url}{path}/{job_id}", headers=bearer(server), timeout=30)
        assert response.status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (VIDEO, {"job_type": "text2image", "config": {"prompt": "a"}}, "job_type"),
        (VIDEO, {"job_type": "image2video", "config": {"prompt": "a"}}, "job_type"),
        (IMAGE, {"job_type": "text2video", "config": {"prompt": "a"}}, "job_type"),
        (IMAGE, {"config": {"prompt": "a"}}, "job_type"),
        (VIDEO, {"job_type": "text2video", "config": {}}, "config/prompt"),
        (IMAGE, {"job_type": "text2image", "config": {"prompt": " "}}, "config/prompt"),
        (VIDEO, {"job_type": "text2video"}, "config"),
        (
            VIDEO,
            {"job_type": "text2video", "config": {"prompt": "a", "settings": 3}},
            "config/settings",
        ),
        (
            VIDEO,
            {"job_type": "text2video", "config": {"prompt": "a", "settings": {"duration": 99}}},
            None,
        ),
        (
            IMAGE,
            {"job_type": "text2image", "config": {"prompt": "a", "config": [2]}},
            "config/config",
        ),
    ],
)
def test_bad_requests_get_a_422_naming_the_field(
    server: GenqServer, path: str, body: dict[str, Any], field: str | None
) -> None:
    """A wrong or missing job_type, a missing prompt or settings the model cannot take answer
    422 with the field's path."""
    response = httpx.post(
        f"{server.url}{path}", headers=json_headers(server), content=json.dumps(body), timeout=30
    )
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "validation_error"
    assert error["detail"]
    if field is not None:
        assert error["errors"][0]["path"] == field


def test_body_that_is_not_json_is_a_400(server: GenqServer) -> None:
    """A body that is not JSON answers 400 invalid_json."""
    response = httpx.post(
        f"{server.url}{IMAGE}", headers=bearer(server), content=b"job_type=text2image", timeout=30
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


def test_unknown_job_is_a_404(server: GenqServer) -> None:
    """Getting or deleting a job id that does not exist answers 404 on both endpoints."""
    for path in (VIDEO, IMAGE):
        for method in ("GET", "DELETE"):
            response = httpx.request(
                method, f"{server.url}{path}/job_doesnotexist", headers=bearer(server), timeout=30
            )
            assert response.status_code == 404
            assert response.json()["code"] == "job_not_found"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-key"])
def test_a_request_without_a_valid_key_is_a_401(
    server: GenqServer, authorization: str | None
) -> None:
    """Every route of both endpoints answers 401 without a key or with an unknown one."""
    headers = {} if authorization is None else {"Authorization": authorization}
    for path, body in ((VIDEO, VIDEO_PYTHON_BODY), (IMAGE, IMAGE_PYTHON_BODY)):
        for method, url, content in (
            ("POST", path, body),
            ("GET", f"{path}?page=1&page_size=10", None),
            ("GET", f"{path}/job_x", None),
            ("DELETE", f"{path}/job_x", None),
        ):
            response = httpx.request(
                method, f"{server.url}{url}", headers=headers, content=content, timeout=30
            )
            assert response.status_code == 401, (method, url)
            assert response.json()["code"] == "unauthorized"


def test_a_failed_job_reads_failed_with_its_error(make_server: Any) -> None:
    """A job whose model fails reads ``failed`` with the error in meta_info and no outputs."""
    server = make_server(
        toml='[aliases.text2video]\nmodel = "noop"\ninput = { fail = "the reel snapped" }\n'
    )
    created = create(server, VIDEO, VIDEO_PYTHON_BODY, json_headers(server))
    done = poll(server, VIDEO, created["job_id"])
    assert done["status"] == "failed"
    assert done["outputs"] == []
    assert done["meta_info"]["error"]["message"] == "the reel snapped"
    assert UPDATE_AT.match(done["meta_info"]["update_at"])
