"""Every writer of `warehouse/` against both backends: the embedded DuckDB file and a DuckLake on a real
PostgreSQL. A keyed write lands once and a rerun replaces it; an event log (asks, service checks, quarantine,
validation results) adds exactly the rows of each call. The writers are found in the source, so a new one (or
SQL only one backend takes, like the `INSERT OR REPLACE` that stopped every Self-Route run on DuckLake) cannot
come in without a case here that runs it on both."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

import warehouse
from schemas.api import Citation
from schemas.documents import Chunk, IngestSummary, QuarantineRecord
from schemas.prices import Price
from schemas.questions import Candidate
from schemas.settings import DuckLakeTarget
from tasks.routing import learned
from tasks.routing.ask import AskResult
from tasks.testbed.postgres import lake_target
from tests.conftest import TEST_DATA_DIR
from warehouse import asks, checks, manifest, questions, regressions, results, routers, runs, thresholds
from warehouse.copy import CopyRefused, copy_warehouse
from warehouse.db import connect, session, transaction, utc_now
from warehouse.llm_cache import open_response_cache

WAREHOUSE_DIR = Path(warehouse.__file__).parent
# The write path itself (`transaction`, `keyed_write`, `upsert`, migrations): every case below runs through it.
WRITE_PATH_MODULE = "db.py"
WRITE_PATH = {"transaction", "keyed_write", "upsert"}
WRITE_SQL = re.compile(r"^\s*(INSERT|UPDATE|DELETE|MERGE)\b", re.IGNORECASE)
GUARD_BUMP = re.compile(r"UPDATE\s+write_guard", re.IGNORECASE)


# --- Finding the writers --------------------------------------------------------------------------------


def _text(node: ast.AST) -> str:
    """The literal text of a string or f-string (what sits between its placeholders)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value for part in node.values if isinstance(part, ast.Constant))
    return ""


def _called(node: ast.AST) -> set[str]:
    """Names of the functions and `self.` methods a function calls."""
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            if isinstance(call.func, ast.Name):
                names.add(call.func.id)
            elif isinstance(call.func, ast.Attribute) and getattr(call.func.value, "id", None) == "self":
                names.add(call.func.attr)
    return names


def _writes_itself(node: ast.AST) -> bool:
    """It runs the write path or holds an INSERT, UPDATE, DELETE or MERGE statement."""
    if _called(node) & WRITE_PATH:
        return True
    return any(WRITE_SQL.match(_text(part)) for part in ast.walk(node))


def _writers_of(path: Path) -> set[str]:
    """`module.function` and `module.Class.method` of every public function that writes, itself or through the
    module's (or class's) own helpers."""
    tree = ast.parse(path.read_text())
    module = path.stem
    scopes: list[tuple[str, dict[str, ast.AST]]] = [
        ("", {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)})
    ]
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and not n.name.startswith("_")):
        scopes.append((f"{cls.name}.", {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}))
    module_functions = scopes[0][1]
    found = set()
    for prefix, functions in scopes:
        local = {**module_functions, **functions}

        def writes(name: str, seen: set[str], local=local) -> bool:
            if name in seen or name not in local:
                return False
            seen.add(name)
            node = local[name]
            return _writes_itself(node) or any(writes(callee, seen) for callee in _called(node))

        found |= {
            f"{module}.{prefix}{name}"
            for name in functions
            if not name.startswith("_") and writes(name, set())
        }
    return found


def warehouse_writers() -> set[str]:
    return {
        writer
        for path in sorted(WAREHOUSE_DIR.glob("*.py"))
        if path.name != WRITE_PATH_MODULE
        for writer in _writers_of(path)
    }


# --- One case per writer --------------------------------------------------------------------------------

Target = Path | DuckLakeTarget
Case = Callable[[Target, Path], None]
CASES: dict[str, Case] = {}
COVERED: set[str] = set()


