"""The HTML dashboard: one self-contained file (plotly's JavaScript inlined, no CDN) with the paper's views.

Charts: score vs cost per method and model (the paper's Figure 1), the S_RAG − S_LC histogram (Figure 2), the
score per kind of question, the k sweep, the routing frontier, LongBench v2 and LongBench-E breakdowns, the
nightly trend, and ingest health; tables: methods, the Self-Route summary, Self-Route's declines on unanswerable
questions, the run against its baseline (with the paired test's interval), and the question sets of every
collection.

Layout: each panel's title and subtitle are HTML above its chart, and each chart keeps a strip at its top for
plotly's toolbar, so the toolbar never covers a title; axes grow their margins to fit their labels; a panel
with nothing to draw says why; tables scroll inside their panel instead of widening the page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable
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


# Columns that tell results apart beyond method and k: a series name carries those that take more than one
# value in a chart's rows (a report over two data sets, results of several collections), so a chart drawn
# from a view that gains such a column needs no change.
GROUPING = ("dataset", "collection", "model")
# Axis, legend and hover names for the views' columns.
LABELS = {
    "token_pct_of_lc": "tokens (% of LC)", "score": "score", "score_diff": "S_RAG − S_LC",
    "list_cost_usd": "list $", "spent_cost_usd": "spent $", "answerable_pct": "answerable %",
    "length_class": "length", "bucket": "context length (words)", "started_at": "run started",
    "run": "ingest run (start)", "count": "count", "series": "", "measure": "", "threshold": "τ",
}  # fmt: skip
# One colour per method wherever a chart's series are the methods alone (plotly's first five colours).
METHOD_COLORS = {"lc": "#636efa", "rag": "#ef553b", "self_route": "#00cc96", "rag_reorder": "#ab63fa",
                 "rag_docorder": "#ffa15a", "oracle": "#7f7f7f"}  # fmt: skip
TOOLBAR_PX = 34  # the strip at a chart's top where plotly's toolbar sits
FACET_TITLE_PX = 22  # room for the titles of a faceted chart's columns, below that strip
FACETS_PER_ROW = 3
MODEBAR_REMOVE = ["select2d", "lasso2d", "autoScale2d", "zoomIn2d", "zoomOut2d", "toggleSpikelines",
                  "hoverClosestCartesian", "hoverCompareCartesian"]  # fmt: skip


def _series(frame: pd.DataFrame, keys: Iterable[str], skip: Iterable[str] = ()) -> pd.Series:
    """A name per row: the varying grouping columns (except `skip`), then `keys` (k as "k=3"; lc's k of 0
    is left out, LC reads the whole context)."""
    grouping = [c for c in GROUPING if c in frame and c not in skip and frame[c].nunique() > 1]

    def name(row: pd.Series) -> str:
        words = [f"k={row[c]}" if c == "k" else str(row[c]) for c in keys if c != "k" or row[c] > 0]
        return " · ".join([*(str(row[c]) for c in grouping), " ".join(words)])

    return frame.apply(name, axis=1) if not frame.empty else pd.Series(dtype=str)


@dataclass(frozen=True)
class Chart:
    """One dashboard chart: the rows it draws (SQL over the views; `{where_run}` narrows to the report's run),
    the plotly express function and its arguments (`series`/`label` name the columns built by `_series`),
    what it shows, and the sentence that says why it is empty."""

    title: str
    sql: str
    plot: Callable[..., Figure]
    args: dict
    subtitle: str
    empty: str  # begins "No … yet"
    note: str = ""
    series: tuple[str, ...] = ()  # the columns a `series` column names (plus the varying grouping columns)
    label: tuple[str, ...] = ()  # the columns a `label` column names (point labels)
    drawable: Callable[[pd.DataFrame], bool] = lambda frame: not frame.empty
    heading: Callable[[pd.DataFrame], str] | None = None  # a subtitle computed from the rows
    filters: str = ""  # conditions `{where_run}` always carries, ANDed with the run's


CHARTS = (
    Chart(
        "Score vs cost per method and model",
        # The oracle router (each question to the arm that answered it better) as one more point.
        """SELECT * FROM (
               SELECT run_id, dataset, model, method, k, n, failed, score, token_pct_of_lc, list_cost_usd,
                      spent_cost_usd FROM method_summary
               UNION ALL
               SELECT run_id, dataset, model, 'oracle', k, n, NULL, oracle_score, oracle_token_pct_of_lc, NULL, NULL
               FROM oracle_routing) {where_run}""",
        px.scatter,
        {"x": "token_pct_of_lc", "y": "score", "color": "series", "text": "label",
         "hover_data": ["list_cost_usd", "spent_cost_usd", "n", "failed"]},
        "Score against tokens as a % of LC; list and spent $ on hover; the oracle routes each question to the arm "
        "that answered it better.",
        "No evaluation runs with lc yet: tokens are counted as a % of LC's on the same examples "
        "(`ragroute eval --methods lc,rag`).",
        "The paper's Figure 1.",
        series=("method",),
        label=("method", "k"),
        drawable=lambda frame: frame["token_pct_of_lc"].notna().any(),
    ),
    Chart(
        "RAG vs LC agreement",
        "SELECT score_diff, identical FROM rag_lc_agreement {where_run}",
        px.histogram,
        {"x": "score_diff", "range_x": [-110, 110]},
        "S_RAG − S_LC per example.",
        "No runs with both rag and lc yet: this panel compares the two on the same examples "
        "(`ragroute eval --methods lc,rag`).",
        "The paper's Figure 2.",
        heading=lambda frame: f"S_RAG − S_LC per example ({100 * frame['identical'].mean():.0f}% identical "
        "predictions).",
    ),
    Chart(
        "Score per kind of question",
        "SELECT * FROM kind_summary {where_run} ORDER BY kind, method, k",
        px.bar,
        {"x": "kind", "y": "score", "color": "series", "barmode": "group", "hover_data": ["n", "failed"],
         "category_orders": {"kind": ["answerable", "multi_hop", "unanswerable"]}},
        "Score per method on each kind of question; on unanswerable ones, the share of answers that decline.",
        "No questions of known kind in this run yet: `mini` and a collection's question set "
        "(`ragroute eval --collection NAME`) say which are answerable, multi-hop or unanswerable.",
        "100 − the unanswerable score is the method's false-answer rate.",
        series=("method", "k"),
    ),
    Chart(
        "k sweep",
        "SELECT * FROM k_sweep {where_run} ORDER BY k",
        px.line,
        {"x": "k", "y": "score", "color": "series", "markers": True, "hover_data": ["token_pct_of_lc"]},
        "Score as k (retrieved chunks) grows.",
        "No k sweeps yet: this run used one k; `ragroute eval --k 1,3,5,10` draws the score as k grows.",
        series=("method",),
        drawable=lambda frame: frame["k"].nunique() > 1,
    ),
    Chart(
        "Routing frontier",
        """SELECT * FROM (
               SELECT run_id, dataset, model, k, 'τ' AS router, threshold, score, token_pct_of_lc, answerable_pct
               FROM routing_frontier
               UNION ALL
               SELECT run_id, dataset, model, k, 'oracle', NULL, oracle_score, oracle_token_pct_of_lc,
                      oracle_rag_pct
               FROM oracle_routing) {where_run} ORDER BY k, router, threshold""",
        px.line,
        {"x": "token_pct_of_lc", "y": "score", "color": "series", "markers": True,
         "hover_data": ["threshold", "answerable_pct"]},
        "Routing on P(unanswerable) ≥ τ: score against tokens as a % of LC, one point per τ; the oracle's point "
        "is the ceiling.",
        "No self_route runs with logprobs alongside rag and lc yet: the frontier replays Self-Route's "
        "P(unanswerable), which needs an endpoint that returns logprobs.",
        "From the stored logprobs of Self-Route's first step.",
        series=("router", "k"),
        drawable=lambda frame: (frame["router"] == "τ").any(),
    ),
    Chart(
        "LongBench v2 accuracy by difficulty and length",
        """SELECT p.dataset, p.model, p.method, p.k, e.difficulty, e.length_class,
                  round(100 * avg(s.score), 1) AS accuracy, count(*) AS n
           FROM predictions p JOIN scores s USING (run_id, example_id, method, k)
           JOIN examples e ON e.dataset = p.dataset AND e.example_id = p.example_id
           {where_run} GROUP BY ALL ORDER BY p.method, p.k, e.difficulty, e.length_class""",
        px.density_heatmap,
        {"x": "length_class", "y": "difficulty", "z": "accuracy", "histfunc": "avg", "facet_col": "series",
         "text_auto": True, "category_orders": {"length_class": ["short", "medium", "long"]}},
        "Accuracy (%) by difficulty × length, one grid per method.",
        "No LongBench v2 runs yet: `ragroute eval --dataset longbench_v2` fills this panel.",
        "As LongBench v2's result.py counts it: no readable answer (or a failed one) is wrong.",
        series=("method", "k"),
        filters="p.dataset = 'longbench_v2'",
    ),
    Chart(
        "LongBench-E score by context length",
        "SELECT * FROM length_buckets {where_run} ORDER BY bucket",
        px.bar,
        {"x": "bucket", "y": "score", "color": "series", "barmode": "group", "facet_col": "dataset",
         "hover_data": ["n"]},
        "Score per context-length bucket (words).",
        "No runs on data with context lengths yet: LongBench-E data sets (`<task>_e`) carry each "
        "example's length.",
        series=("method", "k"),
    ),
    Chart(
        "Nightly trend",
        "SELECT * FROM nightly_trend ORDER BY started_at",
        px.line,
        {"x": "started_at", "y": "score", "color": "series", "markers": True,
         "hover_data": ["run_id", "list_cost_usd", "spent_cost_usd"]},
        "Score per run over time.",
        "No trend yet: each completed `ragroute eval` adds a point, and two runs draw one.",
        "All completed runs.",
        series=("method", "k"),
        drawable=lambda frame: frame["run_id"].nunique() > 1,
    ),
    Chart(
        "Ingest health",
        # One bar group per run (the latest 20, oldest first), labelled by its start time; collection on hover.
        """WITH latest AS (
               SELECT started_at, strftime(started_at, '%m-%d %H:%M:%S') AS run, collection, documents_seen,
                      documents_changed, pages, pages_ocr, quarantined
               FROM ingest_runs WHERE status <> 'running' ORDER BY started_at DESC LIMIT 20)
           SELECT run, collection, replace(measure, '_', ' ') AS measure, count FROM (
               UNPIVOT latest ON documents_seen, documents_changed, pages, pages_ocr, quarantined
               INTO NAME measure VALUE count)
           ORDER BY started_at""",
        px.bar,
        {"x": "run", "y": "count", "color": "measure", "barmode": "group", "hover_data": ["collection"]},
        "Ingest runs (latest 20): documents seen and changed, pages, OCR pages, quarantined.",
        "No ingest runs yet: `ragroute ingest PATH` records one.",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Panel:
    title: str
    figure: Figure | None
    subtitle: str
    note: str
    empty: str


def _draw(chart: Chart, frame: pd.DataFrame) -> Figure:
    frame = _named(chart, frame)
    args = _arguments(chart, frame)
    figure = chart.plot(frame, **args)
    _adjust(figure, chart, frame, args)
    facet = args.get("facet_col")
    rows = math.ceil(frame[facet].nunique() / FACETS_PER_ROW) if facet else 1
    _layout(figure, rows, faceted=bool(facet))
    return figure


def _named(chart: Chart, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with the columns a chart draws from: `series`, and `label` with its `position`."""
    facet = chart.args.get("facet_col")
    if chart.series:
        frame = frame.assign(series=_series(frame, chart.series, skip=[facet] if facet else []))
    if chart.label:
        frame = frame.assign(label=_series(frame, chart.label, skip=GROUPING))
        frame = frame.assign(position=_label_positions(frame, chart.args["x"], chart.args["y"]))
    return frame


def _arguments(chart: Chart, frame: pd.DataFrame) -> dict:
    args = {"labels": LABELS, "hover_data": []} | chart.args
    args["hover_data"] = [c for c in args["hover_data"] if c in frame]
    if chart.series:  # legend and facets in key order: lc, rag k=1, rag k=3, self_route k=1…
        keys = [c for c in (*GROUPING, *chart.series) if c in frame]
        order = {"series": list(frame.sort_values(keys)["series"].unique())}
        args["category_orders"] = order | args.get("category_orders", {})
        if args.get("color") == "series" and (frame["series"] == frame.get("method")).all():
            args["color_discrete_map"] = METHOD_COLORS
        if chart.plot in (px.line, px.scatter):  # series with the same values stay visible one over another
            args["line_dash" if chart.plot is px.line else "symbol"] = "series"
    if "facet_col" in args:
        args |= {"facet_col_wrap": FACETS_PER_ROW, "facet_row_spacing": 0.12}
    if chart.label:
        args["custom_data"] = ["position"]
    return args


def _adjust(figure: Figure, chart: Chart, frame: pd.DataFrame, args: dict) -> None:
    if chart.label:  # point labels where `_label_positions` put them, readable past the axes' edge
        figure.update_traces(marker={"size": 12}, cliponaxis=False)
        figure.for_each_trace(lambda trace: trace.update(textposition=[row[0] for row in trace.customdata]))
        figure.update_xaxes(range=_padded(frame[args["x"]], 0.12))
    if chart.plot in (px.scatter, px.line):  # points on the lowest or highest score drawn whole
        figure.update_yaxes(range=_padded(frame[args["y"]], 0.15))
    most = None
    if chart.plot is px.histogram:  # bars centred on multiples of 10, the ends (±100) drawn whole
        figure.update_traces(xbins={"start": -105, "end": 105, "size": 10})
        most = frame[args["x"]].round(-1).value_counts().max()
    if args.get("y") == "count":
        most = frame["count"].max()
    if most is not None and most <= 8:  # counts read as whole numbers
        figure.update_yaxes(dtick=1)
    if chart.plot is px.density_heatmap:  # one scale for every grid
        figure.update_layout(
            coloraxis={"cmin": 0, "cmax": 100, "colorbar": {"title": {"text": "accuracy %"}}}
        )


def _label_positions(frame: pd.DataFrame, x: str, y: str) -> pd.Series:
    """Each point's label above it, or below or beside it where it would cover a label placed before it
    (points from the highest down; near: within a quarter of the x span and 7% of the y span)."""
    near_x = 0.25 * max(frame[x].max() - frame[x].min(), 10.0)
    near_y = 0.07 * max(frame[y].max() - frame[y].min(), 10.0)
    placed: list[tuple[float, float]] = []
    positions = pd.Series("top center", index=frame.index)
    for index, row in frame.dropna(subset=[x, y]).sort_values(y, ascending=False).iterrows():
        spots = {"top center": (0, 1), "bottom center": (0, -1), "middle right": (0.5, 0)}
        for position, (dx, dy) in spots.items():
            spot = (row[x] + dx * near_x, row[y] + dy * near_y)
            if all(abs(spot[0] - a) >= near_x or abs(spot[1] - b) >= near_y for a, b in placed):
                positions[index] = position
                placed.append(spot)
                break
    return positions


def _padded(values: pd.Series, share: float, least: float = 20.0) -> list[float] | None:
    """The values' range, widened to `least` (never below 0 for that) and padded by `share` on both sides."""
    if values.isna().all():
        return None
    low, high = float(values.min()), float(values.max())
    if high - low < least:
        centred = (low + high - least) / 2
        low = centred if low < 0 else max(centred, 0.0)
        high = low + least
    pad = (high - low) * share
    return [low - pad, high + pad]


def _layout(figure: Figure, rows: int, faceted: bool) -> None:
    """Titles live in the HTML; the top strip is the toolbar's, axes make room for their labels, facet titles
    drop the column name ("method=rag k=1" reads "rag k=1")."""
    top = TOOLBAR_PX + (FACET_TITLE_PX if faceted else 0)
    figure.update_layout(
        template="plotly_white", title=None, height=360 + 220 * (rows - 1), font={"size": 12},
        margin={"l": 10, "r": 10, "t": top, "b": 10}, legend={"title": {"text": ""}},
    )  # fmt: skip
    figure.update_xaxes(automargin=True)
    figure.update_yaxes(automargin=True)
    figure.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))


