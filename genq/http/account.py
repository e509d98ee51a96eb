"""The caller's account through the native API: its keys, its usage, and for an admin
account every account; and the console's one-time sign-in."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema
from starlette.requests import Request
from starlette.responses import Response

from genq.credits import credits_json, parse_credits, to_micros
from genq.http.auth import Auth, Caller, authenticated
from genq.http.limits import LimitsChange, render_limits
from genq.http.openapi import BODY, CALLER, Error, json_request, native_errors
from genq.http.render import isotime
from genq.http.responses import JSONResponse, request_invalid
from genq.http.routing import Depends, Path, Query, Router
from genq.jobs import ApiKey
from genq.limits import parse_json
from genq.service import AccountSummary, JobService, Tally

router = Router("/v1", tags=["Account"])

M = TypeVar("M", bound=BaseModel)

KEY_ID = Path(description="The key's id (`key_...`), as GET /v1/keys lists it.", max_length=100)
ACCOUNT_ID = Path(description="The account's id (`acct_...`).", max_length=100)
#: Most days a usage report covers.
MAX_USAGE_DAYS = 366


async def admin(request: Request) -> Caller:
    """The caller, when its key is one of an admin account (401 without a key, else 403)."""
    caller = await authenticated(request)
    await caller.svc.require_admin(caller.key)
    return caller


Admin = Annotated[Caller, Depends(admin)]


def _answer(status: int, description: str) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": Error, "description": description}}


NOT_ADMIN = _answer(403, "The key's account is not an admin account.")
NO_KEY = _answer(404, "No key with that id in the caller's account.")


def _credits(value: object) -> Decimal:
    """An amount of credits as a JSON number: exact to the micro-credit, within what a balance
    holds, not negative."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError("must be a number")
    amount = parse_credits(value)
    to_micros(amount)  # finer than a micro-credit, or more than a balance holds
    if amount < 0:
        raise ValueError("must not be negative")
    return amount


def _more_than_none(value: object) -> Decimal:
    amount = _credits(value)
    if amount == 0:
        raise ValueError("must be more than 0")
    return amount


#: A balance: credits, 0 or more.
Balance = Annotated[
    Decimal, PlainValidator(_credits), WithJsonSchema({"type": "number", "minimum": 0})
]
#: Credits added: more than 0.
Amount = Annotated[
    Decimal,
    PlainValidator(_more_than_none),
    WithJsonSchema({"type": "number", "exclusiveMinimum": 0}),
]


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, min_length=1, max_length=100, description="A label for the key."
    )


class NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=100,
        # It is a path segment in some vendor dialects, and shown in lists.
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$",
        description="Unique; the account's namespace: letters, digits, '.', '_', '@', '-'.",
    )
    credits: Balance | None = Field(
        default=None, description="Its starting balance in credits; null: no limit."
    )
    admin: bool = Field(
        default=False, strict=True, description="Its keys manage every account and key."
    )


class AddedCredits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Amount = Field(description="Credits to add to the balance (more than 0).")


def parse_body(model: type[M], raw: bytes, max_depth: int, *, empty_ok: bool = False) -> M:
    """A JSON body checked against ``model`` (an empty one, where allowed, is ``{}``), its
    numbers with a fraction read as exact decimals: a float would change an amount of 16
    digits or more (9699223737.567712 credits read as …713)."""
    if empty_ok and not raw.strip():
        data: Any = {}
    else:
        parse_json(raw, max_depth)  # its syntax and depth, as every body's
        data = json.loads(raw, parse_float=Decimal)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise request_invalid(exc.errors()) from None


def render_key(key: ApiKey, caller: Caller, *, with_account: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object": "key",
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": isotime(key.created_at),
        "last_used_at": isotime(key.last_used_at),
        "disabled": key.disabled,
        "current": key.id == caller.key.id,
    }
    if with_account:
        body["account"] = {"id": key.account_id, "name": key.account_name}
    return body


def render_account(summary: AccountSummary) -> dict[str, Any]:
    """An account as an admin's pages list it."""
    account = summary.account
    return {
        "object": "account",
        "id": account.id,
        "name": account.name,
        "credits": credits_json(account.credits),
        "held": credits_json(summary.held),
        "admin": account.admin,
        "created_at": isotime(account.created_at),
        "keys": summary.keys,
    }


def render_tally(tally: Tally, name: str) -> dict[str, Any]:
    return {name: tally.name, "jobs": tally.jobs, "spent": credits_json(tally.spent)}


