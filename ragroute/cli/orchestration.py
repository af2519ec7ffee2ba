"""`ragroute nightly`, `deploy`, `worker` and `check`: Prefect deployments, workers and the scheduled jobs."""

from __future__ import annotations

from pathlib import Path

import typer

from ragroute.cli.common import fail, start_flows
from ragroute.terminal import console


def nightly_command(
    plan: Path | None = typer.Option(None, "--plan", help="The plan file (default: RAGROUTE_PLAN_PATH)."),
) -> None:
    """Run the nightly job here and now: ingest the plan's sources, evaluate, report, check regressions."""
    start_flows()
    from flows.nightly import nightly_flow
    from tasks.evaluation.regression import RegressionDetected

    try:
        result = nightly_flow(str(plan) if plan else None)
    except RegressionDetected as error:
        fail(f"regression detected:\n{error}")
    for run in result["runs"]:
        for line in run["questions"]:  # the question set's generation, for a collection's questions
            console.print(line, markup=False)
        evaluated = (
            "unchanged: not evaluated again"
            if run["reused"]
            else f"{run['llm_calls']} LLM requests, {run['cached_calls']} answers from the cache"
        )
        console.print(f"{run['dataset']}: {run['status']} (run {run['run_id']}), {evaluated}")


def deploy_command() -> None:
    """Create the `cpu` and `gpu` process work pools if missing and apply prefect.yaml (needs PREFECT_API_URL)."""
    from tasks.clients.deploy import apply_deployments, ensure_work_pools

    for pool, pool_state in ensure_work_pools().items():
        console.print(f"work pool {pool}: {pool_state}")
    output = apply_deployments()
    console.print(output.strip()[-2000:])


def worker_command(
    pool: str = typer.Option("cpu", "--pool", help="Work pool to serve: cpu or gpu."),
    limit: int | None = typer.Option(None, "--limit", help="Most flow runs at once."),
) -> None:
    """Run a Prefect process worker for POOL from the project root (the gpu one beside the model server)."""
    from tasks.clients.deploy import run_worker

    raise typer.Exit(code=run_worker(pool, limit))


def check() -> None:
    """Run the `health` flow: Weaviate version, one LLM completion, a row in DuckDB."""
    start_flows()
    from flows.health import health

    result = health()
    if not result.ok:
        fail("health check failed")
