"""An evaluation run's summary: closing the run in the warehouse, the code version it ran, and its markdown
and per-method table (printed by the CLI, published as Prefect artifacts)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from schemas.settings import PROJECT_ROOT, Settings
from warehouse import results, routers, thresholds
from warehouse.db import session


@dataclass
class EvalSummary:
    run_id: str
    dataset: str
    model: str
    status: str
    llm_calls: int
    cached_calls: int
    errors: int
    methods: list[dict]
    skipped_records: int = 0  # malformed data set lines, quarantined
    # Self-Route's decline threshold τ for this run, and the text-only and thresholded rules side by side.
    decline_threshold: thresholds.ThresholdChoice | None = None
    routing_rules: list[dict] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # methods not run, each with why
    # Per retrieval method and k: on how many examples the top-k chunks held the whole context (RAG = LC there).
    whole_context: list[dict] = field(default_factory=list)
    # Where the data set has kinds of question: score per method, k and kind, and Self-Route's declines.
    kinds: list[dict] = field(default_factory=list)
    declines: list[dict] = field(default_factory=list)
    # Where a judge model rated answers without gold answers: per method and k, its verdicts and cost.
    judged: list[dict] = field(default_factory=list)
    # Per k where rag and lc both ran: the oracle router (each question to the arm that answered it better).
    oracle: list[dict] = field(default_factory=list)
    # Per k where rag and lc both ran: the oracle, Self-Route, the learned router and LC side by side.
    routers: list[dict] = field(default_factory=list)


def code_version() -> str:
    """The package version plus the git commit, when the code runs from a checkout."""
    release = version("ragroute")
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except OSError:
        sha = ""
    return f"{release}+{sha}" if sha else release


def close_run(
    settings: Settings,
    run_id: str,
    dataset: str,
    model: str,
    errors: int,
    llm_calls: int,
    cached_calls: int,
    decline_threshold: float | None = None,
) -> EvalSummary:
    """Close the run in the warehouse, store its decline threshold τ (given, or calibrated from the run's own
    routing frontier) and summarise it per method and per routing rule."""
    status = "completed_with_errors" if errors else "completed"
    with session(settings.warehouse_target) as con:
        results.finish_run(con, run_id, status)
        methods = results.method_summary(con, run_id)
        choice = thresholds.decide(con, run_id, decline_threshold)
        if choice is not None:
            thresholds.record(con, run_id, model, dataset, choice)
        rules = thresholds.rules(con, run_id)
        whole_context = results.rag_whole_context(con, run_id)
        kinds, declines = results.kind_summary(con, run_id), results.decline_quality(con, run_id)
        judged = results.judge_summary(con, run_id)
        oracle = results.oracle_routing(con, run_id)
        compared = routers.routing_comparison(con, run_id)
    summary = EvalSummary(run_id, dataset, model, status, llm_calls, cached_calls, errors, methods)
    summary.whole_context, summary.kinds, summary.declines = whole_context, kinds, declines
    summary.judged, summary.oracle, summary.routers = judged, oracle, compared
    summary.decline_threshold, summary.routing_rules = choice, rules
    return summary


def artifact_key(prefix: str, name: str) -> str:
    """A Prefect artifact key (lowercase letters, digits and dashes) for a data set or folder name."""
    slug = re.sub(r"[^a-z0-9]+", "-", Path(name).stem.lower()).strip("-")
    return f"{prefix}-{slug or 'unnamed'}"[:100]


def method_table(summary: EvalSummary) -> list[dict]:
    """One row per method and k: n and failed, score, tokens, list and spent dollars and token % of LC."""
    return [
        {
            "method": row["method"],
            "k": row["k"],
            "n": row["n"],
            "failed": row["failed"],
            "score": round(row["score"], 2),
            "prompt_tokens": row["prompt_tokens"],
            "completion_tokens": row["completion_tokens"],
            "list_cost_usd": round(row["list_cost_usd"] or 0.0, 6),
            "spent_cost_usd": None if row["spent_cost_usd"] is None else round(row["spent_cost_usd"], 6),
            "token_pct_of_lc": None if row["token_pct_of_lc"] is None else round(row["token_pct_of_lc"], 1),
        }
        for row in summary.methods
    ]


def notes(summary: EvalSummary) -> list[str]:
    """What the method table alone would hide: methods not run (and why), and where RAG read the whole context."""
    return summary.skipped + [
        f"{row['method']} k={row['k']}: RAG = LC on {row['whole_context']} of {row['examples']} examples: "
        "k chunks hold the whole context"
        for row in summary.whole_context
    ]


def oracle_lines(summary: EvalSummary) -> list[str]:
    """Per k: the oracle router beside RAG, LC and Self-Route, and Self-Route's gap to it."""
    lines = []
    for row in summary.oracle:
        line = (f"oracle routing at k={row['k']} ({row['n']} questions): score {row['oracle_score']:.2f} at "
                f"{_pct(row['oracle_token_pct_of_lc'])} of LC's tokens, {row['oracle_rag_pct']:.0f}% left to RAG "
                f"(RAG {row['rag_score']:.2f}, LC {row['lc_score']:.2f})")  # fmt: skip
        if row["self_route_score"] is not None:
            line += (f"; Self-Route {row['self_route_score']:.2f} at {_pct(row['self_route_token_pct_of_lc'])}, "
                     f"{row['self_route_gap']:+.2f} from the oracle")  # fmt: skip
        lines.append(line)
    return lines


