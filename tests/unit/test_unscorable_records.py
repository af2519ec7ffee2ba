"""A benchmark record its metric cannot score is quarantined when the data set loads, before any LLM call: named
by data set, record and reason, recorded once in the warehouse, and the other records load."""

from __future__ import annotations

import json

import pytest

from tasks.evaluation import scoring
from tasks.evaluation.datasets import load_and_quarantine
from warehouse.db import session

CONTEXT = "Paragraph 1: the tide. Paragraph 2: the harbour."


def _record(record_id: str, dataset: str, answers: list[str], **fields) -> dict:
    return {"_id": record_id, "dataset": dataset, "input": "which?", "context": CONTEXT, "answers": answers,
            **fields}  # fmt: skip


# One record per metric precondition: (record, the reason it cannot be scored).
UNSCORABLE = [
    (_record("pr-bad", "passage_retrieval_en", ["the second one"]), "gold answer names no 'Paragraph N'"),
    (_record("pr-half", "passage_retrieval_en", ["Paragraph 2", "two"]), "gold answer names no 'Paragraph N'"),
    (_record("count-bad", "passage_count", ["two"]), "gold count 'two' is not a whole number"),
    (_record("trec-none", "trec", ["Location"]), "no class list (all_classes)"),
    (_record("trec-out", "trec", ["Animal"], all_classes=["Location", "Date"]),
     "gold class 'Animal' is not in all_classes"),
    (_record("qa-empty", "hotpotqa", []), "no gold answer"),
    (_record("qa-blank", "hotpotqa", ["  "]), "no gold answer"),
    (_record("mc-none", "infbench_en_mc", ["Ann"]), "no options to choose from"),
    (_record("mc-out", "infbench_en_mc", ["Zed"], options=["Ann", "Bob"]),
     "gold answer 'Zed' is neither an option nor its letter"),
    (_record("unknown-task", "no_such_task", ["x"]), "unknown task 'no_such_task'"),
]  # fmt: skip
SCORABLE = [
    _record("pr-good", "passage_retrieval_en", ["Paragraph 2"]),
    _record("count-good", "passage_count", ["2"]),
    _record("trec-good", "trec", ["Location"], all_classes=["Location", "Date"]),
    _record("qa-good", "hotpotqa", ["the harbour"]),
    _record("mc-good", "infbench_en_mc", ["B"], options=["Ann", "Bob"]),
    _record("sum-good", "gov_report", ["A summary."]),
]


@pytest.mark.parametrize(("record", "reason"), UNSCORABLE, ids=[r["_id"] for r, _ in UNSCORABLE])
def test_each_metric_precondition_names_the_reason(record, reason):
    why = scoring.unscorable(
        record["dataset"], record["answers"], record.get("all_classes"), record.get("options")
    )
    assert why is not None and reason in why


@pytest.mark.parametrize("record", SCORABLE, ids=[r["_id"] for r in SCORABLE])
def test_a_scorable_record_passes_and_scores_its_own_gold_answer(record):
    answers, classes, options = record["answers"], record.get("all_classes"), record.get("options")
    assert scoring.unscorable(record["dataset"], answers, classes, options) is None
    scoring.score_record(record["dataset"], answers[0], answers, classes, options)  # raises nothing


def test_unscorable_records_are_quarantined_at_load_and_the_rest_loads(settings, tmp_path):
    data = tmp_path / "mixed.jsonl"
    records = [record for record, _ in UNSCORABLE] + SCORABLE
    data.write_text("".join(json.dumps(record) + "\n" for record in records))
    for _ in range(2):  # loaded twice (a resumed run, the nightly's fingerprint): recorded once
        loaded = load_and_quarantine(str(data), settings)
        assert [e.id for e in loaded.examples] == [r["_id"] for r in SCORABLE]
        assert len(loaded.problems) == len(UNSCORABLE)
    details = [p.detail for p in loaded.problems]
    for (record, reason), detail in zip(UNSCORABLE, details, strict=True):
        assert f"data set mixed, record {record['_id']}:" in detail and reason in detail
    with session(settings.warehouse_path) as con:
        rows = con.execute(
            "SELECT path, stage, reason FROM quarantine WHERE path LIKE ? ORDER BY path", [f"{data}:%"]
        ).fetchall()
    lines = [f"{data}:{number}" for number in range(1, len(UNSCORABLE) + 1)]
    assert sorted(path for path, _, _ in rows) == sorted(lines)  # once each, however often loaded
    assert all(stage == "dataset" and reason.startswith("unscorable record: ") for _, stage, reason in rows)
