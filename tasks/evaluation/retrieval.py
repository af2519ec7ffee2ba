"""Per-example retrieval for benchmarks: each context is chunked and indexed in Weaviate once, then
queried with a dense, BM25 or hybrid retriever filtered to that context."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from weaviate.classes.query import Filter, MetadataQuery
from weaviate.collections import Collection

from schemas.settings import Settings
from tasks.clients.vectorstore import ObjectToWrite, write_objects
from tasks.ingestion.chunk import word_windows
from tasks.ingestion.embed import embed_texts

CONTEXT_NAMESPACE = uuid.UUID("c3a1f0d2-7b64-4e8a-9f15-2d7e6b3c8a41")


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_index: int
    text: str
    score: float
    chunk_id: str


def context_key(context: str, chunk_words: int) -> str:
    return hashlib.sha256(f"{chunk_words}|{context}".encode()).hexdigest()[:32]


def context_chunks(context: str, chunk_words: int) -> list[str]:
    return word_windows(context, chunk_words)


def index_context(collection: Collection, context: str, settings: Settings) -> tuple[str, int]:
    """Chunk and index one context unless it is already there; returns (context key, number of chunks)."""
    key = context_key(context, settings.eval_chunk_words)
    chunks = context_chunks(context, settings.eval_chunk_words)
    where = Filter.by_property("context_key").equal(key)
    stored = collection.aggregate.over_all(filters=where, total_count=True).total_count
    if stored != len(chunks):
        vectors = embed_texts(chunks, settings)
        objects = [
            ObjectToWrite(
                uuid=str(uuid.uuid5(CONTEXT_NAMESPACE, f"{key}|{index}")),
                properties={"text": text, "context_key": key, "chunk_index": index},
                vector=vector,
            )
            for index, (text, vector) in enumerate(zip(chunks, vectors, strict=True))
        ]
        failed = write_objects(collection, objects)
        if failed:
            raise RuntimeError(f"Weaviate rejected {len(failed)} context chunk(s): {failed[0].message}")
    return key, len(chunks)


def retrieve(
    collection: Collection,
    key: str,
    question: str,
    k: int,
    retriever: str,
    settings: Settings,
    vector: list[float] | None = None,
) -> list[RetrievedChunk]:
    """The top-k chunks of one context for the question, best first (`vector`: the question's embedding,
    when the caller has it already)."""
    where = Filter.by_property("context_key").equal(key)
    metadata = MetadataQuery(score=True, distance=True)
    if retriever == "bm25":
        result = collection.query.bm25(
            query=question, query_properties=["text"], filters=where, limit=k, return_metadata=metadata
        )
    else:
        vector = vector or embed_texts([question], settings)[0]
        if retriever == "dense":
            result = collection.query.near_vector(
                near_vector=vector, filters=where, limit=k, return_metadata=metadata
            )
        elif retriever == "hybrid":
            result = collection.query.hybrid(
                query=question,
                vector=vector,
                alpha=settings.eval_hybrid_alpha,
                filters=where,
                limit=k,
                return_metadata=metadata,
            )
        else:
            raise ValueError(f"unknown retriever {retriever!r}: use dense, bm25 or hybrid")
    chunks = []
    for obj in result.objects:
        score = 1 - obj.metadata.distance if retriever == "dense" else obj.metadata.score
        chunks.append(
            RetrievedChunk(
                chunk_index=obj.properties["chunk_index"],
                text=obj.properties["text"],
                score=float(score or 0.0),
                chunk_id=str(obj.uuid),
            )
        )
    return chunks


def reorder(chunks: list) -> list:
    """Retrieval reordering (Jin et al., arXiv 2410.05983): rank i (1-based) goes to position (i+1)/2 when i
    is odd and k+1-i/2 when i is even — best first, second best last, weakest in the middle."""
    k = len(chunks)
    ordered = [None] * k
    for rank, chunk in enumerate(chunks, start=1):
        position = (rank + 1) // 2 if rank % 2 else k + 1 - rank // 2
        ordered[position - 1] = chunk
    return ordered


def document_order(chunks: list[RetrievedChunk]) -> list[RetrievedChunk]:
    """Order-preserve RAG (OP-RAG, Yu et al., arXiv 2409.01666): the top-k chunks in the order they have in
    the document (by chunk index)."""
    return sorted(chunks, key=lambda chunk: chunk.chunk_index)


def order_chunks(method: str, chunks: list[RetrievedChunk]) -> list[RetrievedChunk]:
    """The top-k chunks (best first) in `method`'s order: `rag_reorder` Jin et al.'s, `rag_docorder` the
    document's, every other method by score."""
    if method == "rag_reorder":
        return reorder(chunks)
    if method == "rag_docorder":
        return document_order(chunks)
    return chunks


# The largest k at which an ordering is `rag` by construction: one chunk has one order, and Jin et al.'s
# puts the best first and the second best last, i.e. rank order, up to k = 2.
SAME_AS_RAG_UP_TO_K = {"rag_reorder": 2, "rag_docorder": 1}


def same_as_rag(method: str, k: int, document_ordered: bool = False) -> str | None:
    """Why `method` at top-k gives `rag`'s prompt by construction (so it is not run), or None where it differs.
    `document_ordered`: the data set's RAG template puts the chunks in document order itself."""
    if method not in SAME_AS_RAG_UP_TO_K:
        return None
    if document_ordered:
        return (
            f"{method} skipped: this data set's RAG template puts the retrieved chunks in document order "
            "(LongBench v2's pred.py), so every ordering gives rag's prompt"
        )
    limit = SAME_AS_RAG_UP_TO_K[method]
    if k <= limit:
        return f"{method} at k={k} skipped: it is rag by construction at k ≤ {limit} (it differs from k = {limit + 1})"
    return None


def format_chunks(chunks: list[RetrievedChunk]) -> str:
    """Retrieved chunks for the prompt, each with its chunk index prepended (as in the Self-Route paper)."""
    return "\n\n".join(f"[Chunk {chunk.chunk_index}] {chunk.text}" for chunk in chunks)
