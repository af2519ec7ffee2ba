"""What an evaluation will cost, before it runs: every prompt of a benchmark run built as the run builds it
(retrieval included), counted with the endpoint profile's tokenizer as the server counts it, looked up in the
response cache, and priced. No LLM call is made and no run is recorded.

Completion tokens are forecast at their limit (each call's `max_tokens`), so list and spent dollars are upper
bounds on the answers' side. Self-Route's LC step is forecast for the share of questions its first step sent to
LC in the latest completed run of the same data set, model and k, or for every question when there is none;
`learned_route` as Self-Route, its most. A collection's questions are forecast as `ragroute ask` prompts them
(retrieval from the collection; LC: the documents behind the retrieved chunks); the stricter second prompt
`ask` sends after an answer no passage supports is not forecast.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from schemas.benchmarks import CorpusQuestion, Example, uses_chat_template
from schemas.evaluation import EvalConfig
from schemas.prices import Price
from schemas.settings import Settings
from tasks.clients.llm import LLM
from tasks.clients.profile import EndpointProfile
from tasks.clients.vectorstore import connect, use_collection
from tasks.evaluation.benchmark import BenchmarkRun, BudgetExceeded, plan_units
from tasks.evaluation.corpus import ASK_METHOD_OF, corpus_dataset, corpus_units
from tasks.evaluation.retrieval import order_chunks
from tasks.routing.ask import ASK_MAX_NEW_TOKENS, Asker
from warehouse import results
from warehouse.db import session_for


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
            chat, max_new = uses_chat_template(example.dataset), run.max_new_tokens(example)
            for prompt, share, logprobs in _calls(run, example, method, k, lc_shares):
                tokens = _prompt_tokens(run.profile, prompt, chat)
                _count(forecast, llm.holds(prompt, max_new, want_logprobs=logprobs, chat=chat), tokens, max_new,
                       share)  # fmt: skip
    finally:
        asyncio.run(llm.aclose())
    return _priced(Forecast(run.config.dataset, run.model, list(forecasts.values())), run.prices, lc_shares)


def forecast_corpus(questions: list[CorpusQuestion], config: EvalConfig, settings: Settings) -> Forecast:
    """The forecast of a collection's questions answered through `ask` (`evaluate_corpus`), as a new run would."""
    config = config.with_defaults(settings)
    asker = Asker(settings, config.collection, config.decline_threshold)
    threshold, dataset = asker.threshold(), corpus_dataset(config.dataset)
    lc_shares = _lc_shares(settings, dataset, settings.llm_model)
    llm = LLM(settings, count_tokens=asker.tokenizer.count)
    forecasts: dict[tuple[str, int], MethodForecast] = {}
    try:
        with connect(settings) as client:
            collection = use_collection(client, asker.collection_name, settings)
            for question, method, k in corpus_units(questions, config.methods, config.k):
                forecast = forecasts.setdefault((method, k), MethodForecast(method, k))
                forecast.units += 1
                calls = asker.planned_calls(collection, question.question, ASK_METHOD_OF[method],
                                            k or settings.eval_top_k, threshold, lc_shares.get(k, 1.0))  # fmt: skip
                for prompt, share, logprobs in calls:
                    tokens = _prompt_tokens(asker.profile, prompt, chat=True)
                    _count(forecast, llm.holds(prompt, ASK_MAX_NEW_TOKENS, want_logprobs=logprobs), tokens,
                           ASK_MAX_NEW_TOKENS, share)  # fmt: skip
    finally:
        asyncio.run(llm.aclose())
    return _priced(Forecast(dataset, settings.llm_model, list(forecasts.values())), asker.prices, lc_shares)


def _priced(forecast: Forecast, prices: dict[str, Price], lc_shares: dict[int, float]) -> Forecast:
    """Each method's dollars, and how much of Self-Route's LC step was forecast."""
    for method in forecast.methods:
        _price(method, prices.get(forecast.model))
        if method.method in ("self_route", "learned_route"):
            share = lc_shares.get(method.k)
            method.notes.append(
                "LC step for every question (no earlier run)" if share is None
                else f"LC step for {share:.0%} of questions, as in the latest run"
            )
    return forecast


@dataclass
class NightBudget:
    """A nightly plan's `budget_usd`, shared by its evaluations in order: each runs capped at what is left."""

    total: float | None
    spent: float = 0.0

    def cap(self, evaluation: EvalConfig) -> EvalConfig | None:
        """The evaluation with its `max_cost_usd` lowered to what is left; None when nothing is."""
        if self.total is None:
            return evaluation
        left = self.total - self.spent
        if left <= 0:
            return None
        own = evaluation.max_cost_usd
        return evaluation.model_copy(update={"max_cost_usd": left if own is None else min(own, left)})

    def note(self) -> str:
        """What the night's budget left for the evaluation it stopped (nothing without a budget)."""
        if self.total is None:
            return ""
        return f" (the plan's budget_usd ${self.total:.4f}, ${self.total - self.spent:.4f} of it left)"

    def charge(self, methods: list[dict]) -> None:
        """Add what a run's calls were billed (`method_summary` rows; answers from the cache cost nothing)."""
        self.spent += sum(row["spent_cost_usd"] or 0.0 for row in methods)


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


def _count(forecast: MethodForecast, cached: bool, tokens: int, max_new: int, share: float) -> None:
    """Add one call: `share` of its prompt tokens and completion limit (of those spent, unless `cached`)."""
    forecast.calls += 1
    forecast.cached += cached
    forecast.prompt_tokens += round(share * tokens)
    forecast.max_completion_tokens += round(share * max_new)
    if not cached:
        forecast.spent_prompt_tokens += round(share * tokens)
        forecast.spent_completion_tokens += round(share * max_new)


def _prompt_tokens(profile: EndpointProfile, prompt: str, chat: bool) -> int:
    """The prompt's tokens as the server counts them: with its chat template where the tokenizer knows it."""
    tokenizer = profile.tokenizer
    if not chat:
        return tokenizer.count(prompt)
    if tokenizer.count_chat is not None:
        return tokenizer.count_chat(prompt)
    return tokenizer.count(prompt) + profile.template_tokens


def _price(forecast: MethodForecast, price: Price | None) -> None:
    if price is None:
        return
    forecast.list_cost_usd = price.cost_usd(forecast.prompt_tokens, forecast.max_completion_tokens)
    forecast.spent_cost_usd = price.cost_usd(forecast.spent_prompt_tokens, forecast.spent_completion_tokens)


def _lc_shares(settings: Settings, dataset: str, model: str) -> dict[int, float]:
    """k -> the share of questions Self-Route sent to LC in the latest completed run of the data set and model."""
    with session_for(settings) as con:
        answered = results.latest_answerable_pct(con, dataset, model)
    return {k: 1 - pct / 100 for k, pct in answered.items() if pct is not None}

