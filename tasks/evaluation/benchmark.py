"""RAG vs long context vs Self-Route on a benchmark's own contexts, scored like the official code, into DuckDB.

Methods:
- `lc`: the data set's prompt with the whole context, truncated in the middle to fit the model's window;
- `rag`: the top-k chunks ordered by score, each with its chunk index;
- `rag_reorder`: the same chunks in the order of Jin et al. (best first, second best last; run at k ≥ 3);
- `rag_docorder`: the same chunks in document order (OP-RAG; run at k ≥ 2);
- `self_route`: the RAG prompt plus the paper's "unanswerable" clause; a declined question goes to `lc`;
- `learned_route`: the model's latest learned router for the data set (`tasks/routing/learned.py`) picks the
  arm before any call: `lc` where it predicts LC answers better, else `rag`; `self_route` without a router.
LongBench v2 uses its own templates (`longbench_v2.py`): `lc` is `0shot`, `0shot_cot` (a reasoning step, then
the answer step) or `0shot_no_context` as the config says; `rag` its RAG template, which puts the chunks in
document order itself (so `rag_reorder` and `rag_docorder` are not run there). LongBench's rule that a few
tasks are sent without the chat template is kept (`uses_chat_template`).
A failed prediction keeps its error and scores as LongBench scores an empty answer, so every method is scored
on the same examples (`predictions.prediction_row`). A run is resumable: the same run id answers only what is
missing (or failed) before.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from schemas.benchmarks import (
    MAX_NEW_TOKENS,
    Example,
    format_options,
    prompt_template,
    self_route_template,
    uses_chat_template,
)
from schemas.collection import collection_name, context_collection_config
from schemas.errors import RagrouteError
from schemas.evaluation import EvalConfig
from schemas.methods import RETRIEVAL_METHODS
from schemas.prices import cost_usd, load_prices, spent_usd
from schemas.settings import Settings
from tasks.clients.llm import LLM, Completion
from tasks.clients.profile import EndpointProfile, endpoint_profile
from tasks.clients.vectorstore import connect, replication_factor, use_collection
from tasks.evaluation import longbench_v2, scoring
from tasks.evaluation.nightly import data_fingerprint
from tasks.evaluation.predictions import Answer, Unit, prediction_row
from tasks.evaluation.retrieval import (
    RetrievedChunk,
    format_chunks,
    index_context,
    order_chunks,
    retrieve,
    same_as_rag,
)
from tasks.evaluation.summary import EvalSummary, close_run, code_version
from tasks.ingestion.embed import embed_texts
from tasks.routing import learned, self_route
from warehouse import results, routers
from warehouse.db import session_for

Progress = Callable[[str, int, int], None]


class BudgetExceeded(RagrouteError):
    """An evaluation's forecast or running spend is above its budget (`max_cost_usd`); the message says what
    was asked and how to resume."""


def stop_past_budget(run_id: str, done: int, total: int, spent: float, budget: float | None) -> None:
    """Raise `BudgetExceeded` once a run's spend has passed its budget with answers still to give (they are left
    to a resumed run)."""
    if budget is not None and spent > budget and done < total:
        raise BudgetExceeded(
            f"run {run_id} stopped after {done} of {total} answers: it spent ${spent:.4f}, above --max-cost-usd "
            f"${budget:.4f}; resume it with --run-id {run_id}"
        )


def plan_units(
    examples: list[Example], methods: list[str], ks: list[int], done: set[tuple[str, str, int]]
) -> tuple[list[tuple[Example, str, int]], list[str]]:
    """The (example, method, k) still to answer (not in `done`), and a note for each ordering left out because
    it gives `rag`'s prompt by construction (`same_as_rag`)."""
    units, skipped = [], {}
    for example in examples:
        for method in methods:
            for k in ks if method in RETRIEVAL_METHODS else [0]:
                note = same_as_rag(method, k, document_ordered=example.dataset == longbench_v2.DATASET)
                if note:
                    skipped[note] = None  # once per note, in order
                elif (example.id, method, k) not in done:
                    units.append((example, method, k))
    return units, list(skipped)