ROUTER_NAMES = {"oracle": "oracle", "self_route": "Self-Route", "learned_route": "learned router", "lc": "LC"}


def router_lines(summary: EvalSummary) -> list[str]:
    """Per k with Self-Route or the learned router: each router's score, token % of LC, answer steps sent to the
    model and how often it chose the oracle's arm."""
    lines = []
    for k in sorted({row["k"] for row in summary.routers}):
        rows = [row for row in summary.routers if row["k"] == k]
        if len(rows) < 3:  # the oracle and LC alone: nothing routed
            continue
        parts = []
        for row in rows:
            part = (f"{ROUTER_NAMES[row['router']]} {row['score']:.2f} at {_pct(row['token_pct_of_lc'])}, "
                    f"{row['llm_calls']} calls")  # fmt: skip
            if row["router"] in ("self_route", "learned_route"):
                part += f", {row['routed_correctly_pct']:.0f}% routed as the oracle"
            if row["router"] == "learned_route":
                part += f", {row['straight_to_lc']} straight to LC"
                if self_route := next((r for r in rows if r["router"] == "self_route"), None):
                    part += f" ({self_route['llm_calls'] - row['llm_calls']} calls fewer than Self-Route)"
            parts.append(part)
        lines.append(f"routers at k={k} ({rows[0]['n']} questions): " + "; ".join(parts))
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _kinds_markdown(summary: EvalSummary) -> list[str]:
    """Scores per kind of question and Self-Route's decline precision and recall, where the data set has kinds."""
    if not summary.kinds:
        return []
    lines = ["", "| method | k | kind | n | score |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| {r['method']} | {r['k']} | {r['kind']} | {r['n']} | {r['score']:.2f} |" for r in summary.kinds
    ]
    for row in summary.declines:
        lines.append(
            f"\nSelf-Route at k={row['k']} declined {row['declined']} of {row['n']} questions "
            f"({row['unanswerable']} unanswerable): precision {row['decline_precision']}%, recall "
            f"{row['decline_recall']}%."
        )
    return lines


def summary_markdown(summary: EvalSummary, report: Path | None = None) -> str:
    """A short markdown account of one evaluation run."""
    lines = [
        f"# {summary.dataset}: {summary.status}",
        "",
        f"Run `{summary.run_id}` with `{summary.model}`: {summary.llm_calls} LLM requests, "
        f"{summary.cached_calls} answers from the cache, {summary.errors} errors.",
        "",
        "| method | k | n | failed | score | prompt tokens | completion tokens | list $ | spent $ | token % of LC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in method_table(summary):
        pct = "-" if row["token_pct_of_lc"] is None else f"{row['token_pct_of_lc']:.1f}"
        spent = "-" if row["spent_cost_usd"] is None else f"{row['spent_cost_usd']:.4f}"
        lines.append(
            f"| {row['method']} | {row['k']} | {row['n']} | {row['failed']} | {row['score']:.2f} | "
            f"{row['prompt_tokens']} | {row['completion_tokens']} | {row['list_cost_usd']:.4f} | {spent} | {pct} |"
        )
    if found := notes(summary):
        lines += ["", *(f"- {note}" for note in found)]
    if oracle := oracle_lines(summary) + router_lines(summary):
        lines += ["", *(f"- {line}" for line in oracle)]
    lines += _kinds_markdown(summary)
    if report is not None:
        lines += ["", f"Dashboard: `{report}`"]
    return "\n".join(lines)
