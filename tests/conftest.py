"""Test session set-up: real services on their own ports and data dir, stopped at the end."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schemas.settings import SMOLLM2, DuckLakeTarget, Settings, apply_library_environment, get_settings
from tasks.testbed.postgres import POSTGRES_PORT_BASE, lake_target, postgres_server

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
        "RAGROUTE_PREFECT_PORT": str(18430 + PORT_OFFSET),
        # Small enough that deleting a few hundred objects needs several calls.
        "RAGROUTE_WEAVIATE_QUERY_MAXIMUM_RESULTS": "100",
        "PREFECT_HOME": str(TEST_DATA_DIR / "prefect"),
    }
)
# The suite's LLM is SmolLM2-135M (several times faster than the default Qwen2.5-Coder-0.5B on a small CPU);
# tests/integration/test_ask_default_model.py swaps in the default model for what only it can do.
# RAGROUTE_LLM_MODEL_FILE set by the caller runs the whole suite on another model.
os.environ.setdefault("RAGROUTE_LLM_MODEL_FILE", SMOLLM2.file)
apply_library_environment()
get_settings.cache_clear()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A real PostgreSQL server on loopback (port 15432 + offset) for the session, in a folder its user owns."""
    base = Path(tempfile.mkdtemp(prefix="ragroute-pg-"))
    with postgres_server(base, POSTGRES_PORT_BASE + PORT_OFFSET) as dsn:
        yield dsn


_lakes = iter(range(1_000_000))


@pytest.fixture
def new_lake(postgres_dsn: str) -> Callable[[], DuckLakeTarget]:
    """Makes fresh DuckLake warehouses: a new catalog database on the test server, a new data folder."""
    return lambda: lake_target(postgres_dsn, f"lake_{os.getpid()}_{next(_lakes)}", TEST_DATA_DIR / "lakes")


@pytest.fixture(params=["file", "ducklake"])
def warehouse_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | DuckLakeTarget:
    """Each warehouse backend in turn: the embedded DuckDB file and a DuckLake on PostgreSQL."""
    if request.param == "file":
        return tmp_path / "w.duckdb"
    return request.getfixturevalue("new_lake")()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ needs the real services: `pytest -m "not services"` leaves it out."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.services)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Log records that library threads write while the interpreter exits go to a file: the console handlers
    that Prefect set up at import write to the stream pytest captured into, which pytest closes next, and a
    write to it would print a "--- Logging error ---" stack after the summary."""
    log_dir = TEST_DATA_DIR / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    late = logging.FileHandler(log_dir / "after-session.log", delay=True)
    loggers = [logging.getLogger(), *logging.root.manager.loggerDict.values()]
    for logger in (logger for logger in loggers if isinstance(logger, logging.Logger)):
        consoles = [
            h for h in logger.handlers
            if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        ]  # fmt: skip
        for handler in consoles:
            logger.removeHandler(handler)
        if consoles:
            logger.addHandler(late)
