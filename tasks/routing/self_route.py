"""Self-Route (Li et al. 2024, arXiv 2407.16833): answer from retrieved chunks first, and send the question to
the full context only when that answer declines. The one routing step of `ragroute ask`, the HTTP API, the
benchmark evaluation and corpus QA sets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tasks.clients.llm import Completion
from tasks.evaluation.scoring import normalize_answer

Step = Callable[[], Awaitable[Completion]]


def is_declined(answer: str) -> bool:
    """Self-Route's routing signal: the model's answer contains the word "unanswerable" (it may say it in a
    sentence: "The answer is unanswerable."). Only the model's output is read, never the document."""
    return "unanswerable" in normalize_answer(answer).split()


@dataclass
class Routed:
    """The answer given, the route that gave it, and every completion paid for on the way."""

    final: Completion
    route: str  # rag | lc
    spent: list[Completion]
    first_step: Completion | None = None  # Self-Route's RAG step (holds the decline probability)

    @property
    def error(self) -> str | None:
        return next((c.error for c in self.spent if c.error), None)

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.spent)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.spent)


async def answer(method: str, rag: Step, lc: Step) -> Routed:
    """`lc` and `rag` (or `rag_reorder`): one step. `self_route`: the RAG step, then LC if it declined."""
    if method == "lc":
        final = await lc()
        return Routed(final, "lc", [final])
    first = await rag()
    if method != "self_route":
        return Routed(first, "rag", [first])
    if first.ok and is_declined(first.text):
        final = await lc()
        return Routed(final, "lc", [first, final], first)
    return Routed(first, "rag", [first], first)
