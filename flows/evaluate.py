"""Flow: evaluate RAG, long context and Self-Route on one data set and store everything in DuckDB."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from schemas.evaluation import EvalConfig
from schemas.settings import apply_library_environment, get_settings
from tasks.evaluation.benchmark import Progress
from tasks.evaluation.run import run_evaluation
from tasks.evaluation.summary import EvalSummary, artifact_key, method_table, summary_markdown

apply_library_environment()

evaluate_task = task(run_evaluation, name="evaluate", cache_policy=NO_CACHE)


def publish_artifacts(summary: EvalSummary, report: Path | None = None) -> None:
    """A markdown summary and a per-method table of the run, as Prefect artifacts of the current flow run."""
    key = artifact_key("eval", summary.dataset)
    create_markdown_artifact(
        key=key, markdown=summary_markdown(summary, report), description=f"Evaluation of {summary.dataset}"
    )
    create_table_artifact(
        key=f"{key}-methods",
        table=method_table(summary),
        description=f"{summary.dataset}: score, tokens, dollars and token % of LC per method",
    )


@flow(name="evaluate", log_prints=True)
def evaluate_flow(config: EvalConfig, progress: Progress | None = None) -> EvalSummary:
    """A benchmark (LongBench/∞Bench/mini) on its own contexts, or a QA set over an ingested collection."""
    summary = evaluate_task(config, get_settings(), progress)
    if summary.skipped_records:
        print(
            f"{summary.skipped_records} malformed record(s) in {config.dataset} skipped (see the quarantine table)"
        )
    publish_artifacts(summary)
    print(
        f"evaluation {summary.status}: run {summary.run_id}, {summary.llm_calls} LLM calls, "
        f"{summary.cached_calls} cached, {summary.errors} errors"
    )
    return summary
