"""The prediction row of one (example, method, k) and its score, whichever way the answer came (a benchmark's
own contexts or `ragroute ask` over a collection): one builder, so both store the same columns the same way.

A failed answer keeps its error and has no prediction, route or list cost; it scores as an empty answer (as
LongBench scores one), so every method is scored on the same examples. Self-Route's first step, when it
answered, is scored on its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Unit:
    """What was asked: one example, by one method at one k, in one run."""

    run_id: str
    example_id: str
    dataset: str
    method: str
    k: int
    retriever: str | None
    model: str


@dataclass(frozen=True)
class Answer:
    """What came back for a unit, with what it cost."""

    text: str | None
    route: str | None
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    cost_usd: float | None  # list cost of the answer's tokens
    spent_cost_usd: float | None  # what its calls were billed
    latency_ms: float
    cached: bool = False
    tokens_estimated: bool = False
    decline_prob: float | None = None  # Self-Route's first step: P("unanswerable")
    step1_text: str | None = None  # Self-Route's first step, when it answered
    step1_declined: bool | None = None
    step1_prompt_tokens: int | None = None
    step1_completion_tokens: int | None = None


def prediction_row(
    unit: Unit, answer: Answer, metric: str, score: Callable[[str], float]
) -> tuple[dict, tuple[str, float]]:
    """The `predictions` row of `unit` and its (metric, score); `score` scores a text against the gold."""
    failed = answer.error is not None
    row = asdict(unit) | {
        "route": None if failed else answer.route, "prediction": None if failed else answer.text,
        "error": answer.error, "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens, "cached_prompt_tokens": answer.cached_prompt_tokens,
        "tokens_estimated": answer.tokens_estimated, "cost_usd": None if failed else answer.cost_usd,
        "spent_cost_usd": answer.spent_cost_usd, "latency_ms": answer.latency_ms, "cached": answer.cached,
        "decline_prob": answer.decline_prob, "step1_prediction": answer.step1_text,
        "step1_declined": answer.step1_declined, "step1_prompt_tokens": answer.step1_prompt_tokens,
        "step1_completion_tokens": answer.step1_completion_tokens,
        "step1_score": None if answer.step1_text is None else score(answer.step1_text),
    }  # fmt: skip
    return row, (metric, score("" if failed else answer.text or ""))
