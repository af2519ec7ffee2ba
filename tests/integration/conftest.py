"""Integration fixtures: the real Weaviate and LLM server, started once for the session; a real Dask cluster
and a real 3-node Weaviate cluster on loopback ports of their own, started when a test asks for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from schemas.prices import load_prices
from schemas.settings import Settings
from tasks.clients import services
from tasks.ingestion.workers import close_dask_clients
from tasks.testbed.dask_cluster import DaskCluster
from tests.conftest import PORT_OFFSET, TEST_DATA_DIR
from warehouse import results
from warehouse.db import session

DASK_SCHEDULER_PORT = 18786 + PORT_OFFSET
# Nodes on HTTP 18379, 18389, 18399 (cluster ports + 1..5 each), gRPC 50360-50362 (plus the offset).
CLUSTER_HTTP_PORT, CLUSTER_GRPC_PORT = 18379 + PORT_OFFSET, 50360 + PORT_OFFSET


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


@pytest.fixture(scope="session")
def dask_cluster() -> Iterator[DaskCluster]:
    """A Dask scheduler and two single-threaded worker processes on loopback."""
    cluster = DaskCluster(DASK_SCHEDULER_PORT, TEST_DATA_DIR / "logs")
    yield cluster
    close_dask_clients()  # before the scheduler goes: a connected client would retry, and log, until exit
    cluster.close()


@pytest.fixture(scope="session")
def weaviate_cluster(running_services: Settings) -> Iterator[Settings]:
    """Settings for a 3-node Weaviate cluster of the same binary, with a data dir (and warehouse) of its own;
    the LLM is the session's."""
    cluster = running_services.model_copy(
        update={"data_dir": TEST_DATA_DIR / "cluster", "weaviate_nodes": 3,
                "weaviate_http_port": CLUSTER_HTTP_PORT, "weaviate_grpc_port": CLUSTER_GRPC_PORT}
    )  # fmt: skip
    if cluster.weaviate_is_local:
        services.start_weaviate(cluster)
    yield cluster
    for node in services.managed_weaviate_nodes(cluster):
        services.stop(cluster, services.weaviate_service_name(node))
