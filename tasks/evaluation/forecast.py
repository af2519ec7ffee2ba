"""What an evaluation will cost, before it runs: every prompt of a benchmark run built as the run builds it
(retrieval included), counted with the endpoint profile's tokenizer as the server counts it, looked up in the
response cache, and priced. No LLM call is made and no run is recorded.

Completion tokens are forecast at their limit (each call's `max_tokens`), so list and spent dollars are upper
bounds on the answers' side. Self-Route's LC step is forecast for the share of questions its first step sent to
LC in the latest completed run of the same data set, model and k, or for every question when there is none.
Benchmark data sets only: a collection's questions are answered through `ragroute ask`, not forecast yet.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from schemas.benchmarks import Example, uses_chat_template
from schemas.errors import RagrouteError
from schemas.evaluation import EvalConfig
from schemas.settings import Settings
from tasks.clients.llm import LLM
from tasks.evaluation.benchmark import BenchmarkRun, BudgetExceeded, plan_units
from tasks.evaluation.retrieval import order_chunks
from warehouse import results
from warehouse.db import session_for


class ForecastUnavailable(RagrouteError):
    """The data set is not one a forecast covers (a collection's questions, replayed asks, a corpus QA file)."""


@dataclass
class MethodForecast:
    """One method and k: calls, prompt tokens and completion tokens at most, how many answers the cache already
    holds, and list and spent dollars (None: the model has no price)."""

    method: str
    k: int
    units: int = 0
    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    max_completion_tokens: int = 0
    spent_prompt_tokens: int = 0  # of prompt_tokens, those of calls the cache does not hold
    spent_completion_tokens: int = 0
    list_cost_usd: float | None = None
    spent_cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Forecast:
    dataset: str
    model: str
    methods: list[MethodForecast]

    @property
    def spent_cost_usd(self) -> float | None:
        costs = [m.spent_cost_usd for m in self.methods]
        return None if any(c is None for c in costs) else sum(costs)

    @property
    def list_cost_usd(self) -> float | None:
        costs = [m.list_cost_usd for m in self.methods]
        return None if any(c is None for c in costs) else sum(costs)


def forecast_benchmark(examples: list[Example], config: EvalConfig, settings: Settings) -> Forecast:
    """The forecast of a benchmark run over `examples` (all of its units, as a new run would answer them)."""
    run = BenchmarkRun(examples, config, settings)
    units, _ = plan_units(examples, run.config.methods, run.config.k, done=set())
    run.retrieve(units, record=False)
    llm = LLM(settings, model=run.model, count_tokens=run.tokenizer.count)
    lc_shares = _lc_shares(settings, examples[0].dataset, run.model) if examples else {}
    forecasts: dict[tuple[str, int], MethodForecast] = {}
    try:
        for example, method, k in units:
            forecast = forecasts.setdefault((method, k), MethodForecast(method, k))
            forecast.units += 1
            for prompt, share, logprobs in _calls(run, example, method, k, lc_shares):
                _count(forecast, run, llm, example, prompt, share, logprobs)
    finally:
        asyncio.run(llm.aclose())
    for forecast in forecasts.values():
        _price(forecast, run)
        if forecast.method in ("self_route", "learned_route"):
            share = lc_shares.get(forecast.k)
            forecast.notes.append(
                "LC step for every question (no earlier run)" if share is None
                else f"LC step for {share:.0%} of questions, as in the latest run"
            )
    return Forecast(run.config.dataset, run.model, list(forecasts.values()))


def check_budget(forecast: Forecast, max_cost_usd: float) -> None:
    """Raise `BudgetExceeded` when the forecast spend is above the budget (or unknown: the model has no price)."""
    spent = forecast.spent_cost_usd
    if spent is None:
        raise BudgetExceeded(
            f"no price for {forecast.model} in the price table: the spend of {forecast.dataset} cannot be checked "
            f"against --max-cost-usd {max_cost_usd}"
        )
    if spent > max_cost_usd:
        raise BudgetExceeded(
            f"{forecast.dataset} is forecast to spend up to ${spent:.4f}, above --max-cost-usd ${max_cost_usd:.4f}: "
            "nothing was asked (lower --limit or k, or raise the budget)"
        )


def _calls(run: BenchmarkRun, example: Example, method: str, k: int, lc_shares: dict[int, float]):
    """(prompt, share of the call forecast, logprobs wanted) of each call the unit makes; `learned_route` is
    forecast as Self-Route, its most (a question it sends straight to LC saves the RAG step)."""
    method = "self_route" if method == "learned_route" else method
    if method == "lc":
        return [(run.lc_prompt(example), 1.0, False)]
    chunks = order_chunks(method, run.retrieved.get((example.id, k), []))
    calls = [(run.rag_prompt(example, chunks, method), 1.0, method == "self_route")]
    if method == "self_route":
        calls.append((run.lc_prompt(example), lc_shares.get(k, 1.0), False))
    return calls


def _count(forecast: MethodForecast, run: BenchmarkRun, llm: LLM, example: Example, prompt: str, share: float,
           logprobs: bool) -> None:  # fmt: skip
    chat = uses_chat_template(example.dataset)
    max_new = run.max_new_tokens(example)
    tokens = _prompt_tokens(run, prompt, chat)
    cached = llm.holds(prompt, max_new, want_logprobs=logprobs, chat=chat)
    forecast.calls += 1
    forecast.cached += cached
    forecast.prompt_tokens += round(share * tokens)
    forecast.max_completion_tokens += round(share * max_new)
    if not cached:
        forecast.spent_prompt_tokens += round(share * tokens)
        forecast.spent_completion_tokens += round(share * max_new)


def _prompt_tokens(run: BenchmarkRun, prompt: str, chat: bool) -> int:
    """The prompt's tokens as the server counts them: with its chat template where the tokenizer knows it."""
    tokenizer = run.tokenizer
    if not chat:
        return tokenizer.count(prompt)
    if tokenizer.count_chat is not None:
        return tokenizer.count_chat(prompt)
    return tokenizer.count(prompt) + run.profile.template_tokens


def _price(forecast: MethodForecast, run: BenchmarkRun) -> None:
    price = run.prices.get(run.model)
    if price is None:
        return
    forecast.list_cost_usd = price.cost_usd(forecast.prompt_tokens, forecast.max_completion_tokens)
    forecast.spent_cost_usd = price.cost_usd(forecast.spent_prompt_tokens, forecast.spent_completion_tokens)


def _lc_shares(settings: Settings, dataset: str, model: str) -> dict[int, float]:
    """k -> the share of questions Self-Route sent to LC in the latest completed run of the data set and model."""
    with session_for(settings) as con:
        answered = results.latest_answerable_pct(con, dataset, model)
    return {k: 1 - pct / 100 for k, pct in answered.items() if pct is not None}