def _panels(con: duckdb.DuckDBPyConnection, run_id: str | None) -> list[Panel]:
    panels = []
    for chart in CHARTS:
        by_run = run_id is not None and "{where_run}" in chart.sql
        conditions = [c for c in (chart.filters, "run_id = ?" if by_run else "") if c]
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        frame = _frame(con, chart.sql.format(where_run=where), [run_id] if by_run else [])
        if frame.empty or not chart.drawable(frame):
            panels.append(Panel(chart.title, None, "", "", chart.empty))
            continue
        subtitle = chart.heading(frame) if chart.heading else chart.subtitle
        panels.append(Panel(chart.title, _draw(chart, frame), subtitle, chart.note, ""))
    return panels


def _chart(figure: Figure, first: bool) -> str:
    config = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": MODEBAR_REMOVE}
    return pio.to_html(figure, include_plotlyjs="inline" if first else False, full_html=False, config=config)


def _section(title: str, body: str, note: str = "", subtitle: str = "", wide: bool = False) -> str:
    parts = [f"<h2>{html.escape(title)}</h2>"]
    parts += [f'<p class="subtitle">{html.escape(subtitle)}</p>'] if subtitle else []
    parts += [f'<p class="note">{html.escape(note)}</p>'] if note else []
    return f'<section class="card{" wide" if wide else ""}">{"".join(parts)}{body}</section>'


