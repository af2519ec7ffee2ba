"""Document events: what changed in a source folder, announced as Prefect events.

`ragroute.document.created|changed|deleted`, with the file, its source folder and collection in the payload,
is what the `reindex` deployment's trigger listens for. The `scan` flow finds changes by comparing a folder
with the manifest; `ragroute watch` sees them as they happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from threading import Event as StopSignal

from schemas.collection import collection_name
from schemas.settings import Settings
from tasks.ingestion.chunk import config_signature
from tasks.ingestion.hashing import doc_id_for
from tasks.ingestion.plan import plan_changes
from tasks.ingestion.sources import ensure_within_source_roots, scan
from warehouse import manifest
from warehouse.db import session

EVENT_PREFIX = "ragroute.document"
CHANGES = ("created", "changed", "deleted")


@dataclass(frozen=True)
class DocumentChange:
    change: str  # created | changed | deleted
    path: str
    root: str
    collection: str  # the collection name as given to `ingest` (without the model suffix)

    @property
    def event(self) -> str:
        return f"{EVENT_PREFIX}.{self.change}"


@dataclass
class ChangeScan:
    changes: list[DocumentChange]
    seen: int
    known: int
    note: str | None = None


def detect_changes(root: Path, settings: Settings, collection: str | None = None) -> ChangeScan:
    """New, changed and deleted files under `root` compared with the manifest of `collection`, planned
    exactly as `ingest` plans them (so a scan's events match what an ingest of the folder would do)."""
    root = ensure_within_source_roots(root, settings)
    base = collection or settings.collection
    files, problems = scan(root)
    with session(settings.warehouse_target) as con:
        known = manifest.known_documents(con, str(root), collection_name(base, settings.embedding_model))
    plan = plan_changes(
        files, problems, known, config_signature(settings), settings.delete_guard_min_seen_ratio
    )
    changes = [
        DocumentChange("changed" if str(f.path) in known else "created", str(f.path), str(root), base)
        for f in plan.changed
    ]
    changes += [DocumentChange("deleted", doc.path, str(root), base) for doc in plan.deleted]
    return ChangeScan(changes=changes, seen=len(files), known=len(known), note=plan.note)


def emit_change(change: DocumentChange) -> bool:
    """Send one document event to the Prefect API; False when events are switched off."""
    from prefect.events import emit_event

    event = emit_event(
        event=change.event,
        resource={
            "prefect.resource.id": f"{EVENT_PREFIX}.{doc_id_for(Path(change.path))}",
            "prefect.resource.name": change.path,
        },
        payload=asdict(change),
    )
    return event is not None


def _change_for(path: Path, kinds: set[str]) -> str | None:
    """One event for all that happened to `path` in a batch; the file's state now decides.

    A new file usually shows up as added then modified (written after it was opened): that is `created`."""
    if not path.exists():
        return "deleted" if "deleted" in kinds else None
    if not path.is_file():
        return None  # a folder: its files report for themselves
    return "created" if "added" in kinds else "changed"


def watch_changes(
    root: Path,
    settings: Settings,
    collection: str | None = None,
    stop: StopSignal | None = None,
    on_ready: Callable[[], None] | None = None,
) -> Iterable[list[DocumentChange]]:
    """Batches of file changes under `root` as the file system reports them (watchfiles), until `stop`.

    `on_ready` is called once the file system watch is in place: changes made before then are not seen."""
    import watchfiles

    root = ensure_within_source_roots(root, settings)
    base = collection or settings.collection
    ready = False
    # yield_on_timeout: an empty batch after the first second proves the watch is registered.
    for batch in watchfiles.watch(
        root, stop_event=stop, recursive=True, yield_on_timeout=True, rust_timeout=1000
    ):
        if not ready:
            ready = True
            if on_ready:
                on_ready()
        if not batch:
            continue
        kinds_by_path: dict[Path, set[str]] = {}
        for kind, raw_path in batch:
            kinds_by_path.setdefault(Path(raw_path), set()).add(kind.name)
        changes = {}
        for path in sorted(kinds_by_path):
            change = _change_for(path, kinds_by_path[path])
            if change:
                changes[str(path.resolve())] = change
        yield [DocumentChange(change, path, str(root), base) for path, change in changes.items()]


def watch_and_emit(
    root: Path,
    settings: Settings,
    collection: str | None = None,
    stop: StopSignal | None = None,
    on_emit: Callable[[DocumentChange], None] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Emit an event for every change under `root` until `stop` is set; returns how many were sent."""
    sent = 0
    for changes in watch_changes(root, settings, collection, stop, on_ready):
        for change in changes:
            if emit_change(change):
                sent += 1
                if on_emit:
                    on_emit(change)
    return sent
