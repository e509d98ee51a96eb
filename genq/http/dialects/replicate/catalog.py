"""Models as Replicate names them: ``owner/name``, each with one version whose id is a digest
of its name and input schema, and whose OpenAPI schema (``Input``, ``Output``) is drawn from
the genq model it runs.

``owner/name`` names (a) the alias or model called exactly ``owner/name``, else (b), when
``owner`` is the dialect's own (``[dialects.replicate] owner``, ``genq`` by default), the model
or alias ``name``. A version id stays the same while the model's name and input schema do,
so ``owner/name:VERSION`` keeps working across restarts; after a change to the schema the old
id is no longer found.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from genq import __version__
from genq.errors import Missing
from genq.http.dialects.inputs import COUNT_FIELDS
from genq.http.render import isotime
from genq.models.aliases import Alias
from genq.models.base import IMAGE_REFERENCE
from genq.models.registry import RegisteredModel
from genq.service import JobService

#: What a prediction's ``output`` holds: token strings (text), a list of file URLs (a model
#: that can make several), one file URL, or whatever the model gives.
OutputKind = Literal["text", "files", "file", "any"]

#: The ``cog_version`` of every version. Not a version number on purpose: the client reads
#: numbers below 0.3.9 as older Cog, whose array outputs it takes for iterators.
COG_VERSION = f"genq-{__version__}"
#: When this server started: the ``created_at`` of the versions it serves.
STARTED = isotime(time.time())

VERSION_ID = re.compile(r"[0-9a-f]{64}")
#: What a model name may be in ``owner/name`` (the client's own rule).
_NAME = re.compile(r"[^/:]+")


@dataclass(frozen=True)
class Entry:
    """One model as this API names it, and the genq model (or alias) it runs."""

    owner: str
    name: str
    #: The model or alias a prediction of it submits.
    target: str
    registered: RegisteredModel
    alias: Alias | None

    @property
    def slug(self) -> str:
        return f"{self.owner}/{self.name}"

    @functools.cached_property
    def input_schema(self) -> dict[str, Any]:
        """The schema a prediction's input meets: the alias's own, or its model's."""
        if self.alias is not None and self.alias.input_schema is not None:
            return self.alias.input_schema
        return self.registered.model.input_schema

    @functools.cached_property
    def version(self) -> str:
        named = {"model": self.slug, "input": self.input_schema}
        return hashlib.sha256(orjson.dumps(named, option=orjson.OPT_SORT_KEYS)).hexdigest()

    @functools.cached_property
    def output_kind(self) -> OutputKind:
        model = self.registered.model
        if model.modality == "text":
            return "text"
        if model.modality in ("image", "video", "audio"):
            return "files" if makes_several(model.input_schema) else "file"
        return "any"

    def openapi_schema(self) -> dict[str, Any]:
        """The version's schema, as Cog writes it: the ``Input`` and ``Output`` components."""
        defaults = self.alias.input if self.alias is not None else {}
        return {
            "openapi": "3.0.2",
            "info": {"title": self.slug, "version": self.version[:12]},
            "paths": {},
            "components": {
                "schemas": {
                    "Input": cog_input(self.input_schema, defaults),
                    "Output": OUTPUTS[self.output_kind],
                }
            },
        }

    def version_object(self) -> dict[str, Any]:
        return {
            "id": self.version,
            "created_at": STARTED,
            "cog_version": COG_VERSION,
            "openapi_schema": self.openapi_schema(),
        }

    def model_object(self, root: str, run_count: int) -> dict[str, Any]:
        return {
            "url": f"{root}/v1/models/{self.slug}",
            "owner": self.owner,
            "name": self.name,
            "description": self.registered.description,
            "visibility": "public",
            "github_url": None,
            "paper_url": None,
            "license_url": None,
            "run_count": run_count,
            "cover_image_url": None,
            "default_example": None,
            "latest_version": self.version_object(),
        }


#: The ``Output`` of each kind. Text is streamed in pieces, to be joined (as language
#: models on Replicate do); files are URLs.
OUTPUTS: dict[OutputKind, dict[str, Any]] = {
    "text": {
        "type": "array",
        "items": {"type": "string"},
        "title": "Output",
        "x-cog-array-type": "iterator",
        "x-cog-array-display": "concatenate",
    },
    "files": {"type": "array", "items": {"type": "string", "format": "uri"}, "title": "Output"},
    "file": {"type": "string", "format": "uri", "title": "Output"},
    "any": {"title": "Output"},
}


def makes_several(schema: dict[str, Any]) -> bool:
    """Whether a model's input may ask for more than one output file."""
    props = schema.get("properties", {})
    return any(name in props and props[name].get("maximum", 2) > 1 for name in COUNT_FIELDS)


def cog_input(schema: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """A genq input schema as Cog's ``Input``: each property with its title and ``x-order``,
    a reference image as a ``uri``, an alias's inputs as defaults; the console's hints left
    out."""
    props: dict[str, Any] = {}
    for order, (key, spec) in enumerate(schema.get("properties", {}).items()):
        spec = {k: copy.deepcopy(v) for k, v in spec.items() if k != "x-playground"}
        if spec.get("format") == IMAGE_REFERENCE:
            spec["format"] = "uri"
        items = spec.get("items")
        if isinstance(items, dict) and items.get("format") == IMAGE_REFERENCE:
            spec["items"] = {**items, "format": "uri"}
        if key in defaults:
            spec["default"] = copy.deepcopy(defaults[key])
        spec.setdefault("title", key.replace("_", " ").capitalize())
        spec["x-order"] = order
        props[key] = spec
    described: dict[str, Any] = {"type": "object", "title": "Input", "properties": props}
    required = [name for name in schema.get("required", ()) if name not in defaults]
    if required:
        described["required"] = required
    return described


def find(svc: JobService, default_owner: str, owner: str, name: str) -> Entry:
    """The model ``owner/name`` names (404 ``model_not_found`` if none)."""
    slug = f"{owner}/{name}"
    for target in (slug, name if owner == default_owner else None):
        if target is None:
            continue
        try:
            registered, alias = svc.resolve(target)
        except Missing:
            continue
        return Entry(owner, name, target, registered, alias)
    raise Missing(f"model {slug} not found", code="model_not_found")


def catalog(svc: JobService, default_owner: str) -> list[Entry]:
    """Every model and alias, by the name this API gives it (one that the client could not
    name, holding a ``:`` or two ``/``, is left out)."""
    entries: dict[str, Entry] = {}
    for registered in svc.models():
        for target in (registered.name, *svc.aliases_of(registered.name)):
            owner, _, name = target.partition("/") if "/" in target else (default_owner, "", target)
            if not (_NAME.fullmatch(owner) and _NAME.fullmatch(name)):
                continue
            entry = find(svc, default_owner, owner, name)
            entries.setdefault(entry.slug, entry)
    return list(entries.values())


def find_version(svc: JobService, default_owner: str, version: str) -> Entry:
    """The model a prediction's ``version`` names: a bare version id, ``owner/name`` (its
    latest version), or ``owner/name:id``; 404 when none has it."""
    model, colon, wanted = version.partition(":")
    if "/" in model:
        owner, _, name = model.partition("/")
        entry = find(svc, default_owner, owner, name)
        if colon and wanted != entry.version:
            raise version_missing(version)
        return entry
    if colon or not VERSION_ID.fullmatch(version):
        raise version_missing(version)
    for entry in catalog(svc, default_owner):
        if entry.version == version:
            return entry
    raise version_missing(version)


def version_missing(version: str) -> Missing:
    return Missing(f"version {version} not found", code="version_not_found")
