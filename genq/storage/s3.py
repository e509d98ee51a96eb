"""Result files in an S3-compatible bucket, downloaded by clients through presigned links.

The endpoint, region and credentials come from boto3's own configuration: ``AWS_ENDPOINT_URL_S3``
or ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``,
``AWS_PROFILE`` and the shared config files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from genq.errors import ConfigError
from genq.storage.base import FileStorage, check_job_id

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# SigV4 refuses presigned URLs that live longer than seven days.
MAX_LINK_SECONDS = 7 * 24 * 3600
# DeleteObjects takes at most 1000 keys a request.
DELETE_BATCH_SIZE = 1000


class S3Storage(FileStorage):
    """Files under ``PREFIX/`` in ``bucket`` (at the bucket's root when the prefix is empty)."""

    def __init__(self, bucket: str, prefix: str = "") -> None:
        try:
            import boto3
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError as exc:
            raise ConfigError(
                "s3:// storage needs boto3, which is not installed: pip install 'genq[s3]'"
            ) from exc
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        config = Config(
            signature_version="s3v4",
            # Path-style everywhere: S3-compatible servers (MinIO, Ceph, moto) rarely have the
            # wildcard DNS that virtual-hosted buckets need, and AWS answers path-style requests
            # too, so one style works with whatever endpoint boto3's configuration names.
            s3={"addressing_style": "path"},
        )
        # Sessions are not thread-safe but clients are: one private session makes one client,
        # which the server's and workers' threads then share.
        self._client: S3Client = boto3.session.Session().client("s3", config=config)
        try:
            self._client.head_bucket(Bucket=bucket)
        except (BotoCoreError, ClientError) as exc:
            endpoint = self._client.meta.endpoint_url
            raise ConfigError(f"cannot open S3 bucket {bucket!r} at {endpoint}: {exc}") from exc

    def _object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, source: Path, content_type: str | None = None) -> None:
        # upload_file switches to a multipart upload for large files. Either way an object
        # appears whole or not at all: a failed multipart upload is aborted, its parts dropped.
        self._client.upload_file(
            str(source),
            self.bucket,
            self._object_key(key),
            ExtraArgs={"ContentType": content_type} if content_type else None,
        )

    def read(self, key: str, limit: int) -> bytes | None:
        try:
            answer = self._client.get_object(
                Bucket=self.bucket, Key=self._object_key(key), Range=f"bytes=0-{limit - 1}"
            )
        except self._client.exceptions.NoSuchKey:
            return None
        except self._client.exceptions.ClientError as exc:
            # A range that starts past the end: the object is empty.
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""
            raise
        data: bytes = answer["Body"].read()
        return data

    def delete_job(self, job_id: str) -> None:
        folder = self._object_key(f"{check_job_id(job_id)}/")
        self._delete_objects(list(self._list(folder)))

    def delete_keys(self, keys: list[str]) -> None:
        self._delete_objects([self._object_key(key) for key in keys])

    def _list(self, folder: str) -> Iterator[str]:
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=folder
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"]

    def _delete_objects(self, object_keys: list[str]) -> None:
        for start in range(0, len(object_keys), DELETE_BATCH_SIZE):
            batch = object_keys[start : start + DELETE_BATCH_SIZE]
            response = self._client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
            # S3 reports a missing key as deleted; what it lists here did fail.
            if errors := response.get("Errors"):
                first = errors[0]
                raise OSError(
                    f"S3 did not delete {len(errors)} of {len(batch)} objects in bucket "
                    f"{self.bucket!r}, first {first.get('Key')!r}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )

    def link(self, key: str, expires_at: float, base_url: str) -> str:
        # Counted from the whole second that X-Amz-Date carries and rounded up, so a link never
        # expires sooner than asked; SigV4 wants 1 s to 7 days.
        seconds = math.ceil(expires_at) - math.floor(time.time())
        seconds = min(max(seconds, 1), MAX_LINK_SECONDS)
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self._object_key(key)},
            ExpiresIn=seconds,
        )

    def local_path(self, key: str) -> Path | None:
        return None
