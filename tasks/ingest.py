"""Incremental ingestion of a folder: scan → extract → chunk → validate → embed → index, with a manifest.

Only new and changed files are processed; unchanged ones cost a hash. Each document's chunks are written to
Weaviate under deterministic ids before the manifest records the document, so an interrupted run converges
when rerun. Chunks of an older version of a document are deleted after the new ones are in. Before any of a
document's objects change, its manifest row is marked 'pending' (a new document gets one), so a rerun redoes
or removes it even when its file was reverted or deleted after the crash.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

from weaviate.classes.query import Filter
from weaviate.exceptions import (
    WeaviateConnectionError,
    WeaviateDeleteManyError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from schemas.collection import collection_name
from schemas.documents import Chunk, IngestSummary, QuarantineRecord
from schemas.settings import Settings
from tasks.chunk import chunk_document, config_signature
from tasks.embed import embed_texts
from tasks.extract import Outcome, doc_id_for, extract_outcome, file_sha256
from tasks.validate import validate_chunks
from tasks.vectorstore import ObjectToWrite, connect, delete_where, ensure_chunk_collection, write_objects
from warehouse import manifest
from warehouse.db import session

Progress = Callable[[str, int, int], None]  # (message, done, total)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class SourceUnavailable(RuntimeError):
    """The source folder cannot be read; nothing is changed."""


class WeaviateUnreachable(RuntimeError):
    """The connection to Weaviate failed mid-run; documents not recorded yet are redone by the next run."""


_LOST_CONNECTION = (WeaviateConnectionError, WeaviateRetryError, WeaviateStartUpError, WeaviateTimeoutError)


def weaviate_unreachable(error: Exception, settings: Settings) -> WeaviateUnreachable | None:
    """A one-line error for a failed connection to Weaviate (the client's own is a gRPC dump), else None."""
    unavailable = isinstance(error, WeaviateDeleteManyError) and "UNAVAILABLE" in str(error)
    if not (isinstance(error, _LOST_CONNECTION) or unavailable):
        return None
    details = re.search(r'details = "([^"]+)"', str(error))
    cause = details.group(1) if details else str(error).strip().splitlines()[0]
    return WeaviateUnreachable(
        f"cannot reach Weaviate at {settings.weaviate_http_url} ({type(error).__name__}: {cause}); "
        "documents not recorded as indexed are redone by the next run once Weaviate is up "
        "(`ragroute services status`)"
    )


class OutsideSourceRoots(ValueError):
    """A path lies outside the configured source roots (`RAGROUTE_SOURCE_ROOTS`); nothing is read."""


def ensure_within_source_roots(path: Path, settings: Settings) -> Path:
    """The resolved `path`, or `OutsideSourceRoots` when source roots are configured and it is under none."""
    resolved = path.resolve()
    roots = [root.resolve() for root in settings.source_roots]
    if roots and not any(resolved == root or resolved.is_relative_to(root) for root in roots):
        raise OutsideSourceRoots(
            f"{path} is outside the configured source roots ({', '.join(map(str, roots))}); "
            "add it to RAGROUTE_SOURCE_ROOTS to ingest it"
        )
    return resolved


@dataclass
class ScannedFile:
    path: Path
    sha256: str


def scan(root: Path, within: Path | None = None) -> tuple[list[ScannedFile], list[QuarantineRecord]]:
    """Every regular file under `root` with its content hash; unreadable entries become quarantine records.
    Symbolic links are followed only to files under `within` (default: `root`)."""
    if not root.is_dir():
        raise SourceUnavailable(f"source folder {root} does not exist or is not a folder")
    paths = []
    for directory, folders, names in os.walk(root, onerror=_raise_unavailable):
        folders.sort()  # a stable order: the first of two identical files is always the same one
        paths += [Path(directory) / name for name in sorted(names)]
    return scan_entries(paths, within or root)


def scan_entries(paths: list[Path], root: Path) -> tuple[list[ScannedFile], list[QuarantineRecord]]:
    """Hash each path; one that is not a readable regular file under `root` becomes a quarantine record.
    A symbolic link to a file under `root` stands for that file (listed once)."""
    files, problems, seen = [], [], set()
    for path in paths:
        reason = None
        try:
            reason = _entry_problem(path, root)
            if reason is None and (resolved := path.resolve()) not in seen:
                files.append(ScannedFile(path=resolved, sha256=file_sha256(path)))
                seen.add(resolved)
        except PermissionError:
            reason = "file is not readable (permission denied)"
        except FileNotFoundError:
            reason = "file disappeared while the folder was scanned"
        except OSError as error:
            reason = f"cannot read file: {error}"
        if reason:
            problems.append(QuarantineRecord(path=str(path), stage="scan", reason=reason))
    return files, problems


def scan_paths(root: Path, paths: list[Path]) -> tuple[list[ScannedFile], list[QuarantineRecord]]:
    """Like `scan`, for chosen files or folders under `root`; a path that no longer exists is skipped."""
    if not root.is_dir():
        raise SourceUnavailable(f"source folder {root} does not exist or is not a folder")
    files, problems = [], []
    for path in paths:
        if path.is_dir():
            found, trouble = scan(path, within=root)
        elif path.exists() or path.is_symlink():
            found, trouble = scan_entries([path], root)
        else:
            continue
        files += found
        problems += trouble
    return files, problems


def _entry_problem(path: Path, root: Path) -> str | None:
    """Why `path` is not read: a link that leads nowhere, in a loop or out of `root` (its target is never
    opened), or something other than a regular file. None for a file to read."""
    if path.is_symlink():
        try:
            target = path.resolve(strict=True)
        except FileNotFoundError:
            return f"broken symbolic link: its target {os.readlink(path)} does not exist"
        except (RuntimeError, OSError):  # Python raises RuntimeError for a loop before 3.13, OSError after
            return "symbolic link loop"
        if not target.is_relative_to(root):
            return f"symbolic link to a file outside the source folder: {target} (not read)"
    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return None
    kind = "named pipe" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device or other"
    return f"not a regular file ({kind})"


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


def _selected(path: Path, chosen: list[Path]) -> bool:
    return any(path == c or path.is_relative_to(c) for c in chosen)


def _raise_unavailable(error: OSError) -> None:
    raise SourceUnavailable(f"cannot read source folder: {error}") from error


def is_unchanged(known: manifest.KnownDocument | None, sha256: str, signature: str) -> bool:
    """The manifest already holds this file version under this configuration (indexed, quarantined or a
    duplicate)."""
    return (
        known is not None
        and known.content_sha256 == sha256
        and known.config_signature == signature
        and known.status in ("indexed", "quarantined", "duplicate")
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


def document_hash(content_sha256: str, signature: str) -> str:
    """Identifies one version of a document under one configuration (stored on every chunk)."""
    return hashlib.sha256(f"{content_sha256}|{signature}".encode()).hexdigest()[:32]


@lru_cache(maxsize=1)
def _extraction_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for extraction, started once per process and reused by later runs."""
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    atexit.register(pool.shutdown, wait=False, cancel_futures=True)
    return pool


def _extract_all(changed: list[ScannedFile], settings: Settings) -> Iterator[Outcome]:
    """Extract changed files, across worker processes when there is more than one."""
    if len(changed) <= 1 or settings.ingest_workers <= 1:
        for item in changed:
            yield extract_outcome(item.path, item.sha256, settings)
        return
    pool = _extraction_pool(settings.ingest_workers)
    futures = [pool.submit(extract_outcome, item.path, item.sha256, settings) for item in changed]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        for future in futures:
            future.cancel()


class Ingestion:
    """One ingest run of one source folder into one collection."""

    def __init__(
        self,
        root: Path,
        settings: Settings,
        collection: str | None = None,
        progress: Progress | None = None,
        paths: list[Path] | None = None,
        rebuild_into: str | None = None,
    ):
        """`paths`: only these files (or folders) under `root` are looked at (an event-driven reindex).
        `rebuild_into`: write every file into this fresh collection and keep the manifest records in
        `self.rebuilt` instead of the warehouse, for a full rebuild that swaps them in at the end."""
        self.root = ensure_within_source_roots(root, settings)
        self.settings = settings
        self.collection_name = collection_name(collection or settings.collection, settings.embedding_model)
        self.signature = config_signature(settings)
        self.progress = progress or (lambda message, done, total: None)
        self.summary = IngestSummary(run_id=str(uuid.uuid4()), status="running")
        self.only = None if paths is None else [self._under_root(path) for path in paths]
        self.rebuild_into = rebuild_into
        self.rebuilt: list[tuple[manifest.DocumentVersion, list[Chunk]]] = []
        self.duplicates: dict[Path, Path] = {}  # a file -> the file with the same content that is kept

    def _under_root(self, path: Path) -> Path:
        resolved = (self.root / path).resolve() if not path.is_absolute() else path.resolve()
        if not resolved.is_relative_to(self.root):
            raise OutsideSourceRoots(f"{path} is not under the source folder {self.root}")
        return resolved

    def run(self) -> IngestSummary:
        started = time.perf_counter()
        with self._db() as con:
            manifest.start_run(con, self.summary.run_id, str(self.root), self.collection_name, self.signature)
        try:
            self._run()
            self.summary.status = "completed_with_failures" if self.summary.documents_failed else "completed"
        except Exception as error:
            unreachable = weaviate_unreachable(error, self.settings)
            failure = unreachable or error
            self.summary.status = "failed"
            self.summary.notes.append(f"run failed: {type(failure).__name__}: {failure}")
            if unreachable:
                raise unreachable from error
            raise
        finally:
            self.summary.seconds = round(time.perf_counter() - started, 3)
            with self._db() as con:
                manifest.finish_run(con, self.summary)
        return self.summary

    def _db(self):
        """A short warehouse session: other processes write between ours."""
        return session(self.settings.warehouse_path)

    def _run(self) -> None:
        files, scan_problems = scan(self.root) if self.only is None else scan_paths(self.root, self.only)
        self.summary.documents_seen = len(files) + len(scan_problems)
        with self._db() as con:
            known = manifest.known_documents(con, str(self.root), self.collection_name)
            reported = manifest.reported_scan_problems(con, str(self.root), self.collection_name)
        new_problems = [p for p in scan_problems if (p.path, p.reason) not in reported]
        self._quarantine(new_problems)
        self.summary.documents_failed += len(new_problems)
        if self.rebuild_into:
            known = {}  # a rebuild writes every file into an empty collection
        elif self.only is not None:
            known = {path: doc for path, doc in known.items() if _selected(Path(path), self.only)}
        # A targeted run deletes exactly the files it was told about; a folder scan is guarded.
        guard = self.settings.delete_guard_min_seen_ratio if self.only is None else None
        plan = plan_changes(files, scan_problems, known, self.signature, guard)
        self.duplicates, changed, deleted = plan.duplicates, plan.changed, plan.deleted
        if plan.note:
            self.summary.notes.append(plan.note)
        self.summary.documents_changed = len(changed)
        self.progress("scanned", 0, len(changed))
        if not changed and not deleted:
            return
        with connect(self.settings) as client:
            self.weaviate = (
                client.collections.use(self.rebuild_into)
                if self.rebuild_into
                else ensure_chunk_collection(client, self.collection_name)
            )
            batch: list[Outcome] = []
            for done, outcome in enumerate(self._extract_new(changed), start=1):
                batch.append(outcome)
                self.progress(outcome.path.name, done, len(changed))
                if len(batch) >= self.settings.ingest_batch_documents:
                    self._index_batch(batch)
                    batch = []
            self._index_batch(batch)
            self._remove_deleted(deleted)

    def _extract_new(self, changed: list[ScannedFile]) -> Iterator[Outcome]:
        """Duplicates become quarantine outcomes without being read again; the other files are extracted."""
        for item in changed:
            if item.path in self.duplicates:
                reason = f"duplicate of another file: {self.duplicates[item.path]}"
                problem = QuarantineRecord(path=str(item.path), stage="scan", reason=reason)
                yield Outcome(item.path, item.sha256, problem=problem)
        yield from _extract_all([f for f in changed if f.path not in self.duplicates], self.settings)

    def _index_batch(self, outcomes: list[Outcome]) -> None:
        """Chunk, validate and embed a batch of extracted files, write them in one Weaviate batch, record each."""
        chunks_by_path: dict[Path, list[Chunk]] = {}
        for outcome in outcomes:
            if outcome.document:
                self.summary.pages += outcome.document.pages
                self.summary.pages_ocr += outcome.document.pages_ocr
                doc_hash = document_hash(outcome.sha256, self.signature)
                chunks_by_path[outcome.path] = chunk_document(outcome.document, self.settings, doc_hash)
        report = validate_chunks([c for chunks in chunks_by_path.values() for c in chunks], self.settings)
        with self._db() as con:
            manifest.add_validation_results(con, self.summary.run_id, report.outcomes)
        self._quarantine(report.quarantined)
        failed_checks = {r.path: r.reason.split(": ", 1)[-1] for r in report.quarantined}  # path -> checks
        vectors = embed_texts([c.text for c in report.passed], self.settings)
        self._mark_pending([self._version(outcome, "pending") for outcome in outcomes])
        failed = write_objects(self.weaviate, map(self._to_object, report.passed, vectors))
        failed_by_id = {f.uuid: f for f in failed}
        passed_ids = {c.chunk_id for c in report.passed}
        for outcome in outcomes:
            if outcome.document is None:
                status = "duplicate" if outcome.path in self.duplicates else "quarantined"
                self._fail(outcome, [outcome.problem], status)
                continue
            chunks = [c for c in chunks_by_path[outcome.path] if c.chunk_id in passed_ids]
            rejected = [failed_by_id[c.chunk_id] for c in chunks if c.chunk_id in failed_by_id]
            if not chunks:
                self._fail(
                    outcome,
                    [
                        QuarantineRecord(
                            path=str(outcome.path),
                            stage="validate",
                            reason="no chunk passed validation: "
                            + failed_checks.get(str(outcome.path), "no chunks"),
                        )
                    ],
                )
            elif rejected:
                records = [
                    QuarantineRecord(
                        path=str(outcome.path),
                        chunk_id=f.uuid,
                        stage="index",
                        reason="Weaviate rejected the chunk",
                        detail=f.message,
                    )
                    for f in rejected
                ]
                self._fail(outcome, records, status="error")
            else:
                self.summary.chunks_written += len(chunks)
                self._store(outcome, status="indexed", chunks=chunks)

    def _fail(self, outcome: Outcome, records: list[QuarantineRecord], status: str = "quarantined") -> None:
        """Record a file that was not indexed. A bad file's older chunks go; after a failed write ('error'),
        the older version stays searchable and the file is retried on the next run."""
        self._quarantine(records)
        self.summary.documents_failed += 1
        self._store(outcome, status=status, chunks=[], replace_index=status != "error")

    def _to_object(self, chunk: Chunk, vector: list[float]) -> ObjectToWrite:
        return ObjectToWrite(
            uuid=chunk.chunk_id,
            vector=vector,
            properties={
                "text": chunk.text, "doc_id": chunk.doc_id, "source_path": chunk.source_path,
                "page": chunk.page, "page_spans": chunk.page_spans, "chunk_index": chunk.chunk_index,
                "content_hash": chunk.content_hash, "doc_hash": chunk.doc_hash, "ocr": chunk.ocr,
            },
        )  # fmt: skip

    def _store(self, outcome: Outcome, status: str, chunks: list[Chunk], replace_index: bool = True) -> None:
        """Drop the document's chunks of other versions from Weaviate, then record this version."""
        doc_id = doc_id_for(outcome.path)
        if replace_index and not self.rebuild_into:
            doc_hash = document_hash(outcome.sha256, self.signature)
            stale = Filter.by_property("doc_id").equal(doc_id)
            if chunks:
                stale = stale & Filter.by_property("doc_hash").not_equal(doc_hash)
            self.summary.chunks_deleted += delete_where(self.weaviate, stale)
        version = self._version(outcome, status)
        if self.rebuild_into:
            self.rebuilt.append((version, chunks))
            return
        with self._db() as con:
            manifest.record_document(con, self.summary.run_id, version, chunks)

    def _version(self, outcome: Outcome, status: str) -> manifest.DocumentVersion:
        document = outcome.document
        return manifest.DocumentVersion(
            path=str(outcome.path), doc_id=doc_id_for(outcome.path), source_root=str(self.root),
            collection=self.collection_name, content_sha256=outcome.sha256, config_signature=self.signature,
            status=status, kind=document.kind if document else None,
            pages=document.pages if document else None, pages_ocr=document.pages_ocr if document else None,
        )  # fmt: skip

    def _mark_pending(self, versions: list[manifest.DocumentVersion]) -> None:
        """Flag documents before their Weaviate objects change, so a crash before they are recorded is redone
        by the next run (see `manifest.mark_pending`). A rebuild writes into a collection nobody reads yet."""
        if not self.rebuild_into:
            with self._db() as con:
                manifest.mark_pending(con, self.summary.run_id, versions)

    def _remove_deleted(self, deleted: list[manifest.KnownDocument]) -> None:
        if not deleted:
            return
        self._mark_pending([
            manifest.DocumentVersion(d.path, d.doc_id, str(self.root), self.collection_name,
                                     d.content_sha256, d.config_signature, "pending", None, None, None)
            for d in deleted
        ])  # fmt: skip
        for document in deleted:
            self.summary.chunks_deleted += delete_where(
                self.weaviate, Filter.by_property("doc_id").equal(document.doc_id)
            )
            with self._db() as con:
                manifest.forget_document(con, document.path, self.collection_name)
            self.summary.documents_deleted += 1

    def _quarantine(self, records: list[QuarantineRecord]) -> None:
        if not records:
            return
        with self._db() as con:
            manifest.add_quarantine(con, self.summary.run_id, records)
        self.summary.quarantined += len(records)


def ingest(
    root: Path,
    settings: Settings,
    collection: str | None = None,
    progress: Progress | None = None,
    paths: list[Path] | None = None,
) -> IngestSummary:
    """Bring the collection up to date with the files under `root` (or only with `paths` under it)."""
    return Ingestion(root, settings, collection, progress, paths=paths).run()
