"""Regression checks in the warehouse: a run's baseline, both runs' per-method figures, the stored verdicts."""

from __future__ import annotations

from datetime import datetime

import duckdb

from warehouse.db import upsert

CHECK_COLUMNS = (
    "run_id", "baseline_run_id", "method", "k", "score", "baseline_score", "score_delta", "cost_usd",
    "baseline_cost_usd", "cost_change_pct", "passed", "reason", "n_paired", "ci_low", "ci_high", "p_value",
    "checked_at",
)  # fmt: skip


def baseline_of(con: duckdb.DuckDBPyConnection, run_id: str) -> str | None:
    """The run's baseline as the `run_baseline` view defines it, or None for the first run."""
    row = con.execute("SELECT baseline_run_id FROM run_baseline WHERE run_id = ?", [run_id]).fetchone()
    return row[0] if row else None


def incomparable(con: duckdb.DuckDBPyConnection, run_id: str, baseline_run_id: str) -> str | None:
    """Why the baseline's scores cannot be compared with the run's, or None when they can: another data set or
    model, or other data (`config.data_fingerprint`, where both runs recorded it)."""
    row = con.execute(
        """SELECT r.dataset, b.dataset, r.model, b.model, r.config->>'data_fingerprint', b.config->>'data_fingerprint'
           FROM eval_runs r, eval_runs b WHERE r.run_id = ? AND b.run_id = ?""",
        [run_id, baseline_run_id],
    ).fetchone()
    if row is None:
        return "no such run in the warehouse"
    dataset, base_dataset, model, base_model, data, base_data = row
    if (dataset, model) != (base_dataset, base_model):
        return f"it evaluated {base_dataset} with {base_model}, not {dataset} with {model}"
    if data and base_data and data != base_data:
        return ("it read other data (examples, questions or the collection's documents changed): pin a run of the "
                "same data, or use the previous one")  # fmt: skip
    return None


def paired_methods(con: duckdb.DuckDBPyConnection, run_id: str, baseline_run_id: str) -> list[tuple]:
    """(method, k, score, baseline score, list cost, baseline list cost) for each method and k present in both runs."""
    return con.execute(
        """SELECT cur.method, cur.k, cur.score, base.score, cur.list_cost_usd, base.list_cost_usd
           FROM method_summary cur JOIN method_summary base
             ON base.method = cur.method AND base.k = cur.k AND base.dataset = cur.dataset
           WHERE cur.run_id = ? AND base.run_id = ? ORDER BY cur.method, cur.k""",
        [run_id, baseline_run_id],
    ).fetchall()


def paired_examples(
    con: duckdb.DuckDBPyConnection, run_id: str, baseline_run_id: str, method: str, k: int
) -> list[tuple[float, float]]:
    """(score, baseline score) of each example both runs scored with the method at k."""
    return con.execute(
        """SELECT cur.score, base.score
           FROM scores cur JOIN scores base
             ON base.example_id = cur.example_id AND base.method = cur.method AND base.k = cur.k
           WHERE cur.run_id = ? AND base.run_id = ? AND cur.method = ? AND cur.k = ?
           ORDER BY cur.example_id""",
        [run_id, baseline_run_id, method, k],
    ).fetchall()


def record_checks(con: duckdb.DuckDBPyConnection, rows: list[list], checked_at: datetime) -> None:
    """Store comparisons: (run, baseline, method, k, score, baseline score, delta, cost, baseline cost,
    cost change %, passed, reason, paired examples, CI low, CI high, McNemar p) each; a repeated check replaces
    its rows."""
    keys = ["run_id", "baseline_run_id", "method", "k"]
    upsert(con, "regression_checks", keys, CHECK_COLUMNS, [row + [checked_at] for row in rows])