class BenchmarkRun:
    def __init__(
        self,
        examples: list[Example],
        config: EvalConfig,
        settings: Settings,
        progress: Progress | None = None,
    ):
        self.examples = examples
        self.config = config = config.with_defaults(settings)
        self.settings = settings
        self.model = config.model
        self.run_id = config.run_id or str(uuid.uuid4())
        self.progress = progress or (lambda message, done, total: None)
        self.profile: EndpointProfile = endpoint_profile(settings, self.model)
        self.tokenizer = self.profile.tokenizer
        self.prices = load_prices(settings.price_table)
        self.retrieved: dict[tuple[str, int], list[RetrievedChunk]] = {}
        self.features: dict[tuple[str, int], learned.RouteFeatures] = {}
        self.router: learned.TrainedRouter | None = None
        self._context_token_counts: dict[str, int] = {}

    # -- prompts ---------------------------------------------------------------------------------------
    def _fill(self, template: str, example: Example, context: str) -> str:
        return template.format(context=context, input=example.input, options=format_options(example.options))

    def max_new_tokens(self, example: Example) -> int:
        return MAX_NEW_TOKENS.get(example.dataset, 64)

    def _fit(self, prompt: str, example: Example, max_new: int | None = None) -> str:
        """The prompt cut in the middle, by the benchmark's own rule, to fill the endpoint's window less the
        answer's room and the chat template's overhead (`EndpointProfile.prompt_budget`)."""
        budget = self.profile.prompt_budget(max_new or self.max_new_tokens(example))
        rule = "longbench_v2" if example.dataset == longbench_v2.DATASET else "longbench"
        return self.tokenizer.truncate_middle(prompt, budget, rule)

    def lc_prompt(self, example: Example) -> str:
        if example.dataset == longbench_v2.DATASET:
            return self._fit(longbench_v2.build_prompt(example, self.config.longbench_v2_prompt), example)
        return self._fit(self._fill(prompt_template(example.dataset), example, example.context), example)

    def rag_prompt(self, example: Example, chunks: list[RetrievedChunk], method: str = "rag") -> str:
        """The RAG prompt of `rag` and its orderings, or Self-Route's first step (`self_route`: may decline)."""
        if example.dataset == longbench_v2.DATASET:
            return self._fit(longbench_v2.method_prompt(example, method, chunks=chunks), example)
        template = (
            self_route_template(example.dataset)
            if method == "self_route"
            else prompt_template(example.dataset)
        )
        return self._fit(self._fill(template, example, format_chunks(chunks)), example)

    async def _long_context(self, example: Example, llm: LLM) -> Completion:
        """The LC answer; LongBench v2's chain-of-thought mode reasons first, then answers from its reasoning."""
        max_new, chat = self.max_new_tokens(example), uses_chat_template(example.dataset)
        if example.dataset != longbench_v2.DATASET or self.config.longbench_v2_prompt != "0shot_cot":
            return await llm.complete(self.lc_prompt(example), max_new, chat=chat)
        thinking_budget = longbench_v2.COT_MAX_NEW_TOKENS
        prompt = self._fit(longbench_v2.build_prompt(example, "0shot_cot"), example, thinking_budget)
        thought = await llm.complete(prompt, thinking_budget)
        if not thought.ok:
            return thought
        answer_prompt = longbench_v2.build_prompt(example, "0shot_cot_ans", cot=thought.text)
        return thought.followed_by(await llm.complete(self._fit(answer_prompt, example), max_new))

    # -- running -----------------------------------------------------------------------------------------
    def run(self) -> EvalSummary:
        if "learned_route" in self.config.methods:
            self.router = learned.latest_router(self.settings, self.config.dataset, self.model)
        with session_for(self.settings) as con:
            results.refresh_prices(con, self.prices)
            results.start_run(
                con,
                self.run_id,
                self.config.dataset,
                self.config.methods,
                self._config_record(),
                code_version(),
                self.model,
                self.settings.llm_base_url,
            )
            results.write_examples(con, [
                [e.dataset, e.id, e.length, e.difficulty, e.length_class, e.domain, e.kind] for e in self.examples
            ])  # fmt: skip
            done = results.completed_units(con, self.run_id)
        units, skipped = plan_units(self.examples, self.config.methods, self.config.k, done)
        try:
            self.retrieve(units)
            llm = LLM(self.settings, model=self.model, count_tokens=self.tokenizer.count)
            errors = asyncio.run(self._answer_all(units, llm))
        except Exception:
            with session_for(self.settings) as con:
                results.finish_run(con, self.run_id, "failed")
            raise
        summary = close_run(
            self.settings,
            self.run_id,
            self.config.dataset,
            self.model,
            errors,
            llm.counter.requests,
            llm.counter.cached,
            self.config.decline_threshold,
        )
        summary.skipped = skipped + self._router_notes()
        return summary

    def _router_notes(self) -> list[str]:
        if "learned_route" not in self.config.methods:
            return []
        if self.router is None:
            return [f"learned_route ran as self_route: no router trained for {self.model} on {self.config.dataset} "
                    f"(`ragroute router train --dataset {self.config.dataset}`)"]  # fmt: skip
        return [learned.describe(self.router)]

    def _config_record(self) -> dict:
        return {"methods": self.config.methods, "ks": self.config.k, "retriever": self.config.retriever,
                "limit": self.config.limit, "decline_threshold": self.config.decline_threshold,
                "chunk_words": self.settings.eval_chunk_words,
                "hybrid_alpha": self.settings.eval_hybrid_alpha, "context_tokens": self.profile.window,
                "embedding_model": self.settings.embedding_model,
                "longbench_v2_prompt": self.config.longbench_v2_prompt,
                "endpoint_profile": self.profile.record(),
                "router_id": self.router.router_id if self.router else None,
                "data_fingerprint": data_fingerprint(self.examples, self.settings, None)}  # fmt: skip

    def retrieve(self, units: list[tuple[Example, str, int]], record: bool = True) -> None:
        """Index each needed context once and retrieve top-k for every (example, k) still to answer; the
        retrievals are stored with the run unless `record` is False (a forecast)."""
        needed = sorted({(example.id, k) for example, method, k in units if method in RETRIEVAL_METHODS})
        if not needed:
            return
        by_id = {example.id: example for example in self.examples}
        name = collection_name(self.settings.eval_collection, self.settings.embedding_model)
        with connect(self.settings) as client:
            if not client.collections.exists(name):
                factor = replication_factor(client, self.settings)
                client.collections.create(**context_collection_config(name, factor))
            collection = use_collection(client, name, self.settings)
            keys: dict[str, tuple[str, int]] = {}  # example id -> (context key, number of chunks)
            vectors: dict[str, list[float] | None] = {}  # one question embedding serves every k
            for done, (example_id, k) in enumerate(needed, start=1):
                example = by_id[example_id]
                if example_id not in keys:
                    keys[example_id] = index_context(collection, example.context, self.settings)
                    vectors[example_id] = (
                        None
                        if self.config.retriever == "bm25"
                        else embed_texts([example.input], self.settings)[0]
                    )
                chunks = retrieve(
                    collection,
                    keys[example_id][0],
                    example.input,
                    k,
                    self.config.retriever,
                    self.settings,
                    vectors[example_id],
                )
                self.retrieved[(example_id, k)] = chunks
                self.features[(example_id, k)] = learned.RouteFeatures(
                    example.input, example.kind, [chunk.score for chunk in chunks],
                    self.tokenizer.count("\n".join(chunk.text for chunk in chunks)), self._context_tokens(example),
                )  # fmt: skip
                rows = [
                    [self.run_id, example_id, k, self.config.retriever, rank, chunk.chunk_id, chunk.chunk_index,
                     chunk.score, any(sentence in chunk.text for sentence in example.evidence)
                     if example.evidence else None, keys[example_id][1]]
                    for rank, chunk in enumerate(chunks, start=1)
                ]  # fmt: skip
                if record:
                    features = self.features[(example_id, k)].record()
                    with session_for(self.settings) as con:
                        results.write_retrievals(con, rows)
                        routers.write_route_features(
                            con, [{"run_id": self.run_id, "example_id": example_id, "k": k} | features]
                        )
                self.progress("retrieving", done, len(needed))

    def _context_tokens(self, example: Example) -> int:
        if example.id not in self._context_token_counts:
            self._context_token_counts[example.id] = self.tokenizer.count(example.context)
        return self._context_token_counts[example.id]

    async def _answer_all(self, units: list[tuple[Example, str, int]], llm: LLM) -> int:
        """Answer and store every unit; with a budget (`max_cost_usd`), stop once the run's spend passes it: the
        units not answered are left to a resumed run."""
        errors, spent, budget = 0, 0.0, self.config.max_cost_usd
        tasks = [asyncio.ensure_future(self._answer(example, method, k, llm)) for example, method, k in units]
        try:
            for done, future in enumerate(asyncio.as_completed(tasks), start=1):
                row, score = await future
                with session_for(self.settings) as con:
                    results.write_prediction(con, row, score)
                errors += row["error"] is not None
                spent += row["spent_cost_usd"] or 0.0
                self.progress(f"{row['method']} {row['example_id']}", done, len(units))
                stop_past_budget(self.run_id, done, len(units), spent, budget)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await llm.aclose()
        return errors

    def routed_method(self, example: Example, method: str, k: int) -> str:
        """The steps a method takes: `learned_route` is the arm its router predicts (`lc` or `rag`), and
        `self_route` without a router."""
        if method != "learned_route":
            return method
        if self.router is None:
            return "self_route"
        return "lc" if self.router.needs_lc_for(self.features[(example.id, k)], example.id) else "rag"

    async def _answer(self, example: Example, method: str, k: int, llm: LLM) -> tuple[dict, tuple | None]:
        max_new, chat = self.max_new_tokens(example), uses_chat_template(example.dataset)
        chunks = order_chunks(method, self.retrieved.get((example.id, k), []))
        steps = self.routed_method(example, method, k)

        def rag():
            prompt = self.rag_prompt(example, chunks, steps)
            return llm.complete(prompt, max_new, want_logprobs=steps == "self_route", chat=chat)

        routed = await self_route.answer(
            steps, rag, lambda: self._long_context(example, llm), self.config.decline_threshold
        )
        return self._row(example, method, k, routed)

    def _row(self, example: Example, method: str, k: int, routed: self_route.Routed) -> tuple[dict, tuple]:
        """The prediction row and its score (`predictions.prediction_row`); the list cost prices the answer,
        the spent cost what the calls were billed."""
        first, step1, billed = routed.first_step, routed.answered_first_step, routed.billed
        unit = Unit(self.run_id, example.id, example.dataset, method, k,
                    self.config.retriever if method in RETRIEVAL_METHODS else None, self.model)  # fmt: skip
        answer = Answer(
            text=routed.final.text, route=routed.route, error=routed.error,
            prompt_tokens=routed.prompt_tokens, completion_tokens=routed.completion_tokens,
            cached_prompt_tokens=routed.cached_prompt_tokens,
            cost_usd=cost_usd(self.prices, self.model, routed.prompt_tokens, routed.completion_tokens),
            spent_cost_usd=spent_usd(self.prices, self.model, billed.prompt_tokens, billed.cached_prompt_tokens,
                                     billed.completion_tokens),
            latency_ms=sum(c.latency_ms for c in routed.spent), cached=all(c.cached for c in routed.spent),
            tokens_estimated=any(c.tokens_estimated for c in routed.spent),
            decline_prob=first.decline_prob if first else None,
            step1_text=(step1.text or "") if step1 else None, step1_declined=routed.text_declined,
            step1_prompt_tokens=step1.prompt_tokens if step1 else None,
            step1_completion_tokens=step1.completion_tokens if step1 else None,
        )  # fmt: skip
        metric = scoring.TASK_METRICS[example.dataset].__name__
        return prediction_row(unit, answer, metric, lambda text: self._score(example, text))

    @staticmethod
    def _score(example: Example, text: str) -> float:
        return scoring.score_record(
            example.dataset, text, example.answers, example.all_classes, example.options
        )


def evaluate_benchmark(
    examples: list[Example], config: EvalConfig, settings: Settings, progress: Progress | None = None
) -> EvalSummary:
    return BenchmarkRun(examples, config, settings, progress).run()
