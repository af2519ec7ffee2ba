"""Questions generated from the ingested chunks of a collection, through the configured endpoint, then validated.

For each document asked for, `per_document` candidates of each kind:
- answerable: from one chunk (chunks spread over the document): a question, a short answer, the evidence
  sentence quoted from the chunk;
- multi_hop: from that chunk and the best hybrid-search hit for its text in another document, when the two
  share a capitalised word or three content words (a shared entity or topic), needing both;
- unanswerable: about the subject of a chunk, asking for a detail that is written nowhere; its gold answer is
  "unanswerable".
Calls go through the project's `LLM` (response cache, retries, token and cost accounting); every call of a run,
checks included, is counted in its `Spend`. A reply that cannot be read is a rejected candidate, never an error.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.collection import collection_name
from schemas.errors import RagrouteError
from schemas.prices import cost_usd, load_prices, spent_usd
from schemas.questions import UNANSWERABLE, Candidate, SourceChunk, from_sources
from schemas.settings import Settings
from tasks.clients.llm import LLM, Billed, Completion
from tasks.clients.profile import endpoint_profile
from tasks.clients.vectorstore import connect, live_collection, use_collection
from tasks.ingestion.embed import embed_texts
from tasks.questions import prompts, validate
from tasks.routing.ask import document_passages, retrieve_passages
from tasks.routing.citations import Passage

MIN_CHUNK_WORDS = 20  # shorter chunks (a heading, a caption) are used only when a document has nothing else
PARTNER_QUERY_WORDS = 120  # the words of a chunk its partner in another document is searched with
CAPITALISED = re.compile(r"\b[A-Z][A-Za-z]{2,}\b")


@dataclass(frozen=True)
class DocumentRef:
    """A document of the collection as the manifest records it."""

    doc_id: str
    path: str
    content_sha256: str


@dataclass
class Spend:
    """Every LLM call of a generation run: requests sent, answers from the cache, tokens and what was billed."""

    calls: int = 0
    requests: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    billed: Billed = field(default_factory=Billed)

    def add(self, completion: Completion) -> Completion:
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.billed = self.billed + completion.billed
        return completion

    def costs(self, settings: Settings, model: str) -> tuple[float | None, float | None]:
        """The list cost (every token at the price table) and the spent cost (what was billed)."""
        prices = load_prices(settings.price_table)
        billed = self.billed
        return (
            cost_usd(prices, model, self.prompt_tokens, self.completion_tokens),
            spent_usd(
                prices, model, billed.prompt_tokens, billed.cached_prompt_tokens, billed.completion_tokens
            ),
        )


class CollectionMissing(RagrouteError):
    """The collection has no chunks in Weaviate (never ingested)."""


# --- Picking sources (pure) -----------------------------------------------------------------------------


def spread(items: list, n: int) -> list:
    """Up to `n` items spread evenly over `items` (the middle of each of n equal parts)."""
    if n >= len(items):
        return list(items)
    return [items[int((part + 0.5) * len(items) / n)] for part in range(n)]


def usable_chunks(chunks: list[SourceChunk]) -> list[SourceChunk]:
    ordered = sorted(chunks, key=lambda c: c.chunk_index)
    long_enough = [c for c in ordered if len(c.text.split()) >= MIN_CHUNK_WORDS]
    return long_enough or ordered


def shared_topic(a: str, b: str) -> list[str]:
    """What ties two chunks together: their shared capitalised words (names, places), else their shared content
    words when there are at least three; empty when nothing does."""
    names = sorted(set(CAPITALISED.findall(a)) & set(CAPITALISED.findall(b)), key=str.lower)
    names = [n for n in names if n.lower() not in validate.STOP_WORDS]
    if names:
        return names
    words = sorted(validate.content_words(a) & validate.content_words(b))
    return words if len(words) >= 3 else []


def plan_single(chunks: list[SourceChunk], per_document: int) -> list[tuple[str, list[SourceChunk]]]:
    """The answerable and unanswerable slots of one document: answerable ones spread over it, unanswerable ones
    spread over it from the other end (other chunks where the document has enough)."""
    usable = usable_chunks(chunks)
    slots = [("answerable", [c]) for c in spread(usable, per_document)]
    slots += [(UNANSWERABLE, [c]) for c in spread(usable[::-1], per_document)]
    return slots


# --- Generating -----------------------------------------------------------------------------------------


def prompt_for(kind: str, chunks: list[SourceChunk], shared: list[str] | None = None) -> str:
    if kind == "multi_hop":
        topic = ", ".join(shared[:3]) if shared else "the same subject"
        return prompts.MULTI_HOP.format(shared=topic, passage_a=chunks[0].text, passage_b=chunks[1].text)
    template = prompts.ANSWERABLE if kind == "answerable" else prompts.UNANSWERABLE
    return template.format(passage=chunks[0].text)


def fill(candidate: Candidate, reply: Completion) -> Candidate:
    """The candidate with the fields of the model's reply, or rejected with the reason it cannot be read."""
    if not reply.ok:
        return candidate.reject("generation", f"the generation call failed: {reply.error}")
    fields, problem = prompts.parse_reply(candidate.kind, reply.text)
    if problem:  # what could be read is kept for a person to see
        candidate.question = prompts.read_fields(reply.text or "").get("question", "")
        return candidate.reject("parse", problem)
    candidate.question = fields["question"]
    if candidate.kind == UNANSWERABLE:
        candidate.answer, candidate.evidence = UNANSWERABLE, []
    elif candidate.kind == "multi_hop":
        candidate.answer, candidate.evidence = fields["answer"], [fields["evidence a"], fields["evidence b"]]
    else:
        candidate.answer, candidate.evidence = fields["answer"], [fields["evidence"]]
    return candidate


