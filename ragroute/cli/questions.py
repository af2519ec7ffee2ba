"""`ragroute questions generate|export|import`: question sets generated from an ingested collection, reviewed by
a person."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from ragroute.cli.common import fail, progress, quiet, start_flows
from ragroute.terminal import console
from schemas.settings import get_settings

questions_app = typer.Typer(
    help="Generate, export and import question sets over an ingested collection.", no_args_is_help=True
)


@questions_app.command("generate")
def generate_command(
    collection: str = typer.Option(..., "--collection", help="The ingested collection."),
    per_document: int = typer.Option(
        1, "--per-document", min=1, help="Candidates of each kind per document without questions."
    ),
    model: str | None = typer.Option(None, "--model", help="Generator model (default: settings)."),
    regenerate: bool = typer.Option(
        False, "--regenerate", help="Retire every question not reviewed and generate anew (a new prompt or model)."
    ),
    as_json: bool = typer.Option(False, "--json", help="End with one JSON summary line."),
) -> None:
    """Generate and validate questions for the collection's documents that have none; retire those of changed
    or deleted documents. An unchanged collection makes no LLM call."""
    start_flows()
    from flows.questions import questions_flow

    with progress("questions") as show:
        summary = questions_flow(collection, per_document, model, show, regenerate)
    for line in summary.lines():
        console.print(line, markup=False)
    if as_json:
        typer.echo(json.dumps(asdict(summary)))


@questions_app.command("export")
def export_command(
    collection: str = typer.Option(..., "--collection", help="The ingested collection."),
    out: Path = typer.Option(..., "--out", help="The JSONL file to write."),
    include_rejected: bool = typer.Option(
        False, "--include-rejected", help="Also the rejected questions, with their rule and reason."
    ),
) -> None:
    """Write the collection's current questions as a corpus QA set (JSONL) with kind and evidence to review."""
    quiet()
    from tasks.questions.review import export_questions

    written = export_questions(get_settings(), collection, out, include_rejected)
    console.print(f"{written} question(s) written to {out}")


@questions_app.command("import")
def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A JSONL file of reviewed questions."),
    collection: str | None = typer.Option(
        None, "--collection", help="The collection of lines that name none (questions written by hand)."
    ),
) -> None:
    """Import reviewed questions: each line is marked reviewed and used; a bad line is reported and skipped."""
    quiet()
    from tasks.questions.review import import_questions

    summary = import_questions(get_settings(), file, collection)
    for number, reason in summary.bad:
        console.print(f"line {number}: {reason} (skipped)", markup=False)
    console.print(
        f"{summary.imported} question(s) imported as reviewed ({summary.new} new), {len(summary.bad)} bad "
        f"line(s) skipped, {summary.left_out} rejected line(s) left out"
    )
    if summary.imported == 0 and summary.bad:
        fail(f"no question imported from {file}")
