"""Citations of an answer: the passage numbers a model cites, checked against the numbered passages that were
in its prompt (an invented one is dropped and flagged) and mapped back to document, page and chunk, with the
sentences used as evidence; an answer citing nothing is attributed to the passage sharing most of its words."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from schemas.api import Citation
from tasks.ingestion.chunk import page_at
from tasks.routing import self_route

CITATION = re.compile(r"\[(\d{1,3})\]")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"[a-z0-9]+")
# The line naming the passages used ("Passages: [1][3]" or "Sources: 1, 3"), and a leading "Answer:".
SOURCES_LINE = re.compile(
    r"^\s*(?:passages?|sources?|citations?)(?: used)?\s*:(.*)$", re.IGNORECASE | re.MULTILINE
)
ANSWER_LABEL = re.compile(r"^\s*answer\s*:\s*", re.IGNORECASE)
NUMBER = re.compile(r"\d{1,3}")
LETTERS = re.compile(r"[^\W\d_]{2,}")
# Words too common to tie an answer to a passage.
STOPWORDS = frozenset({"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "he", "her", "his", "in",
                       "is", "it", "its", "of", "on", "or", "she", "that", "the", "their", "they", "this", "to",
                       "was", "were", "which", "who", "with"})  # fmt: skip


@dataclass
class Passage:
    number: int
    chunk_id: str
    doc_id: str
    source_path: str
    page: int
    chunk_index: int
    text: str
    page_spans: list[int] = field(default_factory=list)

    def page_of(self, sentence: str) -> int:
        """The page a sentence of this passage is on (a passage may span a page break)."""
        at = self.text.find(sentence)
        return (
            page_at(self.page_spans, len(self.text[:at].split()))
            if at >= 0 and self.page_spans
            else self.page
        )


def split_answer(text: str) -> tuple[str, list[int]]:
    """The answer in words (no label, no passage list, no [n] markers) and the passage numbers cited, in order."""
    cited = [int(n) for n in CITATION.findall(text)]
    for line in SOURCES_LINE.findall(text):
        cited += [int(n) for n in NUMBER.findall(line)]
    words = ANSWER_LABEL.sub("", SOURCES_LINE.sub("", text))
    words = " ".join(CITATION.sub("", words).split())
    return words.strip(" ,;"), list(dict.fromkeys(cited))


def is_usable(answer: str) -> bool:
    """An answer says something in words: not empty, not a bare number (such as a passage number)."""
    return bool(LETTERS.search(answer))


def acceptable(text: str, passages: list[Passage], question: str) -> bool:
    """A model's reply to return: in words, and a decline or supported by a passage in the prompt."""
    words, _ = split_answer(text)
    return is_usable(words) and (self_route.is_declined(text) or bool(attribute(words, passages, question)))


def _words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def evidence_sentences(passage_text: str, answer: str, question: str, limit: int = 2) -> list[str]:
    """The passage's sentences that share the most words with the answer (then the question)."""
    sentences = [s.strip() for s in SENTENCE_END.split(passage_text) if s.strip()]
    answer_words, question_words = _words(answer), _words(question)
    ranked = sorted(
        sentences,
        key=lambda s: (len(_words(s) & answer_words), len(_words(s) & question_words)),
        reverse=True,
    )
    return ranked[:limit]


def _citation(passage: Passage, answer: str, question: str, inferred: bool = False) -> Citation:
    evidence = evidence_sentences(passage.text, answer, question)
    return Citation(
        number=passage.number,
        chunk_id=passage.chunk_id,
        source_path=passage.source_path,
        page=passage.page_of(evidence[0]) if evidence else passage.page,
        chunk_index=passage.chunk_index,
        evidence=evidence,
        inferred=inferred,
    )


def attribute(answer: str, passages: list[Passage], question: str, min_overlap: int = 3) -> list[Citation]:
    """When the model cites nothing: the passage sharing the most words with the answer (ties: with the
    question). A short answer ("1987") needs all its words in the passage, a longer one `min_overlap`."""
    answer_words = _words(answer) - STOPWORDS
    needed = min(min_overlap, len(answer_words))
    question_words = _words(question) - STOPWORDS
    scored = [(len(answer_words & _words(p.text)), len(question_words & _words(p.text)), p) for p in passages]
    overlap, _, best = max(scored, key=lambda item: item[:2], default=(0, 0, None))
    return [_citation(best, answer, question, inferred=True)] if best and needed and overlap >= needed else []


def parse_citations(answer: str, passages: list[Passage], question: str) -> tuple[list[Citation], list[int]]:
    """Citations that point at passages in the prompt, and the numbers that did not (invented, dropped).
    Without any valid citation the answer is attributed to its best-matching passage (marked inferred)."""
    by_number = {p.number: p for p in passages}
    plain_answer, cited = split_answer(answer)
    citations = [_citation(by_number[n], plain_answer, question) for n in cited if n in by_number]
    invented = [n for n in cited if n not in by_number]
    return citations or attribute(plain_answer, passages, question), invented


def evidence_answer(passages: list[Passage], question: str) -> list[Citation]:
    """The citation whose evidence sentence stands in for an unusable answer: the passage sharing most words
    with the question, and its sentence sharing most of them."""
    chosen = attribute(question, passages, question, min_overlap=1)
    return chosen if chosen and chosen[0].evidence else []