# -- the caller's account ------------------------------------------------------------------
@router.get("/account", summary="The caller's account", responses=native_errors(*CALLER))
async def get_account(caller: Auth) -> Response:
    """The account of the key that makes the request: its balance (null: no limit), what its
    unfinished jobs hold, whether it is an admin account, its weight, its limits and what
    they count (``usage``), and that key."""
    summary = await caller.svc.account_of(caller.key)
    limited = await caller.svc.limits_of(summary.account)
    keys = await caller.svc.keys_of(caller.account_id)
    key = next((k for k in keys if k.id == caller.key.id), caller.key)
    account = summary.account
    return JSONResponse(
        {
            "object": "account",
            "id": account.id,
            "name": account.name,
            "credits": credits_json(account.credits),
            "held": credits_json(summary.held),
            "admin": account.admin,
            **render_limits(limited),
            "key": render_key(key, caller),
        }
    )


@router.get(
    "/keys", summary="List the account's keys, newest first", responses=native_errors(*CALLER)
)
async def list_keys(caller: Auth) -> Response:
    """Never the keys themselves: only their first characters. ``last_used_at`` is recorded
    to the minute."""
    keys = await caller.svc.keys_of(caller.account_id)
    return JSONResponse({"object": "list", "data": [render_key(k, caller) for k in keys]})


@router.post(
    "/keys",
    status_code=201,
    summary="Create a key for the account",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": NewKey.model_json_schema()}},
        }
    },
    responses=native_errors(*CALLER, *BODY),
)
async def create_key(request: Request, caller: Auth) -> Response:
    """The new key's ``key`` is the key itself, shown this once: genq keeps only its hash."""
    body = parse_body(NewKey, await request.body(), caller.svc.max_json_depth, empty_ok=True)
    key, raw = await caller.svc.add_key(caller.account_id, body.name)
    return JSONResponse({**render_key(key, caller), "key": raw}, status_code=201)


@router.post(
    "/keys/{key_id}/disable",
    summary="Disable a key of the account",
    responses={**native_errors(*CALLER, 422), **NO_KEY},
)
async def disable_key(caller: Auth, key_id: str = KEY_ID) -> Response:
    """Requests with it answer 401: at once on this server, within a second on others. The
    calling key may disable itself."""
    key = await caller.svc.set_key_disabled(key_id, True, account_id=caller.account_id)
    return JSONResponse(render_key(key, caller))


@router.post(
    "/keys/{key_id}/enable",
    summary="Enable a key of the account again",
    responses={**native_errors(*CALLER, 422), **NO_KEY},
)
async def enable_key(caller: Auth, key_id: str = KEY_ID) -> Response:
    key = await caller.svc.set_key_disabled(key_id, False, account_id=caller.account_id)
    return JSONResponse(render_key(key, caller))


@router.delete(
    "/keys/{key_id}",
    summary="Delete a key of the account",
    responses={**native_errors(*CALLER, 422), **NO_KEY},
)
async def delete_key(caller: Auth, key_id: str = KEY_ID) -> Response:
    """For good: requests with it answer 401, at once on this server, within a second on
    others."""
    key = await caller.svc.delete_key(key_id, account_id=caller.account_id)
    return JSONResponse({"object": "key", "id": key.id, "deleted": True})


@router.get(
    "/usage",
    summary="The account's jobs and spending, by model and by day",
    responses=native_errors(*CALLER, 422),
)
async def get_usage(
    caller: Auth,
    days: int = Query(
        30, ge=1, le=MAX_USAGE_DAYS, description="UTC days to cover, today included."
    ),
) -> Response:
    """The jobs the account created in the window that are still kept (see
    ``retention_seconds``), and their actual costs (0 for a job not charged): by model, most
    spent first, and by UTC day, oldest first, every day of the window listed."""
    report = await caller.svc.usage(caller.account_id, days)
    return JSONResponse(
        {
            "object": "usage",
            "credits": credits_json(report.account.credits),
            "held": credits_json(report.held),
            "days": report.days,
            "by_model": [render_tally(t, "model") for t in report.by_model],
            "by_day": [render_tally(t, "day") for t in report.by_day],
        }
    )


# -- admin -----------------------------------------------------------------------------------
@router.get(
    "/admin/accounts",
    summary="List every account (admin)",
    responses={**native_errors(*CALLER), **NOT_ADMIN},
)
async def list_accounts(caller: Admin) -> Response:
    """Each with its weight, its limits and what they count (``usage``: the stored bytes
    are summed over every account's jobs, one pass over them all)."""
    summaries = await caller.svc.accounts()
    usage = await caller.svc.accounts_limits()
    data = [
        {**render_account(s), **render_limits(caller.svc.view(s.account, usage.get(s.account.id)))}
        for s in summaries
    ]
    return JSONResponse({"object": "list", "data": data})


@router.get(
    "/admin/queue",
    summary="Queued jobs per model, of every account (admin)",
    responses={**native_errors(*CALLER), **NOT_ADMIN},
)
async def queue(caller: Admin) -> Response:
    """Each model with queued jobs: how many, and when the oldest of them was submitted (what
    ``genq status`` shows; ``/metrics`` has the same figures)."""
    depths = await caller.svc.queue_depths()
    data = [
        {"model": model, "queued": count, "oldest_queued_at": isotime(oldest)}
        for model, (count, oldest) in sorted(depths.items())
    ]
    return JSONResponse({"object": "list", "data": data})


