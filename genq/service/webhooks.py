"""Webhooks: the checks a job's webhook meets at submit (``webhook_guard``), the account's
default signing secret, its registered endpoints, and the calls for its jobs, as a job's
status read and the account's lists show them. Sending them is the dispatcher's (``outbox``,
one attempt in ``webhook_send``)."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence

from genq.errors import Clash, Missing, ValidationFailed
from genq.jobs import (
    DEFAULT_WEBHOOK_EVENTS,
    DeliveryRecord,
    DeliveryState,
    JobRecord,
    WebhookEndpoint,
    WebhookEvent,
)
from genq.service import webhook_guard as guard
from genq.service.accounts import known
from genq.service.core import ServiceCore
from genq.webhooks import new_secret

#: Most endpoints one account may register.
MAX_ENDPOINTS = 50
#: How long the secret an endpoint had before a rotation still signs its calls.
PREVIOUS_SECRET_SECONDS = 24 * 3600.0


class Webhooks(ServiceCore):
    async def check_webhook(
        self, url: str | None, events: Sequence[str] | None, *, field: str = "webhook"
    ) -> tuple[WebhookEvent, ...]:
        """The events a submit's webhook is called for (default: ``completed``); 422 naming
        the field (``field`` for the URL) for a URL genq would not call or events without a
        URL."""
        if url is None:
            if events is not None:
                raise ValidationFailed.at("webhook_events", "needs a webhook")
            return ()
        settings = self.settings
        try:
            await guard.check_at_submit(
                url,
                allow_http=settings.webhook_allow_http,
                allow_private=settings.webhook_allow_private,
            )
        except guard.Refused as refused:
            raise ValidationFailed.at(field, str(refused)) from None
        return _events(events)

    async def default_webhook_secret(self, account_id: str) -> str:
        """The account's default signing secret (``whsec_...``), made on first use."""
        return await self._db(self.store.webhook_secret, account_id, new_secret(), time.time())

    async def deliveries(self, job: JobRecord) -> list[DeliveryRecord] | None:
        """The webhook calls for the job; None, without a read, for a job with no webhook of
        its own whose account never had a call made (its endpoints', say)."""
        if job.webhook is None and not await self._has_calls(job.account_id):
            return None
        return await self.store.read_deliveries(job.id)

    async def _has_calls(self, account_id: str) -> bool:
        found = self._accounts_with_calls.get(account_id)
        if found is None:
            found = await self.store.has_calls(account_id)
            self._accounts_with_calls[account_id] = found
        return found

    # -- endpoints ------------------------------------------------------------------------
    async def endpoints(self, account_id: str) -> list[WebhookEndpoint]:
        """The account's endpoints, oldest first."""
        return await self._db(self.store.endpoints, account_id)

    async def endpoint(self, endpoint_id: str, account_id: str) -> WebhookEndpoint:
        """One endpoint of the account (404 otherwise)."""
        found = await self._db(self.store.get_endpoint, known(endpoint_id, "webhook"), account_id)
        return _found(found, endpoint_id)

    async def add_endpoint(
        self,
        account_id: str,
        url: str,
        events: Sequence[str] | None,
        models: Sequence[str] | None,
        description: str | None,
        idempotency_key: str | None = None,
    ) -> tuple[WebhookEndpoint, bool]:
        """Register an endpoint (and True), or, for an ``idempotency_key`` the account used
        before with the same request, the endpoint that made (and False; 409 for another
        request). Its URL passes the checks a job's webhook meets, its models are known (an
        alias stands for its model); 409 past ``MAX_ENDPOINTS``."""
        await self.check_webhook(url, None, field="url")
        endpoint = WebhookEndpoint(
            id=_endpoint_id(account_id, idempotency_key),
            account_id=account_id,
            url=url,
            events=_events(events),
            models=None if models is None else self._model_names(models),
            description=description,
            secret=new_secret(),
            created_at=time.time(),
        )
        if idempotency_key is not None:
            made = await self._made_with_key(endpoint)
            if made is not None:
                return made, False
        if not await self._db(self.store.add_endpoint, endpoint, MAX_ENDPOINTS):
            # Another request with the same key, just now?
            made = None if idempotency_key is None else await self._made_with_key(endpoint)
            if made is not None:
                return made, False
            raise Clash(
                f"the account has {MAX_ENDPOINTS} webhook endpoints, the most it may have: "
                "delete one first",
                code="too_many_webhooks",
            )
        return endpoint, True

    async def _made_with_key(self, endpoint: WebhookEndpoint) -> WebhookEndpoint | None:
        """The endpoint an earlier request with the same Idempotency-Key made (its id is made
        from the key); 409 when that request was another, or its endpoint was deleted."""
        made = await self._db(self.store.get_endpoint, endpoint.id, endpoint.account_id)
        if made is None:
            if await self._db(self.store.endpoint_had_calls, endpoint.id):
                raise Clash(
                    "this Idempotency-Key made an endpoint that was deleted since",
                    code="idempotency_conflict",
                )
            return None
        if (made.url, made.events, made.models, made.description) != (
            endpoint.url,
            endpoint.events,
            endpoint.models,
            endpoint.description,
        ):
            raise Clash(
                "this Idempotency-Key was already used with a different request",
                code="idempotency_conflict",
                details={"webhook_id": made.id},
            )
        return made

    def _model_names(self, models: Sequence[str]) -> tuple[str, ...]:
        names: list[str] = []
        for index, name in enumerate(models):
            try:
                model = self.registry.get(name).name
            except Missing:
                raise ValidationFailed.at(f"models/{index}", f"no model {name!r}") from None
            if model not in names:
                names.append(model)
        return tuple(names)

    async def delete_endpoint(self, endpoint_id: str, account_id: str) -> None:
        """Delete an endpoint of the account; its calls not yet sent fail."""
        deleted = await self._db(
            self.store.delete_endpoint, known(endpoint_id, "webhook"), account_id, time.time()
        )
        if not deleted:
            _found(None, endpoint_id)

    async def set_endpoint_enabled(
        self, endpoint_id: str, account_id: str, enabled: bool
    ) -> WebhookEndpoint:
        """Enable an endpoint of the account, or disable it (its calls not yet sent fail)."""
        endpoint_id = known(endpoint_id, "webhook")
        if enabled:
            found = await self._db(self.store.enable_endpoint, endpoint_id, account_id)
        else:
            found = await self._db(
                self.store.disable_endpoint,
                endpoint_id,
                account_id,
                time.time(),
                "disabled by its account",
            )
        return _found(found, endpoint_id)

    async def rotate_endpoint_secret(self, endpoint_id: str, account_id: str) -> WebhookEndpoint:
        """Give an endpoint a new secret; the one it had signs its calls too for
        ``PREVIOUS_SECRET_SECONDS``, so that its receiver can switch meanwhile. Rotated again
        within that time, the secret before the first rotation keeps signing, the one in
        between does not: a rotation repeated because its answer was lost leaves the
        receiver's secret working."""
        now = time.time()
        found = await self._db(
            self.store.rotate_endpoint_secret,
            known(endpoint_id, "webhook"),
            account_id,
            new_secret(),
            now,
            now + PREVIOUS_SECRET_SECONDS,
        )
        return _found(found, endpoint_id)

    # -- calls ------------------------------------------------------------------------------
    async def list_deliveries(
        self,
        account_id: str,
        *,
        job_id: str | None,
        endpoint_id: str | None,
        state: DeliveryState | None,
        before: tuple[float, str] | None,
        limit: int,
    ) -> list[DeliveryRecord]:
        """The account's webhook calls, newest first."""
        return await self._db(
            lambda: self.store.list_deliveries(
                account_id,
                job_id=job_id,
                endpoint_id=endpoint_id,
                state=state,
                before=before,
                limit=limit,
            )
        )

    async def redeliver(self, delivery_id: str, account_id: str) -> DeliveryRecord:
        """Send a call again, with its ``webhook-id``, for a new retry window; a call still
        pending stays as it is. 409 for the call of an endpoint deleted or disabled since."""
        delivery_id = known(delivery_id, "delivery")
        delivery = await self._db(self.store.get_delivery, delivery_id, account_id)
        if delivery is None:
            raise Missing(f"no webhook call {delivery_id!r}", code="delivery_not_found")
        if delivery.endpoint_id is not None:
            endpoint = await self._db(self.store.get_endpoint, delivery.endpoint_id, account_id)
            if endpoint is None or not endpoint.enabled:
                raise Clash(
                    f"the webhook endpoint {delivery.endpoint_id} of this call is "
                    + ("deleted" if endpoint is None else "disabled: enable it first"),
                    code="webhook_disabled",
                )
        sent = await self._db(self.store.redeliver, delivery_id, account_id, time.time())
        if sent is None:  # the job was deleted meanwhile
            raise Missing(f"no webhook call {delivery_id!r}", code="delivery_not_found")
        return sent


def _events(events: Sequence[str] | None) -> tuple[WebhookEvent, ...]:
    """The events asked for, in the order of ``WebhookEvent`` and each once (default:
    ``completed``)."""
    if events is None:
        return DEFAULT_WEBHOOK_EVENTS
    return tuple(event for event in WebhookEvent if event.value in events)


def _endpoint_id(account_id: str, idempotency_key: str | None) -> str:
    """A new endpoint's id: random, or, for a request with an ``Idempotency-Key``, made from
    the account and the key, so that a repeated request finds the endpoint the first made."""
    if idempotency_key is None:
        return "wh_" + secrets.token_hex(12)
    digest = hashlib.sha256(f"{account_id}\x00{idempotency_key}".encode()).hexdigest()
    return "wh_" + digest[:24]


def _found(endpoint: WebhookEndpoint | None, endpoint_id: str) -> WebhookEndpoint:
    if endpoint is None:
        raise Missing(f"no webhook endpoint {endpoint_id!r}", code="webhook_not_found")
    return endpoint
