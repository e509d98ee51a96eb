"""Fair shares of worker time: which queued job a worker takes next.

Priorities come first. Within the highest priority level queued, workers serve the account
that is furthest behind in worker time, weighted: each account has a virtual time (the worker
seconds it was given, divided by its ``weight``), and the claim takes the next job of the
account whose virtual time is lowest, then the oldest. This is start-time fair queueing
across accounts, done by the claim query itself, so it holds across any number of workers
and API processes with no coordinator.

An account that was idle keeps the virtual time it had, so it comes back behind the others
and is served first; but never more than ``credit`` seconds behind the furthest ahead of
those queued (``GREATEST(vtime, lead - credit)``): a small account's few jobs start at once
behind any backlog, and an account idle for a week does not then hold the workers for a
week.

A job is charged when it is taken: ``charge`` seconds (the worker's estimate of a job of its
model), corrected to the time it held its worker when it ends (``CORRECT``). Concurrent
workers therefore see each other's claims at once, not when the jobs end. A job of a batch
is charged the batch's whole time.

Aging lifts a long-waiting job: one priority level per ``aging_seconds`` waited, up to the
highest level queued, where fair shares decide among equals, then the oldest. Within one
account its jobs run by priority, then oldest first, except that its oldest job, once aging
has lifted it level with the others, goes first: a low-priority job waits at most for the
jobs queued before it, whatever comes after.

The claim walks the accounts that have queued jobs of the worker's models (a loose index
scan of ``jobs_fair``: one index probe per account), takes each account's next and oldest
jobs, ranks those, and takes the first ``limit``; what is left of ``limit`` (a batch; on
PostgreSQL, heads that concurrent claims hold) is filled in queue order. The walk costs a
few probes per account with queued work, not one per queued job.

An account's cap of running jobs is checked by the claim: exact on SQLite (one writer at a
time); on PostgreSQL, claims running at the same moment for one account may each see room
for one more, so the cap can be passed by the number of such claims (in practice by one or
two, for a moment).
"""

from __future__ import annotations

from genq.store.changes import Change, PerEngine, Record

#: The worker's models, one row each.
_MODELS = PerEngine(
    sqlite="SELECT value AS model FROM json_each(:models)",
    postgres="SELECT unnest(CAST(:models AS TEXT[])) AS model",
)
#: A queued job a worker may take now: not past its retention or start deadline, and not
#: waiting for an automatic retry.
_TAKEABLE = (
    "j.expires_at > :now AND (j.start_deadline IS NULL OR j.start_deadline > :now)"
    " AND (j.run_after IS NULL OR j.run_after <= :now)"
)
#: Levels gained by waiting: whole steps of ``:aging`` seconds (PostgreSQL's CAST rounds).
_LIFT = PerEngine(
    sqlite="CAST((:now - j.created_at) / :aging AS INTEGER)",
    postgres="CAST(LEAST(FLOOR((:now - j.created_at) / :aging), 1000000) AS INTEGER)",
)
_LEAST = PerEngine(sqlite="MIN", postgres="LEAST")
_GREATEST = PerEngine(sqlite="MAX", postgres="GREATEST")


def _spell(engine: str, piece: PerEngine) -> str:
    return str(getattr(piece, engine))


