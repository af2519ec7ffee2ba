"""The rules a generated question must pass to be used. Each rule is a small function that returns the reason
for a rejection, or None; the first rule a candidate fails rejects it, and the rule and reason are stored.

Rules, cheapest first:
- `well_formed`: a question of 3 to 60 words; an answer of at most 20 words; an unanswerable one's answer is
  "unanswerable";
- `evidence_in_chunk`: each evidence quote occurs in its source chunk (compared normalised: case, whitespace and
  punctuation ignored) and has at least 3 words;
- `answer_in_evidence` / `answer_not_in_question`: the answer's words occur, in order, in the evidence and not in
  the question;
- `answered_from_gold` (answerable, multi-hop): the model, given only the gold chunk(s), answers with token F1
  >= 0.5 against the answer;
- `no_support_retrieved` (unanswerable): no sentence of the top retrieved chunks supports the question; a
  sentence supports it when it holds at least 80% of the question's content words (its words of 3+ letters
  that are not stop or question words) and at least two of them;
- `declined_by_long_context` (unanswerable): the model, over the full text of the question's document and of
  the documents behind the retrieved chunks, says "unanswerable" (`self_route.is_declined`);
- `near_duplicate` (last, among the questions that passed every other rule): MiniLM cosine < 0.9 with every
  question kept before it (the collection's current ones, then this run's).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from schemas.questions import UNANSWERABLE, Candidate
from tasks.clients.llm import Completion
from tasks.evaluation.scoring import normalize_answer, qa_f1_score
from tasks.questions.prompts import ANSWER_FROM_PASSAGES, ANSWER_MAX_TOKENS, ANSWER_OR_DECLINE
from tasks.routing.citations import Passage
from tasks.routing.self_route import is_declined

DUPLICATE_COSINE = 0.9
MIN_GOLD_F1 = 0.5
SUPPORT_SHARE = 0.8
MIN_EVIDENCE_WORDS = 3
_STOP = """what which who whom whose when where why how does did do done is are was were be been being has have
had the and for with from into onto that this these those than then there their they them its his her our your
you can could would should will shall may might must not any all some about over under after before during
between per each many much more most other such only also very just one two name named called according passage
document text question answer"""
STOP_WORDS = frozenset(_STOP.split())  # and question words: not content words of a question

Ask = Callable[[str, int], Awaitable[Completion]]


def normalised(text: str) -> str:
    """Lower case, punctuation as spaces, whitespace collapsed: how quotes are compared with chunks."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _contains(text: str, phrase: str) -> bool:
    """`phrase` occurs in `text` as whole words, both normalised by LongBench's `normalize_answer`, which drops
    punctuation, or with punctuation read as spaces first (so "Marlowe's" holds "Marlowe")."""
    for normalise in (normalize_answer, lambda t: normalize_answer(normalised(t))):
        words = normalise(phrase)
        if words and f" {words} " in f" {normalise(text)} ":
            return True
    return False


# --- Rules on the candidate alone ----------------------------------------------------------------------


def well_formed(candidate: Candidate) -> str | None:
    words = len(candidate.question.split())
    if not 3 <= words <= 60:
        return f"the question has {words} words (3 to 60 allowed): {candidate.question!r}"
    if candidate.kind == UNANSWERABLE:
        if normalize_answer(candidate.answer) != UNANSWERABLE:
            return f"an unanswerable question's answer must be 'unanswerable', not {candidate.answer!r}"
        return None
    if not 1 <= len(candidate.answer.split()) <= 20:
        return f"the answer has {len(candidate.answer.split())} words (1 to 20 allowed)"
    return None


def evidence_in_chunk(candidate: Candidate, chunk_texts: Sequence[str]) -> str | None:
    """Each evidence quote (one per source chunk) occurs in its chunk, normalised; a multi-hop question's two
    quotes may come in either order (a small model mixes up A and B), one from each chunk."""
    if candidate.kind == UNANSWERABLE:
        return None
    if len(candidate.evidence) != len(chunk_texts):
        return f"{len(candidate.evidence)} evidence quote(s) for {len(chunk_texts)} source chunk(s)"
    problem = _quotes_in(candidate.evidence, chunk_texts, candidate.chunk_ids)
    if problem and len(chunk_texts) == 2:
        swapped = _quotes_in(candidate.evidence[::-1], chunk_texts, candidate.chunk_ids)
        problem = problem if swapped else None
    return problem


