"""End-to-end health check of the services: Weaviate answers, the LLM completes, DuckDB records it."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime

from schemas.settings import Settings
from tasks.clients import services
from tasks.clients.llm import async_client
from warehouse.checks import record_service_check
from warehouse.db import session, utc_now


@dataclass
class ServiceCheck:
    checked_at: datetime
    weaviate_url: str
    weaviate_version: str | None
    llm_base_url: str
    llm_model: str
    completion_text: str | None
    prompt_tokens: int | None
    completion_tokens: int | None

    @property
    def ok(self) -> bool:
        return bool(self.weaviate_version) and bool(self.completion_tokens)


async def _complete(settings: Settings, prompt: str) -> tuple[str, int, int]:
    async with async_client(settings) as client:
        response = await client.chat.completions.create(
            model=settings.llm_model,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=8,
            temperature=0,
        )
    usage = response.usage
    return response.choices[0].message.content or "", usage.prompt_tokens, usage.completion_tokens


def check_services(settings: Settings, prompt: str = "Say OK.") -> ServiceCheck:
    """Ask Weaviate for its version and the LLM for a short completion."""
    text, prompt_tokens, completion_tokens = asyncio.run(_complete(settings, prompt))
    return ServiceCheck(
        checked_at=utc_now(),
        weaviate_url=settings.weaviate_http_url,
        weaviate_version=services.weaviate_version(settings),
        llm_base_url=settings.llm_base_url,
        llm_model=settings.llm_model,
        completion_text=text,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def record_check(settings: Settings, check: ServiceCheck) -> None:
    """Append the check to the warehouse's `service_checks` table."""
    with session(settings.warehouse_target) as con:
        record_service_check(con, asdict(check) | {"ok": check.ok})