def _empty(sentence: str) -> str:
    return f'<p class="empty">{html.escape(sentence)}</p>'


def _dollars(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.6f}"


# Table columns in order (those a view has), and their headers.
METHOD_COLUMNS = ("dataset", "collection", "model", "method", "k", "n", "failed", "score", "token_pct_of_lc",
                  "list_cost_usd", "spent_cost_usd")  # fmt: skip
SELF_ROUTE_COLUMNS = ("dataset", "collection", "model", "k", "n", "answerable_pct", "token_pct_of_lc",
                      "self_route_score", "lc_score", "rag_score", "delta_vs_lc", "delta_vs_rag")  # fmt: skip
DECLINE_COLUMNS = ("dataset", "model", "k", "n", "unanswerable", "declined", "declined_unanswerable",
                   "decline_precision", "decline_recall")  # fmt: skip
QUESTION_SET_COLUMNS = ("collection", "answerable", "multi_hop", "unanswerable", "rejected", "reviewed", "retired",
                        "generation_runs", "generation_calls", "generation_list_cost_usd",
                        "generation_spent_cost_usd", "generation_seconds")  # fmt: skip
ROUTER_COLUMNS = ("dataset", "model", "k", "router", "n", "score", "token_pct_of_lc", "llm_calls", "straight_to_lc",
                  "routed_correctly_pct")  # fmt: skip
