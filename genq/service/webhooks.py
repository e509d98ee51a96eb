"""Webhooks: the checks a job's webhook meets at submit (``webhook_guard``), the account's
default signing secret, and the calls of a job's webhook as its status read shows them.
Sending them is the dispatcher's (``outbox``, one attempt in ``webhook_send``)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from genq.errors import ValidationFailed
from genq.jobs import DEFAULT_WEBHOOK_EVENTS, DeliveryRecord, JobRecord, WebhookEvent
from genq.service import webhook_guard as guard
from genq.service.core import ServiceCore
from genq.webhooks import new_secret


class Webhooks(ServiceCore):
    async def check_webhook(
        self, url: str | None, events: Sequence[str] | None
    ) -> tuple[WebhookEvent, ...]:
        """The events a submit's webhook is called for (default: ``completed``); 422 naming
        the field for a URL genq would not call or events without a URL."""
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
            raise ValidationFailed.at("webhook", str(refused)) from None
        if events is None:
            return DEFAULT_WEBHOOK_EVENTS
        # The order of WebhookEvent, each once.
        return tuple(event for event in WebhookEvent if event.value in events)

    async def default_webhook_secret(self, account_id: str) -> str:
        """The account's default signing secret (``whsec_...``), made on first use."""
        return await self._db(self.store.webhook_secret, account_id, new_secret(), time.time())

    async def deliveries(self, job: JobRecord) -> list[DeliveryRecord]:
        """The calls of the job's webhook; none, without a read, for a job that has none."""
        if job.webhook is None:
            return []
        return await self.store.read_deliveries(job.id)
