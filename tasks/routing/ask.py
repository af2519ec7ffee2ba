"""Answer a question over an ingested collection with Self-Route (or RAG, or LC, or `auto`), with checked
citations.

RAG: the top-k chunks, numbered [1]..[k], and the model is asked for a one-sentence answer, then the numbers
of the passages it used. Self-Route: the same prompt may answer "unanswerable" (or, with a decline threshold τ
from the latest calibrated evaluation of the model, be likely to); then the question goes to long context — the
full text of the documents behind the retrieved chunks (every chunk, numbered, in document order), truncated in
the middle to fit the model. `auto`: the model's latest learned router for the collection's question set
(`tasks/routing/learned.py`) picks the arm before any call: a question it predicts long context answers better
goes straight there, skipping the RAG step, any other to RAG alone; where no router was trained, Self-Route.
Citations are checked and mapped back to document, page and chunk by
`tasks.routing.citations`.

An answer with no word in it (empty, or a bare number such as a passage number), or one that no passage in the
prompt supports (a small model may splice two passages' facts), is not returned as is: the model is asked once
more with a stricter prompt. When nothing is retrieved (no model call), when the last step declines (long
context after Self-Route's RAG step declined, or `rag`/`lc` replying "unanswerable" unprompted), or when no
passage holds the stricter prompt's answer either, the answer is `NOT_IN_DOCUMENTS` with
`not_in_documents` set: the route and the retrieved passages are kept, nothing is cited.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field

from weaviate.classes.query import Filter, MetadataQuery

from schemas.api import Citation
from schemas.collection import collection_name
from schemas.errors import RagrouteError
from schemas.evaluation import QUESTION_SET
from schemas.prices import cost_usd, load_prices, spent_usd
from schemas.settings import Settings
from tasks.clients.llm import LLM, Completion
from tasks.clients.profile import endpoint_profile
from tasks.clients.vectorstore import connect, live_collection, use_collection
from tasks.ingestion.embed import embed_texts
from tasks.routing import learned, self_route
from tasks.routing.citations import (
    Passage,
    acceptable,
    split_answer,
    supported_answer,
)
from warehouse import thresholds
from warehouse.asks import record_ask
from warehouse.db import session
from warehouse.results import refresh_prices

ASK_METHODS = ("self_route", "rag", "lc", "auto")
# Array properties are only returned when asked for by name.
PASSAGE_PROPERTIES = ["text", "doc_id", "source_path", "page", "page_spans", "chunk_index"]
ASK_MAX_NEW_TOKENS = 128
# The answer when the documents hold none (`AskResult.not_in_documents`).
NOT_IN_DOCUMENTS = "The documents do not say."

INSTRUCTION = (
    "Answer the question using only the numbered passages above.\n"
    "Reply with two lines:\n"
    "Answer: <one short sentence, in words, that answers the question>\n"
    "Passages: <the numbers of the passages you used, for example [1] or [2][4]>"
)
# Offered only to Self-Route's RAG step, whose decline sends the question on to long context. Offered to long
# context (last, first, or in the answer line), Qwen2.5-Coder-0.5B declined or garbled a question the documents
# answer; there a decline in words, or an answer no passage holds, is how the documents do not say.
DECLINE = "If the passages do not answer the question, reply with the single word: unanswerable"
STRICT = (
    "Write the answer as one complete sentence in words that repeats the subject of the question (not only a "
    "number), then the line Passages: with the passage numbers you used."
)


@dataclass
class AskResult:
    question: str
    collection: str
    method: str
    route: str | None
    answer: str | None
    citations: list[Citation] = field(default_factory=list)
    invented_citations: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float = 0.0
    error: str | None = None
    ask_id: str | None = None
    # The retrieved passages, best first: number, chunk_id, doc_id, source_path, page.
    retrieved: list[dict] = field(default_factory=list)
    llm_requests: int = 0  # HTTP requests sent (retries included); cached answers send none
    cached_calls: int = 0
    decline_threshold: float | None = None  # Self-Route's τ (None: the paper's text-only rule)
    decline_prob: float | None = None  # P("unanswerable") of Self-Route's RAG step, when logprobs came back
    not_in_documents: bool = False  # no supported answer: `answer` is NOT_IN_DOCUMENTS, nothing is cited
    cached_prompt_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    spent_cost_usd: float | None = None  # what the calls were billed (answers from the cache cost 0)
    # Self-Route's RAG step when it answered: its answer in words and its own tokens (for evaluations).
    step1_answer: str | None = None
    step1_prompt_tokens: int | None = None
    step1_completion_tokens: int | None = None
    # What a learned router knows before any answer (`learned.RouteFeatures.record`), when asked for or routed.
    features: dict | None = None
    router_id: str | None = None  # `auto`: the learned router that chose the route (None: Self-Route)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["citations"] = [citation.model_dump() for citation in self.citations]
        return data


@dataclass(frozen=True)
class Question:
    """An evaluated question: its id (the fold of a router trained on it) and kind."""

    id: str
    kind: str | None = None


class AskError(RagrouteError):
    """The request cannot be served (unknown method, empty question, missing collection)."""


def _passage(obj, number: int) -> Passage:
    props = obj.properties
    return Passage(
        number=number,
        chunk_id=str(obj.uuid),
        doc_id=props["doc_id"],
        source_path=props["source_path"],
        page=props.get("page") or 1,
        chunk_index=props["chunk_index"],
        text=props["text"],
        page_spans=list(props.get("page_spans") or []),
        score=float(obj.metadata.score or 0.0) if obj.metadata is not None else 0.0,
    )


def retrieve_passages(collection, question: str, k: int, settings: Settings) -> list[Passage]:
    vector = embed_texts([question], settings)[0]
    result = collection.query.hybrid(
        query=question,
        vector=vector,
        alpha=settings.eval_hybrid_alpha,
        limit=k,
        return_metadata=MetadataQuery(score=True),
        return_properties=PASSAGE_PROPERTIES,
    )
    return [_passage(obj, number) for number, obj in enumerate(result.objects, start=1)]


def document_passages(collection, doc_ids: list[str], settings: Settings) -> list[Passage]:
    """Every chunk of the given documents, in document order, numbered from 1."""
    result = collection.query.fetch_objects(
        filters=Filter.by_property("doc_id").contains_any(doc_ids),
        limit=settings.weaviate_query_maximum_results,
        return_properties=PASSAGE_PROPERTIES,
    )
    order = {doc_id: position for position, doc_id in enumerate(doc_ids)}
    objects = sorted(
        result.objects, key=lambda o: (order[o.properties["doc_id"]], o.properties["chunk_index"])
    )
    return [_passage(obj, number) for number, obj in enumerate(objects, start=1)]


def build_prompt(question: str, passages: list[Passage], declinable: bool, strict: bool = False) -> str:
    numbered = "\n\n".join(
        f"[{p.number}] (from {p.source_path.rsplit('/', 1)[-1]}, page {p.page}) {p.text}" for p in passages
    )
    instruction = "\n".join([INSTRUCTION] + [DECLINE] * declinable + [STRICT] * strict)
    # A small model keeps to the question better when it reads it before and after the passages.
    return f"Question: {question}\n\n{numbered}\n\nQuestion: {question}\n\n{instruction}"


def retried(first: Completion, second: Completion) -> Completion:
    """The stricter prompt's answer (the first one's if that call failed), paying for both calls; the decline
    probability stays the first answer's."""
    return first.joined(second, second.text if second.ok else first.text, decline_prob=first.decline_prob)


