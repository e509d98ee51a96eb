"""fal app ids (``fal-ai/flux/dev``, ``workflows/me/flow``) and the genq models they name.

An app id is ``[NAMESPACE/]OWNER/ALIAS[/PATH]``, read as fal's client reads it: the
``workflows`` and ``comfy`` namespaces take one more part. A request's status, result and
cancel are at the app's base (``[NAMESPACE/]OWNER/ALIAS``): the client drops the path there.

The app a request names runs the first genq model or alias of: the whole id, then the id
without its path's last parts, one by one, down to its base; for the settings' own owner
(``genq/demo-image``), the same without the owner.
"""

from __future__ import annotations

from dataclasses import dataclass

from genq.errors import Missing
from genq.service import JobService

#: fal's namespaces of apps, whose ids have one more part before the owner.
NAMESPACES = ("workflows", "comfy")


@dataclass(frozen=True)
class AppId:
    namespace: str | None
    owner: str
    alias: str
    path: str | None

    @classmethod
    def parse(cls, text: str) -> AppId:
        """The app id in a request's path; 404 for one that names no app."""
        parts = text.split("/")
        namespace = parts.pop(0) if parts[0] in NAMESPACES else None
        if len(parts) < 2 or not all(parts):
            raise app_not_found(text)
        return cls(namespace, parts[0], parts[1], "/".join(parts[2:]) or None)

    @property
    def base(self) -> str:
        """``[NAMESPACE/]OWNER/ALIAS``: where the app's requests are read and canceled."""
        prefix = f"{self.namespace}/" if self.namespace else ""
        return f"{prefix}{self.owner}/{self.alias}"

    @property
    def full(self) -> str:
        return self.base if self.path is None else f"{self.base}/{self.path}"

    def candidates(self, own_owner: str) -> list[str]:
        """The genq model or alias names this app may stand for, in the order tried: the
        id, then without its path's last parts one by one; for the own owner, the same
        after it."""
        path = [] if self.path is None else self.path.split("/")
        tails = ["/".join([self.alias, *path[:n]]) for n in range(len(path), -1, -1)]
        prefix = f"{self.namespace}/" if self.namespace else ""
        names = [f"{prefix}{self.owner}/{tail}" for tail in tails]
        if self.namespace is None and self.owner == own_owner:
            names += tails
        return names


def resolve(svc: JobService, app: AppId, own_owner: str) -> str:
    """The genq model or alias ``app`` runs; 404 when none answers to it."""
    for name in app.candidates(own_owner):
        try:
            svc.resolve(name)
        except Missing:
            continue
        return name
    raise app_not_found(app.full)


def app_not_found(text: str) -> Missing:
    return Missing(
        f"Application {text!r} not found: name a genq model or alias (GET /v1/models), "
        "as OWNER/NAME",
        code="app_not_found",
    )
