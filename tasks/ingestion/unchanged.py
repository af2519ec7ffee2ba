"""An ingest with nothing to do, answered from a scan and the manifest alone: no Prefect flow, no Weaviate
connection, only a completed run in `ingest_runs`. `ragroute ingest` asks this first; a folder with any change
(a new, edited or deleted file, or a new unreadable entry) goes through the flow."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from schemas.collection import collection_name
from schemas.documents import IngestSummary
from schemas.settings import Settings
from tasks.ingestion.chunk import config_signature
from tasks.ingestion.plan import survey
from tasks.ingestion.sources import ensure_within_source_roots
from warehouse import manifest
from warehouse.db import session


def record_if_unchanged(
    root: Path, settings: Settings, collection: str | None = None
) -> IngestSummary | None:
    """The completed run of a folder that matches its manifest, or None when there is work to do."""
    started = time.perf_counter()
    root = ensure_within_source_roots(root, settings)
    name = collection_name(collection or settings.collection, settings.embedding_model)
    signature = config_signature(settings)
    found = survey(root, name, signature, settings)
    if not found.nothing_to_do:
        return None
    summary = IngestSummary(
        run_id=str(uuid.uuid4()), status="completed", documents_seen=len(found.files) + len(found.problems)
    )
    with session(settings.warehouse_target) as con:
        manifest.start_run(con, summary.run_id, str(root), name, signature)
        summary.seconds = round(time.perf_counter() - started, 3)
        manifest.finish_run(con, summary)
    return summary
