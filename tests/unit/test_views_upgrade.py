"""An old warehouse file gets the current views in place."""

from __future__ import annotations

import duckdb

from warehouse.db import connect, migrations, schema_version


def test_an_old_warehouse_upgrades_in_place(tmp_path):
    path = tmp_path / "old.duckdb"
    first_version, first_file = migrations()[0]
    with duckdb.connect(str(path)) as con:  # a file written by the first release
        con.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "applied_at TIMESTAMP NOT NULL)"
        )
        con.execute(first_file.read_text())
        con.execute("INSERT INTO schema_version VALUES (?, ?, now())", [first_version, first_file.name])
        con.execute(
            "INSERT INTO service_checks (checked_at, weaviate_url, llm_base_url, ok) "
            "VALUES (now(), 'http://w', 'http://l', true)"
        )
    with connect(path) as con:
        assert schema_version(con) == migrations()[-1][0]
        assert con.execute("SELECT weaviate_url FROM service_checks").fetchall() == [("http://w",)]
        assert con.execute("SELECT count(*) FROM method_summary").fetchone() == (0,)
