"""Vector store benchmark: ragroute's indexing against the raw client, and query latency at scale.

Run against a running Weaviate (`ragroute services up`, or `--weaviate-nodes 3` for a cluster):
  .venv/bin/python -m bench.vectorstore [--chunks 100000] [--import-chunks 20000] [--queries 200]

Measured in one run, on generated chunks (384-d unit vectors, ~60 words of generated text each):
  (a) import throughput of `write_objects` (ragroute's gRPC batches) vs the raw client's
      `collection.batch.dynamic()`, the same objects and vectors into two fresh collections (target >= 0.8x);
  (b) dense (near_vector), BM25 and hybrid top-5 latency, p50/p95 over --queries queries, on a collection of
      --chunks chunks, through ragroute's collection handle (with the configured consistency level).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid

import numpy as np

from schemas.collection import chunk_collection_config
from schemas.settings import apply_library_environment, get_settings
from tasks.clients.vectorstore import (
    ObjectToWrite,
    cluster_size,
    connect,
    replication_factor,
    use_collection,
    write_objects,
)

WORDS = ["harbour", "cargo", "vessel", "crane", "berth", "tide", "pilot", "manifest", "customs", "quay", "tanker", "dredging", "container", "schedule", "storm", "anchor", "freight", "dock", "inspection", "ledger"]  # fmt: skip
DIM = 384


def _objects(count: int, seed: int) -> list[ObjectToWrite]:
    rng = random.Random(seed)
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        ObjectToWrite(
            uuid=str(uuid.UUID(int=rng.getrandbits(128))),
            vector=vector.tolist(),
            properties={
                "text": " ".join(rng.choices(WORDS, k=60)) + f" item{i}",
                "doc_id": f"d{i // 10}",
                "source_path": f"/bench/d{i // 10}.txt",
                "page": 1,
                "page_spans": [0],
                "chunk_index": i % 10,
                "content_hash": "",
                "doc_hash": "",
                "ocr": False,
            },
        )  # fmt: skip
        for i, vector in enumerate(vectors)
    ]


def _fresh(client, name: str, settings) -> None:
    client.collections.delete(name)
    client.collections.create(**chunk_collection_config(name, replication_factor(client, settings)))


def import_throughput(client, settings, objects: list[ObjectToWrite]) -> dict:
    """Objects/s of ragroute's writes and of the raw client's dynamic batch, same objects."""
    _fresh(client, "BenchImportOurs", settings)
    started = time.perf_counter()
    failed = write_objects(use_collection(client, "BenchImportOurs", settings), objects)
    ours = time.perf_counter() - started
    assert not failed, failed[:3]
    _fresh(client, "BenchImportRaw", settings)
    raw_collection = client.collections.use("BenchImportRaw")
    started = time.perf_counter()
    with raw_collection.batch.dynamic() as batch:
        for obj in objects:
            batch.add_object(properties=obj.properties, uuid=obj.uuid, vector=obj.vector)
    raw = time.perf_counter() - started
    assert not raw_collection.batch.failed_objects
    for name in ("BenchImportOurs", "BenchImportRaw"):
        client.collections.delete(name)
    n = len(objects)
    return {"objects": n, "ours_s": round(ours, 2), "raw_s": round(raw, 2),
            "ours_per_s": round(n / ours), "raw_per_s": round(n / raw), "ratio": round(raw / ours, 3)}  # fmt: skip


def _percentiles(samples: list[float]) -> dict:
    cuts = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1)}


def query_latency(client, settings, chunks: int, queries: int) -> dict:
    name = "BenchQueries"
    copies = replication_factor(client, settings)
    existing = client.collections.use(name) if client.collections.exists(name) else None
    if existing and len(existing) == chunks and existing.config.get().replication_config.factor == copies:
        print(f"  reusing {name} ({chunks} chunks, {copies} replicas)")
    else:
        _fresh(client, name, settings)
        started = time.perf_counter()
        for start in range(0, chunks, 10_000):
            write_objects(
                use_collection(client, name, settings), _objects(min(10_000, chunks - start), start)
            )
        print(f"  loaded {chunks} chunks in {time.perf_counter() - started:.0f}s")
    collection = use_collection(client, name, settings)
    rng = np.random.default_rng(7)
    texts = [" ".join(random.Random(i).choices(WORDS, k=4)) for i in range(queries)]
    vectors = rng.standard_normal((queries, DIM)).astype(np.float32)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).tolist()
    runs = {
        "dense": lambda i: collection.query.near_vector(near_vector=vectors[i], limit=5),
        "bm25": lambda i: collection.query.bm25(query=texts[i], limit=5),
        "hybrid": lambda i: collection.query.hybrid(query=texts[i], vector=vectors[i], limit=5),
    }
    results = {}
    for kind, run in runs.items():
        for i in range(min(20, queries)):  # warm-up
            run(i)
        samples = []
        for i in range(queries):
            started = time.perf_counter()
            assert len(run(i).objects) == 5
            samples.append((time.perf_counter() - started) * 1000)
        results[kind] = _percentiles(samples)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--import-chunks", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-import", action="store_true")
    args = parser.parse_args()
    apply_library_environment()
    settings = get_settings()
    with connect(settings) as client:
        nodes = cluster_size(client)
        result: dict = {"nodes": nodes, "replication_factor": replication_factor(client, settings)}
        if not args.skip_import:
            result["import"] = import_throughput(client, settings, _objects(args.import_chunks, 1))
            print(f"import: {result['import']}")
        result["queries"] = query_latency(client, settings, args.chunks, args.queries)
    for kind, cut in result["queries"].items():
        print(
            f"{kind:7s} top-5 at {args.chunks} chunks, {nodes} node(s): p50 {cut['p50_ms']} ms, p95 {cut['p95_ms']} ms"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
