"""Flow: bring a collection's generated question set up to date with its documents (generate, validate, retire)."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from schemas.settings import apply_library_environment, get_settings
from tasks.questions.follow import GenerationSummary, Progress, follow_collection

apply_library_environment()

follow_task = task(follow_collection, name="generate-questions", cache_policy=NO_CACHE)


@flow(name="questions", log_prints=True)
def questions_flow(
    collection: str,
    per_document: int = 1,
    model: str | None = None,
    progress: Progress | None = None,
    regenerate: bool = False,
) -> GenerationSummary:
    """Questions for the collection's documents that have none; those of changed or deleted ones retired (with
    `regenerate`, every question not reviewed)."""
    summary = follow_task(get_settings(), collection, per_document, model, progress, regenerate)
    for line in summary.lines():
        print(line)
    return summary
