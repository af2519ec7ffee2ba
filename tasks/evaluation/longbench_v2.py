"""LongBench v2 (THUDM/LongBench, repository root): prompts, answer extraction and accuracy.

Everything here follows the official `pred.py`, `result.py` and `prompts/*.txt`:

- the templates are the official files verbatim (no trailing newline; "Let’s" with a typographic apostrophe);
- a prompt is filled by `.replace` calls in the official order: `$DOC$` (context, stripped), `$Q$`
  (question, stripped), `$C_A$` … `$C_D$` (each choice, stripped), then `$COT$` for the CoT answer step;
- an over-long prompt keeps the tokens `ids[:max_len // 2] + ids[-max_len // 2:]`, decoded in one piece
  (`tasks.clients.tokens.truncate_middle`, rule `longbench_v2`);
- the answer letter is read by `extract_answer`; no letter means a wrong answer;
- accuracy is reported overall, by difficulty (easy / hard) and by length (short / medium / long), in percent
  rounded to one decimal; `compensated` counts an unreadable answer as 0.25 (off by default, as officially).

The Self-Route template (`rag_self_route`) is ragroute's own: the official RAG template with a clause that
lets the model decline ("unanswerable") after the opening instruction and before the answer format.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schemas.benchmarks import Example, LongBenchV2Record

DATASET = "longbench_v2"
LETTERS = "ABCD"
MAX_NEW_TOKENS = 128  # official, every mode but the first CoT step
COT_MAX_NEW_TOKENS = 1024  # official, the first CoT step
TEMPERATURE = 0.1  # official

# prompts/0shot.txt
TEMPLATE_0SHOT = (
    "Please read the following text and answer the question below.\n\n<text>\n$DOC$\n</text>\n\n"
    "What is the correct answer to this question: $Q$\nChoices:\n(A) $C_A$\n(B) $C_B$\n(C) $C_C$\n(D) $C_D$\n\n"
    'Format your response as follows: "The correct answer is (insert answer here)".'
)
# prompts/0shot_cot.txt
TEMPLATE_0SHOT_COT = (
    "Please read the following text and answer the questions below.\n\n<text>\n$DOC$\n</text>\n\n"
    "What is the correct answer to this question: $Q$\nChoices:\n(A) $C_A$\n(B) $C_B$\n(C) $C_C$\n(D) $C_D$\n\n"
    "Let\u2019s think step by step:"
)
# prompts/0shot_cot_ans.txt: the second CoT step, given the first step's (stripped) output as $COT$.
TEMPLATE_0SHOT_COT_ANS = (
    "Please read the following text and answer the questions below.\n\nThe text is too long and omitted here.\n\n"
    "What is the correct answer to this question: $Q$\nChoices:\n(A) $C_A$\n(B) $C_B$\n(C) $C_C$\n(D) $C_D$\n\n"
    "Let\u2019s think step by step: $COT$\n\nBased on the above, what is the single, most likely answer choice? "
    'Format your response as follows: "The correct answer is (insert answer here)".'
)
# prompts/0shot_no_context.txt
TEMPLATE_0SHOT_NO_CONTEXT = (
    "What is the correct answer to this question: $Q$\nChoices:\n(A) $C_A$\n(B) $C_B$\n(C) $C_C$\n(D) $C_D$\n\n"
    "What is the single, most likely answer choice? "
    'Format your response as follows: "The correct answer is (insert answer here)".'
)
# prompts/0shot_rag.txt
TEMPLATE_RAG = (
    "Please read the following retrieved text chunks and answer the question below.\n\n<text>\n$DOC$\n</text>\n\n"
    "What is the correct answer to this question: $Q$\nChoices:\n(A) $C_A$\n(B) $C_B$\n(C) $C_C$\n(D) $C_D$\n\n"
    'Format your response as follows: "The correct answer is (insert answer here)".'
)

# Self-Route's first step (ragroute's, not official): the RAG template offering "unanswerable".
UNANSWERABLE_OPTION = (
    'If the question cannot be answered based on the retrieved text chunks, write "unanswerable".'
)
TEMPLATE_RAG_SELF_ROUTE = (
    "Please read the following retrieved text chunks and answer the question below. "
    f"{UNANSWERABLE_OPTION}\n\n<text>\n$DOC$\n</text>\n\n"
    "What is the correct answer to this question: $Q$\nChoices:\n(A) $C_A$\n(B) $C_B$\n(C) $C_C$\n(D) $C_D$\n\n"
    f'{UNANSWERABLE_OPTION} Format your response as follows: "The correct answer is (insert answer here)".'
)

TEMPLATES: dict[str, str] = {
    "0shot": TEMPLATE_0SHOT,
    "0shot_cot": TEMPLATE_0SHOT_COT,
    "0shot_cot_ans": TEMPLATE_0SHOT_COT_ANS,
    "0shot_no_context": TEMPLATE_0SHOT_NO_CONTEXT,
    "rag": TEMPLATE_RAG,
    "rag_self_route": TEMPLATE_RAG_SELF_ROUTE,
}
# Which template each ragroute method uses (LC reads the whole context, zero-shot as officially).
METHOD_TEMPLATES: dict[str, str] = {
    "lc": "0shot",
    "rag": "rag",
    "rag_reorder": "rag",
    "rag_docorder": "rag",
    "self_route": "rag_self_route",
}

_ANSWER_IN_PARENS = re.compile(r"The correct answer is \(([A-D])\)")
_ANSWER_BARE = re.compile(r"The correct answer is ([A-D])")

V2Item = Mapping[str, Any] | Example | LongBenchV2Record


# -- prompts --------------------------------------------------------------------------------------------------
def fill_template(
    template: str, *, context: str, question: str, choices: Sequence[str], cot: str | None = None
) -> str:
    """Substitute as the official pred.py: `$DOC$`, `$Q$`, `$C_A$`…`$C_D$` (all stripped), then `$COT$`.

    The order matters when a text holds a placeholder itself (a context quoting "$Q$" gets the question).
    """
    if len(choices) != 4:
        raise ValueError(f"LongBench v2 needs exactly 4 choices, got {len(choices)}")
    prompt = (
        template.replace("$DOC$", context.strip())
        .replace("$Q$", question.strip())
        .replace("$C_A$", choices[0].strip())
        .replace("$C_B$", choices[1].strip())
        .replace("$C_C$", choices[2].strip())
        .replace("$C_D$", choices[3].strip())
    )
    if cot is not None:
        prompt = prompt.replace("$COT$", cot.strip())  # officially the step-1 output, stripped
    return prompt


def record_parts(item: V2Item) -> tuple[str, str, list[str]]:
    """(context, question, [choice A..D]) of a v2 item: an official-format mapping, a record or an Example."""
    if isinstance(item, LongBenchV2Record):
        return item.context, item.question, item.choices
    if isinstance(item, Example):
        if not item.options or len(item.options) != 4:
            raise ValueError(f"example {item.id!r} has no 4 options; it is not a LongBench v2 question")
        return item.context, item.input, list(item.options)
    try:
        return item["context"], item["question"], [item[f"choice_{letter}"] for letter in LETTERS]
    except KeyError as error:
        raise ValueError(f"LongBench v2 record lacks field {error.args[0]!r}") from None


def build_prompt(
    item: V2Item, template: str = "0shot", *, context: str | None = None, cot: str | None = None
) -> str:
    """The prompt for `item` with one of `TEMPLATES` (a name) or a template text.

    `context` replaces the item's own (RAG: pass `rag_context(...)`; "0shot_no_context" ignores it);
    `cot` is the first CoT step's output, for "0shot_cot_ans".
    """
    text = TEMPLATES.get(template, template)
    if "$Q$" not in text:
        raise ValueError(f"unknown LongBench v2 template {template!r}; known: {', '.join(TEMPLATES)}")
    if "$COT$" in text and cot is None:
        raise ValueError("the CoT answer step needs the first step's output (cot=...)")
    own_context, question, choices = record_parts(item)
    return fill_template(
        text, context=own_context if context is None else context, question=question, choices=choices, cot=cot
    )


def method_prompt(item: V2Item, method: str, *, chunks: Iterable[Any] = (), k: int | None = None) -> str:
    """The prompt for a ragroute method: `lc` (0shot, full context), `rag` (official RAG
    template over `rag_context(chunks, k)`, which puts the chunks in document order: `rag_reorder` and
    `rag_docorder` give the same prompt), `self_route` (the RAG template offering "unanswerable")."""
    try:
        name = METHOD_TEMPLATES[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(METHOD_TEMPLATES)}") from None
    if method == "lc":
        return build_prompt(item, name)
    return build_prompt(item, name, context=rag_context(chunks, k))


def rag_context(chunks: Iterable[Any], k: int | None = None) -> str:
    """Retrieved chunks as the official RAG prompt shows them: the top `k` (in retrieval order) put back in
    document order, each as "Retrieved chunk N: text" (N from 1), separated by a blank line.

    A chunk is a mapping with `c_idx` and `content` (the official retrieved_context), a (index, text) pair,
    or an object with `chunk_index` and `text` (ragroute's RetrievedChunk).
    """
    picked = [_chunk_parts(chunk) for chunk in chunks]
    if k is not None:
        picked = picked[:k]
    picked.sort(key=lambda pair: pair[0])  # stable, as Python's sorted() in pred.py
    return "\n\n".join(
        f"Retrieved chunk {number}: {text}" for number, (_, text) in enumerate(picked, start=1)
    )


def _chunk_parts(chunk: Any) -> tuple[int, str]:
    if isinstance(chunk, Mapping):
        return chunk["c_idx"], chunk["content"]
    if isinstance(chunk, tuple | list):
        return chunk[0], chunk[1]
    return chunk.chunk_index, chunk.text


# -- answers --------------------------------------------------------------------------------------------------
def extract_answer(response: str | None) -> str | None:
    """The official `extract_answer`: drop every `*`, then "The correct answer is (X)", then "... is X"."""
    if response is None:
        return None
    response = response.replace("*", "")
    match = _ANSWER_IN_PARENS.search(response) or _ANSWER_BARE.search(response)
    return match.group(1) if match else None


def is_correct(response: str | None, answer: str) -> bool:
    """The official judge: the extracted letter equals the gold letter (no letter is wrong)."""
    return extract_answer(response) == answer


# -- accuracy -------------------------------------------------------------------------------------------------
def _gold(record: Mapping[str, Any]) -> str:
    if isinstance(record.get("answer"), str):
        return record["answer"]
    answers = record.get("answers")
    if isinstance(answers, list) and answers and isinstance(answers[0], str):
        return answers[0]
    raise ValueError("a LongBench v2 result needs 'answer' (a letter) or 'answers'")


def record_letter(record: Mapping[str, Any]) -> str | None:
    """The answer letter of a result: extracted from `response` (official result files) or else from `pred`
    (ragroute's prediction files, where `pred` is the model's raw output; in an official file that kept
    `judge` but not `response`, `pred` is the letter itself)."""
    if "response" in record:
        return extract_answer(record["response"]) if isinstance(record["response"], str) else None
    pred = record.get("pred")
    if "judge" in record and (pred is None or pred in ("A", "B", "C", "D")):
        return pred  # an official result without its response: `pred` is already the letter
    return extract_answer(pred) if isinstance(pred, str) else None


def record_accuracy(record: Mapping[str, Any], compensated: bool = False) -> float:
    """One result's credit as result.py counts it: its `judge` where present, else the extracted letter
    against the gold; with `compensated`, 0.25 for a result with no readable letter."""
    letter = record_letter(record)
    acc: float = int(record["judge"]) if "judge" in record else int(letter == _gold(record))
    if compensated and letter is None:
        acc = 0.25
    return acc


def _percent(correct: float, total: int) -> float | None:
    return round(100 * correct / total, 1) if total else None


def accuracy(records: Iterable[Mapping[str, Any]], compensated: bool = False) -> dict[str, Any]:
    """result.py's columns: {"n", "overall", "easy", "hard", "short", "medium", "long"} in percent, one decimal.

    As officially, a difficulty other than "easy" counts as hard and a length other than short/medium as long.
    An empty group is None (result.py would divide by zero).
    """
    easy = hard = short = medium = long = 0
    easy_acc: float = 0
    hard_acc: float = 0
    short_acc: float = 0
    medium_acc: float = 0
    long_acc: float = 0
    n = 0
    for record in records:
        n += 1
        acc = record_accuracy(record, compensated)
        if record.get("difficulty") == "easy":
            easy += 1
            easy_acc += acc
        else:
            hard += 1
            hard_acc += acc
        length = record.get("length_class") or record.get("length")
        if length == "short":
            short += 1
            short_acc += acc
        elif length == "medium":
            medium += 1
            medium_acc += acc
        else:
            long += 1
            long_acc += acc
    return {
        "n": n,
        "overall": _percent(easy_acc + hard_acc, n),
        "easy": _percent(easy_acc, easy),
        "hard": _percent(hard_acc, hard),
        "short": _percent(short_acc, short),
        "medium": _percent(medium_acc, medium),
        "long": _percent(long_acc, long),
    }


def parse_record(record: Mapping[str, Any]) -> Example:
    """A LongBench v2 line (official field names) as an Example; pydantic's ValidationError when malformed."""
    return LongBenchV2Record.model_validate(record).to_example()


def looks_like_v2(record: Mapping[str, Any]) -> bool:
    """A record in LongBench v2's own shape: a question with choice_A … choice_D."""
    return "question" in record and all(f"choice_{letter}" in record for letter in LETTERS)
