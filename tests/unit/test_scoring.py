"""Scoring metrics against hand-computed LongBench / ∞Bench values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.evaluation.scoring import (
    SUPPORTED_TASKS,
    TASK_METRICS,
    classification_score,
    code_sim_score,
    count_score,
    normalize_answer,
    qa_f1_score,
    retrieval_score,
    rouge_score,
    score_file,
    score_record,
    score_task,
)

OPTIONS = ["red", "blue", "green", "yellow"]
CLASSES = ["Numeric", "Numeric value", "Other"]


def test_normalize_answer_order_and_unicode() -> None:
    assert normalize_answer("  The Cat,  sat on A mat! ") == "cat sat on mat"
    assert normalize_answer("“cat”") == "“cat”"  # unicode quotes are not ASCII punctuation
    assert normalize_answer("an-apple") == "anapple"  # punctuation goes before the article rule


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("The cat", "a cat", 1.0),
        ("cat,", "cat", 1.0),
        ("“cat”", "cat", 0.0),
        ("", "cat", 0.0),
        ("red big ball", "big red ball toy", 6 / 7),  # P = 3/3, R = 3/4
        ("cat cat dog", "cat dog dog", 2 / 3),  # overlap counts multiplicity: {cat: 1, dog: 1}
    ],
)
def test_qa_f1(prediction: str, gold: str, expected: float) -> None:
    assert qa_f1_score(prediction, gold) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("", "the cat", 0.0),
        ("the the the cat", "the cat", 0.99999999),
        ("The cat sat on the mat.", "the cat sat on the mat", 0.90909),
        ("cat, dog", "cat dog", 0.5),
    ],
)
def test_rouge_l(prediction: str, gold: str, expected: float) -> None:
    assert rouge_score(prediction, gold) == pytest.approx(expected, abs=1e-4)


def test_multiple_golds_take_the_max() -> None:
    assert score_record("hotpotqa", "Barack Obama", ["Michelle", "Obama", "Barack Obama"]) == 1.0
    assert score_record("narrativeqa", "red big ball", ["nothing", "big red ball toy"]) == pytest.approx(
        6 / 7
    )
    assert score_record("mini", "", ["x", "y"]) == 0.0


def test_first_line_rule() -> None:
    assert score_record("triviaqa", "\nParis\nnot London", ["Paris"]) == 1.0
    assert score_record("triviaqa", "London\nParis", ["Paris"]) == 0.0
    assert score_record("hotpotqa", "London\nParis", ["Paris"]) == pytest.approx(2 / 3)  # no rule here
    classes = ["Location", "Human"]
    assert score_record("trec", "Location\nHuman", ["Location"], all_classes=classes) == 1.0
    assert score_record("trec", "Human\nLocation", ["Location"], all_classes=classes) == 0.0


def test_classification_substring_class() -> None:
    # "Numeric" is a proper substring of the gold "Numeric value", so it does not dilute the score.
    assert classification_score("Numeric value", "Numeric value", all_classes=CLASSES) == 1.0
    assert classification_score("Numeric or Other", "Other", all_classes=CLASSES) == 0.5
    assert classification_score("Numeric", "Numeric value", all_classes=CLASSES) == 0.0
    assert classification_score("Other", "Other", all_classes=None) == 0.0


def test_retrieval_and_count() -> None:
    assert retrieval_score("Paragraph 3, maybe 12", "Paragraph 3") == 0.5
    assert retrieval_score("Paragraph 13", "Paragraph 3") == 0.0
    assert retrieval_score("no idea", "Paragraph 3") == 0.0
    assert count_score("5 unique, 5 total, 7 shown", "5") == pytest.approx(2 / 3)
    assert count_score("none", "5") == 0.0
    assert score_record("passage_count", "There are 4", ["4"]) == 1.0


def test_code_sim_uses_first_non_comment_line() -> None:
    prediction = "\n# a comment\n```python\n// also skipped\nx = foo(1)\ny = 2"
    assert code_sim_score(prediction, "x = foo(1)") == 1.0
    assert code_sim_score("x = foo(2)", "x = foo(1)") == 0.9
    assert code_sim_score("# only a comment", "abc") == 0.0
    assert score_record("lcc", prediction, ["x = foo(1)"]) == 1.0


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("B", 1.0),
        ("C", 0.0),
        ("The answer is: B", 1.0),
        ("The answer is: C", 0.0),
        ("blue", 1.0),
        ("green", 0.0),
        ("The answer is blue.", 1.0),
        ("I think the option is {B}", 1.0),
        ("maybe B or C", 1.0),  # the first lone letter decides
        ("Answer: B", 0.0),  # official quirk: a leading A-D letter decides first
        ("garbage", 0.0),
        ("   ", 0.0),
    ],
)
def test_infbench_mc(prediction: str, expected: float) -> None:
    assert score_record("infbench_en_mc", prediction, ["blue"], options=OPTIONS) == expected
    assert score_record("infbench_en_mc", prediction, ["B"], options=OPTIONS) == expected


def test_infbench_qa_uses_normalised_f1() -> None:
    assert score_record("infbench_en_qa", "The Eiffel Tower.", ["nope", "eiffel tower"]) == 1.0


def test_supported_tasks() -> None:
    assert set(SUPPORTED_TASKS) == set(TASK_METRICS)
    assert {"mini", "infbench_en_qa", "infbench_en_mc", "repobench-p", "passage_retrieval_en"} <= set(
        SUPPORTED_TASKS
    )
    assert TASK_METRICS["mini"] is qa_f1_score


def test_score_task_rounding() -> None:
    records = [
        {"pred": "cat", "answers": ["cat"]},  # 1
        {"pred": "dog", "answers": ["cat"]},  # 0
        {"pred": "cat dog", "answers": ["cat"]},  # P = 1/2, R = 1 -> 2/3
    ]
    score, per_record = score_task("mini", records)
    assert per_record == pytest.approx([1.0, 0.0, 2 / 3])
    assert score == 55.56
    score, per_record = score_task(
        "passage_count", [{"pred": "1", "answers": ["1"]}, {"pred": "2", "answers": ["1"]}]
    )
    assert (score, per_record) == (50.0, [1.0, 0.0])
    assert score_task("mini", []) == (0.0, [])


def test_score_task_half() -> None:
    records = [
        {"pred": "2", "answers": ["2"]},  # 1
        {"pred": "7", "answers": ["2"]},  # 0
        {"pred": "2 9", "answers": ["2"]},  # 1/2
    ]
    assert score_task("passage_count", records) == (50.0, [1.0, 0.0, 0.5])


def test_score_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    rows = [
        {"pred": "Location", "answers": ["Location"], "all_classes": ["Location", "Human"]},
        {"pred": "Human or Location", "answers": ["Location"], "all_classes": ["Location", "Human"]},
        {"pred": "Entity", "answers": ["Location"], "all_classes": ["Location", "Human"]},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", encoding="utf-8")
    result = score_file("trec", path)
    assert result == {"task": "trec", "n": 3, "score": 50.0, "per_record": [1.0, 0.5, 0.0]}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"answers": ["x"]}', "'pred'"),
        ('{"pred": "x", "answers": "x"}', "'answers'"),
        ('{"pred": "x", "answers": ["x"], "options": "abc"}', "'options'"),
    ],
)
def test_score_file_malformed_line(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"pred": "x", "answers": ["x"]}) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"bad\.jsonl:2: .*{reason}"):
        score_file("mini", path)


def test_unknown_task() -> None:
    with pytest.raises(ValueError, match=r"unknown task 'nope'.*supported tasks:.*narrativeqa"):
        score_record("nope", "x", ["x"])
    with pytest.raises(ValueError, match="unknown task 'nope'"):
        score_task("nope", [])
