"""`ragroute ingest` and `ragroute watch`: documents into Weaviate, once or as files change."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ragroute.cli.common import fail, progress, start_flows
from ragroute.terminal import console
from schemas.settings import get_settings

SUMMARY_KEYS = ("documents_seen", "documents_changed", "pages", "pages_ocr", "chunks_written", "chunks_deleted",
                "documents_failed", "documents_error", "quarantined", "seconds")  # fmt: skip


def ingest_command(
    path: Path = typer.Argument(..., help="Folder of documents to index."),
    collection: str | None = typer.Option(None, "--collection", help="Collection name (default: settings)."),
    full: bool = typer.Option(
        False,
        "--full",
        help="Rebuild the whole collection into a new one and switch its alias (no downtime).",
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="With --full: switch even when the folder is empty or mostly missing or documents ended in error "
        "(their indexed chunks are dropped).",
    ),
    as_json: bool = typer.Option(False, "--json", help="End with one JSON summary line."),
) -> None:
    """Index new and changed documents under PATH into Weaviate; remove chunks of deleted ones."""
    from tasks.ingestion.sources import ensure_within_source_roots
    from tasks.ingestion.unchanged import record_if_unchanged

    if force and not full:
        fail("--force applies to a rebuild: use it with --full")
    ensure_within_source_roots(path, get_settings())  # refused before a flow run starts
    result = None if full else record_if_unchanged(path, get_settings(), collection)  # no flow for no work
    if result is None:
        start_flows()
        from flows.ingest import ingest_flow

        with progress("ingest") as show:
            result = ingest_flow(str(path), collection, show, full, force)
    if full:
        _print_rebuild(result, as_json)
    else:
        _print_summary(result, as_json)


def _print_rebuild(result, as_json: bool) -> None:
    for note in (note for run in result.runs for note in run.notes):
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print(f"alias {result.alias} now reads {result.collection} (previous: {result.previous or '-'})")
    if as_json:
        typer.echo(
            json.dumps(
                {"alias": result.alias, "collection": result.collection, "previous": result.previous,
                 "chunks_written": result.chunks_written, "runs": [r.run_id for r in result.runs]}
            )
        )  # fmt: skip


def _print_summary(summary, as_json: bool) -> None:
    for note in summary.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if as_json:
        typer.echo(
            json.dumps(
                {"run_id": summary.run_id, "status": summary.status}
                | {key: getattr(summary, key) for key in SUMMARY_KEYS}
            )
        )
    else:
        console.print(
            f"{summary.status}: {summary.documents_changed} of {summary.documents_seen} documents "
            f"changed, {summary.documents_failed} failed ({summary.documents_error} left in error, retried by the "
            f"next run), {summary.chunks_written} chunks written, "
            f"{summary.chunks_deleted} deleted, {summary.quarantined} quarantined ({summary.seconds:.1f}s)"
        )


def watch_command(
    path: Path = typer.Argument(..., help="Source folder to watch."),
    collection: str | None = typer.Option(None, "--collection", help="Collection name (default: settings)."),
) -> None:
    """Emit ragroute.document.created|changed|deleted events as files under PATH change (Ctrl-C stops)."""
    from tasks.clients.deploy import prefect_api_url
    from tasks.ingestion.events import watch_and_emit

    try:
        api_url = prefect_api_url()
        watch_and_emit(
            path,
            get_settings(),
            collection,
            on_emit=lambda change: console.print(f"{change.event}: {change.path}"),
            on_ready=lambda: console.print(f"watching {path.resolve()}; events go to {api_url}"),
        )
    except KeyboardInterrupt:
        pass
