"""The Weaviate collection that holds document chunks, with vectors we compute ourselves.

The Weaviate client is imported only when a collection's configuration is built: naming a collection (all an
unchanged ingest needs) stays cheap.
"""

from __future__ import annotations

import re


def _chunk_properties() -> list:
    from weaviate.classes.config import DataType, Property, Tokenization

    return [
        Property(name="text", data_type=DataType.TEXT),
        Property(name="doc_id", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
        Property(name="source_path", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
        Property(name="page", data_type=DataType.INT),
        Property(name="page_spans", data_type=DataType.INT_ARRAY),
        Property(name="chunk_index", data_type=DataType.INT),
        Property(name="content_hash", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
        # Which version of the document (file content + ingest configuration) the chunk belongs to.
        Property(name="doc_hash", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
        Property(name="ocr", data_type=DataType.BOOL),
    ]


def _our_vectors():
    """Vectors computed by ragroute (no Weaviate vectorizer), in an HNSW index with cosine distance."""
    from weaviate.classes.config import Configure, VectorDistances

    return Configure.Vectors.self_provided(
        vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)
    )


def _replication(factor: int) -> dict:
    """Weaviate's own replication of a collection over `factor` nodes (nothing on a single node). Replicas that
    disagree about a deleted object resolve it by time: the later of the write and the delete wins, so a
    node that missed a delete while it was down does not bring the object back."""
    if factor <= 1:
        return {}
    from weaviate.classes.config import Configure, ReplicationDeletionStrategy

    strategy = ReplicationDeletionStrategy.TIME_BASED_RESOLUTION
    return {"replication_config": Configure.replication(factor=factor, deletion_strategy=strategy)}


def collection_name(base: str, embedding_model: str) -> str:
    """A collection is tied to one embedding model: its name carries the model id."""
    model = re.sub(r"[^0-9A-Za-z]+", "_", embedding_model).strip("_")
    name = f"{base}_{model}"
    return name[0].upper() + name[1:]


def chunk_collection_config(name: str, replication_factor: int = 1) -> dict:
    """Keyword arguments for `client.collections.create` for a chunk collection."""
    return {
        "name": name,
        "properties": _chunk_properties(),
        "vector_config": _our_vectors(),
        "inverted_index_config": _inverted_index(),
        **_replication(replication_factor),
    }


def _inverted_index():
    from weaviate.classes.config import Configure

    return Configure.inverted_index(index_null_state=True)


def _context_properties() -> list:
    from weaviate.classes.config import DataType, Property, Tokenization

    return [
        Property(name="text", data_type=DataType.TEXT),
        # Identifies one benchmark context under one chunking: sha256 of (context, chunk size).
        Property(name="context_key", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
        Property(name="chunk_index", data_type=DataType.INT),
    ]


def context_collection_config(name: str, replication_factor: int = 1) -> dict:
    """Keyword arguments for `client.collections.create` for the benchmark-context collection."""
    return {
        "name": name,
        "properties": _context_properties(),
        "vector_config": _our_vectors(),
        **_replication(replication_factor),
    }
