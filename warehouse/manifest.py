"""The ingestion manifest in DuckDB: documents, their chunks, runs, quarantine and validation results."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from schemas.documents import Chunk, IngestSummary, QuarantineRecord


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


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


def start_run(
    con: duckdb.DuckDBPyConnection, run_id: str, source_root: str, collection: str, signature: str
) -> None:
    con.execute(
        "INSERT INTO ingest_runs (run_id, source_root, collection, config_signature, started_at, status) "
        "VALUES (?, ?, ?, ?, ?, 'running')",
        [run_id, source_root, collection, signature, _now()],
    )


def finish_run(con: duckdb.DuckDBPyConnection, summary: IngestSummary) -> None:
    con.execute(
        """UPDATE ingest_runs SET finished_at = ?, status = ?, documents_seen = ?, documents_changed = ?,
           documents_deleted = ?, documents_failed = ?, pages = ?, pages_ocr = ?, chunks_written = ?,
           chunks_deleted = ?, quarantined = ?, seconds = ?, notes = ? WHERE run_id = ?""",
        [
            _now(), summary.status, summary.documents_seen, summary.documents_changed, summary.documents_deleted,
            summary.documents_failed, summary.pages, summary.pages_ocr, summary.chunks_written,
            summary.chunks_deleted, summary.quarantined, summary.seconds, json.dumps(summary.notes),
            summary.run_id,
        ],
    )  # fmt: skip


def add_quarantine(con: duckdb.DuckDBPyConnection, run_id: str, records: list[QuarantineRecord]) -> None:
    if records:
        con.executemany(
            "INSERT INTO quarantine (run_id, path, chunk_id, stage, reason, detail, quarantined_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [[run_id, r.path, r.chunk_id, r.stage, r.reason, r.detail, _now()] for r in records],
        )


def add_validation_results(con: duckdb.DuckDBPyConnection, run_id: str, outcomes) -> None:
    if outcomes:
        con.executemany(
            "INSERT INTO validation_results VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                [run_id, o.expectation, o.column, o.success, o.element_count, o.unexpected_count, _now()]
                for o in outcomes
            ],
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
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM chunks WHERE path = ?", [version.path])
        con.execute("DELETE FROM documents WHERE path = ?", [version.path])
        con.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                version.path, version.doc_id, version.source_root, version.collection, version.content_sha256,
                version.config_signature, version.status, version.kind, version.pages, version.pages_ocr,
                len(chunks), run_id, _now(),
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
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def forget_document(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Remove a deleted file from the manifest."""
    con.execute("BEGIN TRANSACTION")
    con.execute("DELETE FROM chunks WHERE path = ?", [path])
    con.execute("DELETE FROM documents WHERE path = ?", [path])
    con.execute("COMMIT")
