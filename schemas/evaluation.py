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


class InvalidEvalConfig(RagrouteError):
    """An evaluation's options are invalid; the message names each bad field and what it accepts."""


class EvalConfig(BaseModel):
    """What to evaluate and how. Unset fields take the settings' defaults (`with_defaults`)."""

    model_config = ConfigDict(extra="forbid")

    # `mini`, a LongBench/∞Bench task name, a .jsonl path, or `questions:<collection>`: the collection's current
    # question set (`ragroute questions generate`); unset with `collection` set: that collection's question set.
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

    @model_validator(mode="after")
    def _question_set(self) -> EvalConfig:
        """`collection` alone names its question set; `questions:<collection>` alone names its collection."""
        if not self.dataset and not self.collection:
            raise ValueError("give a data set, or a collection to evaluate its question set")
        if not self.dataset:
            self.dataset = f"{QUESTION_SET}{self.collection}"
        elif self.dataset.startswith(QUESTION_SET) and not self.collection:
            self.collection = self.dataset.removeprefix(QUESTION_SET)
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
