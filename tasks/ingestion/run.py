"""One ingest run: scan → plan → extract → chunk → validate → embed → index, recorded in the manifest.

Only new and changed files are processed; unchanged ones cost a hash. Each document's chunks are written to
Weaviate under deterministic ids before the manifest records the document, so an interrupted run converges
when rerun. Chunks of an older version of a document are deleted after the new ones are in. Before any of a
document's objects change, its manifest row is marked 'pending' (a new document gets one), so a rerun redoes
or removes it even when its file was reverted or deleted after the crash.

A file the machine failed to process (a missing OCR program, a killed worker, an unexpected error, a failed
write) ends in `error`: its older version stays searchable, in Weaviate and the manifest, and the next run
retries it. Only a bad file is quarantined and loses its older chunks.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from itertools import chain
from pathlib import Path

import duckdb
from weaviate.classes.query import Filter

from schemas.collection import collection_name
from schemas.documents import Chunk, IngestSummary, QuarantineRecord
from schemas.settings import Settings
from tasks.clients.vectorstore import (
    connect,
    delete_where,
    ensure_chunk_collection,
    use_collection,
    write_objects,
)
from tasks.ingestion.chunk import config_signature
from tasks.ingestion.hashing import doc_id_for, document_hash
from tasks.ingestion.index import chunk_object, weaviate_unreachable
from tasks.ingestion.outcome import Outcome
from tasks.ingestion.plan import RebuildRefused, survey
from tasks.ingestion.prepare import merge, prepare
from tasks.ingestion.sources import (
    OutsideSourceRoots,
    ScannedFile,
    ensure_within_source_roots,
)
from tasks.ingestion.workers import extract_all, missing_ocr_tools_warnings
from warehouse import manifest
from warehouse.db import session_for

Progress = Callable[[str, int, int], None]  # (message, done, total)
log = logging.getLogger(__name__)
# Paths named per reason in the run's notes about documents left in `error`.
ERROR_PATHS_NOTED = 5


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
        force: bool = False,
    ):
        """`paths`: only these files (or folders) under `root` are looked at (an event-driven reindex).
        `rebuild_into`: write every file into this fresh collection and keep the manifest records in
        `self.rebuilt` instead of the warehouse, for a full rebuild that swaps them in at the end; it is refused
        (`RebuildRefused`) when the folder is empty or mostly missing, unless `force`."""
        self.root = ensure_within_source_roots(root, settings)
        self.settings = settings
        self.collection_name = collection_name(collection or settings.collection, settings.embedding_model)
        self.signature = config_signature(settings)
        self.progress = progress or (lambda message, done, total: None)
        self.summary = IngestSummary(run_id=str(uuid.uuid4()), status="running")
        self.only = None if paths is None else [self._under_root(path) for path in paths]
        self.rebuild_into = rebuild_into
        self.force = force
        self.errors: dict[str, list[str]] = {}  # reason -> paths of the documents left in `error`
        self.rebuilt: list[tuple[manifest.DocumentVersion, list[Chunk]]] = []
        self.duplicates: dict[Path, Path] = {}  # a file -> the file with the same content that is kept
        self.cpu_seconds: dict[str, float] = {}  # stage -> CPU seconds, wherever the stage ran
        self._con: duckdb.DuckDBPyConnection | None = None  # the open warehouse session of a batch step
        self._stored: list[tuple[manifest.DocumentVersion, list[Chunk], Filter]] = []  # see `_store`

    def _under_root(self, path: Path) -> Path:
        resolved = (self.root / path).resolve() if not path.is_absolute() else path.resolve()
        if not resolved.is_relative_to(self.root):
            raise OutsideSourceRoots(f"{path} is not under the source folder {self.root}")
        return resolved

    def run(self) -> IngestSummary:
        started = time.perf_counter()
        with session_for(self.settings) as con:
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
            self._note_errors()
            self.summary.seconds = round(time.perf_counter() - started, 3)
            with session_for(self.settings) as con:
                manifest.finish_run(con, self.summary)
        return self.summary

    def _run(self) -> None:
        found = survey(
            self.root, self.collection_name, self.signature, self.settings, self.only, bool(self.rebuild_into)
        )
        self.summary.documents_seen = len(found.files) + len(found.problems)
        if found.refusal:
            if not self.force:
                raise RebuildRefused(found.refusal)
            self._note(f"forced: {found.refusal.removeprefix('rebuild refused: ')}")
        self._quarantine(found.new_problems)
        self.summary.documents_failed += len(found.new_problems)
        plan = found.plan
        self.duplicates, changed, deleted = plan.duplicates, plan.changed, plan.deleted
        if plan.note:
            self.summary.notes.append(plan.note)
        self.summary.documents_changed = len(changed)
        self.progress("scanned", 0, len(changed))
        if not changed and not deleted:
            return
        for warning in missing_ocr_tools_warnings(self.settings) if changed else []:
            self._note(warning)
        # The local pool starts on the files now, while Weaviate connects (duplicates are not read again).
        extracted = extract_all(
            [f for f in changed if f.path not in self.duplicates], self.settings, self.signature
        )
        with closing(extracted), connect(self.settings) as client:  # closing: a failed run cancels the rest
            self.weaviate = (
                use_collection(client, self.rebuild_into, self.settings)
                if self.rebuild_into
                else ensure_chunk_collection(client, self.collection_name, self.settings)
            )
            batch: list[Outcome] = []
            for done, outcome in enumerate(chain(self._duplicates(changed), extracted), start=1):
                batch.append(outcome)
                self.progress(outcome.path.name, done, len(changed))
                if len(batch) >= self.settings.ingest_batch_documents:
                    self._index_batch(batch)
                    batch = []
            self._index_batch(batch)
            self._remove_deleted(deleted)

    def _duplicates(self, changed: list[ScannedFile]) -> list[Outcome]:
        """Duplicates become quarantine outcomes without being read again."""
        outcomes = []
        for item in changed:
            if item.path in self.duplicates:
                reason = f"duplicate of another file: {self.duplicates[item.path]}"
                problem = QuarantineRecord(path=str(item.path), stage="scan", reason=reason)
                outcomes.append(Outcome(item.path, item.sha256, problem=problem))
        return outcomes

    def _index_batch(self, outcomes: list[Outcome]) -> None:
        """Chunk, validate and embed a batch of extracted files, write them in one Weaviate batch, record each.
        The manifest writes before the Weaviate write share one warehouse session, the records after it one."""
        if not outcomes:
            return
        local = [outcome for outcome in outcomes if outcome.document and outcome.prepared is None]
        prepared = merge(
            [outcome.prepared for outcome in outcomes if outcome.prepared]
            + [prepare(local, self.settings, self.signature)]
        )
        for outcome in outcomes:
            if outcome.document:
                self.summary.pages += outcome.document.pages
                self.summary.pages_ocr += outcome.document.pages_ocr
            self.cpu_seconds["extract"] = self.cpu_seconds.get("extract", 0.0) + outcome.cpu_seconds
        for stage, seconds in prepared.cpu_seconds.items():
            self.cpu_seconds[stage] = self.cpu_seconds.get(stage, 0.0) + seconds
        chunks_by_path, report, vectors = prepared.chunks_by_path, prepared.report, prepared.vectors
        with self._warehouse() as con:
            manifest.add_validation_results(con, self.summary.run_id, report.outcomes)
            self._quarantine(report.quarantined)
            self._mark_pending([self._version(outcome, "pending") for outcome in outcomes])
        failed_checks = {r.path: r.reason.split(": ", 1)[-1] for r in report.quarantined}  # path -> checks
        failed = write_objects(self.weaviate, map(chunk_object, report.passed, vectors))
        failed_by_id = {f.uuid: f for f in failed}
        passed_ids = {c.chunk_id for c in report.passed}
        for outcome in outcomes:
            if outcome.document is None:
                status = "duplicate" if outcome.path in self.duplicates else "quarantined"
                self._fail(outcome, [outcome.problem], "error" if outcome.failed else status)
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
                reason = f"Weaviate rejected {len(rejected)} of its {len(chunks)} chunk(s)"
                self._fail(outcome, [QuarantineRecord(path=str(outcome.path), stage="index", reason=reason,
                                                      detail=rejected[0].message)], status="error")  # fmt: skip
            else:
                self.summary.chunks_written += len(chunks)
                self._store(outcome, status="indexed", chunks=chunks)
        self._record_stored()

    def _fail(self, outcome: Outcome, records: list[QuarantineRecord], status: str = "quarantined") -> None:
        """Record a file that was not indexed. A bad file is quarantined and its older chunks go; after a
        failure of the machine or a failed write ('error'), see `_error`."""
        self.summary.documents_failed += 1
        if status == "error":
            self._error(outcome, records[0])
            return
        self._quarantine(records)
        self._store(outcome, status=status, chunks=[])

    def _error(self, outcome: Outcome, record: QuarantineRecord) -> None:
        """Leave the document in `error`: nothing is quarantined and its older version (chunks in Weaviate and
        the manifest) stays as it was, searchable; the next run retries the file. The reason goes to the
        run's notes."""
        self.summary.documents_error += 1
        self.errors.setdefault(record.reason, []).append(str(outcome.path))
        detail = f" ({record.detail[:300]})" if record.detail else ""
        log.warning("%s: %s%s; left in error, retried by the next run", outcome.path, record.reason, detail)
        version = self._version(outcome, "error")
        if self.rebuild_into:
            self.rebuilt.append((version, []))
            return
        with self._warehouse() as con:
            manifest.mark_pending(con, self.summary.run_id, [version], status="error")

    def _store(self, outcome: Outcome, status: str, chunks: list[Chunk]) -> None:
        """Record this version of the document, once its chunks of other versions are dropped from Weaviate:
        queued for `_record_stored`, which does both for the whole batch."""
        version = self._version(outcome, status)
        if self.rebuild_into:
            self.rebuilt.append((version, chunks))
            return
        stale = Filter.by_property("doc_id").equal(version.doc_id)
        if chunks:
            stale = stale & Filter.by_property("doc_hash").not_equal(
                document_hash(outcome.sha256, self.signature)
            )
        self._stored.append((version, chunks, stale))

    def _record_stored(self) -> None:
        """Drop the queued documents' chunks of other versions in one Weaviate call, then record each version
        (in one warehouse session)."""
        stored, self._stored = self._stored, []
        if not stored:
            return
        self.summary.chunks_deleted += delete_where(self.weaviate, Filter.any_of([s for _, _, s in stored]))
        with self._warehouse() as con:
            for version, chunks, _ in stored:
                manifest.record_document(con, self.summary.run_id, version, chunks)

    @contextmanager
    def _warehouse(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The warehouse session already open for this step of a batch, else a short one of its own (other
        processes write between a run's sessions)."""
        if self._con is not None:
            yield self._con
            return
        with session_for(self.settings) as con:
            self._con = con
            try:
                yield con
            finally:
                self._con = None

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
            with self._warehouse() as con:
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
            with session_for(self.settings) as con:
                manifest.forget_document(con, document.path, self.collection_name)
            self.summary.documents_deleted += 1

    def _note(self, note: str) -> None:
        log.warning(note)
        self.summary.notes.append(note)

    def _note_errors(self) -> None:
        """One note per reason documents were left in `error`, naming the first few."""
        for reason, paths in self.errors.items():
            named = ", ".join(paths[:ERROR_PATHS_NOTED]) + (" …" if len(paths) > ERROR_PATHS_NOTED else "")
            self.summary.notes.append(
                f"{len(paths)} document(s) left in error, their older version kept and retried by the next run: "
                f"{reason}: {named}"
            )

    def _quarantine(self, records: list[QuarantineRecord]) -> None:
        if not records:
            return
        with self._warehouse() as con:
            manifest.add_quarantine(con, self.summary.run_id, records)
        self.summary.quarantined += len(records)


def ingest(
    root: Path,
    settings: Settings,
    collection: str | None = None,
    progress: Progress | None = None,
    paths: list[Path] | None = None,
) -> IngestSummary:
    """Bring the collection up to date with the files under `root` (or only with `paths` under it).
    `summary.documents_error` counts the documents left in `error` (retried by the next run)."""
    return Ingestion(root, settings, collection, progress, paths=paths).run()
