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
from tasks.chunk import config_signature
from tasks.extract import doc_id_for
from tasks.ingest import ensure_within_source_roots, is_unchanged, scan
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
    """New, changed and deleted files under `root` compared with the manifest of `collection`.

    Deletions are not reported when the scan saw fewer than `delete_guard_min_seen_ratio` of the known
    files (a partial scan, e.g. a half-mounted share, must not trigger mass deletion)."""
    root = ensure_within_source_roots(root, settings)
    base = collection or settings.collection
    files, problems = scan(root)
    with session(settings.warehouse_path) as con:
        known = manifest.known_documents(con, str(root), collection_name(base, settings.embedding_model))
    signature = config_signature(settings)
    changes = [
        DocumentChange("changed" if str(f.path) in known else "created", str(f.path), str(root), base)
        for f in files
        if not is_unchanged(known.get(str(f.path)), f.sha256, signature)
    ]
    present = {str(f.path) for f in files} | {p.path for p in problems}
    gone = [path for path in known if path not in present]
    note = None
    if gone and len(files) < settings.delete_guard_min_seen_ratio * len(known):
        note = f"scan saw {len(files)} of {len(known)} known files: {len(gone)} deletion(s) not reported"
        gone = []
    changes += [DocumentChange("deleted", path, str(root), base) for path in gone]
    return ChangeScan(changes=changes, seen=len(files), known=len(known), note=note)


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


WATCH_CHANGES = {"added": "created", "modified": "changed", "deleted": "deleted"}


def watch_changes(
    root: Path,
    settings: Settings,
    collection: str | None = None,
    stop: StopSignal | None = None,
) -> Iterable[list[DocumentChange]]:
    """Batches of file changes under `root` as the file system reports them (watchfiles), until `stop`."""
    import watchfiles

    root = ensure_within_source_roots(root, settings)
    base = collection or settings.collection
    for batch in watchfiles.watch(root, stop_event=stop, recursive=True):
        changes = {}
        for kind, raw_path in sorted(batch, key=lambda item: item[1]):
            path = Path(raw_path)
            if kind != watchfiles.Change.deleted and not path.is_file():
                continue  # folders, and files already gone again
            changes[str(path.resolve())] = WATCH_CHANGES[kind.name]
        yield [DocumentChange(change, path, str(root), base) for path, change in changes.items()]


def watch_and_emit(
    root: Path,
    settings: Settings,
    collection: str | None = None,
    stop: StopSignal | None = None,
    on_emit: Callable[[DocumentChange], None] | None = None,
) -> int:
    """Emit an event for every change under `root` until `stop` is set; returns how many were sent."""
    sent = 0
    for changes in watch_changes(root, settings, collection, stop):
        for change in changes:
            if emit_change(change):
                sent += 1
                if on_emit:
                    on_emit(change)
    return sent
