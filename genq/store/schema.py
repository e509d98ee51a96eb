"""Schema versions and the numbered SQL migrations that reach them, one folder per engine.

``migrations/ENGINE/NNNN_name.sql`` holds the statements that take a database from version
NNNN-1 to NNNN. Both engines have the same numbers, so one version number describes both.
"""

from __future__ import annotations

from importlib import resources

from genq.errors import ConfigError


def migrations(engine: str) -> list[tuple[int, list[str]]]:
    """``(version, statements)`` for every migration of ``engine``, oldest first."""
    folder = resources.files("genq.store") / "migrations" / engine
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            statements = [s for s in entry.read_text().split(";\n") if s.strip()]
            found.append((int(entry.name.split("_", 1)[0]), statements))
    return sorted(found)


#: The version this genq's code reads and writes.
SCHEMA_VERSION = migrations("sqlite")[-1][0]


def check_version(found: int, where: str) -> None:
    """Refuse a database whose schema is not the one this genq speaks."""
    if found > SCHEMA_VERSION:
        raise ConfigError(
            f"the database {where} has schema version {found}, newer than this genq's "
            f"{SCHEMA_VERSION}: upgrade genq on this machine"
        )
    if found < SCHEMA_VERSION:
        raise ConfigError(
            f"the database {where} has schema version {found}, older than this genq's "
            f"{SCHEMA_VERSION}: stop every genq process that uses it, back it up, then run "
            "`genq migrate`"
        )
