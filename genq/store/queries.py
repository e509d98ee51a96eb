"""Every statement of the job store, named, with ``:name`` parameters.

Written once for both engines, in PostgreSQL's spelling: ``FOR UPDATE`` where a row is read to
be changed, ``= ANY(:array)`` for membership (see ``genq.store.sqlite`` for how SQLite reads
them). A statement whose SQL really differs is a ``PerEngine``. A statement that changes jobs
is a ``Change``: with it, what each job it returns records and announces.

A job that ends canceled or failed here is charged nothing (``cost_actual_micros = 0``): the
rule of ``genq.pricing.charge``, which ``finish`` applies.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from genq.jobs import Status
from genq.notify.base import Topic
from genq.store import fair
from genq.store.base import JobFilter
from genq.store.changes import Change, PerEngine, Record

# -- accounts and keys -------------------------------------------------------------------
INSERT_ACCOUNT = (
    "INSERT INTO accounts (id, name, credits_micros, created_at, admin)"
    " VALUES (:id, :name, :credits_micros, :created_at, :admin)"
    " ON CONFLICT (name) DO NOTHING RETURNING *"
)
ACCOUNT = "SELECT * FROM accounts WHERE id = :id"
ACCOUNT_BY_NAME = "SELECT * FROM accounts WHERE name = :name"
MAKE_ADMIN = "UPDATE accounts SET admin = TRUE WHERE name = :name RETURNING *"
LOCK_ACCOUNT = f"{ACCOUNT} FOR UPDATE"
ADD_CREDITS = (
    "UPDATE accounts SET credits_micros = credits_micros + :amount WHERE id = :id RETURNING *"
)
# Each account with what its unfinished jobs hold (as ``HELD`` sums it) and its keys.
ACCOUNTS = (
    "SELECT a.*, (SELECT COUNT(*) FROM api_keys k WHERE k.account_id = a.id) AS keys,"
    " (SELECT COALESCE(SUM(cost_estimate_micros), 0) FROM jobs j WHERE j.account_id = a.id"
    " AND j.status IN ('queued', 'running')) AS held"
    " FROM accounts a ORDER BY a.name"
)

_KEYS = "SELECT k.*, a.name AS account_name FROM api_keys k JOIN accounts a ON a.id = k.account_id"
_RETURNING_KEY = " RETURNING *, (SELECT name FROM accounts WHERE id = account_id) AS account_name"
INSERT_KEY = (
    "INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_at)"
    " VALUES (:id, :account_id, :name, :key_hash, :prefix, :created_at)" + _RETURNING_KEY
)
KEYS = f"{_KEYS} ORDER BY k.created_at, k.id"
ACCOUNT_KEYS = f"{_KEYS} WHERE k.account_id = :account_id ORDER BY k.created_at, k.id"
# With its account's limits: the key read that authenticates a request carries them, so that
# the rate limit costs no read of its own.
KEY_BY_HASH = (
    "SELECT k.*, a.name AS account_name, a.max_running, a.max_queued, a.rate_per_second,"
    " a.rate_burst, a.storage_quota_bytes"
    " FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.key_hash = :key_hash"
)
# ``:account_id`` NULL: a key of any account (an admin's or the command line's change).
_THE_KEY = "id = :id AND (CAST(:account_id AS TEXT) IS NULL OR account_id = :account_id)"
DISABLE_KEY = f"UPDATE api_keys SET disabled = :disabled WHERE {_THE_KEY}" + _RETURNING_KEY
DELETE_KEY = f"DELETE FROM api_keys WHERE {_THE_KEY}" + _RETURNING_KEY
# A minute's precision: a key is written to at most once a minute, however often it is used.
TOUCH_KEY = (
    "UPDATE api_keys SET last_used_at = :now"
    " WHERE id = :id AND (last_used_at IS NULL OR last_used_at < :before)"
)

# The console's one-time sign-in: a token is taken once, before it expires.
INSERT_SIGN_IN = (
    "INSERT INTO sign_in_tokens (token_hash, account_id, created_at, expires_at)"
    " VALUES (:token_hash, :account_id, :now, :expires_at)"
)
FORGET_SIGN_INS = "DELETE FROM sign_in_tokens WHERE expires_at < :before"
TAKE_SIGN_IN = (
    "UPDATE sign_in_tokens SET used_at = :now"
    " WHERE token_hash = :token_hash AND used_at IS NULL AND expires_at > :now"
    " RETURNING account_id"
)


def _usage(day: str) -> str:
    return (
        f"SELECT model, {day} AS day, COUNT(*) AS jobs,"
        " COALESCE(SUM(cost_actual_micros), 0) AS spent FROM jobs"
        f" WHERE account_id = :account_id AND created_at >= :since GROUP BY model, {day}"
    )


# An account's jobs created since ``:since``, by model and UTC day (days since 1970-01-01).
USAGE = PerEngine(
    sqlite=_usage("CAST(created_at / 86400 AS INTEGER)"),
    postgres=_usage("CAST(FLOOR(created_at / 86400) AS BIGINT)"),
)

# -- an account's limits (genq.account_limits) --------------------------------------------
# Its queued jobs, from ``jobs_account_status``: a submit's count against ``max_queued``.
QUEUED_OF = "SELECT COUNT(*) AS n FROM jobs WHERE account_id = :account_id AND status = 'queued'"
# The bytes its live jobs' outputs hold (a job's row, and its files, go together).
STORED_BYTES = (
    "SELECT COALESCE(SUM(output_bytes), 0) AS stored FROM jobs"
    " WHERE account_id = :account_id AND expires_at > :now"
)
ACCOUNT_USAGE = (
    "SELECT (SELECT COUNT(*) FROM jobs WHERE account_id = :account_id AND status = 'queued')"
    " AS queued, (SELECT COUNT(*) FROM jobs WHERE account_id = :account_id"
    f" AND status = 'running') AS running, ({STORED_BYTES}) AS stored"
)
# Every account's at once: one pass over the jobs.
ACCOUNTS_USAGE = (
    "SELECT account_id, SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END) AS queued,"
    " SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END) AS running,"
    " SUM(output_bytes) AS stored FROM jobs WHERE expires_at > :now GROUP BY account_id"
)


def set_account_limits(columns: tuple[str, ...]) -> str:
    """Set an account's weight or limits: ``columns``, each from ``:column`` (the caller
    passes only names of ``genq.account_limits``)."""
    sets = ", ".join(f"{column} = :{column}" for column in columns)
    return f"UPDATE accounts SET {sets} WHERE id = :id RETURNING *"


# -- submitting --------------------------------------------------------------------------
# The job already made by this very submit (a retry after its commit's answer was lost) or
# by an earlier one with the same key.
BALANCE_AND_KEYED_JOB = (
    "SELECT a.credits_micros, a.max_queued, j.id AS job_id FROM accounts a LEFT JOIN jobs j"
    " ON j.account_id = a.id AND (j.idempotency_key = :idempotency_key OR j.id = :id)"
    " WHERE a.id = :account_id"
)
LOCK_BALANCE = "SELECT credits_micros, max_queued FROM accounts WHERE id = :account_id FOR UPDATE"
HELD = (
    "SELECT COALESCE(SUM(cost_estimate_micros), 0) AS held FROM jobs"
    " WHERE account_id = :account_id AND status IN ('queued', 'running')"
)
# ON CONFLICT covers both an idempotency key used concurrently and a retry of this very
# insert after a lost connection (same job id).
INSERT_JOB = Change(
    "INSERT INTO jobs (id, account_id, model, input, status, priority, metadata,"
    " cost_estimate_micros, created_at, expires_at, idempotency_key, fingerprint, batch_key,"
    " origin_api, origin_model, origin_request, webhook, webhook_events, start_deadline,"
    " timeout_seconds)"
    " VALUES (:id, :account_id, :model, :input, 'queued', :priority, :metadata,"
    " :cost_estimate_micros, :created_at, :expires_at, :idempotency_key, :fingerprint,"
    " :batch_key, :origin_api, :origin_model, :origin_request, :webhook, :webhook_events,"
    " :start_deadline, :timeout_seconds)"
    " ON CONFLICT DO NOTHING RETURNING *",
    Record.STATUS,
    (Topic.QUEUED,),
)
JOB = "SELECT * FROM jobs WHERE id = :id"
JOB_BY_KEY = (
    "SELECT * FROM jobs WHERE account_id = :account_id AND idempotency_key = :idempotency_key"
)

# -- reading and changing a job ----------------------------------------------------------
LIVE_JOB = "SELECT * FROM jobs WHERE id = :id AND account_id = :account_id AND expires_at > :now"
LOCK_LIVE_JOB = f"{LIVE_JOB} FOR UPDATE"
LIVE_JOB_ANY_ACCOUNT = "SELECT * FROM jobs WHERE id = :id AND expires_at > :now"
CANCEL_QUEUED = Change(
    "UPDATE jobs SET status = 'canceled', cancel_requested = TRUE, finished_at = :now,"
    " cost_actual_micros = 0 WHERE id = :id RETURNING *",
    Record.STATUS,
)
FLAG_CANCEL = Change(
    "UPDATE jobs SET cancel_requested = TRUE WHERE id = :id RETURNING *",
    Record.GIVEN,
    (Topic.CANCEL, Topic.JOB),
)
DELETE_JOB = Change(
    "DELETE FROM jobs WHERE id = :id AND account_id = :account_id AND expires_at > :now"
    " RETURNING *",
    Record.NOTHING,
    (Topic.CANCEL, Topic.JOB),
)
DELETE_EVENTS = "DELETE FROM events WHERE job_id = :id"
DELETE_DELIVERIES = "DELETE FROM webhook_deliveries WHERE job_id = :id"
EVENTS_AFTER = (
    "SELECT * FROM events WHERE job_id = :job_id AND id > :after_id ORDER BY id LIMIT :limit"
)
#: Each model's queued jobs and the oldest one's creation, from the partial index of queued
#: jobs (``jobs_queue``): the rows read are the queued ones only.
QUEUE_DEPTHS = (
    "SELECT model, COUNT(*) AS n, MIN(created_at) AS oldest FROM jobs"
    " WHERE status = 'queued' GROUP BY model"
)
QUEUE_POSITION = (
    "SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND model = :model AND"
    " (priority > :priority OR (priority = :priority AND seq < (SELECT seq FROM jobs"
    " WHERE id = :id)))"
)


def _filter(where: JobFilter, args: dict[str, Any]) -> str:
    sql = " FROM jobs WHERE account_id = :account_id AND expires_at > :now"
    for column, value in (
        ("model", where.model),
        ("origin_api", where.origin_api),
        ("origin_model", where.origin_model),
    ):
        if value is not None:
            sql += f" AND {column} = :{column}"
            args[column] = value
    if where.statuses:
        sql += f" AND {_status_in(where.statuses)}"
    if where.retried:
        sql += " AND (attempts > 1 OR retry_of IS NOT NULL)"
    return sql


def _status_in(statuses: tuple[str, ...]) -> str:
    """The statuses as SQL literals, in ``Status`` order: SQLite reads the queued and
    running jobs of an account from the partial index ``jobs_unfinished`` only when the
    query names that index's statuses itself, in its order. Only ``Status`` names reach the
    SQL; a status that is not one matches no job."""
    names = [f"'{status.value}'" for status in Status if status.value in statuses]
    return f"status IN ({', '.join(names)})" if names else "FALSE"


def list_jobs(
    account_id: str,
    now: float,
    *,
    limit: int,
    before_seq: int | None,
    offset: int,
    where: JobFilter,
) -> tuple[str, dict[str, Any]]:
    """The SQL and arguments of ``JobStore.list_jobs``."""
    args: dict[str, Any] = {"account_id": account_id, "now": now, "limit": limit}
    sql = "SELECT *" + _filter(where, args)
    if before_seq is not None:
        sql += " AND seq < :before_seq"
        args["before_seq"] = before_seq
    args["offset"] = offset
    return sql + " ORDER BY seq DESC LIMIT :limit OFFSET :offset", args


def count_jobs(account_id: str, now: float, where: JobFilter) -> tuple[str, dict[str, Any]]:
    """The SQL and arguments of ``JobStore.count_jobs``."""
    args: dict[str, Any] = {"account_id": account_id, "now": now}
    return "SELECT COUNT(*) AS n" + _filter(where, args), args


# -- the worker side ---------------------------------------------------------------------
ANY_QUEUED = (
    "SELECT 1 FROM jobs WHERE status = 'queued' AND model = ANY(:models)"
    f" AND {fair.TAKEABLE} LIMIT 1"
)
ANY_QUEUED_BATCH = (
    "SELECT 1 FROM jobs WHERE status = 'queued' AND model = :model AND batch_key = :batch_key"
    " LIMIT 1"
)


_TAKE = (
    "UPDATE jobs SET status = 'running', worker_id = :worker_id, attempts = attempts + 1,"
    " started_at = CASE WHEN created_at > :now THEN created_at ELSE :now END,"
    " lease_expires_at = :lease, fair_charge = :charge"
)


def _claim(which: str) -> Change:
    """Take the best ``:limit`` queued jobs of ``which`` that a worker may take now (see
    ``genq.store.fair``) for a worker: highest priority, then oldest. What fills a batch, or
    a claim the fair pick left short (``genq.store.fair``); each is charged ``:charge``."""
    pick = (
        f"SELECT seq FROM jobs WHERE status = 'queued' AND {which} AND {fair.TAKEABLE}"
        f" AND {fair.UNCAPPED} ORDER BY priority DESC, seq LIMIT :limit"
    )
    return Change(
        PerEngine(
            # One write transaction at a time: nothing else can take these rows meanwhile.
            sqlite=f"{_TAKE} WHERE seq IN ({pick}) RETURNING *",
            # Concurrent claims skip the rows others are taking rather than wait for them.
            # The lock is taken below the LIMIT, row by row in the sorted order, so a claim
            # locks only the rows it takes: a pick that locked more (the best of each model,
            # say, then the best of those) would hide the rows it leaves from a concurrent
            # claim, which could then find nothing while a job it may run is queued.
            postgres=f"WITH picked AS ({pick} FOR UPDATE SKIP LOCKED) {_TAKE}"
            " FROM picked WHERE jobs.seq = picked.seq RETURNING jobs.*",
        ),
        Record.STATUS,
    )


#: A worker serving one model reads the head of its ``jobs_queue`` range, in order.
CLAIM_MODEL = _claim("model = :model")
#: A worker serving several models: PostgreSQL walks ``jobs_queue_order`` (the whole queue in
#: claim order) to the first job of one of them; SQLite sorts the queued jobs of its models.
CLAIM = _claim("model = ANY(:models)")
CLAIM_BATCH = _claim("model = :model AND batch_key = :batch_key")

#: A worker's writes are fenced by its claim: the job, the worker and the attempt.
_FENCE = "id = :id AND worker_id = :worker_id AND attempts = :attempt AND status = 'running'"
#: What a ``Record.GIVEN`` change returns: the job, and what its webhook calls need.
_GIVEN_COLUMNS = "id, account_id, model, webhook, webhook_events"
HEARTBEAT = f"UPDATE jobs SET lease_expires_at = :lease WHERE {_FENCE} RETURNING cancel_requested"
SET_PROGRESS = Change(
    "UPDATE jobs SET progress_step = :step, progress_total = :total,"
    f" progress_message = :message WHERE {_FENCE} RETURNING {_GIVEN_COLUMNS}",
    Record.GIVEN,
)
# The row lock orders this event after any other change of the job in flight.
ADD_EVENT = Change(f"SELECT {_GIVEN_COLUMNS} FROM jobs WHERE {_FENCE} FOR UPDATE", Record.GIVEN)
LOCK_CLAIMED = f"SELECT cancel_requested, cost_estimate_micros FROM jobs WHERE {_FENCE} FOR UPDATE"
INSERT_EVENT = (
    "INSERT INTO events (job_id, type, data, created_at)"
    " VALUES (:job_id, :type, :data, :created_at)"
)
# A success completes the progress bar: the last step reported may not have been the last.
_COMPLETE = "CASE WHEN progress_total > 1 THEN progress_total ELSE 1 END"
FINISH = Change(
    "UPDATE jobs SET status = :status, outputs = :outputs, error_code = :error_code,"
    " error_message = :error_message, cost_actual_micros = :charge,"
    " inference_time = :inference_time, load_time = :load_time, finished_at = :now,"
    " output_bytes = :output_bytes,"
    " lease_expires_at = NULL,"
    f" progress_step = CASE WHEN :done THEN {_COMPLETE} ELSE progress_step END,"
    f" progress_total = CASE WHEN :done THEN {_COMPLETE} ELSE progress_total END"
    f" WHERE {_FENCE} RETURNING *",
    Record.STATUS,
)
CHARGE = (
    "UPDATE accounts SET credits_micros = credits_micros - :charge"
    " WHERE id = :account_id AND credits_micros IS NOT NULL"
)

# -- workers -----------------------------------------------------------------------------
REGISTER_WORKER = (
    "INSERT INTO workers (id, models, host, pid, started_at, seen_at)"
    " VALUES (:id, :models, :host, :pid, :now, :now)"
    " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, models = excluded.models"
)
UNREGISTER_WORKER = "DELETE FROM workers WHERE id = :id"
FORGET_SILENT_WORKERS = "DELETE FROM workers WHERE seen_at < :before"
SERVED_MODELS = "SELECT models FROM workers WHERE seen_at >= :since"
LIVE_WORKERS = "SELECT id, models FROM workers WHERE seen_at >= :since"
#: The workers that run a job now, from the partial index of running jobs.
BUSY_WORKERS = "SELECT DISTINCT worker_id FROM jobs WHERE status = 'running'"


# -- recovery and housekeeping -----------------------------------------------------------
class Release(NamedTuple):
    """Taking back running jobs: canceled if a cancel was asked for (a job whose cancel was
    requested is not run again), failed after too many attempts, otherwise queued again."""

    canceled: Change
    failed: Change
    requeued: Change


def _release(which: str) -> Release:
    return Release(
        Change(
            "UPDATE jobs SET status = 'canceled', finished_at = :now, cost_actual_micros = 0,"
            " lease_expires_at = NULL WHERE status = 'running' AND cancel_requested"
            f" AND {which} RETURNING *",
            Record.STATUS,
        ),
        Change(
            "UPDATE jobs SET status = 'failed', error_code = 'worker_lost',"
            " error_message = :message, finished_at = :now, cost_actual_micros = 0,"
            " lease_expires_at = NULL"
            f" WHERE status = 'running' AND attempts >= :max_attempts AND {which} RETURNING *",
            Record.STATUS,
        ),
        Change(
            "UPDATE jobs SET status = 'queued', worker_id = NULL, lease_expires_at = NULL,"
            " progress_step = 0, progress_total = 0, progress_message = NULL"
            f" WHERE status = 'running' AND {which} RETURNING *",
            Record.STATUS,
            (Topic.JOB, Topic.QUEUED),
        ),
    )


RELEASE_WORKER = _release("worker_id = :worker_id")
RELEASE_LAPSED = _release("lease_expires_at < :now")
CANCEL_RUNNING = Change(
    "UPDATE jobs SET status = 'canceled', finished_at = :now, cost_actual_micros = 0,"
    " lease_expires_at = NULL WHERE id = :id AND status = 'running' RETURNING *",
    Record.STATUS,
)
# A running job is asked to stop first; it is removed once it is terminal.
EXPIRE_RUNNING = Change(
    "UPDATE jobs SET cancel_requested = TRUE WHERE expires_at <= :now AND status = 'running'"
    " AND NOT cancel_requested RETURNING id, status",
    Record.NOTHING,
    (Topic.CANCEL,),
)
EXPIRE = Change(
    "DELETE FROM jobs WHERE expires_at <= :now AND status != 'running' RETURNING *",
    Record.NOTHING,
)
DELETE_EVENTS_OF = "DELETE FROM events WHERE job_id = ANY(:ids)"
DELETE_DELIVERIES_OF = "DELETE FROM webhook_deliveries WHERE job_id = ANY(:ids)"

# -- webhooks ----------------------------------------------------------------------------
INSERT_WEBHOOK_SECRET = (
    "INSERT INTO webhook_secrets (account_id, secret, created_at)"
    " VALUES (:account_id, :secret, :now) ON CONFLICT (account_id) DO NOTHING"
)
WEBHOOK_SECRET = "SELECT secret FROM webhook_secrets WHERE account_id = :account_id"
# SQLite's twins of the deliveries part of ``genq.store.postgres``'s change statement: a
# progress call is not added while another of the job's to the same webhook waits (that one
# sends the latest). First the job's own webhook, then the account's endpoints that want the
# event for the job's model.
INSERT_DELIVERY = (
    "INSERT INTO webhook_deliveries (id, job_id, account_id, event, url, created_at, next_at)"
    " SELECT :id, :job_id, :account_id, :event, :url, :at, :at"
    " WHERE :event != 'progress' OR NOT EXISTS (SELECT 1 FROM webhook_deliveries"
    " WHERE job_id = :job_id AND endpoint_id IS NULL AND event = 'progress'"
    " AND state = 'pending')"
)
INSERT_ENDPOINT_DELIVERIES = (
    "INSERT INTO webhook_deliveries"
    " (id, job_id, account_id, endpoint_id, event, url, created_at, next_at)"
    " SELECT 'msg_' || lower(hex(randomblob(16))), :job_id, :account_id, h.id, :event, h.url,"
    " :at, :at FROM webhook_endpoints AS h WHERE h.account_id = :account_id"
    " AND h.disabled_at IS NULL"
    " AND EXISTS (SELECT 1 FROM json_each(h.events) WHERE value = :event)"
    " AND (h.models IS NULL OR EXISTS (SELECT 1 FROM json_each(h.models) WHERE value = :model))"
    " AND (:event != 'progress' OR NOT EXISTS (SELECT 1 FROM webhook_deliveries AS p"
    " WHERE p.job_id = :job_id AND p.endpoint_id = h.id AND p.event = 'progress'"
    " AND p.state = 'pending'))"
)
JOB_DELIVERIES = "SELECT * FROM webhook_deliveries WHERE job_id = :job_id ORDER BY created_at, id"

# -- webhook endpoints -----------------------------------------------------------------
# At most :most per account, counted in the insert (on PostgreSQL with the account locked).
INSERT_ENDPOINT = (
    "INSERT INTO webhook_endpoints (id, account_id, url, events, models, description, secret,"
    " created_at) SELECT :id, :account_id, :url, :events, :models, :description, :secret,"
    " :created_at WHERE (SELECT COUNT(*) FROM webhook_endpoints"
    " WHERE account_id = :account_id) < :most ON CONFLICT (id) DO NOTHING RETURNING id"
)
ENDPOINTS = "SELECT * FROM webhook_endpoints WHERE account_id = :account_id ORDER BY created_at, id"
_ENDPOINT = "id = :id AND (account_id = :account_id OR CAST(:account_id AS TEXT) IS NULL)"
ENDPOINT = f"SELECT * FROM webhook_endpoints WHERE {_ENDPOINT}"
DELETE_ENDPOINT = f"DELETE FROM webhook_endpoints WHERE {_ENDPOINT} RETURNING id"
DISABLE_ENDPOINT = (
    "UPDATE webhook_endpoints SET disabled_at = COALESCE(disabled_at, :now),"
    f" disabled_reason = COALESCE(disabled_reason, :reason) WHERE {_ENDPOINT} RETURNING *"
)
ENABLE_ENDPOINT = (
    "UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = NULL"
    f" WHERE {_ENDPOINT} RETURNING *"
)
# Rotated again while the secret before is still signing: that one stays (the receiver may
# never have seen the one in between, if the answer that showed it was lost).
ROTATE_ENDPOINT_SECRET = (
    "UPDATE webhook_endpoints SET previous_secret = CASE WHEN previous_until > :now"
    " THEN previous_secret ELSE secret END, previous_until = CASE WHEN previous_until > :now"
    f" THEN previous_until ELSE :previous_until END, secret = :secret WHERE {_ENDPOINT}"
    " RETURNING *"
)
#: An endpoint deleted or disabled takes its pending calls with it.
FAIL_ENDPOINT_DELIVERIES = (
    "UPDATE webhook_deliveries SET state = 'failed', last_error = :reason, finished_at = :now"
    " WHERE endpoint_id = :id AND state = 'pending'"
)


def list_deliveries(job: bool, endpoint: bool, state: bool, before: bool) -> str:
    """The account's webhook calls, newest first, filtered as asked."""
    where = ["account_id = :account_id"]
    if job:
        where.append("job_id = :job_id")
    if endpoint:
        where.append("endpoint_id = :endpoint_id")
    if state:
        where.append("state = :state")
    if before:
        where.append("(created_at < :before_at OR (created_at = :before_at AND id < :before_id))")
    return (
        f"SELECT * FROM webhook_deliveries WHERE {' AND '.join(where)}"
        " ORDER BY created_at DESC, id DESC LIMIT :limit"
    )


