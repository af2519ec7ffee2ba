"""Collection names carry the embedding model."""

from schemas.collection import collection_name


def test_collection_name_carries_the_embedding_model():
    assert collection_name("chunks", "all-MiniLM-L6-v2") == "Chunks_all_MiniLM_L6_v2"
    assert collection_name("chunks", "text-embedding-3-small") != collection_name(
        "chunks", "all-MiniLM-L6-v2"
    )
