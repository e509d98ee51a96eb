"""What the sync and async clients share: configuration, the API's requests and how to read
their answers. Each client only sends (``_sync.py``, ``_async.py``)."""

from __future__ import annotations

import codecs
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from genq.client import _config
from genq.client._errors import (
    JobCanceled,
    JobExpired,
    JobFailed,
    ProtocolError,
    api_error,
)
from genq.client._files import with_files
from genq.client._retry import RetryPolicy, retry_after
from genq.client._types import Job, JobStatus, ModelInfo, Webhook, WebhookDelivery

#: Most of a text output that ``output_text`` reads unless told otherwise.
MAX_TEXT_BYTES = 1 << 20

T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request of the API and how to read its answer; either client sends it."""

    method: str
    url: str
    read: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout: httpx.Timeout | None = None
    #: Send the API key. Signed links need none, and object storage refuses a second
    #: credential next to the one the link carries.
    auth: bool = True
    #: A 404 answering a retry means that an earlier attempt got through (a DELETE whose
    #: answer was lost): the call is done.
    gone_after_retry: bool = False


class BaseClient:
    """Configuration, request building and answer reading for ``Client`` and ``AsyncClient``."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        *,
        timeout: float | httpx.Timeout | None,
        max_retries: int | None,
    ) -> None:
        self.base_url = _config.base_url(base_url)
        self.api_key = _config.api_key(api_key)
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.retry = RetryPolicy(max_retries=_config.max_retries(max_retries))

    def _http_options(self) -> dict[str, Any]:
        """Arguments of the underlying ``httpx.Client`` or ``httpx.AsyncClient``."""
        return {
            "base_url": self.base_url,
            "timeout": self.timeout,
            # GET /v1/jobs/{id}/outputs/{n} redirects to object storage; httpx drops the
            # Authorization header when a redirect leaves the server's origin.
            "follow_redirects": True,
            "headers": {"User-Agent": _config.user_agent()},
        }

    def _build(self, http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
        headers = dict(call.headers)
        if call.auth:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return http.build_request(
            call.method,
            call.url,
            params=call.params,
            json=call.json,
            headers=headers,
            timeout=call.timeout or self.timeout,
        )

    @staticmethod
    def _result(call: Call[T], response: httpx.Response, retried: bool) -> T:
        """What a call returns for its final answer (body read); an error answer raises."""
        gone = call.gone_after_retry and retried and response.status_code == 404
        if response.is_success or gone:
            return call.read(response)
        raise api_error(response, retry_after(response))


def with_read(timeout: httpx.Timeout, read: float | None) -> httpx.Timeout:
    """The client's timeouts with another read timeout."""
    return httpx.Timeout(connect=timeout.connect, read=read, write=timeout.write, pool=timeout.pool)


def long_poll_timeout(timeout: httpx.Timeout, wait: float) -> httpx.Timeout:
    """The client's timeouts, with reads that outlast a long-poll of ``wait`` seconds."""
    return with_read(timeout, wait + (timeout.read or 60.0))


#: One page of a list of the API: its items and the cursor of the next page (None: the last).
Page = tuple[list[T], str | None]


class Pages(Generic[T]):
    """Paging through a list of the API by ``next_cursor``, stopping after ``limit`` items.
    ``page(size, cursor)`` is the request for one page."""

    def __init__(
        self,
        page: Callable[[int, str | None], Call[Page[T]]],
        page_size: int,
        limit: int | None,
    ) -> None:
        self.page, self.page_size = page, page_size
        self.left = limit
        self.cursor: str | None = None
        self.done = limit is not None and limit <= 0

    def next_call(self) -> Call[Page[T]] | None:
        """The request for the next page; None once done."""
        if self.done:
            return None
        size = self.page_size if self.left is None else min(self.page_size, self.left)
        return self.page(size, self.cursor)

    def take(self, page: Page[T]) -> list[T]:
        items, self.cursor = page
        if self.left is not None:
            items = items[: self.left]
            self.left -= len(items)
        self.done = self.cursor is None or self.left == 0
        return items


def job_path(job_id: str) -> str:
    return f"/v1/jobs/{quote(job_id, safe='')}"


def submit_job(
    model: str,
    input: dict[str, Any] | None,
    priority: int,
    metadata: dict[str, Any] | None,
    idempotency_key: str | None,
) -> Call[Job]:
    body = {
        "model": model,
        # Local files (``pathlib.Path`` values) travel as data: URIs.
        "input": with_files(input or {}),
        "priority": priority,
        "metadata": metadata or {},
    }
    # Every submit has a key, so that a retry after a lost answer gets the job that answer
    # described instead of making a second one.
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    return Call("POST", "/v1/jobs", read_job, json=body, headers=headers)


def get_job(job_id: str, wait: float = 0, timeout: httpx.Timeout | None = None) -> Call[Job]:
    params = {"wait": f"{wait:g}"} if wait > 0 else None
    return Call("GET", job_path(job_id), read_job, params=params, timeout=timeout)


def cancel_job(job_id: str) -> Call[Job]:
    return Call("POST", f"{job_path(job_id)}/cancel", read_job)


def retry_job(job_id: str, idempotency_key: str | None) -> Call[Job]:
    # As a submit: a retry after a lost answer gets the job that answer described.
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    return Call("POST", f"{job_path(job_id)}/retry", read_job, headers=headers)


def delete_job(job_id: str) -> Call[None]:
    return Call("DELETE", job_path(job_id), lambda response: None, gone_after_retry=True)


def list_jobs(
    status: JobStatus | str | None, model: str | None, page_size: int, cursor: str | None
) -> Call[Page[Job]]:
    params: dict[str, Any] = {"limit": page_size}
    for name, value in (("status", status), ("model", model), ("cursor", cursor)):
        if value is not None:
            params[name] = str(value)
    return Call("GET", "/v1/jobs", read_page, params=params)


def list_models() -> Call[list[ModelInfo]]:
    return Call("GET", "/v1/models", read_models)


def get_model(name: str) -> Call[ModelInfo]:
    return Call("GET", f"/v1/models/{quote(name, safe='/')}", read_model)


def webhook_path(webhook_id: str) -> str:
    return f"/v1/webhooks/{quote(webhook_id, safe='')}"


def create_webhook(
    url: str,
    events: Sequence[str] | None,
    models: Sequence[str] | None,
    description: str | None,
) -> Call[Webhook]:
    body: dict[str, Any] = {"url": url}
    # Left out rather than null: the server's defaults apply (``completed``, every model).
    for name, value in (("events", events), ("models", models)):
        if value is not None:
            body[name] = list(value)
    if description is not None:
        body["description"] = description
    # As every submit: a retry after a lost answer gets the endpoint that answer showed.
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    return Call("POST", "/v1/webhooks", read_webhook, json=body, headers=headers)


def list_webhooks() -> Call[list[Webhook]]:
    return Call("GET", "/v1/webhooks", read_webhooks)


def get_webhook(webhook_id: str) -> Call[Webhook]:
    return Call("GET", webhook_path(webhook_id), read_webhook)


def delete_webhook(webhook_id: str) -> Call[None]:
    return Call("DELETE", webhook_path(webhook_id), lambda response: None, gone_after_retry=True)


def change_webhook(webhook_id: str, action: str) -> Call[Webhook]:
    """``POST /v1/webhooks/{id}/{action}``: ``disable``, ``enable`` or ``rotate-secret``."""
    return Call("POST", f"{webhook_path(webhook_id)}/{action}", read_webhook)


def default_webhook_secret() -> Call[str]:
    return Call("GET", "/v1/webhooks/default/secret", read_secret)


def list_deliveries(
    job_id: str | None,
    webhook_id: str | None,
    state: str | None,
    page_size: int,
    cursor: str | None,
) -> Call[Page[WebhookDelivery]]:
    params: dict[str, Any] = {"limit": page_size}
    filters = (("job_id", job_id), ("webhook_id", webhook_id), ("state", state), ("cursor", cursor))
    for name, value in filters:
        if value is not None:
            params[name] = str(value)
    return Call("GET", "/v1/webhooks/deliveries", read_delivery_page, params=params)


def redeliver(delivery_id: str) -> Call[WebhookDelivery]:
    path = f"/v1/webhooks/deliveries/{quote(delivery_id, safe='')}/redeliver"
    return Call("POST", path, read_delivery)


def output_link(url: str) -> Call[None]:
    """A signed link to an output file: absolute, and needing no API key."""
    return Call("GET", url, lambda response: None, auth=False)


def output_file(job_id: str, index: int) -> Call[None]:
    """An output file by the API key, for when its signed link has expired."""
    return Call("GET", f"{job_path(job_id)}/outputs/{index}", lambda response: None)


def text_output(job: Job, index: int | None) -> int | None:
    """Which output ``output_text`` reads: ``index`` (``IndexError`` if the job has no such
    output), or else the first ``text/plain`` one; None when there is none."""
    if index is not None:
        if not 0 <= index < len(job.outputs):
            raise IndexError(f"job {job.id} has no output {index}")
        return index
    for n, output in enumerate(job.outputs):
        if output.content_type.partition(";")[0].strip().lower() == "text/plain":
            return n
    return None


def decode_text(data: bytes, cut: bool) -> str:
    """UTF-8 text; in text ``cut`` short, a character cut in two is left out rather than
    shown as U+FFFD."""
    return codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=not cut)


