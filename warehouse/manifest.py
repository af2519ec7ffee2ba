"""The ingestion manifest in DuckDB: documents, their chunks, runs, quarantine and validation results."""

from __future__ import annotations

import json
from dataclasses import dataclass

import duckdb

from schemas.documents import Chunk, IngestSummary, QuarantineRecord
from warehouse.db import keyed_write, transaction, upsert, utc_now
from warehouse.runs import close_abandoned_runs, owner


@dataclass(frozen=True)
class KnownDocument:
    path: str
    doc_id: str
    content_sha256: str
    config_signature: str
    status: str


def known_documents(
    con: duckdb.DuckDBPyConnection, source_root: str, collection: str
) -> dict[str, KnownDocument]:
    rows = con.execute(
        "SELECT path, doc_id, content_sha256, config_signature, status FROM documents "
        "WHERE source_root = ? AND collection = ?",
        [source_root, collection],
    ).fetchall()
    return {row[0]: KnownDocument(*row) for row in rows}


def source_roots(con: duckdb.DuckDBPyConnection, collection: str) -> list[str]:
    """The source folders the collection holds documents from."""
    rows = con.execute(
        "SELECT DISTINCT source_root FROM documents WHERE collection = ? ORDER BY 1", [collection]
    ).fetchall()
    return [row[0] for row in rows]


RUN_COLUMNS = ("run_id", "source_root", "collection", "config_signature", "started_at", "status", "host",
               "pid")  # fmt: skip


def start_run(
    con: duckdb.DuckDBPyConnection, run_id: str, source_root: str, collection: str, signature: str
) -> None:
    """Record a new run; first marks this host's runs whose process died as 'interrupted'."""
    close_abandoned_runs(con, "ingest_runs")
    row = [run_id, source_root, collection, signature, utc_now(), "running", *owner()]
    upsert(con, "ingest_runs", ["run_id"], RUN_COLUMNS, [row])


def finish_run(con: duckdb.DuckDBPyConnection, summary: IngestSummary) -> None:
    keyed_write(con, lambda: _finish_run(con, summary))


def _finish_run(con: duckdb.DuckDBPyConnection, summary: IngestSummary) -> None:
    con.execute(
        """UPDATE ingest_runs SET finished_at = ?, status = ?, documents_seen = ?, documents_changed = ?,
           documents_deleted = ?, documents_failed = ?, pages = ?, pages_ocr = ?, chunks_written = ?,
           chunks_deleted = ?, quarantined = ?, seconds = ?, notes = ? WHERE run_id = ?""",
        [
            utc_now(), summary.status, summary.documents_seen, summary.documents_changed, summary.documents_deleted,
            summary.documents_failed, summary.pages, summary.pages_ocr, summary.chunks_written,
            summary.chunks_deleted, summary.quarantined, summary.seconds, json.dumps(summary.notes),
            summary.run_id,
        ],
    )  # fmt: skip


def reported_scan_problems(
    con: duckdb.DuckDBPyConnection, source_root: str, collection: str
) -> set[tuple[str, str]]:
    """(path, reason) of every scan problem an earlier ingest run of this folder and collection quarantined:
    an entry that is still a link loop or still unreadable is not quarantined again."""
    rows = con.execute(
        "SELECT DISTINCT q.path, q.reason FROM quarantine q JOIN ingest_runs r USING (run_id) "
        "WHERE q.stage = 'scan' AND r.source_root = ? AND r.collection = ?",
        [source_root, collection],
    ).fetchall()
    return set(rows)


