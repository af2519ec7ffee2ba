"""An evaluation killed mid-run (SIGKILL of the whole `ragroute eval` process group) resumes under the same run
id: it answers only what is missing and ends with the totals of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import duckdb

from schemas.evaluation import EvalConfig
from schemas.settings import Settings
from tasks.evaluation.benchmark import evaluate_benchmark as evaluate
from tasks.evaluation.datasets import load_dataset
from tasks.evaluation.mini import generate, write_jsonl
from warehouse.db import session
from warehouse.runs import close_abandoned_runs

EXAMPLES = 4
METHODS = ["rag", "lc"]
KILL_AFTER = 2  # predictions in the warehouse before the kill
# BM25 after the first run has indexed the contexts: the rerun and the in-process run load no embedding model.
RETRIEVER = "bm25"


def _query(settings: Settings, sql: str, params: list) -> list[tuple] | None:
    """A read-only query, or None while another process holds the warehouse."""
    if not settings.warehouse_path.exists():
        return None
    try:
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            return con.execute(sql, params).fetchall()
    except duckdb.CatalogException:  # the first writer has not created the tables yet
        return None
    except (duckdb.IOException, duckdb.ConnectionException) as error:
        if "lock" in str(error).lower():
            return None
        raise


def _predictions(settings: Settings, run_id: str) -> int | None:
    rows = _query(settings, "SELECT count(*) FROM predictions WHERE run_id = ?", [run_id])
    return None if rows is None else rows[0][0]


def _kill_when_answered(process: subprocess.Popen, settings: Settings, run_id: str, timeout_s: float) -> None:
    """SIGKILL the process group once KILL_AFTER predictions of the run are stored."""
    deadline = time.monotonic() + timeout_s
    while (_predictions(settings, run_id) or 0) < KILL_AFTER:
        assert process.poll() is None, f"the evaluation ended (code {process.returncode}) before the kill"
        assert time.monotonic() < deadline, "no predictions in time"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the CLI and its temporary Prefect server
    process.wait(timeout=60)


def _stored(settings: Settings, run_id: str) -> int:
    deadline = time.monotonic() + 60
    while (count := _predictions(settings, run_id)) is None:
        assert time.monotonic() < deadline, "the warehouse stayed locked"
        time.sleep(0.2)
    return count


def _totals(methods: list[dict]) -> list[dict]:
    """The per-method summary less its cached count and spent cost (a run from the cache spends nothing); sums of
    floats rounded (their order differs)."""
    return [
        {
            k: round(v, 12) if isinstance(v, float) else v
            for k, v in row.items()
            if k not in ("cached", "spent_cost_usd")
        }
        for row in methods
    ]


def test_killed_evaluation_resumes_to_the_totals_of_an_uninterrupted_run(priced, tmp_path):
    # `mini` reports, shortened so that the test stays short on a small CPU.
    data = write_jsonl(generate(examples=EXAMPLES, words=150), tmp_path / "mini-short.jsonl")
    units = EXAMPLES * len(METHODS)
    run_id = f"killed-{uuid.uuid4().hex[:8]}"
    argv = [sys.executable, "-m", "ragroute.cli", "eval", "--dataset", str(data), "--methods", ",".join(METHODS),
            "--retriever", RETRIEVER, "--run-id", run_id, "--limit", str(EXAMPLES), "--json"]  # fmt: skip
    env = {**os.environ, "RAGROUTE_PRICE_TABLE": str(priced.price_table)}

    with (tmp_path / "killed.log").open("wb") as log:
        killed = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _kill_when_answered(killed, priced, run_id, timeout_s=300)
    assert killed.returncode == -signal.SIGKILL
    at_kill = _stored(priced, run_id)
    assert KILL_AFTER <= at_kill < units
    assert _query(priced, "SELECT status, pid FROM eval_runs WHERE run_id = ?", [run_id]) == [
        ("running", killed.pid)
    ]
    with session(priced.warehouse_path) as con:  # what the start of any later run on this host does
        assert run_id in close_abandoned_runs(con, "eval_runs")
    assert _query(priced, "SELECT status FROM eval_runs WHERE run_id = ?", [run_id]) == [("interrupted",)]

    resumed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    print(f"\npredictions at kill: {at_kill}/{units}; resumed: {summary}")
    assert (summary["status"], summary["errors"]) == ("completed", 0)
    assert summary["llm_calls"] + summary["cached_calls"] == units - at_kill  # only what was missing
    assert _query(
        priced,
        "SELECT count(*), count(DISTINCT (example_id, method, k)), count(error) FROM predictions WHERE run_id = ?",
        [run_id],
    ) == [(units, units, 0)]

    examples = load_dataset(str(data), priced, limit=EXAMPLES).examples
    config = EvalConfig(dataset=str(data), methods=METHODS, k=[priced.eval_top_k], retriever=RETRIEVER)
    uninterrupted = evaluate(examples, config, priced)
    print(f"uninterrupted: {uninterrupted.methods}")
    assert uninterrupted.errors == 0
    assert _totals(summary["methods"]) == _totals(uninterrupted.methods)
    assert all(row["n"] == EXAMPLES and row["failed"] == 0 for row in uninterrupted.methods)
    # The uninterrupted run's answers came from the cache: the same list cost, nothing spent.
    assert all(row["spent_cost_usd"] == 0 < row["list_cost_usd"] for row in uninterrupted.methods)
    per_method = "SELECT method, count(*), sum(prompt_tokens), sum(completion_tokens), round(sum(cost_usd), 12) FROM predictions WHERE run_id = ? GROUP BY method ORDER BY method"  # fmt: skip
    assert _query(priced, per_method, [run_id]) == _query(priced, per_method, [uninterrupted.run_id])