def pick(engine: str) -> str:
    """The statement that ranks each account's next job and returns the first ``:limit``:
    ``seq``, ``account_id`` and ``vt`` (the account's virtual time, lifted to the least of
    those queued). On PostgreSQL the rows are locked, skipping those another claim holds.

    Parameters: ``:models`` (an array), ``:now``, ``:aging`` (seconds; a huge number for no
    aging), ``:credit`` (seconds), ``:max_running`` (the default cap; 0 for none),
    ``:limit``."""
    greatest = _spell(engine, _GREATEST)
    least = _spell(engine, _LEAST)
    lock = " FOR UPDATE OF j SKIP LOCKED" if engine == "postgres" else ""
    # Each step finds the next account (in id order) with a queued job of the model.
    walk = (
        "SELECT account_id FROM jobs WHERE status = 'queued' AND model = {model}{after}"
        " ORDER BY account_id LIMIT 1"
    )
    first = walk.format(model="m.model", after="")
    later = walk.format(model="w.model", after=" AND account_id > w.account_id")
    # Each account's next job by its priorities, and its oldest (the one aging lifts most).
    head = (
        "SELECT j.seq FROM jobs j WHERE j.status = 'queued' AND j.model = w.model"
        f" AND j.account_id = w.account_id AND {_TAKEABLE} ORDER BY {{order}} LIMIT 1"
    )
    # An account at its cap of running jobs has no next job.
    room = (
        "COALESCE(a.max_running, :max_running) <= 0 OR (SELECT COUNT(*) FROM jobs r"
        " WHERE r.account_id = a.id AND r.status = 'running')"
        " < COALESCE(a.max_running, :max_running)"
    )
    return (
        f"WITH RECURSIVE m AS ({_spell(engine, _MODELS)}),"
        f" w(model, account_id) AS (SELECT m.model, ({first}) FROM m"
        f" UNION ALL SELECT w.model, ({later}) FROM w WHERE w.account_id IS NOT NULL),"
        f" h AS (SELECT ({head.format(order='j.priority DESC, j.seq')}) AS seq FROM w"
        f" WHERE w.account_id IS NOT NULL UNION SELECT ({head.format(order='j.seq')}) FROM w"
        " WHERE w.account_id IS NOT NULL),"
        " c AS (SELECT j.seq, j.account_id, j.priority AS base, j.priority"
        f" + {_spell(engine, _LIFT)} AS level, a.vtime FROM h JOIN jobs j ON j.seq = h.seq"
        f" JOIN accounts a ON a.id = j.account_id WHERE {room}),"
        f" r AS (SELECT c.seq, c.account_id, {least}(c.level, (SELECT MAX(base) FROM c))"
        f" AS level, {greatest}(c.vtime, (SELECT MAX(vtime) FROM c) - :credit) AS vt FROM c),"
        # One candidate per account: its highest level, the oldest of equals.
        " o AS (SELECT r.*, ROW_NUMBER() OVER (PARTITION BY r.account_id"
        " ORDER BY r.level DESC, r.seq) AS nth FROM r)"
        " SELECT j.seq, o.account_id, o.vt FROM o JOIN jobs j ON j.seq = o.seq"
        " WHERE o.nth = 1 AND j.status = 'queued' ORDER BY o.level DESC, o.vt, j.seq"
        f" LIMIT :limit{lock}"
    )


PICK = PerEngine(sqlite=pick("sqlite"), postgres=pick("postgres"))

#: The account of a job just taken: its virtual time moves on by the job's charge, from where
#: the claim ranked it (``vt``); never back.
CHARGE = PerEngine(
    sqlite="UPDATE accounts SET vtime = MAX(vtime, :vt) + :charge / weight WHERE id = :id",
    postgres="UPDATE accounts SET vtime = GREATEST(vtime, :vt) + :charge / weight WHERE id = :id",
)
#: A job's end: its account's virtual time is corrected by what it really ran (``:ran``)
#: against what its claim charged.
CORRECT = "UPDATE accounts SET vtime = vtime + (:ran - :charged) / weight WHERE id = :account_id"

#: Take the picked jobs (``:seqs``), charging each ``:charge``: a worker's claim.
TAKE_PICKED = Change(
    "UPDATE jobs SET status = 'running', worker_id = :worker_id, attempts = attempts + 1,"
    " started_at = CASE WHEN created_at > :now THEN created_at ELSE :now END,"
    " lease_expires_at = :lease, fair_charge = :charge"
    " WHERE seq = ANY(:seqs) AND status = 'queued' RETURNING *",
    Record.STATUS,
)
#: The conditions of ``pick`` as one job's (``jobs``), for the claims that fill a batch.
TAKEABLE = _TAKEABLE.replace("j.", "jobs.")
#: The claims that fill take no job of an account with a running cap: all the jobs a claim
#: takes are checked against the count from before it, so only one per capped account (the
#: pick's) keeps the cap exact. A capped account's jobs therefore run one per claim.
UNCAPPED = (
    "COALESCE((SELECT max_running FROM accounts WHERE id = jobs.account_id), :max_running) <= 0"
)
