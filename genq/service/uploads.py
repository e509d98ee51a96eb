"""Uploads: files an account sends ahead of the jobs that read them (a vendor API's file
upload), kept for a while in the file storage and handed to a job as a ``data:`` URI.

A job never fetches an upload over the network: the link a surface gives for one names genq
itself, an address the reference fetch refuses (loopback, private) and should go on refusing.
Instead, a submit that names the caller's own uploads gets their bytes inline
(``upload_data_uris``), within ``reference_max_bytes`` as any reference is.

The files live in the file storage, so that every API process of a scaled-out deployment
reads what another stored: ``uploads-HOUR/OWNER/ID/content`` and ``.../meta.json``, where
HOUR is the hour (since the epoch) in which the upload expires and OWNER a digest of its
account. An hour's folder is removed whole (the storage's ``delete_job``) once that hour is
over; the last hour swept is kept in the storage too, so that a restarted process carries on
from there rather than leaving older folders behind.

Bounds: one file holds at most ``reference_max_bytes`` (no job could take more) and the body
limit; an account holds at most the files and bytes its caller allows at once, counted by
each API process for the uploads it took.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import logging
import math
import re
import secrets
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from genq import limits
from genq.errors import Missing, PayloadTooLarge, TooManyRequests
from genq.service.core import ServiceCore

log = logging.getLogger("genq.service")

#: Uploads expiring within one hour share a folder, removed once that hour is over.
HOUR = 3600
FOLDER_PREFIX = "uploads-"
#: Where the last hour swept is kept.
SWEPT_KEY = "uploads-swept/hour"
#: How far back a process that finds no record of a sweep looks for folders.
FIRST_SWEEP_HOURS = 24 * 31
#: An upload's id: the hour it expires in (8 hex digits), then 24 random ones.
_ID = re.compile(r"[0-9a-f]{32}")
#: A content type as ``type/subtype``, without parameters.
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]{0,126}/[A-Za-z0-9][\w.+-]{0,126}")
MAX_NAME_CHARS = 255
#: The largest meta.json an upload has (its metadata is bounded by the metadata limits).
MAX_META_BYTES = 1 << 20


@dataclass(frozen=True)
class Upload:
    """One uploaded file, as its account sees it."""

    id: str
    name: str
    content_type: str
    size: int
    sha256: str
    metadata: dict[str, Any]
    created_at: float
    expires_at: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Held:
    """What one process counts of an account's uploads: (expiry, size, id) of each."""

    uploads: list[tuple[float, int, str]] = field(default_factory=list)

    def live(self, now: float) -> list[tuple[float, int, str]]:
        self.uploads = [entry for entry in self.uploads if entry[0] > now]
        return self.uploads


def owner_folder(account_id: str) -> str:
    return hashlib.sha256(account_id.encode()).hexdigest()[:24]


def upload_key(account_id: str, upload_id: str, part: str) -> str:
    """The storage key of an upload's ``content`` or ``meta.json``."""
    hour = int(upload_id[:8], 16)
    return f"{FOLDER_PREFIX}{hour}/{owner_folder(account_id)}/{upload_id}/{part}"


def clean_name(name: str | None) -> str:
    """The file's own name, without any folder a client sent with it."""
    base = re.split(r"[/\\]", name or "")[-1].strip()
    base = limits.stored_text(base, None)[:MAX_NAME_CHARS]
    return base or "file"


def clean_content_type(content_type: str | None) -> str:
    found = _CONTENT_TYPE.match((content_type or "").strip())
    return found.group(0).lower() if found else "application/octet-stream"


