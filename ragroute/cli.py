"""The `ragroute` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ragroute.terminal import console, send_noise_to_log, state
from schemas.errors import RagrouteError
from schemas.evaluation import EVAL_METHODS
from schemas.settings import apply_library_environment, get_settings
from tasks.clients import services


class _App(typer.Typer):
    """Every user-facing error (a `RagrouteError`) ends the command with its message and exit code 1; an
    unexpected one is named on the terminal, with its traceback in the log file (unless `--verbose`)."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except RagrouteError as error:
            console.print(f"[red]error:[/red] {error}", soft_wrap=True)  # one line, whatever the width
            sys.exit(1)
        except Exception as error:
            if state.log_file is not None:
                console.print(
                    f"[red]error:[/red] {type(error).__name__}: {error} (traceback in {state.log_file})"
                )
            raise


app = _App(
    help="ragroute: RAG vs long-context vs Self-Route, measured on your documents.", no_args_is_help=True
)
services_app = typer.Typer(
    help="Start, stop and inspect the local Weaviate, LLM and Prefect servers.", no_args_is_help=True
)
app.add_typer(services_app, name="services")
warehouse_app = typer.Typer(help="Manage the warehouse.", no_args_is_help=True)
app.add_typer(warehouse_app, name="warehouse")


@app.callback()
def main(
    verbose: bool = typer.Option(
        False,
        "-v",
        "--verbose",
        help="Show other libraries' warnings, logs and progress bars here instead of in "
        "<data dir>/logs/ragroute.log.",
    ),
) -> None:
    """ragroute: RAG vs long-context vs Self-Route, measured on your documents."""
    state.verbose = verbose
    apply_library_environment()


def _quiet() -> None:
    """Send other libraries' output to the log file from here on (a command calls it once its arguments
    parsed, so usage errors still reach the terminal)."""
    send_noise_to_log(get_settings().cli_log_file)


def _start_flows() -> None:
    """Quiet the terminal; say once when flows will start a temporary Prefect server, and how to avoid it."""
    _quiet()
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        console.print(
            "[dim]no Prefect server running: this command starts a temporary one (slow); "
            "`ragroute services up` keeps one running[/dim]"
        )


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code=1)


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
    found = services.status(get_settings())
    if as_json:
        typer.echo(json.dumps(found))
        return
    table = Table("service", "endpoint", "serves", "managed", "pid")
    weaviate, llm, prefect = found["weaviate"], found["llm"], found["prefect"]
    table.add_row(
        "weaviate",
        weaviate["url"],
        weaviate["version"] or "[red]unreachable",
        str(weaviate["managed"]),
        str(weaviate["pid"] or "-"),
    )
    table.add_row(
        "llm",
        llm["base_url"],
        llm["model"] or "[red]unreachable",
        str(llm["managed"]),
        str(llm["pid"] or "-"),
    )
    table.add_row(
        "prefect",
        prefect["api_url"],
        f"Prefect {prefect['version']}" if prefect["version"] else "[red]unreachable",
        str(prefect["managed"]),
        str(prefect["pid"] or "-"),
    )
    warehouse = found["warehouse"]
    table.add_row(
        f"warehouse ({warehouse['backend']})",
        warehouse["location"],
        f"schema {warehouse['schema_version']}" if warehouse["answers"] else f"[red]{warehouse['error']}",
        "-",
        "-",
    )
    Console().print(table)
    if llm["profile"]:
        console.print("endpoint profile: " + "; ".join(llm["profile"]["lines"]))
    if len(weaviate["nodes"]) > 1:
        nodes = Table("weaviate node", "status", "pid")
        for node in weaviate["nodes"]:
            nodes.add_row(node["name"], node["status"] or "-", str(node["pid"] or "-"))
        Console().print(nodes)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar; yields the (message, done, total) callback the tasks report through."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))  # fmt: skip
    # Quiet, other output goes to the log file: the bar must not pull it back onto the terminal.
    redirect = state.log_file is None
    with Progress(*columns, console=console, redirect_stdout=redirect, redirect_stderr=redirect) as bar:
        task_id = bar.add_task("starting", total=None)
        yield lambda message, done, total: bar.update(
            task_id, description=message, completed=done, total=total
        )


