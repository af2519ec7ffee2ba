"""The warehouse: connections, schema migrations and retried write transactions, on two backends.

- an embedded DuckDB file (the default): one process writes at a time, sessions are short;
- a DuckLake (`RAGROUTE_WAREHOUSE=ducklake:postgres:…`): the catalog in PostgreSQL, the data as Parquet files
  in a shared folder, many writers on many hosts under snapshot isolation.

Migrations are the numbered `.sql` files in `warehouse/migrations/`. Each is applied once, in order, inside a
transaction, and recorded in `schema_version`; opening a database applies whatever is missing, so an older
file upgrades in place. DuckLake enforces no PRIMARY KEY: the keys stay declared for the file backend and are
kept by the writers themselves: every keyed write goes through `keyed_write` (and `upsert`, built on it), a
retried transaction that conflicts with any concurrent one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import duckdb

from schemas.errors import RagrouteError
from schemas.settings import DuckLakeTarget, Settings

Target = Path | DuckLakeTarget
T = TypeVar("T")
LAKE = "ragroute_lake"  # the name the DuckLake is attached under; every statement runs with it as the default
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


class WarehouseUnavailable(RagrouteError):
    """The DuckLake catalog or its data folder cannot be reached."""


def is_lake(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute("SELECT current_database()").fetchone()[0] == LAKE


_COLUMN_KEY = re.compile(r"\s+PRIMARY KEY\b(?!\s*\()", re.IGNORECASE)
_TABLE_KEY = re.compile(r",(\s*--[^\n]*)?\s*PRIMARY KEY\s*\([^)]*\)", re.IGNORECASE)


def for_backend(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    """DDL as the backend takes it: DuckLake has no PRIMARY KEY (a key column stays NOT NULL)."""
    if not is_lake(con):
        return sql
    return _COLUMN_KEY.sub(" NOT NULL", _TABLE_KEY.sub(r"\1", sql))


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    ddl = (
        "CREATE TABLE IF NOT EXISTS schema_version "
        "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    if not _table_exists(con, "schema_version"):
        transaction(con, lambda: con.execute(for_backend(con, ddl)))
    row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name = ?",
        [name],
    ).fetchone()
    return row[0] > 0


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the missing migrations; returns the versions applied now. Hosts migrating one DuckLake at the
    same time conflict: the loser's transaction is rolled back and finds the migration applied."""
    applied = []
    current = schema_version(con)  # one look when nothing is missing (every open of the file pays it)
    for version, path in migrations():
        if version > current and transaction(con, lambda v=version, p=path: _apply_migration(con, v, p)):
            applied.append(version)
    return applied


def _apply_migration(con: duckdb.DuckDBPyConnection, version: int, path: Path) -> bool:
    if schema_version(con) >= version:
        return False
    con.execute(for_backend(con, path.read_text()))
    con.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [version, path.name, utc_now()])
    return True


VIEWS_DIR = Path(__file__).parent / "views"


def _views_sql() -> str:
    return "\n".join(path.read_text() for path in sorted(VIEWS_DIR.glob("*.sql")))


