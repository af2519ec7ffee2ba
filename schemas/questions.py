"""Generated question sets over an ingested collection: a candidate question, its sources and its validation.

A candidate is generated from the chunks of a collection (one chunk, or two chunks of different documents for a
multi-hop question) and checked by `tasks/questions/validate.py`; kept and rejected candidates are both stored,
the rejected ones with the rule and the reason. The kinds are the `mini` benchmark's words; an unanswerable
question's gold answer is "unanswerable" (as in mini and Qasper)."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, Field

from schemas.benchmarks import CorpusQuestion

Kind = Literal["answerable", "multi_hop", "unanswerable"]
KINDS: tuple[str, ...] = ("answerable", "multi_hop", "unanswerable")
UNANSWERABLE = "unanswerable"
Outcome = Literal["pending", "kept", "rejected"]


class SourceChunk(BaseModel):
    """A chunk a question was generated from, with the hashes that tie the question to one document version."""

    chunk_id: str
    doc_id: str
    source_path: str
    chunk_index: int
    text: str
    content_hash: str = ""  # the chunk's own hash (the manifest's `chunks.content_hash`)
    doc_sha256: str = ""  # the document's content hash (the manifest's `documents.content_sha256`)


class Candidate(BaseModel):
    """One generated question, before and after validation."""

    question_id: str
    collection: str
    kind: Kind
    question: str = ""
    answer: str = ""
    evidence: list[str] = Field(default_factory=list)  # quoted sentences, one per source chunk
    chunk_ids: list[str] = Field(default_factory=list)
    chunk_hashes: list[str] = Field(default_factory=list)
    doc_ids: list[str] = Field(default_factory=list)  # one per document, in source order
    doc_hashes: list[str] = Field(default_factory=list)  # content sha256 per doc id, same order
    model: str
    prompt_version: str
    outcome: Outcome = "pending"
    rule: str | None = None  # the rule that rejected it
    reason: str | None = None  # why, naming what failed
    reviewed: bool = False
    run_id: str | None = None

    def reject(self, rule: str, reason: str) -> Candidate:
        self.outcome, self.rule, self.reason = "rejected", rule, reason
        return self

    @property
    def kept(self) -> bool:
        return self.outcome == "kept"

    @property
    def sources(self) -> dict[str, str]:
        """doc id -> the content hash the question was generated from."""
        return dict(zip(self.doc_ids, self.doc_hashes, strict=False))

    def corpus_question(self) -> CorpusQuestion:
        """As a line of a corpus QA set (`ragroute eval --collection`), with its kind and evidence."""
        return CorpusQuestion(
            id=self.question_id,
            question=self.question,
            answers=[self.answer],
            gold_doc_ids=[] if self.kind == UNANSWERABLE else list(self.doc_ids),
            kind=self.kind,
            evidence=list(self.evidence),
            collection=self.collection,
            reviewed=self.reviewed,
        )


def question_id(
    collection: str, kind: str, chunks: list[SourceChunk], model: str, prompt_version: str
) -> str:
    """A candidate's id: the same sources, document versions, model and prompt give the same id, so a rerun
    replaces its rows instead of adding new ones."""
    parts = [collection, kind, model, prompt_version] + [f"{c.chunk_id}:{c.doc_sha256}" for c in chunks]
    return "q-" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


def from_sources(
    collection: str, kind: str, chunks: list[SourceChunk], model: str, prompt_version: str
) -> Candidate:
    """An empty candidate tied to its source chunks and their documents."""
    doc_hashes = {c.doc_id: c.doc_sha256 for c in chunks}
    return Candidate(
        question_id=question_id(collection, kind, chunks, model, prompt_version),
        collection=collection,
        kind=kind,
        chunk_ids=[c.chunk_id for c in chunks],
        chunk_hashes=[c.content_hash for c in chunks],
        doc_ids=list(doc_hashes),
        doc_hashes=list(doc_hashes.values()),
        model=model,
        prompt_version=prompt_version,
    )
