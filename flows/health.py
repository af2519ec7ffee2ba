"""Flow: check that Weaviate, the LLM endpoint and the warehouse all work, and record the result."""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from schemas.settings import apply_library_environment, get_settings
from tasks.clients.health import ServiceCheck, check_services, record_check

apply_library_environment()

check_task = task(
    check_services, name="check-services", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE
)
record_task = task(record_check, name="record-check", cache_policy=NO_CACHE)


@flow(name="health", log_prints=True)
def health() -> ServiceCheck:
    settings = get_settings()
    check = check_task(settings)
    record_task(settings, check)
    print(
        f"weaviate {check.weaviate_version} | llm {check.llm_model}: {check.completion_text!r} | ok={check.ok}"
    )
    return check
