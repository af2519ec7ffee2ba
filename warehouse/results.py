"""Evaluation results in DuckDB: runs, predictions, scores, retrievals and the price table."""

from __future__ import annotations

import json

import duckdb

from warehouse.db import utc_now
from warehouse.runs import close_abandoned_runs, owner


def refresh_prices(con: duckdb.DuckDBPyConnection, prices: dict[str, tuple[float, float]]) -> None:
    """Mirror the price table (model -> $ per 1M input and output tokens) in the `prices` table."""
    con.executemany(
        "INSERT OR REPLACE INTO prices VALUES (?, ?, ?)",
        [[model, usd_in, usd_out] for model, (usd_in, usd_out) in prices.items()],
    )


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


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str) -> None:
    con.execute(
        "UPDATE eval_runs SET status = ?, finished_at = ? WHERE run_id = ?", [status, utc_now(), run_id]
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


def write_prediction(con: duckdb.DuckDBPyConnection, row: dict, score: tuple[str, float] | None) -> None:
    """Store one answer (or its error) and its score; a retried unit replaces its earlier row."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"INSERT OR REPLACE INTO predictions ({', '.join(PREDICTION_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(PREDICTION_COLUMNS))})",
            [row.get(column) for column in PREDICTION_COLUMNS[:-1]] + [utc_now()],
        )
        if score is not None:
            con.execute(
                "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?)",
                [row["run_id"], row["example_id"], row["method"], row["k"], score[0], score[1]],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def write_examples(con: duckdb.DuckDBPyConnection, rows: list[list]) -> None:
    """(dataset, example id, length, difficulty, length class, domain) of each example a run answers."""
    if rows:
        con.executemany("INSERT OR REPLACE INTO examples VALUES (?, ?, ?, ?, ?, ?)", rows)


def write_retrievals(con: duckdb.DuckDBPyConnection, rows: list[list]) -> None:
    if rows:
        con.executemany("INSERT OR REPLACE INTO retrievals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


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
