"""The OpenAI-compatible LLM endpoint: the local llama.cpp server, OpenAI, or vLLM, all through `openai`."""

from __future__ import annotations

from openai import AsyncOpenAI

from schemas.settings import Settings


def async_client(settings: Settings, max_retries: int = 2, timeout_s: float = 120.0) -> AsyncOpenAI:
    """An `AsyncOpenAI` client for the configured endpoint."""
    return AsyncOpenAI(
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        max_retries=max_retries,
        timeout=timeout_s,
    )
