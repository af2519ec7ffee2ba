"""Both warehouse backends through the same writers: keyed writes replace, concurrent writers on a DuckLake
(real PostgreSQL catalog, several processes) neither lose nor double a row, and `ragroute sql` stays read-only."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from schemas.evaluation import EvalConfig
from schemas.settings import DuckLakeTarget, Settings
from tasks.evaluation.run import run_evaluation
from tasks.evaluation.summary import EvalSummary
from tasks.testbed.postgres import POSTGRES_PORT_BASE, lake_target, postgres_server, restart_server
from tests.conftest import PORT_OFFSET, TEST_DATA_DIR
from warehouse import db, manifest, results, thresholds
from warehouse.copy import CopyRefused, copy_warehouse
from warehouse.db import connect, session, upsert
from warehouse.llm_cache import SharedResponseCache, open_response_cache
from warehouse.query import WriteRefused, open_read_only, run_query

PRICE_COLUMNS = ["model", "input_usd_per_m", "output_usd_per_m"]


def test_keyed_writes_replace_rows(warehouse_target):
    with session(warehouse_target) as con:
        upsert(con, "prices", ["model"], PRICE_COLUMNS, [["a", 1.0, 2.0], ["b", 3.0, 4.0]])
        upsert(con, "prices", ["model"], PRICE_COLUMNS, [["a", 5.0, 6.0]])
        assert con.execute(f"SELECT {', '.join(PRICE_COLUMNS)} FROM prices ORDER BY model").fetchall() == [
            ("a", 5.0, 6.0),
            ("b", 3.0, 4.0),
        ]


def _prediction(run_id: str, example: str, answer: str, error: str | None = None) -> dict:
    return {"run_id": run_id, "example_id": example, "dataset": "mini", "method": "rag", "k": 5,
            "model": "m", "prediction": answer, "prompt_tokens": 10, "completion_tokens": 2, "error": error}  # fmt: skip


def test_a_retried_unit_replaces_its_prediction_and_views_read_it(warehouse_target):
    with session(warehouse_target) as con:
        results.start_run(con, "r1", "mini", ["rag"], {}, "v", "m", "http://llm")
        results.write_prediction(con, _prediction("r1", "e1", "", error="timeout"), None)
        assert results.completed_units(con, "r1") == set()
        results.write_prediction(con, _prediction("r1", "e1", "Paris"), ("f1", 1.0))
        results.finish_run(con, "r1", "completed")
        assert results.completed_units(con, "r1") == {("e1", "rag", 5)}
        assert con.execute("SELECT count(*) FROM predictions").fetchone() == (1,)
        assert results.method_summary(con, "r1")[0]["n"] == 1


def test_retrievals_record_the_context_chunks_and_count_where_rag_reads_it_whole(warehouse_target):
    with session(warehouse_target) as con:
        results.start_run(con, "w1", "mini", ["rag"], {}, "v", "m", "http://llm")
        for example, chunks in (("short", 4), ("long", 12)):
            results.write_prediction(con, _prediction("w1", example, "x"), ("f1", 1.0))
            rows = [["w1", example, 5, "hybrid", rank, f"{example}-{rank}", rank, 0.5, None, chunks]
                    for rank in range(1, min(5, chunks) + 1)]  # fmt: skip
            results.write_retrievals(con, rows)
            results.write_retrievals(con, rows)  # keyed: a rewrite replaces
        stored = con.execute("SELECT count(*), sum(context_chunks) FROM retrievals WHERE run_id = 'w1'")
        assert stored.fetchone() == (4 + 5, 4 * 4 + 5 * 12)
        assert results.rag_whole_context(con, "w1") == [
            {"method": "rag", "k": 5, "examples": 2, "whole_context": 1}
        ]


def _row(run_id: str, example: str, method: str, prompt_tokens: int, **extra) -> dict:
    return {"run_id": run_id, "example_id": example, "dataset": "mini", "method": method,
            "k": 0 if method == "lc" else 5, "model": "m", "prediction": "x", "prompt_tokens": prompt_tokens,
            "completion_tokens": 2, "error": None} | extra  # fmt: skip


def _summary(con, run_id: str) -> dict[str, tuple]:
    rows = results.method_summary(con, run_id)
    return {
        r["method"]: (r["n"], r["failed"], r["score"], r["token_pct_of_lc"], r["spent_cost_usd"])
        for r in rows
    }


def test_every_method_is_scored_on_the_same_examples(warehouse_target):
    """A failed prediction is stored with its error and the empty answer's score: n is equal per method, the
    failures are counted, token % of LC compares only the examples where LC has tokens, and a retried unit keeps
    what its failed try paid for."""
    with session(warehouse_target) as con:
        results.start_run(con, "same", "mini", ["lc", "rag"], {}, "v", "m", "http://llm")
        results.write_prediction(con, _row("same", "e1", "lc", 1000, spent_cost_usd=0.5), ("f1", 1.0))
        failed = _row("same", "e2", "lc", 0, prediction=None, error="timeout", spent_cost_usd=0.25)
        results.write_prediction(con, failed, ("f1", 0.0))
        results.write_prediction(con, _row("same", "e1", "rag", 200, spent_cost_usd=0.1), ("f1", 0.5))
        results.write_prediction(con, _row("same", "e2", "rag", 250, spent_cost_usd=0.1), ("f1", 1.0))
        assert results.completed_units(con, "same") == {("e1", "lc", 0), ("e1", "rag", 5), ("e2", "rag", 5)}
        assert _summary(con, "same") == {"lc": (2, 1, 50.0, 100.0, 0.75), "rag": (2, 0, 75.0, 20.0, 0.2)}
        # The resume answers the failed unit: its row is replaced, what the failed try paid for stays paid.
        results.write_prediction(con, _row("same", "e2", "lc", 1200, spent_cost_usd=0.5), ("f1", 1.0))
        assert _summary(con, "same")["lc"] == (2, 0, 100.0, 100.0, 1.25)
        assert _summary(con, "same")["rag"][3] == 20.45  # (200 + 250) / (1000 + 1200)


def test_routing_replays_self_routes_own_first_step(warehouse_target):
    """Without a `rag` method (and at first without `lc`): the frontier reads Self-Route's own first step, and
    LC's tokens and score from its own LC step where it routed, from the `lc` rows once there are some."""
    sr = "self_route"
    kept = _row("sr", "e1", sr, 300, route="rag", decline_prob=0.1, step1_declined=False, step1_prompt_tokens=300,
                step1_completion_tokens=2, step1_score=1.0)  # fmt: skip
    routed = _row("sr", "e2", sr, 4320, route="lc", decline_prob=0.9, step1_declined=True, step1_prompt_tokens=320,
                  step1_completion_tokens=2, step1_score=0.0)  # fmt: skip
    steps = "SELECT example_id, rag_tokens, rag_score, lc_tokens, lc_score, lc_source FROM self_route_steps ORDER BY 1"
    frontier = "SELECT n, score, token_pct_of_lc FROM routing_frontier WHERE threshold = 0.5"
    with session(warehouse_target) as con:
        results.start_run(con, "sr", "mini", [sr], {}, "v", "m", "http://llm")
        results.write_prediction(con, kept, ("f1", 1.0))
        results.write_prediction(con, routed, ("f1", 1.0))
        assert con.execute(steps).fetchall() == [
            ("e1", 300, 1.0, None, None, None),  # kept at the first step, no LC answer to replay
            ("e2", 320, 0.0, 4000, 1.0, "self_route"),
        ]
        assert con.execute(frontier).fetchall() == [(1, 100.0, 108.0)]
        results.write_prediction(con, _row("sr", "e1", "lc", 3900), ("f1", 1.0))
        results.write_prediction(con, _row("sr", "e2", "lc", 4100), ("f1", 0.5))
        assert con.execute(steps).fetchall() == [
            ("e1", 300, 1.0, 3900, 1.0, "lc"),
            ("e2", 320, 0.0, 4100, 0.5, "lc"),
        ]
        # τ = 0.5: e1 stays at its first step (300 tokens), e2 goes to LC (320 + 4100), against LC's 8000.
        assert con.execute(frontier).fetchall() == [(2, 75.0, 59.0)]
        choice = thresholds.decide(con, "sr", None)
        assert choice is not None and choice.source == "text_rule"  # calibrated from this frontier


