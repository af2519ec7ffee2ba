"""The `asks` log: every question answered over a collection, with route, tokens, cost and citations, and
whether the documents did not say."""

from __future__ import annotations

import hashlib
import json
import uuid

import duckdb

from warehouse.db import transaction, utc_now

COLUMNS = (
    "ask_id", "asked_at", "question_sha256", "question", "collection", "method", "route", "answer", "citations",
    "invented_citations", "model", "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms", "error",
    "not_in_documents",
)  # fmt: skip


def record_ask(con: duckdb.DuckDBPyConnection, result, model: str) -> str:
    """Store one ask (an `AskResult`); returns its id."""
    ask_id = str(uuid.uuid4())
    row = [
        ask_id, utc_now(), hashlib.sha256(result.question.encode()).hexdigest(),
        result.question, result.collection, result.method, result.route, result.answer,
        json.dumps([c.model_dump() for c in result.citations]), result.invented_citations, model,
        result.prompt_tokens, result.completion_tokens, result.cost_usd, result.latency_ms, result.error,
        result.not_in_documents,
    ]  # fmt: skip
    sql = f"INSERT INTO asks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(row))})"
    transaction(con, lambda: con.execute(sql, row))
    return ask_id


def recent_questions(con: duckdb.DuckDBPyConnection, collection: str, limit: int) -> list[tuple[str, str]]:
    """The `limit` most recently asked distinct questions over a collection that were answered without an
    error: (question sha256, question), newest first."""
    return con.execute(
        "SELECT question_sha256, any_value(question) FROM asks WHERE collection = ? AND error IS NULL "
        "GROUP BY question_sha256 ORDER BY max(asked_at) DESC, question_sha256 LIMIT ?",
        [collection, limit],
    ).fetchall()
