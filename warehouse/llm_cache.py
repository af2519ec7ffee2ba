"""The LLM response cache: a SQLite file beside the warehouse (`<data dir>/llm_cache.sqlite`) on one machine,
or the `llm_responses` table of the DuckLake warehouse, so that every host sharing it shares the answers.

Reads and writes may come from different threads at once (`tasks/clients/llm.py` writes from a thread of its
own): each has a connection of its own, so a write waiting for a lock never holds up a read."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from schemas.settings import DuckLakeTarget
from warehouse.db import Target, connect, upsert, utc_now


class ResponseCache:
    """Successful completions, keyed on (endpoint, model, messages, parameters); errors are never stored.

    A write waits up to `write_timeout_s` for another process's lock, then raises (the caller logs it)."""

    def __init__(self, path: Path, write_timeout_s: float = 10.0):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._connect(path, write_timeout_s)
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, body TEXT NOT NULL)")
        self._reads = self._connect(path, write_timeout_s)  # WAL: reads never wait for a writer

    @staticmethod
    def _connect(path: Path, timeout_s: float) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # with WAL this stays crash-safe
        return db

    @staticmethod
    def key(endpoint: str, model: str, messages: list[dict] | str, parameters: dict) -> str:
        """`messages`: a chat request's messages, or the text of a plain completion prompt."""
        payload = json.dumps([endpoint, model, messages, parameters], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        row = self._reads.execute("SELECT body FROM responses WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, body: dict) -> None:
        self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)", [key, json.dumps(body)])

    def close(self) -> None:
        self._reads.close()
        self._db.close()


class SharedResponseCache(ResponseCache):
    """The same cache in the DuckLake warehouse (`llm_responses`): a keyed write, retried on conflict or a lost
    catalog connection for at most `write_retry_s` (then it raises and the caller logs it: during a long
    PostgreSQL outage each queued write gives up soon instead of holding up the run's end)."""

    write_retry_s = 10.0

    def __init__(self, target: DuckLakeTarget):
        self._target = target
        self._con = connect(target)  # the writes'

    def get(self, key: str) -> dict | None:
        con = connect(self._target)  # a cursor of its own: DuckDB connections are not shared between threads
        try:
            row = con.execute("SELECT body FROM llm_responses WHERE key = ? LIMIT 1", [key]).fetchone()
        finally:
            con.close()
        return json.loads(row[0]) if row else None

    def put(self, key: str, body: dict) -> None:
        upsert(
            self._con,
            "llm_responses",
            ["key"],
            ["key", "body", "cached_at"],
            [[key, json.dumps(body), utc_now()]],
            retry_for_s=self.write_retry_s,
        )

    def close(self) -> None:
        self._con.close()


def open_response_cache(warehouse: Target, sqlite_path: Path) -> ResponseCache:
    """The shared cache when the warehouse is a DuckLake, else the SQLite file."""
    if isinstance(warehouse, DuckLakeTarget):
        return SharedResponseCache(warehouse)
    return ResponseCache(sqlite_path)
