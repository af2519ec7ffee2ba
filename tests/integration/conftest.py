"""Integration fixtures: the real Weaviate and LLM server, started once for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from schemas.prices import load_prices
from schemas.settings import Settings
from tasks.clients import services
from warehouse import results
from warehouse.db import session


@pytest.fixture(scope="session")
def running_services(settings: Settings) -> Iterator[Settings]:
    """Weaviate and the LLM server, started once for the session (unless external ones are configured); flows
    run under `prefect_test_harness` or a test's own Prefect server."""
    services.up(settings, ("weaviate", "llm"))
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
        results.refresh_prices(con, load_prices(running_services.price_table))
