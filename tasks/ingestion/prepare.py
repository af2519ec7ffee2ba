"""Prepare extracted files for indexing: chunk, validate and embed them.

The local path prepares a batch of files in the ingest process; on a Dask cluster each file is prepared on
the worker that extracted it, and the run merges the per-file results. Either way the run receives the same
`Prepared` and writes and records it under the same manifest protocol.
"""

from __future__ import annotations

from schemas.settings import Settings
from tasks.ingestion.chunk import chunk_document
from tasks.ingestion.embed import embed_texts
from tasks.ingestion.hashing import document_hash
from tasks.ingestion.outcome import Outcome, Prepared, cpu_seconds
from tasks.ingestion.validate import ExpectationOutcome, validate_chunks


def prepare(outcomes: list[Outcome], settings: Settings, signature: str) -> Prepared:
    """Chunk the extracted documents, validate every chunk together, embed those that passed."""
    prepared = Prepared()
    started = cpu_seconds()
    for outcome in outcomes:
        if outcome.document:
            doc_hash = document_hash(outcome.sha256, signature)
            prepared.chunks_by_path[outcome.path] = chunk_document(outcome.document, settings, doc_hash)
    chunked = cpu_seconds()
    chunks = [c for chunks in prepared.chunks_by_path.values() for c in chunks]
    prepared.report = validate_chunks(chunks, settings)
    validated = cpu_seconds()
    prepared.vectors = embed_texts([c.text for c in prepared.report.passed], settings)
    prepared.cpu_seconds = {"chunk": chunked - started, "validate": validated - chunked,
                            "embed": cpu_seconds() - validated}  # fmt: skip
    return prepared


def merge(parts: list[Prepared]) -> Prepared:
    """One `Prepared` for a batch from per-file ones; expectation outcomes are summed per expectation."""
    merged = Prepared()
    outcomes: dict[tuple[str, str | None], ExpectationOutcome] = {}
    for part in parts:
        merged.chunks_by_path |= part.chunks_by_path
        merged.report.passed += part.report.passed
        merged.report.quarantined += part.report.quarantined
        merged.vectors += part.vectors
        for stage, seconds in part.cpu_seconds.items():
            merged.cpu_seconds[stage] = merged.cpu_seconds.get(stage, 0.0) + seconds
        for outcome in part.report.outcomes:
            key = (outcome.expectation, outcome.column)
            if key not in outcomes:
                outcomes[key] = ExpectationOutcome(outcome.expectation, outcome.column, True, 0, 0)
            total = outcomes[key]
            total.success = total.success and outcome.success
            total.element_count += outcome.element_count
            total.unexpected_count += outcome.unexpected_count
    merged.report.outcomes = list(outcomes.values())
    return merged
