"""`ragroute sql`, `report` and `warehouse copy`: reading, reporting on and copying the warehouse."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ragroute.cli.common import fail, quiet
from ragroute.terminal import console
from schemas.settings import get_settings

warehouse_app = typer.Typer(help="Manage the warehouse.", no_args_is_help=True)


def sql_command(
    query: str = typer.Argument(..., help="SQL over the warehouse tables and views (read-only)."),
    fmt: str = typer.Option("table", "--format", help="table, csv, json or parquet."),
    out: Path | None = typer.Option(None, "--out", help="Write the result to this file."),
) -> None:
    """Query the warehouse (DuckDB) read-only; statements that would change it are refused."""
    import duckdb

    from warehouse.query import WriteRefused, export, open_read_only, run_query

    try:
        con = open_read_only(get_settings().warehouse_target)
    except FileNotFoundError as error:
        fail(str(error))
    try:
        relation = run_query(con, query)
        if relation is None:
            return
        if fmt == "table":
            text = str(relation.limit(1000)) if out is None else export(relation, "csv", out)
            if text:
                typer.echo(text)
        else:
            text = export(relation, fmt, out)
            if text is not None:
                typer.echo(text)
    except WriteRefused as error:
        fail(str(error))
    except (duckdb.Error, ValueError) as error:
        fail(f"query failed: {error}")
    finally:
        con.close()


def report_command(
    out: Path = typer.Option(Path("report.html"), "--out", help="The HTML file to write."),
    run: str | None = typer.Option(
        None, "--run", help="Evaluation run id (default: the latest completed run)."
    ),
) -> None:
    """Write a self-contained HTML dashboard (works offline) from the warehouse."""
    quiet()
    from warehouse.report import build_report

    try:
        path = build_report(get_settings().warehouse_target, out, run)
    except (FileNotFoundError, ValueError) as error:
        fail(str(error))
    console.print(f"report written to {path.resolve()}")


@warehouse_app.command("copy")
def warehouse_copy(
    to: str = typer.Option(
        ..., "--to", help="The DuckLake ATTACH string (ducklake:postgres:dbname=… host=…)."
    ),
    data_path: str | None = typer.Option(
        None, "--data-path", help="The DuckLake's shared data folder (default: RAGROUTE_WAREHOUSE_DATA_PATH)."
    ),
) -> None:
    """Copy the embedded DuckDB warehouse into an empty DuckLake; prints row counts and hash sums of both."""
    from schemas.settings import DuckLakeTarget
    from warehouse.copy import copy_warehouse

    settings = get_settings()
    data_path = data_path or settings.warehouse_data_path
    if not to.startswith("ducklake:") or not data_path:
        fail("--to takes a DuckLake ATTACH string (ducklake:…), and the data folder must be given")
    copies = copy_warehouse(settings.warehouse_path, DuckLakeTarget(to, data_path))
    table = Table("table", "rows", "hash sum", "copied rows", "copied hash sum", "equal")
    for copy in copies:
        table.add_row(copy.table, str(copy.rows), str(copy.hash_sum), str(copy.copied_rows),
                      str(copy.copied_hash_sum), "yes" if copy.equal else "[red]no")  # fmt: skip
    Console().print(table)
    console.print(
        f"copied {sum(c.rows for c in copies)} rows in {len(copies)} tables from {settings.warehouse_path}"
    )
