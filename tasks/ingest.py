"""Incremental ingestion of a folder: scan → extract → chunk → validate → embed → index, with a manifest.

Only new and changed files are processed; unchanged ones cost a hash. Each document's chunks are written to
Weaviate under deterministic ids before the manifest records the document, so an interrupted run converges
when rerun. Chunks of an older version of a document are deleted after the new ones are in.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path

from weaviate.classes.query import Filter

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


class SourceUnavailable(RuntimeError):
    """The source folder cannot be read; nothing is changed."""


@dataclass
class ScannedFile:
    path: Path
    sha256: str


def scan(root: Path) -> tuple[list[ScannedFile], list[QuarantineRecord]]:
    """Every regular file under `root` with its content hash; unreadable entries become quarantine records."""
    if not root.is_dir():
        raise SourceUnavailable(f"source folder {root} does not exist or is not a folder")
    files, problems = [], []
    for directory, _, names in os.walk(root, onerror=_raise_unavailable):
        for name in sorted(names):
            path = Path(directory) / name
            try:
                if not path.is_file():
                    problems.append(
                        QuarantineRecord(
                            path=str(path),
                            stage="scan",
                            reason="not a regular file (broken link, link loop or device)",
                        )
                    )
                    continue
                files.append(ScannedFile(path=path.resolve(), sha256=file_sha256(path)))
            except PermissionError:
                problems.append(
                    QuarantineRecord(
                        path=str(path), stage="scan", reason="file is not readable (permission denied)"
                    )
                )
            except FileNotFoundError:
                problems.append(
                    QuarantineRecord(
                        path=str(path), stage="scan", reason="file disappeared while the folder was scanned"
                    )
                )
            except OSError as error:
                problems.append(
                    QuarantineRecord(path=str(path), stage="scan", reason=f"cannot read file: {error}")
                )
    return files, problems


def _raise_unavailable(error: OSError) -> None:
    raise SourceUnavailable(f"cannot read source folder: {error}") from error


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
        self, root: Path, settings: Settings, collection: str | None = None, progress: Progress | None = None
    ):
        self.root = root.resolve()
        self.settings = settings
        self.collection_name = collection_name(collection or settings.collection, settings.embedding_model)
        self.signature = config_signature(settings)
        self.progress = progress or (lambda message, done, total: None)
        self.summary = IngestSummary(run_id=str(uuid.uuid4()), status="running")

    def run(self) -> IngestSummary:
        started = time.perf_counter()
        with self._db() as con:
            manifest.start_run(con, self.summary.run_id, str(self.root), self.collection_name, self.signature)
        try:
            self._run()
            self.summary.status = "completed_with_failures" if self.summary.documents_failed else "completed"
        except Exception as error:
            self.summary.status = "failed"
            self.summary.notes.append(f"run failed: {type(error).__name__}: {error}")
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
        files, scan_problems = scan(self.root)
        self._quarantine(scan_problems)
        self.summary.documents_seen = len(files) + len(scan_problems)
        self.summary.documents_failed += len(scan_problems)
        with self._db() as con:
            known = manifest.known_documents(con, str(self.root), self.collection_name)
        changed = [f for f in files if not self._unchanged(known.get(str(f.path)), f.sha256)]
        present = {str(f.path) for f in files} | {p.path for p in scan_problems}
        deleted = [doc for path, doc in known.items() if path not in present]
        self.summary.documents_changed = len(changed)
        self.progress("scanned", 0, len(changed))
        if not changed and not deleted:
            return
        with connect(self.settings) as client:
            self.weaviate = ensure_chunk_collection(client, self.collection_name)
            batch: list[Outcome] = []
            for done, outcome in enumerate(_extract_all(changed, self.settings), start=1):
                batch.append(outcome)
                self.progress(outcome.path.name, done, len(changed))
                if len(batch) >= self.settings.ingest_batch_documents:
                    self._index_batch(batch)
                    batch = []
            self._index_batch(batch)
            self._remove_deleted(deleted, seen=len(files), known=len(known))

    def _unchanged(self, known: manifest.KnownDocument | None, sha256: str) -> bool:
        return (
            known is not None
            and known.content_sha256 == sha256
            and known.config_signature == self.signature
            and known.status in ("indexed", "quarantined")
        )

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
        vectors = embed_texts([c.text for c in report.passed], self.settings)
        failed = write_objects(self.weaviate, map(self._to_object, report.passed, vectors))
        failed_by_id = {f.uuid: f for f in failed}
        passed_ids = {c.chunk_id for c in report.passed}
        for outcome in outcomes:
            if outcome.document is None:
                self._fail(outcome, [outcome.problem])
                continue
            chunks = [c for c in chunks_by_path[outcome.path] if c.chunk_id in passed_ids]
            rejected = [failed_by_id[c.chunk_id] for c in chunks if c.chunk_id in failed_by_id]
            if not chunks:
                self._fail(
                    outcome,
                    [
                        QuarantineRecord(
                            path=str(outcome.path), stage="validate", reason="no chunk passed validation"
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
        self._store(outcome, status=status, chunks=[], replace_index=status == "quarantined")

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
        if replace_index:
            doc_hash = document_hash(outcome.sha256, self.signature)
            stale = Filter.by_property("doc_id").equal(doc_id)
            if chunks:
                stale = stale & Filter.by_property("doc_hash").not_equal(doc_hash)
            self.summary.chunks_deleted += delete_where(self.weaviate, stale)
        document = outcome.document
        version = manifest.DocumentVersion(
            path=str(outcome.path), doc_id=doc_id, source_root=str(self.root), collection=self.collection_name,
            content_sha256=outcome.sha256, config_signature=self.signature, status=status,
            kind=document.kind if document else None, pages=document.pages if document else None,
            pages_ocr=document.pages_ocr if document else None,
        )  # fmt: skip
        with self._db() as con:
            manifest.record_document(con, self.summary.run_id, version, chunks)

    def _remove_deleted(self, deleted: list[manifest.KnownDocument], seen: int, known: int) -> None:
        if not deleted:
            return
        if seen < self.settings.delete_guard_min_seen_ratio * known:
            self.summary.notes.append(
                f"scan saw {seen} of {known} known files: deletions of {len(deleted)} document(s) skipped "
                f"(partial-scan guard, RAGROUTE_DELETE_GUARD_MIN_SEEN_RATIO={self.settings.delete_guard_min_seen_ratio})"
            )
            return
        for document in deleted:
            self.summary.chunks_deleted += delete_where(
                self.weaviate, Filter.by_property("doc_id").equal(document.doc_id)
            )
            with self._db() as con:
                manifest.forget_document(con, document.path)
            self.summary.documents_deleted += 1

    def _quarantine(self, records: list[QuarantineRecord]) -> None:
        if not records:
            return
        with self._db() as con:
            manifest.add_quarantine(con, self.summary.run_id, records)
        self.summary.quarantined += len(records)


def ingest(
    root: Path, settings: Settings, collection: str | None = None, progress: Progress | None = None
) -> IngestSummary:
    """Bring the collection up to date with the files under `root`."""
    return Ingestion(root, settings, collection, progress).run()
