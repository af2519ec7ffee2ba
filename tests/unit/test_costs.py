"""List and spent cost: the price table's cached-input column, what a call is billed, and what a Self-Route
answer paid for on the way (a cache hit is free, a failed step's paid attempts count)."""

from __future__ import annotations

import asyncio

import pytest
from openai.types import CompletionUsage

from schemas.prices import Price, cost_usd, load_prices, spent_usd
from schemas.settings import PROJECT_ROOT
from tasks.clients.llm import Billed, Completion, _billed_usage, _cached_prompt_tokens
from tasks.evaluation import scoring
from tasks.routing import self_route

PRICES = load_prices(PROJECT_ROOT / "schemas" / "prices.yaml")


def test_the_price_table_has_openai_cached_input_prices():
    cached = {model: price.cached_input_usd_per_m for model, price in PRICES.items()}
    assert cached["gpt-4o"] == 1.25 and cached["gpt-4o-mini"] == 0.075
    assert cached["gpt-4o-2024-05-13"] is None and cached["gpt-3.5-turbo"] is None  # billed as input
    assert cached["SmolLM2-135M-Instruct"] == cached["Qwen2.5-Coder-0.5B-Instruct"] == 0.0


def test_cached_input_tokens_are_billed_at_the_cached_price():
    # 10k prompt tokens of which 8k from the provider's cache, 100 completion tokens, on gpt-4o.
    assert cost_usd(PRICES, "gpt-4o", 10_000, 100) == pytest.approx((10_000 * 2.5 + 100 * 10) / 1e6)
    assert spent_usd(PRICES, "gpt-4o", 10_000, 8_000, 100) == pytest.approx(
        (2_000 * 2.5 + 8_000 * 1.25 + 100 * 10) / 1e6
    )
    # Without a cached-input price the cached tokens cost what input costs.
    assert spent_usd(PRICES, "gpt-3.5-turbo", 10_000, 8_000, 100) == cost_usd(
        PRICES, "gpt-3.5-turbo", 10_000, 100
    )
    assert spent_usd(PRICES, "unpriced-model", 1, 0, 1) is None
    assert Price(1.0, 2.0).spent_usd(1_000_000, 0, 0) == 1.0


def test_usage_with_prompt_cache_details_is_read():
    usage = CompletionUsage.model_validate(
        {"prompt_tokens": 900, "completion_tokens": 12, "total_tokens": 912,
         "prompt_tokens_details": {"cached_tokens": 768}}
    )  # fmt: skip
    assert _cached_prompt_tokens(usage) == 768
    assert _billed_usage(type("Response", (), {"usage": usage})()) == Billed(900, 768, 12)
    plain = CompletionUsage(prompt_tokens=5, completion_tokens=1, total_tokens=6)  # llama.cpp reports none
    assert _cached_prompt_tokens(plain) == 0
    assert _billed_usage("not json") == Billed()  # a body that is not JSON reports nothing


def _answer(text: str | None, tokens: int, *, cached: bool = False, error: str | None = None) -> Completion:
    billed = Billed() if cached else Billed(tokens, 0, 2 if text else 0)
    return Completion(
        text, tokens if text else 0, 2 if text else 0, cached=cached, error=error, billed=billed
    )


def _route(first: Completion, second: Completion) -> self_route.Routed:
    async def rag() -> Completion:
        return first

    async def lc() -> Completion:
        return second

    return asyncio.run(self_route.answer("self_route", rag, lc))


def test_a_self_route_answer_pays_for_its_rag_step_even_when_lc_fails():
    failed = _route(_answer("unanswerable", 300), _answer(None, 0, error="InternalServerError: 500"))
    assert failed.error and failed.answered_first_step is not None
    assert failed.billed == Billed(300, 0, 2)  # the RAG step was answered and paid for
    # A resume finds the RAG step in ragroute's cache: it costs nothing the second time.
    resumed = _route(_answer("unanswerable", 300, cached=True), _answer("Paris", 4000))
    assert (resumed.prompt_tokens, resumed.billed) == (4300, Billed(4000, 0, 2))


def test_two_calls_as_one_answer_bill_each_call_once():
    thought = _answer("reasoning", 5000, cached=True)  # from the cache
    answer = _answer("B", 5100)
    both = thought.followed_by(answer)
    assert (both.prompt_tokens, both.billed, both.cached) == (10_100, Billed(5100, 0, 2), False)


@pytest.mark.parametrize("task", scoring.SUPPORTED_TASKS)
def test_an_empty_answer_scores_zero_under_every_metric(task):
    """LongBench scores a failed generation as an empty answer; under every metric that scores 0."""
    gold = {"longbench_v2": "A", "passage_count": "5"}
    answers = ["Paragraph 3"] if task.startswith("passage_retrieval") else [gold.get(task, "Paris is the capital")]
    options = ["a", "b", "c", "d"] if task in ("longbench_v2", "infbench_en_mc") else None
    assert scoring.score_record(task, "", answers, ["class a", "class b"], options) == 0.0
