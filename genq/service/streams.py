"""Taking a job's streamed pieces: its ``text`` and ``partial`` events, each handed out once to
a stream that answers only what is new since its last call (``genq.store.streams``)."""

from __future__ import annotations

import time

from genq.errors import Missing
from genq.jobs import EventRecord
from genq.service.core import ServiceCore, known_id

#: Most streamed pieces one take hands out, and about the most bytes they hold (a single
#: piece holds at most 256 KiB, ``genq.limits.MAX_PARTIAL_BYTES``).
STREAM_TAKE = 1000
STREAM_TAKE_BYTES = 1 << 20


class Streams(ServiceCore):
    async def take_stream(self, account_id: str, job_id: str) -> list[EventRecord]:
        """The job's streamed pieces that no earlier call took, oldest first, now taken: each
        is handed out once, whichever API process is asked. At most ``STREAM_TAKE`` of them,
        and about ``STREAM_TAKE_BYTES``, at a time."""
        taken = await self._db(
            self.store.take_stream,
            account_id,
            known_id(job_id),
            time.time(),
            limit=STREAM_TAKE,
            max_bytes=STREAM_TAKE_BYTES,
        )
        if taken is None:
            raise Missing(f"no job {job_id!r}", code="job_not_found")
        return taken
