"""RAG vs long context vs Self-Route on one data set, scored like the official benchmarks, into DuckDB.

Methods:
- `lc`: the data set's prompt with the whole context, truncated in the middle to fit the model's window;
- `rag`: the top-k chunks ordered by score, each with its chunk index;
- `rag_reorder`: the same chunks in the order of Jin et al. (best first, second best last);
- `self_route`: the RAG prompt plus the paper's "unanswerable" clause; a declined question goes to `lc`.
A run is resumable: the same run id answers only what is missing (or failed) before.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.benchmarks import (
    MAX_NEW_TOKENS,
    CorpusQuestion,
    Example,
    format_options,
    prompt_template,
    self_route_template,
)
from schemas.collection import collection_name, context_collection_config
from schemas.settings import PROJECT_ROOT, Settings
from tasks import scoring
from tasks.embed import embed_texts
from tasks.llm import LLM, Completion
from tasks.retrieval import RetrievedChunk, format_chunks, index_context, reorder, retrieve
from tasks.tokens import Tokenizer, tokenizer_for
from tasks.vectorstore import connect
from warehouse import results
from warehouse.db import session

METHODS = ("lc", "rag", "rag_reorder", "self_route")
RETRIEVAL_METHODS = {"rag", "rag_reorder", "self_route"}
PROMPT_MARGIN_TOKENS = 64  # room for the chat template around the prompt

Progress = Callable[[str, int, int], None]


@dataclass
class EvalConfig:
    dataset: str
    methods: list[str] = field(default_factory=lambda: ["lc", "rag", "self_route"])
    ks: list[int] = field(default_factory=lambda: [5])
    retriever: str = "hybrid"
    model: str | None = None
    run_id: str | None = None
    limit: int | None = None

    def validate(self) -> None:
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(
                f"unknown method(s) {', '.join(sorted(unknown))}: choose from {', '.join(METHODS)}"
            )
        if any(k < 1 for k in self.ks):
            raise ValueError("k must be at least 1")
        if self.retriever not in ("dense", "bm25", "hybrid"):
            raise ValueError(f"unknown retriever {self.retriever!r}: use dense, bm25 or hybrid")


@dataclass
class EvalSummary:
    run_id: str
    dataset: str
    model: str
    status: str
    llm_calls: int
    cached_calls: int
    errors: int
    methods: list[dict]


def code_version() -> str:
    from ragroute import __version__

    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except OSError:
        sha = ""
    return f"{__version__}+{sha}" if sha else __version__


def is_declined(answer: str) -> bool:
    """Self-Route's routing signal: the model's answer contains the word "unanswerable" (it may say it in a
    sentence: "The answer is unanswerable."). Only the model's output is read, never the document."""
    return "unanswerable" in scoring.normalize_answer(answer).split()


def finish(
    settings: Settings, run_id: str, dataset: str, model: str, errors: int, llm_calls: int, cached_calls: int
) -> EvalSummary:
    """Close the run in the warehouse and summarise it per method."""
    status = "completed_with_errors" if errors else "completed"
    with session(settings.warehouse_path) as con:
        results.finish_run(con, run_id, status)
        methods = results.method_summary(con, run_id)
    return EvalSummary(
        run_id=run_id,
        dataset=dataset,
        model=model,
        status=status,
        llm_calls=llm_calls,
        cached_calls=cached_calls,
        errors=errors,
        methods=methods,
    )


