"""The read-only SQL guard of `ragroute sql`, on a temporary warehouse file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from schemas.documents import QuarantineRecord
from tests.support.cli import run_cli
from warehouse import manifest
from warehouse.db import connect as warehouse_connect
from warehouse.query import WriteRefused, open_read_only, run_query


@pytest.fixture
def warehouse(tmp_path, monkeypatch) -> Path:
    """A small warehouse of its own, which `ragroute sql` in a subprocess reads too."""
    path = tmp_path / "w.duckdb"
    with warehouse_connect(path) as con:
        manifest.add_quarantine(con, "run-1", [QuarantineRecord(path="/a.txt", stage="scan", reason="kept")])
    monkeypatch.setenv("RAGROUTE_DUCKDB_PATH", str(path))
    return path


def _state(path: Path) -> list[tuple]:
    """Every table and view with its row count (the views' SQL included)."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
        views = con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY 1"
        ).fetchall()
        counts = [(t, con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for (t,) in tables]
    return counts + views


REFUSED = [
    "INSERT INTO quarantine (run_id, path, stage, reason, quarantined_at) VALUES ('x', 'x', 'x', 'x', now())",
    "CREATE TABLE notes (text VARCHAR)",
    "CREATE TEMP TABLE notes AS SELECT 1",
    "CREATE OR REPLACE VIEW method_summary AS SELECT 1",
    "ALTER TABLE quarantine ADD COLUMN x INT",
    "TRUNCATE quarantine",
    "SELECT 1; DELETE FROM quarantine",
    "SELECT count(*) FROM quarantine; DROP TABLE quarantine",
    "COPY quarantine FROM '{tmp}/rows.csv'",
    "COPY (SELECT * FROM quarantine) TO '{tmp}/leak.csv'",
    "EXPORT DATABASE '{tmp}/dump'",
    "ATTACH '{tmp}/other.duckdb' AS other",
    "DETACH w",
    "USE memory",
    "INSTALL httpfs",
    "FORCE INSTALL httpfs",
    "LOAD httpfs",
    "SET memory_limit = '1GB'",
    "PRAGMA profiling_output = '{tmp}/profile.json'",
    "PRAGMA enable_profiling",
    "PRAGMA import_database('{tmp}')",
    "PRAGMA create_fts_index('quarantine', 'path', 'reason')",
    "PRAGMA force_checkpoint",
    "CHECKPOINT",
    "VACUUM",
    "CALL dbgen(sf = 0.01)",
    "EXPLAIN ANALYZE COPY (SELECT 42) TO '{tmp}/leak.csv'",
    "EXPLAIN ANALYZE DELETE FROM quarantine",
    "EXPLAIN ANALYZE INSTALL httpfs",
]

ALLOWED = [
    "SELECT count(*) FROM quarantine",
    "WITH q AS (SELECT * FROM quarantine) SELECT reason FROM q",
    "FROM quarantine",
    "SHOW TABLES",
    "DESCRIBE quarantine",
    "SUMMARIZE quarantine",
    "PRAGMA table_info('quarantine')",
    "PRAGMA show_tables",
    "EXPLAIN SELECT * FROM quarantine",
    "EXPLAIN ANALYZE SELECT count(*) FROM quarantine",
    "SELECT 1; SELECT 2",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_sql_refuses_anything_that_writes(warehouse, tmp_path, sql):
    before = _state(warehouse)
    con = open_read_only(warehouse)
    try:
        with pytest.raises(WriteRefused, match="`ragroute sql` is read-only"):
            run_query(con, sql.format(tmp=tmp_path))
    finally:
        con.close()
    assert _state(warehouse) == before
    assert {p.name for p in tmp_path.iterdir()} <= {"w.duckdb", "w.duckdb.wal"}  # no file written


@pytest.mark.parametrize("sql", ALLOWED)
def test_sql_runs_queries(warehouse, sql):
    con = open_read_only(warehouse)
    try:
        assert run_query(con, sql).fetchall()
    finally:
        con.close()


def test_sql_never_downloads_an_extension(warehouse):
    """A query naming an https:// file would install httpfs on the fly; the read-only connection may not."""
    con = open_read_only(warehouse)
    try:
        with pytest.raises(duckdb.Error) as error:
            run_query(con, "SELECT * FROM 'https://example.com/data.parquet'").fetchall()
        with pytest.raises(duckdb.Error, match="the configuration has been locked"):
            con.execute("SET autoinstall_known_extensions = true")
    finally:
        con.close()
    assert "download" not in str(error.value).lower()


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("SELECT 1; DELETE FROM quarantine", "DELETE statements are refused"),
        ("INSTALL httpfs", "LOAD statements are refused"),
        ("PRAGMA import_database('/tmp')", "PRAGMA import_database is refused"),
        ("EXPLAIN ANALYZE COPY (SELECT 1) TO '/tmp/ragroute-leak.csv'", "COPY statements are refused"),
    ],
)
def test_sql_cli_refuses_with_a_clear_error(warehouse, sql, refused):
    before = _state(warehouse)
    result = run_cli("sql", sql)
    assert result.returncode == 1
    assert f"`ragroute sql` is read-only: {refused}" in " ".join(result.stderr.split())
    assert _state(warehouse) == before
    assert not Path("/tmp/ragroute-leak.csv").exists()
