"""Data contracts of ingestion: extracted elements, chunks, quarantine records and the run summary."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Element(BaseModel):
    """One piece of extracted text with where it came from."""

    text: str
    page: int = 1
    element_type: str = "Text"
    ocr: bool = False
    ocr_confidence: float | None = None


class ExtractedDocument(BaseModel):
    path: str
    doc_id: str
    sha256: str
    kind: str
    pages: int
    pages_ocr: int
    elements: list[Element]
    seconds: float = 0.0


class Chunk(BaseModel):
    chunk_id: str
    doc_id: str
    source_path: str
    doc_hash: str
    chunk_index: int
    page: int
    # Where pages change inside the chunk: [word offset, page, …] (a chunk may span a page break).
    page_spans: list[int] = Field(default_factory=list)
    text: str
    content_hash: str
    ocr: bool = False
    ocr_confidence: float | None = None


class QuarantineRecord(BaseModel):
    """Something that was not indexed, and why: a whole file (chunk_id None) or one chunk."""

    path: str
    reason: str
    stage: str
    chunk_id: str | None = None
    detail: str | None = None


class IngestSummary(BaseModel):
    run_id: str
    status: str
    documents_seen: int = 0
    documents_changed: int = 0
    documents_deleted: int = 0
    documents_failed: int = 0  # not indexed: quarantined, duplicate or left in `error`
    documents_error: int = 0  # of those, left in `error` (the machine failed): older version kept, retried
    pages: int = 0
    pages_ocr: int = 0
    chunks_written: int = 0
    chunks_deleted: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    notes: list[str] = Field(default_factory=list)
