"""Self-Route's decline threshold τ: the routing rule, the calibration from a run's own frontier in DuckDB, and
the latest τ per model."""

from __future__ import annotations

import asyncio

import pytest

from schemas.evaluation import EvalConfig, InvalidEvalConfig
from tasks.clients.llm import Completion
from tasks.routing import self_route
from warehouse import results, thresholds
from warehouse.db import connect


@pytest.mark.parametrize(
    ("text", "prob", "tau", "declined"),
    [
        ("unanswerable", 0.9, None, True),
        ("Room 42.", 0.9, None, False),  # the paper's rule reads only the text
        ("Room 42.", 0.06, 0.05, True),
        ("Room 42.", 0.04, 0.05, False),
        ("Room 42.", None, 0.05, False),  # no logprobs: the text decides
        ("The answer is unanswerable.", 0.0, 0.5, True),
    ],
)
def test_declines_on_the_text_or_the_probability(text, prob, tau, declined):
    assert self_route.declines(Completion(text=text, decline_prob=prob), tau) is declined


def test_the_threshold_sends_a_likely_decline_to_long_context():
    async def rag():
        return Completion(text="Room 12.", prompt_tokens=10, decline_prob=0.2)

    async def lc():
        return Completion(text="Room 47.", prompt_tokens=100)

    paper = asyncio.run(self_route.answer("self_route", rag, lc))
    thresholded = asyncio.run(self_route.answer("self_route", rag, lc, threshold=0.1))
    assert (paper.route, paper.final.text, paper.text_declined) == ("rag", "Room 12.", False)
    assert (thresholded.route, thresholded.final.text, thresholded.prompt_tokens) == ("lc", "Room 47.", 110)


def test_eval_config_checks_the_threshold():
    assert EvalConfig.checked(dataset="mini", decline_threshold=0.05).decline_threshold == 0.05
    with pytest.raises(InvalidEvalConfig, match="decline_threshold"):
        EvalConfig.checked(dataset="mini", decline_threshold=1.5)


def _run(con, run_id: str, model: str, examples: list[tuple[str, float, float, float]]) -> None:
    """A run of lc, rag and self_route: per example (step-1 text, decline_prob, step-1 score, lc score). The
    `rag` rows' tokens and scores differ from Self-Route's first step: the replay must not read them."""
    results.start_run(con, run_id, "mini", ["lc", "rag", "self_route"], {}, "test", model, "http://l")
    for number, (text, prob, rag_score, lc_score) in enumerate(examples):
        example = f"e{number}"
        base = {"run_id": run_id, "example_id": example, "dataset": "mini", "model": model, "error": None}
        results.write_prediction(
            con, base | {"method": "lc", "k": 0, "prompt_tokens": 1000}, ("f1", lc_score)
        )
        results.write_prediction(
            con, base | {"method": "rag", "k": 5, "prompt_tokens": 90}, ("f1", 1 - rag_score)
        )
        declined = self_route.is_declined(text)
        row = base | {"method": "self_route", "k": 5, "prompt_tokens": 1100 if declined else 100,
                      "step1_prediction": text, "decline_prob": prob, "step1_declined": declined,
                      "route": "lc" if declined else "rag", "step1_prompt_tokens": 100, "step1_score": rag_score}  # fmt: skip
        results.write_prediction(con, row, ("f1", lc_score if declined else rag_score))
    results.finish_run(con, run_id, "completed")


def test_calibration_picks_the_cheapest_threshold_within_a_point_of_lc(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        # Two answerable questions RAG gets right; two unanswerable ones where RAG answers wrongly but
        # P("unanswerable") is high, and LC declines correctly; one the text declines.
        _run(con, "r1", "Qwen", [("Room 1", 0.002, 1, 1), ("Room 2", 0.025, 1, 1), ("Room 9", 0.3, 0, 1),
                                  ("Room 8", 0.07, 0, 1), ("unanswerable", 0.9, 0, 1)])  # fmt: skip
        choice = thresholds.decide(con, "r1", None)
        assert (choice.threshold, choice.source) == (0.05, "calibrated"), choice
        thresholds.record(con, "r1", "Qwen", "mini", choice)
        rules = {row["rule"]: row for row in thresholds.rules(con, "r1")}
        assert (rules["text"]["routed_to_lc"], rules["text"]["score"]) == (1, 60.0)
        assert (rules["threshold"]["routed_to_lc"], rules["threshold"]["score"]) == (3, 100.0)
        assert rules["threshold"]["token_pct_of_lc"] == 70.0  # 5 × 100 RAG + 3 × 1000 LC of 5000
        assert thresholds.latest(con, "Qwen") == 0.05 and thresholds.latest(con, "Other") is None


def test_no_signal_is_said_instead_of_picking_a_threshold(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        _run(con, "r2", "SmolLM2", [("Room 1", 0.001, 1, 1), ("Room 9", 0.002, 0, 1)])
        choice = thresholds.decide(con, "r2", None)
        assert choice.threshold is None and choice.source == "no_signal" and "no signal" in choice.note
        thresholds.record(con, "r2", "SmolLM2", "mini", choice)
        assert [row["rule"] for row in thresholds.rules(con, "r2")] == ["text"]
        assert thresholds.latest(con, "SmolLM2") is None
        given = thresholds.decide(con, "r2", 0.2)
        assert (given.threshold, given.source) == (0.2, "given")


def test_a_threshold_no_probability_reaches_is_not_picked(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:  # RAG is right whenever the text does not decline
        _run(con, "r3", "Qwen", [("Room 1", 0.02, 1, 1), ("unanswerable", 0.3, 0, 1), ("Room 3", 0.05, 1, 0)])
        choice = thresholds.decide(con, "r3", None)
        assert choice.threshold is None and choice.source == "text_rule", choice
        given = thresholds.decide(con, "r3", 0.2)
        assert (given.threshold, given.source) == (0.2, "given")
