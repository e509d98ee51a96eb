"""Who is calling: the API key from the request's headers, checked by the job service."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

from starlette.requests import Request
from starlette.types import Scope

from genq import logs
from genq.http.links import Links
from genq.http.routing import Depends
from genq.jobs import ApiKey
from genq.service import JobService

#: The ``Authorization`` schemes that carry a genq key.
KEY_SCHEMES = ("bearer", "key")


def raw_api_key(request: Request) -> str | None:
    """``Authorization: Bearer KEY``, ``Authorization: Key KEY`` (the scheme some vendors'
    clients send) or ``Authorization: KEY``, else ``x-api-key: KEY``."""
    header = (request.headers.get("authorization") or "").strip()
    scheme, _, rest = header.partition(" ")
    if scheme.lower() in KEY_SCHEMES and rest.strip():
        return rest.strip()
    if header and not rest:
        return header
    # Another scheme (Basic, ...) is not ours: a proxy may have added it.
    return request.headers.get("x-api-key")


#: A Host header longer than a host name and port can be is worked out, not remembered.
LONGEST_HOST = 300


def base_url_of(scope: Scope) -> str:
    """Where a request reached genq, as Starlette works it out from the whole request (a URL
    object built per request, a tenth of a status read's cost): remembered per address."""
    host = next((value for name, value in scope["headers"] if name == b"host"), None)
    server = scope.get("server")
    address = (
        scope.get("scheme", "http"),
        host,
        None if server is None else tuple(server),
        scope.get("app_root_path", scope.get("root_path", "")),
    )
    if host is not None and len(host) > LONGEST_HOST:
        return _base_url.__wrapped__(*address)
    return _base_url(*address)


@functools.lru_cache(maxsize=256)
def _base_url(
    scheme: str, host: bytes | None, server: tuple[str, int | None] | None, root_path: str
) -> str:
    headers = [] if host is None else [(b"host", host)]
    scope = {"type": "http", "scheme": scheme, "server": server, "root_path": root_path}
    return str(Request({**scope, "path": "/", "query_string": b"", "headers": headers}).base_url)


@dataclass(frozen=True)
class Caller:
    """An authenticated request: the service, the caller's key and where links point."""

    svc: JobService
    key: ApiKey
    request: Request

    @property
    def account_id(self) -> str:
        return self.key.account_id

    @functools.cached_property
    def base_url(self) -> str:
        # Worked out once per request: each answer's links start with it.
        return self.svc.public_url or base_url_of(self.request.scope)

    @property
    def links(self) -> Links:
        """Download links to job files, as this caller reaches genq."""
        return Links(self.request.app.state.storage, self.base_url, self.svc.link_expiry)


#: Where a request keeps the headers its answer carries whatever it is (``Front`` adds them).
ANSWER_HEADERS = "genq.answer_headers"


async def identified(request: Request) -> Caller:
    """The caller, its key checked but its rate limit not counted (``/metrics``)."""
    svc: JobService = request.app.state.service
    key = await svc.authenticate(raw_api_key(request))
    logs.account.set(key.account_id)
    return Caller(svc, key, request)


async def authenticated(request: Request) -> Caller:
    """The caller, its key checked and this request counted against its rate limit: 429
    ``rate_limited`` past it; the answer of a limited key says what it has left
    (``RateLimit-*`` headers)."""
    caller = await identified(request)
    left = caller.svc.admit(caller.key)
    if left is not None:
        request.scope[ANSWER_HEADERS] = left.raw_headers()
    return caller


Auth = Annotated[Caller, Depends(authenticated)]