BASELINE_COLUMNS = ("dataset", "method", "k", "baseline_run_id", "baseline_score", "score", "score_delta",
                    "n_paired", "ci_low", "ci_high", "p_value", "passed")  # fmt: skip
HEADERS = {
    "llm_calls": "answer steps", "straight_to_lc": "straight to LC", "routed_correctly_pct": "routed as the oracle %",
    "baseline_run_id": "baseline run", "baseline_score": "baseline score", "score_delta": "Δ score",
    "n_paired": "paired examples", "ci_low": "95% CI low", "ci_high": "95% CI high", "p_value": "McNemar p",
    "declined_unanswerable": "declined unanswerable", "decline_precision": "decline precision %",
    "decline_recall": "decline recall %", "multi_hop": "multi-hop", "generation_runs": "generation runs",
    "generation_calls": "generation calls", "generation_list_cost_usd": "generation list $",
    "generation_spent_cost_usd": "generation spent $", "generation_seconds": "generation s",
    "token_pct_of_lc": "token % of LC", "list_cost_usd": "list $", "spent_cost_usd": "spent $",
    "answerable_pct": "answerable %", "self_route_score": "Self-Route score", "lc_score": "LC score",
    "rag_score": "RAG score", "delta_vs_lc": "Δ vs LC", "delta_vs_rag": "Δ vs RAG",
}  # fmt: skip


