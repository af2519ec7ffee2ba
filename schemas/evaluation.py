"""The one evaluation configuration: `ragroute eval`'s options, a nightly plan entry and the flows' input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from schemas.errors import RagrouteError
from schemas.methods import Method, Retriever

if TYPE_CHECKING:
    from schemas.settings import Settings


# The data set name of a collection's question set: `questions:<collection>`.
QUESTION_SET = "questions:"
# The data set name of the questions recently asked of a collection (`ragroute ask`, the API), replayed without
# gold answers: `asks:<collection>`, `limit` the number of most recent distinct questions.
ASKED = "asks:"
REPLAYED_ASKS = 20  # when no limit is given


class InvalidEvalConfig(RagrouteError):
    """An evaluation's options are invalid; the message names each bad field and what it accepts."""


class EvalConfig(BaseModel):
    """What to evaluate and how. Unset fields take the settings' defaults (`with_defaults`)."""

    model_config = ConfigDict(extra="forbid")

    # `mini`, a LongBench/∞Bench task name, a .jsonl path, `questions:<collection>`: the collection's current
    # question set (`ragroute questions generate`), or `asks:<collection>`: the questions recently asked of it
    # (scored by agreement with LC's answer); unset with `collection` set: that collection's question set.
    dataset: str = ""
    methods: list[Method] = Field(default_factory=lambda: ["lc", "rag", "self_route"], min_length=1)
    k: list[Annotated[int, Field(ge=1)]] | None = None  # top-k chunks; several run a k sweep
    retriever: Retriever | None = None
    limit: Annotated[int, Field(ge=1)] | None = None  # only the first N examples
    collection: str | None = None  # for a corpus QA set: the ingested collection
    model: str | None = None  # the model name sent to the endpoint
    run_id: str | None = None  # resume this run: answer only what is missing
    # LongBench v2's long-context prompt: plain, chain of thought (two calls), or without the document.
    longbench_v2_prompt: Literal["0shot", "0shot_cot", "0shot_no_context"] = "0shot"
    # Self-Route's decline threshold τ: also route to LC when P("unanswerable") ≥ τ. Unset: the paper's
    # text-only rule, and τ is picked from the run's own routing frontier (a calibration run).
    decline_threshold: Annotated[float, Field(gt=0, le=1)] | None = None
    # `previous`: the last completed run of the same data set and model; or a pinned run id.
    baseline: str = "previous"
    # Refuse to start when the forecast spend (`ragroute eval --dry-run`) is above this many dollars.
    max_cost_usd: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _collection_sets(self) -> EvalConfig:
        """`collection` alone names its question set; `questions:<collection>` and `asks:<collection>` name their
        collection; replayed asks are scored against LC's answers, so they need `lc`."""
        if not self.dataset and not self.collection:
            raise ValueError("give a data set, or a collection to evaluate its question set")
        if not self.dataset:
            self.dataset = f"{QUESTION_SET}{self.collection}"
        for prefix in (QUESTION_SET, ASKED):
            if self.dataset.startswith(prefix) and not self.collection:
                self.collection = self.dataset.removeprefix(prefix)
        if self.dataset.startswith(ASKED) and "lc" not in self.methods:
            raise ValueError("replayed asks are scored by agreement with LC's answer: include lc in methods")
        return self

    @classmethod
    def checked(cls, **values: object) -> EvalConfig:
        """Validate, turning pydantic's report into one readable `InvalidEvalConfig`."""
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise InvalidEvalConfig(describe(error)) from None

    def with_defaults(self, settings: Settings) -> EvalConfig:
        return self.model_copy(
            update={
                "k": self.k or [settings.eval_top_k],
                "retriever": self.retriever or settings.eval_retriever,
                "model": self.model or settings.llm_model,
            }
        )


def describe(error: ValidationError) -> str:
    """One line per invalid field: where it is and what was wrong."""
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'evaluation'}: {problem['msg']}"
        for problem in error.errors()
    )
