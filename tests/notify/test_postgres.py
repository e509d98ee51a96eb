"""The PostgreSQL notifier delivers, in this process, what a store of the same schema announces
from any process."""

from __future__ import annotations

import asyncio

from genq.notify import Topic, open_notifier
from genq.notify.postgres import PostgresNotifier
from genq.store.postgres import PostgresStore
from tests.pg import drop_schema, new_schema, store_url
from tests.store.test_store_contract import LEASE, T0, new_job


def test_the_notifier_delivers_the_stores_announcements() -> None:
    """A submit reaches the ``QUEUED`` listeners with its model, and a claim wakes the waiters
    on the job."""
    schema = new_schema("ntf")
    store = PostgresStore(store_url(schema))

    async def main() -> tuple[list[str], bool]:
        notifier = open_notifier(store_url(schema))
        assert isinstance(notifier, PostgresNotifier)
        queued: list[str] = []
        notifier.add_listener(Topic.QUEUED, queued.append)
        await notifier.start()
        try:
            await asyncio.wait_for(notifier.connected.wait(), 10)
            account = store.ensure_account("alice", None, T0)
            job = store.submit(new_job(account, model="m")).job
            with notifier.subscribe(Topic.JOB, job.id) as subscription:
                store.claim("w1", ["m"], T0 + 1, LEASE)
                woken = await subscription.wait(10)
            return queued, woken
        finally:
            await notifier.close()

    try:
        assert asyncio.run(main()) == (["m"], True)
    finally:
        store.close()
        drop_schema(schema)
