"""Reading what a test's run left behind: warehouse rows and Weaviate objects."""

from __future__ import annotations

from pathlib import Path

import duckdb

from schemas.collection import collection_name
from schemas.settings import Settings
from tasks.clients.vectorstore import connect
from warehouse.db import connect as warehouse_connect


def warehouse_rows(settings: Settings, sql: str, params=()) -> list[tuple]:
    """Rows of a read-only query on the test warehouse."""
    target = settings.warehouse_target
    opened = (
        duckdb.connect(str(target), read_only=True)
        if isinstance(target, Path)
        else warehouse_connect(target, read_only=True)
    )
    with opened as con:
        return con.execute(sql, list(params)).fetchall()


def collection_objects(settings: Settings, base: str) -> dict[str, dict]:
    """Every object of the chunk collection `base` (through its alias): uuid -> properties."""
    with connect(settings) as client:
        collection = client.collections.use(collection_name(base, settings.embedding_model))
        return {str(o.uuid): o.properties for o in collection.iterator()}
