"""The warehouse after a real evaluation: views, read-only SQL, concurrent writers, migrations, the report."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import duckdb
import plotly.express as px
import plotly.io as pio
import pytest

from schemas.evaluation import EvalConfig
from tasks.evaluation.benchmark import evaluate_benchmark as evaluate
from tasks.evaluation.datasets import load_dataset
from tasks.evaluation.summary import EvalSummary, router_lines
from tasks.ingestion.run import ingest
from tasks.routing.learned import train_and_store
from warehouse import routers
from warehouse.browser_check import check_report
from warehouse.report import CHARTS, build_report

VIEW_COLUMNS = {
    "method_summary": {"run_id", "dataset", "model", "method", "k", "n", "failed", "score", "prompt_tokens",
                       "completion_tokens", "list_cost_usd", "spent_cost_usd", "token_pct_of_lc", "answerable_pct"},
    "self_route_summary": {"run_id", "k", "answerable_pct", "token_pct_of_lc", "delta_vs_lc", "delta_vs_rag"},
    "rag_lc_agreement": {"run_id", "example_id", "identical", "score_diff"},
    "k_sweep": {"run_id", "method", "k", "score", "token_pct_of_lc"},
    "routing_frontier": {"run_id", "threshold", "score", "token_pct_of_lc", "answerable_pct"},
    "cost_per_point": {"run_id", "method", "list_usd_per_point", "spent_usd_per_point", "tokens_per_point"},
    "nightly_trend": {"day", "run_id", "method", "score", "list_cost_usd", "spent_cost_usd"},
    "retrieval_diagnostics": {"run_id", "k", "retriever", "recall_at_k", "mean_first_evidence_rank"},
    "ingest_health": {"run_id", "documents_seen", "pages_ocr", "quarantined", "reason_kind"},
    "regression_vs_baseline": {"run_id", "baseline_run_id", "method", "score_delta", "list_cost_delta_usd"},
    "self_route_steps": {"run_id", "k", "example_id", "rag_tokens", "rag_score", "lc_tokens", "lc_score"},
    "oracle_routing": {"run_id", "k", "oracle_score", "oracle_token_pct_of_lc", "oracle_rag_pct", "self_route_gap"},
    "router_outcomes": {"run_id", "example_id", "k", "question", "top_score", "doc_tokens", "needs_lc"},
    "routing_comparison": {"run_id", "k", "router", "score", "token_pct_of_lc", "llm_calls", "straight_to_lc",
                           "routed_correctly_pct"},
}  # fmt: skip


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ragroute.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def filled(running_services, tmp_path_factory):
    """A warehouse with an ingest run and two real evaluation runs of the mini benchmark (with a k sweep); a
    learned router trained on the first routes the second's `learned_route`."""
    settings = running_services
    docs = tmp_path_factory.mktemp("docs")
    (docs / "a.txt").write_text("The harbour master keeps the tide tables in the blue office. " * 30)
    (docs / "empty.txt").write_text("")
    ingest(docs, settings, collection="Views")
    examples = load_dataset("mini", settings, limit=2).examples
    config = EvalConfig(dataset="mini", methods=["lc", "rag", "self_route"], k=[1, 3])
    first = evaluate(examples, config, settings)
    train_and_store(settings, "mini", settings.llm_model)
    second = evaluate(examples, config.model_copy(update={"methods": [*config.methods, "learned_route"]}), settings)
    return settings, first.run_id, second.run_id


def _query(settings, sql: str, params=()):
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        relation = con.execute(sql, list(params))
        return [d[0] for d in relation.description], relation.fetchall()


@pytest.mark.parametrize("view", sorted(VIEW_COLUMNS))
def test_each_view_has_its_columns(filled, view):
    settings, _, _ = filled
    columns, rows = _query(settings, f"SELECT * FROM {view}")
    assert VIEW_COLUMNS[view] <= set(columns)
    assert rows, f"{view} is empty"


