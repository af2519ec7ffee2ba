"""The regression check on a real DuckDB warehouse, filled through the warehouse's own writers."""

from __future__ import annotations

import time

import numpy as np
import pytest

from schemas.prices import Price
from tasks.evaluation.regression import IncomparableBaseline, RegressionDetected, check_regression
from warehouse import results
from warehouse.db import session

PRICE = Price(1.0, 2.0)


def _run(path, run_id: str, scores: dict[str, float | list[float]], tokens: int = 1000, data: str | None = None) -> None:
    """A finished run: per method, two examples each scoring `scores[method]`, or one example per score; `data`:
    the fingerprint of the data it read."""
    with session(path) as con:
        results.refresh_prices(con, {"paid-model": PRICE})
        config = {} if data is None else {"data_fingerprint": data}
        results.start_run(con, run_id, "mini", list(scores), config, "test", "paid-model", "http://llm")
        for method, scored in scores.items():
            for example, score in enumerate(scored if isinstance(scored, list) else [scored] * 2):
                row = {
                    "run_id": run_id,
                    "example_id": f"e{example + 1}",
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


def _noisy(n: int, drop: float, seed: int) -> tuple[list[float], list[float]]:
    """Baseline and current per-example scores of n examples, the mean `drop` lower now, with noise."""
    rng = np.random.default_rng(seed)
    baseline = rng.uniform(0.3, 0.9, n)
    noise = rng.normal(0, 0.15, n)
    return baseline.tolist(), np.clip(baseline - drop + noise - noise.mean(), 0, 1).tolist()


def test_the_gate_fails_only_a_drop_that_is_more_than_chance(tmp_path):
    """A 2-point drop on 20 examples passes (its interval holds 0), with the interval as the reason; a 10-point
    drop on 200 examples fails. Both exceed a 1-point threshold."""
    path = tmp_path / "w.duckdb"
    before, after = _noisy(20, 0.02, seed=1)
    _run(path, "small-base", {"rag": before})
    _run(path, "small-drop", {"rag": after})
    with session(path) as con:
        [small] = check_regression(con, "small-drop", max_score_drop=1.0)
    assert small.passed and -3 < small.score_delta < -1 and small.test.ci_low < 0 < small.test.ci_high
    assert "within chance: 95% CI" in small.reason and "over 20 paired examples" in small.reason

    before, after = _noisy(200, 0.10, seed=2)
    _run(path, "large-base", {"rag": before})
    _run(path, "large-drop", {"rag": after})
    with session(path) as con, pytest.raises(RegressionDetected) as caught:
        check_regression(con, "large-drop", "large-base", max_score_drop=1.0)
    assert "over 200 paired examples" in str(caught.value)
    with session(path) as con:
        [row] = con.execute("SELECT n_paired, ci_high < 0, passed FROM regression_vs_baseline "
                            "WHERE run_id = 'large-drop'").fetchall()  # fmt: skip
    assert row == (200, True, False)



def test_a_baseline_must_have_read_the_same_data(tmp_path):
    """The previous run of other data (a changed corpus or question set) is not a baseline; the last run of the
    same data is, and one recorded before fingerprints matches any. A pinned run of other data is refused."""
    path = tmp_path / "w.duckdb"
    _run(path, "old", {"lc": 0.5})
    _run(path, "a1", {"lc": 0.5}, data="aaaa")
    _run(path, "b1", {"lc": 0.0}, data="bbbb")
    _run(path, "a2", {"lc": 0.5}, data="aaaa")
    with session(path) as con:
        baselines = dict(con.execute("SELECT run_id, baseline_run_id FROM run_baseline").fetchall())
        assert baselines == {"a1": "old", "b1": "old", "a2": "a1"}
        assert [c.passed for c in check_regression(con, "a2")] == [True]  # against a1, not b1's zero
        with pytest.raises(IncomparableBaseline, match="cannot be checked against baseline b1: it read other data"):
            check_regression(con, "a2", "b1")
        with pytest.raises(IncomparableBaseline, match="no such run"):
            check_regression(con, "a2", "gone")
