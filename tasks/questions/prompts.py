"""The prompts that generate and check questions, and the defensive reading of the model's one-line reply.

Prompts are versioned: a change of wording is a new PROMPT_VERSION, stored with every question, so questions of
an older prompt can be told apart. The model is asked for one question on one line; a reply that does not hold
one is a rejected candidate with the reason, never an exception."""

from __future__ import annotations

import re

PROMPT_VERSION = "q3"
GENERATE_MAX_TOKENS = 64
ANSWER_MAX_TOKENS = 48

# The evidence sentence and the answer span are picked in code (tasks/questions/generate.py); the model only
# writes the question, on one line.
ANSWERABLE = (
    "Sentence: {sentence}\n\n"
    'Write one question that this sentence answers with "{answer}". The question must not contain '
    '"{answer}". Reply with the question only, on one line.'
)

# Multi-hop: the model writes the question of the second fact (ANSWERABLE: its answer, about the shared name);
# code then blanks the shared name out of both, so the first fact's document is needed to tell what the blank
# names: "Captain Relbar commands the ship ___. Who built the ship ___?" Where the model's question cannot be
# used, the second fact asked back in code stands in for it ("The ship ___ was built by who?").
MULTI_HOP_BRIDGED = "{blanked_a} {blanked_question}"

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

_WRAPPERS = " \t*`\"'“”‘’"
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
