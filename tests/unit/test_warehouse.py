"""The warehouse, on both backends: round trip and idempotent migrations."""

from datetime import datetime

import duckdb
import pytest

from warehouse.db import connect, migrate, migrations, schema_version


def test_round_trip(warehouse_target):
    path = warehouse_target
    with connect(path) as con:
        con.execute(
            "INSERT INTO service_checks (checked_at, weaviate_url, llm_base_url, ok) VALUES (?, ?, ?, ?)",
            [datetime(2026, 1, 2, 3, 4, 5), "http://w", "http://l/v1", True],
        )
    with connect(path, read_only=True) as con:
        assert con.execute("SELECT weaviate_url, ok FROM service_checks").fetchall() == [("http://w", True)]


def test_migrations_apply_once(warehouse_target):
    path = warehouse_target
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


def test_manifest_migration_keeps_rows_and_keys_them_per_collection(tmp_path):
    path = tmp_path / "v5.duckdb"
    with duckdb.connect(str(path)) as con:  # a warehouse at schema version 5
        con.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "applied_at TIMESTAMP NOT NULL)"
        )
        for version, migration in migrations():
            if version <= 5:
                con.execute(migration.read_text())
                con.execute("INSERT INTO schema_version VALUES (?, ?, now())", [version, migration.name])
        con.execute("INSERT INTO documents VALUES ('/a.txt', 'd1', '/', 'A', 's', 'c', 'indexed', "
                    "'txt', 1, 0, 1, 'r1', now())")  # fmt: skip
        con.execute("INSERT INTO chunks VALUES ('c1', 'd1', '/a.txt', 'A', 0, 1, 10, 'h', false, NULL)")
    with connect(path) as con:
        assert schema_version(con) == migrations()[-1][0]
        assert con.execute("SELECT path, collection, status FROM documents").fetchall() == [
            ("/a.txt", "A", "indexed")
        ]
        # The same file and chunk may now be listed once per collection.
        con.execute("INSERT INTO documents SELECT * REPLACE ('B' AS collection) FROM documents")
        con.execute("INSERT INTO chunks SELECT * REPLACE ('B' AS collection) FROM chunks")
        assert con.execute("SELECT count(*) FROM chunks").fetchone() == (2,)
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO documents SELECT * FROM documents WHERE collection = 'A'")
