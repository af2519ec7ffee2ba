"""Questions generated from the ingested chunks of a collection, through the configured endpoint, then validated.

What a small model does badly is done in code; the model only writes a question for a given sentence and answer.
For each document asked for, `per_document` candidates of each kind, from chunks spread over the document
(chunks holding a name, number or date first):
- answerable: code picks a sentence of the chunk holding a name, number or date (spaCy's entities, else a
  capitalised-word/number rule) and that span as the answer; the model writes the question (one line);
- multi_hop: code finds a sentence of the chunk and one of a chunk of another document (the best hybrid-search
  hit for the sentence) that share a name, the answer a span of the second; the model writes a question that
  refers to the first's fact, or, when its question cannot be used, a template quotes both sentences;
- unanswerable: a template asks for an attribute (a birth year, a flag's colour, a founding year...) of a
  name of the chunk that the chunk does not mention; no model call. Its gold answer is "unanswerable".
Calls go through the project's `LLM` (response cache, retries, token and cost accounting); every call of a run,
checks included, is counted in its `Spend`. A reply that cannot be read is a rejected candidate, never an error.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemas.collection import collection_name
from schemas.errors import RagrouteError
from schemas.prices import cost_usd, load_prices, spent_usd
from schemas.questions import UNANSWERABLE, Candidate, SourceChunk, from_sources
from schemas.settings import Settings
from tasks.clients.llm import LLM, Billed, Completion
from tasks.clients.profile import endpoint_profile
from tasks.clients.vectorstore import connect, live_collection, use_collection
from tasks.evaluation.scoring import normalize_answer
from tasks.ingestion.embed import embed_texts
from tasks.questions import prompts, validate
from tasks.routing.ask import document_passages, retrieve_passages
from tasks.routing.citations import Passage

MIN_CHUNK_WORDS = 20  # shorter chunks (a heading, a caption) are used only when a document has nothing else
PARTNER_TRIES = 4  # chunks of a document tried for each multi-hop pair wanted
PARTNER_QUERIES = 3  # named sentences of a chunk its partner in another document is searched with
CAPITALISED = re.compile(r"\b[A-Z][A-Za-z]{2,}\b")
# A span the rule finds without spaCy: a number (with its unit word), or a run of capitalised words.
_RULE_SPAN = re.compile(r"\b\d[\d,.]*(?:\s+[a-z]+)?\b|\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*\b")
SENTENCE_WORDS = (5, 45)  # evidence sentences of this many words
MAX_SPAN_WORDS = 5
# The words an echo question puts in place of its answer, by the answer's kind (spaCy's label).
WH_WORDS = {"PERSON": "who", "GPE": "where", "LOC": "where", "FAC": "where", "DATE": "when", "TIME": "when",
            "CARDINAL": "what number", "QUANTITY": "how much", "MONEY": "how much", "PERCENT": "what share",
            "NUMBER": "what number"}  # fmt: skip
NAME_LABELS = {"PERSON": "person", "GPE": "place", "LOC": "place", "FAC": "thing", "ORG": "thing",
               "PRODUCT": "thing", "WORK_OF_ART": "thing", "EVENT": "thing", "NAME": "thing"}  # fmt: skip


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


# --- Picking facts: a sentence and a span of it (code, not the model) --------------------------------------


@dataclass(frozen=True)
class Fact:
    """A sentence of a chunk and a span of it that can be an answer (a name, number or date), with its kind."""

    sentence: str
    span: str
    label: str  # spaCy's entity label, or NAME / NUMBER from the rule

    @property
    def score(self) -> int:
        """Numbers and names make answers a model matches; vague dates ("the long winter") less so."""
        if any(ch.isdigit() for ch in self.span):
            return 3
        return 2 if self.label in NAME_LABELS else 1


@functools.lru_cache(maxsize=1)
def _nlp() -> Any:
    """spaCy's small English pipeline (named entities only), or None where it is not installed."""
    try:
        import spacy

        return spacy.load("en_core_web_sm", exclude=["parser", "lemmatizer", "attribute_ruler", "senter"])
    except (ImportError, OSError):
        return None


@functools.lru_cache(maxsize=8192)
def spans(sentence: str) -> tuple[tuple[str, str], ...]:
    """(span, label) of the sentence's names, numbers and dates: spaCy's entities, else the rule's."""
    nlp = _nlp()
    if nlp is not None:
        found = [(ent.text, ent.label_) for ent in nlp(sentence).ents]
    else:
        found = [
            (m.group(0), "NUMBER" if m.group(0)[0].isdigit() else "NAME")
            for m in _RULE_SPAN.finditer(sentence)
        ]
        found = [(text, label) for text, label in found if not sentence.startswith(text) or " " in text]
    return tuple(
        (text.strip(), label)
        for text, label in found
        if 1 <= len(text.split()) <= MAX_SPAN_WORDS and normalize_answer(text) and label != "ORDINAL"
    )