def add_quarantine(con: duckdb.DuckDBPyConnection, run_id: str, records: list[QuarantineRecord]) -> None:
    if records:
        rows = [[run_id, r.path, r.chunk_id, r.stage, r.reason, r.detail, utc_now()] for r in records]
        transaction(con, lambda: con.executemany(
            "INSERT INTO quarantine (run_id, path, chunk_id, stage, reason, detail, quarantined_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        ))  # fmt: skip


def add_new_quarantine(con: duckdb.DuckDBPyConnection, run_id: str, records: list[QuarantineRecord]) -> None:
    """Quarantine the records not yet recorded under `run_id` with the same path, stage and reason (a data
    set's malformed lines are reported once, however often it is loaded)."""

    def body() -> None:
        recorded = set(
            con.execute("SELECT path, stage, reason FROM quarantine WHERE run_id = ?", [run_id]).fetchall()
        )
        add_quarantine(con, run_id, [r for r in records if (r.path, r.stage, r.reason) not in recorded])

    keyed_write(con, body)  # (run id, path, stage, reason) is the key: two hosts loading one file add it once


def add_validation_results(con: duckdb.DuckDBPyConnection, run_id: str, outcomes) -> None:
    if outcomes:
        rows = [
            [run_id, o.expectation, o.column, o.success, o.element_count, o.unexpected_count, utc_now()]
            for o in outcomes
        ]
        transaction(
            con, lambda: con.executemany("INSERT INTO validation_results VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        )


@dataclass(frozen=True)
class DocumentVersion:
    """What the manifest records about one processed version of a file."""

    path: str
    doc_id: str
    source_root: str
    collection: str
    content_sha256: str
    config_signature: str
    status: str
    kind: str | None
    pages: int | None
    pages_ocr: int | None


def record_document(
    con: duckdb.DuckDBPyConnection, run_id: str, version: DocumentVersion, chunks: list[Chunk]
) -> None:
    """Replace the document's manifest row and chunk rows in one transaction."""
    keyed_write(con, lambda: _write_document(con, run_id, version, chunks))


def mark_pending(
    con: duckdb.DuckDBPyConnection, run_id: str, versions: list[DocumentVersion], status: str = "pending"
) -> None:
    """Flag documents whose Weaviate objects are about to change; a new one gets a row without chunks.

    Only `record_document` or `forget_document` clears the flag. A run killed in between leaves the document
    'pending', which the next run never takes as unchanged: it redoes the file, whatever it holds by then, or
    deletes the document's objects if the file is gone, so no object outlives a crash unlisted.
    `status='error'` flags a document the machine failed to process the same way: its recorded version and
    chunk rows stay (still searchable) and the next run retries it."""
    if not versions:
        return
    rows = [
        [v.path, v.doc_id, v.source_root, v.collection, v.content_sha256, v.config_signature, v.kind,
         v.pages, v.pages_ocr, run_id, utc_now(), status]
        for v in versions
    ]  # fmt: skip

    def body() -> None:
        con.executemany(
            "MERGE INTO documents d USING (SELECT ?::VARCHAR AS path, ?::VARCHAR AS doc_id, ?::VARCHAR AS "
            "source_root, ?::VARCHAR AS collection, ?::VARCHAR AS content_sha256, ?::VARCHAR AS config_signature, "
            "?::VARCHAR AS kind, ?::INTEGER AS pages, ?::INTEGER AS pages_ocr, ?::VARCHAR AS last_run_id, "
            "?::TIMESTAMP AS updated_at, ?::VARCHAR AS status) s ON d.path = s.path AND d.collection = s.collection "
            "WHEN MATCHED THEN UPDATE SET status = s.status, last_run_id = s.last_run_id, updated_at = s.updated_at "
            "WHEN NOT MATCHED THEN INSERT VALUES (s.path, s.doc_id, s.source_root, s.collection, s.content_sha256, "
            "s.config_signature, s.status, s.kind, s.pages, s.pages_ocr, 0, s.last_run_id, s.updated_at)",
            rows,
        )

    keyed_write(con, body)


def _write_document(
    con: duckdb.DuckDBPyConnection, run_id: str, version: DocumentVersion, chunks: list[Chunk]
) -> None:
    """Inside a `keyed_write`."""
    _delete_document(con, version.path, version.collection)
    con.execute(
        "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            version.path, version.doc_id, version.source_root, version.collection, version.content_sha256,
            version.config_signature, version.status, version.kind, version.pages, version.pages_ocr,
            len(chunks), run_id, utc_now(),
        ],
    )  # fmt: skip
    if chunks:
        con.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [c.chunk_id, c.doc_id, c.source_path, version.collection, c.chunk_index, c.page,
                 len(c.text.split()), c.content_hash, c.ocr, c.ocr_confidence]
                for c in chunks
            ],
        )  # fmt: skip


def replace_documents(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    source_root: str,
    collection: str,
    versions: list[tuple[DocumentVersion, list[Chunk]]],
) -> None:
    """Swap in a full rebuild's records for one source root of a collection, in one transaction."""

    def body() -> None:
        con.execute(
            "DELETE FROM chunks WHERE collection = ? AND path IN "
            "(SELECT path FROM documents WHERE source_root = ? AND collection = ?)",
            [collection, source_root, collection],
        )
        con.execute(
            "DELETE FROM documents WHERE source_root = ? AND collection = ?", [source_root, collection]
        )
        for version, chunks in versions:
            _write_document(con, run_id, version, chunks)

    keyed_write(con, body)


def forget_document(con: duckdb.DuckDBPyConnection, path: str, collection: str) -> None:
    """Remove a deleted file from one collection's manifest."""

    keyed_write(con, lambda: _delete_document(con, path, collection))


def _delete_document(con: duckdb.DuckDBPyConnection, path: str, collection: str) -> None:
    con.execute("DELETE FROM chunks WHERE path = ? AND collection = ?", [path, collection])
    con.execute("DELETE FROM documents WHERE path = ? AND collection = ?", [path, collection])


def forget_collection(con: duckdb.DuckDBPyConnection, collection: str) -> None:
    """Remove every manifest row of one collection: its documents, chunks and ingest runs, with their
    quarantine and validation records (for a collection that was dropped, e.g. a benchmark's)."""
    runs = "SELECT run_id FROM ingest_runs WHERE collection = ?"

    def body() -> None:
        con.execute(f"DELETE FROM quarantine WHERE run_id IN ({runs})", [collection])
        con.execute(f"DELETE FROM validation_results WHERE run_id IN ({runs})", [collection])
        for table in ("chunks", "documents", "ingest_runs"):
            con.execute(f"DELETE FROM {table} WHERE collection = ?", [collection])

    transaction(con, body)
