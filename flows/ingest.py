"""Flows of the ingest stage: bring a collection up to date with a folder, reindex the files named by document
events, rebuild a collection without downtime, and scan source folders for changes to announce as events."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from schemas.documents import IngestSummary
from schemas.plan import load_plan
from schemas.settings import apply_library_environment, get_settings
from tasks.ingestion.events import detect_changes, emit_change
from tasks.ingestion.rebuild import RebuildSummary, rebuild
from tasks.ingestion.run import Progress, ingest

apply_library_environment()

ingest_task = task(ingest, name="ingest-folder", cache_policy=NO_CACHE)
rebuild_task = task(rebuild, name="rebuild-collection", cache_policy=NO_CACHE)
detect_task = task(detect_changes, name="detect-changes", cache_policy=NO_CACHE)


def _report(summary: IngestSummary) -> None:
    print(
        f"ingest {summary.status}: {summary.documents_changed}/{summary.documents_seen} changed, "
        f"{summary.chunks_written} chunks written, {summary.chunks_deleted} deleted, "
        f"{summary.documents_failed} failed ({summary.documents_error} left in error, retried by the next run), "
        f"{summary.quarantined} quarantined in {summary.seconds:.1f}s"
    )
    for note in summary.notes:
        print(f"note: {note}")


@flow(name="ingest", log_prints=True)
def ingest_flow(
    path: str,
    collection: str | None = None,
    progress: Progress | None = None,
    full: bool = False,
    force: bool = False,
) -> IngestSummary | RebuildSummary:
    """Index new and changed files under `path`; `full` rebuilds the collection and switches its alias,
    refused when a folder is empty or mostly missing or documents ended in `error`, unless `force`."""
    if full:
        rebuilt = rebuild_task([Path(path)], get_settings(), collection, progress, force)
        for summary in rebuilt.runs:
            _report(summary)
        print(f"alias {rebuilt.alias} now reads {rebuilt.collection} (was {rebuilt.previous})")
        return rebuilt
    summary = ingest_task(Path(path), get_settings(), collection, progress)
    _report(summary)
    return summary


@flow(name="reindex", log_prints=True)
def reindex_flow(
    path: str, root: str, collection: str | None = None, change: str = "changed"
) -> IngestSummary:
    """Bring one file (or folder) under a source folder up to date; run by `ragroute.document.*` events."""
    print(f"{change}: {path}")
    summary = ingest_task(Path(root), get_settings(), collection or None, None, [Path(path)])
    _report(summary)
    return summary


@flow(name="scan", log_prints=True)
def scan_flow(plan_path: str | None = None) -> dict[str, int]:
    """Compare each source folder of the plan with the manifest and emit an event per changed document."""
    settings = get_settings()
    plan = load_plan(Path(plan_path) if plan_path else settings.plan_path)
    counts = {"created": 0, "changed": 0, "deleted": 0}
    for source in plan.sources:
        found = detect_task(source.path, settings, source.collection)
        if found.note:
            print(f"{source.path}: {found.note}")
        for change in found.changes:
            emit_change(change)
            counts[change.change] += 1
        print(f"{source.path}: {len(found.changes)} change(s) of {found.seen} files")
    return counts