def test_scores_per_kind_and_self_routes_declines_on_the_unanswerable_questions(warehouse_target):
    """Four questions of a set with kinds: Self-Route declines (routes to LC) the two unanswerable ones and one
    answerable one: decline precision 2/3, recall 2/2; scores per method and kind."""
    kinds = {"a1": "answerable", "a2": "answerable", "u1": "unanswerable", "u2": "unanswerable"}
    routes = {"a1": "rag", "a2": "lc", "u1": "lc", "u2": "lc"}
    scores = {"a1": 1.0, "a2": 0.5, "u1": 1.0, "u2": 0.0}  # u2 was answered: a false answer
    with session(warehouse_target) as con:
        results.start_run(con, "kinds", "mini", ["rag", "self_route"], {}, "v", "m", "http://llm")
        results.write_examples(con, [["mini", e, None, None, None, None, kind] for e, kind in kinds.items()])
        for example in kinds:
            results.write_prediction(con, _row("kinds", example, "rag", 100), ("f1", 1.0))
            row = _row("kinds", example, "self_route", 100, route=routes[example])
            results.write_prediction(con, row, ("f1", scores[example]))
        assert results.kind_summary(con, "kinds") == [
            {"method": "rag", "k": 5, "kind": "answerable", "n": 2, "failed": 0, "score": 100.0},
            {"method": "rag", "k": 5, "kind": "unanswerable", "n": 2, "failed": 0, "score": 100.0},
            {"method": "self_route", "k": 5, "kind": "answerable", "n": 2, "failed": 0, "score": 75.0},
            {"method": "self_route", "k": 5, "kind": "unanswerable", "n": 2, "failed": 0, "score": 50.0},
        ]
        assert results.decline_quality(con, "kinds") == [
            {
                "k": 5,
                "n": 4,
                "unanswerable": 2,
                "declined": 3,
                "decline_precision": 66.67,
                "decline_recall": 100.0,
            }
        ]