def case(*writers: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[fn.__name__.removeprefix("case_")] = fn
        COVERED.update(writers)
        return fn

    return register


def _rows(con, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _count(con, table: str, where: str = "true", params: list | None = None) -> int:
    return con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params or []).fetchone()[0]


@case("results.refresh_prices")
def case_prices(target: Target, tmp_path: Path) -> None:
    with session(target) as con:
        results.refresh_prices(con, {"w1": Price(1.0, 2.0), "w2": Price(3.0, 4.0, 0.5)})
        results.refresh_prices(con, {"w1": Price(1.0, 2.0), "w2": Price(3.0, 4.0, 0.5)})
        results.refresh_prices(con, {"w1": Price(5.0, 6.0), "w2": Price(3.0, 4.0, 0.5)})
        assert _rows(con, "SELECT * FROM prices WHERE model LIKE 'w%' ORDER BY model") == [
            ("w1", 5.0, 6.0, None),
            ("w2", 3.0, 4.0, 0.5),
        ]


@case("results.start_run", "results.finish_run")
def case_eval_run(target: Target, tmp_path: Path) -> None:
    with session(target) as con:
        assert results.start_run(con, "r1", "mini", ["lc", "self_route"], {"k": [3]}, "v", "m", "http://llm")
        results.finish_run(con, "r1", "failed")
        assert not results.start_run(con, "r1", "mini", ["lc", "self_route"], {}, "v", "m", "http://llm")
        results.finish_run(con, "r1", "completed")
        results.finish_run(con, "r1", "completed")
        assert _rows(con, "SELECT run_id, methods, status, finished_at IS NOT NULL FROM eval_runs") == [
            ("r1", "lc,self_route", "completed", True)
        ]


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@case("runs.close_abandoned_runs")
def case_abandoned_runs(target: Target, tmp_path: Path) -> None:
    with session(target) as con:
        results.start_run(con, "dead", "mini", ["rag"], {}, "v", "m", "http://llm")
        results.start_run(con, "alive", "mini", ["rag"], {}, "v", "m", "http://llm")
        con.execute("UPDATE eval_runs SET pid = ? WHERE run_id = 'dead'", [_dead_pid()])
        assert runs.close_abandoned_runs(con, "eval_runs") == ["dead"]
        assert runs.close_abandoned_runs(con, "eval_runs") == []
        assert _rows(con, "SELECT run_id, status FROM eval_runs ORDER BY run_id") == [
            ("alive", "running"),
            ("dead", "interrupted"),
        ]


def _prediction(example: str, method: str, **extra) -> dict:
    return {"run_id": "r1", "example_id": example, "dataset": "mini", "method": method,
            "k": 0 if method == "lc" else 3, "model": "m", "prediction": "x", "prompt_tokens": 100,
            "completion_tokens": 2, "error": None} | extra  # fmt: skip


@case("results.write_prediction")
def case_predictions(target: Target, tmp_path: Path) -> None:
    failed = _prediction("e1", "self_route", prediction=None, error="timeout", spent_cost_usd=0.25)
    answered = _prediction("e1", "self_route", route="lc", decline_prob=0.9, step1_declined=True,
                           step1_prompt_tokens=40, step1_completion_tokens=1, step1_score=0.0, spent_cost_usd=0.5)  # fmt: skip
    with session(target) as con:
        results.write_prediction(con, failed, ("f1", 0.0))
        results.write_prediction(con, answered, ("f1", 1.0))
        results.write_prediction(con, _prediction("e1", "lc"), ("f1", 1.0))
        results.write_prediction(con, _prediction("e1", "lc"), ("f1", 1.0))
        assert _rows(con, "SELECT method, route, error, spent_cost_usd FROM predictions ORDER BY method") == [
            ("lc", None, None, None),
            ("self_route", "lc", None, 0.75),  # what the failed try paid for stays paid
        ]
        assert _rows(con, "SELECT method, score FROM scores ORDER BY method") == [
            ("lc", 1.0),
            ("self_route", 1.0),
        ]


@case("results.write_examples")
def case_examples(target: Target, tmp_path: Path) -> None:
    with session(target) as con:
        results.write_examples(
            con,
            [
                ["mini", "e1", 100, None, None, None, None],
                ["mini", "e2", 200, None, None, None, "unanswerable"],
            ],
        )
        results.write_examples(con, [["mini", "e1", 150, "hard", "short", "x", "answerable"]])
        assert _rows(con, "SELECT example_id, length, difficulty, kind FROM examples ORDER BY 1") == [
            ("e1", 150, "hard", "answerable"),
            ("e2", 200, None, "unanswerable"),
        ]


@case("results.write_judgment")
def case_judgments(target: Target, tmp_path: Path) -> None:
    judged = {"run_id": "r1", "example_id": "e1", "method": "rag", "k": 3, "judge_model": "j",
              "prompt_version": "judge-1", "verdict": None, "prompt_tokens": 50, "completion_tokens": 1,
              "error": "timeout"}  # fmt: skip
    with session(target) as con:
        results.write_judgment(con, judged)
        results.write_judgment(con, judged | {"verdict": "supported", "error": None, "cost_usd": 0.001})
        results.write_judgment(
            con, judged | {"method": "lc", "k": 0, "verdict": "declined", "prompt_tokens": 0, "error": None}
        )
        assert _rows(con, "SELECT method, verdict, error, cost_usd FROM judgments ORDER BY method") == [
            ("lc", "declined", None, None),
            ("rag", "supported", None, 0.001),
        ]


@case("routers.write_route_features", "routers.write_router")
def case_routers(target: Target, tmp_path: Path) -> None:
    """Features and outcomes become training rows; a trained router goes in as a blob and comes back whole."""
    features = {"question": "Who built the ship?", "kind": "single", "top_score": 0.9, "score_margin": 0.2,
                "score_spread": 0.5, "retrieved": 3, "rag_tokens": 300, "doc_tokens": 4000}  # fmt: skip
    with session(target) as con:
        results.start_run(con, "r1", "mini", ["rag", "lc"], {}, "v", "m", "http://llm")
        for example, rag, lc in (("e1", 1.0, 1.0), ("e2", 0.0, 1.0)):
            results.write_prediction(con, _prediction(example, "rag"), ("f1", rag))
            results.write_prediction(con, _prediction(example, "lc"), ("f1", lc))
            key = {"run_id": "r1", "example_id": example, "k": 3}
            routers.write_route_features(con, [key | features])
            routers.write_route_features(con, [key | features | {"top_score": 0.8}])
        results.finish_run(con, "r1", "completed")
        rows = routers.training_rows(con, "m", "mini")
        assert [(r["example_id"], r["top_score"], r["needs_lc"]) for r in rows] == [("e1", 0.8, False),
                                                                                    ("e2", 0.8, True)]  # fmt: skip
    trained = learned.train(rows)
    with session(target) as con:
        routers.write_router(con, "m", "mini", learned.FEATURES_VERSION, trained, trained.dump())
        time.sleep(0.01)
        newest = routers.write_router(con, "m", "mini", learned.FEATURES_VERSION, trained, trained.dump())
        router_id, blob = routers.latest_router(con, "m", "mini")
        assert router_id == newest and _count(con, "routers") == 2 and _count(con, "route_features") == 2
    loaded = learned.TrainedRouter.load(blob, router_id)
    assert (loaded.fold_of, loaded.cv_accuracy) == (trained.fold_of, trained.cv_accuracy)


@case("results.write_retrievals")
def case_retrievals(target: Target, tmp_path: Path) -> None:
    rows = [["r1", "e1", 3, "hybrid", rank, f"c{rank}", rank, 0.5, None, 4] for rank in (1, 2, 3)]
    with session(target) as con:
        results.write_retrievals(con, rows)
        results.write_retrievals(con, [[*row[:7], 0.9, True, 4] for row in rows])
        assert _rows(con, "SELECT rank, score, has_evidence FROM retrievals ORDER BY rank") == [
            (1, 0.9, True),
            (2, 0.9, True),
            (3, 0.9, True),
        ]


@case("manifest.start_run", "manifest.finish_run")
def case_ingest_run(target: Target, tmp_path: Path) -> None:
    with session(target) as con:
        manifest.start_run(con, "i1", "/d", "C", "sig")
        manifest.start_run(con, "i1", "/d", "C", "sig")
        manifest.finish_run(con, IngestSummary(run_id="i1", status="failed"))
        manifest.finish_run(
            con, IngestSummary(run_id="i1", status="completed", documents_seen=3, notes=["n"])
        )
        assert _rows(con, "SELECT run_id, status, documents_seen, notes FROM ingest_runs") == [
            ("i1", "completed", 3, json.dumps(["n"]))
        ]


QUARANTINED = [
    QuarantineRecord(path="/d/a", reason="empty file (0 bytes)", stage="extract"),
    QuarantineRecord(path="/d/b", reason="corrupt PDF", stage="extract", detail="xref"),
]


@case("manifest.add_quarantine")
def case_quarantine(target: Target, tmp_path: Path) -> None:
    """An event log: each call records its records (an ingest run reports a file once)."""
    with session(target) as con:
        manifest.add_quarantine(con, "i1", QUARANTINED)
        assert _count(con, "quarantine") == 2
        manifest.add_quarantine(con, "i2", QUARANTINED[:1])
        assert _rows(con, "SELECT run_id, path FROM quarantine ORDER BY 1, 2") == [
            ("i1", "/d/a"),
            ("i1", "/d/b"),
            ("i2", "/d/a"),
        ]


@case("manifest.add_new_quarantine")
def case_new_quarantine(target: Target, tmp_path: Path) -> None:
    with session(target) as con:
        manifest.add_new_quarantine(con, "data:mini", QUARANTINED[:1])
        manifest.add_new_quarantine(con, "data:mini", QUARANTINED)
        manifest.add_new_quarantine(con, "data:mini", QUARANTINED)
        assert _rows(con, "SELECT path, reason FROM quarantine ORDER BY 1") == [
            ("/d/a", "empty file (0 bytes)"),
            ("/d/b", "corrupt PDF"),
        ]


@case("manifest.add_validation_results")
def case_validation_results(target: Target, tmp_path: Path) -> None:
    """An event log: one row per expectation of each validated batch."""
    outcome = SimpleNamespace(
        expectation="not_null", column="text", success=True, element_count=4, unexpected_count=0
    )
    with session(target) as con:
        manifest.add_validation_results(con, "i1", [outcome])
        manifest.add_validation_results(con, "i1", [outcome, outcome])
        assert _count(con, "validation_results", "run_id = 'i1'") == 3


def _version(path: str, status: str = "indexed", sha: str = "sha") -> manifest.DocumentVersion:
    return manifest.DocumentVersion(path, f"doc-{path}", "/d", "C", sha, "sig", status, "txt", 1, 0)


def _chunks(path: str, n: int) -> list[Chunk]:
    return [Chunk(chunk_id=f"{path}#{i}", doc_id=f"doc-{path}", source_path=path, doc_hash="h", chunk_index=i,
                  page=1, text=f"word {i}", content_hash=f"h{i}") for i in range(n)]  # fmt: skip


def _manifest(con) -> list[tuple]:
    documents = _rows(con, "SELECT path, status, content_sha256, chunk_count FROM documents ORDER BY 1")
    chunks = _rows(con, "SELECT path, count(*) FROM chunks GROUP BY path ORDER BY 1")
    return documents + chunks


@case("manifest.mark_pending", "manifest.record_document", "manifest.forget_document")
def case_documents(target: Target, tmp_path: Path) -> None:
    with session(target) as con:
        manifest.mark_pending(con, "i1", [_version("/d/a"), _version("/d/b")])
        manifest.mark_pending(con, "i2", [_version("/d/a")])
        manifest.record_document(con, "i2", _version("/d/a"), _chunks("/d/a", 3))
        manifest.record_document(con, "i2", _version("/d/a", sha="sha2"), _chunks("/d/a", 2))
        manifest.record_document(con, "i2", _version("/d/b"), _chunks("/d/b", 1))
        manifest.forget_document(con, "/d/b", "C")
        manifest.forget_document(con, "/d/b", "C")
        assert _manifest(con) == [("/d/a", "indexed", "sha2", 2), ("/d/a", 2)]


@case("manifest.replace_documents")
def case_rebuild(target: Target, tmp_path: Path) -> None:
    with session(target) as con:
        manifest.record_document(con, "i1", _version("/d/old"), _chunks("/d/old", 2))
        rebuilt = [(_version("/d/a"), _chunks("/d/a", 2)), (_version("/d/b"), _chunks("/d/b", 1))]
        manifest.replace_documents(con, "i2", "/d", "C", rebuilt)
        manifest.replace_documents(con, "i2", "/d", "C", rebuilt)
        assert _manifest(con) == [
            ("/d/a", "indexed", "sha", 2),
            ("/d/b", "indexed", "sha", 1),
            ("/d/a", 2),
            ("/d/b", 1),
        ]


@case("manifest.forget_collection")
def case_forget_collection(target: Target, tmp_path: Path) -> None:
    outcome = SimpleNamespace(expectation="x", column=None, success=True, element_count=1, unexpected_count=0)
    with session(target) as con:
        manifest.start_run(con, "i1", "/d", "C", "sig")
        manifest.start_run(con, "i2", "/e", "D", "sig")
        manifest.record_document(con, "i1", _version("/d/a"), _chunks("/d/a", 2))
        manifest.add_quarantine(con, "i1", QUARANTINED)
        manifest.add_validation_results(con, "i1", [outcome])
        manifest.add_validation_results(con, "i2", [outcome])
        manifest.forget_collection(con, "C")
        manifest.forget_collection(con, "C")
        left = {
            table: _count(con, table) for table in ("documents", "chunks", "quarantine", "validation_results")
        }
        assert left == {"documents": 0, "chunks": 0, "quarantine": 0, "validation_results": 1}
        assert _rows(con, "SELECT run_id FROM ingest_runs") == [("i2",)]


@case("regressions.record_checks")
def case_regression_checks(target: Target, tmp_path: Path) -> None:
    test = [20, -14.5, -5.5, 0.002]
    check = ["r2", "r1", "self_route", 3, 50.0, 60.0, -10.0, 0.1, 0.1, 0.0, False, "score fell", *test]
    with session(target) as con:
        regressions.record_checks(
            con, [check, ["r2", "r1", "lc", 0, 1.0, 1.0, 0.0, 0.1, 0.1, 0.0, True, None, *[None] * 4]], utc_now()
        )
        regressions.record_checks(
            con, [[*check[:4], 60.0, 60.0, 0.0, 0.1, 0.1, 0.0, True, None, 20, -4.0, 4.0, 1.0]], utc_now()
        )
        assert _rows(con, "SELECT method, score, passed, ci_high FROM regression_checks ORDER BY method") == [
            ("lc", 1.0, True, None),
            ("self_route", 60.0, True, 4.0),
        ]


@case("thresholds.record")
def case_decline_threshold(target: Target, tmp_path: Path) -> None:
    with session(target) as con:
        thresholds.record(
            con, "r1", "m", "mini", thresholds.ThresholdChoice(None, "no_signal", 0.001, "none")
        )
        thresholds.record(con, "r1", "m", "mini", thresholds.ThresholdChoice(0.5, "given", 0.9, "given"))
        assert _rows(con, "SELECT run_id, threshold, source FROM decline_thresholds") == [
            ("r1", 0.5, "given")
        ]
        assert thresholds.latest(con, "m") == 0.5


@case("asks.record_ask")
def case_asks(target: Target, tmp_path: Path) -> None:
    """An event log: each ask is one row with its own id."""
    citation = Citation(number=1, chunk_id="c1", source_path="/d/a", page=1, chunk_index=0, evidence=["x"])
    answered = AskResult(question="Which berth?", collection="C", method="self_route", route="rag",
                         answer="Berth seven [1]", citations=[citation], prompt_tokens=50, completion_tokens=4)  # fmt: skip
    with session(target) as con:
        first = asks.record_ask(con, answered, "m")
        second = asks.record_ask(con, answered, "m")
        assert first != second
        assert _rows(con, "SELECT ask_id, route FROM asks ORDER BY asked_at") == [
            (first, "rag"),
            (second, "rag"),
        ]


@case("checks.record_service_check")
def case_service_checks(target: Target, tmp_path: Path) -> None:
    """An event log: one row per health check."""
    row = {"checked_at": utc_now(), "weaviate_url": "http://w", "llm_base_url": "http://llm", "ok": True}
    with session(target) as con:
        checks.record_service_check(con, row)
        checks.record_service_check(con, row | {"ok": False})
        assert _rows(con, "SELECT ok FROM service_checks ORDER BY ok") == [(False,), (True,)]


def _question(question_id: str, **fields) -> Candidate:
    values = {"collection": "C", "kind": "answerable", "question": "Who kept it?", "answer": "Edith",
              "evidence": ["Edith kept it."], "chunk_ids": ["c1"], "chunk_hashes": ["h1"], "doc_ids": ["d1"],
              "doc_hashes": ["sha"], "model": "m", "prompt_version": "q1", "outcome": "kept", "run_id": "g1"}  # fmt: skip
    return Candidate(question_id=question_id, **(values | fields))


@case("questions.write_questions", "questions.retire_questions")
def case_questions(target: Target, tmp_path: Path) -> None:
    """A question's id is its key: written again it is replaced; retired once, with its first reason."""
    rejected = _question("q1", outcome="rejected", rule="parse", reason="empty reply")
    with session(target) as con:
        questions.write_questions(con, [_question("q1"), _question("q2")])
        questions.write_questions(con, [rejected])
        questions.retire_questions(con, [("q2", "document changed: /d/a")])
        questions.retire_questions(con, [("q2", "document deleted: /d/a")])
        assert _rows(con, "SELECT question_id, outcome, rule, retired_reason FROM questions ORDER BY 1") == [
            ("q1", "rejected", "parse", None),
            ("q2", "kept", None, "document changed: /d/a"),
        ]
        assert [q.question_id for q in questions.current_questions(con, "C")] == ["q1"]
        assert questions.stored_question(con, "q2").evidence == ["Edith kept it."]


@case("questions.record_run", "questions.abandon_runs")
def case_question_runs(target: Target, tmp_path: Path) -> None:
    run = {"run_id": "g1", "collection": "C", "model": "m", "prompt_version": "q1", "started_at": utc_now(),
           "status": "running", "documents": 2, "candidates": 0, "kept": 0, "retired": 0, "by_kind": {},
           "rejections": {}, "llm_calls": 0, "llm_requests": 0, "cached_calls": 0, "prompt_tokens": 0,
           "completion_tokens": 0}  # fmt: skip
    with session(target) as con:
        questions.record_run(con, run)
        questions.record_run(con, run | {"status": "completed", "candidates": 6, "rejections": {"parse": 4}})
        assert _rows(con, "SELECT run_id, status, candidates, rejections FROM question_runs") == [
            ("g1", "completed", 6, '{"parse": 4}')
        ]
        questions.record_run(con, run | {"run_id": "g2"})  # its process stopped without an end
        questions.record_run(con, run | {"run_id": "g3", "collection": "D"})
        questions.abandon_runs(con, "C")
        assert _rows(con, "SELECT run_id, status FROM question_runs ORDER BY run_id") == [
            ("g1", "completed"), ("g2", "abandoned"), ("g3", "running")
        ]


@case("llm_cache.ResponseCache.put", "llm_cache.SharedResponseCache.put")
def case_llm_cache(target: Target, tmp_path: Path) -> None:
    """The backend's response cache (SQLite beside a file warehouse, `llm_responses` in a DuckLake): one row
    per key, the later answer kept."""
    cache = open_response_cache(target, tmp_path / "llm_cache.sqlite")
    key = cache.key("http://llm/v1", "m", [{"role": "user", "content": "hi"}], {"temperature": 0})
    try:
        cache.put(key, {"text": "hello"})
        cache.put(key, {"text": "hello again"})
        assert cache.get(key) == {"text": "hello again"}
    finally:
        cache.close()
    if isinstance(target, DuckLakeTarget):
        with connect(target, read_only=True) as con:
            assert _count(con, "llm_responses") == 1


@case("copy.copy_warehouse")
def case_copy(target: Target, tmp_path: Path) -> None:
    """The copy's destination is a DuckLake; a second copy is refused and doubles nothing."""
    if not isinstance(target, DuckLakeTarget):
        pytest.skip("a copy goes from a file into a DuckLake: run with the ducklake backend")
    source = tmp_path / "source.duckdb"
    with session(source) as con:
        results.start_run(con, "r1", "mini", ["lc"], {}, "v", "m", "http://llm")
        results.write_prediction(con, _prediction("e1", "lc"), ("f1", 1.0))
        thresholds.record(con, "r1", "m", "mini", thresholds.ThresholdChoice(0.5, "given", 0.9, "given"))
    copies = {copy.table: copy.rows for copy in copy_warehouse(source, target)}
    with pytest.raises(CopyRefused, match="already holds rows"):
        copy_warehouse(source, target)
    with connect(target, read_only=True) as con:
        counts = {table: _count(con, table) for table in ("eval_runs", "predictions", "decline_thresholds")}
    assert counts == {table: copies[table] for table in counts} == {"eval_runs": 1, "predictions": 1,
                                                                    "decline_thresholds": 1}  # fmt: skip


# --- The tests ------------------------------------------------------------------------------------------


def test_every_writer_of_the_warehouse_has_a_case():
    """A public function (or method) of `warehouse/` that writes is run below on both backends."""
    found = warehouse_writers()
    assert found, "no writer found: the search is broken"
    assert found - COVERED == set(), "writers without a case in this file"
    assert COVERED - found == set(), "cases for writers that no longer write (or were renamed)"


def test_the_write_guard_is_bumped_in_one_place_only():
    """Every keyed write takes `keyed_write`: no module bumps the guard (or keys rows) by hand."""
    for path in sorted(WAREHOUSE_DIR.glob("*.py")):
        if path.name != WRITE_PATH_MODULE:
            assert not GUARD_BUMP.search(path.read_text()), f"{path.name} bumps write_guard itself"


BOOKKEEPING = ("schema_version", "view_state", "write_guard")


@pytest.fixture(scope="module")
def lake(postgres_dsn: str) -> DuckLakeTarget:
    """One DuckLake on the real PostgreSQL for every case (a fresh one per case costs seconds)."""
    target = lake_target(postgres_dsn, f"writers_{os.getpid()}", TEST_DATA_DIR / "lakes")
    connect(target).close()
    return target


def _empty(target: DuckLakeTarget) -> None:
    with session(target) as con:
        tables = _rows(con, "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()")
        deletes = [f"DELETE FROM {table}" for (table,) in tables if table not in BOOKKEEPING]
        transaction(con, lambda: [con.execute(sql) for sql in deletes])


@pytest.fixture(params=["file", "ducklake"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """Each warehouse backend in turn, empty: a new DuckDB file, the module's DuckLake emptied."""
    if request.param == "file":
        return tmp_path / "w.duckdb"
    target = request.getfixturevalue("lake")
    _empty(target)
    return target


@pytest.mark.parametrize("name", sorted(CASES))
def test_writer_lands_once_and_a_rerun_replaces(name: str, backend: Target, tmp_path: Path):
    CASES[name](backend, tmp_path)
