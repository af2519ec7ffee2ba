"""The chunk quality contract: a Great Expectations suite over a table of chunks.

Columns validated: chunk_id, doc_id, text, non_alpha_ratio, ocr_confidence (100 for text-layer chunks).
"""

from __future__ import annotations

from schemas.settings import Settings

SUITE_NAME = "ragroute_chunks"
# Control characters other than tab/newline/carriage return, and the Unicode replacement character.
CONTROL_OR_REPLACEMENT = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]"


def chunk_expectations(settings: Settings) -> list:
    """The expectations every chunk must meet before it is embedded and indexed."""
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToNotBeNull(column="doc_id"),
        e.ExpectColumnValuesToNotBeNull(column="text"),
        e.ExpectColumnValuesToMatchRegex(column="text", regex=r"\S"),
        e.ExpectColumnValueLengthsToBeBetween(
            column="text", min_value=settings.min_chunk_chars, max_value=settings.max_chunk_chars
        ),
        e.ExpectColumnValuesToBeUnique(column="chunk_id"),
        e.ExpectColumnValuesToNotMatchRegex(column="text", regex=CONTROL_OR_REPLACEMENT),
        e.ExpectColumnValuesToBeBetween(
            column="non_alpha_ratio", min_value=0, max_value=settings.max_non_alpha_ratio
        ),
        e.ExpectColumnValuesToBeBetween(
            column="ocr_confidence", min_value=settings.min_ocr_confidence, max_value=100
        ),
    ]
