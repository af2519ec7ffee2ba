"""The regression check on a real DuckDB warehouse, filled through the warehouse's own writers."""

from __future__ import annotations

import time

import pytest

from schemas.prices import Price
from tasks.evaluation.regression import RegressionDetected, check_regression
from warehouse import results
from warehouse.db import session

PRICE = Price(1.0, 2.0)


def _run(path, run_id: str, scores: dict[str, float], tokens: int = 1000) -> None:
    """A finished run of two examples per method, every example scoring `scores[method]`."""
    with session(path) as con:
        results.refresh_prices(con, {"paid-model": PRICE})
        results.start_run(con, run_id, "mini", list(scores), {}, "test", "paid-model", "http://llm")
        for method, score in scores.items():
            for example in ("e1", "e2"):
                row = {
                    "run_id": run_id,
                    "example_id": example,
                    "dataset": "mini",
                    "method": method,
                    "k": 0 if method == "lc" else 5,
                    "model": "paid-model",
                    "route": "rag",
                    "prediction": "x",
                    "prompt_tokens": tokens,
                    "completion_tokens": 10,
                    "cost_usd": PRICE.cost_usd(tokens, 10),
                    "error": None,
                }
                results.write_prediction(con, row, ("qa_f1_score", score))
        results.finish_run(con, run_id, "completed")
    time.sleep(0.01)  # runs are ordered by their start time


def _checks(path, run_id):
    with session(path) as con:
        return con.execute(
            "SELECT method, passed, reason FROM regression_checks WHERE run_id = ? ORDER BY method", [run_id]
        ).fetchall()


def test_first_run_has_no_baseline_then_an_equal_run_passes(tmp_path):
    path = tmp_path / "w.duckdb"
    _run(path, "r1", {"lc": 0.5, "rag": 0.4})
    with session(path) as con:
        assert check_regression(con, "r1") == []
    _run(path, "r2", {"lc": 0.5, "rag": 0.4})
    with session(path) as con:
        comparisons = check_regression(con, "r2")
    assert [(c.method, c.score_delta, c.passed) for c in comparisons] == [
        ("lc", 0.0, True),
        ("rag", 0.0, True),
    ]
    assert _checks(path, "r2") == [("lc", True, None), ("rag", True, None)]


def test_a_score_drop_or_cost_rise_fails_and_is_stored(tmp_path):
    path = tmp_path / "w.duckdb"
    _run(path, "base", {"lc": 0.5, "rag": 0.4})
    _run(path, "worse", {"lc": 0.5, "rag": 0.3}, tokens=1500)
    with session(path) as con, pytest.raises(RegressionDetected) as caught:
        check_regression(con, "worse", max_score_drop=2.0, max_cost_rise_pct=20.0)
    message = str(caught.value)
    assert "rag k=5: score fell 10.00 points (40.00 → 30.00)" in message
    assert "cost rose" in message and "baseline base" in message
    checks = _checks(path, "worse")
    assert [(method, passed) for method, passed, _ in checks] == [("lc", False), ("rag", False)]
    assert "score" not in checks[0][2] and "cost rose" in checks[0][2]


def test_a_pinned_baseline_is_used(tmp_path):
    path = tmp_path / "w.duckdb"
    _run(path, "pinned", {"rag": 0.6})
    _run(path, "middle", {"rag": 0.2})
    _run(path, "latest", {"rag": 0.59})
    with session(path) as con:
        comparisons = check_regression(con, "latest", baseline_run_id="pinned")
    assert comparisons[0].baseline_score == 60.0 and comparisons[0].passed
