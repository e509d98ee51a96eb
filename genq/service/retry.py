"""Running a job again on request: a new job made from an ended one, submitted like any other
(the same checks, the same hold on the account's credits) and linked to it both ways."""

from __future__ import annotations

from genq.errors import Clash
from genq.jobs import JobRecord, Status
from genq.service.submit import Submitting

#: The ends a job may be retried from: those that did not give the caller what it asked for.
RETRYABLE = (Status.FAILED, Status.CANCELED, Status.EXPIRED)


class Retrying(Submitting):
    async def retry(
        self, account_id: str, job_id: str, *, idempotency_key: str | None = None
    ) -> tuple[JobRecord, bool]:
        """A new job with the ended job's model (by the name its caller used), input,
        priority, metadata, webhook, timeout and retention (not its start deadline, which has
        passed or would hold the retry to the old job's time); returns it and whether it was
        created (not an idempotent replay). 409 ``not_retryable`` unless the job failed, was
        canceled or expired."""
        old = await self.get(account_id, job_id)
        if old.status not in RETRYABLE:
            raise Clash(
                f"job {old.id} is {old.status.value}: only a failed, canceled or expired job "
                "can be retried",
                code="not_retryable",
                details={"status": old.status.value},
            )
        origin = old.origin
        return await self.submit(
            account_id,
            old.model if origin is None else origin.model,
            old.input,
            priority=old.priority,
            metadata=old.metadata,
            idempotency_key=idempotency_key,
            api="native" if origin is None else origin.api,
            request=None if origin is None or not origin.request else origin.request,
            retention_seconds=old.expires_at - old.created_at,
            webhook=old.webhook,
            webhook_events=[event.value for event in old.webhook_events] if old.webhook else None,
            timeout=old.timeout_seconds,
            retry_of=old.id,
        )
