"""Put ragroute on a Prefect server: the `cpu` and `gpu` process work pools, the deployments of `prefect.yaml`,
and workers that run them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from schemas.errors import RagrouteError
from schemas.settings import PROJECT_ROOT

WORK_POOLS = {
    "cpu": "ingest, reindex and scan",
    "gpu": "the nightly evaluation (run its worker beside the model server)",
}
PREFECT_FILE = PROJECT_ROOT / "prefect.yaml"


class DeployError(RagrouteError):
    """ragroute could not be deployed; the message says why."""


def prefect_api_url() -> str:
    """The Prefect server to deploy to; a temporary server would forget everything at exit."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise DeployError(
            "PREFECT_API_URL is not set: start a server (`prefect server start`) and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (see the README, 'Orchestration')"
        )
    return url


async def _ensure_work_pools(names: list[str]) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound
    from prefect.workers.utilities import get_default_base_job_template_for_infrastructure_type

    states = {}
    async with get_client() as client:
        for name in names:
            try:
                await client.read_work_pool(name)
                states[name] = "exists"
            except ObjectNotFound:
                template = await get_default_base_job_template_for_infrastructure_type("process")
                await client.create_work_pool(
                    WorkPoolCreate(name=name, type="process", base_job_template=template)
                )
                states[name] = "created"
    return states


def ensure_work_pools(names: list[str] | None = None) -> dict[str, str]:
    """Create the process work pools that are missing; returns each pool's state ('created' or 'exists')."""
    prefect_api_url()
    return asyncio.run(_ensure_work_pools(names or list(WORK_POOLS)))


def _prefect_command() -> list[str]:
    return [str(Path(sys.executable).with_name("prefect"))]


def apply_deployments(prefect_file: Path = PREFECT_FILE) -> str:
    """Apply every deployment of `prefect.yaml` (`prefect deploy --all`); returns its output."""
    prefect_api_url()
    result = subprocess.run(
        [*_prefect_command(), "--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "RAGROUTE_PROJECT_DIR": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise DeployError(f"prefect deploy failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def worker_command(pool: str, limit: int | None = None) -> list[str]:
    """The command line of a process worker for `pool` (run from the project root)."""
    command = [*_prefect_command(), "worker", "start", "--pool", pool, "--type", "process"]
    if limit:
        command += ["--limit", str(limit)]
    return command


def run_worker(pool: str, limit: int | None = None) -> int:
    """Run a worker in the foreground until it is stopped; returns its exit code."""
    prefect_api_url()
    return subprocess.call(worker_command(pool, limit), cwd=PROJECT_ROOT)
