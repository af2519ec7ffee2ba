"""Evaluation results in DuckDB: runs, predictions, scores, retrievals and the price table."""

from __future__ import annotations

import json

import duckdb

from schemas.prices import Price
from warehouse.db import keyed_write, upsert, utc_now
from warehouse.runs import close_abandoned_runs, owner

PRICE_COLUMNS = ("model", "input_usd_per_m", "output_usd_per_m", "cached_input_usd_per_m")


def refresh_prices(con: duckdb.DuckDBPyConnection, prices: dict[str, Price]) -> None:
    """Mirror the price table (model -> $ per 1M input, output and cached input tokens) in the `prices` table."""
    rows = [[model, *price] for model, price in prices.items()]
    unchanged = con.execute(f"SELECT {', '.join(PRICE_COLUMNS)} FROM prices").fetchall()
    if sorted(map(tuple, rows)) != sorted(unchanged):  # every run refreshes it: write only a change
        upsert(con, "prices", ["model"], PRICE_COLUMNS, rows)


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

    return keyed_write(con, record)  # a run id is a key


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str) -> None:
    now = utc_now()
    sql = "UPDATE eval_runs SET status = ?, finished_at = ? WHERE run_id = ?"
    keyed_write(con, lambda: con.execute(sql, [status, now, run_id]))


def completed_units(con: duckdb.DuckDBPyConnection, run_id: str) -> set[tuple[str, str, int]]:
    """(example, method, k) already answered without error in this run: a resume answers the failed ones (whose
    rows hold an error and the empty answer's score) and the missing ones."""
    rows = con.execute(
        "SELECT example_id, method, k FROM predictions WHERE run_id = ? AND error IS NULL", [run_id]
    ).fetchall()
    return {(example, method, k) for example, method, k in rows}


PREDICTION_COLUMNS = (
    "run_id", "example_id", "dataset", "method", "k", "retriever", "model", "route", "prediction",
    "step1_prediction", "decline_prob", "prompt_tokens", "completion_tokens", "tokens_estimated", "cost_usd",
    "latency_ms", "cached", "error", "step1_declined", "step1_prompt_tokens", "step1_completion_tokens",
    "step1_score", "cached_prompt_tokens", "spent_cost_usd", "created_at",
)  # fmt: skip
PREDICTION_KEY = ("run_id", "example_id", "method", "k")


SCORE_COLUMNS = ("run_id", "example_id", "method", "k", "metric", "score")
EXAMPLE_COLUMNS = ("dataset", "example_id", "length", "difficulty", "length_class", "domain", "kind")
RETRIEVAL_COLUMNS = (
    "run_id", "example_id", "k", "retriever", "rank", "chunk_id", "chunk_index", "score", "has_evidence",
    "context_chunks",
)  # fmt: skip


def write_prediction(con: duckdb.DuckDBPyConnection, row: dict, score: tuple[str, float] | None) -> None:
    """Store one answer (or its error) and its score; a retried unit replaces its earlier row, and the spent
    cost of a failed earlier row is carried over (what it paid for stays paid)."""
    key = list(PREDICTION_KEY)

    def body() -> None:
        prediction = [row.get(column) for column in PREDICTION_COLUMNS[:-1]] + [utc_now()]
        earlier = con.execute(
            "SELECT spent_cost_usd FROM predictions WHERE run_id = ? AND example_id = ? AND method = ? AND k = ? "
            "AND error IS NOT NULL AND spent_cost_usd IS NOT NULL",
            [row[column] for column in key],
        ).fetchone()
        if earlier:
            spent = PREDICTION_COLUMNS.index("spent_cost_usd")
            prediction[spent] = (prediction[spent] or 0.0) + earlier[0]
        upsert(con, "predictions", key, PREDICTION_COLUMNS, [prediction])
        if score is not None:
            scored = [row["run_id"], row["example_id"], row["method"], row["k"], score[0], score[1]]
            upsert(con, "scores", key, SCORE_COLUMNS, [scored])

    keyed_write(con, body)


JUDGMENT_COLUMNS = (
    "run_id", "example_id", "method", "k", "judge_model", "prompt_version", "verdict", "prompt_tokens",
    "completion_tokens", "cost_usd", "spent_cost_usd", "error", "judged_at",
)  # fmt: skip