def facts(text: str) -> list[Fact]:
    """Every (sentence, span) of the text, best first (score, then order); sentences of a usable length."""
    found = []
    for sentence in validate.sentences(text):
        if SENTENCE_WORDS[0] <= len(sentence.split()) <= SENTENCE_WORDS[1]:
            found += [Fact(sentence, span, label) for span, label in spans(sentence)]
    return sorted(found, key=lambda fact: -fact.score)


def names(text: str) -> list[Fact]:
    """The facts of the text whose span is a name (a person, place, organisation, thing)."""
    return [fact for fact in facts(text) if fact.label in NAME_LABELS]


def bridge(first: str, second: str) -> tuple[Fact, Fact] | None:
    """A sentence of `first` and one of `second` naming the same thing, and an answer span of the second's
    sentence that is neither that shared name nor in the first sentence: (first's fact, second's fact), the
    first's span being the shared name."""
    for fact_a in names(first):
        for fact_b in facts(second):
            if not validate._contains(fact_b.sentence, fact_a.span):
                continue  # the second sentence does not name the shared thing
            if validate._contains(fact_b.span, fact_a.span) or validate._contains(fact_a.span, fact_b.span):
                continue  # the answer would be the shared name itself
            if validate._contains(fact_a.sentence, fact_b.span):
                continue  # the answer is in the first sentence too: one hop
            return fact_a, fact_b
    return None


def unanswerable_question(chunk: str, seed: str) -> str | None:
    """A question asking for an attribute of a name of the chunk that the chunk does not mention (the first
    template whose words the chunk lacks), or None when the chunk names nothing."""
    found = names(chunk)
    if not found:
        return None
    fact = found[int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(found)]
    held = validate.content_words(chunk)
    for template in prompts.UNANSWERABLE_TEMPLATES[NAME_LABELS[fact.label]]:
        asked = validate.content_words(template.format(name="")) - {"year", "1850"}
        if not asked & held:
            return template.format(name=fact.span)
    return None


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


def with_facts(chunks: list[SourceChunk]) -> list[SourceChunk]:
    """The usable chunks holding a name or number, else those holding a date, else all usable chunks."""
    usable = usable_chunks(chunks)
    strong = [c for c in usable if any(fact.score >= 2 for fact in facts(c.text))]
    return strong or [c for c in usable if facts(c.text)] or usable


def plan_single(chunks: list[SourceChunk], per_document: int) -> list[tuple[str, list[SourceChunk]]]:
    """The answerable and unanswerable slots of one document: answerable ones spread over its chunks that
    hold a fact, unanswerable ones spread over its chunks that hold a name, from the other end."""
    usable = with_facts(chunks)
    named = [c for c in usable if names(c.text)] or usable
    slots = [("answerable", [c]) for c in spread(usable, per_document)]
    slots += [(UNANSWERABLE, [c]) for c in spread(named[::-1], per_document)]
    return slots


# --- Generating -----------------------------------------------------------------------------------------


@dataclass
class Draft:
    """A candidate with what code picked for it: the prompt the model writes its question from (None: no call)
    and the question to use when the model's cannot be (multi-hop's template)."""

    candidate: Candidate
    prompt: str | None = None
    fallback: str | None = None
    shared: str | None = None  # multi-hop: the name both facts hold, blanked out of the model's question
    blanked_first: str | None = None  # multi-hop: the first fact with that name blanked


def draft(candidate: Candidate, chunks: list[SourceChunk]) -> Draft:
    """The candidate's evidence and answer picked in code, and its prompt; rejected when its chunk(s) hold
    nothing to ask about."""
    if candidate.kind == UNANSWERABLE:
        question = unanswerable_question(chunks[0].text, chunks[0].chunk_id)
        if question is None:
            return Draft(
                candidate.reject("generation", f"chunk {chunks[0].chunk_id} names nothing to ask about")
            )
        candidate.question, candidate.answer, candidate.evidence = question, UNANSWERABLE, []
        return Draft(candidate)
    if candidate.kind == "multi_hop":
        pair = bridge(chunks[0].text, chunks[1].text)
        if pair is None:
            reason = (
                f"chunks {chunks[0].chunk_id} and {chunks[1].chunk_id} share no named sentence with an answer"
            )
            return Draft(candidate.reject("generation", reason))
        first, second = pair
        candidate.answer, candidate.evidence = second.span, [first.sentence, second.sentence]
        prompt = prompts.ANSWERABLE.format(sentence=second.sentence, answer=second.span)
        made = Draft(candidate, prompt, None, first.span, blank(first.sentence, first.span))
        made.fallback = bridged(echo_question(second), made)
        return made
    found = facts(chunks[0].text)
    if not found:
        return Draft(
            candidate.reject("generation", f"chunk {chunks[0].chunk_id} holds no name, number or date")
        )
    fact = found[0]
    candidate.answer, candidate.evidence = fact.span, [fact.sentence]
    return Draft(candidate, prompts.ANSWERABLE.format(sentence=fact.sentence, answer=fact.span))


