"""Which process owns a run, and closing the runs whose process died before it could record an end."""

from __future__ import annotations

import os
import socket

import duckdb

from schemas.processes import process_alive
from warehouse.db import transaction, utc_now

RUN_TABLES = ("ingest_runs", "eval_runs")


def owner() -> tuple[str, int]:
    """(host, pid) of this process, stored with every run it starts."""
    return socket.gethostname(), os.getpid()


def close_abandoned_runs(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Mark this host's 'running' runs whose process no longer exists as 'interrupted'; returns their ids.

    Runs of other hosts are left alone: only their own host can tell whether they still run. An interrupted
    evaluation can still be resumed by its run id."""
    if table not in RUN_TABLES:
        raise ValueError(f"not a run table: {table}")
    host, _ = owner()
    rows = con.execute(
        f"SELECT run_id, pid FROM {table} WHERE status = 'running' AND host = ? AND pid IS NOT NULL", [host]
    ).fetchall()
    dead = [run_id for run_id, pid in rows if not process_alive(pid)]
    if dead:
        now = utc_now()
        transaction(con, lambda: con.executemany(
            f"UPDATE {table} SET status = 'interrupted', finished_at = ? WHERE run_id = ? AND status = 'running'",
            [[now, run_id] for run_id in dead],
        ))  # fmt: skip
    return dead