@router.post(
    "/admin/accounts",
    status_code=201,
    summary="Create an account and its first key (admin)",
    openapi_extra=json_request(NewAccount.model_json_schema()),
    responses={
        **native_errors(*CALLER, *BODY),
        **NOT_ADMIN,
        **_answer(409, "An account has that name already."),
    },
)
async def create_account(request: Request, caller: Admin) -> Response:
    """The first key's ``key`` is the key itself, shown this once."""
    body = parse_body(NewAccount, await request.body(), caller.svc.max_json_depth)
    summary, key, raw = await caller.svc.create_account(body.name, body.credits, body.admin)
    first = {**render_key(key, caller), "key": raw}
    return JSONResponse({**render_account(summary), "key": first}, status_code=201)


@router.post(
    "/admin/accounts/{account_id}/credits",
    summary="Add credits to an account's balance (admin)",
    openapi_extra=json_request(AddedCredits.model_json_schema()),
    responses={
        **native_errors(*CALLER, *BODY),
        **NOT_ADMIN,
        **_answer(404, "No account with that id."),
        **_answer(409, "The account has no limit."),
    },
)
async def add_credits(request: Request, caller: Admin, account_id: str = ACCOUNT_ID) -> Response:
    body = parse_body(AddedCredits, await request.body(), caller.svc.max_json_depth)
    summary = await caller.svc.add_credits(account_id, body.amount)
    return JSONResponse(render_account(summary))


@router.patch(
    "/admin/accounts/{account_id}",
    summary="Set an account's weight and limits (admin)",
    openapi_extra=json_request(LimitsChange.model_json_schema()),
    responses={
        **native_errors(*CALLER, *BODY),
        **NOT_ADMIN,
        **_answer(404, "No account with that id."),
    },
)
async def set_limits(request: Request, caller: Admin, account_id: str = ACCOUNT_ID) -> Response:
    """The fields given are set, the others kept: ``weight`` (more than 0; null: back to 1),
    ``max_running``, ``max_queued``, ``rate_per_second``, ``rate_burst`` and
    ``storage_quota_bytes`` (null: back to the configured default; 0: no limit). The answer
    is the account with its limits as they now apply."""
    body = parse_body(LimitsChange, await request.body(), caller.svc.max_json_depth)
    limited = await caller.svc.set_limits(account_id, body.changes())
    summary = await caller.svc.account_summary(limited.account.id)
    return JSONResponse({**render_account(summary), **render_limits(limited)})


@router.get(
    "/admin/keys",
    summary="List every account's keys, newest first (admin)",
    responses={**native_errors(*CALLER), **NOT_ADMIN},
)
async def list_all_keys(caller: Admin) -> Response:
    keys = await caller.svc.all_keys()
    data = [render_key(k, caller, with_account=True) for k in keys]
    return JSONResponse({"object": "list", "data": data})


@router.post(
    "/admin/keys/{key_id}/disable",
    summary="Disable any account's key (admin)",
    responses={**native_errors(*CALLER, 422), **NOT_ADMIN, **_answer(404, "No key with that id.")},
)
async def admin_disable_key(caller: Admin, key_id: str = KEY_ID) -> Response:
    key = await caller.svc.set_key_disabled(key_id, True, account_id=None)
    return JSONResponse(render_key(key, caller, with_account=True))


@router.post(
    "/admin/keys/{key_id}/enable",
    summary="Enable any account's key again (admin)",
    responses={**native_errors(*CALLER, 422), **NOT_ADMIN, **_answer(404, "No key with that id.")},
)
async def admin_enable_key(caller: Admin, key_id: str = KEY_ID) -> Response:
    key = await caller.svc.set_key_disabled(key_id, False, account_id=None)
    return JSONResponse(render_key(key, caller, with_account=True))


# -- the console's sign-in -------------------------------------------------------------------
class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(
        min_length=1, max_length=200, description="The token of a console sign-in link."
    )


@router.post(
    "/console/sign-in",
    status_code=201,
    summary="Trade a one-time sign-in token for a new key",
    secured=False,
    openapi_extra=json_request(SignIn.model_json_schema()),
    responses={
        **native_errors(*BODY, 503),
        **_answer(401, "The sign-in token is unknown, used or expired."),
    },
)
async def sign_in(request: Request) -> Response:
    """No key needed: the token, from a link that `genq serve` or `genq console-link` printed,
    works once, for 10 minutes. The answer's ``key`` is a new key of the token's account
    (named ``console sign-in``), shown this once."""
    svc: JobService = request.app.state.service
    body = parse_body(SignIn, await request.body(), svc.max_json_depth)
    key, raw = await svc.sign_in(body.token)
    return JSONResponse(
        {"key": raw, "account": {"id": key.account_id, "name": key.account_name}},
        status_code=201,
    )
