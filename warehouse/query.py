"""Read-only SQL over the warehouse for `ragroute sql`: only queries run; writes are refused up front."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.db import connect

READ_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA"}


class WriteRefused(Exception):
    """The SQL would change the warehouse."""


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but queries (SELECT, WITH … SELECT, EXPLAIN, SHOW/DESCRIBE, read-only PRAGMAs)."""
    for statement in con.extract_statements(sql):
        kind = statement.type.name
        if kind not in READ_STATEMENTS:
            raise WriteRefused(
                f"`ragroute sql` is read-only: {kind} statements are refused. Query the tables and views with "
                "SELECT; results can be saved with --format csv|json|parquet --out FILE."
            )


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """Run a query after the read-only check; returns the result relation (None when there is no result)."""
    check_read_only(con, sql)
    return con.sql(sql)


def open_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    return connect(path, read_only=True)


def export(relation: duckdb.DuckDBPyRelation, fmt: str, out: Path | None) -> str | None:
    """Write the result as csv/json/parquet to `out`, or return it as text for the terminal."""
    if fmt == "parquet":
        if out is None:
            raise ValueError("--format parquet needs --out FILE")
        relation.to_parquet(str(out))
        return None
    frame = relation.df()
    if fmt == "csv":
        text = frame.to_csv(index=False)
    elif fmt == "json":
        text = frame.to_json(orient="records", date_format="iso", lines=False)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    if out is not None:
        out.write_text(text)
        return None
    return text
