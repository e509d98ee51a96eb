"""The old import path of the notifier, kept while callers move to ``genq.notify``; to be
removed once none imports it."""

from __future__ import annotations

from genq.notify import Listener as Listener
from genq.notify import LocalNotifier as LocalNotifier
from genq.notify import Notifier as Notifier
from genq.notify import Subscription as Subscription
from genq.notify import Topic as Topic
from genq.notify import as_topic as as_topic
from genq.notify import job_topic as job_topic
from genq.notify import open_notifier as open_notifier
