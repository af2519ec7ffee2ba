"""Self-Route's decline threshold τ per evaluation run: picked from the run's own routing frontier (or given),
stored in `decline_thresholds`, and read back by `ragroute ask` and the API for their model."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from warehouse.db import upsert, utc_now

# Below this, P("unanswerable") carries no signal to route on (SmolLM2-135M's are ~0.001).
NO_SIGNAL_BELOW = 0.01
# A calibrated τ keeps the score within this many points of long context.
WITHIN_POINTS_OF_LC = 1.0


@dataclass
class ThresholdChoice:
    threshold: float | None
    source: str  # given | calibrated | no_signal | no_point | text_rule
    max_decline_prob: float | None
    note: str


def max_decline_prob(con: duckdb.DuckDBPyConnection, run_id: str) -> float | None:
    row = con.execute(
        "SELECT max(decline_prob) FROM predictions WHERE run_id = ? AND method = 'self_route'", [run_id]
    ).fetchone()
    return row[0]


def calibrate(con: duckdb.DuckDBPyConnection, run_id: str) -> ThresholdChoice | None:
    """The frontier point with the lowest token % of LC whose score is within 1 point of LC's; None when the
    run has no frontier (it needs `self_route` with logprobs, and LC answers: the `lc` method's or Self-Route's own
    LC step's; see `self_route_steps`). The frontier replays Self-Route's own first step, so the τ is that of the
    router `ask` runs. A point no probability reaches routes as the text-only rule does: then no τ is picked."""
    top = max_decline_prob(con, run_id)
    if top is None:
        return None
    if top < NO_SIGNAL_BELOW:
        note = f'P("unanswerable") carries no signal: all below {NO_SIGNAL_BELOW} (max {top:.4f}); text-only rule'
        return ThresholdChoice(None, "no_signal", top, note)
    row = con.execute(
        "SELECT threshold, score, lc_score, token_pct_of_lc FROM routing_frontier "
        "WHERE run_id = ? AND score >= lc_score - ? ORDER BY token_pct_of_lc, threshold DESC LIMIT 1",
        [run_id, WITHIN_POINTS_OF_LC],
    ).fetchone()
    if row is None:
        exists = con.execute("SELECT count(*) FROM routing_frontier WHERE run_id = ?", [run_id]).fetchone()[0]
        if not exists:
            return None
        note = f"no threshold keeps the score within {WITHIN_POINTS_OF_LC:g} point of LC; text-only rule"
        return ThresholdChoice(None, "no_point", top, note)
    threshold, score, lc_score, pct = row
    note = f"score {score:.2f} vs LC {lc_score:.2f} at {pct:.1f}% of LC's tokens"
    if threshold > top:  # no probability reaches it: the text-only rule is already the best point
        return ThresholdChoice(None, "text_rule", top, f"no threshold beats the text-only rule ({note})")
    return ThresholdChoice(round(threshold, 4), "calibrated", top, note)


THRESHOLD_COLUMNS = ("run_id", "model", "dataset", "threshold", "source", "max_decline_prob", "note",
                     "chosen_at")  # fmt: skip


def record(
    con: duckdb.DuckDBPyConnection, run_id: str, model: str, dataset: str, choice: ThresholdChoice
) -> None:
    """Store the run's τ decision; a run closed again (a resume) replaces it."""
    row = [run_id, model, dataset, choice.threshold, choice.source, choice.max_decline_prob, choice.note,
           utc_now()]  # fmt: skip
    upsert(con, "decline_thresholds", ["run_id"], THRESHOLD_COLUMNS, [row])


def latest(con: duckdb.DuckDBPyConnection, model: str) -> float | None:
    """The τ of the model's latest run with a threshold decision (None: the text-only rule)."""
    row = con.execute(
        "SELECT threshold FROM decline_thresholds WHERE model = ? ORDER BY chosen_at DESC LIMIT 1", [model]
    ).fetchone()
    return row[0] if row else None


RULE_COLUMNS = ["k", "rule", "threshold", "n", "routed_to_lc", "score", "token_pct_of_lc", "lc_score"]


def rules(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """The paper's text-only rule and the thresholded rule side by side (the `routing_rules` view)."""
    rows = con.execute(
        f"SELECT {', '.join(RULE_COLUMNS)} FROM routing_rules WHERE run_id = ? ORDER BY k, rule", [run_id]
    ).fetchall()
    return [dict(zip(RULE_COLUMNS, row, strict=True)) for row in rows]


def decide(con: duckdb.DuckDBPyConnection, run_id: str, given: float | None) -> ThresholdChoice | None:
    """The run's τ: the given one, else calibrated from its frontier; None when the run has no Self-Route."""
    has_self_route = con.execute(
        "SELECT count(*) FROM predictions WHERE run_id = ? AND method = 'self_route'", [run_id]
    ).fetchone()[0]
    if not has_self_route:
        return None
    if given is not None:
        return ThresholdChoice(
            given, "given", max_decline_prob(con, run_id), "given with --decline-threshold"
        )
    return calibrate(con, run_id)
