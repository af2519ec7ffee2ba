"""Reading what a test's run left behind: warehouse rows, Weaviate objects and files holding a secret."""

from __future__ import annotations

import os
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


def files_containing(folder: Path, needle: bytes) -> list[Path]:
    """Every file under `folder` whose bytes contain `needle`."""
    found = []
    for directory, _, names in os.walk(folder):
        for name in names:
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(path)
    return found
