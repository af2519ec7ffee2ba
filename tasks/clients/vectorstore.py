"""Weaviate access: connecting, creating chunk collections, writing and deleting objects."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

import weaviate
from weaviate.classes.config import ConsistencyLevel
from weaviate.classes.data import DataObject
from weaviate.classes.init import AdditionalConfig, Auth, Timeout
from weaviate.classes.query import Filter
from weaviate.collections import Collection
from weaviate.exceptions import UnexpectedStatusCodeError

from schemas.collection import chunk_collection_config
from schemas.settings import Settings


def connect(settings: Settings) -> weaviate.WeaviateClient:
    """A client for the configured Weaviate: the local server, or the cluster at `WEAVIATE_URL`."""
    timeout = AdditionalConfig(timeout=Timeout(init=30, query=60, insert=120))
    auth = Auth.api_key(settings.weaviate_api_key.get_secret_value()) if settings.weaviate_api_key else None
    if settings.weaviate_is_local:
        return weaviate.connect_to_local(
            host=settings.weaviate_host,
            port=settings.weaviate_http_port,
            grpc_port=settings.weaviate_grpc_port,
            additional_config=timeout,
            auth_credentials=auth,
        )
    http = urlparse(settings.weaviate_url)
    grpc = urlparse(settings.weaviate_grpc_url) if settings.weaviate_grpc_url else None
    http_secure = http.scheme == "https"
    return weaviate.connect_to_custom(
        http_host=http.hostname,
        http_port=http.port or (443 if http_secure else 80),
        http_secure=http_secure,
        grpc_host=grpc.hostname if grpc else f"grpc-{http.hostname}" if http_secure else http.hostname,
        grpc_port=(grpc.port if grpc else None) or (443 if http_secure else 50051),
        grpc_secure=(grpc.scheme in ("https", "grpcs")) if grpc else http_secure,
        auth_credentials=auth,
        additional_config=timeout,
    )


def cluster_size(client: weaviate.WeaviateClient) -> int:
    """How many nodes the Weaviate cluster has (1 for a single server, or when the key may not list nodes:
    set the replication factor and consistency level explicitly then)."""
    try:
        return len(client.cluster.nodes()) or 1
    except UnexpectedStatusCodeError:  # 403 under RBAC without the nodes permission
        return 1


def replication_factor(client: weaviate.WeaviateClient, settings: Settings) -> int:
    """Copies of a new collection: the configured factor, else one per node up to 3."""
    return settings.weaviate_replication_factor or min(3, cluster_size(client))


def consistency_level(client: weaviate.WeaviateClient, settings: Settings) -> ConsistencyLevel | None:
    """The consistency of reads and writes: the configured level, else QUORUM on a cluster and the server's
    default (None) on a single node."""
    level = settings.weaviate_consistency_level or ("QUORUM" if cluster_size(client) > 1 else None)
    return ConsistencyLevel(level) if level else None


def use_collection(
    client: weaviate.WeaviateClient,
    name: str,
    settings: Settings,
    level: ConsistencyLevel | None = None,
) -> Collection:
    """A handle on a collection (or alias) whose reads and writes use the configured consistency level, or
    `level` when given."""
    collection = client.collections.use(name)
    level = level or consistency_level(client, settings)
    return collection.with_consistency_level(level) if level else collection


def ensure_chunk_collection(client: weaviate.WeaviateClient, name: str, settings: Settings) -> Collection:
    """The chunk collection readers know as `name`: an alias to a versioned collection, made on first use.
    (A collection created under the plain name before aliases were used keeps working as it is.)"""
    if live_collection(client, name) is None:
        target = create_versioned_collection(client, name, settings)
        client.alias.create(alias_name=name, target_collection=target)
    return use_collection(client, name, settings)


def live_collection(client: weaviate.WeaviateClient, name: str) -> str | None:
    """The collection that reads of `name` reach: the alias's target, the collection itself, or None."""
    alias = client.alias.get(alias_name=name)
    if alias is not None:
        return alias.collection
    return name if client.collections.exists(name) else None


def create_versioned_collection(client: weaviate.WeaviateClient, name: str, settings: Settings) -> str:
    """A new, empty chunk collection `<name>_<UTC timestamp>`; returns its name."""
    versioned = f"{name}_{datetime.now(UTC):%Y%m%d%H%M%S%f}"
    client.collections.create(**chunk_collection_config(versioned, replication_factor(client, settings)))
    return versioned


def point_alias(client: weaviate.WeaviateClient, name: str, target: str) -> str | None:
    """Make reads of `name` reach `target`; returns the collection they reached before (None if none).

    An existing alias is switched in one call. A collection made under the plain name before aliases were
    used has to be deleted before its name can become an alias: that one switch is not atomic."""
    previous = live_collection(client, name)
    if client.alias.get(alias_name=name) is not None:
        client.alias.update(alias_name=name, new_target_collection=target)
        return previous
    if previous is not None:
        client.collections.delete(previous)
    client.alias.create(alias_name=name, target_collection=target)
    return None


@dataclass(frozen=True)
class ObjectToWrite:
    uuid: str
    properties: dict
    vector: list[float]


@dataclass(frozen=True)
class FailedWrite:
    uuid: str
    message: str


# Rejections that say a replica or connection failed, not that the object is bad: worth another attempt.
TRANSIENT_REJECTIONS = ("rpc error", "connection", "unavailable", "deadline", "canceled", "cannot reach",
                        "not enough replicas", "broadcast")  # fmt: skip


WRITE_BATCH_SIZE = 200  # objects per `insert_many` call (one gRPC request)


def write_objects(
    collection: Collection,
    objects: Iterable[ObjectToWrite],
    batch_size: int = WRITE_BATCH_SIZE,
    attempts: int = 3,
    pause_s: float = 1.0,
) -> list[FailedWrite]:
    """Upsert objects under their deterministic uuids in gRPC batches; returns every object the server
    rejected (failed objects are reported, never raised). Objects rejected for a transient reason (a replica
    that went away mid-write) are written again, up to `attempts` times in all."""
    pending, failed = list(objects), []
    for attempt in range(1, attempts + 1):
        rejected = _write_batches(collection, pending, batch_size)
        transient = [f for f in rejected if _is_transient(f)]
        failed += [f for f in rejected if not _is_transient(f)]
        if not transient or attempt == attempts:
            return failed + transient
        time.sleep(pause_s * attempt)
        retry = {f.uuid for f in transient}
        pending = [obj for obj in pending if obj.uuid in retry]
    return failed


def _is_transient(failure: FailedWrite) -> bool:
    return any(word in failure.message.lower() for word in TRANSIENT_REJECTIONS)


def _write_batches(
    collection: Collection, pending: list[ObjectToWrite], batch_size: int
) -> list[FailedWrite]:
    failed = []
    for start in range(0, len(pending), batch_size):
        batch = pending[start : start + batch_size]
        result = collection.data.insert_many(
            [DataObject(properties=obj.properties, uuid=obj.uuid, vector=obj.vector) for obj in batch]
        )
        failed.extend(
            FailedWrite(uuid=batch[i].uuid, message=error.message) for i, error in result.errors.items()
        )
    return failed


def delete_where(collection: Collection, where: Filter) -> int:
    """Delete every object matching `where`, looping past the server's per-call cap; returns the count."""
    deleted = 0
    while True:
        result = collection.data.delete_many(where=where)
        if result.failed:
            raise RuntimeError(f"Weaviate failed to delete {result.failed} object(s) in {collection.name}")
        deleted += result.successful
        if result.matches == 0 or result.successful == 0:
            return deleted
