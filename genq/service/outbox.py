"""The webhook dispatcher: takes due webhook calls from the store's outbox and sends them
(``webhook_send``), at least once each, in every API process (on PostgreSQL the processes
share the work: a call one of them is taking is skipped by the others).

The rules, in one place:

- The call of a job's own webhook is signed with its account's default secret; that of an
  endpoint with the endpoint's secret (and the one before it, for a day after a rotation).
  An endpoint deleted or disabled meanwhile fails its call unsent.
- 2xx: delivered. 410 Gone from an endpoint disables it (its pending calls fail). 429:
  retried after its ``Retry-After`` (at least the backoff, at most until the end of the
  window; without one, as a 5xx). 5xx, timeouts and connection errors: retried after
  ``webhook_backoff_seconds``, doubled for each further retry up to
  ``webhook_backoff_max_seconds``, with jitter, for ``webhook_retry_seconds`` from when the
  call was made (or sent again by its account). Any other status (a 3xx: redirects are not
  followed; a 4xx): the call fails at once, as does an address the guard refuses. An attempt
  that breaks in any other way (a render, a link) is a failed attempt too, retried as after
  a 5xx.
- One job's calls to one URL go out one at a time, in the order they were made, across
  processes: a call is not taken while an earlier one of its job to that URL is pending (a
  retry holds the later calls back until it is delivered or fails).
- At most ``webhook_host_concurrency`` calls to one host at once, and each within
  ``webhook_timeout_seconds``: a slow or dead receiver holds only its own calls. Calls to a
  host that is busy are put back for a moment, untried; a take holds at most that many
  calls to one URL, so that one receiver's backlog never fills it.
- The body is the job as ``GET /v1/jobs/{id}`` shows it now, plus ``event``; a job's own
  webhook, set through a vendor dialect that has its own body, gets that (the vendor's
  prediction object, say). Rendered when sent, so its links are fresh. A job deleted
  meanwhile has no calls left.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from cachetools import TTLCache

from genq import metrics
from genq.jobs import DeliveryRecord, DeliveryState, JobRecord
from genq.notify import Notifier, Topic
from genq.service import webhook_send as send
from genq.settings import Settings
from genq.store import JobStore
from genq.webhooks import new_secret

log = logging.getLogger("genq.webhooks")

T = TypeVar("T")
#: Most calls one process has under way at once, all hosts together.
MAX_IN_FLIGHT = 64
#: How soon a call put back because its host was busy is looked at again.
BUSY_HOST_DELAY = 0.5

#: The body of one call for a job: its JSON object, ``event`` included.
Render = Callable[[JobRecord, DeliveryRecord], Awaitable[dict[str, Any]]]
#: A settled attempt's outcome, as ``genq_webhook_attempts_total`` counts it.
OUTCOMES = {
    DeliveryState.DELIVERED: "delivered",
    DeliveryState.PENDING: "retried",
    DeliveryState.FAILED: "failed",
}


def host_of(url: str) -> str:
    """What the per-host limit counts by: the URL's scheme, host and port."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0].lower()}"


def backoff(settings: Settings, attempts: int) -> float:
    """The wait before the retry that follows ``attempts`` failed attempts: doubling from
    ``webhook_backoff_seconds``, at most ``webhook_backoff_max_seconds``, ±20 % jitter so that
    the calls a receiver's outage failed together do not all come back together."""
    delay = settings.webhook_backoff_seconds * 2 ** max(0, attempts - 1)
    return min(delay, settings.webhook_backoff_max_seconds) * random.uniform(0.8, 1.2)


