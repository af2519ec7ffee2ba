"""Learned routers in DuckDB: the features stored with each retrieval, the outcomes they are trained on, the
trained routers, and the routers of a run side by side (`routing_comparison`)."""

from __future__ import annotations

import json
import uuid

import duckdb

from warehouse.db import upsert, utc_now

FEATURE_COLUMNS = ("run_id", "example_id", "k", "question", "kind", "top_score", "score_margin", "score_spread",
                   "retrieved", "rag_tokens", "doc_tokens")  # fmt: skip
ROUTER_COLUMNS = ("router_id", "model", "dataset", "features_version", "trained_at", "training_runs", "examples",
                  "questions", "needs_lc", "cv_accuracy", "majority_accuracy", "router")  # fmt: skip
COMPARISON_COLUMNS = ["k", "router", "n", "score", "token_pct_of_lc", "llm_calls", "straight_to_lc",
                      "routed_correctly_pct"]  # fmt: skip


def write_route_features(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    """The features of each (run, example, k) retrieved (`FEATURE_COLUMNS` as keys); a rerun replaces its rows."""
    values = [[row[column] for column in FEATURE_COLUMNS] for row in rows]
    upsert(con, "route_features", ["run_id", "example_id", "k"], FEATURE_COLUMNS, values)


def training_rows(con: duckdb.DuckDBPyConnection, model: str, dataset: str) -> list[dict]:
    """The latest outcome of each question and k of the model on the data set (`router_outcomes`)."""
    columns = ["run_id", "example_id", "k", *FEATURE_COLUMNS[3:], "needs_lc"]
    rows = con.execute(
        f"SELECT {', '.join(columns)} FROM router_outcomes WHERE model = ? AND dataset = ? "
        "QUALIFY row_number() OVER (PARTITION BY example_id, k ORDER BY started_at DESC) = 1 "
        "ORDER BY example_id, k",
        [model, dataset],
    ).fetchall()
    return [dict(zip(columns, row, strict=True)) for row in rows]


def write_router(con: duckdb.DuckDBPyConnection, model: str, dataset: str, version: int, trained, blob: bytes) -> str:
    """Store a trained router (a `learned.TrainedRouter`); returns its id."""
    router_id = str(uuid.uuid4())
    row = [router_id, model, dataset, version, utc_now(), json.dumps(trained.training_runs), trained.examples,
           trained.questions, trained.needs_lc, trained.cv_accuracy, trained.majority_accuracy, blob]  # fmt: skip
    upsert(con, "routers", ["router_id"], ROUTER_COLUMNS, [row])
    return router_id


def latest_router(con: duckdb.DuckDBPyConnection, model: str, dataset: str) -> tuple[str, bytes] | None:
    """(router id, stored router) of the model's latest router for the data set, if one was trained."""
    row = con.execute(
        "SELECT router_id, router FROM routers WHERE model = ? AND dataset = ? ORDER BY trained_at DESC LIMIT 1",
        [model, dataset],
    ).fetchone()
    return None if row is None else (row[0], bytes(row[1]))


def routing_comparison(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """Per k of one run with rag and lc: the oracle, Self-Route, the learned router and LC side by side."""
    rows = con.execute(
        f"SELECT {', '.join(COMPARISON_COLUMNS)} FROM routing_comparison WHERE run_id = ? ORDER BY k, position",
        [run_id],
    ).fetchall()
    return [dict(zip(COMPARISON_COLUMNS, row, strict=True)) for row in rows]
