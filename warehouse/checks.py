"""The `service_checks` table: one row per health check of the services."""

from __future__ import annotations

import duckdb

from warehouse.db import transaction


def record_service_check(con: duckdb.DuckDBPyConnection, row: dict) -> None:
    """Append one check; `row` maps the table's column names to values."""
    sql = f"INSERT INTO service_checks ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
    transaction(con, lambda: con.execute(sql, list(row.values())))