def _quotes_in(quotes: Sequence[str], chunk_texts: Sequence[str], chunk_ids: Sequence[str]) -> str | None:
    for number, (quote, text) in enumerate(zip(quotes, chunk_texts, strict=True), start=1):
        quoted = normalised(quote)
        if len(quoted.split()) < MIN_EVIDENCE_WORDS:
            return f"evidence {number} is too short to check ({quote!r})"
        if quoted not in normalised(text):
            return f"evidence {number} does not occur in its chunk {chunk_ids[number - 1]}: {quote[:120]!r}"
    return None


def answer_in_evidence(candidate: Candidate) -> str | None:
    if candidate.kind == UNANSWERABLE:
        return None
    if not _contains(" ".join(candidate.evidence), candidate.answer):
        return f"the answer {candidate.answer!r} does not occur in the evidence"
    return None


def answer_not_in_question(candidate: Candidate) -> str | None:
    if candidate.kind == UNANSWERABLE:
        return None
    if _contains(candidate.question, candidate.answer):
        return f"the question gives its own answer {candidate.answer!r}"
    return None


def near_duplicates(
    candidates: Sequence[Candidate],
    vectors: Sequence[Sequence[float]],
    kept: Sequence[tuple[str, Sequence[float]]] = (),
    threshold: float = DUPLICATE_COSINE,
) -> dict[str, str]:
    """question id -> reason, for each candidate whose question's cosine with one kept before it (the
    collection's current questions in `kept`, then the candidates before it that are not duplicates) is at
    least `threshold`. Vectors are unit length (`embed_texts`)."""
    earlier = [(qid, np.asarray(v, dtype=float)) for qid, v in kept]
    found = {}
    for candidate, vector in zip(candidates, vectors, strict=True):
        vector = np.asarray(vector, dtype=float)
        match = next(((qid, float(v @ vector)) for qid, v in earlier if float(v @ vector) >= threshold), None)
        if match:
            found[candidate.question_id] = (
                f"near-duplicate of {match[0]} (cosine {match[1]:.2f} >= {threshold})"
            )
        else:
            earlier.append((candidate.question_id, vector))
    return found


# --- Rules on what the model answered ------------------------------------------------------------------


def answered_from_gold(candidate: Candidate, reply: Completion) -> str | None:
    """The model's answer from the gold chunk(s) alone matches the candidate's answer (token F1 >= 0.5)."""
    if not reply.ok:
        return f"the answer check failed: {reply.error}"
    answer = (reply.text or "").strip().splitlines()[0] if (reply.text or "").strip() else ""
    answer = re.sub(r"^\s*answer\s*:\s*", "", answer, flags=re.IGNORECASE)
    f1 = qa_f1_score(answer, candidate.answer)
    if f1 < MIN_GOLD_F1:
        return f"answered from its chunk(s) as {answer[:80]!r}: token F1 {f1:.2f} < {MIN_GOLD_F1} against {candidate.answer!r}"
    return None


def content_words(text: str) -> set[str]:
    return {w for w in normalize_answer(text).split() if len(w) >= 3 and w not in STOP_WORDS}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]


def supporting_sentence(question: str, passages: Sequence[Passage]) -> str | None:
    """The reason naming a sentence of a retrieved chunk that holds at least 80% (and two) of the question's
    content words, or None when none does."""
    words = content_words(question)
    if len(words) < 2:
        return f"the question has {len(words)} content word(s): too vague to check"
    for passage in passages:
        for sentence in sentences(passage.text):
            shared = words & set(normalize_answer(sentence).split())
            if len(shared) >= 2 and len(shared) >= SUPPORT_SHARE * len(words):
                return f"chunk {passage.chunk_id} may answer it: {sentence[:120]!r}"
    return None


def declined_by_long_context(reply: Completion) -> str | None:
    if not reply.ok:
        return f"the long-context check failed: {reply.error}"
    if not is_declined(reply.text or ""):
        return f"answered over the full documents: {(reply.text or '').strip()[:120]!r}"
    return None


# --- Running the rules ----------------------------------------------------------------------------------


