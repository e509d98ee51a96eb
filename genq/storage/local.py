"""Result files in a local folder, served by genq itself through HMAC-signed, expiring links."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import shutil
from pathlib import Path
from urllib.parse import quote, urlencode

from genq.errors import Forbidden
from genq.storage.base import FileStorage, check_job_id


class LocalStorage(FileStorage):
    served_by_genq = True

    def __init__(self, root: Path, secret: bytes) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._secret = secret

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise Forbidden("invalid file key", code="invalid_signature")
        return path

    def put(self, key: str, source: Path, content_type: str | None = None) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Move into place atomically so that a reader never sees half a file; what a write
        # that failed (a full disk) left under the temporary name goes.
        partial = target.with_name(f".{target.name}.partial")
        try:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    def read(self, key: str, limit: int) -> bytes | None:
        try:
            with self._path(key).open("rb") as f:
                return f.read(limit)
        except FileNotFoundError:
            return None

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self._path(check_job_id(job_id)), ignore_errors=True)

    def delete_keys(self, keys: list[str]) -> None:
        root = self.root.resolve()
        for key in keys:
            path = self._path(key)
            path.unlink(missing_ok=True)
            # Drop the folders the files leave empty (a deleted job's would never be swept).
            for folder in path.parents:
                if folder == root or not folder.is_relative_to(root):
                    break
                try:
                    folder.rmdir()
                except OSError:
                    break

    def sign(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def link(self, key: str, expires_at: float, base_url: str) -> str:
        # Rounded up: a link never expires sooner than asked.
        expires = math.ceil(expires_at)
        query = urlencode({"expires": expires, "signature": self.sign(key, expires)})
        return f"{base_url.rstrip('/')}/files/{quote(key)}?{query}"

    def verify(self, key: str, expires: str | None, signature: str | None) -> float:
        """Raise ``Forbidden`` unless the link's signature is right; return its expiry time."""
        if not expires or not signature or not re.fullmatch(r"[0-9]{1,12}", expires):
            raise Forbidden("this file link is not signed", code="invalid_signature")
        if not hmac.compare_digest(self.sign(key, int(expires)), signature):
            raise Forbidden("this file link's signature does not match", code="invalid_signature")
        return float(expires)

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None