def _table(frame: pd.DataFrame, columns: tuple[str, ...], empty: str) -> str:
    if frame.empty:
        return _empty(empty)
    frame = frame[[c for c in columns if c in frame]]
    text_columns = next(
        (i for i, c in enumerate(frame.columns) if pd.api.types.is_numeric_dtype(frame[c])), 0
    )
    dollars = {HEADERS.get(c, c): _dollars for c in frame.columns if c.endswith("_usd")}
    table = frame.rename(columns=HEADERS).to_html(
        index=False, classes="summary", border=0, float_format=lambda v: f"{v:,.2f}", formatters=dollars
    )
    return f'<div class="scroll text-{min(text_columns, 4)}">{table}</div>'


METHODS_NOTE = (
    "Every method on the same examples (a failed prediction scores as an empty answer). List $: the answers at "
    "the price table; spent $: what the calls were billed (cache hits 0, paid failed attempts, cached input)."
)

DECLINES_NOTE = (
    "Self-Route's first step sends a question on to LC when it declines. Precision: the share of its declines "
    "that were unanswerable questions; recall: the share of unanswerable questions it declined."
)
BASELINE_NOTE = (
    "Per example, on the examples both runs scored: the 95% bootstrap interval of the score difference (points), "
    "and McNemar's p where scores are 0 or 1. The nightly gate fails a drop beyond its threshold only when the "
    "interval excludes 0 (for 0/1 scores, when p < 0.05)."
)
ROUTERS_NOTE = (
    "Per k where rag and lc both ran: the oracle (each question to the arm that answered it better), Self-Route, "
    "the learned router (`ragroute router train`; a question it sends to LC skips the RAG step) and LC. Answer "
    "steps: the calls that produced answers (Self-Route's declined questions take two)."
)
QUESTION_SETS_NOTE = (
    "Current questions (kept per kind, rejected, reviewed), those retired as documents changed, and what "
    "generating them cost, apart from evaluation costs."
)