class Evaluation:
    def __init__(
        self,
        examples: list[Example],
        config: EvalConfig,
        settings: Settings,
        progress: Progress | None = None,
    ):
        config.validate()
        self.examples = examples
        self.config = config
        self.settings = settings
        self.model = config.model or settings.llm_model
        self.run_id = config.run_id or str(uuid.uuid4())
        self.progress = progress or (lambda message, done, total: None)
        self.tokenizer: Tokenizer = tokenizer_for(settings, self.model)
        self.prices = results.load_prices(settings.price_table)
        self.retrieved: dict[tuple[str, int], list[RetrievedChunk]] = {}

    # -- prompts ---------------------------------------------------------------------------------------
    def _fill(self, template: str, example: Example, context: str) -> str:
        return template.format(context=context, input=example.input, options=format_options(example.options))

    def _max_new_tokens(self, example: Example) -> int:
        return MAX_NEW_TOKENS.get(example.dataset, 64)

    def _fit(self, prompt: str, example: Example) -> str:
        budget = self.settings.llm_context_tokens - self._max_new_tokens(example) - PROMPT_MARGIN_TOKENS
        return self.tokenizer.truncate_middle(prompt, budget)

    def lc_prompt(self, example: Example) -> str:
        return self._fit(self._fill(prompt_template(example.dataset), example, example.context), example)

    def rag_prompt(self, example: Example, chunks: list[RetrievedChunk], declinable: bool = False) -> str:
        template = self_route_template(example.dataset) if declinable else prompt_template(example.dataset)
        return self._fit(self._fill(template, example, format_chunks(chunks)), example)

    # -- running -----------------------------------------------------------------------------------------
    def run(self) -> EvalSummary:
        with self._db() as con:
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
            done = results.completed_units(con, self.run_id)
        units = [(example, method, k) for example in self.examples for method in self.config.methods
                 for k in (self.config.ks if method in RETRIEVAL_METHODS else [0])
                 if (example.id, method, k) not in done]  # fmt: skip
        try:
            self._retrieve_all(units)
            llm = LLM(self.settings, model=self.model, count_tokens=self.tokenizer.count)
            errors = asyncio.run(self._answer_all(units, llm))
        except Exception:
            with self._db() as con:
                results.finish_run(con, self.run_id, "failed")
            raise
        return finish(
            self.settings,
            self.run_id,
            self.config.dataset,
            self.model,
            errors,
            llm.counter.requests,
            llm.counter.cached,
        )

    def _db(self):
        """A short warehouse session: other processes write between ours."""
        return session(self.settings.warehouse_path)

    def _config_record(self) -> dict:
        return {"methods": self.config.methods, "ks": self.config.ks, "retriever": self.config.retriever,
                "limit": self.config.limit, "chunk_words": self.settings.eval_chunk_words,
                "hybrid_alpha": self.settings.eval_hybrid_alpha, "context_tokens": self.settings.llm_context_tokens,
                "embedding_model": self.settings.embedding_model}  # fmt: skip

    def _retrieve_all(self, units: list[tuple[Example, str, int]]) -> None:
        """Index each needed context once and retrieve top-k for every (example, k) still to answer."""
        needed = sorted({(example.id, k) for example, method, k in units if method in RETRIEVAL_METHODS})
        if not needed:
            return
        by_id = {example.id: example for example in self.examples}
        name = collection_name(self.settings.eval_collection, self.settings.embedding_model)
        with connect(self.settings) as client:
            if not client.collections.exists(name):
                client.collections.create(**context_collection_config(name))
            collection = client.collections.use(name)
            keys: dict[str, str] = {}
            vectors: dict[str, list[float] | None] = {}  # one question embedding serves every k
            for done, (example_id, k) in enumerate(needed, start=1):
                example = by_id[example_id]
                if example_id not in keys:
                    keys[example_id], _ = index_context(collection, example.context, self.settings)
                    vectors[example_id] = (
                        None
                        if self.config.retriever == "bm25"
                        else embed_texts([example.input], self.settings)[0]
                    )
                chunks = retrieve(
                    collection,
                    keys[example_id],
                    example.input,
                    k,
                    self.config.retriever,
                    self.settings,
                    vectors[example_id],
                )
                self.retrieved[(example_id, k)] = chunks
                rows = [
                    [self.run_id, example_id, k, self.config.retriever, rank, chunk.chunk_id, chunk.chunk_index,
                     chunk.score, any(sentence in chunk.text for sentence in example.evidence)
                     if example.evidence else None]
                    for rank, chunk in enumerate(chunks, start=1)
                ]  # fmt: skip
                with self._db() as con:
                    results.write_retrievals(con, rows)
                self.progress("retrieving", done, len(needed))

    async def _answer_all(self, units: list[tuple[Example, str, int]], llm: LLM) -> int:
        errors = 0
        try:
            tasks = [
                asyncio.ensure_future(self._answer(example, method, k, llm)) for example, method, k in units
            ]
            for done, future in enumerate(asyncio.as_completed(tasks), start=1):
                row, score = await future
                with self._db() as con:
                    results.write_prediction(con, row, score)
                errors += row["error"] is not None
                self.progress(f"{row['method']} {row['example_id']}", done, len(units))
        finally:
            await llm.aclose()
        return errors

    async def _answer(self, example: Example, method: str, k: int, llm: LLM) -> tuple[dict, tuple | None]:
        max_new = self._max_new_tokens(example)
        step1 = None
        if method == "lc":
            final, route = await llm.complete(self.lc_prompt(example), max_new), "lc"
            spent = [final]
        elif method in ("rag", "rag_reorder"):
            chunks = self.retrieved[(example.id, k)]
            ordered = reorder(chunks) if method == "rag_reorder" else chunks
            final, route = await llm.complete(self.rag_prompt(example, ordered), max_new), "rag"
            spent = [final]
        else:
            step1 = await llm.complete(
                self.rag_prompt(example, self.retrieved[(example.id, k)], declinable=True),
                max_new,
                want_logprobs=True,
            )
            final, route, spent = step1, "rag", [step1]
            if step1.ok and is_declined(step1.text):
                final = await llm.complete(self.lc_prompt(example), max_new)
                route, spent = "lc", [step1, final]
        return self._row(example, method, k, route, final, spent, step1)

    def _row(
        self,
        example: Example,
        method: str,
        k: int,
        route: str,
        final: Completion,
        spent: list[Completion],
        step1: Completion | None,
    ) -> tuple[dict, tuple | None]:
        error = next((c.error for c in spent if c.error), None)
        prompt_tokens = sum(c.prompt_tokens for c in spent)
        completion_tokens = sum(c.completion_tokens for c in spent)
        price = self.prices.get(self.model)
        row = {
            "run_id": self.run_id, "example_id": example.id, "dataset": example.dataset, "method": method, "k": k,
            "retriever": self.config.retriever if method in RETRIEVAL_METHODS else None, "model": self.model,
            "route": None if error else route, "prediction": None if error else final.text,
            "step1_prediction": step1.text if step1 else None, "decline_prob": step1.decline_prob if step1 else None,
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "tokens_estimated": any(c.tokens_estimated for c in spent),
            "cost_usd": (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6 if price and not error
            else None,
            "latency_ms": sum(c.latency_ms for c in spent), "cached": all(c.cached for c in spent), "error": error,
        }  # fmt: skip
        if error:
            return row, None
        value = scoring.score_record(
            example.dataset, final.text, example.answers, example.all_classes, example.options
        )
        return row, (scoring.TASK_METRICS[example.dataset].__name__, value)


def evaluate(
    examples: list[Example], config: EvalConfig, settings: Settings, progress: Progress | None = None
) -> EvalSummary:
    return Evaluation(examples, config, settings, progress).run()


def evaluate_corpus(
    questions: list[CorpusQuestion],
    config: EvalConfig,
    settings: Settings,
    collection: str | None,
    progress: Progress | None = None,
) -> EvalSummary:
    """Run a QA set over an ingested collection: each method answers through `Asker` (retrieval from the
    collection; LC = the documents behind the retrieved chunks) and is scored with token F1 against the
    answers; retrieved documents are checked against the gold document ids where given."""
    from tasks.ask import CITATION, Asker

    progress = progress or (lambda message, done, total: None)
    asker = Asker(settings, collection)
    run_id = config.run_id or str(uuid.uuid4())
    dataset = f"corpus:{config.dataset}"
    methods = [m for m in config.methods if m in ("lc", "rag", "self_route")]
    with session(settings.warehouse_path) as con:
        results.refresh_prices(con, asker.prices)
        results.start_run(
            con,
            run_id,
            dataset,
            methods,
            {"collection": asker.collection_name, "ks": config.ks},
            code_version(),
            settings.llm_model,
            settings.llm_base_url,
        )
        done = results.completed_units(con, run_id)
    units = [(q, m, k) for q in questions for m in methods for k in ([0] if m == "lc" else config.ks)
             if (q.id, m, k) not in done]  # fmt: skip
    errors = requests = cached = 0
    for number, (question, method, k) in enumerate(units, start=1):
        answer = asker.ask(question.question, method=method, k=k or settings.eval_top_k, log=False)
        errors += answer.error is not None
        requests, cached = requests + answer.llm_requests, cached + answer.cached_calls
        row = {
            "run_id": run_id, "example_id": question.id, "dataset": dataset, "method": method, "k": k,
            "retriever": "hybrid", "model": settings.llm_model, "route": answer.route, "prediction": answer.answer,
            "prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
            "tokens_estimated": False, "cost_usd": answer.cost_usd, "latency_ms": answer.latency_ms,
            "cached": False, "error": answer.error,
        }  # fmt: skip
        score = None
        if answer.error is None:
            plain = CITATION.sub("", answer.answer or "")
            score = (
                "qa_f1_score",
                max((scoring.qa_f1_score(plain, gold) for gold in question.answers), default=0.0),
            )
        gold = set(question.gold_doc_ids)
        retrievals = [[run_id, question.id, k, "hybrid", p["number"], p["chunk_id"], 0, None,
                       p["doc_id"] in gold if gold else None] for p in answer.retrieved if k]  # fmt: skip
        with session(settings.warehouse_path) as con:
            results.write_prediction(con, row, score)
            results.write_retrievals(con, retrievals)
        progress(f"{method} {question.id}", number, len(units))
    return finish(settings, run_id, dataset, settings.llm_model, errors, requests, cached)
