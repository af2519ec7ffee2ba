"""Read-only SQL over the warehouse for `ragroute sql`: only queries run; writes are refused up front."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from schemas.errors import RagrouteError
from warehouse.db import Target, connect

READ_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA"}
# PRAGMAs that only describe the database; others change settings or write (import_database, create_fts_index)
READ_PRAGMAS = {
    "collations", "database_list", "database_size", "functions", "metadata_info", "platform", "show",
    "show_tables", "show_tables_expanded", "storage_info", "table_info", "user_agent", "version",
}  # fmt: skip
PRAGMA_NAME = re.compile(r"\s*PRAGMA\s+(\w+)", re.IGNORECASE)
# EXPLAIN ANALYZE runs the statement it explains: that statement is checked too.
EXPLAIN_PREFIX = re.compile(r"\s*EXPLAIN\s+(ANALYZE\s+|\([^)]*\)\s*)?", re.IGNORECASE)


class WriteRefused(RagrouteError):
    """The SQL would change the warehouse."""


PRAGMA_ANYWHERE = re.compile(r"\bPRAGMA\s+(\w+)", re.IGNORECASE)


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but queries (SELECT, WITH … SELECT, EXPLAIN, SHOW/DESCRIBE, read-only PRAGMAs)."""
    # DuckDB expands some PRAGMAs while parsing (import_database reads files, create_fts_index installs an
    # extension): they are refused from the text, before the parser sees them.
    for name in PRAGMA_ANYWHERE.findall(sql):
        if name.lower() not in READ_PRAGMAS:
            _refuse(f"PRAGMA {name} is")
    for statement in con.extract_statements(sql):
        kind = statement.type.name
        if kind == "EXPLAIN":
            explained = EXPLAIN_PREFIX.sub("", statement.query, count=1)
            if explained == statement.query:
                _refuse("this EXPLAIN statement is")
            check_read_only(con, explained)
        elif kind == "PRAGMA":
            name = PRAGMA_NAME.match(statement.query)
            if not name or name.group(1).lower() not in READ_PRAGMAS:
                _refuse(f"PRAGMA {name.group(1)} is" if name else "this PRAGMA is")
        elif kind not in READ_STATEMENTS:
            _refuse(f"{kind} statements are")


def _refuse(what: str) -> None:
    raise WriteRefused(
        f"`ragroute sql` is read-only: {what} refused. Query the tables and views with SELECT; results can "
        "be saved with --format csv|json|parquet --out FILE."
    )


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """Run a query after the read-only check; returns the result relation (None when there is no result)."""
    check_read_only(con, sql)
    return con.sql(sql)


def open_read_only(target: Target) -> duckdb.DuckDBPyConnection:
    """A read-only connection that cannot install extensions (a query naming an https:// file would
    otherwise download one) nor change its settings afterwards."""
    con = connect(target, read_only=True)
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


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