def _tables(con: duckdb.DuckDBPyConnection, run_id: str | None) -> list[str]:
    where, params = ("WHERE run_id = ? ", [run_id]) if run_id else ("", [])
    methods = _frame(con, f"SELECT * FROM method_summary {where}ORDER BY method, k", params)
    summary = _frame(con, f"SELECT * FROM self_route_summary {where}ORDER BY k", params)
    declines = _frame(con, f"SELECT * FROM decline_quality {where}ORDER BY k", params)
    routers = _frame(con, f"SELECT * FROM routing_comparison {where}ORDER BY dataset, k, position", params)
    question_sets = _frame(con, "SELECT * FROM question_sets ORDER BY collection")
    baseline = _frame(con, f"SELECT * FROM regression_vs_baseline {where}ORDER BY method, k", params)
    return [
        _section("Methods", _table(methods, METHOD_COLUMNS, "No evaluation runs yet: `ragroute eval` records one."),
                 METHODS_NOTE, wide=True),
        _section("Self-Route summary (the paper's Table 1 columns)",
                 _table(summary, SELF_ROUTE_COLUMNS, "No Self-Route results yet: this run did not evaluate "
                        "self_route (`ragroute eval --methods lc,rag,self_route`)."), wide=True),
        _section("Routers side by side",
                 _table(routers, ROUTER_COLUMNS, "No run with both rag and lc yet: `ragroute eval --methods "
                        "lc,rag,self_route,learned_route`."), ROUTERS_NOTE, wide=True),
        _section("Self-Route declines on unanswerable questions",
                 _table(declines, DECLINE_COLUMNS, "No Self-Route answers to questions of known kind in this run "
                        "yet: `ragroute eval --collection NAME --methods lc,rag,self_route`."), DECLINES_NOTE,
                 wide=True),
        _section("Against the baseline",
                 _table(baseline, BASELINE_COLUMNS, "No baseline for this run yet: the next run of the same data "
                        "set and model is compared with it."), BASELINE_NOTE, wide=True),
        _section("Question sets per collection",
                 _table(question_sets, QUESTION_SET_COLUMNS, "No question sets yet: `ragroute questions generate "
                        "--collection NAME` generates one from an ingested collection."), QUESTION_SETS_NOTE,
                 wide=True),
    ]  # fmt: skip


STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px} header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c5cad6;font-size:13px;overflow-wrap:anywhere}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(560px,100%),1fr));gap:16px;padding:16px}
.card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08);min-width:0}
.card.wide{grid-column:1/-1}
.card h2{font-size:16px;margin:4px 0 4px} .subtitle{color:#334;font-size:13px;margin:0 0 2px}
.note{color:#667;font-size:12px;margin:0 0 6px}
.empty{color:#667;font-style:italic;margin:12px 0}
.scroll{overflow-x:auto} table.summary{border-collapse:collapse;font-size:12px;width:100%}
table.summary th,table.summary td{padding:4px 8px;border-bottom:1px solid #e4e6eb;text-align:right;
  white-space:nowrap}
table.summary th:first-child,table.summary td:first-child{text-align:left}
""" + "".join(  # the leading text columns (data set, model, method…) read left-aligned
    f".text-{n} :is(th,td):nth-child(-n+{n}){{text-align:left}}" for n in range(2, 5)
)


def build_report(warehouse: Target, out: Path, run_id: str | None = None) -> Path:
    """Write the dashboard for one run (default: the latest completed run) to `out`."""
    con = connect(warehouse, read_only=True)
    try:
        run_id = run_id or latest_run(con)
        if run_id and not con.execute("SELECT 1 FROM eval_runs WHERE run_id = ?", [run_id]).fetchone():
            raise ValueError(f"no evaluation run {run_id!r} in {warehouse}")
        sections, first = _tables(con, run_id), True
        for panel in _panels(con, run_id):
            if panel.figure is None:
                sections.append(_section(panel.title, _empty(panel.empty)))
            else:
                sections.append(
                    _section(panel.title, _chart(panel.figure, first), panel.note, panel.subtitle)
                )
                first = False
        run_line = f"run {html.escape(run_id)}" if run_id else "no evaluation run yet"
    finally:
        con.close()
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>ragroute report</title>"
        f"<style>{STYLE}</style></head><body><header><h1>ragroute — RAG vs long context vs Self-Route</h1>"
        f"<p>{run_line} · {html.escape(str(warehouse))} · generated {generated}</p></header>"
        f"<main>{''.join(sections)}</main></body></html>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
