"""Change planning: what a scan means for a collection's manifest (changed, deleted, duplicate files)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from schemas.documents import QuarantineRecord
from schemas.errors import RagrouteError
from schemas.settings import Settings
from tasks.ingestion.sources import ScannedFile, scan, scan_paths, selected
from warehouse import manifest
from warehouse.db import session

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Statuses of a file version that is done with: 'error' (and 'pending') are not, the next run redoes them.
DONE = ("indexed", "quarantined", "duplicate")


class RebuildRefused(RagrouteError):
    """A full rebuild would lose indexed documents (an empty or mostly missing source folder, documents left
    in `error`); the alias and the old collection are left as they were. `--force` rebuilds anyway."""


def find_duplicates(files: list[ScannedFile], known: dict[str, manifest.KnownDocument]) -> dict[Path, Path]:
    """Files with the same content as another scanned file: path -> the path that keeps the content (the one
    the manifest already indexes with it, else the first scanned). Empty files are left to extraction."""
    by_content: dict[str, list[Path]] = {}
    for f in files:
        if f.sha256 != EMPTY_SHA256:
            by_content.setdefault(f.sha256, []).append(f.path)
    duplicates = {}
    for sha256, paths in by_content.items():
        indexed = [
            path for path in paths
            if (doc := known.get(str(path))) and doc.status == "indexed" and doc.content_sha256 == sha256
        ]  # fmt: skip
        kept = (indexed or paths)[0]
        duplicates |= {path: kept for path in paths if path != kept}
    return duplicates


def is_unchanged(known: manifest.KnownDocument | None, sha256: str, signature: str) -> bool:
    """The manifest already holds this file version under this configuration, done with (indexed, quarantined
    or a duplicate). A document in `error` (the machine failed) or `pending` (a run died) is never unchanged."""
    return (
        known is not None
        and known.content_sha256 == sha256
        and known.config_signature == signature
        and known.status in DONE
    )


@dataclass
class ChangePlan:
    """What a scan means for a collection: files to read, documents to delete, copies of other files."""

    changed: list[ScannedFile]
    deleted: list[manifest.KnownDocument]
    duplicates: dict[Path, Path]  # a file -> the file with the same content that is kept
    note: str | None = None  # why deletions were withheld, if they were


def plan_changes(
    files: list[ScannedFile],
    problems: list[QuarantineRecord],
    known: dict[str, manifest.KnownDocument],
    signature: str,
    guard_ratio: float | None,
) -> ChangePlan:
    """Compare a scan with the manifest. With `guard_ratio`, a scan that saw fewer than that share of the known
    files deletes nothing (a half-mounted share must not empty the collection)."""
    duplicates = find_duplicates(files, known)

    def unchanged(f: ScannedFile) -> bool:
        doc = known.get(str(f.path))
        if doc is not None and doc.status == "duplicate" and f.path not in duplicates:
            return False  # the file it duplicated is gone or changed: read it now
        return is_unchanged(doc, f.sha256, signature)

    changed = [f for f in files if not unchanged(f)]
    present = {str(f.path) for f in files} | {p.path for p in problems}
    deleted = [doc for path, doc in known.items() if path not in present]
    note = None
    if deleted and guard_ratio is not None and len(files) < guard_ratio * len(known):
        note = (
            f"scan saw {len(files)} of {len(known)} known files: deletions of {len(deleted)} document(s) skipped "
            f"(partial-scan guard, RAGROUTE_DELETE_GUARD_MIN_SEEN_RATIO={guard_ratio})"
        )
        deleted = []
    return ChangePlan(changed, deleted, duplicates, note)


@dataclass
class Survey:
    """A scan of a source folder held against its collection's manifest."""

    files: list[ScannedFile]
    problems: list[QuarantineRecord]  # every entry the scan could not read
    new_problems: list[QuarantineRecord]  # those no earlier run recorded
    plan: ChangePlan
    refusal: str | None = None  # why a rebuild of this folder must not replace the collection

    @property
    def nothing_to_do(self) -> bool:
        return not (self.plan.changed or self.plan.deleted or self.plan.note or self.new_problems)


def survey(
    root: Path,
    collection: str,
    signature: str,
    settings: Settings,
    only: list[Path] | None = None,
    rebuild: bool = False,
) -> Survey:
    """Scan `root` (or only the `only` paths under it) and plan against the manifest. A rebuild plans every
    file as new; a targeted scan deletes exactly what it names, a folder scan is guarded."""
    files, problems = scan(root) if only is None else scan_paths(root, only)
    with session(settings.warehouse_target) as con:
        known = manifest.known_documents(con, str(root), collection)
        reported = manifest.reported_scan_problems(con, str(root), collection)
    new_problems = [p for p in problems if (p.path, p.reason) not in reported]
    refusal = None
    if rebuild:
        refusal = rebuild_refusal(root, files, known, settings.delete_guard_min_seen_ratio)
        known = {}
    elif only is not None:
        known = {path: doc for path, doc in known.items() if selected(Path(path), only)}
    guard = settings.delete_guard_min_seen_ratio if only is None else None
    plan = plan_changes(files, problems, known, signature, guard)
    return Survey(files, problems, new_problems, plan, refusal)


def rebuild_refusal(
    root: Path, files: list[ScannedFile], known: dict[str, manifest.KnownDocument], guard_ratio: float
) -> str | None:
    """Why a rebuild from this scan must not replace the collection: the folder is empty or the scan saw fewer
    than `guard_ratio` of the files the manifest holds from it (an unmounted or half-synced share). The same
    guard as an ingest's deletions: a rebuild plans every file as new, so it would drop the rest."""
    if not known or (files and len(files) >= guard_ratio * len(known)):
        return None
    return (
        f"rebuild refused: the scan of {root} saw {len(files)} of the {len(known)} files the collection holds "
        f"from it (partial-scan guard, RAGROUTE_DELETE_GUARD_MIN_SEEN_RATIO={guard_ratio}); switching would drop "
        "the others' chunks. Check that the folder is mounted, or force it (`ragroute ingest --full --force`)"
    )
