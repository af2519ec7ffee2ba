"""Every supported benchmark format runs end to end: the nine LongBench v1 English tasks that are not QA,
LongBench v2 (plain and chain of thought), and LongBench-E lengths, on the real model, Weaviate and DuckDB; a
record its metric cannot score is quarantined before any call."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.benchmarks import NO_CHAT_TEMPLATE_TASKS
from schemas.evaluation import EvalConfig
from schemas.settings import PROJECT_ROOT
from tasks.clients.llm import LLM
from tasks.evaluation.run import run_evaluation
from tests.support.readers import warehouse_rows
from warehouse.report import build_report

STORY = (
    "The lighthouse at Carrow Point was kept by Edith Marlowe from 1881 to 1893. Ships passing the point in "
    "winter signalled with two short horn blasts. The harbour master recorded every wreck in a green ledger. "
)
V1_TASKS: dict[str, dict] = {
    "gov_report": {"input": "", "answers": ["Edith Marlowe kept the Carrow Point light from 1881 to 1893."]},
    "multi_news": {"input": "", "answers": ["A keeper served Carrow Point for twelve years."]},
    "trec": {"input": "Who kept the lighthouse?", "answers": ["Human being"],
             "all_classes": ["Human being", "Location", "Date"]},
    "triviaqa": {"input": "Who kept the lighthouse at Carrow Point?", "answers": ["Edith Marlowe"]},
    "samsum": {"input": "Anna: Did you see the ledger?\nBen: Yes, it is green.", "answers": ["The ledger is green."]},
    "passage_count": {"input": "", "answers": ["2"]},
    "passage_retrieval_en": {"input": "Two short horn blasts in winter.", "answers": ["Paragraph 2"]},
    "lcc": {"input": "", "answers": ["    return total"]},
    "repobench-p": {"input": "def keeper():\n", "answers": ["    return 'Edith Marlowe'"]},
}  # fmt: skip
V2_ITEMS = [
    {"_id": "v2-easy", "domain": "Single-Document QA", "sub_domain": "History", "difficulty": "easy",
     "length": "short", "question": "Who kept the lighthouse at Carrow Point?", "choice_A": "Edith Marlowe",
     "choice_B": "The harbour master", "choice_C": "Ben", "choice_D": "Nobody", "answer": "A", "context": STORY * 4},
    {"_id": "v2-hard", "domain": "Single-Document QA", "sub_domain": "History", "difficulty": "hard",
     "length": "long", "question": "How many years did the keeper serve?", "choice_A": "Two", "choice_B": "Five",
     "choice_C": "Twelve", "choice_D": "Twenty", "answer": "C", "context": STORY * 6},
]  # fmt: skip
METHODS = ["lc", "rag", "self_route"]


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def _v1_record(task: str, number: int = 0, length: int | None = None) -> dict:
    fields = V1_TASKS[task]
    context = (
        STORY * 3 if task not in ("lcc", "repobench-p") else "def total(values):\n    total = sum(values)\n"
    )
    return {"_id": f"{task}-{number}", "dataset": task, "context": context, "all_classes": None,
            "length": length or len(context.split()), "language": "en", **fields}  # fmt: skip


@pytest.fixture(scope="module")
def isolated(running_services, tmp_path_factory):
    return running_services.model_copy(update={"data_dir": tmp_path_factory.mktemp("benchmarks")})


@pytest.mark.parametrize("task", sorted(V1_TASKS))
def test_each_longbench_v1_english_task_runs_every_method(isolated, tmp_path, task):
    data = _write(tmp_path / f"{task}.jsonl", [_v1_record(task)])
    summary = run_evaluation(EvalConfig(dataset=str(data), methods=METHODS, k=[1]), isolated)
    assert summary.status == "completed" and summary.errors == 0
    assert sorted(row["method"] for row in summary.methods) == sorted(METHODS)
    assert all(0 <= row["score"] <= 100 and row["n"] == 1 for row in summary.methods)


def test_an_unscorable_record_is_quarantined_before_any_call_and_the_run_goes_on(isolated, tmp_path):
    """A passage_retrieval_en gold answer that names no "Paragraph N" used to fail the run in scoring, after
    its calls were paid: now it is quarantined when the data set loads and the other record is evaluated."""
    bad = _v1_record("passage_retrieval_en", 1) | {"answers": ["the second paragraph"]}
    data = _write(tmp_path / "retrieval.jsonl", [bad, _v1_record("passage_retrieval_en", 2)])
    summary = run_evaluation(EvalConfig(dataset=str(data), methods=["lc"]), isolated)
    assert summary.status == "completed" and summary.skipped_records == 1
    assert summary.llm_calls + summary.cached_calls == 1  # the good record's one call, none for the bad one
    answered = warehouse_rows(
        isolated, "SELECT example_id FROM predictions WHERE run_id = ?", [summary.run_id]
    )
    assert answered == [("passage_retrieval_en-2",)]
    quarantined = warehouse_rows(isolated, "SELECT reason FROM quarantine WHERE path = ?", [f"{data}:1"])
    assert quarantined == [("unscorable record: gold answer names no 'Paragraph N': 'the second paragraph'",)]


def test_plain_prompts_skip_the_chat_template(isolated):
    """The tasks LongBench sends without a chat template go to the plain completions endpoint."""
    assert {"trec", "triviaqa", "samsum", "lcc", "repobench-p"} <= NO_CHAT_TEMPLATE_TASKS

    async def both() -> tuple:
        llm = LLM(isolated)
        try:
            return await llm.complete("Q: 2+2=\nA:", 4, chat=False), await llm.complete("Q: 2+2=\nA:", 4)
        finally:
            await llm.aclose()

    plain, chat = asyncio.run(both())
    assert plain.ok and chat.ok
    assert plain.prompt_tokens < chat.prompt_tokens  # no template tokens around the plain prompt


def test_longbench_v2_runs_with_accuracy_by_difficulty_and_length(isolated, tmp_path):
    data = _write(tmp_path / "longbench_v2.jsonl", V2_ITEMS)
    summary = run_evaluation(EvalConfig(dataset=str(data), methods=METHODS, k=[1]), isolated)
    assert summary.status == "completed" and summary.errors == 0
    rows = warehouse_rows(
        isolated,
        "SELECT method, n, overall, easy, hard, short, medium, long FROM longbench_v2_accuracy "
        "WHERE run_id = ? ORDER BY method",
        [summary.run_id],
    )
    assert [row[:2] for row in rows] == [("lc", 2), ("rag", 2), ("self_route", 2)]
    for _, _, overall, easy, hard, short, medium, long in rows:
        assert overall in (0.0, 50.0, 100.0) and easy in (0.0, 100.0) and hard in (0.0, 100.0)
        assert (short, long) == (easy, hard) and medium is None  # one easy-short and one hard-long item

    cot = run_evaluation(
        EvalConfig(dataset=str(data), methods=["lc"], longbench_v2_prompt="0shot_cot"), isolated
    )
    plain_lc = next(row for row in summary.methods if row["method"] == "lc")
    assert cot.errors == 0 and cot.methods[0]["prompt_tokens"] > plain_lc["prompt_tokens"]  # two calls each

    report = build_report(isolated.warehouse_path, tmp_path / "report.html", summary.run_id).read_text()
    assert "LongBench v2 accuracy by difficulty and length" in report
    assert "No LongBench v2 runs yet" not in report


def test_longbench_e_lengths_give_buckets(isolated, tmp_path):
    records = [_v1_record("triviaqa", n, length) for n, length in enumerate((1200, 5000, 9000))]
    data = _write(tmp_path / "triviaqa_e.jsonl", [r | {"dataset": "triviaqa_e"} for r in records])
    summary = run_evaluation(EvalConfig(dataset=str(data), methods=["lc"]), isolated)
    buckets = warehouse_rows(
        isolated, "SELECT bucket, n FROM length_buckets WHERE run_id = ? ORDER BY bucket", [summary.run_id]
    )
    assert buckets == [("0-4k", 1), ("4-8k", 1), ("8k+", 1)]
    report = build_report(isolated.warehouse_path, tmp_path / "report.html", summary.run_id).read_text()
    assert "No runs on data with context lengths yet" not in report


def test_eval_cli_runs_a_longbench_v2_file(isolated, tmp_path):
    data = _write(tmp_path / "v2.jsonl", V2_ITEMS[:1])
    env = {"RAGROUTE_DATA_DIR": str(isolated.data_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "ragroute.cli", "eval", "--dataset", str(data), "--methods", "lc,rag,self_route",
         "--k", "1", "--json"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["status"] == "completed" and {m["method"] for m in result["methods"]} == set(METHODS)