def test_pending_marks_and_documents_keep_one_row_per_document(warehouse_target):
    version = manifest.DocumentVersion("/d/a.txt", "d1", "/d", "C", "sha", "sig", "indexed", "txt", 1, 0)
    with session(warehouse_target) as con:
        manifest.mark_pending(con, "run1", [version])
        manifest.mark_pending(con, "run2", [version])
        assert con.execute("SELECT status, last_run_id FROM documents").fetchall() == [("pending", "run2")]
        manifest.record_document(con, "run2", version, [])
        manifest.mark_pending(con, "run3", [version])
        rows = con.execute("SELECT status, content_sha256, last_run_id FROM documents").fetchall()
        assert rows == [("pending", "sha", "run3")]
        manifest.forget_document(con, "/d/a.txt", "C")
        assert con.execute("SELECT count(*) FROM documents").fetchone() == (0,)


def test_sql_stays_read_only(warehouse_target):
    with session(warehouse_target) as con:
        upsert(con, "prices", ["model"], PRICE_COLUMNS, [["a", 1.0, 2.0]])
    con = open_read_only(warehouse_target)
    try:
        assert run_query(con, "SELECT count(*) FROM prices").fetchall() == [(1,)]
        for sql in ("DELETE FROM prices", "ATTACH 'x.duckdb'", "INSTALL httpfs", "SET threads = 1"):
            with pytest.raises(WriteRefused):
                run_query(con, sql)
    finally:
        con.close()


WRITERS, KEYS = 4, 12


def _write_keys(target: Path | DuckLakeTarget, writer: int) -> None:
    con = connect(target)
    for key in range(KEYS):  # every writer writes every key: each key is contested by all of them
        upsert(con, "prices", ["model"], PRICE_COLUMNS, [[f"storm-m{key}", float(writer), float(key)]])
        results.write_prediction(con, _prediction("shared", f"e{key}", f"w{writer}"), ("f1", 1.0))
    con.close()


def test_concurrent_writers_on_a_ducklake_neither_lose_nor_double_rows(new_lake):
    target = new_lake()
    with session(target):
        pass
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_keys, args=(target, n)) for n in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=300)
    assert [process.exitcode for process in writers] == [0] * WRITERS
    with connect(target, read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT model) FROM prices").fetchone() == (KEYS, KEYS)
        assert con.execute("SELECT count(*), count(DISTINCT example_id) FROM predictions").fetchone() == (
            KEYS,
            KEYS,
        )
        assert con.execute("SELECT count(*) FROM scores").fetchone() == (KEYS,)


