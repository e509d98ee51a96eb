"""What only the local file storage does: signed links, keys kept inside its folder, tidy folders.

The behaviour all storages share is in test_storage_contract.py.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from genq.errors import Forbidden
from genq.storage.local import LocalStorage


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "files", b"secret")


def put(storage: LocalStorage, tmp_path: Path, key: str, data: bytes = b"x") -> None:
    source = tmp_path / "source"
    source.write_bytes(data)
    storage.put(key, source)


def test_put_then_read_back(storage: LocalStorage, tmp_path: Path) -> None:
    """A stored file is found under its key with the same bytes."""
    put(storage, tmp_path, "job_1/1/output-0.png", b"png bytes")
    path = storage.local_path("job_1/1/output-0.png")
    assert path is not None
    assert path.read_bytes() == b"png bytes"
    assert storage.local_path("job_1/1/output-1.png") is None


def test_links_verify_and_reject_changes(storage: LocalStorage) -> None:
    """A link's signature verifies for its key and expiry and for nothing else."""
    expires_at = time.time() + 60
    url = storage.link("job_1/1/a.png", expires_at, "http://h/")
    assert url.startswith("http://h/files/job_1/1/a.png?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert storage.verify("job_1/1/a.png", query["expires"], query["signature"]) == math.ceil(
        expires_at
    )
    for key, expires, signature in [
        ("job_1/1/b.png", query["expires"], query["signature"]),
        ("job_1/1/a.png", str(int(query["expires"]) + 1), query["signature"]),
        ("job_1/1/a.png", query["expires"], "0" * 64),
        ("job_1/1/a.png", "²", query["signature"]),
        ("job_1/1/a.png", "9" * 5000, query["signature"]),
        ("job_1/1/a.png", None, None),
    ]:
        with pytest.raises(Forbidden):
            storage.verify(key, expires, signature)


def test_keys_cannot_leave_the_root(storage: LocalStorage) -> None:
    """A key that climbs out of the storage folder is refused."""
    with pytest.raises(Forbidden):
        storage.local_path("../../etc/passwd")


def test_delete_keys_removes_files_and_the_folders_they_leave_empty(
    storage: LocalStorage, tmp_path: Path
) -> None:
    """Deleting a job's last files removes its empty folders too; other jobs stay."""
    put(storage, tmp_path, "job_1/2/output-0.png")
    put(storage, tmp_path, "job_2/1/output-0.png")
    storage.delete_keys(["job_1/2/output-0.png", "job_1/2/missing.png"])
    assert not (storage.root / "job_1").exists()
    assert storage.local_path("job_2/1/output-0.png") is not None
    assert storage.root.is_dir()


def half_then_full(source: str | Path, target: str | Path) -> None:
    """``shutil.copyfile`` on a disk that fills halfway through the file."""
    data = Path(source).read_bytes()
    Path(target).write_bytes(data[: len(data) // 2])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))


def test_a_write_that_fails_leaves_no_partial_file(
    storage: LocalStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fills mid-write: the error goes to the caller, and neither the file nor
    the half written under its temporary name is left; a file stored before stays whole."""
    put(storage, tmp_path, "job_1/1/output-0.png", b"kept")
    monkeypatch.setattr(shutil, "copyfile", half_then_full)
    with pytest.raises(OSError, match="No space left") as caught:
        put(storage, tmp_path, "job_1/1/output-1.png", b"0123456789")
    assert caught.value.errno == errno.ENOSPC
    folder = tmp_path / "files" / "job_1" / "1"
    assert sorted(p.name for p in folder.iterdir()) == ["output-0.png"]
    assert (folder / "output-0.png").read_bytes() == b"kept"
