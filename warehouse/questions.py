"""Generated question sets in the warehouse: the questions (kept and rejected, with the rule and reason), when
they were retired, and one row per generation run with what its LLM calls cost. Keyed writes only: a rerun
replaces its rows, on the DuckDB file and on a DuckLake alike."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from schemas.benchmarks import CorpusQuestion
from schemas.questions import Candidate
from warehouse.db import keyed_write, upsert, utc_now

QUESTION_COLUMNS = ("question_id", "collection", "kind", "question", "answer", "evidence", "chunk_ids",
                    "chunk_hashes", "doc_ids", "doc_hashes", "model", "prompt_version", "outcome", "rule",
                    "reason", "reviewed", "run_id", "written_at", "retired_at", "retired_reason")  # fmt: skip
_LISTS = ("evidence", "chunk_ids", "chunk_hashes", "doc_ids", "doc_hashes")
_CANDIDATE_FIELDS = ("question_id", "collection", "kind", "question", "answer", *_LISTS, "model",
                     "prompt_version", "outcome", "rule", "reason", "reviewed", "run_id")  # fmt: skip


def _row(candidate: Candidate) -> list:
    data = candidate.model_dump()
    values = [json.dumps(data[name]) if name in _LISTS else data[name] for name in _CANDIDATE_FIELDS]
    return [*values, utc_now(), None, None]


def write_questions(con: duckdb.DuckDBPyConnection, candidates: Sequence[Candidate]) -> None:
    """Store candidates as current questions (kept or rejected); the same id again replaces its row."""
    upsert(con, "questions", ["question_id"], QUESTION_COLUMNS, [_row(c) for c in candidates])


def retire_questions(con: duckdb.DuckDBPyConnection, retired: Sequence[tuple[str, str]]) -> None:
    """Retire questions (id, reason) that are still current; a retired one keeps its first retirement."""
    if not retired:
        return
    now = utc_now()
    keyed_write(con, lambda: con.executemany(
        "UPDATE questions SET retired_at = ?, retired_reason = ? WHERE question_id = ? AND retired_at IS NULL",
        [[now, reason, question_id] for question_id, reason in retired],
    ))  # fmt: skip


RUN_COLUMNS = ("run_id", "collection", "model", "prompt_version", "started_at", "finished_at", "status",
               "documents", "candidates", "kept", "retired", "by_kind", "rejections", "llm_calls",
               "llm_requests", "cached_calls", "prompt_tokens", "completion_tokens", "list_cost_usd",
               "spent_cost_usd", "seconds", "error")  # fmt: skip


def record_run(con: duckdb.DuckDBPyConnection, run: dict) -> None:
    """Store a generation run's row (`RUN_COLUMNS`; `by_kind` and `rejections` as dicts); written again when
    it ends."""
    row = [json.dumps(run[c]) if c in ("by_kind", "rejections") else run.get(c) for c in RUN_COLUMNS]
    upsert(con, "question_runs", ["run_id"], RUN_COLUMNS, [row])


def abandon_runs(con: duckdb.DuckDBPyConnection, collection: str) -> None:
    """Mark the collection's generation runs still `running` as `abandoned` (their process stopped before it
    recorded an end). A run that is in fact still going writes its own end over this when it finishes."""
    sql = (
        "UPDATE question_runs SET status = 'abandoned', error = 'no end recorded: its process stopped' "
        "WHERE collection = ? AND status = 'running'"
    )
    keyed_write(con, lambda: con.execute(sql, [collection]))


# --- Reading ---------------------------------------------------------------------------------------------


def _candidate(row: tuple) -> Candidate:
    data = dict(zip(QUESTION_COLUMNS, row, strict=True))
    for name in _LISTS:
        data[name] = json.loads(data[name])
    return Candidate(**{name: data[name] for name in _CANDIDATE_FIELDS})


def current_questions(
    con: duckdb.DuckDBPyConnection, collection: str, kept_only: bool = False
) -> list[Candidate]:
    """The collection's questions not retired (kept and rejected, or kept only), in a stable order."""
    outcome = "AND outcome = 'kept'" if kept_only else ""
    rows = con.execute(
        f"SELECT {', '.join(QUESTION_COLUMNS)} FROM questions WHERE collection = ? AND retired_at IS NULL "
        f"{outcome} ORDER BY kind, question_id",
        [collection],
    ).fetchall()
    return [_candidate(row) for row in rows]


def stored_question(con: duckdb.DuckDBPyConnection, question_id: str) -> Candidate | None:
    """A question by id, retired or not."""
    row = con.execute(
        f"SELECT {', '.join(QUESTION_COLUMNS)} FROM questions WHERE question_id = ?", [question_id]
    ).fetchone()
    return _candidate(row) if row else None


def kept_corpus_questions(con: duckdb.DuckDBPyConnection, collection: str) -> list[CorpusQuestion]:
    """The collection's current kept questions as a corpus QA set (`ragroute eval --collection`), with kind and
    evidence."""
    return [c.corpus_question() for c in current_questions(con, collection, kept_only=True)]


@dataclass(frozen=True)
class DocumentState:
    doc_id: str
    path: str
    content_sha256: str
    status: str  # the manifest's: indexed | pending | error | quarantined | duplicate


def collection_documents(con: duckdb.DuckDBPyConnection, collection: str) -> dict[str, DocumentState]:
    """The manifest's documents of a collection, by doc id."""
    rows = con.execute(
        "SELECT doc_id, path, content_sha256, status FROM documents WHERE collection = ? ORDER BY path",
        [collection],
    ).fetchall()
    return {row[0]: DocumentState(*row) for row in rows}


def chunk_hashes(con: duckdb.DuckDBPyConnection, collection: str) -> dict[str, str]:
    """chunk id -> content hash, for every chunk of the collection in the manifest."""
    rows = con.execute(
        "SELECT chunk_id, content_hash FROM chunks WHERE collection = ?", [collection]
    ).fetchall()
    return dict(rows)