BULK_EXAMPLES = "INSERT INTO examples SELECT 'd', 'x' || i, 1, NULL, NULL, NULL, NULL FROM range(50) t(i)"


def test_losing_the_shared_data_folder_mid_run(new_lake):
    """What a host sees when the shared data folder goes away while it writes.
    (a) The path answers with I/O errors: a bulk insert and a keyed write (its `write_guard` update writes a
        small Parquet file) both fail whole and leave no row; reads of Parquet-backed rows fail until the
        folder is back.
    (b) The mount is gone and its empty mount point is writable: DuckLake recreates the folders there and commits
        rows whose Parquet file exists on this host only; once the mount is back they cannot be read."""
    target = new_lake()
    with session(target) as con:  # one 50-row statement: a Parquet file in the data folder
        con.execute(
            "INSERT INTO prices (model, input_usd_per_m, output_usd_per_m) "
            "SELECT 'bulk' || i, 1.0, 2.0 FROM range(50) t(i)"
        )
    folder = Path(target.data_path.rstrip("/"))
    assert list(folder.rglob("*.parquet"))
    mounted = folder.with_name(folder.name + "-mounted")
    folder.rename(mounted)
    folder.write_text("")  # (a): every file operation under the path fails
    try:
        with session(target) as con:
            with pytest.raises(duckdb.IOException):
                con.execute(BULK_EXAMPLES)
            with pytest.raises(duckdb.IOException):
                results.write_prediction(con, _prediction("lost", "e1", "small"), ("f1", 1.0))
            with pytest.raises(duckdb.Error):  # (count(*) alone is answered from the catalog's statistics)
                con.execute("SELECT * FROM prices").fetchall()
    finally:
        folder.unlink()
    with session(target) as con:  # (b): an empty, writable mount point
        con.execute(BULK_EXAMPLES)
    folder.rename(folder.with_name(folder.name + "-local"))
    mounted.rename(folder)  # the mount is back
    with connect(target, read_only=True) as con:
        assert len(con.execute("SELECT * FROM prices").fetchall()) == 50
        assert con.execute("SELECT count(*) FROM predictions WHERE run_id = 'lost'").fetchone() == (0,)
        with pytest.raises(duckdb.Error):  # committed in (b), its file on the other disk
            con.execute("SELECT * FROM examples").fetchall()


def _cache_get(target: DuckLakeTarget, key: str, out: multiprocessing.Queue) -> None:
    cache = open_response_cache(target, Path("/nonexistent/llm_cache.sqlite"))
    out.put(cache.get(key))
    cache.close()


