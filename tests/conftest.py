"""Test session set-up: real services on their own ports and data dir, stopped at the end."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from schemas.settings import Settings, apply_library_environment, get_settings
from tasks import services
from warehouse import results
from warehouse.db import session

# Tests keep their state apart from a user's `.ragroute` and use ports of their own, so they can run while
# `ragroute services up` serves the user. External endpoints (WEAVIATE_URL, OPENAI_BASE_URL) are honoured.
# RAGROUTE_TEST_PORT_OFFSET shifts every test port, so two test sessions can run side by side.
TEST_DATA_DIR = Path(tempfile.mkdtemp(prefix="ragroute-test-"))
PORT_OFFSET = int(os.environ.get("RAGROUTE_TEST_PORT_OFFSET", "0"))
os.environ.update(
    {
        "RAGROUTE_DATA_DIR": str(TEST_DATA_DIR),
        "RAGROUTE_WEAVIATE_HTTP_PORT": str(18079 + PORT_OFFSET),
        "RAGROUTE_WEAVIATE_GRPC_PORT": str(50160 + PORT_OFFSET),
        "RAGROUTE_LLM_PORT": str(18011 + PORT_OFFSET),
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


@pytest.fixture
def priced(running_services: Settings, tmp_path: Path) -> Iterator[Settings]:
    """The session's settings with a price for the local model (so costs are not zero); the warehouse's
    price table is put back afterwards."""
    table = tmp_path / "prices.yaml"
    table.write_text(yaml.safe_dump({"models": {running_services.llm_model: {"input": 0.5, "output": 1.5}}}))
    yield running_services.model_copy(update={"price_table": table})
    with session(running_services.warehouse_path) as con:
        results.refresh_prices(con, results.load_prices(running_services.price_table))
