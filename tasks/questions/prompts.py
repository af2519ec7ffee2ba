"""The prompts that generate and check questions, and the defensive reading of the model's line format.

Prompts are versioned: a change of wording is a new PROMPT_VERSION, stored with every question, so questions of
an older prompt can be told apart. The model is asked for a few labelled lines ("Question: …"); a reply that
does not hold them is a rejected candidate with the reason, never an exception."""

from __future__ import annotations

import re

PROMPT_VERSION = "q2"
GENERATE_MAX_TOKENS = 64
ANSWER_MAX_TOKENS = 48

# The evidence sentence and the answer span are picked in code (tasks/questions/generate.py); the model only
# writes the question, on one line.
ANSWERABLE = (
    "Sentence: {sentence}\n\n"
    'Write one question that this sentence answers with "{answer}". The question must not contain '
    '"{answer}". Reply with the question only, on one line.'
)

MULTI_HOP = (
    "Fact 1: {sentence_a}\nFact 2: {sentence_b}\n\n"
    'Both facts mention {shared}. Write one question whose answer is "{answer}" (from fact 2) and that '
    'describes {shared} by fact 1. The question must not contain "{answer}". Reply with the question only, on '
    "one line."
)
# When the model's multi-hop question cannot be used: both sentences, the answer blanked out of the second.
MULTI_HOP_TEMPLATE = 'Given that "{sentence_a}", what fills the blank in "{blanked_b}"?'

# Unanswerable: an attribute the corpus does not state, of a named thing of a chunk ({name}); by the kind of
# name, in order of preference (one whose words the chunk holds is skipped).
UNANSWERABLE_TEMPLATES = {
    "person": ("In which year was {name} born?", "What was the favourite colour of {name}?"),
    "place": ("What colour is the flag of {name}?", "How many people lived in {name} in 1850?"),
    "thing": ("In which year was {name} founded?", "Who owned {name} in 1850?"),
}

# Checks: the model answers from the gold passage(s) alone, or from the documents' full text (may decline).
ANSWER_FROM_PASSAGES = (
    "{passages}\n\nAnswer the question using only the text above. Reply with the short answer only, a few "
    "words.\n\nQuestion: {question}\nAnswer:"
)
ANSWER_OR_DECLINE = (
    "{documents}\n\nAnswer the question based on the documents above, as briefly as you can. If the question "
    'cannot be answered based on the information in the documents, write "unanswerable". Do not provide any '
    "explanation.\n\nQuestion: {question}\nAnswer:"
)

_QUESTION_LABEL = re.compile(r"^[\s>*#\-\d.)]*(?:question|q)\s*\**\s*[:：]\s*", re.IGNORECASE)


def parse_question(reply: str | None) -> tuple[str, str | None]:
    """The question of a one-line reply (a label, quotes and markdown stripped; the first line that asks
    something, else the first line), or the reason there is none."""
    lines = [_QUESTION_LABEL.sub("", line).strip(_WRAPPERS) for line in (reply or "").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return "", "empty reply"
    asked = [line for line in lines if line.endswith("?")]
    question = (asked or lines)[0]
    if not question.endswith("?"):
        return question, f"unparsable reply: no question in {' '.join(question.split())[:120]!r}"
    return question, None


FIELDS = {
    "answerable": ("question", "answer", "evidence"),
    "multi_hop": ("question", "answer", "evidence a", "evidence b"),
    "unanswerable": ("question",),
}
_LABEL = re.compile(
    r"^[\s>*#\-\d.)]*(question|answer|evidence(?:\s*[ab12])?)\s*\**\s*[:：]\s*(.*)$", re.IGNORECASE
)
_WRAPPERS = " \t*`\"'“”‘’"
_MARKER = re.compile(r"^[\s>*#\-\d.)]+$")


def _label(raw: str) -> str:
    label = " ".join(raw.lower().split())
    return {"evidence1": "evidence a", "evidence 1": "evidence a", "evidence2": "evidence b",
            "evidence 2": "evidence b", "evidencea": "evidence a", "evidenceb": "evidence b"}.get(label, label)  # fmt: skip


# A label a small model wrote in the middle of a line ("Question: …? Answer: …"): it starts a new line.
_INLINE_LABEL = re.compile(r"[ \t]+(?=\**(?:Question|Answer|Evidence(?:\s*[AB12])?)\s*\**\s*:)")


def read_fields(reply: str) -> dict[str, str]:
    """The labelled lines of a reply (first occurrence of each label, wrappers such as quotes and markdown
    stripped); a line without a label continues the field before it."""
    found: dict[str, str] = {}
    current: str | None = None
    for line in _INLINE_LABEL.sub("\n", reply).splitlines():
        match = _LABEL.match(line)
        if match:
            label = _label(match.group(1))
            current = None if label in found else label
            if current:
                found[current] = match.group(2).strip(_WRAPPERS)
        elif _MARKER.match(line):  # a list marker left alone by the split above: no text
            continue
        elif current and line.strip():
            found[current] = f"{found[current]} {line.strip()}".strip(_WRAPPERS)
        else:
            current = None
    return found


def parse_reply(kind: str, reply: str | None) -> tuple[dict[str, str], str | None]:
    """The fields the kind needs, or the reason the reply cannot be used."""
    if not reply or not reply.strip():
        return {}, "empty reply"
    found = read_fields(reply)
    wanted = FIELDS[kind]
    if kind == "multi_hop" and "evidence" in found and "evidence a" not in found:
        found["evidence a"] = found["evidence"]  # "Evidence:" then "Evidence B:"
    if kind == "unanswerable" and "question" not in found:  # a bare question, without its label
        asked = [line for line in (raw.strip(_WRAPPERS) for raw in reply.splitlines()) if line.endswith("?")]
        if asked:
            found["question"] = asked[0]
    missing = [name for name in wanted if not found.get(name)]
    if missing:
        shown = " ".join(reply.split())[:120]
        return {}, f"unparsable reply: no {', '.join(n.title() for n in missing)} line in {shown!r}"
    return {name: found[name] for name in wanted}, None
