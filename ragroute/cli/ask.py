"""`ragroute ask` and `serve`: questions over an ingested collection, on the terminal or over HTTP."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from ragroute.cli.common import fail, quiet
from schemas.settings import get_settings


def ask_command(
    question: str = typer.Argument(..., help="The question."),
    collection: str | None = typer.Option(None, "--collection", help="Collection name (default: settings)."),
    method: str = typer.Option("self_route", "--method", help="self_route, rag, lc or auto (the learned router; Self-Route where none is trained)."),
    k: int = typer.Option(5, "--k", help="Chunks to retrieve."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Answer a question over an ingested collection, with the route taken and checked citations."""
    quiet()
    from tasks.routing.ask import Asker

    result = Asker(get_settings(), collection).ask(question, method=method, k=k)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        _print_answer(result)
    if result.error:
        raise typer.Exit(code=1)


def _print_answer(result) -> None:
    """The answer, the route and its cost, the decline rule, and each citation with its evidence (or, when the
    documents do not say, the passages retrieved)."""
    out = Console()
    out.print(f"[bold]{result.answer}[/bold]" if result.answer is not None else f"[red]{result.error}")
    out.print(
        f"route: {result.route} · {result.prompt_tokens} prompt + {result.completion_tokens} completion "
        f"tokens · ${result.cost_usd or 0:.6f} · {result.latency_ms:.0f} ms"
    )
    if result.method == "auto":
        out.print(f"router: {result.router_id or 'none trained: Self-Route'}")
    if result.method in ("self_route", "auto"):
        tau = "text only" if result.decline_threshold is None else f"τ = {result.decline_threshold:g}"
        prob = "" if result.decline_prob is None else f', P("unanswerable") = {result.decline_prob:.3f}'
        out.print(f"decline rule: {tau}{prob}")
    if result.not_in_documents:
        out.print(f"[yellow]no passage answers the question; retrieved: {len(result.retrieved)}")
        for passage in result.retrieved:
            out.print(f"[{passage['number']}] {passage['source_path']} p.{passage['page']} "
                      f"(chunk {passage['chunk_id']})")  # fmt: skip
    for citation in result.citations:
        out.print(f"[{citation.number}] {citation.source_path} p.{citation.page} (chunk {citation.chunk_id})")
        for sentence in citation.evidence:
            out.print(f"    “{sentence}”")
    if result.invented_citations:
        out.print(f"[yellow]dropped invented citation(s): {result.invented_citations}")


def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8088, "--port", help="Port to listen on."),
) -> None:
    """Serve the HTTP API: POST /ask, GET /healthz, OpenAPI schema at /openapi.json."""
    import uvicorn

    from ragroute.api import LOOPBACK, create_app

    settings = get_settings()
    if host not in LOOPBACK and not settings.api_key:
        fail(
            f"refusing to bind {host} without an API key: set RAGROUTE_API_KEY (clients send it as X-API-Key)"
        )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
