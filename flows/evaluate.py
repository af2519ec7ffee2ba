"""Flow: evaluate RAG, long context and Self-Route on one data set and store everything in DuckDB."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from schemas.settings import apply_library_environment, get_settings
from tasks.datasets import load_and_quarantine
from tasks.evaluate import EvalConfig, EvalSummary, Progress, evaluate, evaluate_corpus
from tasks.nightly import artifact_key, method_table, summary_markdown

apply_library_environment()


@task(name="load-dataset", cache_policy=NO_CACHE)
def load_task(dataset: str, limit: int | None):
    loaded = load_and_quarantine(dataset, get_settings(), limit)
    if loaded.problems:
        print(
            f"{len(loaded.problems)} malformed record(s) in {loaded.source} skipped (see the quarantine table)"
        )
    return loaded


evaluate_task = task(evaluate, name="evaluate-methods", cache_policy=NO_CACHE)


evaluate_corpus_task = task(evaluate_corpus, name="evaluate-corpus-qa", cache_policy=NO_CACHE)


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
def evaluate_flow(
    config: EvalConfig, progress: Progress | None = None, collection: str | None = None
) -> EvalSummary:
    """A benchmark (LongBench/∞Bench/mini) on its own contexts, or a QA set over an ingested collection."""
    loaded = load_task(config.dataset, config.limit)
    if loaded.examples:
        summary = evaluate_task(loaded.examples, config, get_settings(), progress)
    else:
        summary = evaluate_corpus_task(loaded.questions, config, get_settings(), collection, progress)
    publish_artifacts(summary)
    print(
        f"evaluation {summary.status}: run {summary.run_id}, {summary.llm_calls} LLM calls, "
        f"{summary.cached_calls} cached, {summary.errors} errors"
    )
    return summary
