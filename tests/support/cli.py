"""Run the `ragroute` command line as a user does: a subprocess with this environment."""

from __future__ import annotations

import os
import subprocess
import sys


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m ragroute.cli ARGS`, with wide columns so every message stays on one line."""
    return subprocess.run(
        [sys.executable, "-m", "ragroute.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "500", **(env or {})},
    )
