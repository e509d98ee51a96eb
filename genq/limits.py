"""The caps on what one request may ask genq to parse, store and echo back.

Every surface (the native API and each vendor dialect) goes through these checks, so a body
that genq could not store, or that would make it hold or send an unbounded amount, is refused
with a 4xx before anything is written. The numbers are settings (``max_json_depth``,
``max_metadata_bytes``, ``max_metadata_keys``, ``max_metadata_depth``, ``max_text_chars``,
``max_list_bytes``); the README's limits section lists each one.

- JSON bodies: nested at most ``max_json_depth`` levels, and no string or key holding a NUL
  character (PostgreSQL cannot store one in JSON, so neither store takes it). Lone surrogates
  and non-finite numbers are already refused by the parser.
- ``metadata``: at most ``max_metadata_bytes`` as JSON, ``max_metadata_keys`` keys at its top,
  ``max_metadata_depth`` levels.
- A job's input and a vendor's kept request: no string longer than ``max_text_chars``
  characters, but for base64 ``data:`` URIs, which are references with caps of their own
  (``reference_max_bytes``, the body limit); no key longer than ``MAX_KEY_CHARS``.
- What models write (error, log and progress messages, streamed text): NUL characters and
  lone surrogates become U+FFFD, and a message is cut at ``MAX_STORED_MESSAGE_CHARS``
  (``stored_text``).
- Error messages: at most ``MAX_MESSAGE_CHARS`` characters and ``MAX_ERROR_DETAILS`` failing
  fields, however long the value they quote (applied by ``genq.errors.ServiceError``).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from genq.errors import BadRequest, ValidationFailed, shorten

DEFAULT_JSON_DEPTH = 32
DEFAULT_METADATA_BYTES = 16 * 1024
DEFAULT_METADATA_KEYS = 64
DEFAULT_METADATA_DEPTH = 5
DEFAULT_TEXT_CHARS = 100_000
DEFAULT_LIST_BYTES = 8 * 1024 * 1024
MAX_STORED_MESSAGE_CHARS = 4000
#: Largest value a model streams as one ``partial`` event, as JSON.
MAX_PARTIAL_BYTES = 256 * 1024
#: Longest key of a JSON object anywhere in a body.
MAX_KEY_CHARS = 1000
refuse = ValidationFailed.at
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: A ``data:`` URI of base64 bytes: a reference, whose size has caps of its own.
_DATA_URI = re.compile(r"data:[\w.+-]+/[\w.+-]+(;[\w.+-]+=[\w.+-]+)*;base64,[A-Za-z0-9+/=\s]*")


def check_json(value: Any, max_depth: int, root: str = "body") -> None:
    """Refuse a parsed JSON body nested deeper than ``max_depth`` or holding a NUL character.

    Iterative, so that no body can exhaust the interpreter's stack.
    """
    stack: list[tuple[Any, str, int]] = [(value, root, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise refuse(path, "must not contain NUL characters")
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise refuse(path, f"is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    if "\x00" in key:
                        raise refuse(path, "has a key with a NUL character")
                    if len(key) > MAX_KEY_CHARS:
                        raise refuse(path, f"has a key longer than {MAX_KEY_CHARS} characters")
                    stack.append((child, f"{path}/{key}", depth + 1))
            else:
                stack.extend((child, f"{path}/{i}", depth + 1) for i, child in enumerate(item))


def parse_json(raw: bytes, max_depth: int) -> Any:
    """The body as JSON, checked by ``check_json``; 400 ``invalid_json`` when it does not parse."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="invalid_json") from None
    check_json(value, max_depth)
    return value


def check_metadata(metadata: Any, *, max_bytes: int, max_keys: int, max_depth: int) -> None:
    if not isinstance(metadata, dict):
        raise refuse("metadata", "must be a JSON object")
    if len(metadata) > max_keys:
        raise refuse("metadata", f"has {len(metadata)} keys, more than {max_keys}")
    check_json(metadata, max_depth, "metadata")
    size = len(orjson.dumps(metadata))
    if size > max_bytes:
        raise refuse("metadata", f"is {size} bytes as JSON, more than {max_bytes}")


def check_text(value: Any, max_chars: int, root: str = "input") -> None:
    """Refuse a string longer than ``max_chars`` anywhere in ``value`` (``data:`` URIs aside)."""
    stack: list[tuple[Any, str]] = [(value, root)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if len(item) > max_chars and not _DATA_URI.fullmatch(item):
                raise refuse(path, f"is {len(item)} characters long, more than {max_chars}")
        elif isinstance(item, dict):
            stack.extend((child, f"{path}/{key}") for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, f"{path}/{i}") for i, child in enumerate(item))


def check_param(value: str | None, path: str) -> None:
    """Refuse a header or query parameter with a NUL character (no store can look one up)."""
    if value is not None and "\x00" in value:
        raise refuse(path, "must not contain NUL characters")


def stored_json(value: Any, max_bytes: int = MAX_PARTIAL_BYTES) -> Any:
    """A JSON value a model produced, made storable: its strings and keys as ``stored_text``
    makes them (any length); ValueError when it is not JSON or takes more than ``max_bytes``."""
    # Made storable first: JSON has no form for a lone surrogate, which a storable value
    # holds as U+FFFD.
    storable = _storable(value)
    try:
        size = len(orjson.dumps(storable))
    except TypeError as exc:  # an integer past 64 bits, say
        raise ValueError(f"not a JSON value: {exc}") from None
    if size > max_bytes:
        raise ValueError(f"{size} bytes as JSON, more than {max_bytes}")
    return storable


def _storable(value: Any) -> Any:
    # Only JSON's own types: orjson would write a dataclass or a datetime too, but with its
    # strings as they are (a NUL, which PostgreSQL's JSON refuses), and a key that is not a
    # string could meet another once written (1 and "1").
    if isinstance(value, str):
        return stored_text(value, limit=None)
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise ValueError("not a JSON value: an object key that is not a string")
        return {stored_text(k, limit=None): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    raise ValueError(f"not a JSON value: a {type(value).__name__}")


def stored_text(text: str, limit: int | None = MAX_STORED_MESSAGE_CHARS) -> str:
    """Text a model produced, made storable: no NUL (which PostgreSQL cannot keep) and no lone
    surrogate (which no store, nor JSON, can: Python makes them from undecodable file names),
    each made U+FFFD, and at most ``limit`` characters (None: any length)."""
    text = _UNSTORABLE.sub("\ufffd", text)
    return text if limit is None else shorten(text, limit)
