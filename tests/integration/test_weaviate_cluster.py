"""A real 3-node Weaviate cluster on loopback (the same binary, gossip/data/Raft ports per node): collections
replicated 3 times, QUORUM reads and writes; one node killed with SIGKILL in the middle of an ingest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from weaviate.classes.config import ConsistencyLevel

from schemas.collection import collection_name
from schemas.processes import process_alive
from schemas.settings import Settings
from tasks.clients import services
from tasks.clients.vectorstore import connect, live_collection, use_collection
from tasks.ingestion.embed import embed_texts
from tasks.ingestion.run import ingest
from tasks.routing.ask import Asker
from tasks.testbed.corpus import body
from tests.support.convergence import differences, forget_manifest, snapshot, write_folder
from tests.support.readers import warehouse_rows

FILES = {f"doc{i:02d}.txt": body(f"harbour{i}", 10 + i % 5) for i in range(12)}
KILLED_NODE = 2  # not the node the client talks to
KILL_AFTER = 3  # files extracted


def _cluster_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "RAGROUTE_DATA_DIR": str(settings.data_dir), "RAGROUTE_WEAVIATE_NODES": "3",
            "RAGROUTE_WEAVIATE_HTTP_PORT": str(settings.weaviate_http_port),
            "RAGROUTE_WEAVIATE_GRPC_PORT": str(settings.weaviate_grpc_port)}  # fmt: skip


def test_cluster_status_lists_every_node(weaviate_cluster: Settings) -> None:
    status = subprocess.run(
        [sys.executable, "-m", "ragroute.cli", "services", "status", "--json"],
        env=_cluster_env(weaviate_cluster), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    weaviate = json.loads(status.stdout.strip().splitlines()[-1])["weaviate"]
    assert {"url", "version", "managed", "pid"} <= weaviate.keys()
    nodes = weaviate["nodes"]
    assert [node["name"] for node in nodes] == ["ragroute-node", "ragroute-node-1", "ragroute-node-2"]
    assert all(node["status"] == "HEALTHY" and node["pid"] for node in nodes), nodes
    with connect(weaviate_cluster) as client:
        ensure = use_collection(client, "Nothing", weaviate_cluster)
        assert ensure.consistency_level == ConsistencyLevel.QUORUM


def _kill_node(settings: Settings, node: int) -> None:
    pid = services.running_pid(settings, services.weaviate_service_name(node))
    os.killpg(pid, signal.SIGKILL)
    while process_alive(pid):
        time.sleep(0.1)


def _replicas(settings: Settings, base: str) -> int:
    with connect(settings) as client:
        target = live_collection(client, collection_name(base, settings.embedding_model))
        return client.collections.use(target).config.get().replication_config.factor


def _unreadable(
    settings: Settings, base: str, chunk_ids: list[str], level: ConsistencyLevel, timeout_s: float = 120
) -> list[str]:
    """Chunk ids not (yet) readable by id at `level`, after retrying for up to `timeout_s`."""
    missing = chunk_ids
    deadline = time.monotonic() + timeout_s
    with connect(settings) as client:
        collection = use_collection(client, collection_name(base, settings.embedding_model), settings, level)
        while missing and time.monotonic() < deadline:
            missing = [uuid for uuid in missing if _fetch(collection, uuid) is None]
            time.sleep(1 if missing else 0)
    return missing


def _fetch(collection, uuid: str):
    try:
        return collection.query.fetch_object_by_id(uuid)
    except Exception:  # a replica is not ready yet
        return None


def _recorded_chunks(settings: Settings, base: str) -> list[str]:
    name = collection_name(base, settings.embedding_model)
    return [
        row[0] for row in warehouse_rows(settings, "SELECT chunk_id FROM chunks WHERE collection = ?", [name])
    ]


def test_node_killed_mid_ingest(weaviate_cluster: Settings, tmp_path: Path) -> None:
    """What replication promises, checked in order: while a node is down every recorded chunk is readable by id
    at QUORUM and queries answer; once it is back every chunk is readable at ALL (by-id reads repair a replica
    that missed a write), and then the collection lists exactly the clean run's objects."""
    settings = weaviate_cluster.model_copy(update={"ingest_workers": 1, "ingest_batch_documents": 2})
    root = tmp_path / "docs"
    write_folder(root, FILES)
    ingest(root, settings, "ClusterClean")
    # A QUORUM write returns before the third replica has it, and listing reads one replica: read every
    # chunk at ALL first (which repairs a lagging replica), so the reference lists what the run wrote.
    clean_chunks = _recorded_chunks(settings, "ClusterClean")
    assert _unreadable(settings, "ClusterClean", clean_chunks, ConsistencyLevel.ALL) == []
    reference = snapshot(settings, "ClusterClean")
    assert sorted(reference.objects) == sorted(clean_chunks)
    forget_manifest(settings, "ClusterClean")
    assert _replicas(settings, "ClusterClean") == 3

    killed = []

    def progress(message: str, done: int, total: int) -> None:
        if message != "scanned" and done == KILL_AFTER and not killed:
            _kill_node(settings, KILLED_NODE)
            killed.append(KILLED_NODE)

    try:
        try:
            summary = ingest(root, settings, "ClusterKill", progress)
            print(f"run with a node killed: {summary.status} {summary.documents_failed} failed")
        except Exception as error:  # allowed: a one-line reason, then a rerun converges
            print(f"run with a node killed failed: {error}")
            assert "\n" not in str(error)
            summary = None
        assert killed
        if summary is None or summary.status != "completed":  # the rerun redoes what did not land
            summary = ingest(root, settings, "ClusterKill")
            print(f"rerun with the node still down: {summary.status}")
        assert summary.status == "completed", summary
        recorded = _recorded_chunks(settings, "ClusterKill")
        assert sorted(recorded) == sorted(clean_chunks)
        assert _unreadable(settings, "ClusterKill", recorded, ConsistencyLevel.QUORUM, timeout_s=5) == []

        # While the node is down, `ask` and hybrid queries answer.
        asked = Asker(settings, "ClusterKill").ask("What happened in harbour3?", method="rag", k=3)
        assert asked.error is None and asked.answer, asked
        with connect(settings) as client:
            collection = use_collection(
                client, collection_name("ClusterKill", settings.embedding_model), settings
            )
            question = "harbour7 report"
            vector = embed_texts([question], settings)[0]
            hits = collection.query.hybrid(query=question, vector=vector, limit=5).objects
        assert len(hits) == 5
    finally:
        services.start_weaviate(settings, [KILLED_NODE])  # back, and the cluster lists it healthy again

    assert _unreadable(settings, "ClusterKill", recorded, ConsistencyLevel.ALL) == []
    assert differences(snapshot(settings, "ClusterKill"), reference) == []
