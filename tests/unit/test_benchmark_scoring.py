"""Benchmark formats and scores: LongBench v1's 16 English tasks (and LongBench-E's length buckets), ∞Bench
En.QA / En.MC and LongBench v2, each on crafted predictions whose expected values were worked out by hand from
the official rules. Files are written by the tests in each benchmark's own format. No services, no network."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from schemas.benchmarks import (
    LONG_BENCH_PROMPTS,
    MAX_NEW_TOKENS,
    NO_CHAT_TEMPLATE_TASKS,
    UNANSWERABLE_CLAUSE,
    prompt_template,
    self_route_template,
    uses_chat_template,
)
from tasks.evaluation.datasets import load_jsonl
from tasks.evaluation.longbench_v2 import extract_answer
from tasks.evaluation.scoring import (
    TASK_METRICS,
    infbench_mc_score,
    length_bucket,
    longbench_e_scores,
    score_file,
    score_record,
    score_task,
)

ENGLISH_TASKS = [
    "narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique", "gov_report", "qmsum",
    "multi_news", "trec", "triviaqa", "samsum", "passage_count", "passage_retrieval_en", "lcc", "repobench-p",
]  # fmt: skip
# sha256 (first 16 hex digits) of each prompt in LongBench/config/dataset2prompt.json at THUDM/LongBench 2e00731.
OFFICIAL_PROMPT_SHA = {
    "narrativeqa": "aada7ed24b06abac", "qasper": "0fbdd123fe7f83d6", "multifieldqa_en": "20b4666a2de8a1f7",
    "hotpotqa": "9ec4ae308865bd0c", "2wikimqa": "9ec4ae308865bd0c", "musique": "9ec4ae308865bd0c",
    "gov_report": "91c25d585b189ced", "qmsum": "dca23b678fe0183b", "multi_news": "2af3f28c40b902e6",
    "trec": "0eff8bebdba99d91", "triviaqa": "00a802e6377e72fc", "samsum": "a68d884234907eef",
    "passage_count": "986550b6c61009c6", "passage_retrieval_en": "39b96b7fa52bdd2a", "lcc": "6a1f24cf0bb83cd9",
    "repobench-p": "ee9ec182ea5ffeb7",
}  # fmt: skip
# LongBench/config/dataset2maxlen.json
OFFICIAL_MAX_LEN = {
    "narrativeqa": 128, "qasper": 128, "multifieldqa_en": 64, "hotpotqa": 32, "2wikimqa": 32, "musique": 32,
    "gov_report": 512, "qmsum": 512, "multi_news": 512, "trec": 64, "triviaqa": 32, "samsum": 128,
    "passage_count": 32, "passage_retrieval_en": 32, "lcc": 64, "repobench-p": 64,
}  # fmt: skip
OPTIONS = ["red", "blue", "green", "yellow"]


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text(
        "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8"
    )
    return path


# -- prompts -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", ENGLISH_TASKS)
def test_every_english_task_has_the_official_prompt_and_length(task: str) -> None:
    assert hashlib.sha256(prompt_template(task).encode("utf-8")).hexdigest()[:16] == OFFICIAL_PROMPT_SHA[task]
    assert MAX_NEW_TOKENS[task] == OFFICIAL_MAX_LEN[task]


def test_tasks_sent_without_the_chat_template() -> None:
    # pred.py: `if dataset not in ["trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"]: build_chat(...)`
    assert frozenset({"trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"}) == NO_CHAT_TEMPLATE_TASKS
    assert not uses_chat_template("lcc")
    assert uses_chat_template("gov_report") and uses_chat_template("longbench_v2")


def test_few_shot_and_code_prompts_fill_from_the_record() -> None:
    record = {
        "context": "Question: Who wrote Hamlet?\nType: Human being\n",
        "input": "Question: How far is it?\nType:",
    }
    assert prompt_template("trec").format(**record) == (
        "Please determine the type of the question below. Here are some examples of questions.\n\n"
        "Question: Who wrote Hamlet?\nType: Human being\n\nQuestion: How far is it?\nType:"
    )
    code = {"context": "import os\ndef f():\n", "input": "# cross-file: utils.py\n"}
    assert prompt_template("repobench-p").format(**code) == (
        "Please complete the code given below. \nimport os\ndef f():\n# cross-file: utils.py\nNext line of code:\n"
    )


@pytest.mark.parametrize("task", sorted(LONG_BENCH_PROMPTS))
def test_self_route_template_works_for_every_prompt(task: str) -> None:
    original = prompt_template(task)
    routed = self_route_template(task)
    if '"unanswerable"' in original:
        assert routed == original
        return
    assert routed.count(UNANSWERABLE_CLAUSE) in (1, 2)
    head = routed.split("\n", 1)[0]
    assert head.endswith(" " + UNANSWERABLE_CLAUSE) and not head.endswith("  " + UNANSWERABLE_CLAUSE)
    # Take the clause out again: the official prompt comes back (bar a trailing space before the first break).
    expected = original.replace(" \n", "\n", 1) if original.split("\n", 1)[0].endswith(" ") else original
    assert routed.replace(" " + UNANSWERABLE_CLAUSE, "") == expected
    filled = routed.format(context="CONTEXT", input="INPUT", options="A. x")
    assert "CONTEXT" in filled and "{" not in filled.replace("{B}", "")


def test_self_route_template_places_the_clause_once_without_a_question_cue() -> None:
    assert self_route_template("gov_report") == (
        "You are given a report by a government agency. Write a one-page summary of the report. "
        + UNANSWERABLE_CLAUSE
        + "\n\nReport:\n{context}\n\nNow, write a one-page summary of the report.\n\nSummary:"
    )
    assert self_route_template("lcc") == (
        "Please complete the code given below. " + UNANSWERABLE_CLAUSE + "\n{context}Next line of code:\n"
    )
    with pytest.raises(ValueError, match="longbench_v2"):
        prompt_template("longbench_v2")


# -- LongBench v1 task families ------------------------------------------------------------------------------------
def test_summarisation_tasks_use_rouge_l_f() -> None:
    # rouge 1.0.1, summary-level ROUGE-L on distinct words: "the cat sat" vs "the cat sat on a mat":
    # LCS 3, P = 3/3, R = 3/6, F = 2PR / (P + R + 1e-8) = 2/3.
    for task in ("gov_report", "multi_news", "qmsum"):
        assert score_record(task, "the cat sat", ["the cat sat on a mat"]) == pytest.approx(2 / 3, abs=1e-7)
        assert score_record(task, "", ["the cat sat"]) == 0.0
    records = [
        {"pred": "the cat sat on a mat", "answers": ["the cat sat on a mat"]},  # 2·1·1/(2 + 1e-8) ≈ 1
        {"pred": "the cat sat", "answers": ["the cat sat on a mat"]},
    ]
    assert score_task("gov_report", records)[0] == 83.33  # 100 · (1 + 2/3) / 2 = 83.333…


def test_samsum_scores_the_first_line_only() -> None:
    prediction = "\nthe cat sat\nDialogue: the cat sat on a mat"
    assert score_record("samsum", prediction, ["the cat sat on a mat"]) == pytest.approx(2 / 3, abs=1e-7)


def test_triviaqa_first_line_then_token_f1() -> None:
    # First line "Paris" against "paris": F1 1. The rest ("Question: ...") is dropped before scoring.
    assert (
        score_record("triviaqa", "Paris\nQuestion: What is the capital of Italy?", ["Rome", "paris"]) == 1.0
    )
    # "the big cat" → ["big", "cat"] against ["cat"]: P 1/2, R 1, F1 2/3.
    assert score_record("triviaqa", "the big cat", ["Cat"]) == pytest.approx(2 / 3)


def test_trec_classification() -> None:
    classes = ["Numeric", "Numeric value", "Location", "Other"]
    assert score_record("trec", "Location\nType: Numeric", ["Location"], all_classes=classes) == 1.0
    # Named: Numeric, Numeric value, Location; "Numeric" is part of the gold "Numeric value", so not counted: 1/2.
    assert score_record("trec", "Numeric value or Location", ["Numeric value"], all_classes=classes) == 0.5
    # Gold "Numeric": none of the other named classes is part of it, so 1/3.
    assert score_record(
        "trec", "Numeric value or Location", ["Numeric"], all_classes=classes
    ) == pytest.approx(1 / 3)
    assert score_record("trec", "Other", ["Location"], all_classes=classes) == 0.0


def test_synthetic_tasks() -> None:
    assert score_record("passage_count", "There are 3 unique paragraphs, not 4", ["3"]) == 0.5
    assert score_record("passage_count", "none", ["3"]) == 0.0
    assert score_record("passage_retrieval_en", "Paragraph 12", ["Paragraph 12"]) == 1.0
    assert score_record("passage_retrieval_en", "Paragraph 1 or Paragraph 12", ["Paragraph 12"]) == 0.5


def test_code_tasks() -> None:
    # The first line with none of ` # // decides; fuzz.ratio("return a", "return b") = round(100·14/16) = 88.
    for task in ("lcc", "repobench-p"):
        assert score_record(task, "```python\n    return x + 1\n```", ["    return x + 1"]) == 1.0
        assert score_record(task, "# the fix\nreturn a", ["return b"]) == 0.88
        assert score_record(task, "", ["return b"]) == 0.0


def test_longbench_file_for_each_new_task(tmp_path: Path) -> None:
    # A LongBench prediction file as its pred.py writes it: pred, answers, all_classes, length.
    cases = {
        "gov_report": ("the cat sat", ["the cat sat on a mat"], None, 66.67),
        "multi_news": ("the cat sat on a mat", ["the cat sat on a mat"], None, 100.0),
        "trec": ("Location\nmore", ["Location"], ["Location", "Other"], 100.0),
        "triviaqa": ("the big cat\nQuestion:", ["Cat"], None, 66.67),
        "samsum": ("the cat sat\nDialogue:", ["the cat sat on a mat"], None, 66.67),
        "passage_count": ("3 or 4", ["3"], None, 50.0),
        "passage_retrieval_en": ("Paragraph 2", ["Paragraph 2"], None, 100.0),
        "lcc": ("// note\nreturn a", ["return b"], None, 88.0),
        "repobench-p": ("return b", ["return b"], None, 100.0),
    }
    for task, (pred, answers, classes, expected) in cases.items():
        path = _write_jsonl(
            tmp_path / f"{task}.jsonl",
            [{"pred": pred, "answers": answers, "all_classes": classes, "length": 900}],
        )
        result = score_file(task, path)
        assert result["score"] == expected, task
        assert result["length_buckets"] == {"0-4k": expected, "4-8k": None, "8k+": None}, task


# -- LongBench-E ---------------------------------------------------------------------------------------------------
def test_length_buckets_edges() -> None:
    assert [length_bucket(n) for n in (0, 3999, 4000, 7999, 8000, 250000)] == [
        "0-4k", "0-4k", "4-8k", "4-8k", "8k+", "8k+",
    ]  # fmt: skip


LONGBENCH_E = [
    {"pred": "cat", "answers": ["cat"], "length": 1200},  # 1
    {"pred": "cat dog", "answers": ["cat"], "length": 3999},  # P 1/2, R 1: 2/3
    {"pred": "dog", "answers": ["cat"], "length": 4000},  # 0
    {"pred": "cat", "answers": ["cat"], "length": 7999},  # 1
    {"pred": "cat", "answers": ["cat"], "length": 8000},  # 1
    {"pred": "a big cat", "answers": ["cat"], "length": 25000},  # "big cat": 2/3
]


def test_longbench_e_scores_per_bucket(tmp_path: Path) -> None:
    # 0-4k: (1 + 2/3) / 2 → 83.33; 4-8k: (0 + 1) / 2 → 50.0; 8k+: (1 + 2/3) / 2 → 83.33.
    assert longbench_e_scores("hotpotqa", LONGBENCH_E) == {"0-4k": 83.33, "4-8k": 50.0, "8k+": 83.33}
    assert longbench_e_scores("hotpotqa_e", LONGBENCH_E[:2]) == {"0-4k": 83.33, "4-8k": None, "8k+": None}
    result = score_file("hotpotqa", _write_jsonl(tmp_path / "hotpotqa.jsonl", LONGBENCH_E))
    assert result["score"] == 72.22  # (1 + 2/3 + 0 + 1 + 1 + 2/3) / 6 = 0.72222…
    assert result["length_buckets"] == {"0-4k": 83.33, "4-8k": 50.0, "8k+": 83.33}
    with pytest.raises(ValueError, match="length"):
        longbench_e_scores("hotpotqa", [{"pred": "cat", "answers": ["cat"]}])


def test_longbench_e_first_line_rule_applies_per_bucket() -> None:
    records = [{"pred": "Paris\nQuestion: x", "answers": ["Paris"], "length": 5000}]
    assert longbench_e_scores("triviaqa", records) == {"0-4k": None, "4-8k": 100.0, "8k+": None}


def test_longbench_e_records_load_as_their_task(tmp_path: Path) -> None:
    line = {"input": "q", "context": "c", "answers": ["a"], "length": 4321, "dataset": "qasper_e",
            "language": "en", "all_classes": None, "_id": "e1"}  # fmt: skip
    loaded = load_jsonl(_write_jsonl(tmp_path / "qasper_e.jsonl", [line]))
    assert loaded.examples[0].dataset == "qasper" and loaded.examples[0].length == 4321


# -- ∞Bench En.MC ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("B", 1.0),
        ("B. blue", 1.0),
        ("Blue", 1.0),  # a leading capital B: the letter decides
        ("Clearly the answer is B", 0.0),  # a leading C decides, whatever follows
        ("Definitely B", 0.0),
        ("ABCD", 0.0),
        ("blue", 1.0),  # exact match with the option text
        ("b", 0.0),  # lower-case letters never count
        ("The answer is: c", 0.0),
        ("The answer is: B", 1.0),
        ("The answer is:B", 0.0),  # exactly one character is skipped after the prefix: here the B itself
        ("The answer:B", 0.0),
        ("The answer is  blue", 1.0),  # double spaces collapse first
        ("Thus the answer is\nB.", 1.0),  # newline and full stop become spaces
        ("the answer is (B)", 0.0),  # brackets are not blanked: "(B)" does not start with B
        ("The answer is", 0.0),  # ends with the prefix
        ("The answer is blue, not red", 1.0),
        ("so answer: B, but the answer is: C", 0.0),  # prefixes are tried in list order: "answer is:" first
        ("I think the option is {B}", 1.0),
        ("Option B", 1.0),  # no prefix: the first word inside "ABCD" decides
        ("It is B", 1.0),
        ("I pick C", 0.0),
        ("maybe AB or B", 0.0),  # "AB" is a substring of "ABCD": it decides, and is not the answer
        ("maybe BD or B", 1.0),  # "BD" is not a substring: the search goes on to B
        ("{B}", 1.0),
        ("red", 0.0),
        ("", 0.0),
        ("   ", 0.0),
    ],
)
def test_infbench_mc_official_rule(prediction: str, expected: float) -> None:
    assert score_record("infbench_en_mc", prediction, ["blue"], options=OPTIONS) == expected
    assert score_record("infbench_en_mc", prediction, ["B"], options=OPTIONS) == expected
    # ∞Bench's own label, [option text, letter], without the options.
    assert score_record("infbench_en_mc", prediction, ["blue", "B"]) == expected
    assert infbench_mc_score(prediction, "blue", options=OPTIONS) == expected


def test_infbench_prediction_files_in_its_own_field_names(tmp_path: Path) -> None:
    # As ∞Bench's eval scripts write them: id, prediction, ground_truth (get_answer: [text, letter] for MC).
    mc = _write_jsonl(tmp_path / "preds_longbook_choice_eng.jsonl", [
        {"id": 0, "prediction": "B", "ground_truth": ["blue", "B"]},
        {"id": 1, "prediction": "The answer is:C", "ground_truth": ["green", "C"]},  # skips the C: wrong
        {"id": 2, "prediction": "It is green", "ground_truth": ["green", "C"]},  # no letter word: wrong
    ])  # fmt: skip
    result = score_file("infbench_en_mc", mc)
    assert (result["score"], result["per_record"]) == (33.33, [1.0, 0.0, 0.0])
    assert "length_buckets" not in result
    qa = _write_jsonl(tmp_path / "preds_longbook_qa_eng.jsonl", [
        {"id": 0, "prediction": "The Eiffel Tower.", "ground_truth": ["Eiffel Tower", "tower"]},  # 1
        {"id": 1, "pred": "big red barn", "label": ["red barn"]},  # P 2/3, R 1: 0.8
    ])  # fmt: skip
    assert score_file("infbench_en_qa", qa)["score"] == 90.0


def test_infbench_data_records_load_in_its_own_field_names(tmp_path: Path) -> None:
    mc = {"id": 7, "context": "book", "input": "Which colour?", "answer": ["blue"], "options": OPTIONS}
    qa = {"id": 8, "context": "book", "input": "Who?", "answer": ["Ann"], "options": []}
    loaded = load_jsonl(_write_jsonl(tmp_path / "my_infbench.jsonl", [mc, qa]))
    assert [(e.id, e.dataset, e.answers, e.options) for e in loaded.examples] == [
        ("7", "infbench_en_mc", ["blue"], OPTIONS),
        ("8", "infbench_en_qa", ["Ann"], None),
    ]
    named = load_jsonl(_write_jsonl(tmp_path / "longbook_choice_eng.jsonl", [mc]))
    assert named.examples[0].dataset == "infbench_en_mc"


# -- LongBench v2 -------------------------------------------------------------------------------------------------
def test_longbench_v2_metric() -> None:
    assert TASK_METRICS["longbench_v2"].__name__ == "longbench_v2_score"
    assert score_record("longbench_v2", "**The correct answer is (B)**", ["B"]) == 1.0
    assert score_record("longbench_v2", "The correct answer is B", ["B"]) == 1.0
    assert score_record("longbench_v2", "B", ["B"]) == 0.0  # no "The correct answer is": no answer
    assert score_record("longbench_v2", "The correct answer is (A)", ["B"]) == 0.0


def test_longbench_v2_official_result_file(tmp_path: Path) -> None:
    def line(difficulty: str, length: str, response: str, answer: str) -> dict:
        pred = extract_answer(response)  # as pred.py stores it
        return {"_id": response[-4:], "domain": "d", "sub_domain": "s", "difficulty": difficulty, "length": length,
                "question": "q", "choice_A": "a", "choice_B": "b", "choice_C": "c", "choice_D": "d",
                "answer": answer, "context": "ctx", "response": response, "pred": pred, "judge": pred == answer}  # fmt: skip

    lines = [
        line("easy", "short", "The correct answer is (A)", "A"),
        line("easy", "long", "The correct answer is (B)", "C"),
        line("hard", "medium", "Hmm. The correct answer is (D)", "D"),
    ]
    result = score_file("longbench_v2", _write_jsonl(tmp_path / "model.jsonl", lines))
    # 2 of 3 → 66.666… → 66.7 (one decimal, as result.py); easy 1/2 = 50.0; hard 1/1; short 1/1; medium 1/1;
    # long 0/1.
    assert result["score"] == 66.7
    assert result["per_record"] == [1.0, 0.0, 1.0]
    assert result["breakdown"] == {
        "n": 3, "overall": 66.7, "easy": 50.0, "hard": 100.0, "short": 100.0, "medium": 100.0, "long": 0.0,
    }  # fmt: skip


def test_longbench_v2_ragroute_prediction_file(tmp_path: Path) -> None:
    records = [
        {"pred": "The correct answer is (C)", "answers": ["C"]},
        {"pred": "C", "answers": ["C"]},
        {"pred": "I cannot say.", "answers": ["A"]},
        {"pred": None, "judge": False, "answer": "B"},  # an official line that lost its response
    ]
    result = score_file("longbench_v2", _write_jsonl(tmp_path / "v2.jsonl", records))
    assert result["score"] == 25.0 and result["per_record"] == [1.0, 0.0, 0.0, 0.0]
    assert "breakdown" not in result  # no difficulty / length to break down by
    assert score_task("longbench_v2", records[:3])[0] == 33.3  # 1/3 → 33.333… → 33.3
