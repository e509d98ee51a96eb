"""The ``genq`` command line: server-side commands (``admin``) and the client commands
(``run``, ``jobs ...``, ``models list|show``, ``webhooks ...``, ``status``).

The client commands talk to a genq server over HTTP through :class:`genq.client.Client`, so
they work with the base install alone: none of their modules imports the server's. Each prints
tables or text by default and the server's JSON with ``--json``; an API error prints
``error: MESSAGE (CODE)`` on stderr and exits 1. Progress and notes go to stderr, results
(tables, file paths, JSON) to stdout.
"""

from __future__ import annotations

# Imported in this order, the commands are listed in it: the server's, then the client's.
from genq.cli import admin, jobs, models, run, status, webhooks
from genq.cli.app import app

__all__ = ["admin", "app", "jobs", "models", "run", "status", "webhooks"]
