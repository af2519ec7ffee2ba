"""Test session set-up: real services on their own ports and data dir, stopped at the end."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.settings import Settings, apply_library_environment, get_settings
from tasks import services

# Tests keep their state apart from a user's `.ragroute` and use ports of their own, so they can run while
# `ragroute services up` serves the user. External endpoints (WEAVIATE_URL, OPENAI_BASE_URL) are honoured.
TEST_DATA_DIR = Path(tempfile.mkdtemp(prefix="ragroute-test-"))
os.environ.update(
    {
        "RAGROUTE_DATA_DIR": str(TEST_DATA_DIR),
        "RAGROUTE_WEAVIATE_HTTP_PORT": "18079",
        "RAGROUTE_WEAVIATE_GRPC_PORT": "50160",
        "RAGROUTE_LLM_PORT": "18011",
        # Small enough that deleting a few hundred objects needs several calls.
        "RAGROUTE_WEAVIATE_QUERY_MAXIMUM_RESULTS": "100",
        "PREFECT_HOME": str(TEST_DATA_DIR / "prefect"),
    }
)
apply_library_environment()
get_settings.cache_clear()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def running_services(settings: Settings) -> Iterator[Settings]:
    """Weaviate and the LLM server, started once for the session (unless external ones are configured)."""
    services.up(settings)
    yield settings
    services.down(settings)