def write_judgment(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    """A judge's verdict on one prediction (keyed like it: a rejudged unit replaces its row)."""
    values = [row.get(column) for column in JUDGMENT_COLUMNS[:-1]] + [utc_now()]
    upsert(con, "judgments", list(PREDICTION_KEY), JUDGMENT_COLUMNS, [values])


def judge_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """Per method and k of one run with judged answers: judged, declined, supported %, the judge's cost."""
    columns = ["method", "k", "judge_model", "judged", "declined", "supported_pct", "failed", "judge_list_cost_usd",
               "judge_spent_cost_usd"]  # fmt: skip
    return _view_rows(con, "judge_summary", columns, run_id, "method, k")


def method_answers(con: duckdb.DuckDBPyConnection, run_id: str, method: str) -> dict[str, str]:
    """example id -> the answer (in words) of one method in one run, where it answered."""
    rows = con.execute(
        "SELECT example_id, prediction FROM predictions WHERE run_id = ? AND method = ? AND error IS NULL",
        [run_id, method],
    ).fetchall()
    return {example: prediction or "" for example, prediction in rows}


def write_examples(con: duckdb.DuckDBPyConnection, rows: list[list]) -> None:
    """(dataset, example id, length, difficulty, length class, domain, kind) of each example a run answers."""
    upsert(con, "examples", ["dataset", "example_id"], EXAMPLE_COLUMNS, rows)


def write_retrievals(con: duckdb.DuckDBPyConnection, rows: list[list]) -> None:
    """One row per retrieved chunk, `RETRIEVAL_COLUMNS` in order (`context_chunks`: None where unknown)."""
    upsert(con, "retrievals", ["run_id", "example_id", "k", "retriever", "rank"], RETRIEVAL_COLUMNS, rows)


def method_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """Per method and k of one run: score, n and failed, tokens, list and spent $, token % of LC, answerable %
    (the method_summary view)."""
    columns = [
        "method",
        "k",
        "n",
        "failed",
        "score",
        "prompt_tokens",
        "completion_tokens",
        "cached_prompt_tokens",
        "list_cost_usd",
        "spent_cost_usd",
        "token_pct_of_lc",
        "answerable_pct",
        "cached",
    ]
    return _view_rows(con, "method_summary", columns, run_id, "method, k")


def _view_rows(
    con: duckdb.DuckDBPyConnection, view: str, columns: list[str], run_id: str, order: str
) -> list[dict]:
    rows = con.execute(
        f"SELECT {', '.join(columns)} FROM {view} WHERE run_id = ? ORDER BY {order}", [run_id]
    ).fetchall()
    return [dict(zip(columns, row, strict=True)) for row in rows]


def kind_summary(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """Per method, k and kind of question of one run (where its data set has kinds): n, failed, score."""
    return _view_rows(
        con, "kind_summary", ["method", "k", "kind", "n", "failed", "score"], run_id, "method, k, kind"
    )


def latest_answerable_pct(con: duckdb.DuckDBPyConnection, dataset: str, model: str) -> dict[int, float | None]:
    """k -> Self-Route's answerable % (questions its first step answered) in the latest completed run of the
    data set and model that ran it."""
    rows = con.execute(
        """SELECT k, answerable_pct FROM method_summary
           WHERE method = 'self_route' AND dataset = ? AND model = ? AND run_id = (
               SELECT m.run_id FROM method_summary m JOIN eval_runs r USING (run_id)
               WHERE m.method = 'self_route' AND m.dataset = ? AND m.model = ?
                 AND r.status IN ('completed', 'completed_with_errors')
               ORDER BY r.started_at DESC LIMIT 1)""",
        [dataset, model, dataset, model],
    ).fetchall()
    return dict(rows)


def oracle_routing(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """Per k of one run with rag and lc: the oracle router's score, token % of LC and share sent to RAG, beside
    RAG's, LC's and Self-Route's scores and Self-Route's gap to the oracle."""
    columns = ["k", "n", "oracle_score", "oracle_token_pct_of_lc", "oracle_rag_pct", "rag_score", "lc_score",
               "self_route_score", "self_route_token_pct_of_lc", "self_route_gap"]  # fmt: skip
    return _view_rows(con, "oracle_routing", columns, run_id, "k")


def decline_quality(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """Per k of one run with Self-Route and kinds of question: its first step's declines, their precision and
    recall on the unanswerable questions."""
    columns = ["k", "n", "unanswerable", "declined", "decline_precision", "decline_recall"]
    return _view_rows(con, "decline_quality", columns, run_id, "k")


def rag_whole_context(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """Per retrieval method and k of one run where it happened: on how many of its examples the top-k chunks
    held the whole context (the rag_whole_context view)."""
    columns = ["method", "k", "examples", "whole_context"]
    rows = con.execute(
        f"SELECT {', '.join(columns)} FROM rag_whole_context WHERE run_id = ? AND whole_context > 0 "
        "ORDER BY method, k",
        [run_id],
    ).fetchall()
    return [dict(zip(columns, row, strict=True)) for row in rows]
