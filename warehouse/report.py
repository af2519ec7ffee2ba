"""The HTML dashboard: one self-contained file (plotly's JavaScript inlined, no CDN) with the paper's views.

Charts: score vs cost per method and model (the paper's Figure 1), the S_RAG − S_LC histogram (Figure 2),
the k sweep, the routing frontier, the nightly trend, and ingest health; plus the Self-Route summary table.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import plotly.express as px
import plotly.io as pio
from plotly.graph_objects import Figure

from warehouse.db import Target, connect


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pd.DataFrame:
    return con.execute(sql, params or []).df()


def latest_run(con: duckdb.DuckDBPyConnection) -> str | None:
    row = con.execute(
        "SELECT run_id FROM eval_runs WHERE status IN ('completed', 'completed_with_errors') "
        "ORDER BY started_at DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def _chart(figure, first: bool) -> str:
    figure.update_layout(template="plotly_white", height=380, margin={"l": 50, "r": 20, "t": 50, "b": 45})
    return pio.to_html(
        figure, include_plotlyjs="inline" if first else False, full_html=False, config={"displaylogo": False}
    )


def _section(title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return f'<section class="card"><h2>{html.escape(title)}</h2>{note_html}{body}</section>'


def _empty(what: str) -> str:
    return f'<p class="empty">No {html.escape(what)} yet.</p>'


@dataclass(frozen=True)
class Chart:
    """One dashboard chart: the rows it draws (SQL over the views; `{where_run}` narrows to the report's run),
    the plotly express function and its arguments, and what to say when there is nothing to draw."""

    title: str
    sql: str
    plot: Callable[..., Figure]
    args: dict
    missing: str
    note: str = ""
    drawable: Callable[[pd.DataFrame], bool] = lambda frame: not frame.empty
    heading: Callable[[pd.DataFrame], str] | None = None  # a title computed from the rows
    filters: str = ""  # conditions `{where_run}` always carries, ANDed with the run's


CHARTS = (
    Chart(
        "Score vs cost per method and model",
        "SELECT *, method || ' k=' || k AS label FROM method_summary {where_run}",
        px.scatter,
        {"x": "token_pct_of_lc", "y": "score", "color": "method", "symbol": "model", "text": "label",
         "hover_data": ["label", "list_cost_usd", "spent_cost_usd", "n", "failed", "dataset"],
         "title": "Score vs cost (token % of LC; list and spent $ on hover)"},
        "evaluation runs",
        "The paper's Figure 1.",
    ),
    Chart(
        "RAG vs LC agreement",
        "SELECT score_diff, identical FROM rag_lc_agreement {where_run}",
        px.histogram,
        {"x": "score_diff", "nbins": 21, "range_x": [-100, 100]},
        "runs with both rag and lc",
        "The paper's Figure 2.",
        heading=lambda frame: f"S_RAG − S_LC per example ({100 * frame['identical'].mean():.0f}% identical predictions)",
    ),
    Chart(
        "k sweep",
        "SELECT * FROM k_sweep {where_run} ORDER BY k",
        px.line,
        {"x": "k", "y": "score", "color": "method", "markers": True, "hover_data": ["token_pct_of_lc"],
         "title": "Score as k grows"},
        "k sweeps (run `ragroute eval --k 1,3,5,10`)",
        drawable=lambda frame: frame["k"].nunique() > 1,
    ),
    Chart(
        "Routing frontier",
        "SELECT * FROM routing_frontier {where_run} ORDER BY threshold",
        px.line,
        {"x": "token_pct_of_lc", "y": "score", "color": "k", "markers": True,
         "hover_data": ["threshold", "answerable_pct"],
         "title": "Routing on P(unanswerable) ≥ threshold: score vs token % of LC"},
        "self_route runs with logprobs alongside rag and lc",
        "From the stored logprobs of Self-Route's first step.",
    ),
    Chart(
        "LongBench v2 accuracy by difficulty and length",
        """SELECT p.method || ' k=' || p.k AS method, e.difficulty, e.length_class,
                  round(100 * avg(s.score), 1) AS accuracy, count(*) AS n
           FROM predictions p JOIN scores s USING (run_id, example_id, method, k)
           JOIN examples e ON e.dataset = p.dataset AND e.example_id = p.example_id
           {where_run} GROUP BY ALL ORDER BY e.difficulty, e.length_class""",
        px.density_heatmap,
        {"x": "length_class", "y": "difficulty", "z": "accuracy", "histfunc": "avg", "facet_col": "method",
         "text_auto": True, "category_orders": {"length_class": ["short", "medium", "long"]},
         "title": "LongBench v2: accuracy (%) by difficulty × length"},
        "LongBench v2 runs",
        "As LongBench v2's result.py counts it: no readable answer (or a failed one) is wrong.",
        filters="p.dataset = 'longbench_v2'",
    ),
    Chart(
        "LongBench-E score by context length",
        "SELECT *, method || ' k=' || k AS series FROM length_buckets {where_run} ORDER BY bucket",
        px.bar,
        {"x": "bucket", "y": "score", "color": "series", "barmode": "group", "facet_col": "dataset",
         "hover_data": ["n"], "title": "Score per length bucket (words)"},
        "runs on data with context lengths",
    ),
    Chart(
        "Nightly trend",
        "SELECT *, dataset || ' · ' || method || ' k=' || k AS series FROM nightly_trend ORDER BY started_at",
        px.line,
        {"x": "started_at", "y": "score", "color": "series", "markers": True, "hover_data": ["run_id", "list_cost_usd", "spent_cost_usd"],
         "title": "Score per run over time"},
        "completed runs",
        "All completed runs.",
    ),
    Chart(
        "Ingest health",
        # One bar group per run (the latest 20, oldest first), labelled by its start time; collection on hover.
        """WITH latest AS (
               SELECT started_at, strftime(started_at, '%m-%d %H:%M:%S') AS run, collection, documents_seen,
                      documents_changed, pages, pages_ocr, quarantined
               FROM ingest_runs WHERE status <> 'running' ORDER BY started_at DESC LIMIT 20)
           SELECT run, collection, measure, count FROM (
               UNPIVOT latest ON documents_seen, documents_changed, pages, pages_ocr, quarantined
               INTO NAME measure VALUE count)
           ORDER BY started_at""",
        px.bar,
        {"x": "run", "y": "count", "color": "measure", "barmode": "group", "hover_data": ["collection"],
         "title": "Ingest runs (latest 20): documents, pages, OCR pages, quarantined"},
        "ingest runs",
    ),
)  # fmt: skip


def _figures(con: duckdb.DuckDBPyConnection, run_id: str | None) -> list[tuple[str, Figure | None, str, str]]:
    """(title, figure or None, what is missing, note) for each chart."""
    figures = []
    for chart in CHARTS:
        by_run = run_id is not None and "{where_run}" in chart.sql
        conditions = [c for c in (chart.filters, "run_id = ?" if by_run else "") if c]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        frame = _frame(con, chart.sql.format(where_run=where), [run_id] if by_run else [])
        if frame.empty or not chart.drawable(frame):
            figures.append((chart.title, None, chart.missing, ""))
            continue
        args = chart.args | ({"title": chart.heading(frame)} if chart.heading else {})
        figure = chart.plot(frame, **args)
        if chart.plot is px.scatter:
            figure.update_traces(textposition="top center", marker={"size": 12})
        figures.append((chart.title, figure, "", chart.note))
    return figures


def _dollars(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.6f}"


def _table(frame: pd.DataFrame, what: str = "Self-Route results") -> str:
    if frame.empty:
        return _empty(what)
    dollars = {column: _dollars for column in frame.columns if column.endswith("_usd")}
    table = frame.to_html(
        index=False, classes="summary", border=0, float_format=lambda v: f"{v:,.2f}", formatters=dollars
    )
    return f'<div class="scroll">{table}</div>'


# Every method on the same examples: a failed prediction scores as an empty answer and is counted in `failed`.
METHODS_SQL = (
    "SELECT dataset, model, method, k, n, failed, score, token_pct_of_lc, list_cost_usd, spent_cost_usd "
    "FROM method_summary "
)
METHODS_NOTE = (
    "Every method on the same examples (a failed prediction scores as an empty answer). List $: the answers at "
    "the price table; spent $: what the calls were billed (cache hits 0, paid failed attempts, cached input)."
)


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px} header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c5cad6;font-size:13px}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px;padding:16px}
.card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card h2{font-size:16px;margin:4px 0 8px} .note{color:#667;font-size:12px;margin:0 0 6px}
.empty{color:#889;font-style:italic} table.summary{border-collapse:collapse;font-size:12px;width:100%}
.scroll{overflow-x:auto}
table.summary th,table.summary td{padding:4px 8px;border-bottom:1px solid #e4e6eb;text-align:right}
table.summary th:first-child,table.summary td:first-child{text-align:left}
"""


def build_report(warehouse: Target, out: Path, run_id: str | None = None) -> Path:
    """Write the dashboard for one run (default: the latest completed run) to `out`."""
    con = connect(warehouse, read_only=True)
    try:
        run_id = run_id or latest_run(con)
        if run_id and not con.execute("SELECT 1 FROM eval_runs WHERE run_id = ?", [run_id]).fetchone():
            raise ValueError(f"no evaluation run {run_id!r} in {warehouse}")
        sections, first = [], True
        for title, figure, missing, note in _figures(con, run_id):
            if figure is None:
                sections.append(_section(title, _empty(missing)))
            else:
                sections.append(_section(title, _chart(figure, first), note))
                first = False
        table = _frame(
            con,
            "SELECT dataset, model, k, n, answerable_pct, token_pct_of_lc, self_route_score, "
            "lc_score, rag_score, delta_vs_lc, delta_vs_rag FROM self_route_summary "
            + ("WHERE run_id = ?" if run_id else ""),
            [run_id] if run_id else [],
        )
        sections.insert(0, _section("Self-Route summary (the paper's Table 1 columns)", _table(table)))
        methods = _frame(con, METHODS_SQL + ("WHERE run_id = ? " if run_id else "") + "ORDER BY method, k",
                         [run_id] if run_id else [])  # fmt: skip
        sections.insert(0, _section("Methods", _table(methods, "evaluation runs"), METHODS_NOTE))
        run_line = f"run {html.escape(run_id)}" if run_id else "no evaluation run yet"
    finally:
        con.close()
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>ragroute report</title>"
        f"<style>{STYLE}</style></head><body><header><h1>ragroute — RAG vs long context vs Self-Route</h1>"
        f"<p>{run_line} · {html.escape(str(warehouse))} · generated {generated}</p></header>"
        f"<main>{''.join(sections)}</main></body></html>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
