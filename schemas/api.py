"""The HTTP API's request and response bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=2000, pattern=r"\S")
    collection: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
    # auto: the arm the learned router picks (long context or RAG alone); Self-Route where none is trained.
    method: Literal["self_route", "rag", "lc", "auto"] = "self_route"
    k: int = Field(default=5, ge=1, le=50)


class Citation(BaseModel):
    """A passage an answer rests on: where it is, and the sentences used as evidence."""

    number: int
    chunk_id: str
    source_path: str
    page: int
    chunk_index: int
    evidence: list[str]
    # True when the model cited nothing and the passage was attributed by its overlap with the answer.
    inferred: bool = False


class Retrieved(BaseModel):
    """A passage retrieved for the question, best first (shown even when nothing is cited)."""

    number: int
    chunk_id: str
    doc_id: str
    source_path: str
    page: int
    score: float = 0.0  # the retrieval score


class AskResponse(BaseModel):
    ask_id: str | None
    question: str
    collection: str
    method: str
    route: str | None
    answer: str | None
    citations: list[Citation]
    invented_citations: list[int]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float
    error: str | None
    decline_threshold: float | None = None  # Self-Route's τ (None: the paper's text-only rule)
    decline_prob: float | None = None  # P("unanswerable") of Self-Route's RAG step
    # No supported answer (nothing retrieved, a decline, or no passage holds it): `answer` is "The documents
    # do not say." and nothing is cited.
    not_in_documents: bool = False
    retrieved: list[Retrieved] = []
    router_id: str | None = None  # auto: the learned router that chose the route (None: Self-Route)


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    weaviate_version: str | None
    llm_models: list[str]


class Problem(BaseModel):
    detail: str
