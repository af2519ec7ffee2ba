"""The one base of every error ragroute reports to a user: the CLI and the API print its message as it is."""

from __future__ import annotations


class RagrouteError(Exception):
    """A user-facing error whose message says what went wrong and what to do (no traceback needed)."""