DELIVERY = "SELECT * FROM webhook_deliveries WHERE id = :id AND account_id = :account_id"
# A call sent again keeps its id (receivers that saw it drop it), with a new retry window.
# Its attempts start again from 0: the backoff of its new window starts again too.
REDELIVER = (
    "UPDATE webhook_deliveries SET state = 'pending', next_at = :now, retry_from = :now,"
    " attempts = 0, finished_at = NULL WHERE id = :id AND account_id = :account_id"
    " AND state <> 'pending' RETURNING *"
)
ANY_CALL_OF_ENDPOINT = "SELECT 1 FROM webhook_deliveries WHERE endpoint_id = :id LIMIT 1"
#: Whether the account has any webhook call (a job's status read looks for its calls).
ANY_CALL_OF = "SELECT 1 FROM webhook_deliveries WHERE account_id = :account_id LIMIT 1"
_DUE = "state = 'pending' AND next_at <= :now"
ANY_DUE_DELIVERY = f"SELECT 1 FROM webhook_deliveries WHERE {_DUE} LIMIT 1"


# Taking pushes ``next_at`` past the attempt: a process that dies mid-attempt leaves the row
# to be taken again once that passes. At most :per_url of one URL, so that the backlog of a
# receiver at its limit does not fill every take ahead of other receivers' calls. Row locks
# do not go with a window function: a concurrent taker waits for the rows being taken, then
# finds them no longer due (the outer condition is checked again on the row it waited for).
#
# A job's calls to one URL go out in the order they were made: none is taken while an earlier
# one of its job to that URL is pending (being sent, or waiting for a retry); a receiver that
# is down holds back no other receiver's calls. The calls of one change (output, then
# completed) share a time: the event's order breaks the tie.
def _made_before(a: str, b: str) -> str:
    rank = (
        "CASE {}.event WHEN 'start' THEN 0 WHEN 'progress' THEN 1 WHEN 'output' THEN 2 ELSE 3 END"
    )
    return (
        f"({a}.created_at < {b}.created_at OR ({a}.created_at = {b}.created_at"
        f" AND {rank.format(a)} < {rank.format(b)}))"
    )


