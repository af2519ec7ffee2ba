"""Vector store benchmark: ragroute's writes against the raw client's, and query latency at scale.

Run against a running Weaviate (`ragroute services up`, or `--weaviate-nodes 3` for a cluster):
  .venv/bin/python -m bench.vectorstore [--chunks 100000] [--context-chunks 100] [--import-chunks 20000]
                                        [--queries 200] [--drop]

Measured in one run, on generated chunks (384-d unit vectors, ~60 words of generated text each):
  (a) import throughput of `write_objects` (ragroute's writes: `insert_many` in batches of
      `WRITE_BATCH_SIZE`, rejected objects collected and retried) against the raw client writing the same
      objects in the same batches with `collection.data.insert_many`, each into a fresh chunk collection
      (target >= 0.8x); the two alternate `--repeats` times and the best of each counts;
  (b) top-5 latency, p50/p95 over --queries queries, on a benchmark-context collection of --chunks chunks in
      contexts of --context-chunks chunks each, through ragroute's collection handle (the configured
      consistency level). Weaviate's own latency: dense (near_vector), BM25 and hybrid over the whole
      collection, and hybrid filtered to one context; ragroute's retrieval as an evaluation runs it
      (`tasks.evaluation.retrieval.retrieve`: embed the question with the configured model, filter to the
      context, hybrid), and the question's embedding alone. The query vectors of the raw calls are the
      questions' embeddings, computed before the clock starts.
The collection of (b) is kept for the next run (loading 100,000 chunks takes minutes) unless --drop is given.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable

import numpy as np
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, MetadataQuery

from schemas.collection import chunk_collection_config, context_collection_config
from schemas.settings import Settings, apply_library_environment, get_settings
from tasks.clients.vectorstore import (
    WRITE_BATCH_SIZE,
    ObjectToWrite,
    cluster_size,
    connect,
    replication_factor,
    use_collection,
    write_objects,
)
from tasks.evaluation.retrieval import retrieve
from tasks.ingestion.embed import embed_texts

WORDS = ["harbour", "cargo", "vessel", "crane", "berth", "tide", "pilot", "manifest", "customs", "quay", "tanker", "dredging", "container", "schedule", "storm", "anchor", "freight", "dock", "inspection", "ledger"]  # fmt: skip
DIM = 384
TOP_K = 5


def _unit_vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _chunk_objects(count: int, seed: int) -> list[ObjectToWrite]:
    """Objects as an ingest writes them (the chunk collection's properties)."""
    rng = random.Random(seed)
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
        for i, vector in enumerate(_unit_vectors(count, seed))
    ]


def _context_key(context: int) -> str:
    return f"bench-context-{context}"


def _context_objects(start: int, count: int, context_chunks: int) -> list[ObjectToWrite]:
    """Objects as an evaluation writes a benchmark's contexts: chunk `i` belongs to context i // context_chunks."""
    rng = random.Random(start)
    return [
        ObjectToWrite(
            uuid=str(uuid.uuid5(uuid.NAMESPACE_OID, f"bench|{i}")),
            vector=vector.tolist(),
            properties={
                "text": " ".join(rng.choices(WORDS, k=60)) + f" item{i}",
                "context_key": _context_key(i // context_chunks),
                "chunk_index": i % context_chunks,
            },
        )
        for i, vector in zip(range(start, start + count), _unit_vectors(count, start), strict=True)
    ]


def _fresh(client, config: dict) -> None:
    client.collections.delete(config["name"])
    client.collections.create(**config)


def _write_raw(collection, objects: list[ObjectToWrite]) -> None:
    """The raw client, as ragroute writes: `insert_many` of the same objects in the same batches."""
    for start in range(0, len(objects), WRITE_BATCH_SIZE):
        batch = objects[start : start + WRITE_BATCH_SIZE]
        result = collection.data.insert_many(
            [DataObject(properties=obj.properties, uuid=obj.uuid, vector=obj.vector) for obj in batch]
        )
        assert not result.errors, list(result.errors.values())[:3]


def _write_ours(collection, objects: list[ObjectToWrite]) -> None:
    failed = write_objects(collection, objects)
    assert not failed, failed[:3]


def import_throughput(client, settings: Settings, objects: list[ObjectToWrite], repeats: int) -> dict:
    """Objects/s of ragroute's writes and of the raw client's, the same objects in the same batches, each into a
    fresh collection; the two alternate and the best run of each counts."""
    factor = replication_factor(client, settings)
    best = {"raw": float("inf"), "ours": float("inf")}
    writers = {"raw": _write_raw, "ours": _write_ours}
    for _ in range(repeats):
        for side, write in writers.items():
            name = f"BenchImport_{side}"
            _fresh(client, chunk_collection_config(name, factor))
            collection = use_collection(client, name, settings)
            started = time.perf_counter()
            write(collection, objects)
            best[side] = min(best[side], time.perf_counter() - started)
            client.collections.delete(name)
    n = len(objects)
    return {"objects": n, "batch_size": WRITE_BATCH_SIZE, "repeats": repeats,
            "ours_s": round(best["ours"], 2), "raw_s": round(best["raw"], 2),
            "ours_per_s": round(n / best["ours"]), "raw_per_s": round(n / best["raw"]),
            "ratio": round(best["raw"] / best["ours"], 3)}  # fmt: skip


def _percentiles(samples: list[float]) -> dict:
    cuts = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(cuts[49], 1), "p95_ms": round(cuts[94], 1)}


