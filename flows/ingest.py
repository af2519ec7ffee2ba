"""Flow: bring a Weaviate collection up to date with a source folder."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from schemas.documents import IngestSummary
from schemas.settings import apply_library_environment, get_settings
from tasks.ingest import Progress, ingest

apply_library_environment()

ingest_task = task(ingest, name="ingest-folder", cache_policy=NO_CACHE)


@flow(name="ingest", log_prints=True)
def ingest_flow(path: str, collection: str | None = None, progress: Progress | None = None) -> IngestSummary:
    summary = ingest_task(Path(path), get_settings(), collection, progress)
    print(
        f"ingest {summary.status}: {summary.documents_changed}/{summary.documents_seen} changed, "
        f"{summary.chunks_written} chunks written, {summary.chunks_deleted} deleted, "
        f"{summary.quarantined} quarantined in {summary.seconds:.1f}s"
    )
    return summary
