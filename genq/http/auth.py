"""Who is calling: the API key from the request's headers, checked by the job service."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated

from starlette.requests import Request

from genq.http.links import Links
from genq.http.routing import Depends
from genq.jobs import ApiKey
from genq.service import JobService


def raw_api_key(request: Request) -> str | None:
    """``Authorization: Bearer KEY`` or ``Authorization: KEY``, else ``x-api-key: KEY``."""
    header = (request.headers.get("authorization") or "").strip()
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return rest.strip()
    if header and not rest:
        return header
    # Another scheme (Basic, ...) is not ours: a proxy may have added it.
    return request.headers.get("x-api-key")


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
        return self.svc.public_url or str(self.request.base_url)

    @property
    def links(self) -> Links:
        """Download links to job files, as this caller reaches genq."""
        return Links(self.request.app.state.storage, self.base_url, self.svc.link_expiry)


async def authenticated(request: Request) -> Caller:
    svc: JobService = request.app.state.service
    return Caller(svc, await svc.authenticate(raw_api_key(request)), request)


Auth = Annotated[Caller, Depends(authenticated)]
