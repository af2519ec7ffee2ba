"""Evaluation results in DuckDB: runs, predictions, scores, retrievals and the price table."""

from __future__ import annotations

import json

import duckdb

from warehouse.db import transaction, upsert, utc_now
from warehouse.runs import close_abandoned_runs, owner


def refresh_prices(con: duckdb.DuckDBPyConnection, prices: dict[str, tuple[float, float]]) -> None:
    """Mirror the price table (model -> $ per 1M input and output tokens) in the `prices` table."""
    rows = [[model, usd_in, usd_out] for model, (usd_in, usd_out) in prices.items()]
    unchanged = con.execute("SELECT model, input_usd_per_m, output_usd_per_m FROM prices").fetchall()
    if sorted(map(tuple, rows)) != sorted(unchanged):  # every run refreshes it: write only a change
        upsert(con, "prices", ["model"], ["model", "input_usd_per_m", "output_usd_per_m"], rows)


def start_run(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    dataset: str,
    methods: list[str],
    config: dict,
    code_version: str,
    model: str,
    endpoint: str,
) -> bool:
    """Record the run; returns False when the run id exists already (a resumed run)."""
    close_abandoned_runs(con, "eval_runs")

    def record() -> bool:
        con.execute("UPDATE write_guard SET version = version + 1")  # a run id is a key: see `upsert`
        host, pid = owner()
        exists = con.execute("SELECT 1 FROM eval_runs WHERE run_id = ?", [run_id]).fetchone()
        if exists:
            con.execute(
                "UPDATE eval_runs SET status = 'running', finished_at = NULL, host = ?, pid = ? WHERE run_id = ?",
                [host, pid, run_id],
            )
            return False
        con.execute(
            "INSERT INTO eval_runs (run_id, dataset, methods, config, code_version, model, endpoint, started_at, "
            "status, host, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
            [
                run_id,
                dataset,
                ",".join(methods),
                json.dumps(config),
                code_version,
                model,
                endpoint,
                utc_now(),
                host,
                pid,
            ],
        )
        return True

    return transaction(con, record)


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str) -> None:
    now = utc_now()
    transaction(
        con,
        lambda: con.execute(
            "UPDATE eval_runs SET status = ?, finished_at = ? WHERE run_id = ?", [status, now, run_id]
        ),
    )


def completed_units(con: duckdb.DuckDBPyConnection, run_id: str) -> set[tuple[str, str, int]]:
    """(example, method, k) already answered without error in this run."""
    rows = con.execute(
        "SELECT example_id, method, k FROM predictions WHERE run_id = ? AND error IS NULL", [run_id]
    ).fetchall()
    return {(example, method, k) for example, method, k in rows}


PREDICTION_COLUMNS = (
    "run_id", "example_id", "dataset", "method", "k", "retriever", "model", "route", "prediction",
    "step1_prediction", "decline_prob", "prompt_tokens", "completion_tokens", "tokens_estimated", "cost_usd",
    "latency_ms", "cached", "error", "step1_declined", "created_at",
)  # fmt: skip


SCORE_COLUMNS = ("run_id", "example_id", "method", "k", "metric", "score")
EXAMPLE_COLUMNS = ("dataset", "example_id", "length", "difficulty", "length_class", "domain")
RETRIEVAL_COLUMNS = (
    "run_id", "example_id", "k", "retriever", "rank", "chunk_id", "chunk_index", "score", "has_evidence",
)  # fmt: skip


def write_prediction(con: duckdb.DuckDBPyConnection, row: dict, score: tuple[str, float] | None) -> None:
    """Store one answer (or its error) and its score; a retried unit replaces its earlier row."""
    prediction = [row.get(column) for column in PREDICTION_COLUMNS[:-1]] + [utc_now()]
    key = ["run_id", "example_id", "method", "k"]

    def body() -> None:
        upsert(con, "predictions", key, PREDICTION_COLUMNS, [prediction])
        if score is not None:
            scored = [row["run_id"], row["example_id"], row["method"], row["k"], score[0], score[1]]
            upsert(con, "scores", key, SCORE_COLUMNS, [scored])

    transaction(con, body)


def write_examples(con: duckdb.DuckDBPyConnection, rows: list[list]) -> None:
    """(dataset, example id, length, difficulty, length class, domain) of each example a run answers."""
    upsert(con, "examples", ["dataset", "example_id"], EXAMPLE_COLUMNS, rows)


def write_retrievals(con: duckdb.DuckDBPyConnection, rows: list[list]) -> None:
    upsert(con, "retrievals", ["run_id", "example_id", "k", "retriever", "rank"], RETRIEVAL_COLUMNS, rows)


def method_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """Per method and k of one run: score, n, tokens, $, token % of LC, answerable % (the method_summary view)."""
    columns = [
        "method",
        "k",
        "n",
        "score",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "token_pct_of_lc",
        "answerable_pct",
        "cached",
    ]
    rows = con.execute(
        f"SELECT {', '.join(columns)} FROM method_summary WHERE run_id = ? ORDER BY method, k", [run_id]
    ).fetchall()
    return [dict(zip(columns, row, strict=True)) for row in rows]
