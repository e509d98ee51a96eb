"""The asyncio client: ``genq.AsyncClient``, the twin of ``genq.Client``."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from httpx_sse import EventSource, SSEError

from genq.client import _base
from genq.client._base import BaseClient, Call, Pages
from genq.client._config import DEFAULT_TIMEOUT
from genq.client._download import FileSink, output_path
from genq.client._follow import Follow, StreamRefused
from genq.client._types import (
    Event,
    Job,
    JobStatus,
    ModelInfo,
    Output,
    Progress,
    Webhook,
    WebhookDelivery,
)

T = TypeVar("T")

#: Callbacks may be plain or coroutine functions.
OnProgress = Callable[[Progress], object]
OnEvent = Callable[[Event], object]


class AsyncClient(BaseClient):
    """A client of a genq server for asyncio: ``genq.Client`` with ``async`` methods and
    async iterators; callbacks may be coroutine functions. ``transport`` is an
    ``httpx.AsyncBaseTransport``."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, api_key, timeout=timeout, max_retries=max_retries)
        self._http = httpx.AsyncClient(transport=transport, **self._http_options())
        #: ``list``, ``cancel`` and ``delete`` jobs by id.
        self.jobs = AsyncJobs(self)
        #: The models the server offers.
        self.models = AsyncModels(self)
        #: The account's webhook endpoints and the calls made for its jobs.
        self.webhooks = AsyncWebhooks(self)

    async def run(
        self,
        model: str,
        input: dict[str, Any] | None = None,
        *,
        priority: int = 0,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
        on_progress: OnProgress | None = None,
        on_event: OnEvent | None = None,
    ) -> Job:
        """Submit a job and wait for it: the succeeded job, with its outputs. Raises
        ``JobFailed``, ``JobCanceled`` or ``JobExpired`` if it ends otherwise, and ``Timeout``
        if it has not finished within ``timeout`` seconds."""
        handle = await self.submit(
            model,
            input,
            priority=priority,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        job = await handle.wait(timeout, on_progress=on_progress, on_event=on_event)
        return _base.outcome(job)

    async def submit(
        self,
        model: str,
        input: dict[str, Any] | None = None,
        *,
        priority: int = 0,
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> AsyncJobHandle:
        """Queue a job and return at once. A retried submit never makes a second job: each
        carries an ``Idempotency-Key`` (a new uuid4 unless given).

        A ``pathlib.Path`` in ``input`` (at any depth) is a local file, sent as a ``data:``
        URI of its bytes (a sound to transcribe, an image to caption): ``OSError`` if it
        cannot be read, ``ValueError`` if it has more than 20 MiB."""
        call = _base.submit_job(model, input, priority, metadata, idempotency_key)
        job = await self._call(call)
        return AsyncJobHandle(self, job.id, job)

    async def get(self, job_id: str) -> Job:
        """The job as it is now."""
        return await self._call(_base.get_job(job_id))

    def job(self, job_id: str) -> AsyncJobHandle:
        """A handle on a job submitted earlier (by this or another client), to follow it."""
        return AsyncJobHandle(self, job_id)

    async def download(self, job: Job, directory: str | Path, *, verify: bool = True) -> list[Path]:
        """Save the job's outputs; see ``AsyncJobHandle.download``."""
        return [
            await self._fetch(job.id, index, output, Path(directory), verify)
            for index, output in enumerate(job.outputs)
        ]

    async def output_text(
        self, job: Job, index: int | None = None, *, max_bytes: int = _base.MAX_TEXT_BYTES
    ) -> str | None:
        """The content of one of the job's outputs as text: output ``index``, or else its
        first ``text/plain`` one (a transcript, a caption); None when it has none. At most
        ``max_bytes`` are read: a longer text is cut there (``Output.size`` tells)."""
        found = _base.text_output(job, index)
        if found is None:
            return None
        attempt = 0
        while True:
            response = await self._open_output(job.id, found, job.outputs[found])
            try:
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        break
                return _base.decode_text(bytes(data[:max_bytes]), cut=len(data) > max_bytes)
            except httpx.RequestError as exc:
                delay = self.retry.after_error(attempt, exc)
            finally:
                await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- sending -----------------------------------------------------------------------
    async def _send(self, call: Call[Any], *, stream: bool = False) -> tuple[httpx.Response, bool]:
        """The final answer to a call, transient failures retried, and whether it was retried.
        Error bodies are always read; a successful body is left unread when ``stream``."""
        attempt = 0
        while True:
            try:
                response = await self._http.send(self._build(self._http, call), stream=stream)
                if not response.is_success:
                    await response.aread()
            except httpx.RequestError as exc:
                delay = self.retry.after_error(attempt, exc)
            else:
                retry_in = self.retry.after_response(attempt, response)
                if retry_in is None:
                    return response, attempt > 0
                await response.aclose()
                delay = retry_in
            await asyncio.sleep(delay)
            attempt += 1

    async def _call(self, call: Call[T]) -> T:
        response, retried = await self._send(call)
        return self._result(call, response, retried)

    # -- following ---------------------------------------------------------------------
    async def _wait(
        self,
        job_id: str,
        timeout: float | None,
        on_progress: OnProgress | None,
        on_event: OnEvent | None,
        job: Job | None,
    ) -> Job:
        follow = Follow(job_id, self.retry, self.timeout, timeout=timeout, job=job, can_poll=True)
        # Closed at once if a callback raises, so that the stream's connection is let go.
        async with contextlib.aclosing(self._stream(follow)) as events:
            async for event in events:
                if on_event is not None:
                    await maybe_await(on_event(event))
                progress = event.progress
                if progress is not None and on_progress is not None:
                    await maybe_await(on_progress(progress))
        while not follow.finished:
            progress = follow.polled(await self._call(follow.poll_call()))
            if progress is not None and on_progress is not None:
                await maybe_await(on_progress(progress))
        # A stream ends on the terminal event: the job itself (outputs, cost) is one GET away.
        return follow.job if follow.polling and follow.job else await self.get(job_id)

    async def _stream(self, follow: Follow) -> AsyncGenerator[Event, None]:
        """The job's events, reconnecting as needed, until the terminal one (or until the
        follow turns to polling)."""
        while not (follow.finished or follow.polling):
            try:
                response = await self._http.send(
                    self._build(self._http, follow.stream_call()), stream=True
                )
                try:
                    if not response.is_success:
                        await response.aread()
                        follow.refused(response)
                    async for sse in EventSource(response).aiter_sse():
                        event = follow.accept(sse)
                        if event is not None:
                            yield event
                        if follow.finished:
                            return
                finally:
                    await response.aclose()
                delay = follow.dropped(None)
            except (httpx.RequestError, SSEError, StreamRefused) as exc:
                delay = follow.dropped(exc)
            await asyncio.sleep(delay)

    # -- downloading -------------------------------------------------------------------
    async def _fetch(
        self, job_id: str, index: int, output: Output, directory: Path, verify: bool
    ) -> Path:
        target = output_path(directory, job_id, index, output.content_type)
        attempt = 0
        while True:
            response = await self._open_output(job_id, index, output)
            try:
                with FileSink(target, output.sha256 if verify else None) as sink:
                    async for chunk in response.aiter_bytes():
                        sink.write(chunk)
                return sink.finish()
            except httpx.RequestError as exc:
                delay = self.retry.after_error(attempt, exc)
            finally:
                await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1

    async def _open_output(self, job_id: str, index: int, output: Output) -> httpx.Response:
        call: Call[None] = _base.output_link(output.url)
        response, retried = await self._send(call, stream=True)
        if response.status_code in (403, 404):
            # The signed link has expired: the API key opens the file as well.
            call = _base.output_file(job_id, index)
            response, retried = await self._send(call, stream=True)
        if not response.is_success:
            self._result(call, response, retried)
        return response


async def maybe_await(result: object) -> None:
    """Await what a callback returned, if it is awaitable: callbacks may be coroutines."""
    if inspect.isawaitable(result):
        await result


class AsyncJobHandle:
    """One job, by id: read it, wait for it, follow its events, cancel, delete, download."""

    def __init__(self, client: AsyncClient, job_id: str, job: Job | None = None) -> None:
        self._client = client
        self.id = job_id
        #: The job as this handle last read it (the submit's answer, at first).
        self.job = job

    def __repr__(self) -> str:
        return f"<AsyncJobHandle {self.id}>"

    async def status(self) -> Job:
        """The job as it is now (a fresh read)."""
        self.job = await self._client.get(self.id)
        return self.job

    async def wait(
        self,
        timeout: float | None = None,
        *,
        on_progress: OnProgress | None = None,
        on_event: OnEvent | None = None,
    ) -> Job:
        """Follow the job to its end and return it, whatever its final status.

        ``on_event(event)`` is called with each event of the job's stream, from its start;
        ``on_progress(progress)`` with each new ``Progress``, in order. Should the stream keep
        failing, the wait long-polls the job instead: no more events then, and the progress
        of each poll. Raises ``Timeout`` (with the job id) after ``timeout`` seconds.
        """
        self.job = await self._client._wait(self.id, timeout, on_progress, on_event, self.job)
        return self.job

    def events(self, after: int | None = None) -> AsyncIterator[Event]:
        """The job's events after event id ``after`` (from the start if None), live, until
        its terminal status event; a dropped stream is resumed where it stopped."""
        follow = Follow(self.id, self._client.retry, self._client.timeout, after=after or 0)
        return self._client._stream(follow)

    async def cancel(self) -> Job:
        """Cancel the job (idempotent); a job that has already finished: ``Conflict``."""
        self.job = await self._client.jobs.cancel(self.id)
        return self.job

    async def retry(self, *, idempotency_key: str | None = None) -> AsyncJobHandle:
        """Run this job again, if it failed, was canceled or expired: a handle on the new
        job (see ``client.jobs.retry``)."""
        return await self._client.jobs.retry(self.id, idempotency_key=idempotency_key)

    async def delete(self) -> None:
        """Delete the job and its files, stopping it first if it runs."""
        await self._client.jobs.delete(self.id)

    async def download(self, directory: str | Path, *, verify: bool = True) -> list[Path]:
        """Save the job's outputs as ``directory/{job_id}-{n}{ext}`` and return their paths.
        With ``verify``, each file's SHA-256 is checked as it is written: a mismatch removes
        the file and raises ``ChecksumMismatch``."""
        return await self._client.download(await self.status(), directory, verify=verify)


class AsyncJobs:
    """``client.jobs``: the account's jobs."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(
        self,
        status: JobStatus | str | None = None,
        model: str | None = None,
        page_size: int = 20,
        limit: int | None = None,
    ) -> AsyncIterator[Job]:
        """The account's jobs, newest first, fetched a page at a time; at most ``limit``."""
        pages = Pages(partial(_base.list_jobs, status, model), page_size, limit)
        while (call := pages.next_call()) is not None:
            for job in pages.take(await self._client._call(call)):
                yield job

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job (idempotent); a job that has already finished: ``Conflict``."""
        return await self._client._call(_base.cancel_job(job_id))

    async def retry(self, job_id: str, *, idempotency_key: str | None = None) -> AsyncJobHandle:
        """Run a failed, canceled or expired job again: a new job (charged as one) with the
        same model, input, priority, metadata and webhook, whose ``retry_of`` names the old
        one; any other job: ``Conflict``. A retried call never makes a second job: each
        carries an ``Idempotency-Key`` (a new uuid4 unless given)."""
        job = await self._client._call(_base.retry_job(job_id, idempotency_key))
        return AsyncJobHandle(self._client, job.id, job)

    async def delete(self, job_id: str) -> None:
        """Delete a job and its files."""
        await self._client._call(_base.delete_job(job_id))


class AsyncModels:
    """``client.models``: the models the server offers."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(self) -> builtins.list[ModelInfo]:
        return await self._client._call(_base.list_models())

    async def get(self, name: str) -> ModelInfo:
        """A model by its name or an alias."""
        return await self._client._call(_base.get_model(name))


class AsyncWebhooks:
    """``client.webhooks``: the account's webhook endpoints, and the calls made for its jobs
    (to those endpoints and to jobs' own webhooks)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self,
        url: str,
        *,
        events: Sequence[str] | None = None,
        models: Sequence[str] | None = None,
        description: str | None = None,
    ) -> Webhook:
        """Register an endpoint, called for the account's jobs (of every model, or of
        ``models``: names or aliases) on ``events`` (``start``, ``progress``, ``output``,
        ``completed``; default ``completed``). Its ``secret`` is in this answer only: keep it
        to verify the calls (``genq.webhooks.verify``)."""
        return await self._client._call(_base.create_webhook(url, events, models, description))

    async def list(self) -> builtins.list[Webhook]:
        """The account's endpoints, oldest first, without their secrets."""
        return await self._client._call(_base.list_webhooks())

    async def get(self, webhook_id: str) -> Webhook:
        """An endpoint, without its secret."""
        return await self._client._call(_base.get_webhook(webhook_id))

    async def delete(self, webhook_id: str) -> None:
        """Delete an endpoint; its calls not yet sent fail, those sent stay listed."""
        await self._client._call(_base.delete_webhook(webhook_id))

    async def disable(self, webhook_id: str) -> Webhook:
        """Call the endpoint for no change from now on; its calls not yet sent fail."""
        return await self._client._call(_base.change_webhook(webhook_id, "disable"))

    async def enable(self, webhook_id: str) -> Webhook:
        """Call the endpoint again for the changes from now on (``redeliver`` sends a call
        it missed)."""
        return await self._client._call(_base.change_webhook(webhook_id, "enable"))

    async def rotate_secret(self, webhook_id: str) -> Webhook:
        """Give the endpoint a new secret, in this answer only; for 24 hours its calls carry
        a signature with the old one too, so that the receiver can switch meanwhile."""
        return await self._client._call(_base.change_webhook(webhook_id, "rotate-secret"))

    async def default_secret(self) -> str:
        """The account's default secret (``whsec_...``), which signs the calls of jobs' own
        webhooks; made on first use."""
        return await self._client._call(_base.default_webhook_secret())

    async def deliveries(
        self,
        *,
        job_id: str | None = None,
        webhook_id: str | None = None,
        state: str | None = None,
        page_size: int = 50,
        limit: int | None = None,
    ) -> AsyncIterator[WebhookDelivery]:
        """The calls made for the account's jobs, newest first, fetched a page at a time; at
        most ``limit``. Only those of one job, of one endpoint, or in one ``state``
        (``pending``, ``delivered``, ``failed``) when given."""
        page = partial(_base.list_deliveries, job_id, webhook_id, state)
        pages = Pages(page, page_size, limit)
        while (call := pages.next_call()) is not None:
            for delivery in pages.take(await self._client._call(call)):
                yield delivery

    async def redeliver(self, delivery_id: str) -> WebhookDelivery:
        """Send a delivered or failed call again, with the same ``webhook-id`` and a new retry
        window (a pending one stays as it is); the call of a disabled or deleted endpoint:
        ``Conflict``."""
        return await self._client._call(_base.redeliver(delivery_id))
