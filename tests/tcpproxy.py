"""A TCP proxy a test can cut and restore: a backing server (PostgreSQL) that goes away and
comes back on the same port, without touching the server itself."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from tests.conftest import Backend, GenqServer, free_port
from tests.pg import POSTGRES_URL, drop_schema, new_schema


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target`` while open; ``close`` refuses new
    connections and cuts the open ones, ``open`` listens on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def served_through_proxy(data_dir: Path) -> Iterator[tuple[GenqServer, TcpProxy]]:
    """``genq serve`` without workers, on a schema of the tests' PostgreSQL reached through a
    proxy the test can cut, with local files."""
    parts = urlsplit(POSTGRES_URL)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)).open()
    netloc = parts.netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{proxy.port}"
    schema = new_schema("proxied")
    url = urlunsplit((parts.scheme, netloc, parts.path, f"schema={schema}", ""))
    server = GenqServer(data_dir, backend=Backend("sqlite"), workers=0, db=url)
    try:
        yield server.start(), proxy
    finally:
        server.close()
        proxy.close()
        drop_schema(schema)