def test_the_llm_cache_follows_a_ducklake_warehouse(new_lake, tmp_path):
    """An answer cached by one process (host) is a hit in another that only shares the DuckLake."""
    target = new_lake()
    cache = open_response_cache(target, tmp_path / "llm_cache.sqlite")
    assert isinstance(cache, SharedResponseCache)
    key = cache.key("http://llm/v1", "m", [{"role": "user", "content": "hi"}], {"temperature": 0})
    cache.put(key, {"text": "hello", "prompt_tokens": 3})
    cache.put(key, {"text": "hello", "prompt_tokens": 3})  # a second host answering the same: still one row
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    other = context.Process(target=_cache_get, args=(target, key, out))
    other.start()
    assert out.get(timeout=120) == {"text": "hello", "prompt_tokens": 3}
    other.join(timeout=60)
    assert not (tmp_path / "llm_cache.sqlite").exists()
    with connect(target, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM llm_responses").fetchone() == (1,)


def test_the_file_backend_keeps_the_sqlite_llm_cache(tmp_path):
    cache = open_response_cache(tmp_path / "w.duckdb", tmp_path / "llm_cache.sqlite")
    assert not isinstance(cache, SharedResponseCache) and (tmp_path / "llm_cache.sqlite").exists()
    cache.close()


def test_warehouse_copy_moves_every_row_and_checks_the_sums(new_lake, tmp_path):
    source = tmp_path / "w.duckdb"
    with session(source) as con:
        results.start_run(con, "r1", "mini", ["rag"], {"k": [5]}, "v", "m", "http://llm")
        for n in range(30):
            results.write_prediction(con, _prediction("r1", f"e{n}", f"a{n}"), ("f1", n / 30))
        manifest.mark_pending(
            con, "i1", [manifest.DocumentVersion("/d/a", "d1", "/d", "C", "s", "c", "x", "txt", 1, 0)]
        )
    target = new_lake()
    copies = {copy.table: copy for copy in copy_warehouse(source, target)}
    assert all(copy.equal for copy in copies.values())
    assert (copies["predictions"].rows, copies["scores"].rows, copies["documents"].rows) == (30, 30, 1)
    with connect(target, read_only=True) as con:
        assert results.method_summary(con, "r1")[0]["n"] == 30
    with pytest.raises(CopyRefused, match="already holds rows"):
        copy_warehouse(source, target)


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("ragroute")), *args],
                          env={**os.environ, "COLUMNS": "300", **env},
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_cli_copies_a_warehouse_reports_the_backend_and_queries_it_read_only(new_lake, tmp_path):
    source = tmp_path / "w.duckdb"
    with session(source) as con:
        results.start_run(con, "r1", "mini", ["rag"], {}, "v", "m", "http://llm")
        results.write_prediction(con, _prediction("r1", "e1", "Paris"), ("f1", 1.0))
    target = new_lake()
    copied = _cli("warehouse", "copy", "--to", target.attach, "--data-path", target.data_path,
                  env={"RAGROUTE_DUCKDB_PATH": str(source)})  # fmt: skip
    assert copied.returncode == 0, copied.stdout + copied.stderr
    assert re.search(r"predictions\s*│\s*1\s*│\s*(\d+)\s*│\s*1\s*│\s*\1\s*│\s*yes", copied.stdout), (
        copied.stdout
    )
    lake_env = {"RAGROUTE_WAREHOUSE": target.attach, "RAGROUTE_WAREHOUSE_DATA_PATH": target.data_path}
    status = _cli("services", "status", "--json", env=lake_env)
    assert status.returncode == 0, status.stderr
    warehouse = json.loads(status.stdout)["warehouse"]
    assert (warehouse["backend"], warehouse["answers"], warehouse["data_path"]) == (
        "ducklake",
        True,
        target.data_path,
    )
    rows = _cli("sql", "SELECT prediction FROM predictions", "--format", "json", env=lake_env)
    assert json.loads(rows.stdout) == [{"prediction": "Paris"}], rows.stderr
    refused = _cli("sql", "DELETE FROM predictions", env=lake_env)
    assert refused.returncode == 1 and "read-only" in refused.stdout + refused.stderr
    down = _cli(
        "services", "status", "--json", env={**lake_env, "RAGROUTE_WAREHOUSE": target.attach + "_gone"}
    )
    assert json.loads(down.stdout)["warehouse"]["answers"] is False


# --- Faults during an evaluation with Self-Route on DuckLake --------------------------------------------

METHODS, TAU, LIMIT = ["lc", "rag", "self_route"], 0.5, 1
EVAL_UNITS = LIMIT * len(METHODS)  # at k = 3 only
# (table, what a row's key is besides the run id) of every table an evaluation writes
EVAL_TABLES = {"eval_runs": "run_id", "predictions": "(example_id, method, k)", "scores": "(example_id, method, k)",
               "retrievals": "(example_id, k, retriever, rank)", "decline_thresholds": "run_id"}  # fmt: skip


def _on_lake(settings: Settings, target: DuckLakeTarget) -> Settings:
    return settings.model_copy(update={"warehouse": target.attach, "warehouse_data_path": target.data_path})


def _evaluate(settings: Settings, progress=None, run_id: str | None = None) -> EvalSummary:
    config = EvalConfig(
        dataset="mini", methods=METHODS, k=[3], limit=LIMIT, decline_threshold=TAU, run_id=run_id
    )
    return run_evaluation(config, settings, progress)