def apply_views(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the SQL views from `warehouse/views/*.sql`, in file-name order, and remember which."""
    sql = _views_sql()

    def body() -> None:
        con.execute(sql)
        con.execute("CREATE TABLE IF NOT EXISTS view_state (views_sha256 VARCHAR NOT NULL)")
        con.execute("DELETE FROM view_state")
        con.execute("INSERT INTO view_state VALUES (?)", [hashlib.sha256(sql.encode()).hexdigest()])

    transaction(con, body)


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


def connect(
    target: Target, read_only: bool = False, lock_timeout_s: float = 300.0
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; a writable connection brings the schema and views up to date first.

    File: DuckDB lets one process write at a time: callers keep connections short (`session`), and an open
    waits (with backoff, up to `lock_timeout_s`) while another process holds the file.
    DuckLake: a connection of this process's one DuckDB instance attached to the lake (no lock to wait for).
    """
    if isinstance(target, DuckLakeTarget):
        return _open_lake(target, read_only) if read_only else _lake_cursor(target)
    if read_only:
        if not target.exists():
            raise FileNotFoundError(f"no warehouse at {target}: run an ingest or an evaluation first")
        with session(target, lock_timeout_s=lock_timeout_s):
            pass  # an older file gets its migrations and views before it is read
        return _open(target, True, lock_timeout_s)
    target.parent.mkdir(parents=True, exist_ok=True)
    con = _open(target, False, lock_timeout_s)
    try:
        _bring_up_to_date(con)
    except Exception:
        con.close()
        raise
    return con


def _bring_up_to_date(con: duckdb.DuckDBPyConnection) -> None:
    if migrate(con) or _views_outdated(con):
        apply_views(con)


@contextmanager
def session(target: Target, lock_timeout_s: float = 300.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived writable connection: open, use, close (so other processes can write in between)."""
    con = connect(target, lock_timeout_s=lock_timeout_s)
    try:
        yield con
    finally:
        con.close()


def session_for(settings: Settings) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """A short `session` on the settings' warehouse: what a run opens for each write, so that other processes
    write between its writes."""
    return session(settings.warehouse_target)


# --- DuckLake -------------------------------------------------------------------------------------------

# The extensions come from the duckdb-extension-* packages of the environment; nothing is downloaded, and
# DuckDB still checks their signatures.
EXTENSION_PACKAGES = {"ducklake": "duckdb_extension_ducklake", "postgres": "duckdb_extension_postgres",
                      "sqlite": "duckdb_extension_sqlite"}  # fmt: skip
EXTENSION_DIR = Path(sys.prefix) / "duckdb-extensions"
_lakes: dict[tuple[int, DuckLakeTarget], duckdb.DuckDBPyConnection] = {}
_lakes_lock = threading.Lock()


def extension_file(name: str) -> Path:
    """The extension file inside its package, for this DuckDB version."""
    module = __import__(EXTENSION_PACKAGES[name])
    path = Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise WarehouseUnavailable(
            f"the {name} extension for DuckDB {duckdb.__version__} is not installed ({path}): run `make setup`"
        )
    return path


def load_extensions(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    """Install (once per environment, from the package's file) and load ducklake and the catalog's scanner."""
    con.execute(f"SET extension_directory = '{EXTENSION_DIR}'")
    con.execute("SET autoinstall_known_extensions = false")
    installed = {
        row[0]
        for row in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE installed").fetchall()
    }
    for name in dict.fromkeys(("ducklake", catalog)):
        scanner = {"postgres": "postgres_scanner", "sqlite": "sqlite_scanner"}.get(name, name)
        if scanner not in installed:
            con.execute(f"INSTALL '{extension_file(name)}'")
        con.execute(f"LOAD {scanner}")


def _catalog_kind(target: DuckLakeTarget) -> str:
    kind = target.attach.removeprefix("ducklake:").split(":", 1)[0]
    return kind if kind in ("postgres", "sqlite") else "ducklake"


def attach_lake(target: DuckLakeTarget, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    try:
        kind = _catalog_kind(target)
        load_extensions(con, kind)
        options = f"DATA_PATH '{sql_literal(target.data_path)}'" + (", READ_ONLY" if read_only else "")
        con.execute(f"ATTACH '{sql_literal(target.attach)}' AS {LAKE} ({options})")
        con.execute(f"USE {LAKE}")
    except duckdb.Error as error:
        con.close()
        raise WarehouseUnavailable(f"cannot open the DuckLake warehouse {target}: {error}") from error
    return con


def sql_literal(text: str) -> str:
    return text.replace("'", "''")


def _lake(target: DuckLakeTarget) -> duckdb.DuckDBPyConnection:
    """This process's DuckDB instance attached to the lake, migrated once (a forked child opens its own)."""
    key = (os.getpid(), target)
    with _lakes_lock:
        if key not in _lakes:
            con = attach_lake(target, read_only=False)
            try:
                _bring_up_to_date(con)
            except Exception:
                con.close()
                raise
            _lakes[key] = con
        return _lakes[key]


def _lake_cursor(target: DuckLakeTarget) -> duckdb.DuckDBPyConnection:
    cursor = _lake(target).cursor()
    cursor.execute(f"USE {LAKE}")  # the default database is a connection's own setting
    return cursor


def _open_lake(target: DuckLakeTarget, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection of its own; read-only ones find the schema and views up to date first."""
    if read_only:
        _lake(target)
    return attach_lake(target, read_only)


# --- Write transactions ---------------------------------------------------------------------------------

# A write that keeps losing to concurrent ones (a storm of writers on one DuckLake) gives up after this long.
RETRY_FOR_S = 300.0
_in_transaction: set[int] = set()
_guarded: set[int] = set()  # connections whose open transaction has bumped `write_guard` already


RETRYABLE = ("conflict", "database is locked", "exceeded the maximum retry count", "could not serialize")


def is_conflict(error: BaseException) -> bool:
    """A write that lost to a concurrent one and can run again: a DuckLake snapshot conflict (or DuckLake's own
    commit retries used up), a DuckDB write-write conflict, a busy SQLite or serializing PostgreSQL catalog."""
    message = str(error).lower()
    return isinstance(error, duckdb.Error) and any(phrase in message for phrase in RETRYABLE)


# The DuckLake catalog's connection was lost (PostgreSQL restarted or unreachable): the transaction did not
# commit, or, when the connection dropped during the commit itself, may have.
CATALOG_LOST = ("unable to connect to postgres", "server closed the connection", "terminating connection",
                'failed to execute query "rollback"', "connection refused")  # fmt: skip


def is_catalog_lost(error: BaseException) -> bool:
    message = str(error).lower()
    return isinstance(error, duckdb.Error) and any(phrase in message for phrase in CATALOG_LOST)


retries = {"conflict": 0, "catalog_lost": 0}  # transactions run again in this process, by cause


def transaction(
    con: duckdb.DuckDBPyConnection,
    body: Callable[[], T],
    retry_lost_catalog: bool = False,
    retry_for_s: float = RETRY_FOR_S,
) -> T:
    """Run `body` in one transaction; when it conflicts with a concurrent writer, roll back and run it again
    (with backoff, for up to `retry_for_s`), so the write lands once. With `retry_lost_catalog` (keyed writes:
    running them twice replaces, never doubles) also when the DuckLake catalog's connection was lost. On a
    DuckLake over PostgreSQL each try first waits for the lake's write turn (`_write_turn`). Inside another
    `transaction` on `con` it just runs."""
    if id(con) in _in_transaction:
        return body()
    deadline, delay = time.monotonic() + retry_for_s, 0.02
    while True:
        try:
            return _attempt(con, body, deadline)
        except BaseException as error:
            cause = _retry_cause(error, retry_lost_catalog)
            if cause is None or time.monotonic() > deadline:
                raise
            retries[cause] += 1
        time.sleep(random.uniform(0, 2 * delay))  # full jitter: losers spread out instead of colliding again
        delay = min(delay * 1.5, 1.0)


def _attempt(con: duckdb.DuckDBPyConnection, body: Callable[[], T], deadline: float) -> T:
    with _write_turn(con, deadline):
        con.execute("BEGIN TRANSACTION")
        _in_transaction.add(id(con))
        try:
            result = body()
            con.execute("COMMIT")
            return result
        except BaseException:
            _rollback(con)
            raise
        finally:
            _in_transaction.discard(id(con))
            _guarded.discard(id(con))


# Writers on one DuckLake take turns: optimistic retries alone let a long write (an evaluation's retrievals)
# lose every commit to a stream of short ones. The turn is a PostgreSQL advisory lock in the catalog database
# (scoped to it, so other lakes on the server do not wait), held by a transaction of its own that starts
# before the write's (a lock taken inside the write's transaction would come after its catalog snapshot).
# It ends at the write's end, or with its connection when the process dies.
WRITE_TURN_KEY = int.from_bytes(hashlib.sha256(b"ragroute write turn").digest()[:4], "big")
_CATALOG_DB = f"__ducklake_metadata_{LAKE}"  # the name DuckLake attaches its PostgreSQL catalog under
write_turns = {"taken": 0, "waited": 0}  # in this process: turns taken, and how many had to wait
_turn = threading.local()  # whether this thread holds its lake's turn (a nested write on another connection)


@contextmanager
def _write_turn(con: duckdb.DuckDBPyConnection, deadline: float) -> Iterator[None]:
    """Wait (until `deadline`) for the lake's write turn, when `con` is on a DuckLake whose catalog is
    PostgreSQL; the embedded file has one writer already, and SQLite or DuckDB catalogs keep plain retries."""
    if getattr(_turn, "held", False) or not _lake_on_postgres(con):
        yield
        return
    holder = con.cursor()
    try:
        holder.execute("BEGIN TRANSACTION")
        free = holder.execute(
            f"SELECT * FROM postgres_query('{_CATALOG_DB}', 'SELECT pg_try_advisory_xact_lock({WRITE_TURN_KEY})')"
        ).fetchone()[0]
        if not free:
            write_turns["waited"] += 1
            wait_ms = max(1000, int((deadline - time.monotonic()) * 1000))
            holder.execute(
                f"CALL postgres_execute('{_CATALOG_DB}', 'SET LOCAL lock_timeout = {wait_ms}; "
                f"SELECT pg_advisory_xact_lock({WRITE_TURN_KEY})')"
            )
        write_turns["taken"] += 1
        _turn.held = True
        yield
    finally:
        _turn.held = False
        _rollback(holder)  # ends the lock's transaction: the next writer's turn
        holder.close()


def _lake_on_postgres(con: duckdb.DuckDBPyConnection) -> bool:
    return con.execute(
        f"SELECT current_database() = '{LAKE}' AND (SELECT count(*) > 0 FROM duckdb_extensions() "
        "WHERE extension_name = 'postgres_scanner' AND loaded)"
    ).fetchone()[0]


def _retry_cause(error: BaseException, retry_lost_catalog: bool) -> str | None:
    """Why the transaction may run again (a key of `retries`), or None: it may not."""
    if is_conflict(error):
        return "conflict"
    if retry_lost_catalog and is_catalog_lost(error):
        return "catalog_lost"
    return None


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended the transaction already
        con.execute("ROLLBACK")


def keyed_write(con: duckdb.DuckDBPyConnection, body: Callable[[], T], retry_for_s: float = RETRY_FOR_S) -> T:
    """Run `body`, a write that keeps a key unique (replace or add rows, or read and then insert), in a retried
    `transaction` that first bumps `write_guard`: the one way every keyed write of `warehouse/` takes.

    DuckLake enforces no PRIMARY KEY, so two hosts inserting one new key would both succeed; as both also
    update the one `write_guard` row, DuckLake finds them in conflict, and the loser runs again after the
    winner's commit and sees its rows. On the file, the key itself and the guard row do the same. A write
    whose catalog connection was lost (PostgreSQL restarted) runs again too: a keyed write run twice replaces."""

    def guarded() -> T:
        if id(con) not in _guarded:  # once per transaction, however many keyed writes it holds
            con.execute("UPDATE write_guard SET version = version + 1")
            _guarded.add(id(con))
        return body()

    return transaction(con, guarded, retry_lost_catalog=True, retry_for_s=retry_for_s)


def upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    keys: Sequence[str],
    columns: Sequence[str],
    rows: list[list],
    retry_for_s: float = RETRY_FOR_S,
) -> None:
    """Replace the rows with the same key, or add them: a `keyed_write` both backends run alike."""
    if not rows:
        return
    key_index = [list(columns).index(key) for key in keys]
    where = " AND ".join(f"{key} = ?" for key in keys)

    def body() -> None:
        con.executemany(f"DELETE FROM {table} WHERE {where}", [[row[i] for i in key_index] for row in rows])
        con.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows
        )

    keyed_write(con, body, retry_for_s)


def backend_status(target: Target) -> dict:
    """Which backend the warehouse is on, where, and whether it answers (with its schema version)."""
    state: dict = {"backend": "ducklake" if isinstance(target, DuckLakeTarget) else "duckdb",
                   "location": str(target), "answers": False, "schema_version": None, "error": None}  # fmt: skip
    if isinstance(target, DuckLakeTarget):
        state["data_path"] = target.data_path
    elif not target.exists():
        state["error"] = "no warehouse file yet (the first ingest or evaluation creates it)"
        return state
    try:
        con = (
            attach_lake(target, read_only=True)
            if isinstance(target, DuckLakeTarget)
            else _open(target, True, 5.0)
        )
        try:
            state["schema_version"] = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        finally:
            con.close()
        state["answers"] = True
    except (duckdb.Error, RagrouteError) as error:
        state["error"] = str(error)
    return state
