"""A question set that follows its collection: compare the manifest's current documents and content hashes
with the documents the current questions came from; retire the questions of a changed or deleted document,
and generate only for indexed documents that have no current question. An unchanged collection generates
nothing and makes no LLM call.

A reviewed question (`ragroute questions import`) is never retired for a change of its document, only when
the document is deleted, and it keeps its document covered (nothing is generated for it). Documents in flux
(`pending`, or left in `error` by an ingest, their older version still searchable) are left as they are. A
document counts as covered by any current question, kept or rejected: a document whose candidates were all
rejected is not asked again until it changes. On request (`regenerate`, e.g. after a new prompt version or
generator model), every current question that is not reviewed is retired and its documents generated for
again."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.collection import collection_name
from schemas.questions import KINDS, Candidate
from schemas.settings import Settings
from tasks.questions.generate import CollectionMissing, DocumentRef, Generator, Spend
from tasks.questions.prompts import PROMPT_VERSION
from warehouse import questions as stored
from warehouse.db import session_for, utc_now
from warehouse.questions import DocumentState

IN_FLUX = ("pending", "error")
REGENERATED = "regenerated on request"
Progress = Callable[[str, int, int], None]


@dataclass
class FollowPlan:
    retire: list[tuple[str, str]] = field(default_factory=list)  # (question id, reason)
    targets: list[str] = field(default_factory=list)  # doc ids to generate for


def plan_follow(
    documents: dict[str, DocumentState], questions: list[Candidate], regenerate: bool = False
) -> FollowPlan:
    """What to retire and what to generate for, from the manifest's documents and the current questions;
    `regenerate` retires every question that is not reviewed."""
    plan = FollowPlan()
    covered: set[str] = set()
    for question in questions:
        reason = _retire_reason(question, documents) or (
            REGENERATED if regenerate and not question.reviewed else None
        )
        if reason:
            plan.retire.append((question.question_id, reason))
        else:
            covered.update(question.doc_ids)
    plan.targets = [
        doc_id for doc_id, doc in documents.items() if doc.status == "indexed" and doc_id not in covered
    ]
    return plan


def _retire_reason(question: Candidate, documents: dict[str, DocumentState]) -> str | None:
    for doc_id in question.doc_ids:
        doc = documents.get(doc_id)
        if doc is None or doc.status not in ("indexed", *IN_FLUX):
            return f"document deleted: {doc.path if doc else doc_id}"
    if question.reviewed:
        return None
    for doc_id, generated_from in question.sources.items():
        doc = documents[doc_id]
        if doc.status == "indexed" and doc.content_sha256 != generated_from:
            return f"document changed: {doc.path}"
    return None


@dataclass
class GenerationSummary:
    run_id: str
    collection: str
    model: str
    status: str = "completed"
    documents: int = 0
    retired: int = 0
    candidates: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    rejections: dict[str, int] = field(default_factory=dict)
    llm_calls: int = 0
    llm_requests: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    list_cost_usd: float | None = None
    spent_cost_usd: float | None = None
    seconds: float = 0.0
    error: str | None = None

    def count(self, candidates: list[Candidate], spend: Spend, settings: Settings) -> None:
        self.candidates = {k: sum(c.kind == k for c in candidates) for k in KINDS}
        self.kept = {k: sum(c.kind == k and c.kept for c in candidates) for k in KINDS}
        self.rejections = dict(Counter(c.rule for c in candidates if c.outcome == "rejected"))
        self.llm_calls, self.llm_requests, self.cached_calls = spend.calls, spend.requests, spend.cached
        self.prompt_tokens, self.completion_tokens = spend.prompt_tokens, spend.completion_tokens
        self.list_cost_usd, self.spent_cost_usd = spend.costs(settings, self.model)

    def run_row(self, started_at, finished: bool) -> dict:
        by_kind = {k: {"candidates": self.candidates.get(k, 0), "kept": self.kept.get(k, 0)} for k in KINDS}
        return {
            "run_id": self.run_id, "collection": self.collection, "model": self.model,
            "prompt_version": PROMPT_VERSION, "started_at": started_at,
            "finished_at": utc_now() if finished else None, "status": self.status if finished else "running",
            "documents": self.documents, "candidates": sum(self.candidates.values()),
            "kept": sum(self.kept.values()), "retired": self.retired, "by_kind": by_kind,
            "rejections": self.rejections, "llm_calls": self.llm_calls, "llm_requests": self.llm_requests,
            "cached_calls": self.cached_calls, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "list_cost_usd": self.list_cost_usd,
            "spent_cost_usd": self.spent_cost_usd, "seconds": self.seconds, "error": self.error,
        }  # fmt: skip

    def lines(self) -> list[str]:
        """The printed summary: candidates and kept per kind, rejections per rule, tokens, cost, seconds."""
        kinds = ", ".join(f"{k} {self.kept.get(k, 0)}/{self.candidates.get(k, 0)}" for k in KINDS)
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(self.rejections.items())) or "none"
        cost = "-" if self.list_cost_usd is None else f"${self.list_cost_usd:.4f}"
        spent = "-" if self.spent_cost_usd is None else f"${self.spent_cost_usd:.4f}"
        return [
            f"questions for {self.collection}: {self.documents} document(s) generated for, "
            f"{self.retired} question(s) retired",
            f"kept/candidates per kind: {kinds}",
            f"rejections per rule: {rules}",
            f"LLM: {self.llm_calls} calls ({self.llm_requests} requests, {self.cached_calls} cached), "
            f"{self.prompt_tokens} prompt + {self.completion_tokens} completion tokens, list {cost}, "
            f"spent {spent}, {self.seconds:.1f} s",
            f"run {self.run_id}: {self.status}" + (f" ({self.error})" if self.error else ""),
        ]


def follow_collection(
    settings: Settings,
    collection: str,
    per_document: int = 1,
    model: str | None = None,
    progress: Progress | None = None,
    regenerate: bool = False,
) -> GenerationSummary:
    """Bring the collection's question set up to date (see the module's doc); records the run and its cost."""
    if per_document < 1:
        raise ValueError("per_document must be at least 1")
    started, clock = utc_now(), time.perf_counter()
    name = collection_name(collection, settings.embedding_model)
    model = model or settings.llm_model
    summary = GenerationSummary(run_id=str(uuid.uuid4()), collection=name, model=model)
    with session_for(settings) as con:
        documents = stored.collection_documents(con, name)
        if not documents:
            raise CollectionMissing(f"collection {name} has no documents: run `ragroute ingest` first")
        current = stored.current_questions(con, name)
        plan = plan_follow(documents, current, regenerate)
        stored.retire_questions(con, plan.retire)
        hashes = stored.chunk_hashes(con, name) if plan.targets else {}
        stored.abandon_runs(con, name)
        stored.record_run(con, summary.run_row(started, finished=False))
    summary.retired, summary.documents = len(plan.retire), len(plan.targets)
    candidates: list[Candidate] = []
    spend = Spend()
    if plan.targets:
        retired = {question_id for question_id, _ in plan.retire}
        kept = [(q.question_id, q.question) for q in current if q.kept and q.question_id not in retired]
        refs = {d.doc_id: DocumentRef(d.doc_id, d.path, d.content_sha256) for d in documents.values()
                if d.status == "indexed"}  # fmt: skip
        generator = Generator(settings, collection, model, summary.run_id, refs, hashes, spend)
        try:
            candidates = generator.run(plan.targets, per_document, kept, progress)
        except Exception as error:  # recorded with the run, then raised
            summary.status, summary.error = "failed", f"{type(error).__name__}: {error}"[:500]
            _finish(settings, summary, candidates, spend, started, clock)
            raise
    _finish(settings, summary, candidates, spend, started, clock)
    return summary


def _finish(settings, summary, candidates, spend, started, clock) -> None:
    summary.count(candidates, spend, settings)
    summary.seconds = round(time.perf_counter() - clock, 3)
    with session_for(settings) as con:
        stored.write_questions(con, candidates)
        stored.record_run(con, summary.run_row(started, finished=True))
