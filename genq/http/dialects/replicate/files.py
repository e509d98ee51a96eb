"""Replicate's file uploads: ``POST /v1/files`` (multipart ``content``), ``GET`` and
``DELETE /v1/files/{id}``, ``GET /v1/files/{id}/download``; and what a prediction's input
that names one becomes.

The client uploads a file input this way and passes the upload's ``urls.get``, a link to genq
itself. A job never fetches it: the reference fetch refuses loopback and private addresses,
and should. Instead the create hands the job the bytes of the caller's own uploads inline, as
``data:`` URIs (``inline_uploads``); the prediction's ``input`` keeps the link. The uploads
are the job service's (``genq.service.uploads``).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from genq.errors import BadRequest, Missing, ValidationFailed
from genq.http.auth import Auth, Caller
from genq.http.dialects.base import dialect_router, json_object
from genq.http.dialects.replicate import DIALECT
from genq.http.dialects.replicate.errors import errors, render_error
from genq.http.dialects.replicate.predictions import PREFIX, api_root, settings_of
from genq.http.openapi import CALLER, FILE_ANSWERS
from genq.http.render import isotime
from genq.http.responses import JSONResponse
from genq.http.routing import Path as PathParam
from genq.limits import parse_json
from genq.service.uploads import Upload

#: Most uploads one prediction's input may name.
MAX_FILES_NAMED = 16
UPLOAD_ID = re.compile(r"[0-9a-f]{32}")

router = dialect_router(render_error, DIALECT.title)

FILE_ID = PathParam(description="The file's id, as POST /v1/files returned it.", max_length=100)
FILE_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["content"],
                    "properties": {
                        "content": {"type": "string", "format": "binary"},
                        "filename": {"type": "string"},
                        "type": {"type": "string"},
                        "metadata": {"type": "string", "description": "A JSON object."},
                    },
                }
            }
        },
    }
}


def file_object(caller: Caller, upload: Upload) -> dict[str, Any]:
    own = f"{api_root(caller)}/v1/files/{upload.id}"
    return {
        "id": upload.id,
        "name": upload.name,
        "content_type": upload.content_type,
        "size": upload.size,
        "etag": upload.sha256,
        "checksums": {"sha256": upload.sha256},
        "metadata": upload.metadata,
        "created_at": isotime(upload.created_at),
        "expires_at": isotime(upload.expires_at),
        "urls": {"get": f"{own}/download"},
    }


@router.post(
    f"{PREFIX}/v1/files",
    status_code=201,
    summary="Replicate: upload a file for a prediction's input",
    responses=errors(*CALLER, 400, 413, 422, 429),
    openapi_extra=FILE_UPLOAD,
)
async def upload_file(request: Request, caller: Auth) -> Response:
    """The multipart field ``content`` is the file (``filename``, ``type`` and ``metadata``,
    a JSON object, are optional). Its ``urls.get``, given in a prediction's input, hands the
    model the file's bytes. It can be named for ``upload_retention_seconds`` (an hour by
    default); one file holds at most ``reference_max_bytes``, an account at most
    ``max_uploads_per_account`` files and ``max_upload_bytes_per_account`` bytes at once."""
    settings = settings_of(caller)
    try:
        async with request.form(max_files=1, max_fields=10) as form:
            content = form.get("content")
            if not isinstance(content, UploadFile):
                raise ValidationFailed.at("content", "required: the file, a multipart file field")
            metadata = form_metadata(form.get("metadata"), caller.svc.max_json_depth)
            name = text_field(form.get("filename")) or content.filename
            content_type = text_field(form.get("type")) or content.content_type
            with tempfile.TemporaryDirectory() as folder:
                source = Path(folder) / "content"
                await asyncio.to_thread(copy_to, content, source)
                upload = await caller.svc.add_upload(
                    caller.account_id,
                    source,
                    name=name,
                    content_type=content_type,
                    metadata=metadata,
                    keep_seconds=settings.upload_retention_seconds,
                    most_files=settings.max_uploads_per_account,
                    most_bytes=settings.max_upload_bytes_per_account,
                )
    except HTTPException as exc:  # a broken multipart body, as Starlette's parser found it
        raise BadRequest(f"invalid multipart body: {exc.detail}") from None
    return JSONResponse(file_object(caller, upload), status_code=201)


def copy_to(content: UploadFile, target: Path) -> None:
    content.file.seek(0)
    with target.open("wb") as written:
        shutil.copyfileobj(content.file, written, 1 << 20)


def text_field(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def form_metadata(value: Any, max_depth: int) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if not isinstance(value, str):
        raise ValidationFailed.at("metadata", "must be a JSON object")
    return json_object(parse_json(value.encode(), max_depth), "metadata")


@router.get(
    f"{PREFIX}/v1/files/{{file_id}}",
    summary="Replicate: get an uploaded file",
    responses=errors(*CALLER, 404, 422),
)
async def get_file(caller: Auth, file_id: str = FILE_ID) -> Response:
    return JSONResponse(file_object(caller, await caller.svc.upload(caller.account_id, file_id)))


@router.delete(
    f"{PREFIX}/v1/files/{{file_id}}",
    status_code=204,
    answers_json=False,
    summary="Replicate: delete an uploaded file",
    responses=errors(*CALLER, 404, 422),
)
async def delete_file(caller: Auth, file_id: str = FILE_ID) -> Response:
    await caller.svc.delete_upload(caller.account_id, file_id)
    return Response(status_code=204)


@router.get(
    f"{PREFIX}/v1/files/{{file_id}}/download",
    summary="Replicate: download an uploaded file",
    answers_json=False,
    responses={200: FILE_ANSWERS[200], **errors(*CALLER, 404, 422)},
)
async def download_file(caller: Auth, file_id: str = FILE_ID) -> Response:
    upload, data = await caller.svc.upload_content(caller.account_id, file_id)
    return Response(data, media_type=upload.content_type)


async def inline_uploads(caller: Caller, given: dict[str, Any]) -> dict[str, Any]:
    """The input with each link to one of the caller's own uploads replaced by the file's
    bytes, as a ``data:`` URI: the worker could not fetch the link, which names genq itself.
    A link to no upload of the caller's is refused, naming the field."""
    prefix = f"{api_root(caller)}/v1/files/"
    # Places are kept as tuples of keys and indexes: as text, the key "a/0" and the first
    # item of "a" would be one place, and the one's file would replace the other's value.
    named: dict[Place, str] = {}
    for place, value in strings(given, ("input",)):
        if value.startswith(prefix):
            rest = value[len(prefix) :].split("?", 1)[0].removesuffix("/download")
            if not UPLOAD_ID.fullmatch(rest):
                raise ValidationFailed.at(shown(place), "not a link to an uploaded file")
            named[place] = rest
    if not named:
        return given
    if len(set(named.values())) > MAX_FILES_NAMED:
        raise ValidationFailed.at("input", f"names more than {MAX_FILES_NAMED} uploaded files")
    try:
        uris = await caller.svc.upload_data_uris(caller.account_id, list(named.values()))
    except Missing as missing:
        found = (shown(p) for p, upload_id in named.items() if upload_id in missing.message)
        raise ValidationFailed.at(
            next(found, "input"), "no such file of yours (expired or deleted?): upload it again"
        ) from None
    by_place = {place: uris[upload_id] for place, upload_id in named.items()}
    return cast(dict[str, Any], replaced(given, ("input",), by_place))


#: Where a value sits in a JSON value: its keys and list indexes from the top.
Place = tuple[str | int, ...]


def shown(place: Place) -> str:
    """A place as error answers name fields: ``input/images/0``."""
    return "/".join(map(str, place))


def strings(value: Any, place: Place) -> Iterator[tuple[Place, str]]:
    """Every string in a JSON value, with its place."""
    if isinstance(value, str):
        yield place, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, (*place, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, (*place, index))


def replaced(value: Any, place: Place, by_place: dict[Place, str]) -> Any:
    if place in by_place:
        return by_place[place]
    if isinstance(value, dict):
        return {key: replaced(item, (*place, key), by_place) for key, item in value.items()}
    if isinstance(value, list):
        return [replaced(item, (*place, index), by_place) for index, item in enumerate(value)]
    return value