@app.command("ingest")
def ingest_command(
    path: Path = typer.Argument(..., help="Folder of documents to index."),
    collection: str | None = typer.Option(None, "--collection", help="Collection name (default: settings)."),
    full: bool = typer.Option(
        False,
        "--full",
        help="Rebuild the whole collection into a new one and switch its alias (no downtime).",
    ),
    as_json: bool = typer.Option(False, "--json", help="End with one JSON summary line."),
) -> None:
    """Index new and changed documents under PATH into Weaviate; remove chunks of deleted ones."""
    from tasks.ingestion.sources import ensure_within_source_roots
    from tasks.ingestion.unchanged import record_if_unchanged

    ensure_within_source_roots(path, get_settings())  # refused before a flow run starts
    result = None if full else record_if_unchanged(path, get_settings(), collection)  # no flow for no work
    if result is None:
        _start_flows()
        from flows.ingest import ingest_flow

        with _progress("ingest") as show:
            result = ingest_flow(str(path), collection, show, full)
    if full:
        console.print(
            f"alias {result.alias} now reads {result.collection} (previous: {result.previous or '-'})"
        )
        if as_json:
            typer.echo(
                json.dumps(
                    {"alias": result.alias, "collection": result.collection, "previous": result.previous,
                     "chunks_written": result.chunks_written, "runs": [r.run_id for r in result.runs]}
                )
            )  # fmt: skip
        return
    summary = result
    for note in summary.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if as_json:
        keys = (
            "documents_seen",
            "documents_changed",
            "pages",
            "pages_ocr",
            "chunks_written",
            "chunks_deleted",
            "documents_failed",
            "quarantined",
            "seconds",
        )
        typer.echo(
            json.dumps(
                {"run_id": summary.run_id, "status": summary.status}
                | {key: getattr(summary, key) for key in keys}
            )
        )
    else:
        console.print(
            f"{summary.status}: {summary.documents_changed} of {summary.documents_seen} documents "
            f"changed, {summary.documents_failed} failed, {summary.chunks_written} chunks written, "
            f"{summary.chunks_deleted} deleted, {summary.quarantined} quarantined ({summary.seconds:.1f}s)"
        )


@app.command("eval")
def eval_command(
    dataset: str = typer.Option(
        ..., "--dataset", help="`mini`, a LongBench/∞Bench task name, or a .jsonl path."
    ),
    methods: str = typer.Option(
        "lc,rag,self_route",
        "--methods",
        help=f"Comma list of {', '.join(EVAL_METHODS)} (rag_reorder runs at k ≥ 3, rag_docorder at k ≥ 2: "
        "below, they are rag).",
    ),
    k: str | None = typer.Option(
        None, "--k", help="Top-k chunks (default 5); a comma list (1,3,5,10) runs a k sweep."
    ),
    retriever: str | None = typer.Option(None, "--retriever", help="dense, bm25 or hybrid (default hybrid)."),
    model: str | None = typer.Option(
        None, "--model", help="Model name sent to the endpoint (default: settings)."
    ),
    run_id: str | None = typer.Option(None, "--run-id", help="Resume this run: answer only what is missing."),
    limit: int | None = typer.Option(None, "--limit", help="Only the first N examples."),
    collection: str | None = typer.Option(
        None, "--collection", help="For a corpus QA set: the ingested collection."
    ),
    decline_threshold: float | None = typer.Option(
        None,
        "--decline-threshold",
        help='Self-Route also routes to LC when P("unanswerable") ≥ this. Default: the paper\'s text-only rule, '
        "and a threshold is picked from this run's routing frontier.",
    ),
    as_json: bool = typer.Option(False, "--json", help="End with one JSON summary line."),
) -> None:
    """Compare RAG, long context and Self-Route on a data set; results go to DuckDB."""
    from schemas.evaluation import EvalConfig

    config = EvalConfig.checked(
        dataset=dataset,
        methods=[m.strip() for m in methods.split(",") if m.strip()],
        k=[v.strip() for v in k.split(",")] if k else None,
        retriever=retriever,
        model=model,
        run_id=run_id,
        limit=limit,
        collection=collection,
        decline_threshold=decline_threshold,
    )
    _start_flows()
    from flows.evaluate import evaluate_flow
    from tasks.clients.profile import endpoint_profile

    console.print("endpoint profile: " + "; ".join(endpoint_profile(get_settings(), model).lines()))
    from tasks.evaluation.summary import notes

    with _progress("eval") as show:
        summary = evaluate_flow(config, show)
    console.print(method_table(summary.methods))
    for note in notes(summary):
        console.print(note, markup=False)
    _print_routing(summary)
    console.print(
        f"run {summary.run_id}: {summary.status}, {summary.llm_calls} LLM calls, "
        f"{summary.cached_calls} cached, {summary.errors} errors"
    )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "run_id": summary.run_id,
                    "status": summary.status,
                    "llm_calls": summary.llm_calls,
                    "cached_calls": summary.cached_calls,
                    "errors": summary.errors,
                    "methods": summary.methods,
                    "decline_threshold": asdict(choice) if (choice := summary.decline_threshold) else None,
                    "routing_rules": summary.routing_rules,
                    "skipped": summary.skipped,
                    "whole_context": summary.whole_context,
                }
            )
        )


