"""The job service: the one place that turns requests into store, storage and notifier calls.

HTTP surfaces (the native API and each vendor dialect) call only this.

The service is one class made of one part per concern: ``core`` (what they share),
``submit``, ``retry`` (an ended job run again), ``follow``, ``listing``, ``control`` (cancel,
delete), ``files``, ``uploads`` (files sent ahead of the jobs that read them),
``housekeeping`` (the sweep), ``accounts`` (accounts, keys and the console's sign-in),
``webhooks`` and ``deadlines`` (start deadlines).
"""

from __future__ import annotations

from genq.service.accounts import Accounts, Tally, UsageReport
from genq.service.control import Control
from genq.service.deadlines import Deadlines
from genq.service.estimates import Estimate, Estimates
from genq.service.files import MAX_TEXT_BYTES, Files
from genq.service.follow import MAX_WAIT_SECONDS, Following, QueueState
from genq.service.housekeeping import Housekeeping
from genq.service.listing import MAX_PAGE, MAX_PAGE_NUMBER, Listing
from genq.service.retry import Retrying
from genq.service.submit import Submitting
from genq.service.uploads import Uploads
from genq.service.webhooks import Webhooks
from genq.store import JobFilter
from genq.store.base import AccountSummary

__all__ = [
    "MAX_PAGE",
    "MAX_PAGE_NUMBER",
    "MAX_TEXT_BYTES",
    "MAX_WAIT_SECONDS",
    "AccountSummary",
    "Estimate",
    "JobFilter",
    "JobService",
    "QueueState",
    "Tally",
    "UsageReport",
]


class JobService(
    Retrying,
    Submitting,
    Following,
    Listing,
    Control,
    Files,
    Housekeeping,
    Deadlines,
    Accounts,
    Webhooks,
    Estimates,
    Uploads,
):
    """Jobs for the HTTP surfaces: submit, follow, list, cancel and delete them, reach their
    files, and keep the store tidy; the accounts and keys they belong to; their webhooks;
    the files sent ahead of them."""
