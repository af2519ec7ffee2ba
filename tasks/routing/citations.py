"""Citations of an answer: the passage numbers a model cites, checked against the numbered passages that were
in its prompt (an invented one is dropped and flagged) and mapped back to document, page and chunk, with the
sentences used as evidence; an answer citing nothing (or only passages that do not hold it) is attributed to
the passage holding it that shares most of its words.

A reply is returned as an answer only when it is in words and some passage in the prompt holds it (`holds`:
its words, every number it adds to the question, at least one word it adds, and a word of what the question
is about); a decline, or a reply no passage holds (two passages' facts spliced, an invented detail, the
question's own words given back, a sentence about something else), means the documents do not say
(`supported_answer`)."""

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
                       "was", "were", "which", "who", "with", "s"})  # fmt: skip
# Words that ask rather than name what a question is about.
QUESTION_WORDS = frozenset({"what", "when", "where", "whom", "whose", "why", "how", "did", "does", "do", "many",
                            "much"})  # fmt: skip


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
    score: float = 0.0  # the retrieval score (0 for a passage of the whole documents)

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


def is_supported(text: str, passages: list[Passage], question: str) -> bool:
    """A reply says something in words that a passage in the prompt holds (see `holds`)."""
    words, _ = split_answer(text)
    return is_usable(words) and bool(attribute(words, passages, question))


def acceptable(text: str, passages: list[Passage], question: str) -> bool:
    """A reply not worth asking again for: a decline, or an answer a passage in the prompt supports."""
    return self_route.is_declined(text) or is_supported(text, passages, question)


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


def _reach(passage: Passage, passages: list[Passage]) -> str:
    """The passage's text and, when the prompt holds it, the next chunk of its document (a sentence may run on
    across the chunk boundary)."""
    following = (
        p.text for p in passages if p.doc_id == passage.doc_id and p.chunk_index == passage.chunk_index + 1
    )
    return " ".join([passage.text, next(following, "")])


def _about(question: str, text: set[str]) -> bool:
    """The text names something the question names (a word, or one of four letters or more that begins the
    other: "keeper", "keepers"); a question naming nothing is about anything."""
    named = _words(question) - STOPWORDS - QUESTION_WORDS
    return not named or any(
        a == b or (min(len(a), len(b)) >= 4 and (a.startswith(b) or b.startswith(a)))
        for a in named
        for b in text
    )


def holds(passage_text: str, answer: str, question: str, min_overlap: int = 3) -> bool:
    """The passage holds the answer: it is about the question (`_about`), has all the words of a short answer
    ("1887 to 1902") or `min_overlap` of a longer one, every number the answer adds to the question, and at
    least one word it adds (an answer that only repeats the question says nothing)."""
    answer_words = _words(answer) - STOPWORDS
    added = answer_words - _words(question)
    text = _words(passage_text)
    numbers = {word for word in added if word.isdigit()}
    overlap = len(answer_words & text) >= min(min_overlap, len(answer_words))
    return bool(added & text) and numbers <= text and overlap and _about(question, text)


def attribute(answer: str, passages: list[Passage], question: str) -> list[Citation]:
    """When the model cites no passage that holds the answer: of the passages that hold it (`holds`), the one
    sharing the most words with the answer (ties: with the question)."""
    answer_words, question_words = _words(answer) - STOPWORDS, _words(question) - STOPWORDS
    holding = [p for p in passages if holds(_reach(p, passages), answer, question)]
    best = max(holding, key=lambda p: (len(answer_words & _words(p.text)), len(question_words & _words(p.text))),
               default=None)  # fmt: skip
    return [_citation(best, answer, question, inferred=True)] if best else []


def parse_citations(answer: str, passages: list[Passage], question: str) -> tuple[list[Citation], list[int]]:
    """Citations of passages in the prompt that hold the answer, and the numbers that were not in the prompt
    (invented, dropped). Without such a citation the answer is attributed to the passage holding it (inferred)."""
    by_number = {p.number: p for p in passages}
    plain_answer, cited = split_answer(answer)
    citations = [_citation(by_number[n], plain_answer, question) for n in cited
                 if n in by_number and holds(_reach(by_number[n], passages), plain_answer, question)]  # fmt: skip
    invented = [n for n in cited if n not in by_number]
    return citations or attribute(plain_answer, passages, question), invented


def supported_answer(
    text: str, passages: list[Passage], question: str
) -> tuple[str, list[Citation], list[int]] | None:
    """The reply's answer in words with its citations and invented numbers, or None when the documents do not
    say: the reply declines, or no passage in the prompt supports it."""
    if self_route.is_declined(text) or not is_supported(text, passages, question):
        return None
    citations, invented = parse_citations(text, passages, question)
    return split_answer(text)[0], citations, invented
