"""Warehouse benchmark: the embedded DuckDB file against a DuckLake on PostgreSQL, in one run.

Run:  .venv/bin/python -m bench.warehouse [--writes 200] [--rows 1000000] [--repeats 10] [--pg-port 16632]

A PostgreSQL server is started for the run (initdb into a temporary folder, as the `postgres` user when run
as root) and stopped at the end; the DuckLake's data folder is a local temporary folder. Measured per backend:
  1. write throughput: 4 writer processes, each storing --writes predictions through `results.write_prediction`
     with one warehouse session per row (as an evaluation does) -> rows/s; ratio DuckLake / file (target >= 0.5);
  2. read latency: --rows generated predictions (with their scores; 10 runs x 4 methods), then p50/p95 of
     `SELECT * FROM method_summary` and of `SELECT * FROM routing_frontier` over --repeats runs each
     (target: p95 <= 1 s on both backends).
The last line printed is the results as JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from schemas.settings import DuckLakeTarget
from tasks.testbed.postgres import lake_target, postgres_server
from warehouse import results
from warehouse.db import Target, connect, session, transaction

WRITERS = 4
RUNS, METHODS = 10, ("lc", "rag", "rag_reorder", "self_route")


def _writer(target: Target, writer: int, writes: int) -> None:
    for n in range(writes):
        row = {"run_id": f"bench-{writer}", "example_id": f"e{n}", "dataset": "bench", "method": "rag", "k": 5,
               "model": "m", "prediction": "answer", "prompt_tokens": 100, "completion_tokens": 5}  # fmt: skip
        with session(target) as con:
            results.write_prediction(con, row, ("f1", 0.5))


def write_throughput(target: Target, writes: int) -> float:
    """Rows per second that 4 writer processes store together."""
    with session(target):
        pass  # created and migrated before the clock starts
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_writer, args=(target, n, writes)) for n in range(WRITERS)]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    if any(process.exitcode for process in processes):
        raise SystemExit("a writer failed")
    return WRITERS * writes / elapsed


GENERATE = """
INSERT INTO {table} SELECT {columns} FROM (
    SELECT i, 'gen-' || (i % {runs}) AS run_id, 'x' || (i // ({runs} * {methods})) AS example_id,
           ['lc', 'rag', 'rag_reorder', 'self_route'][1 + (i // {runs}) % {methods}] AS method
    FROM range({rows}) t(i))
"""
PREDICTION = (
    "run_id, example_id, 'bench' AS dataset, method, CASE WHEN method = 'lc' THEN 0 ELSE 5 END AS k, "
    "'dense' AS retriever, 'm' AS model, CASE WHEN i % 3 = 0 THEN 'lc' ELSE 'rag' END AS route, "
    "'answer' AS prediction, NULL AS step1_prediction, "
    "CASE WHEN method = 'self_route' THEN (i % 100) / 100.0 END AS decline_prob, "
    "100 + i % 900 AS prompt_tokens, 5 AS completion_tokens, false AS tokens_estimated, "
    "0.0001 AS cost_usd, 10.0 AS latency_ms, false AS cached, NULL AS error, now() AS created_at"
)
SCORE = "run_id, example_id, method, CASE WHEN method = 'lc' THEN 0 ELSE 5 END AS k, 'f1', (i % 7) / 7.0"


def generate(target: Target, rows: int) -> None:
    """`rows` predictions with their scores over 10 completed runs (bulk SQL, one transaction)."""
    shape = {"runs": RUNS, "methods": len(METHODS), "rows": rows}
    with session(target) as con:

        def body() -> None:
            con.execute(GENERATE.format(table="predictions", columns=PREDICTION, **shape))
            con.execute(GENERATE.format(table="scores", columns=SCORE, **shape))
            for run in range(RUNS):
                results.start_run(con, f"gen-{run}", "bench", list(METHODS), {}, "v", "m", "e")
                results.finish_run(con, f"gen-{run}", "completed")

        transaction(con, body)


def latencies(target: Target, view: str, repeats: int) -> dict:
    con = connect(target, read_only=True)
    try:
        con.execute(f"SELECT * FROM {view}").fetchall()  # warm-up
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            con.execute(f"SELECT * FROM {view}").fetchall()
            seconds.append(time.perf_counter() - started)
    finally:
        con.close()
    seconds.sort()
    return {"p50_s": round(statistics.median(seconds), 3),
            "p95_s": round(seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))], 3)}  # fmt: skip


def measure(targets: dict[str, Target], writes: int, rows: int, repeats: int) -> dict:
    report: dict = {}
    for name, (write_target, read_target) in targets.items():
        report[name] = {"write_rows_per_s": round(write_throughput(write_target, writes), 1)}
        generate(read_target, rows)
        for view in ("method_summary", "routing_frontier"):
            report[name][view] = latencies(read_target, view, repeats)
        print(name, json.dumps(report[name]), flush=True)
    report["write_ratio_ducklake_vs_file"] = round(
        report["ducklake"]["write_rows_per_s"] / report["file"]["write_rows_per_s"], 2
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=200, help="rows per writer process")
    parser.add_argument("--rows", type=int, default=1_000_000, help="generated predictions for the views")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--pg-port", type=int, default=16632)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ragroute-bench-pg-"))
    root.chmod(0o755)  # the server runs as `postgres` below it
    with postgres_server(root / "pg", args.pg_port) as dsn:
        lakes: list[DuckLakeTarget] = [lake_target(dsn, name, root / "lake") for name in ("writes", "reads")]
        targets = {"file": (root / "writes.duckdb", root / "reads.duckdb"), "ducklake": tuple(lakes)}
        report = measure(targets, args.writes, args.rows, args.repeats)
    report.update(writers=WRITERS, writes_per_writer=args.writes, rows=args.rows, repeats=args.repeats)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
