"""`ragroute eval`, `score` and `samples`: benchmarks run, predictions scored, the sample corpus written."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer
from rich import box
from rich.table import Table

from ragroute.cli.common import fail, progress, quiet, start_flows
from ragroute.terminal import console
from schemas.methods import EVAL_METHODS
from schemas.settings import get_settings


def eval_command(
    dataset: str = typer.Option(
        "",
        "--dataset",
        help="`mini`, a LongBench/∞Bench task name, or a .jsonl path; left out with --collection: the "
        "collection's question set (`ragroute questions generate`).",
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
        None, "--collection", help="For a corpus QA set or a question set: the ingested collection."
    ),
    decline_threshold: float | None = typer.Option(
        None,
        "--decline-threshold",
        help='Self-Route also routes to LC when P("unanswerable") ≥ this. Default: the paper\'s text-only rule, '
        "and a threshold is picked from this run's routing frontier.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Forecast tokens, cache hits and dollars per method; ask nothing, record no run."
    ),
    max_cost_usd: float | None = typer.Option(
        None, "--max-cost-usd", help="Refuse to start when the forecast spend is above this many dollars."
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
        max_cost_usd=max_cost_usd,
    )
    if dry_run:
        _dry_run(config, as_json)
        return
    start_flows()
    from flows.evaluate import evaluate_flow
    from tasks.clients.profile import endpoint_profile

    console.print("endpoint profile: " + "; ".join(endpoint_profile(get_settings(), model).lines()))
    from tasks.evaluation.summary import notes, oracle_lines, router_lines

    with progress("eval") as show:
        summary = evaluate_flow(config, show)
    console.print(method_table(summary.methods))
    for note in [*notes(summary), *oracle_lines(summary), *router_lines(summary)]:
        console.print(note, markup=False)
    _print_routing(summary)
    _print_kinds(summary)
    _print_judged(summary)
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
                    "kinds": summary.kinds,
                    "declines": summary.declines,
                    "judged": summary.judged,
                    "oracle": summary.oracle,
                    "routers": summary.routers,
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


def _dry_run(config, as_json: bool) -> None:
    """Print the evaluation's forecast (`tasks/evaluation/forecast.py`) instead of running it."""
    quiet()
    from tasks.evaluation.run import forecast_evaluation

    forecast = forecast_evaluation(config, get_settings())
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, title=f"forecast: {forecast.dataset} with {forecast.model}")
    for header in ("method", "k", "n", "calls", "cached", "prompt tok", "completion tok ≤", "list $ ≤", "spent $ ≤"):
        table.add_column(header, justify="left" if header == "method" else "right")
    for row in forecast.methods:
        table.add_row(row.method, str(row.k), str(row.units), str(row.calls), str(row.cached), str(row.prompt_tokens),
                      str(row.max_completion_tokens), _dollars(row.list_cost_usd), _dollars(row.spent_cost_usd))  # fmt: skip
    console.print(table)
    for row in forecast.methods:
        for note in row.notes:
            console.print(f"{row.method} k={row.k}: {note}", markup=False)
    console.print(f"spent at most {_dollars(forecast.spent_cost_usd)} (list {_dollars(forecast.list_cost_usd)}); "
                  "nothing was asked")  # fmt: skip
    if config.max_cost_usd is not None:
        from tasks.evaluation.forecast import check_budget

        check_budget(forecast, config.max_cost_usd)
        console.print(f"within --max-cost-usd ${config.max_cost_usd:.4f}")
    if as_json:
        typer.echo(json.dumps(asdict(forecast)))


def _dollars(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


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


def _print_kinds(summary) -> None:
    """Scores per kind of question (where the data set has kinds) and Self-Route's declines on them."""
    if not summary.kinds:
        return
    kinds = sorted({row["kind"] for row in summary.kinds})
    table = Table("method", "k", *kinds, box=box.SIMPLE_HEAD, show_edge=False, title="score per kind (n)")
    by_unit: dict[tuple, dict] = {}
    for row in summary.kinds:
        by_unit.setdefault((row["method"], row["k"]), {})[row["kind"]] = f"{row['score']:.2f} ({row['n']})"
    for (method, k), scores in by_unit.items():
        table.add_row(method, str(k), *(scores.get(kind, "-") for kind in kinds))
    console.print(table)
    for row in summary.declines:
        precision = "-" if row["decline_precision"] is None else f"{row['decline_precision']:.1f}%"
        recall = "-" if row["decline_recall"] is None else f"{row['decline_recall']:.1f}%"
        console.print(
            f"Self-Route at k={row['k']} declined {row['declined']} of {row['n']} questions "
            f"({row['unanswerable']} unanswerable): decline precision {precision}, recall {recall}"
        )


def _print_judged(summary) -> None:
    """A judge model's verdicts on answers without gold answers, and what judging cost."""
    for row in summary.judged:
        supported = "-" if row["supported_pct"] is None else f"{row['supported_pct']:.1f}%"
        cost = "-" if row["judge_list_cost_usd"] is None else f"${row['judge_list_cost_usd']:.4f}"
        console.print(
            f"judge {row['judge_model']}: {row['method']} k={row['k']}: {supported} of {row['judged']} answers "
            f"supported by their evidence ({row['declined']} declined, {row['failed']} failed), judging cost {cost}"
        )


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
    quiet()
    from tasks.evaluation.scoring import score_file

    try:
        result = score_file(task, file)
    except (ValueError, OSError) as error:
        fail(str(error))
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


def samples_command(out: Path = typer.Argument(..., help="Folder to write the sample documents to.")) -> None:
    """Write the bundled sample corpus (three reports and a scanned notice naming a ship of the first) to OUT."""
    from tasks.evaluation import mini

    paths = mini.write_samples(out)
    console.print(f"{len(paths)} sample documents written to {out}")
