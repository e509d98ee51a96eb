"""The ``genq`` command line: server-side commands (``admin``) and the client commands."""

from __future__ import annotations

from genq.cli import admin, client
from genq.cli.app import app

__all__ = ["admin", "app", "client"]
