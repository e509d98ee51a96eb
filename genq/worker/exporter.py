"""``genq worker --metrics-port``: the figures of a workers-only machine, served at
``/metrics`` in the Prometheus text format.

What its workers told their supervisor (``genq.metrics.served``: no HTTP figures, and never
the queue's depth, which the API processes read from the store) and its worker processes,
counted at each scrape. It answers anyone who reaches its address, as node exporters do: it
listens on loopback unless the operator chooses another host.

The server is prometheus-client's own, on threads of its own, rather than one on the
supervisor's event loop: a scrape's work (reading the request, writing out every family,
compressing it when asked) is kept off the loop that relays every worker's messages and
enforces cancels, and genq parses no HTTP itself. uvicorn, the other server at hand, would
also take over the SIGTERM handling that stops the workers, and exit the process on a port it
cannot have. The registry's figures may be read from any thread; the supervisor's list of
workers is read on its loop, the one thread that changes it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric

from genq import metrics
from genq.errors import ConfigError

if TYPE_CHECKING:
    from genq.service.readiness import Workers

#: How long a scrape waits for the supervisor's loop to count its workers.
CENSUS_SECONDS = 5.0


class SupervisorFigures:
    """A ``genq worker``'s figures: its workers' and, as ``census`` counts them when scraped,
    its worker processes."""

    def __init__(self, census: Callable[[], Workers]) -> None:
        self.census = census

    def describe(self) -> Iterator[Metric]:
        # The families without counting the workers: what a registry needs to know of a
        # collector when it is registered, and to answer a scrape of some names only.
        yield from metrics.served(api=False, workers=True)
        yield from metrics.worker_figures(0, 0)

    def collect(self) -> Iterator[Metric]:
        yield from metrics.served(api=False, workers=True)
        counted = self.census()
        yield from metrics.worker_figures(counted.alive, counted.busy)


def on_loop(
    census: Callable[[], Workers], loop: asyncio.AbstractEventLoop
) -> Callable[[], Workers]:
    """``census``, called from another thread but run on ``loop``."""

    async def count() -> Workers:
        return census()

    return lambda: asyncio.run_coroutine_threadsafe(count(), loop).result(CENSUS_SECONDS)


class Exporter:
    """An HTTP server of a supervisor's figures, on threads of its own."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread

    @classmethod
    async def start(cls, census: Callable[[], Workers], host: str, port: int) -> Exporter:
        """Serve the figures of the supervisor that ``census`` counts, from the running loop,
        on ``host``:``port``; a ``ConfigError`` when that address cannot be had."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SupervisorFigures(on_loop(census, asyncio.get_running_loop())))
        try:
            server, thread = start_http_server(port, host, registry=registry)
        except OSError as exc:  # the port taken or not ours, the host unknown or not here
            reason = exc.strerror or str(exc)
            raise ConfigError(f"cannot serve metrics on {host}:{port}: {reason}") from exc
        return cls(server, thread)

    async def close(self) -> None:
        """Stop serving and free the port. The server looks for the stop every half second:
        it is waited for off the loop."""
        await asyncio.to_thread(self.server.shutdown)
        self.server.server_close()
        self.thread.join()
