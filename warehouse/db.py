"""The DuckDB warehouse: connections and schema migrations.

Migrations are the numbered `.sql` files in `warehouse/migrations/`. Each is applied once, in order, inside a
transaction, and recorded in `schema_version`; opening a database applies whatever is missing, so an older
file upgrades in place.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def utc_now() -> datetime:
    """Now in UTC, as the naive timestamp every warehouse TIMESTAMP column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


_MIGRATION_NAME = re.compile(r"^(\d+)_[\w-]+\.sql$")


def migrations() -> list[tuple[int, Path]]:
    """The migration files, ordered by their version number."""
    found = []
    for path in MIGRATIONS_DIR.glob("*.sql"):
        match = _MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the missing migrations; returns the versions applied now."""
    current = schema_version(con)
    applied = []
    for version, path in migrations():
        if version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(path.read_text())
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)",
                [version, path.name, utc_now()],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


VIEWS_DIR = Path(__file__).parent / "views"


def _views_sql() -> str:
    return "\n".join(path.read_text() for path in sorted(VIEWS_DIR.glob("*.sql")))


def apply_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the SQL views from `warehouse/views/*.sql`, in file-name order, and remember which."""
    sql = _views_sql()
    con.execute(sql)
    con.execute("CREATE TABLE IF NOT EXISTS view_state (views_sha256 VARCHAR NOT NULL)")
    con.execute("DELETE FROM view_state")
    con.execute("INSERT INTO view_state VALUES (?)", [hashlib.sha256(sql.encode()).hexdigest()])


def _views_outdated(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        stored = con.execute("SELECT views_sha256 FROM view_state").fetchone()
    except duckdb.CatalogException:
        return True
    return stored is None or stored[0] != hashlib.sha256(_views_sql().encode()).hexdigest()


def _is_lock_conflict(error: duckdb.Error) -> bool:
    return "lock" in str(error).lower()


def _open(path: Path, read_only: bool, lock_timeout_s: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting while another process holds DuckDB's single-writer lock."""
    deadline = time.monotonic() + lock_timeout_s
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as error:
            if not _is_lock_conflict(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay + random.uniform(0, delay))
            delay = min(delay * 2, 1.0)


def connect(path: Path, read_only: bool = False, lock_timeout_s: float = 300.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file; a writable connection brings the schema and views up to date first.

    DuckDB lets one process write at a time: callers keep connections short (`session`), and an open waits
    (with backoff, up to `lock_timeout_s`) while another process holds the file.
    """
    if read_only:
        if not path.exists():
            raise FileNotFoundError(f"no warehouse at {path}: run an ingest or an evaluation first")
        with session(path, lock_timeout_s=lock_timeout_s):
            pass  # an older file gets its migrations and views before it is read
        return _open(path, True, lock_timeout_s)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, False, lock_timeout_s)
    try:
        if migrate(con) or _views_outdated(con):
            apply_views(con)
    except Exception:
        con.close()
        raise
    return con


@contextmanager
def session(path: Path, lock_timeout_s: float = 300.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived writable connection: open, use, close (so other processes can write in between)."""
    con = connect(path, lock_timeout_s=lock_timeout_s)
    try:
        yield con
    finally:
        con.close()
