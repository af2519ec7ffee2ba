"""Move an embedded DuckDB warehouse into a DuckLake: every table's rows in one transaction, then the row count
and a hash sum of each table compared on both sides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from schemas.errors import RagrouteError
from schemas.settings import DuckLakeTarget
from warehouse.db import attach_lake, connect, keyed_write, session, sql_literal

# The warehouse's own bookkeeping: the destination has its own.
NOT_COPIED = {"schema_version", "view_state", "write_guard"}


class CopyRefused(RagrouteError):
    """The copy cannot start, or its result differs from the source."""


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    hash_sum: int
    copied_rows: int
    copied_hash_sum: int

    @property
    def equal(self) -> bool:
        return (self.rows, self.hash_sum) == (self.copied_rows, self.copied_hash_sum)


def copy_warehouse(source: Path, destination: DuckLakeTarget) -> list[TableCopy]:
    """Copy the file's tables into the (empty) DuckLake; raises CopyRefused unless every table is equal."""
    if not source.exists():
        raise CopyRefused(f"no warehouse at {source} to copy")
    with session(source):
        pass  # the file's schema is brought up to date first, so both sides have the same tables
    connect(destination).close()  # and the DuckLake's
    con = attach_lake(destination, read_only=False)
    try:
        con.execute(f"ATTACH '{sql_literal(str(source))}' AS source_file (READ_ONLY)")
        tables = _tables(con)
        # Checked and copied in one keyed write: of two copies at once, the second finds the first's rows.
        keyed_write(con, lambda: _copy_into_empty(con, tables))
        copies = [TableCopy(t, *_summary(con, f"source_file.main.{t}"), *_summary(con, t)) for t in tables]
    finally:
        con.close()
    if unequal := [copy.table for copy in copies if not copy.equal]:
        raise CopyRefused(f"the copy differs from the source in {', '.join(unequal)}")
    return copies


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'source_file' AND schema_name = 'main' "
        "ORDER BY table_name"
    ).fetchall()
    return [name for (name,) in rows if name not in NOT_COPIED]


def _copy_into_empty(con: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
    if nonempty := [table for table in tables if _summary(con, table)[0]]:
        raise CopyRefused(
            f"the DuckLake warehouse already holds rows ({', '.join(nonempty)}): copy into an empty one"
        )
    for table in tables:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM source_file.main.{table}")


def _summary(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int]:
    """(row count, sum of the rows' hashes): equal sums mean equal rows, in any order."""
    row = con.execute(f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM {table} t").fetchone()
    return int(row[0]), int(row[1])
