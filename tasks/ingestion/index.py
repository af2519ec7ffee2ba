"""Indexing into Weaviate: a chunk as a Weaviate object, and a failed connection as a one-line error."""

from __future__ import annotations

import re

from weaviate.exceptions import (
    WeaviateConnectionError,
    WeaviateDeleteManyError,
    WeaviateRetryError,
    WeaviateStartUpError,
    WeaviateTimeoutError,
)

from schemas.documents import Chunk
from schemas.errors import RagrouteError
from schemas.settings import Settings
from tasks.clients.vectorstore import ObjectToWrite


class WeaviateUnreachable(RagrouteError):
    """The connection to Weaviate failed mid-run; documents not recorded yet are redone by the next run."""


_LOST_CONNECTION = (WeaviateConnectionError, WeaviateRetryError, WeaviateStartUpError, WeaviateTimeoutError)


def weaviate_unreachable(error: Exception, settings: Settings) -> WeaviateUnreachable | None:
    """A one-line error for a failed connection to Weaviate (the client's own is a gRPC dump), else None."""
    unavailable = isinstance(error, WeaviateDeleteManyError) and "UNAVAILABLE" in str(error)
    if not (isinstance(error, _LOST_CONNECTION) or unavailable):
        return None
    details = re.search(r'details = "([^"]+)"', str(error))
    cause = details.group(1) if details else str(error).strip().splitlines()[0]
    return WeaviateUnreachable(
        f"cannot reach Weaviate at {settings.weaviate_http_url} ({type(error).__name__}: {cause}); "
        "documents not recorded as indexed are redone by the next run once Weaviate is up "
        "(`ragroute services status`)"
    )


def chunk_object(chunk: Chunk, vector: list[float]) -> ObjectToWrite:
    """The Weaviate object of a chunk under its deterministic id, with our own vector."""
    return ObjectToWrite(
        uuid=chunk.chunk_id,
        vector=vector,
        properties={
            "text": chunk.text, "doc_id": chunk.doc_id, "source_path": chunk.source_path,
            "page": chunk.page, "page_spans": chunk.page_spans, "chunk_index": chunk.chunk_index,
            "content_hash": chunk.content_hash, "doc_hash": chunk.doc_hash, "ocr": chunk.ocr,
        },
    )  # fmt: skip
