"""Compare an evaluation run with a baseline run: a score drop beyond the threshold that is more than chance, or
a cost rise beyond the threshold, fails.

The baseline is the previous completed run of the same data set and model that read the same data (examples or
questions, and the collection's documents), or a pinned run id, refused when it read other data. A score drop is
judged per example on the examples both runs answered (`tasks/evaluation/significance.py`): it fails only when
the paired test says it is more than chance; a larger drop within chance passes, with its interval as the
reason. Every comparison is stored in `regression_checks`, passed or not, with the interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from schemas.errors import RagrouteError
from tasks.evaluation.significance import PairedTest, paired_test
from warehouse import regressions
from warehouse.db import utc_now


class RegressionDetected(RagrouteError):
    """At least one method got worse than the thresholds allow; the message lists them."""


class IncomparableBaseline(RegressionDetected):
    """A pinned baseline evaluated other data (another data set or model, other examples, questions or
    documents): its scores say nothing about the run's."""


@dataclass
class Comparison:
    method: str
    k: int
    score: float
    baseline_score: float
    cost_usd: float | None
    baseline_cost_usd: float | None
    passed: bool
    reason: str | None
    test: PairedTest | None = None  # the paired per-example test of the score difference

    @property
    def score_delta(self) -> float:
        return round(self.score - self.baseline_score, 2)

    @property
    def cost_change_pct(self) -> float | None:
        if not self.baseline_cost_usd or self.cost_usd is None:
            return None
        return round(100 * (self.cost_usd - self.baseline_cost_usd) / self.baseline_cost_usd, 2)


def compare(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    baseline_run_id: str,
    max_score_drop: float,
    max_cost_rise_pct: float,
) -> list[Comparison]:
    """One comparison per method and k present in both runs (scores in points of 100)."""
    comparisons = []
    for method, k, score, base_score, cost, base_cost in regressions.paired_methods(
        con, run_id, baseline_run_id
    ):
        test = paired_test(regressions.paired_examples(con, run_id, baseline_run_id, method, k))
        comparison = Comparison(method, k, score, base_score, cost, base_cost, True, None, test)
        problems, notes = [], []
        if comparison.score_delta < -max_score_drop:
            fell = (
                f"score fell {-comparison.score_delta:.2f} points ({base_score:.2f} → {score:.2f}), "
                f"more than {max_score_drop:.2f}"
            )
            if test is None or test.significant:
                problems.append(fell + (f" ({test.describe()})" if test else ""))
            else:
                notes.append(f"{fell}, but on the examples both runs scored the drop is within chance: "
                             f"{test.describe()}")  # fmt: skip
        rise = comparison.cost_change_pct
        if rise is not None and rise > max_cost_rise_pct:
            problems.append(
                f"cost rose {rise:.1f}% (${base_cost:.4f} → ${cost:.4f}), more than {max_cost_rise_pct:.1f}%"
            )
        if problems:
            comparison.passed, comparison.reason = False, "; ".join(problems)
        elif notes:
            comparison.reason = "; ".join(notes)
        comparisons.append(comparison)
    return comparisons


def _test_columns(test: PairedTest | None) -> list:
    """n_paired, ci_low, ci_high, p_value of a check."""
    return [None] * 4 if test is None else [test.n, test.ci_low, test.ci_high, test.p_value]


def record(
    con: duckdb.DuckDBPyConnection, run_id: str, baseline_run_id: str, comparisons: list[Comparison]
) -> None:
    rows = [[run_id, baseline_run_id, c.method, c.k, c.score, c.baseline_score, c.score_delta, c.cost_usd,
             c.baseline_cost_usd, c.cost_change_pct, c.passed, c.reason, *_test_columns(c.test)]
            for c in comparisons]  # fmt: skip
    if rows:
        regressions.record_checks(con, rows, utc_now())


def check_regression(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    baseline_run_id: str | None = None,
    max_score_drop: float = 2.0,
    max_cost_rise_pct: float = 20.0,
) -> list[Comparison]:
    """Compare, store, and raise `RegressionDetected` when any method is beyond the thresholds.
    Without a baseline (the first run) there is nothing to compare: returns []."""
    baseline = baseline_run_id or regressions.baseline_of(con, run_id)
    if baseline is None:
        return []
    if baseline_run_id and (why := regressions.incomparable(con, run_id, baseline_run_id)):
        raise IncomparableBaseline(f"run {run_id} cannot be checked against baseline {baseline_run_id}: {why}")
    comparisons = compare(con, run_id, baseline, max_score_drop, max_cost_rise_pct)
    record(con, run_id, baseline, comparisons)
    failed = [c for c in comparisons if not c.passed]
    if failed:
        lines = "\n".join(f"- {c.method} k={c.k}: {c.reason}" for c in failed)
        raise RegressionDetected(f"run {run_id} regressed against baseline {baseline}:\n{lines}")
    return comparisons