class Dispatcher:
    """Sends the outbox of ``store``: rendering jobs with ``render``, woken by job changes on
    ``notifier``."""

    def __init__(
        self, store: JobStore, settings: Settings, render: Render, notifier: Notifier
    ) -> None:
        self.store = store
        self.settings = settings
        self.render = render
        self._wake = asyncio.Event()
        self._busy: collections.Counter[str] = collections.Counter()
        self._tasks: set[asyncio.Task[None]] = set()
        # Read once a minute at most: an account's default secret is made once and never
        # changes. (An endpoint's is read for each call: it may be rotated.)
        self._secrets: TTLCache[str, str] = TTLCache(maxsize=4096, ttl=60)
        loop = asyncio.get_running_loop()

        def changed(job_id: str) -> None:
            # A job changed: a call may have become due.
            loop.call_soon_threadsafe(self._wake.set)

        notifier.add_listener(Topic.JOB, changed)

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        if self.store.blocking:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    def wake_in(self, seconds: float) -> None:
        # A little late: the loop's timers may fire a hair before the wall clock says a call
        # is due, and that look would find nothing until the next poll.
        asyncio.get_running_loop().call_later(max(0.0, seconds) + 0.01, self._wake.set)

    async def run(self) -> None:
        """Send due calls until canceled."""
        try:
            while True:
                self._wake.clear()
                try:
                    await self.round()
                except Exception:
                    log.exception("taking webhook calls failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_seconds)
        finally:
            for task in self._tasks:
                task.cancel()

    async def round(self) -> None:
        """Take the due calls there is room for and start them; put back those whose host
        is busy."""
        room = MAX_IN_FLIGHT - len(self._tasks)
        if room <= 0:
            return
        now = time.time()
        # Held long enough for the attempt (it starts at once: a job's earlier calls are not
        # taken together) and its record; a process killed meanwhile leaves it to be taken
        # again after that.
        hold = now + self.settings.webhook_timeout_seconds + 10
        taken = await self._db(
            lambda: self.store.take_deliveries(
                now, hold, room, per_url=self.settings.webhook_host_concurrency
            )
        )
        later = []
        for delivery in taken:
            host = host_of(delivery.url)
            if self._busy[host] >= self.settings.webhook_host_concurrency:
                later.append(delivery)
                continue
            self._busy[host] += 1
            task = asyncio.create_task(self._deliver(delivery, host))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if later:
            await self._db(self.store.put_back, later, now + BUSY_HOST_DELAY)
            self.wake_in(BUSY_HOST_DELAY)

    async def _deliver(self, delivery: DeliveryRecord, host: str) -> None:
        try:
            try:
                await self._attempt(delivery)
            except Exception as exc:
                # Whatever broke (a render, a link, a receiver's odd answer) counts as a failed
                # attempt, retried within the window: left held, it would be sent forever.
                log.exception("webhook call %s: the attempt failed", delivery.id)
                await self._retry_or_fail(delivery, None, f"the attempt failed ({exc!r})")
        except Exception:
            log.exception("webhook call %s could not be settled", delivery.id)
        finally:
            self._busy[host] -= 1
            if not self._busy[host]:
                del self._busy[host]
            self._wake.set()

    async def _secret(self, account_id: str) -> str:
        secret = self._secrets.get(account_id)
        if secret is None:
            made = new_secret()
            secret = await self._db(self.store.webhook_secret, account_id, made, time.time())
            self._secrets[account_id] = secret
        return secret

    async def _signing(self, delivery: DeliveryRecord) -> tuple[str, ...] | str:
        """The secrets that sign the call, or why it cannot be sent."""
        if delivery.endpoint_id is None:
            return (await self._secret(delivery.account_id),)
        endpoint = await self._db(self.store.get_endpoint, delivery.endpoint_id, None)
        if endpoint is None:
            return "the webhook endpoint was deleted"
        if not endpoint.enabled:
            return f"the webhook endpoint is disabled ({endpoint.disabled_reason})"
        return endpoint.signing_secrets(time.time())

    async def _attempt(self, delivery: DeliveryRecord) -> None:
        settings = self.settings
        job = await self._db(self.store.get_job_any_account, delivery.job_id, time.time())
        if job is None:
            await self._settle(delivery, DeliveryState.FAILED, None, "the job is gone")
            return
        secrets = await self._signing(delivery)
        if isinstance(secrets, str):
            await self._settle(delivery, DeliveryState.FAILED, None, secrets)
            return
        body = orjson.dumps(await self.render(job, delivery))
        started = time.perf_counter()
        answer = await send.attempt(
            delivery.url,
            delivery.id,
            body,
            secrets,
            timeout=settings.webhook_timeout_seconds,
            allow_http=settings.webhook_allow_http,
            allow_private=settings.webhook_allow_private,
        )
        metrics.WEBHOOK_ATTEMPT_SECONDS.observe(time.perf_counter() - started)
        status = answer.status
        if status is not None and 200 <= status < 300:
            await self._settle(delivery, DeliveryState.DELIVERED, status, None)
            return
        if answer.refused or (status is not None and status < 500 and status != 429):
            await self._fail(delivery, status, answer.error)
            if status == 410 and delivery.endpoint_id is not None:
                await self._gone(delivery)
            return
        await self._retry_or_fail(delivery, status, answer.error, answer.retry_after)

    async def _gone(self, delivery: DeliveryRecord) -> None:
        """The receiver of an endpoint answered 410 Gone: disable the endpoint."""
        log.warning("webhook endpoint %s answered 410 Gone: it is disabled", delivery.endpoint_id)
        reason = "its receiver answered 410 Gone"
        await self._db(self.store.disable_endpoint, delivery.endpoint_id, None, time.time(), reason)

    async def _retry_or_fail(
        self,
        delivery: DeliveryRecord,
        status: int | None,
        error: str | None,
        retry_after: float | None = None,
    ) -> None:
        settings = self.settings
        now = time.time()
        deadline = delivery.window_start + settings.webhook_retry_seconds
        wait = backoff(settings, delivery.attempts + 1)
        at = now + wait
        if retry_after is not None and now < deadline:
            # Never sooner than the backoff ("Retry-After: 0" would make a tight loop), never
            # later than the window's end: a last try then.
            at = min(now + max(retry_after, wait), deadline)
        if at <= deadline:
            log.info("webhook call %s: %s; retry in %.1f s", delivery.id, error, at - now)
            await self._settle(delivery, DeliveryState.PENDING, status, error, at)
            self.wake_in(at - now)
            return
        await self._fail(delivery, status, error)

    async def _fail(self, delivery: DeliveryRecord, status: int | None, error: str | None) -> None:
        log.warning("webhook call %s to %s failed: %s", delivery.id, host_of(delivery.url), error)
        await self._settle(delivery, DeliveryState.FAILED, status, error)

    async def _settle(
        self,
        delivery: DeliveryRecord,
        state: DeliveryState,
        status: int | None,
        error: str | None,
        next_at: float | None = None,
    ) -> None:
        settled = await self._db(
            lambda: self.store.settle_delivery(
                delivery, state, time.time(), status=status, error=error, next_at=next_at
            )
        )
        if not settled:
            log.warning("webhook call %s was settled by another attempt", delivery.id)
            return
        metrics.WEBHOOK_ATTEMPTS.labels(OUTCOMES[state]).inc()
        if state is DeliveryState.DELIVERED:
            metrics.WEBHOOK_LATENCY.observe(max(0.0, time.time() - delivery.window_start))


async def dispatch_forever(
    store: JobStore, settings: Settings, render: Render, notifier: Notifier
) -> None:
    """Run a ``Dispatcher`` until canceled."""
    await Dispatcher(store, settings, render, notifier).run()
