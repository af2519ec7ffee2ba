"""Prompts, the decline check, reordering, the mini benchmark and the data set loaders."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from schemas.benchmarks import UNANSWERABLE_CLAUSE, prompt_template, self_route_template
from tasks.evaluation.datasets import DatasetUnavailable, load_and_quarantine, load_dataset, load_jsonl
from tasks.evaluation.mini import generate
from tasks.evaluation.retrieval import reorder
from tasks.routing.self_route import is_declined
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
    assert kinds.count("answerable") == kinds.count("multi_hop") == kinds.count("unanswerable") == 2
    for example in first:
        assert example.length > 1000
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


def test_offline_hub_error_says_where_to_put_the_file(settings, tmp_path):
    # hub_offline: what HF_HUB_OFFLINE=1 set by the user means
    offline = settings.model_copy(update={"hub_offline": True, "data_dir": tmp_path})
    with pytest.raises(DatasetUnavailable, match=r"put it at .*narrativeqa\.jsonl"):
        load_dataset("narrativeqa", offline)


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