def outcome(job: Job) -> Job:
    """A finished job that succeeded; otherwise the ``JobError`` that says how it ended."""
    if job.status is JobStatus.FAILED:
        raise JobFailed(job)
    if job.status is JobStatus.CANCELED:
        raise JobCanceled(job)
    if job.status is JobStatus.EXPIRED:
        raise JobExpired(job)
    return job


# -- reading answers -------------------------------------------------------------------
def read_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProtocolError(
            f"{response.request.method} {response.request.url} answered {response.status_code}"
            f" with a body that is not JSON: {response.text[:200]!r}"
        ) from None


def read_job(response: httpx.Response) -> Job:
    return Job.from_api(read_json(response))


def read_items(response: httpx.Response, item: Callable[[Any], T], what: str) -> list[T]:
    """The ``data`` of a list answer, each read by ``item``."""
    return read_page_of(response, item, what)[0]


def read_page_of(response: httpx.Response, item: Callable[[Any], T], what: str) -> Page[T]:
    body = read_json(response)
    try:
        return [item(data) for data in body["data"]], body.get("next_cursor")
    except (KeyError, TypeError, AttributeError) as exc:
        raise ProtocolError(f"cannot read {what}: {exc!r}") from None


def read_page(response: httpx.Response) -> Page[Job]:
    return read_page_of(response, Job.from_api, "a page of jobs")


def read_models(response: httpx.Response) -> list[ModelInfo]:
    return read_items(response, ModelInfo.from_api, "the list of models")


def read_model(response: httpx.Response) -> ModelInfo:
    return ModelInfo.from_api(read_json(response))


def read_webhook(response: httpx.Response) -> Webhook:
    return Webhook.from_api(read_json(response))


def read_webhooks(response: httpx.Response) -> list[Webhook]:
    return read_items(response, Webhook.from_api, "the list of webhook endpoints")


def read_secret(response: httpx.Response) -> str:
    try:
        return str(read_json(response)["key"])
    except (KeyError, TypeError) as exc:
        raise ProtocolError(f"cannot read the webhook secret: {exc!r}") from None


def read_delivery(response: httpx.Response) -> WebhookDelivery:
    return WebhookDelivery.from_api(read_json(response))


def read_delivery_page(response: httpx.Response) -> Page[WebhookDelivery]:
    return read_page_of(response, WebhookDelivery.from_api, "a page of webhook calls")