def _query_collection(client, settings: Settings, chunks: int, context_chunks: int) -> str:
    """The benchmark-context collection of `chunks` chunks, loaded unless one of the same shape is there."""
    name = f"BenchContexts_{context_chunks}"
    copies = replication_factor(client, settings)
    if client.collections.exists(name):
        existing = client.collections.use(name)
        if len(existing) == chunks and existing.config.get().replication_config.factor == copies:
            print(f"  reusing {name} ({chunks} chunks, {copies} replicas)")
            return name
    _fresh(client, context_collection_config(name, copies))
    collection = use_collection(client, name, settings)
    started = time.perf_counter()
    for start in range(0, chunks, 10_000):
        _write_ours(collection, _context_objects(start, min(10_000, chunks - start), context_chunks))
    print(f"  loaded {chunks} chunks in {time.perf_counter() - started:.0f}s")
    return name


def _latency(run: Callable[[int], int], queries: int) -> dict:
    for i in range(min(20, queries)):  # warm-up
        run(i)
    samples = []
    for i in range(queries):
        started = time.perf_counter()
        assert run(i) == TOP_K
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def query_latency(client, settings: Settings, chunks: int, context_chunks: int, queries: int) -> dict:
    """p50/p95 of Weaviate's own queries and of ragroute's retrieval (embedding + filter + hybrid)."""
    name = _query_collection(client, settings, chunks, context_chunks)
    collection = use_collection(client, name, settings)
    contexts = max(chunks // context_chunks, 1)
    texts = [" ".join(random.Random(i).choices(WORDS, k=4)) for i in range(queries)]
    keys = [_context_key(i % contexts) for i in range(queries)]
    vectors = embed_texts(texts, settings)  # also loads the embedding model before any clock starts
    metadata = MetadataQuery(score=True, distance=True)

    def in_context(i: int) -> Filter:
        return Filter.by_property("context_key").equal(keys[i])

    runs: dict[str, Callable[[int], int]] = {
        "dense": lambda i: len(collection.query.near_vector(near_vector=vectors[i], limit=TOP_K).objects),
        "bm25": lambda i: len(collection.query.bm25(query=texts[i], limit=TOP_K).objects),
        "hybrid": lambda i: len(
            collection.query.hybrid(query=texts[i], vector=vectors[i], limit=TOP_K).objects
        ),
        "hybrid_filtered": lambda i: len(
            collection.query.hybrid(
                query=texts[i],
                vector=vectors[i],
                alpha=settings.eval_hybrid_alpha,
                filters=in_context(i),
                limit=TOP_K,
                return_metadata=metadata,
            ).objects
        ),  # fmt: skip
        "embed_question": lambda i: TOP_K if len(embed_texts([texts[i]], settings)[0]) == DIM else 0,
        "ragroute_retrieve": lambda i: len(
            retrieve(collection, keys[i], texts[i], TOP_K, "hybrid", settings)
        ),
    }
    return {kind: _latency(run, queries) for kind, run in runs.items()}


LABELS = {
    "dense": "Weaviate dense (near_vector)",
    "bm25": "Weaviate BM25",
    "hybrid": "Weaviate hybrid",
    "hybrid_filtered": "Weaviate hybrid, one context",
    "embed_question": "question embedding alone",
    "ragroute_retrieve": "ragroute retrieval (embed + filter + hybrid)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--context-chunks", type=int, default=100, help="chunks per benchmark context")
    parser.add_argument("--import-chunks", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2, help="alternating import runs of each writer")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--drop", action="store_true", help="delete the query collection at the end")
    args = parser.parse_args()
    apply_library_environment()
    settings = get_settings()
    with connect(settings) as client:
        nodes = cluster_size(client)
        result: dict = {"nodes": nodes, "replication_factor": replication_factor(client, settings)}
        if not args.skip_import:
            result["import"] = import_throughput(
                client, settings, _chunk_objects(args.import_chunks, 1), args.repeats
            )
            imported = result["import"]
            print(
                f"import of {imported['objects']} objects in batches of {imported['batch_size']}: ragroute "
                f"{imported['ours_per_s']}/s, raw insert_many {imported['raw_per_s']}/s -> "
                f"{imported['ratio']:.2f}x raw (target >= 0.8x)"
            )
        try:
            result["queries"] = query_latency(
                client, settings, args.chunks, args.context_chunks, args.queries
            )
        finally:
            if args.drop:
                client.collections.delete(f"BenchContexts_{args.context_chunks}")
    print(f"top-{TOP_K} at {args.chunks} chunks ({args.context_chunks} per context), {nodes} node(s):")
    for kind, cut in result["queries"].items():
        print(f"  {LABELS[kind]:46s} p50 {cut['p50_ms']:6.1f} ms   p95 {cut['p95_ms']:6.1f} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