TAKE_DELIVERIES = (
    "UPDATE webhook_deliveries SET next_at = :hold_until WHERE id IN (SELECT id FROM"
    " (SELECT d.id, d.next_at, ROW_NUMBER() OVER (PARTITION BY d.url ORDER BY d.next_at)"
    " AS nth FROM webhook_deliveries AS d WHERE d.state = 'pending' AND d.next_at <= :now"
    " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS e WHERE e.job_id = d.job_id"
    " AND e.url = d.url AND e.state = 'pending'"
    f" AND {_made_before('e', 'd')})) AS due WHERE nth <= :per_url"
    f" ORDER BY next_at LIMIT :limit) AND {_DUE} RETURNING *"
)
# Fenced by the attempt count and the hold its take set: an attempt whose hold lapsed, or
# whose call was failed and sent again meanwhile, settles nothing.
SETTLE_DELIVERY = (
    "UPDATE webhook_deliveries SET state = :state, attempts = attempts + 1,"
    " last_status = :status, last_error = :error, next_at = :next_at,"
    " finished_at = :finished_at WHERE id = :id AND attempts = :attempts AND state = 'pending'"
    " AND next_at = :held RETURNING id"
)
PUT_BACK_DELIVERIES = (
    "UPDATE webhook_deliveries SET next_at = :next_at WHERE id = ANY(:ids) AND state = 'pending'"
)