class Uploads(ServiceCore):
    async def add_upload(
        self,
        account_id: str,
        source: Path,
        *,
        name: str | None,
        content_type: str | None,
        metadata: dict[str, Any],
        keep_seconds: float,
        most_files: int,
        most_bytes: int,
    ) -> Upload:
        """Keep the file at ``source`` for ``keep_seconds`` as an upload of the account: 413
        past ``reference_max_bytes``, 429 when the account holds ``most_files`` uploads or
        ``most_bytes`` bytes of them already, 422 for metadata past the metadata limits."""
        settings = self.settings
        limits.check_metadata(
            metadata,
            max_bytes=settings.max_metadata_bytes,
            max_keys=settings.max_metadata_keys,
            max_depth=settings.max_metadata_depth,
        )
        size, digest = await asyncio.to_thread(_measure, source)
        if size > settings.reference_max_bytes:
            raise PayloadTooLarge(
                f"the file has {size} bytes, more than the {settings.reference_max_bytes} a "
                "job's input may take",
            )
        await self.disk.check()
        now = time.time()
        held = self._held[account_id].live(now)
        if len(held) >= most_files or sum(entry[1] for entry in held) + size > most_bytes:
            raise TooManyRequests(
                f"the account holds as many uploads as it may ({most_files} files, "
                f"{most_bytes} bytes): delete some, or wait for them to expire",
                code="too_many_uploads",
            )
        expires_at = now + keep_seconds
        hour = math.floor(expires_at / HOUR)
        upload = Upload(
            id=f"{hour:08x}{secrets.token_hex(12)}",
            name=clean_name(name),
            content_type=clean_content_type(content_type),
            size=size,
            sha256=digest,
            metadata=metadata,
            created_at=now,
            expires_at=expires_at,
        )
        held.append((expires_at, size, upload.id))
        try:
            await asyncio.to_thread(self._store_upload, account_id, upload, source)
        except BaseException:
            held.remove((expires_at, size, upload.id))
            raise
        self._sweep_uploads_soon(now)
        return upload

    async def upload(self, account_id: str, upload_id: str) -> Upload:
        """One of the account's uploads, until it expires (404 otherwise)."""
        return await asyncio.to_thread(self._read_upload, account_id, upload_id)

    async def upload_content(self, account_id: str, upload_id: str) -> tuple[Upload, bytes]:
        """One of the account's uploads and its bytes (404 once expired or deleted)."""

        def read() -> tuple[Upload, bytes]:
            upload = self._read_upload(account_id, upload_id)
            data = self.storage.read(upload_key(account_id, upload_id, "content"), upload.size)
            if data is None:
                raise _missing(upload_id)
            return upload, data

        return await asyncio.to_thread(read)

    async def upload_data_uris(self, account_id: str, upload_ids: list[str]) -> dict[str, str]:
        """The account's uploads as ``data:`` URIs, by id, for a job's input: 404 for one it
        does not have, 413 when together they hold more than ``reference_max_bytes`` (the
        most one reference may be: what one job may be handed at once)."""
        wanted = list(dict.fromkeys(upload_ids))
        found = [await self.upload(account_id, upload_id) for upload_id in wanted]
        total = sum(upload.size for upload in found)
        if total > self.settings.reference_max_bytes:
            raise PayloadTooLarge(
                f"the files named hold {total} bytes together, more than the "
                f"{self.settings.reference_max_bytes} a job's input may take",
            )
        uris = {}
        for upload in found:
            upload, data = await self.upload_content(account_id, upload.id)
            encoded = base64.b64encode(data).decode()
            uris[upload.id] = f"data:{upload.content_type};base64,{encoded}"
        return uris

    async def delete_upload(self, account_id: str, upload_id: str) -> None:
        """Remove one of the account's uploads (404 if it has none of that id)."""
        await self.upload(account_id, upload_id)
        keys = [upload_key(account_id, upload_id, part) for part in ("meta.json", "content")]
        await asyncio.to_thread(self.storage.delete_keys, keys)
        held = self._held[account_id]
        held.uploads = [entry for entry in held.uploads if entry[2] != upload_id]

    # -- storage --------------------------------------------------------------------------
    @functools.cached_property
    def _held(self) -> defaultdict[str, _Held]:
        return defaultdict(_Held)

    def _store_upload(self, account_id: str, upload: Upload, source: Path) -> None:
        self.storage.put(upload_key(account_id, upload.id, "content"), source, upload.content_type)
        # The record goes last: an upload is found only once its bytes are there.
        with tempfile.TemporaryDirectory() as folder:
            meta = Path(folder) / "meta.json"
            meta.write_bytes(orjson.dumps(upload.to_dict()))
            self.storage.put(upload_key(account_id, upload.id, "meta.json"), meta)

    def _read_upload(self, account_id: str, upload_id: str) -> Upload:
        if not _ID.fullmatch(upload_id):
            raise _missing(upload_id)
        raw = self.storage.read(upload_key(account_id, upload_id, "meta.json"), MAX_META_BYTES)
        if raw is None:
            raise _missing(upload_id)
        upload = Upload(**orjson.loads(raw))
        if upload.expires_at <= time.time():
            raise _missing(upload_id)
        return upload

    def _sweep_uploads_soon(self, now: float) -> None:
        """Remove the folders of the hours now over, at most once an hour, in the background."""
        hour = math.floor(now / HOUR)
        state = self._upload_sweep
        if state.get("hour") == hour or state.get("task") is not None:
            return

        async def sweep() -> None:
            try:
                await asyncio.to_thread(self._sweep_uploads, hour)
                state["hour"] = hour
            except Exception:
                log.exception("could not remove expired uploads")
            finally:
                state["task"] = None

        state["task"] = asyncio.get_running_loop().create_task(sweep())

    @functools.cached_property
    def _upload_sweep(self) -> dict[str, Any]:
        return {"hour": None, "task": None}

    def _sweep_uploads(self, hour: int) -> None:
        """Remove the folders of every hour before ``hour`` not removed yet."""
        raw = self.storage.read(SWEPT_KEY, 32)
        try:
            swept = int(raw) if raw is not None else hour - FIRST_SWEEP_HOURS
        except ValueError:
            swept = hour - FIRST_SWEEP_HOURS
        for over in range(max(swept, hour - FIRST_SWEEP_HOURS), hour):
            self.storage.delete_job(f"{FOLDER_PREFIX}{over}")
        if raw is None or swept < hour:
            with tempfile.TemporaryDirectory() as folder:
                record = Path(folder) / "hour"
                record.write_text(str(hour))
                self.storage.put(SWEPT_KEY, record)


def _measure(source: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with source.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _missing(upload_id: str) -> Missing:
    return Missing(f"no file {upload_id!r}", code="file_not_found")
