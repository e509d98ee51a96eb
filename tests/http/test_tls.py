"""``genq serve --tls-cert/--tls-key``: a real server answering HTTPS with a certificate of a
test authority, its links saying https, and the certificates it refuses to start with."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from genq.errors import ConfigError
from genq.server import check_tls
from genq.settings import Settings
from tests.conftest import Backend, GenqServer, wait_for
from tests.tls import TlsFiles, tls_files

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[GenqServer]:
    directory = tmp_path_factory.mktemp("tls-server")
    server = GenqServer(
        directory / "data",
        backend=Backend("sqlite"),
        tls_ca=str(tls.ca),
        tls_cert=str(tls.cert),
        tls_key=str(tls.key),
        workers=1,
    ).start()
    yield server
    server.close()


def test_https_answers_and_links_say_https(tls_server: GenqServer) -> None:
    """Over TLS, checked against the test authority, genq answers; a job's output link is an
    https URL of the same server, and its file downloads through TLS."""
    assert tls_server.url.startswith("https://127.0.0.1:")
    with tls_server.client() as api:
        assert api.get("/readyz").status_code == 200
        submitted = api.post("/v1/jobs", json={"model": "noop", "input": {"output_text": "hi"}})
        assert submitted.status_code == 202, submitted.text
        job = wait_for(api, submitted.json()["id"])
        assert job["status"] == "succeeded"
        url = job["outputs"][0]["url"]
        assert url.startswith(f"{tls_server.url}/")
        assert api.get(url).text == "hi"


def test_plain_http_and_untrusting_clients_get_no_answer(tls_server: GenqServer) -> None:
    """Plain HTTP to the TLS port gets no answer, and a client that does not trust the test
    authority refuses the server's certificate."""
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{tls_server.port}/healthz", timeout=5)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_server.url}/healthz", timeout=5, verify=True, trust_env=False)


def test_the_cli_trusts_the_authority_ssl_cert_file_names(
    tls_server: GenqServer, tls: TlsFiles
) -> None:
    """``genq status`` reaches an https URL when SSL_CERT_FILE names the server's authority,
    and says it cannot verify the certificate without it."""
    command = [sys.executable, "-m", "genq", "status", "--url", tls_server.url]
    command += ["--key", tls_server.key]
    environ = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    trusted = subprocess.run(
        command, env={**environ, "SSL_CERT_FILE": str(tls.ca)}, capture_output=True, text=True
    )
    assert trusted.returncode == 0, trusted.stderr
    assert f"genq at {tls_server.url}: ready" in trusted.stdout
    untrusted = subprocess.run(command, env=environ, capture_output=True, text=True)
    assert untrusted.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout + untrusted.stderr


def refusal(tmp_path: Path, **settings: Path) -> str:
    with pytest.raises(ConfigError) as refused:
        check_tls(Settings.load(data_dir=tmp_path, **settings))
    return refused.value.message


def test_certificates_that_cannot_be_served_are_refused(tmp_path: Path, tls: TlsFiles) -> None:
    """A certificate without its key (or a key alone), a missing file, a file that is not
    PEM, a key of another certificate and an encrypted key are each refused, naming why."""
    other = tls_files(tmp_path / "other")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(encrypted_key(tls.key))
    missing = tmp_path / "missing.pem"
    assert "tls_cert is set but tls_key is not" in refusal(tmp_path, tls_cert=tls.cert)
    assert "tls_key is set but tls_cert is not" in refusal(tmp_path, tls_key=tls.key)
    assert f"tls_cert {missing}: No such file or directory" in refusal(
        tmp_path, tls_cert=missing, tls_key=tls.key
    )
    assert f"tls_key {missing}: No such file" in refusal(
        tmp_path, tls_cert=tls.cert, tls_key=missing
    )
    assert "not a PEM certificate and its key" in refusal(
        tmp_path, tls_cert=garbage, tls_key=garbage
    )
    assert "(key values mismatch)" in refusal(tmp_path, tls_cert=tls.cert, tls_key=other.key)
    assert "is encrypted" in refusal(tmp_path, tls_cert=tls.cert, tls_key=encrypted)
    check_tls(Settings(data_dir=tmp_path, tls_cert=tls.cert, tls_key=tls.key))
    check_tls(Settings(data_dir=tmp_path))


def encrypted_key(path: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--tls-cert", "{cert}"], "tls_cert is set but tls_key is not"),
        (["--tls-cert", "{missing}", "--tls-key", "{key}"], "No such file or directory"),
    ],
)
def test_serve_refuses_them_in_one_line(
    tmp_path: Path, tls: TlsFiles, options: list[str], said: str
) -> None:
    """``genq serve`` with a certificate it cannot serve exits 2 with one line saying why,
    before it makes its data dir or serves anything."""
    names = {"cert": tls.cert, "key": tls.key, "missing": tmp_path / "missing.pem"}
    data_dir = tmp_path / "data"
    argv = [sys.executable, "-m", "genq", "serve", "--data-dir", str(data_dir)]
    run = subprocess.run(
        argv + [option.format(**names) for option in options],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stdout == ""
    [line] = run.stderr.splitlines()
    assert line.startswith("error: cannot serve TLS: ")
    assert said in line
    assert not data_dir.exists()
