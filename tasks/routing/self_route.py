"""Self-Route (Li et al. 2024, arXiv 2407.16833): answer from retrieved chunks first, and send the question to
the full context only when that answer declines. The one routing step of `ragroute ask`, the HTTP API, the
benchmark evaluation and corpus QA sets.

Beyond the paper, a decline threshold τ also routes to long context when the probability that the RAG answer
begins with "unanswerable" (`decline_prob`, from logprobs) is at least τ, even if the text answers. Without τ
the rule is the paper's: the text alone decides."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tasks.clients.llm import Billed, Completion
from tasks.evaluation.scoring import normalize_answer

Step = Callable[[], Awaitable[Completion]]


def is_declined(answer: str) -> bool:
    """Self-Route's routing signal: the model's answer contains the word "unanswerable" (it may say it in a
    sentence: "The answer is unanswerable."). Only the model's output is read, never the document."""
    return "unanswerable" in normalize_answer(answer).split()


def declines(first: Completion, threshold: float | None = None) -> bool:
    """Route to long context: the text declines, or (with a threshold τ) P("unanswerable") ≥ τ."""
    if is_declined(first.text or ""):
        return True
    return threshold is not None and first.decline_prob is not None and first.decline_prob >= threshold


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
    def text_declined(self) -> bool | None:
        """Whether Self-Route's RAG step declined in words (the paper's rule); None without that step."""
        first = self.first_step
        return is_declined(first.text or "") if first is not None and first.ok else None

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.spent)

    @property
    def completion_tokens(self) -> int:
        return sum(c.completion_tokens for c in self.spent)

    @property
    def cached_prompt_tokens(self) -> int:
        """Prompt tokens the provider read from its prompt cache."""
        return sum(c.cached_prompt_tokens for c in self.spent)

    @property
    def billed(self) -> Billed:
        """What every call on the way was charged, a failed one's paid attempts included."""
        return sum((c.billed for c in self.spent), Billed())

    @property
    def answered_first_step(self) -> Completion | None:
        """Self-Route's RAG step when it answered (its LC step may still have failed)."""
        return self.first_step if self.first_step is not None and self.first_step.ok else None


async def answer(method: str, rag: Step, lc: Step, threshold: float | None = None) -> Routed:
    """`lc` and `rag` (or `rag_reorder`): one step. `self_route`: the RAG step, then LC if it declined
    (`declines`, with the decline threshold τ when given)."""
    if method == "lc":
        final = await lc()
        return Routed(final, "lc", [final])
    first = await rag()
    if method != "self_route":
        return Routed(first, "rag", [first])
    if first.ok and declines(first, threshold):
        final = await lc()
        return Routed(final, "lc", [first, final], first)
    return Routed(first, "rag", [first], first)
