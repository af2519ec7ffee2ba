"""Scale-out configuration without services: a local Weaviate cluster's node settings, replicated collection
configs, and merging per-file preparation results from Dask workers."""

from __future__ import annotations

from pathlib import Path

from schemas.collection import chunk_collection_config
from schemas.settings import Settings
from tasks.clients import services
from tasks.ingestion.prepare import Prepared, merge
from tasks.ingestion.validate import ExpectationOutcome, ValidationReport


def test_single_node_is_unchanged(tmp_path: Path) -> None:
    service = services.weaviate_service(Settings(data_dir=tmp_path))
    assert service.name == "weaviate" and service.env["CLUSTER_HOSTNAME"] == "ragroute-node"
    assert service.env["RAFT_BOOTSTRAP_EXPECT"] == "1"
    assert "CLUSTER_JOIN" not in service.env and "RAFT_JOIN" not in service.env
    assert "replication_config" not in chunk_collection_config("C")


def test_cluster_nodes_join_through_node_zero(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, weaviate_nodes=3, weaviate_http_port=9000, weaviate_grpc_port=9500)
    nodes = services.weaviate_services(settings)
    assert [n.name for n in nodes] == ["weaviate", "weaviate-1", "weaviate-2"]
    assert [n.env["GRPC_PORT"] for n in nodes] == ["9500", "9501", "9502"]
    assert [n.env["RAFT_PORT"] for n in nodes] == ["9003", "9013", "9023"]
    raft_join = "ragroute-node:9003,ragroute-node-1:9013,ragroute-node-2:9023"
    assert all(n.env["RAFT_JOIN"] == raft_join and n.env["RAFT_BOOTSTRAP_EXPECT"] == "3" for n in nodes)
    assert "CLUSTER_JOIN" not in nodes[0].env
    assert nodes[1].env["CLUSTER_JOIN"] == nodes[2].env["CLUSTER_JOIN"] == "127.0.0.1:9001"
    assert len({n.env["PERSISTENCE_DATA_PATH"] for n in nodes}) == 3
    ports = [port for n in nodes for port in n.ports.values()]
    assert len(ports) == len(set(ports))
    assert chunk_collection_config("C", 3)["replication_config"].factor == 3


def test_merge_sums_expectations_per_file() -> None:
    def part(unexpected: int, vectors: int) -> Prepared:
        outcome = ExpectationOutcome(
            "expect_column_values_to_not_be_null", "text", unexpected == 0, 4, unexpected
        )
        report = ValidationReport(passed=[], quarantined=[], outcomes=[outcome])
        return Prepared(report=report, vectors=[[0.0]] * vectors, cpu_seconds={"embed": 1.0})

    merged = merge([part(0, 2), part(1, 3)])
    [total] = merged.report.outcomes
    assert (total.success, total.element_count, total.unexpected_count) == (False, 8, 1)
    assert len(merged.vectors) == 5 and merged.cpu_seconds == {"embed": 2.0}
