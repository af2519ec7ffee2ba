"""DuckDB: round trip and idempotent migrations."""

from datetime import datetime

import duckdb

from warehouse.db import connect, migrate, migrations, schema_version


def test_round_trip(tmp_path):
    path = tmp_path / "w.duckdb"
    with connect(path) as con:
        con.execute(
            "INSERT INTO service_checks (checked_at, weaviate_url, llm_base_url, ok) VALUES (?, ?, ?, ?)",
            [datetime(2026, 1, 2, 3, 4, 5), "http://w", "http://l/v1", True],
        )
    with connect(path, read_only=True) as con:
        assert con.execute("SELECT weaviate_url, ok FROM service_checks").fetchall() == [("http://w", True)]


def test_migrations_apply_once(tmp_path):
    path = tmp_path / "w.duckdb"
    newest = migrations()[-1][0]
    with connect(path) as con:
        assert schema_version(con) == newest
        assert migrate(con) == []
        assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(migrations())


def test_an_old_file_upgrades_in_place(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as con:  # a file from before migrations were tracked
        con.execute("CREATE TABLE notes (text VARCHAR)")
        con.execute("INSERT INTO notes VALUES ('kept')")
    with connect(path) as con:
        assert con.execute("SELECT text FROM notes").fetchall() == [("kept",)]
        assert schema_version(con) == migrations()[-1][0]
