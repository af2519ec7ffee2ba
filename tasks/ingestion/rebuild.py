"""Full reindex without downtime: build a new versioned collection, then switch the collection's alias to it.

Readers always go through the alias, so they keep answering from the old collection while the new one is
built. Only after every source folder was indexed is the alias switched, the manifest swapped and the old
collection dropped. A failed rebuild drops the half-built collection and leaves the alias and the manifest as
they were.

A rebuild is guarded like an ingest's deletions: it is refused (`RebuildRefused`, nothing switched) when a
folder is empty or mostly missing against the manifest, or when documents were left in `error` (the machine
failed: switching would drop their indexed chunks with the old collection). `force` switches anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from schemas.collection import collection_name
from schemas.documents import IngestSummary
from schemas.errors import RagrouteError
from schemas.settings import Settings
from tasks.clients.vectorstore import connect, create_versioned_collection, point_alias
from tasks.ingestion.plan import RebuildRefused
from tasks.ingestion.run import Ingestion, Progress
from warehouse import manifest
from warehouse.db import session


class RebuildFailed(RagrouteError):
    """A source folder could not be indexed into the new collection; the alias was left untouched."""


@dataclass
class RebuildSummary:
    alias: str
    collection: str  # the collection the alias points at now
    previous: str | None  # the collection it pointed at before (dropped)
    runs: list[IngestSummary] = field(default_factory=list)

    @property
    def chunks_written(self) -> int:
        return sum(run.chunks_written for run in self.runs)

    @property
    def documents_error(self) -> int:
        """Documents left in `error` (only with `force`: else the rebuild is refused)."""
        return sum(run.documents_error for run in self.runs)


def rebuild(
    roots: list[Path],
    settings: Settings,
    collection: str | None = None,
    progress: Progress | None = None,
    force: bool = False,
) -> RebuildSummary:
    """Reindex `roots`, plus every other folder the collection holds documents from, into a new collection;
    `force` switches to it even when a folder is empty or mostly missing or documents ended in `error`."""
    alias = collection_name(collection or settings.collection, settings.embedding_model)
    with session(settings.warehouse_target) as con:
        known_roots = manifest.source_roots(con, alias)
    folders = list(dict.fromkeys([str(root.resolve()) for root in roots] + known_roots))
    with connect(settings) as client:
        target = create_versioned_collection(client, alias, settings)
        try:
            runs = [
                Ingestion(Path(folder), settings, collection, progress, rebuild_into=target, force=force)
                for folder in folders
            ]
            for run in runs:
                summary = run.run()
                if summary.status == "failed":
                    raise RebuildFailed(f"indexing {run.root} failed: {'; '.join(summary.notes)}")
            if not force:
                _refuse_errors(runs)
            previous = point_alias(client, alias, target)
        except BaseException:
            client.collections.delete(target)
            raise
        with session(settings.warehouse_target) as con:
            for run in runs:
                manifest.replace_documents(con, run.summary.run_id, str(run.root), alias, run.rebuilt)
        if previous is not None and previous != target:
            client.collections.delete(previous)
    return RebuildSummary(
        alias=alias, collection=target, previous=previous, runs=[run.summary for run in runs]
    )


def _refuse_errors(runs: list[Ingestion]) -> None:
    """A rebuild that left documents in `error` must not switch: their chunks live only in the old collection."""
    failed = [version.path for run in runs for version, _ in run.rebuilt if version.status == "error"]
    if failed:
        named = ", ".join(failed[:5]) + (" …" if len(failed) > 5 else "")
        raise RebuildRefused(
            f"rebuild refused: {len(failed)} document(s) ended in error (the machine failed; see the runs' "
            f"notes): {named}. Switching would drop their indexed chunks with the old collection; fix the cause "
            "and rebuild again, or force it (`ragroute ingest --full --force`)"
        )