@dataclass
class Generator:
    """One generation run over one collection: the Weaviate collection, the model, and what the calls spent."""

    settings: Settings
    collection: str  # the user's name (the Weaviate name follows the embedding model)
    model: str
    run_id: str
    documents: dict[str, DocumentRef]  # every current document of the collection, by doc id
    chunk_hashes: dict[str, str] = field(default_factory=dict)  # chunk id -> content hash (the manifest's)
    spend: Spend = field(default_factory=Spend)

    @property
    def weaviate_name(self) -> str:
        return collection_name(self.collection, self.settings.embedding_model)

    def run(
        self,
        targets: list[str],
        per_document: int,
        kept: list[tuple[str, str]],
        progress: Callable[[str, int, int], None] | None = None,
    ) -> list[Candidate]:
        """Candidates for the target documents, validated; `kept` are the collection's current kept questions
        (id, text), which new ones must not duplicate."""
        progress = progress or (lambda message, done, total: None)

        async def work(collection, ask: validate.Ask, fit) -> list[Candidate]:
            slots, texts = self._slots(collection, targets, per_document)
            progress("generating", 0, len(slots))
            budget = prompts.GENERATE_MAX_TOKENS
            replies = await asyncio.gather(*(ask(fit(prompt, budget), budget) for _, _, prompt in slots))
            candidates = [fill(c, reply) for (c, _, _), reply in zip(slots, replies, strict=True)]
            progress("validating", len(slots), len(slots))
            vectors = embed_texts([text for _, text in kept], self.settings) if kept else []
            known = [(qid, v) for (qid, _), v in zip(kept, vectors, strict=True)]
            return await validate.validate(candidates, self._corpus(collection, texts, fit, known), ask)

        return self._calls(work)

    def check(self, candidates: list[Candidate], chunk_texts: dict[str, str]) -> list[Candidate]:
        """Validate candidates made elsewhere (e.g. by hand) with the same rules, model and collection."""

        async def work(collection, ask: validate.Ask, fit) -> list[Candidate]:
            return await validate.validate(candidates, self._corpus(collection, chunk_texts, fit, []), ask)

        return self._calls(work)

    def _corpus(self, collection, texts: dict[str, str], fit, known) -> validate.Corpus:
        return validate.Corpus(
            chunk_texts=texts,
            retrieve=lambda q: retrieve_passages(collection, q, self.settings.eval_top_k, self.settings),
            documents=lambda ids: document_passages(collection, ids, self.settings),
            embed=lambda items: embed_texts(items, self.settings),
            fit=fit,
            kept=known,
        )

    def _calls(self, work) -> list[Candidate]:
        """Run `work(collection, ask, fit)` with the Weaviate collection and the model; every call is counted in
        `spend`."""
        with connect(self.settings) as client:
            if live_collection(client, self.weaviate_name) is None:
                raise CollectionMissing(
                    f"collection {self.weaviate_name} does not exist: run `ragroute ingest` first"
                )
            collection = use_collection(client, self.weaviate_name, self.settings)
            return asyncio.run(self._with_model(collection, work))

    async def _with_model(self, collection, work) -> list[Candidate]:
        profile = endpoint_profile(self.settings, self.model)
        llm = LLM(self.settings, model=self.model, count_tokens=profile.tokenizer.count)

        def fit(prompt: str, max_new: int) -> str:
            return profile.tokenizer.truncate_middle(prompt, profile.prompt_budget(max_new))

        async def ask(prompt: str, max_tokens: int) -> Completion:
            return self.spend.add(await llm.complete(prompt, max_tokens))

        try:
            return await work(collection, ask, fit)
        finally:
            self.spend.requests += llm.counter.requests
            self.spend.cached += llm.counter.cached
            await llm.aclose()

    def _source(self, passage: Passage) -> SourceChunk:
        document = self.documents.get(passage.doc_id)
        return SourceChunk(
            chunk_id=passage.chunk_id, doc_id=passage.doc_id, source_path=passage.source_path,
            chunk_index=passage.chunk_index, text=passage.text,
            content_hash=self.chunk_hashes.get(passage.chunk_id, ""),
            doc_sha256=document.content_sha256 if document else "",
        )  # fmt: skip

    def _slots(
        self, collection, targets: list[str], per_document: int
    ) -> tuple[list[tuple[Candidate, list[SourceChunk], str]], dict[str, str]]:
        """(candidate, sources, prompt) of every slot, and the text of every source chunk by id."""
        slots: list[tuple[Candidate, list[SourceChunk], str]] = []
        texts: dict[str, str] = {}

        def add(kind: str, chunks: list[SourceChunk], shared: list[str] | None = None) -> None:
            candidate = from_sources(self.weaviate_name, kind, chunks, self.model, prompts.PROMPT_VERSION)
            candidate.run_id = self.run_id
            texts.update({c.chunk_id: c.text for c in chunks})
            slots.append((candidate, chunks, prompt_for(kind, chunks, shared)))

        for doc_id in targets:
            chunks = [self._source(p) for p in document_passages(collection, [doc_id], self.settings)]
            if not chunks:
                continue
            for kind, sources in plan_single(chunks, per_document):
                add(kind, sources)
            for chunk in spread(usable_chunks(chunks), per_document):
                partner = self._partner(collection, chunk)
                if partner is not None:
                    add("multi_hop", [chunk, partner[0]], partner[1])
        return slots, texts

    def _partner(self, collection, chunk: SourceChunk) -> tuple[SourceChunk, list[str]] | None:
        """The best hybrid-search hit for the chunk's text in another document, with what they share."""
        query = " ".join(chunk.text.split()[:PARTNER_QUERY_WORDS])
        for passage in retrieve_passages(collection, query, 5, self.settings):
            if passage.doc_id != chunk.doc_id and passage.doc_id in self.documents:
                shared = shared_topic(chunk.text, passage.text)
                return (self._source(passage), shared) if shared else None
        return None
