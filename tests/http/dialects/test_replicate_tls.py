"""Replicate's official client against ``genq serve`` over TLS: an ``https`` URL in an output
is what the client turns into a ``FileOutput``, which reads the file's bytes."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import replicate
from PIL import Image
from replicate.helpers import FileOutput

from tests.conftest import Backend, GenqServer
from tests.tls import tls_files

pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GenqServer]:
    tls = tls_files(tmp_path_factory.mktemp("replicate-tls"))
    directory = tmp_path_factory.mktemp("replicate-tls-server")
    with pytest.MonkeyPatch.context() as env:
        # The client trusts the test authority as any other, through the environment.
        env.setenv("SSL_CERT_FILE", str(tls.ca))
        server = GenqServer(
            directory / "data",
            backend=Backend("sqlite"),
            tls_ca=str(tls.ca),
            tls_cert=str(tls.cert),
            tls_key=str(tls.key),
        ).start()
        yield server
        server.close()


def test_run_over_tls_gives_file_outputs(server: GenqServer) -> None:
    """run() over https answers FileOutput objects whose read() gives the image's bytes."""
    client = replicate.Client(api_token=server.key, base_url=f"{server.url}/replicate")
    client.poll_interval = 0.1
    try:
        output = client.run("genq/demo-image", input={"prompt": "a harbour", "num_outputs": 2})
        assert isinstance(output, list)
        assert all(isinstance(item, FileOutput) for item in output)
        assert all(item.url.startswith(f"{server.url}/files/") for item in output)
        pictures = [Image.open(io.BytesIO(item.read())) for item in output]
        assert [p.format for p in pictures] == ["PNG", "PNG"]
    finally:
        client._client.close()