def method_table(rows: list[dict]) -> Table:
    """The per-method summary of an evaluation; method names and header words are never cut (headers wrap). It
    fits 80 columns: completion tokens are left to `--json`, the markdown summary and the views."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True)
    table.add_column("method", no_wrap=True, min_width=max((len(row["method"]) for row in rows), default=6))
    headers = ("k", "n", "failed", "score", "prompt\ntok", "list\n$", "spent\n$", "tok %\nof LC",
               "answerable\n%")  # fmt: skip
    for header in headers:
        table.add_column(header, justify="right", min_width=max(len(word) for word in header.split()))
    for row in rows:
        table.add_row(
            row["method"],
            str(row["k"]),
            str(row["n"]),
            str(row["failed"]),
            f"{row['score']:.2f}",
            str(row["prompt_tokens"]),
            f"{row['list_cost_usd'] or 0:.4f}",
            "-" if row["spent_cost_usd"] is None else f"{row['spent_cost_usd']:.4f}",
            "-" if row["token_pct_of_lc"] is None else f"{row['token_pct_of_lc']:.1f}",
            "-" if row["answerable_pct"] is None else f"{row['answerable_pct']:.1f}",
        )
    return table


def _print_routing(summary) -> None:
    """Self-Route's decline threshold τ for the run, and the paper's rule next to the thresholded one."""
    choice = summary.decline_threshold
    if choice is not None:
        tau = "none" if choice.threshold is None else f"{choice.threshold:g}"
        console.print(f"decline threshold τ: {tau} ({choice.source}: {choice.note})")
    if not summary.routing_rules:
        return
    table = Table("k", "rule", "τ", "n", "routed to LC", "score", "tok % of LC", "LC score")
    for row in summary.routing_rules:
        table.add_row(
            str(row["k"]),
            "text only (paper)" if row["rule"] == "text" else "text or P ≥ τ",
            "-" if row["threshold"] is None else f"{row['threshold']:g}",
            str(row["n"]),
            str(row["routed_to_lc"]),
            f"{row['score']:.2f}",
            "-" if row["token_pct_of_lc"] is None else f"{row['token_pct_of_lc']:.1f}",
            f"{row['lc_score']:.2f}",
        )
    console.print(table)


@app.command("score")
def score_command(
    file: Path = typer.Argument(..., help="JSONL with `pred`, `answers` (and `all_classes`/`options`)."),
    task: str = typer.Option(
        ...,
        "--task",
        help="A LongBench v1 English task (or its _e variant), longbench_v2, infbench_en_qa or infbench_en_mc.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Score predictions made elsewhere, exactly as the official benchmark code does."""
    _quiet()
    from tasks.evaluation.scoring import score_file

    try:
        result = score_file(task, file)
    except (ValueError, OSError) as error:
        _fail(str(error))
    if as_json:
        typer.echo(json.dumps(result))
    else:
        console.print(f"{result['task']}: {result['score']:.2f} over {result['n']} records")
        for name, values in (
            ("length buckets", result.get("length_buckets")),
            ("breakdown", result.get("breakdown")),
        ):
            if values:
                shown = ", ".join(f"{key} {'-' if value is None else value}" for key, value in values.items())
                console.print(f"  {name}: {shown}")


@app.command("samples")
def samples_command(out: Path = typer.Argument(..., help="Folder to write the sample documents to.")) -> None:
    """Write the bundled sample corpus (the mini benchmark's reports, one of them scanned) to OUT."""
    from tasks.evaluation import mini

    paths = mini.write_documents(mini.generate(), out)
    console.print(f"{len(paths)} sample documents written to {out}")


@app.command("sql")
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
        _fail(str(error))
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
        _fail(str(error))
    except (duckdb.Error, ValueError) as error:
        _fail(f"query failed: {error}")
    finally:
        con.close()


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
        _fail("--to takes a DuckLake ATTACH string (ducklake:…), and the data folder must be given")
    copies = copy_warehouse(settings.warehouse_path, DuckLakeTarget(to, data_path))
    table = Table("table", "rows", "hash sum", "copied rows", "copied hash sum", "equal")
    for copy in copies:
        table.add_row(copy.table, str(copy.rows), str(copy.hash_sum), str(copy.copied_rows),
                      str(copy.copied_hash_sum), "yes" if copy.equal else "[red]no")  # fmt: skip
    Console().print(table)
    console.print(
        f"copied {sum(c.rows for c in copies)} rows in {len(copies)} tables from {settings.warehouse_path}"
    )