def blank(text: str, name: str) -> str | None:
    """`text` with every whole-word occurrence of `name` as "___" (case ignored), or None when it has none."""
    blanked, found = re.subn(rf"(?<!\w){re.escape(name)}(?!\w)", "___", text, flags=re.IGNORECASE)
    return blanked if found else None


def echo_question(fact: Fact) -> str:
    """The fact's sentence asked back, its answer span replaced by a wh-word ("The ship Nimquin was built by
    who?"): the multi-hop question's second half when the model's cannot be used."""
    asked = fact.sentence.replace(fact.span, WH_WORDS.get(fact.label, "what"), 1)
    return asked.rstrip(" .!?") + "?"


def bridged(question: str, draft: Draft) -> str | None:
    """The multi-hop question: the first fact and the model's question about the second, the shared name blanked
    in both; None when the model's question does not name it."""
    blanked_question = blank(question, draft.shared or "")
    if blanked_question is None or draft.blanked_first is None:
        return None
    return prompts.MULTI_HOP_BRIDGED.format(blanked_a=draft.blanked_first, blanked_question=blanked_question)


def usable_question(candidate: Candidate, question: str) -> bool:
    """Whether the question passes the rules on its words (well formed, without its own answer)."""
    trial = candidate.model_copy(update={"question": question})
    return validate.well_formed(trial) is None and validate.answer_not_in_question(trial) is None


def fill(draft: Draft, reply: Completion) -> Candidate:
    """The draft's candidate with the model's question (a multi-hop one bridged with its first fact), or the
    fallback question where the model's cannot be used; rejected with the reason when neither can."""
    candidate, fallback = draft.candidate, draft.fallback
    if not reply.ok and fallback is None:
        return candidate.reject("generation", f"the generation call failed: {reply.error}")
    question, problem = prompts.parse_question(reply.text) if reply.ok else ("", reply.error)
    if draft.shared and not problem:
        question = bridged(question, draft) or ""
    if fallback is not None and (problem or not usable_question(candidate, question)):
        question, problem = fallback, None
    candidate.question = question  # what could be read is kept for a person to see
    return candidate.reject("parse", problem) if problem else candidate


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
            drafts, texts = self._slots(collection, targets, per_document)
            progress("generating", 0, len(drafts))
            budget = prompts.GENERATE_MAX_TOKENS
            asked = [d for d in drafts if d.prompt is not None and d.candidate.outcome == "pending"]
            replies = await asyncio.gather(*(ask(fit(d.prompt, budget), budget) for d in asked))
            for d, reply in zip(asked, replies, strict=True):
                fill(d, reply)
            candidates = [d.candidate for d in drafts]
            progress("validating", len(drafts), len(drafts))
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

    def _slots(self, collection, targets: list[str], per_document: int) -> tuple[list[Draft], dict[str, str]]:
        """The draft of every slot, and the text of every source chunk by id."""
        drafts: list[Draft] = []
        texts: dict[str, str] = {}

        def add(kind: str, chunks: list[SourceChunk]) -> None:
            candidate = from_sources(self.weaviate_name, kind, chunks, self.model, prompts.PROMPT_VERSION)
            candidate.run_id = self.run_id
            texts.update({c.chunk_id: c.text for c in chunks})
            drafts.append(draft(candidate, chunks))

        for doc_id in targets:
            chunks = [self._source(p) for p in document_passages(collection, [doc_id], self.settings)]
            if not chunks:
                continue
            for kind, sources in plan_single(chunks, per_document):
                add(kind, sources)
            for pair in self._pairs(collection, chunks, per_document):
                add("multi_hop", pair)
        return drafts, texts

    def _pairs(self, collection, chunks: list[SourceChunk], per_document: int) -> list[list[SourceChunk]]:
        """Up to `per_document` (chunk, partner) pairs of one document: its named chunks are tried spread over
        the document first, then in order, at most PARTNER_TRIES per pair wanted."""
        named = [c for c in with_facts(chunks) if names(c.text)]
        preferred = spread(named, per_document)
        tried = [*preferred, *(c for c in named if c not in preferred)][: PARTNER_TRIES * per_document]
        pairs = []
        for chunk in tried:
            partner = self._partner(collection, chunk)
            if partner is not None:
                pairs.append([chunk, partner])
            if len(pairs) == per_document:
                break
        return pairs

    def _partner(self, collection, chunk: SourceChunk) -> SourceChunk | None:
        """A chunk of another document naming a thing a sentence of the chunk names, with a sentence that can
        answer a question about it: the best hybrid-search hit for one of the chunk's named sentences."""
        for sentence in list(dict.fromkeys(fact.sentence for fact in names(chunk.text)))[:PARTNER_QUERIES]:
            for passage in retrieve_passages(collection, sentence, 5, self.settings):
                if passage.doc_id == chunk.doc_id or passage.doc_id not in self.documents:
                    continue
                if bridge(chunk.text, passage.text) is not None:
                    return self._source(passage)
        return None