def test_views_hold_sane_values(filled):
    settings, run, rerun = filled
    _, rows = _query(
        settings,
        "SELECT method, k, n, score, token_pct_of_lc, answerable_pct FROM method_summary "
        "WHERE run_id = ? ORDER BY method, k",
        [run],
    )
    by_key = {(m, k): (n, score, pct, answerable) for m, k, n, score, pct, answerable in rows}
    assert by_key[("lc", 0)][2] == 100.0 and by_key[("lc", 0)][3] is None
    assert all(n == 2 and 0 <= score <= 100 for n, score, _, _ in by_key.values())
    assert by_key[("rag", 1)][2] < by_key[("rag", 3)][2] < 100  # more chunks, more tokens
    assert 0 <= by_key[("self_route", 3)][3] <= 100
    _, sweep = _query(settings, "SELECT DISTINCT k FROM k_sweep WHERE run_id = ? ORDER BY k", [run])
    assert sweep == [(1,), (3,)]
    _, frontier = _query(
        settings,
        "SELECT min(threshold), max(threshold), count(*) FROM routing_frontier WHERE run_id = ? AND k = 3",
        [run],
    )
    assert frontier == [(0.01, 0.95, 23)]
    _, recall = _query(
        settings, "SELECT recall_at_k FROM retrieval_diagnostics WHERE run_id = ? AND k = 3", [run]
    )
    assert 0 <= recall[0][0] <= 100
    _, regression = _query(
        settings,
        "SELECT baseline_run_id, max(abs(score_delta)) FROM regression_vs_baseline "
        "WHERE run_id = ? GROUP BY ALL",
        [rerun],
    )
    assert regression == [(run, 0.0)]  # the same answers (from the cache): no change against the baseline
    _, health = _query(
        settings, "SELECT count(*) FROM ingest_health WHERE reason_kind = 'empty file (0 bytes)'"
    )
    assert health[0][0] >= 1


def test_the_learned_router_trained_on_the_first_run_routes_the_second(filled):
    """The router trained on the first run's outcomes routes the rerun: each question takes the one step of the
    arm it picks (LC, or RAG alone), answers already in the cache; the summary puts the oracle, Self-Route, the
    learned router and LC side by side."""
    settings, run, rerun = filled
    _, [(router_id,)] = _query(settings, "SELECT config->>'router_id' FROM eval_runs WHERE run_id = ?", [rerun])
    _, [(runs, questions)] = _query(settings, "SELECT training_runs, questions FROM routers WHERE router_id = ?",
                                    [router_id])  # fmt: skip
    # Trained on the first run (and any earlier run of mini in the warehouse), never on the run it routes.
    assert run in json.loads(runs) and rerun not in json.loads(runs) and questions >= 2
    _, steps = _query(
        settings,
        """SELECT l.route, l.step1_prediction IS NULL, l.cached,
                  l.prediction = CASE l.route WHEN 'lc' THEN lc.prediction ELSE rag.prediction END
           FROM predictions l
           JOIN predictions rag ON rag.run_id = l.run_id AND rag.example_id = l.example_id AND rag.method = 'rag'
                AND rag.k = l.k
           JOIN predictions lc ON lc.run_id = l.run_id AND lc.example_id = l.example_id AND lc.method = 'lc'
           WHERE l.run_id = ? AND l.method = 'learned_route'""",
        [rerun],
    )
    assert len(steps) == 4 and all(route in ("rag", "lc") and one_step and cached and same
                                   for route, one_step, cached, same in steps)  # fmt: skip
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        compared = routers.routing_comparison(con, rerun)
    assert [(row["k"], row["router"]) for row in compared] == [
        (k, router) for k in (1, 3) for router in ("oracle", "self_route", "learned_route", "lc")
    ]
    learned = [row for row in compared if row["router"] == "learned_route"]
    assert sum(row["straight_to_lc"] for row in learned) == sum(route == "lc" for route, *_ in steps)
    assert all(row["llm_calls"] == row["n"] == 2 for row in learned)  # one answer step per question
    summary = EvalSummary(rerun, "mini", settings.llm_model, "completed", 0, 0, 0, [])
    summary.routers = compared
    lines = router_lines(summary)
    assert len(lines) == 2 and all("oracle" in line and "learned router" in line and "LC" in line for line in lines)


def test_the_frontier_replays_self_routes_own_first_step(filled):
    """The routing replay reads Self-Route's own first step (stored on its prediction, not the `rag` method's
    row), and the frontier's tokens are that step's plus LC's where it routes."""
    settings, run, _ = filled
    _, rows = _query(
        settings,
        """SELECT s.rag_tokens, sr.step1_prompt_tokens, rag.prompt_tokens, s.rag_score, sr.step1_score
           FROM self_route_steps s
           JOIN predictions sr ON sr.run_id = s.run_id AND sr.example_id = s.example_id
                AND sr.method = 'self_route' AND sr.k = s.k
           JOIN predictions rag ON rag.run_id = s.run_id AND rag.example_id = s.example_id
                AND rag.method = 'rag' AND rag.k = s.k
           WHERE s.run_id = ?""",
        [run],
    )
    assert len(rows) == 4  # 2 examples at k = 1 and 3
    assert all(own == step1 and score == step1_score for own, step1, _, score, step1_score in rows)
    _, frontier = _query(
        settings,
        """SELECT f.threshold, f.token_pct_of_lc,
                  round(100.0 * sum(s.rag_tokens + CASE WHEN s.text_declined OR s.decline_prob >= f.threshold
                                                        THEN s.lc_tokens ELSE 0 END) / sum(s.lc_tokens), 2)
           FROM routing_frontier f JOIN self_route_steps s USING (run_id, k)
           WHERE f.run_id = ? AND f.k = 3 GROUP BY ALL""",
        [run],
    )
    assert frontier and all(pct == replayed for _, pct, replayed in frontier)