@app.command("report")
def report_command(
    out: Path = typer.Option(Path("report.html"), "--out", help="The HTML file to write."),
    run: str | None = typer.Option(
        None, "--run", help="Evaluation run id (default: the latest completed run)."
    ),
) -> None:
    """Write a self-contained HTML dashboard (works offline) from the warehouse."""
    _quiet()
    from warehouse.report import build_report

    try:
        path = build_report(get_settings().warehouse_target, out, run)
    except (FileNotFoundError, ValueError) as error:
        _fail(str(error))
    console.print(f"report written to {path.resolve()}")


@app.command("ask")
def ask_command(
    question: str = typer.Argument(..., help="The question."),
    collection: str | None = typer.Option(None, "--collection", help="Collection name (default: settings)."),
    method: str = typer.Option("self_route", "--method", help="self_route, rag or lc."),
    k: int = typer.Option(5, "--k", help="Chunks to retrieve."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Answer a question over an ingested collection, with the route taken and checked citations."""
    _quiet()
    from tasks.routing.ask import Asker

    result = Asker(get_settings(), collection).ask(question, method=method, k=k)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        out = Console()
        out.print(f"[bold]{result.answer}[/bold]" if result.answer is not None else f"[red]{result.error}")
        out.print(
            f"route: {result.route} · {result.prompt_tokens} prompt + {result.completion_tokens} completion "
            f"tokens · ${result.cost_usd or 0:.6f} · {result.latency_ms:.0f} ms"
        )
        if result.method == "self_route":
            tau = "text only" if result.decline_threshold is None else f"τ = {result.decline_threshold:g}"
            prob = "" if result.decline_prob is None else f', P("unanswerable") = {result.decline_prob:.3f}'
            out.print(f"decline rule: {tau}{prob}")
        if result.answer_from_evidence:
            out.print("[yellow]the model gave no answer in words: its evidence sentence is shown")
        for citation in result.citations:
            out.print(
                f"[{citation.number}] {citation.source_path} p.{citation.page} (chunk {citation.chunk_id})"
            )
            for sentence in citation.evidence:
                out.print(f"    “{sentence}”")
        if result.invented_citations:
            out.print(f"[yellow]dropped invented citation(s): {result.invented_citations}")
    if result.error:
        raise typer.Exit(code=1)


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8088, "--port", help="Port to listen on."),
) -> None:
    """Serve the HTTP API: POST /ask, GET /healthz, OpenAPI schema at /openapi.json."""
    import uvicorn

    from ragroute.api import LOOPBACK, create_app

    settings = get_settings()
    if host not in LOOPBACK and not settings.api_key:
        _fail(
            f"refusing to bind {host} without an API key: set RAGROUTE_API_KEY (clients send it as X-API-Key)"
        )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@app.command("nightly")
def nightly_command(
    plan: Path | None = typer.Option(None, "--plan", help="The plan file (default: RAGROUTE_PLAN_PATH)."),
) -> None:
    """Run the nightly job here and now: ingest the plan's sources, evaluate, report, check regressions."""
    _start_flows()
    from flows.nightly import nightly_flow
    from tasks.evaluation.regression import RegressionDetected

    try:
        result = nightly_flow(str(plan) if plan else None)
    except RegressionDetected as error:
        _fail(f"regression detected:\n{error}")
    for run in result["runs"]:
        console.print(f"{run['dataset']}: {run['status']} (run {run['run_id']})")


@app.command("deploy")
def deploy_command() -> None:
    """Create the `cpu` and `gpu` process work pools if missing and apply prefect.yaml (needs PREFECT_API_URL)."""
    from tasks.clients.deploy import apply_deployments, ensure_work_pools

    for pool, pool_state in ensure_work_pools().items():
        console.print(f"work pool {pool}: {pool_state}")
    output = apply_deployments()
    console.print(output.strip()[-2000:])


@app.command("worker")
def worker_command(
    pool: str = typer.Option("cpu", "--pool", help="Work pool to serve: cpu or gpu."),
    limit: int | None = typer.Option(None, "--limit", help="Most flow runs at once."),
) -> None:
    """Run a Prefect process worker for POOL from the project root (the gpu one beside the model server)."""
    from tasks.clients.deploy import run_worker

    raise typer.Exit(code=run_worker(pool, limit))


@app.command("watch")
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


@app.command("check")
def check() -> None:
    """Run the `health` flow: Weaviate version, one LLM completion, a row in DuckDB."""
    _start_flows()
    from flows.health import health

    result = health()
    if not result.ok:
        _fail("health check failed")


if __name__ == "__main__":
    app()
