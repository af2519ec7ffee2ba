"""What the CLI shows on the terminal: its own lines, tables and one progress bar per long step. Other
libraries' warnings, logs and progress bars (and those of the processes the CLI starts) go to a log file under
the data dir instead, unless `--verbose`."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path

from rich.console import Console

console = Console(stderr=True)
LOG_ROTATE_BYTES = 20 * 1024 * 1024  # beyond this the log file starts afresh; the previous one is kept as .1


class _State:
    verbose = False
    log_file: Path | None = None


state = _State()


def send_noise_to_log(log_file: Path) -> None:
    """From here on, file descriptor 2 (stderr of this process, of C libraries and of every child process)
    writes to `log_file`; the console keeps writing to the terminal. Does nothing with `--verbose` or twice."""
    if state.verbose or state.log_file is not None:
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if log_file.exists() and log_file.stat().st_size > LOG_ROTATE_BYTES:
        log_file.replace(log_file.with_name(log_file.name + ".1"))
    sys.stderr.flush()
    console.file = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")
    with log_file.open("a", encoding="utf-8") as log:
        log.write(f"\n=== {datetime.now().isoformat(timespec='seconds')} ragroute {' '.join(sys.argv[1:])}\n")
        log.flush()
        os.dup2(log.fileno(), 2)
    state.log_file = log_file