def _run_rows(target: DuckLakeTarget, run_id: str) -> dict[str, tuple[int, int]]:
    """(rows, distinct keys) of each table the run wrote: equal numbers mean no row doubled."""
    with connect(target, read_only=True) as con:
        return {
            table: con.execute(
                f"SELECT count(*), count(DISTINCT {key}) FROM {table} WHERE run_id = ?", [run_id]
            ).fetchone()
            for table, key in EVAL_TABLES.items()
        }


def _unit_errors(target: DuckLakeTarget, run_id: str) -> list[tuple]:
    """(example, method, k, error) of each unit that failed: what a failed status assertion shows."""
    with connect(target, read_only=True) as con:
        return con.execute(
            "SELECT example_id, method, k, error FROM predictions WHERE run_id = ? AND error IS NOT NULL",
            [run_id],
        ).fetchall()


def _assert_whole_run(target: DuckLakeTarget, summary: EvalSummary) -> dict[str, tuple[int, int]]:
    """Every unit answered and scored once, the τ stored once, the summary complete."""
    rows = _run_rows(target, summary.run_id)
    assert {table: rows[table] for table in ("eval_runs", "predictions", "scores", "decline_thresholds")} == {
        "eval_runs": (1, 1), "predictions": (EVAL_UNITS, EVAL_UNITS), "scores": (EVAL_UNITS, EVAL_UNITS),
        "decline_thresholds": (1, 1)}, rows  # fmt: skip
    assert rows["retrievals"][0] == rows["retrievals"][1] > 0, rows
    assert summary.status == "completed", (summary, _unit_errors(target, summary.run_id))
    assert (summary.decline_threshold.threshold, summary.decline_threshold.source) == (TAU, "given")
    assert sorted(row["method"] for row in summary.methods) == sorted(METHODS)
    return rows


STORM_WRITERS = 3
# Between two rounds of its keyed writes a writer pauses up to this long. Before writers took turns (an
# advisory lock in the catalog), the evaluation's longer retrievals write lost every commit to the storm's
# shorter ones for 300 s and the run failed.
STORM_PAUSE_S = 0.05


def _storm(target: DuckLakeTarget, writer: int, stop, out) -> None:
    """Keyed writes, one round after another, until `stop` (and at least once over every key): every writer
    writes every key of the `storm` run: a price, a Self-Route prediction with its score, and the run's τ."""
    con = connect(target)
    rounds = 0
    while rounds < KEYS or not stop.is_set():
        key = rounds % KEYS
        upsert(con, "prices", ["model"], PRICE_COLUMNS, [[f"storm-m{key}", float(writer), float(key)]])
        row = _prediction("storm", f"e{key}", f"w{writer}") | {"method": "self_route", "route": "rag",
                                                              "decline_prob": writer / 10}  # fmt: skip
        results.write_prediction(con, row, ("f1", 1.0))
        thresholds.record(
            con, "storm", "m", "mini", thresholds.ThresholdChoice(TAU, "given", 0.9, f"w{writer}")
        )
        rounds += 1
        if rounds == 1:
            out.put("started")
        time.sleep(random.uniform(0, STORM_PAUSE_S))
    out.put((rounds, db.retries["conflict"], db.write_turns["waited"]))
    con.close()


