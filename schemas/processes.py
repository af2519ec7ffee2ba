"""Whether a process runs: one rule for the services ragroute starts, their PID files and abandoned runs."""

from __future__ import annotations

import contextlib
import os


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs. A child of this process that has exited counts as gone (it is left
    for its owner to wait for); a process of another user counts as running."""
    with contextlib.suppress(ChildProcessError):  # not our child: only kill(0) can tell
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