@dataclass
class Corpus:
    """What the model-backed rules read: chunk texts by id, retrieval from the collection, and the full text of
    documents (in order, as `ragroute ask`'s long context)."""

    chunk_texts: dict[str, str]
    retrieve: Callable[[str], list[Passage]]
    documents: Callable[[list[str]], list[Passage]]
    embed: Callable[[list[str]], list[list[float]]]
    fit: Callable[[str, int], str]  # a prompt cut to the model's window, leaving room for the answer
    kept: Sequence[tuple[str, Sequence[float]]] = ()  # the collection's current kept questions' vectors


def check_alone(candidate: Candidate, chunk_texts: dict[str, str]) -> Candidate:
    """The rules that need neither model nor index; rejects the candidate at the first that fails."""
    texts = [chunk_texts.get(chunk_id, "") for chunk_id in candidate.chunk_ids]
    rules = (
        ("well_formed", lambda: well_formed(candidate)),
        ("evidence_in_chunk", lambda: evidence_in_chunk(candidate, texts)),
        ("answer_in_evidence", lambda: answer_in_evidence(candidate)),
        ("answer_not_in_question", lambda: answer_not_in_question(candidate)),
    )
    for rule, check in rules:
        if (reason := check()) is not None:
            return candidate.reject(rule, reason)
    return candidate


async def check_with_model(candidate: Candidate, corpus: Corpus, ask: Ask) -> Candidate:
    """The model-backed rules of the candidate's kind; kept when they pass."""
    if candidate.kind == UNANSWERABLE:
        retrieved = corpus.retrieve(candidate.question)
        if (reason := supporting_sentence(candidate.question, retrieved)) is not None:
            return candidate.reject("no_support_retrieved", reason)
        # In one order for every question, so that checks over the same documents share their prompt's
        # beginning, which a local server reads once.
        doc_ids = sorted({*candidate.doc_ids, *(p.doc_id for p in retrieved)})
        documents = "\n\n".join(p.text for p in corpus.documents(doc_ids))
        prompt = ANSWER_OR_DECLINE.format(documents=documents, question=candidate.question)
        reply = await ask(corpus.fit(prompt, ANSWER_MAX_TOKENS), ANSWER_MAX_TOKENS)
        if (reason := declined_by_long_context(reply)) is not None:
            return candidate.reject("declined_by_long_context", reason)
    else:
        passages = "\n\n".join(corpus.chunk_texts.get(chunk_id, "") for chunk_id in candidate.chunk_ids)
        prompt = ANSWER_FROM_PASSAGES.format(passages=passages, question=candidate.question)
        reply = await ask(corpus.fit(prompt, ANSWER_MAX_TOKENS), ANSWER_MAX_TOKENS)
        if (reason := answered_from_gold(candidate, reply)) is not None:
            return candidate.reject("answered_from_gold", reason)
    candidate.outcome, candidate.rule, candidate.reason = "kept", None, None
    return candidate


async def validate(candidates: list[Candidate], corpus: Corpus, ask: Ask) -> list[Candidate]:
    """Every rule over the candidates (rejected ones stay as they are); returns them, each kept or rejected.
    Near-duplicates are looked for last, among the questions that passed every other rule."""
    alive = [check_alone(c, corpus.chunk_texts) for c in candidates if c.outcome == "pending"]
    # The short checks first, then the long-context ones one after another, sharing their prompts' beginning.
    await asyncio.gather(*(check_with_model(c, corpus, ask) for c in alive
                           if c.outcome == "pending" and c.kind != UNANSWERABLE))  # fmt: skip
    for candidate in [c for c in alive if c.outcome == "pending" and c.kind == UNANSWERABLE]:
        await check_with_model(candidate, corpus, ask)
    kept = [c for c in alive if c.kept]
    duplicates = near_duplicates(kept, corpus.embed([c.question for c in kept]) if kept else [], corpus.kept)
    for candidate in kept:
        if candidate.question_id in duplicates:
            candidate.reject("near_duplicate", duplicates[candidate.question_id])
    return candidates


RULES = ("parse", "well_formed", "evidence_in_chunk", "answer_in_evidence", "answer_not_in_question",
         "answered_from_gold", "no_support_retrieved", "declined_by_long_context", "near_duplicate")  # fmt: skip
