"""A real Dask cluster on loopback for the tests and benchmarks: `dask scheduler` and `dask worker` processes
(one thread each, no nanny, so the process a test kills is the worker itself), started from the project
root."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from schemas.settings import PROJECT_ROOT

DASK = str(Path(sys.executable).parent / "dask")


class DaskCluster:
    def __init__(self, port: int, log_dir: Path, workers: int = 2) -> None:
        self.address = f"tcp://127.0.0.1:{port}"
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.scheduler = self._spawn("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port",
                                                   str(port), "--no-dashboard"])  # fmt: skip
        self.workers: dict[str, subprocess.Popen] = {}
        for number in range(workers):
            self.start_worker(f"w{number}")
        self.wait_for_workers(workers)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        with (self.log_dir / f"dask-{name}.log").open("ab") as log:  # the process keeps its own copy
            return subprocess.Popen(argv, cwd=PROJECT_ROOT, env=os.environ.copy(), stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip

    def start_worker(self, name: str) -> None:
        self.workers[name] = self._spawn(name, [DASK, "worker", self.address, "--name", name, "--nthreads", "1",
                                                "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"])  # fmt: skip

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=60, set_as_default=False)

    def wait_for_workers(self, count: int, timeout_s: float = 120.0) -> None:
        with self.client() as client:
            client.wait_for_workers(count, timeout=timeout_s)

    def kill_worker(self, name: str) -> None:
        """SIGKILL a worker process."""
        process = self.workers.pop(name)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def worker_name(self, address: str) -> str:
        with self.client() as client:
            return client.scheduler_info()["workers"][address]["name"]

    def close(self) -> None:
        for process in [*self.workers.values(), self.scheduler]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in [*self.workers.values(), self.scheduler]:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
