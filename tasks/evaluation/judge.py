"""A judge's verdict on an answer that has no gold answer (a production question replayed): a second model
(`RAGROUTE_JUDGE_MODEL`, on the same endpoint) reads the question, the evidence sentences the answer cites and the
answer — never the whole long context — and says whether the evidence supports it. The prompt is versioned
(`JUDGE_PROMPT_VERSION`, stored with each verdict); the judge's tokens and dollars are recorded apart from the
evaluation's, in `judgments`.

No call is made when the answer is a decline ("the documents do not say": verdict `declined`) or cites no
evidence (`unsupported`: nothing it says can be checked)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.prices import Price, cost_usd, spent_usd
from tasks.clients.llm import LLM

JUDGE_PROMPT_VERSION = "judge-1"
JUDGE_MAX_TOKENS = 8
JUDGE_PROMPT = (
    "You check whether an answer is supported by the evidence it cites.\n\n"
    "Question: {question}\n\nEvidence:\n{evidence}\n\nAnswer: {answer}\n\n"
    "Does the evidence support the answer to the question? Reply with one word: supported or unsupported."
)
_VERDICT = re.compile(r"\b(unsupported|not supported|supported)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    verdict: str | None  # supported | unsupported | declined; None: the judge's reply said neither
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None  # list dollars of the judge's call
    spent_cost_usd: float | None = None  # what it was billed (0 from the response cache)
    error: str | None = None  # the judge's call failed


def judge_prompt(question: str, evidence: list[str], answer: str) -> str:
    numbered = "\n".join(f"- {sentence}" for sentence in evidence)
    return JUDGE_PROMPT.format(question=question, evidence=numbered, answer=answer)


def read_verdict(reply: str | None) -> str | None:
    """`supported` or `unsupported` from the judge's reply (its first verdict word), else None."""
    found = _VERDICT.search(reply or "")
    if found is None:
        return None
    return "supported" if found.group(1).lower() == "supported" else "unsupported"


async def judge(
    llm: LLM, prices: dict[str, Price], question: str, answer: str, evidence: list[str], declined: bool
) -> Verdict:
    """The verdict on one answer; `llm` is a client for the judge model."""
    if declined:
        return Verdict("declined")
    if not evidence:
        return Verdict("unsupported")
    reply = await llm.complete(judge_prompt(question, evidence, answer), JUDGE_MAX_TOKENS)
    billed = reply.billed
    return Verdict(
        verdict=read_verdict(reply.text) if reply.ok else None,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cost_usd=cost_usd(prices, llm.model, reply.prompt_tokens, reply.completion_tokens),
        spent_cost_usd=spent_usd(
            prices, llm.model, billed.prompt_tokens, billed.cached_prompt_tokens, billed.completion_tokens
        ),
        error=reply.error,
    )