def test_ducklake_writer_conflict_storm_during_an_eval_with_self_route(running_services: Settings, new_lake):
    """An evaluation of lc, rag and self_route with a τ on a DuckLake while 3 other processes write the same
    tables' keys as fast as they commit: the writers take turns, and every write of both lands once. A first
    run, before the storm, leaves every answer in the lake's LLM cache: the storm's run only reads and writes
    the warehouse (its LLM calls would otherwise share the 2 cores with the storm for minutes)."""
    target = new_lake()
    settings = _on_lake(running_services, target)
    assert _evaluate(settings).status == "completed"
    context = multiprocessing.get_context("spawn")
    stop, out = context.Event(), context.Queue()
    storm = [context.Process(target=_storm, args=(target, n, stop, out)) for n in range(STORM_WRITERS)]
    for process in storm:
        process.start()
    assert [out.get(timeout=300) for _ in storm] == ["started"] * STORM_WRITERS
    before, waited_before = db.retries["conflict"], db.write_turns["waited"]
    try:
        summary = _evaluate(settings)
    finally:
        stop.set()
        for process in storm:
            process.join(timeout=300)
    assert [process.exitcode for process in storm] == [0] * STORM_WRITERS
    reports = [out.get(timeout=10) for _ in storm]
    eval_retries, eval_waits = db.retries["conflict"] - before, db.write_turns["waited"] - waited_before
    rows = _assert_whole_run(target, summary)
    assert summary.llm_calls == 0 and summary.cached_calls >= EVAL_UNITS  # every answer from the lake's cache
    # (table, key, which rows) the storm wrote
    storm_keys = [("prices", "model", "model LIKE 'storm-%'"), ("predictions", "example_id", "run_id = 'storm'"),
                  ("scores", "example_id", "run_id = 'storm'"), ("decline_thresholds", "run_id", "run_id = 'storm'")]  # fmt: skip
    with connect(target, read_only=True) as con:
        storm_rows = {
            table: con.execute(
                f"SELECT count(*), count(DISTINCT {key}) FROM {table} WHERE {where}"
            ).fetchone()
            for table, key, where in storm_keys
        }
    assert storm_rows == {"prices": (KEYS, KEYS), "predictions": (KEYS, KEYS), "scores": (KEYS, KEYS),
                          "decline_thresholds": (1, 1)}  # fmt: skip
    storm_retries, storm_waits = sum(report[1] for report in reports), sum(report[2] for report in reports)
    assert eval_waits > 0 and storm_waits > 0, "no write waited for its turn: there was no storm"
    print(f"\nconflict storm: eval rows (rows, keys) {rows}; storm rows {storm_rows}; storm rounds "
          f"{[report[0] for report in reports]}; writes that waited their turn: eval {eval_waits}, storm "
          f"{storm_waits}; conflicts retried: eval {eval_retries}, storm {storm_retries}")  # fmt: skip


@pytest.fixture
def restartable_postgres() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL server of the test's own (the session's serves other lakes): its dsn and its folder."""
    base = Path(tempfile.mkdtemp(prefix="ragroute-pg-restart-"))
    with postgres_server(base, POSTGRES_PORT_BASE + 50 + PORT_OFFSET) as dsn:
        yield dsn, base


def test_a_keyed_write_whose_catalog_restarts_mid_transaction_runs_again_and_lands_once(restartable_postgres):
    dsn, base = restartable_postgres
    target = lake_target(dsn, "restarted_mid_write", TEST_DATA_DIR / "lakes")
    before = db.retries["catalog_lost"]
    with session(target) as con:
        attempts = []

        def body() -> None:
            attempts.append(1)
            con.execute("INSERT INTO prices VALUES ('a', 1.0, 2.0, NULL)")
            if len(attempts) == 1:
                restart_server(base)  # the commit that follows finds its connection cut

        db.keyed_write(con, body)
    assert len(attempts) == 2 and db.retries["catalog_lost"] - before == 1
    with connect(target, read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT model) FROM prices").fetchone() == (1, 1)


def test_postgresql_restarted_mid_eval_with_self_route(running_services: Settings, restartable_postgres):
    """The DuckLake catalog's PostgreSQL restarts (fast shutdown: connections cut) after the first answer is
    stored, while the others are answered: the keyed writes that meet it run again, and the run ends with
    every unit once (a unit whose call failed meanwhile is answered by a resume of the same run id)."""
    dsn, base = restartable_postgres
    target = lake_target(dsn, "restarted_mid_eval", TEST_DATA_DIR / "lakes")
    settings = _on_lake(running_services, target)
    restarts: list[threading.Thread] = []

    def restart_after_the_first_answer(stage: str, done: int, total: int) -> None:
        if stage != "retrieving" and not restarts:
            restarts.append(threading.Thread(target=restart_server, args=(base,)))
            restarts[0].start()

    before = db.retries["catalog_lost"]
    first = _evaluate(settings, restart_after_the_first_answer)
    restarts[0].join(timeout=120)
    answered_before_resume = _run_rows(target, first.run_id)["predictions"]
    summary = first if first.status == "completed" else _evaluate(settings, run_id=first.run_id)
    rows = _assert_whole_run(target, summary)
    print(f"\npostgresql restart: first run {first.status} ({first.errors} errors, predictions "
          f"{answered_before_resume}); after: {rows}; writes run again after the lost connection: "
          f"{db.retries['catalog_lost'] - before}")  # fmt: skip
