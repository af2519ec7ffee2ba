"""Split extracted documents into chunks with deterministic ids.

Default: windows of N words (300 in the Self-Route setting) with an optional overlap. Option `by_title`:
unstructured's section-aware chunker.
"""

from __future__ import annotations

import hashlib
import json
import uuid

from schemas.documents import Chunk, Element, ExtractedDocument
from schemas.settings import Settings

CHUNK_NAMESPACE = uuid.UUID("8d2e6f4a-1b7c-4e3d-a5f9-0c6b2d8e4f17")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def config_signature(settings: Settings) -> str:
    """Everything that changes what ends up in the index; a change means every document is redone."""
    config = {
        "chunk_format": 2,  # chunks carry page spans
        "strategy": settings.chunk_strategy,
        "size": settings.chunk_size_words,
        "overlap": settings.chunk_overlap_words,
        "by_title_max": settings.by_title_max_characters,
        "ocr_languages": settings.ocr_languages,
        "embedding_model": settings.embedding_model,
    }
    return sha256_text(json.dumps(config, sort_keys=True))[:16]


def chunk_id(doc_id: str, index: int, text: str, signature: str) -> str:
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{doc_id}|{index}|{sha256_text(text)}|{signature}"))


def word_windows(text: str, size: int, overlap: int = 0) -> list[str]:
    """Split plain text into windows of `size` words, each overlapping the previous one by `overlap` words."""
    return [window for window, _, _ in _word_chunks([Element(text=text)], size, overlap)]


def page_spans(word_pages: list[int]) -> list[int]:
    """Where pages change inside a chunk, flattened: [word offset, page, word offset, page, …]."""
    spans: list[int] = []
    for offset, page in enumerate(word_pages):
        if not spans or spans[-1] != page:
            spans += [offset, page]
    return spans


def page_at(spans: list[int], word_offset: int) -> int:
    """The page of the chunk's word at `word_offset`, from its page spans."""
    page = spans[1] if spans else 1
    for start, span_page in zip(spans[::2], spans[1::2], strict=True):
        if start <= word_offset:
            page = span_page
    return page


Piece = tuple[str, list[Element], list[int]]  # text, source elements, the page of each word


def _word_chunks(elements: list[Element], size: int, overlap: int) -> list[Piece]:
    """Windows over the document's words; each remembers the elements and pages its words came from."""
    if overlap >= size:
        raise ValueError(f"overlap ({overlap}) must be smaller than the window size ({size})")
    words: list[tuple[str, int]] = [
        (word, position) for position, element in enumerate(elements) for word in element.text.split()
    ]
    step = size - overlap
    windows = []
    for start in range(0, max(len(words) - overlap, 1), step):
        window = words[start : start + size]
        if window:
            sources = sorted({position for _, position in window})
            windows.append(
                (
                    " ".join(word for word, _ in window),
                    [elements[p] for p in sources],
                    [elements[p].page for _, p in window],
                )
            )
    return windows


def _title_chunks(elements: list[Element], max_characters: int) -> list[Piece]:
    from unstructured.chunking.title import chunk_by_title
    from unstructured.documents.elements import ElementMetadata, Text, Title

    originals = []
    for element in elements:
        cls = Title if element.element_type == "Title" else Text
        originals.append(cls(text=element.text, metadata=ElementMetadata(page_number=element.page)))
    by_page = {element.page: element for element in elements}
    chunks = chunk_by_title(
        originals, max_characters=max_characters, new_after_n_chars=max_characters, multipage_sections=True
    )
    pieces = []
    for chunk in chunks:
        page = chunk.metadata.page_number or 1
        pieces.append((chunk.text, [by_page.get(page, elements[0])], [page] * len(chunk.text.split())))
    return pieces


def chunk_document(document: ExtractedDocument, settings: Settings, doc_hash: str) -> list[Chunk]:
    """The document's chunks; `doc_hash` identifies this version of the document and configuration."""
    signature = config_signature(settings)
    if settings.chunk_strategy == "by_title":
        pieces = _title_chunks(document.elements, settings.by_title_max_characters)
    else:
        pieces = _word_chunks(document.elements, settings.chunk_size_words, settings.chunk_overlap_words)
    chunks = []
    for index, (text, sources, word_pages) in enumerate(pieces):
        confidences = [s.ocr_confidence for s in sources if s.ocr and s.ocr_confidence is not None]
        chunks.append(
            Chunk(
                chunk_id=chunk_id(document.doc_id, index, text, signature),
                doc_id=document.doc_id,
                source_path=document.path,
                doc_hash=doc_hash,
                chunk_index=index,
                page=sources[0].page,
                page_spans=page_spans(word_pages),
                text=text,
                content_hash=sha256_text(text),
                ocr=any(s.ocr for s in sources),
                ocr_confidence=min(confidences) if confidences else None,
            )
        )
    return chunks