class Asker:
    """Answers questions over one collection; keeps the Weaviate client and the LLM for many questions.

    Self-Route uses `decline_threshold` when given, else the latest τ stored for the model by `ragroute eval`
    (read at each question; none stored: the paper's text-only rule)."""

    def __init__(
        self, settings: Settings, collection: str | None = None, decline_threshold: float | None = None
    ):
        self.settings = settings
        self.question_set = f"{QUESTION_SET}{collection or settings.collection}"
        self.collection_name = collection_name(collection or settings.collection, settings.embedding_model)
        self.profile = endpoint_profile(settings)
        self.tokenizer = self.profile.tokenizer
        self.prices = load_prices(settings.price_table)
        self.decline_threshold = decline_threshold

    def threshold(self) -> float | None:
        if self.decline_threshold is not None:
            return self.decline_threshold
        with session(self.settings.warehouse_target) as con:
            return thresholds.latest(con, self.settings.llm_model)

    def ask(
        self,
        question: str,
        method: str = "self_route",
        k: int = 5,
        log: bool = True,
        about: Question | None = None,
    ) -> AskResult:
        """Answer one question; `log` records it in the `asks` table (evaluations of QA sets do not). `about`: the
        evaluated question it is (its features are kept, and `auto` routes it with a model that did not see it)."""
        question = question.strip()
        if not question:
            raise AskError("the question is empty")
        if method not in ASK_METHODS:
            raise AskError(f"unknown method {method!r}: use {', '.join(ASK_METHODS)}")
        if not 1 <= k <= 50:
            raise AskError("k must be between 1 and 50")
        started = time.perf_counter()
        result = AskResult(
            question=question, collection=self.collection_name, method=method, route=None, answer=None
        )
        if method in ("self_route", "auto"):
            result.decline_threshold = self.threshold()
        try:
            with connect(self.settings) as client:
                if live_collection(client, self.collection_name) is None:
                    raise AskError(
                        f"collection {self.collection_name} does not exist: run `ragroute ingest` first"
                    )
                collection = use_collection(client, self.collection_name, self.settings)
                asyncio.run(self._answer(collection, question, method, k, result, about))
        except AskError:
            raise
        except Exception as error:  # recorded with the ask, reported to the caller
            result.error = f"{type(error).__name__}: {error}"[:500]
        result.latency_ms = (time.perf_counter() - started) * 1000
        if not log:
            return result
        with session(self.settings.warehouse_target) as con:
            refresh_prices(con, self.prices)
            result.ask_id = record_ask(con, result, self.settings.llm_model)
        return result

    async def _answer(
        self, collection, question: str, method: str, k: int, result: AskResult, about: Question | None
    ) -> None:
        passages = retrieve_passages(collection, question, k, self.settings)
        result.retrieved = [
            {"number": p.number, "chunk_id": p.chunk_id, "doc_id": p.doc_id, "source_path": p.source_path,
             "page": p.page, "score": p.score}
            for p in passages
        ]  # fmt: skip
        if not passages:  # nothing to read: the model is not asked
            result.route = "lc" if method == "lc" else "rag"
            result.cost_usd = result.spent_cost_usd = cost_usd(self.prices, self.settings.llm_model, 0, 0)
            _not_in_documents(result)
            return
        documents = None  # the whole documents behind the passages, read once where needed
        if method == "auto" or (about is not None and method != "lc"):
            documents = self._documents_behind(collection, passages)
            features = self._features(question, passages, documents, about)
            result.features = features.record()
            if method == "auto":
                method = self._auto_route(features, about, result)
        shown: list[Passage] = []  # the passages in the prompt that gave the final answer
        routed = await self._route(collection, question, method, passages, documents, shown, result)
        self._account(result, routed)
        result.error = routed.error
        if result.error is not None:
            return
        result.route = routed.route
        checked = supported_answer(routed.final.text or "", shown, question)
        if checked is None:
            _not_in_documents(result)
        else:
            result.answer, result.citations, result.invented_citations = checked

    async def _route(
        self,
        collection,
        question: str,
        method: str,
        passages: list[Passage],
        documents: list[Passage] | None,
        shown: list[Passage],
        result: AskResult,
    ) -> self_route.Routed:
        """The routed answer; `shown` ends up holding the passages of the final prompt."""
        llm = LLM(self.settings, count_tokens=self.tokenizer.count)

        async def ask(candidates: list[Passage], declinable: bool) -> Completion:
            prompt, shown[:] = self._fit(build_prompt(question, candidates, declinable), candidates)
            # The decline probability only matters under a threshold; without one, logprobs would only slow
            # the local server down (see `Settings.llm_logprobs_model`).
            wanted = declinable and result.decline_threshold is not None
            first = await llm.complete(prompt, ASK_MAX_NEW_TOKENS, want_logprobs=wanted)
            if not first.ok or acceptable(first.text or "", shown, question):
                return first
            strict, _ = self._fit(build_prompt(question, candidates, declinable, strict=True), candidates)
            return retried(first, await llm.complete(strict, ASK_MAX_NEW_TOKENS))

        async def lc() -> Completion:  # the whole documents behind the retrieved chunks
            return await ask(documents or self._documents_behind(collection, passages), declinable=False)

        try:
            return await self_route.answer(
                method, lambda: ask(passages, method == "self_route"), lc, result.decline_threshold
            )
        finally:
            result.llm_requests, result.cached_calls = llm.counter.requests, llm.counter.cached
            await llm.aclose()

    def _documents_behind(self, collection, passages: list[Passage]) -> list[Passage]:
        """Every chunk of the documents the passages come from (in order of first retrieval), numbered from 1."""
        return document_passages(collection, list(dict.fromkeys(p.doc_id for p in passages)), self.settings)

    def planned_calls(
        self, collection, question: str, method: str, k: int, threshold: float | None, lc_share: float
    ) -> list[tuple[str, float, bool]]:
        """(prompt, share of the call, logprobs wanted) of each call `ask` would first make for the question: a
        forecast (`auto` as Self-Route, its most; Self-Route's LC step for `lc_share` of questions)."""
        passages = retrieve_passages(collection, question, k, self.settings)
        if not passages:
            return []

        def prompt(candidates: list[Passage], declinable: bool) -> str:
            return self._fit(build_prompt(question, candidates, declinable), candidates)[0]

        def lc() -> str:
            return prompt(self._documents_behind(collection, passages), False)

        if method == "lc":
            return [(lc(), 1.0, False)]
        if method == "rag":
            return [(prompt(passages, False), 1.0, False)]
        return [(prompt(passages, True), 1.0, threshold is not None), (lc(), lc_share, False)]

    def _features(
        self, question: str, passages: list[Passage], documents: list[Passage], about: Question | None
    ) -> learned.RouteFeatures:
        joined = lambda found: "\n".join(p.text for p in found)  # noqa: E731
        return learned.RouteFeatures(
            question, about.kind if about else None, [p.score for p in passages],
            self.tokenizer.count(joined(passages)), self.tokenizer.count(joined(documents)),
        )  # fmt: skip

    def _auto_route(self, features: learned.RouteFeatures, about: Question | None, result: AskResult) -> str:
        """The arm the latest learned router picks: `lc` where it predicts long context answers better, else
        `rag`; `self_route` where no router was trained."""
        router = learned.latest_router(self.settings, self.question_set, self.settings.llm_model)
        if router is None:
            return "self_route"
        result.router_id = router.router_id
        return "lc" if router.needs_lc_for(features, about.id if about else None) else "rag"

    def _account(self, result: AskResult, routed: self_route.Routed) -> None:
        """Tokens and dollars of every call on the way, Self-Route's RAG step and its decline probability."""
        result.prompt_tokens, result.completion_tokens = routed.prompt_tokens, routed.completion_tokens
        result.cost_usd = cost_usd(
            self.prices, self.settings.llm_model, result.prompt_tokens, result.completion_tokens
        )
        billed, step1 = routed.billed, routed.answered_first_step
        result.cached_prompt_tokens = routed.cached_prompt_tokens
        result.spent_cost_usd = spent_usd(self.prices, self.settings.llm_model, billed.prompt_tokens,
                                          billed.cached_prompt_tokens, billed.completion_tokens)  # fmt: skip
        if step1 is not None:
            result.step1_answer = split_answer(step1.text or "")[0]
            result.step1_prompt_tokens = step1.prompt_tokens
            result.step1_completion_tokens = step1.completion_tokens
        result.decline_prob = routed.first_step.decline_prob if routed.first_step else None

    def _fit(self, prompt: str, passages: list[Passage]) -> tuple[str, list[Passage]]:
        """The prompt truncated in the middle to fit the model, and the passages still in it."""
        budget = self.profile.prompt_budget(ASK_MAX_NEW_TOKENS)
        fitted = self.tokenizer.truncate_middle(prompt, budget)
        return fitted, [p for p in passages if f"[{p.number}] (from " in fitted]


def _not_in_documents(result: AskResult) -> None:
    """The documents do not say: the fixed answer, no citation (the route and retrieved passages stay)."""
    result.answer, result.not_in_documents = NOT_IN_DOCUMENTS, True
    result.citations, result.invented_citations = [], []
