"""`ragroute services up|down|status`: the local Weaviate, LLM and Prefect servers."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from ragroute.cli.common import quiet
from ragroute.terminal import console
from schemas.settings import get_settings
from tasks.clients import services

services_app = typer.Typer(
    help="Start, stop and inspect the local Weaviate, LLM and Prefect servers.", no_args_is_help=True
)


@services_app.command("up")
def services_up(
    weaviate_nodes: int | None = typer.Option(
        None,
        "--weaviate-nodes",
        min=1,
        max=9,
        help="Start a local Weaviate cluster of this many nodes (default: RAGROUTE_WEAVIATE_NODES, 1).",
    ),
) -> None:
    """Start Weaviate, the llama.cpp server and a Prefect server on loopback (each only if no external
    endpoint is set: WEAVIATE_URL, OPENAI_BASE_URL, PREFECT_API_URL); CLI flows then run on that Prefect server."""
    settings = get_settings()
    if weaviate_nodes is not None:
        settings = settings.model_copy(update={"weaviate_nodes": weaviate_nodes})
    with console.status("starting services…"):
        started = services.up(settings)
    for name, started_state in started.items():
        console.print(f"{name}: {started_state}")
    if "prefect" in started:
        console.print(f"Prefect UI: {settings.local_prefect_api_url.removesuffix('/api')}")
    if not started:
        console.print(
            "nothing to start: WEAVIATE_URL, OPENAI_BASE_URL and PREFECT_API_URL point at external services"
        )


@services_app.command("down")
def services_down() -> None:
    """Stop the services that `ragroute services up` started."""
    for name, was_running in services.down(get_settings()).items():
        console.print(f"{name}: {'stopped' if was_running else 'not running'}")


@services_app.command("status")
def services_status(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Show where Weaviate, the LLM endpoint, the Prefect server and the warehouse are, and what they serve."""
    quiet()  # loading the model file's tokenizer talks on stderr
    found = services.status(get_settings())
    if as_json:
        typer.echo(json.dumps(found))
        return
    Console().print(_status_table(found))
    llm, weaviate = found["llm"], found["weaviate"]
    if llm["profile"]:
        console.print("endpoint profile: " + "; ".join(llm["profile"]["lines"]))
    if found["ocr"]["warning"]:
        console.print(f"[yellow]warning:[/yellow] {found['ocr']['warning']}")
    if len(weaviate["nodes"]) > 1:
        nodes = Table("weaviate node", "status", "pid")
        for node in weaviate["nodes"]:
            nodes.add_row(node["name"], node["status"] or "-", str(node["pid"] or "-"))
        Console().print(nodes)


def _service_row(table: Table, name: str, endpoint: str, serves: str | None, service: dict) -> None:
    """A service's row: what it serves, or a red "unreachable"; whether ragroute runs it, and its pid."""
    table.add_row(
        name, endpoint, serves or "[red]unreachable", str(service["managed"]), str(service["pid"] or "-")
    )


def _status_table(found: dict) -> Table:
    """One row per service: where it is, what it serves (red when unreachable), whether ragroute runs it."""
    table = Table("service", "endpoint", "serves", "managed", "pid")
    weaviate, llm, prefect = found["weaviate"], found["llm"], found["prefect"]
    _service_row(table, "weaviate", weaviate["url"], weaviate["version"], weaviate)
    _service_row(table, "llm", llm["base_url"], llm["model"], llm)
    serves = f"Prefect {prefect['version']}" if prefect["version"] else None
    _service_row(table, "prefect", prefect["api_url"], serves, prefect)
    warehouse = found["warehouse"]
    table.add_row(
        f"warehouse ({warehouse['backend']})",
        warehouse["location"],
        f"schema {warehouse['schema_version']}" if warehouse["answers"] else f"[red]{warehouse['error']}",
        "-",
        "-",
    )
    ocr = found["ocr"]
    table.add_row(
        "ocr (tesseract, poppler)",
        ", ".join(path or f"[red]{name} missing" for name, path in ocr["programs"].items()),
        "ready" if not ocr["missing"] else f"[red]missing: {', '.join(ocr['missing'])}",
        "-",
        "-",
    )
    return table
