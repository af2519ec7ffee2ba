"""The real Weaviate server: version, collection with our own vectors, batch writes, queries, deletes."""

import httpx
import pytest
from weaviate.classes.query import Filter, MetadataQuery
from weaviate.util import generate_uuid5

from schemas.collection import collection_name
from tasks.clients import services
from tasks.clients.vectorstore import (
    ObjectToWrite,
    connect,
    delete_where,
    ensure_chunk_collection,
    write_objects,
)


def _vector(i: int) -> list[float]:
    return [1.0, float(i % 3), float(i % 5), float(i % 7)]


def _chunk(i: int, doc: str) -> ObjectToWrite:
    text = f"chunk {i} of {doc}: " + (
        "the lighthouse keeper counts ships" if i % 2 else "bread rises overnight"
    )
    return ObjectToWrite(
        uuid=generate_uuid5(f"{doc}:{i}"),
        properties={
            "text": text,
            "doc_id": doc,
            "source_path": f"/corpus/{doc}.txt",
            "page": 1,
            "chunk_index": i,
            "content_hash": f"h{i}",
            "ocr": False,
        },
        vector=_vector(i),
    )


@pytest.fixture
def client(running_services):
    with connect(running_services) as client:
        yield client


@pytest.fixture
def collection(client, request, running_services):
    name = collection_name(f"Test_{request.node.name}", "unit-vectors")
    client.collections.delete(name)
    yield ensure_chunk_collection(client, name, running_services)
    client.collections.delete(name)


def test_server_version_is_the_pinned_one(running_services):
    meta = httpx.get(f"{running_services.weaviate_http_url}/v1/meta", timeout=5).json()
    assert meta["version"] == running_services.weaviate_version.removeprefix("v")
    assert services.weaviate_version(running_services) == meta["version"]


def test_batch_insert_with_deterministic_ids_is_idempotent(collection):
    objects = [_chunk(i, "doc-a") for i in range(20)]
    assert write_objects(collection, objects) == []
    assert write_objects(collection, objects) == []  # same uuids: overwritten, not duplicated
    assert collection.aggregate.over_all(total_count=True).total_count == 20
    stored = collection.query.fetch_object_by_id(generate_uuid5("doc-a:3"), include_vector=True)
    assert stored.properties["chunk_index"] == 3
    assert stored.vector["default"] == pytest.approx(_vector(3))


def test_rejected_objects_are_reported(collection):
    good = _chunk(1, "doc-b")
    bad = ObjectToWrite(
        uuid=generate_uuid5("bad"), properties={**good.properties, "page": "not a number"}, vector=_vector(2)
    )
    failed = write_objects(collection, [good, bad])
    assert [f.uuid for f in failed] == [bad.uuid]
    assert failed[0].message
    assert collection.aggregate.over_all(total_count=True).total_count == 1


def test_hybrid_and_bm25_queries_respect_filters(collection):
    write_objects(collection, [_chunk(i, doc) for doc in ("doc-a", "doc-b") for i in range(10)])
    only_b = Filter.by_property("doc_id").equal("doc-b")
    bm25 = collection.query.bm25(
        query="lighthouse ships", filters=only_b, limit=3, return_metadata=MetadataQuery(score=True)
    )
    assert len(bm25.objects) == 3
    assert all(
        o.properties["doc_id"] == "doc-b" and "lighthouse" in o.properties["text"] for o in bm25.objects
    )
    hybrid = collection.query.hybrid(
        query="bread",
        vector=_vector(4),
        alpha=0.5,
        filters=only_b,
        limit=5,
        return_metadata=MetadataQuery(score=True),
    )
    assert 0 < len(hybrid.objects) <= 5
    assert all(o.properties["doc_id"] == "doc-b" for o in hybrid.objects)
    assert hybrid.objects[0].metadata.score >= hybrid.objects[-1].metadata.score


def test_delete_loops_past_the_server_cap(collection, running_services):
    cap = running_services.weaviate_query_maximum_results
    write_objects(collection, [_chunk(i, "big") for i in range(3 * cap + 7)] + [_chunk(0, "keep")])
    deleted = delete_where(collection, Filter.by_property("doc_id").equal("big"))
    assert deleted == 3 * cap + 7
    assert collection.aggregate.over_all(total_count=True).total_count == 1
