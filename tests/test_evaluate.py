"""The evaluation engine against real Weaviate, the real local model and DuckDB."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from schemas.benchmarks import UNANSWERABLE_CLAUSE, Example, prompt_template, self_route_template
from tasks.datasets import DatasetUnavailable, load_and_quarantine, load_dataset, load_jsonl
from tasks.evaluate import EvalConfig, evaluate, is_declined
from tasks.mini import generate
from tasks.retrieval import reorder
from tests.readers import warehouse_rows
from warehouse.db import session


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (1, [1]),
        (2, [1, 2]),
        (3, [1, 3, 2]),
        (4, [1, 3, 4, 2]),
        (5, [1, 3, 5, 4, 2]),
        (6, [1, 3, 5, 6, 4, 2]),
        (7, [1, 3, 5, 7, 6, 4, 2]),
        (8, [1, 3, 5, 7, 8, 6, 4, 2]),
    ],
)
def test_reorder_puts_best_first_and_second_best_last(k, expected):
    assert reorder(list(range(1, k + 1))) == expected


def test_self_route_prompt_adds_the_clause_where_the_paper_does():
    template = self_route_template("hotpotqa")
    assert template.count(UNANSWERABLE_CLAUSE) == 2
    assert template.startswith(
        "Answer the question based on the given passages. Only give me the answer and do not output any other "
        "words. " + UNANSWERABLE_CLAUSE
    )
    assert template.endswith(UNANSWERABLE_CLAUSE + "\n\nQuestion: {input}\nAnswer:")
    assert self_route_template("qasper") == prompt_template("qasper")  # already offers "unanswerable"


@pytest.mark.parametrize(
    ("answer", "declined"),
    [
        ("unanswerable", True),
        ("Unanswerable.", True),
        ("The answer is unanswerable.", True),
        ("“unanswerable”", False),  # unicode quotes are not punctuation to LongBench's normaliser
        ("Port Olpra", False),
        ("answerable", False),
        ("", False),
    ],
)
def test_decline_is_read_from_the_answer(answer, declined):
    assert is_declined(answer) is declined


def test_mini_benchmark_is_deterministic_and_mixed():
    first, second = generate(), generate()
    assert [e.model_dump() for e in first] == [e.model_dump() for e in second]
    kinds = [e.kind for e in first]
    assert (
        kinds.count("answerable") == 4 and kinds.count("multi_hop") == 2 and kinds.count("unanswerable") == 2
    )
    for example in first:
        assert example.length > 2000
        assert all(sentence in example.context for sentence in example.evidence)
    assert all(e.answers == ["unanswerable"] for e in first if e.kind == "unanswerable")


def test_loaders_read_longbench_and_infbench_and_report_bad_lines(tmp_path):
    longbench = tmp_path / "hotpotqa.jsonl"
    longbench.write_text(
        json.dumps({"input": "q?", "context": "c", "answers": ["a"], "length": 1, "dataset": "hotpotqa",
                    "language": "en", "all_classes": None, "_id": "x1"}) + "\n" + "{not json\n"
        + json.dumps({"input": "q2?"}) + "\n"
    )  # fmt: skip
    loaded = load_jsonl(longbench)
    assert [e.id for e in loaded.examples] == ["x1"]
    assert [p.path for p in loaded.problems] == [f"{longbench}:2", f"{longbench}:3"]
    infbench = tmp_path / "longbook_choice_eng.jsonl"
    infbench.write_text(
        json.dumps(
            {
                "id": 7,
                "context": "book",
                "input": "who?",
                "answer": ["Ann"],
                "options": ["Bob", "Ann", "Cy", "Di"],
            }
        )
        + "\n"
    )
    example = load_jsonl(infbench).examples[0]
    assert (example.dataset, example.id, example.answers, example.options[1]) == (
        "infbench_en_mc",
        "7",
        ["Ann"],
        "Ann",
    )


def test_malformed_lines_are_quarantined_once_however_often_loaded(settings, tmp_path):
    data = tmp_path / "quarantined-once.jsonl"
    good = json.dumps({"id": "q1", "question": "where?", "answers": ["here"]}).encode()
    data.write_bytes(good + b"\n{broken\n[]\n" + '{"question": "caf\u00e9?"}'.encode("latin-1") + b"\n")
    for _ in range(3):
        loaded = load_and_quarantine(str(data), settings)
        assert [q.id for q in loaded.questions] == ["q1"]
        reasons = [p.reason for p in loaded.problems]
        assert reasons == [
            f"malformed record: {kind}" for kind in ("JSONDecodeError", "TypeError", "UnicodeDecodeError")
        ]
    with session(settings.warehouse_path) as con:
        rows = con.execute(
            "SELECT path, stage FROM quarantine WHERE path LIKE ? ORDER BY path", [f"{data}:%"]
        ).fetchall()
    assert rows == [(f"{data}:2", "dataset"), (f"{data}:3", "dataset"), (f"{data}:4", "dataset")]


def test_offline_hub_error_says_where_to_put_the_file(settings, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetUnavailable, match=r"put it at .*narrativeqa\.jsonl"):
        load_dataset("narrativeqa", settings)


def test_end_to_end_mini_run_then_rerun_makes_no_llm_call(running_services, tmp_path):
    # A data dir of its own: an empty response cache and warehouse, whatever ran before in the session.
    settings = running_services.model_copy(update={"data_dir": tmp_path / "data"})
    examples = load_dataset("mini", settings, limit=2).examples
    config = EvalConfig(
        dataset="mini", methods=["lc", "rag", "rag_reorder", "self_route"], ks=[3], retriever="hybrid"
    )
    summary = evaluate(examples, config, settings)
    assert summary.status == "completed" and summary.errors == 0
    assert summary.llm_calls >= 8 and summary.cached_calls == 0
    by_method = {row["method"]: row for row in summary.methods}
    assert by_method["lc"]["token_pct_of_lc"] == 100.0
    assert 0 < by_method["rag"]["token_pct_of_lc"] < 100
    assert 0 <= by_method["self_route"]["answerable_pct"] <= 100
    assert all(0 <= row["score"] <= 100 and row["n"] == 2 for row in summary.methods)
    run = summary.run_id
    assert warehouse_rows(
        settings, "SELECT count(*) FROM predictions WHERE run_id = ? AND error IS NULL", [run]
    ) == [(8,)]
    assert warehouse_rows(settings, "SELECT count(*) FROM scores WHERE run_id = ?", [run]) == [(8,)]
    assert warehouse_rows(
        settings,
        "SELECT count(*), count(*) FILTER (has_evidence) > 0 FROM retrievals WHERE run_id = ?",
        [run],
    ) == [(6, True)]
    assert warehouse_rows(settings, "SELECT status, model FROM eval_runs WHERE run_id = ?", [run]) == [
        ("completed", settings.llm_model)
    ]
    tokens = warehouse_rows(
        settings,
        "SELECT min(prompt_tokens), bool_or(tokens_estimated) FROM predictions WHERE run_id = ?",
        [run],
    )
    assert tokens[0][0] > 0 and tokens[0][1] is False

    resumed = evaluate(examples, EvalConfig(**{**config.__dict__, "run_id": run}), settings)
    assert (resumed.llm_calls, resumed.cached_calls) == (0, 0)  # nothing missing in this run
    again = evaluate(examples, config, settings)  # a new run: every answer comes from the cache
    assert again.llm_calls == 0 and again.cached_calls == summary.llm_calls
    assert [r["score"] for r in again.methods] == [r["score"] for r in summary.methods]


def test_declined_question_goes_to_long_context_and_pays_both_steps(running_services):
    settings = running_services
    context = "Question: What colour is the flag of Quindo? Answer: unanswerable. " * 3
    example = Example(
        _id="decline-1",
        dataset="mini",
        input="What colour is the flag of Quindo?",
        context=context,
        answers=["unanswerable"],
    )
    summary = evaluate(
        [example], EvalConfig(dataset="decline", methods=["lc", "rag", "self_route"], ks=[1]), settings
    )
    rows = dict(
        (method, (route, prompt_tokens, completion_tokens, step1))
        for method, route, prompt_tokens, completion_tokens, step1 in warehouse_rows(
            settings,
            "SELECT method, route, prompt_tokens, completion_tokens, step1_prediction FROM predictions "
            "WHERE run_id = ?",
            [summary.run_id],
        )
    )
    route, prompt_tokens, completion_tokens, step1 = rows["self_route"]
    assert is_declined(step1)
    assert route == "lc"
    assert prompt_tokens == rows["rag"][1] + rows["lc"][1]
    assert completion_tokens > rows["lc"][2]


def test_score_cli_scores_files_made_elsewhere(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"pred": "The Eiffel Tower", "answers": ["Eiffel Tower"], "all_classes": None},
        {"pred": "a cat", "answers": ["dog", "the cat"], "all_classes": None},
        {"pred": "", "answers": ["x"], "all_classes": None},
    ]) + "\n")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "ragroute.cli", "score", "--task", "hotpotqa", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "task": "hotpotqa",
        "n": 3,
        "score": 66.67,
        "per_record": [1.0, 1.0, 0.0],
    }