def test_sql_cli_reads_and_refuses_writes(filled, tmp_path):
    settings, run, _ = filled
    result = _cli(
        "sql",
        f"SELECT method, score FROM method_summary WHERE run_id = '{run}' ORDER BY method, k",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    assert {row["method"] for row in json.loads(result.stdout)} == {"lc", "rag", "self_route"}
    out = tmp_path / "scores.parquet"
    assert _cli("sql", "SELECT * FROM scores", "--format", "parquet", "--out", str(out)).returncode == 0
    assert duckdb.sql(f"SELECT count(*) FROM '{out}'").fetchall()[0][0] > 0
    for statement in (
        "DELETE FROM predictions",
        "DROP VIEW method_summary",
        "UPDATE scores SET score = 1",
        "COPY predictions TO '/tmp/leak.csv'",
        "ATTACH '/tmp/other.duckdb'",
    ):
        refused = _cli("sql", statement)
        assert refused.returncode == 1 and "read-only" in refused.stderr, statement
    assert _query(settings, "SELECT count(*) FROM predictions")[1][0][0] > 0


def test_concurrent_writers_lose_and_duplicate_nothing(running_services):
    path = running_services.warehouse_path
    writer = textwrap.dedent(f"""
        import sys
        from schemas.documents import QuarantineRecord
        from warehouse.db import session
        from warehouse.manifest import add_quarantine
        for i in range(40):
            with session(__import__("pathlib").Path({str(path)!r})) as con:
                add_quarantine(con, f"concurrent-{{sys.argv[1]}}", [QuarantineRecord(path=f"p{{i}}", stage="scan",
                               reason="concurrency test")])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", writer, str(n)]) for n in range(4)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    _, rows = _query(
        running_services,
        "SELECT count(*), count(DISTINCT (run_id, path)) FROM quarantine WHERE run_id LIKE 'concurrent-%'",
    )
    assert rows == [(160, 160)]


def test_report_renders_in_chromium(filled, tmp_path):
    settings, run, _ = filled
    report = build_report(settings.warehouse_path, tmp_path / "report.html", run)
    page = report.read_text()
    assert "<script src=" not in page and "<link " not in page  # everything inline: works offline
    check = check_report(report, tmp_path / "report.png")
    assert check.console_errors == []
    assert check.charts_rendered >= 5
    assert check.toolbars == check.charts_rendered and check.panels == len(CHARTS) + 6  # and six tables
    assert check.layout_problems == []  # no toolbar over a title, no clipped label, no silent empty panel
    assert check.screenshot.stat().st_size > 20_000
    result = _cli("report", "--run", "no-such-run", "--out", str(tmp_path / "x.html"))
    assert result.returncode == 1 and "no evaluation run" in result.stderr


def test_the_layout_check_sees_what_a_reader_would(tmp_path):
    """A page laid out as the dashboard once was: a long chart title inside the figure, under its toolbar and
    past its edge; a panel with nothing in it; a table wider than the window."""
    figure = px.bar(x=["a", "b"], y=[1, 2], title="A chart title long enough to run under the toolbar " * 2)
    figure.update_layout(height=300, margin={"t": 50})
    chart = pio.to_html(figure, include_plotlyjs="inline", full_html=False)
    wide = "<table><tr>" + "<td>cell</td>" * 300 + "</tr></table>"
    page = tmp_path / "page.html"
    page.write_text(
        f"<html><body><section class='card'><h2>Chart</h2>{chart}</section>"
        f"<section class='card'><h2>Nothing</h2></section><section class='card'><h2>Wide</h2>{wide}</section>"
        "</body></html>"
    )
    check = check_report(page, tmp_path / "page.png", window=(800, 600))
    assert check.toolbars == 1 and len(check.toolbar_overlaps) == 1
    assert check.toolbar_overlaps[0].startswith('Chart: toolbar over "A chart title')
    assert [label.split(":")[0] for label in check.clipped_labels] == ["Chart"]
    assert check.empty_panels == ["Nothing"] and check.page_overflow_px > 0
