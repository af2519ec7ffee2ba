"""The evaluation engine against real Weaviate, the real local model and DuckDB."""

from __future__ import annotations

from schemas.benchmarks import Example
from schemas.evaluation import EvalConfig
from tasks.evaluation.benchmark import evaluate_benchmark as evaluate
from tasks.evaluation.datasets import load_dataset
from tasks.evaluation.summary import notes
from tasks.routing.self_route import is_declined
from tests.support.readers import warehouse_rows


def test_end_to_end_mini_run_then_rerun_makes_no_llm_call(running_services, tmp_path):
    # A data dir of its own: an empty response cache and warehouse, whatever ran before in the session.
    settings = running_services.model_copy(update={"data_dir": tmp_path / "data"})
    examples = load_dataset("mini", settings, limit=2).examples
    methods = ["lc", "rag", "rag_reorder", "rag_docorder", "self_route"]
    config = EvalConfig(dataset="mini", methods=methods, k=[3], retriever="hybrid")
    summary = evaluate(examples, config, settings)
    assert summary.status == "completed" and summary.errors == 0
    assert summary.llm_calls >= 10 and summary.cached_calls == 0
    # Every ordering differs from rag at k = 3, and 3 chunks never hold a whole ~4,000-word report.
    assert sorted(row["method"] for row in summary.methods) == sorted(methods)
    assert summary.skipped == [] and summary.whole_context == []
    by_method = {row["method"]: row for row in summary.methods}
    assert by_method["lc"]["token_pct_of_lc"] == 100.0
    assert 0 < by_method["rag"]["token_pct_of_lc"] < 100
    assert 0 <= by_method["self_route"]["answerable_pct"] <= 100
    assert all(0 <= row["score"] <= 100 and row["n"] == 2 for row in summary.methods)
    # mini's examples have kinds: each method is scored per kind, and Self-Route's declines are counted.
    kinds = sorted({example.kind for example in examples})
    assert sorted((row["method"], row["kind"]) for row in summary.kinds) == sorted(
        (method, kind) for method in methods for kind in kinds
    )
    [declines] = summary.declines
    assert (declines["k"], declines["n"]) == (3, 2)
    assert declines["unanswerable"] == sum(example.kind == "unanswerable" for example in examples)
    run = summary.run_id
    assert warehouse_rows(
        settings, "SELECT count(*) FROM predictions WHERE run_id = ? AND error IS NULL", [run]
    ) == [(10,)]
    assert warehouse_rows(settings, "SELECT count(*) FROM scores WHERE run_id = ?", [run]) == [(10,)]
    assert warehouse_rows(
        settings,
        "SELECT count(*), count(*) FILTER (has_evidence) > 0, min(context_chunks), max(context_chunks) "
        "FROM retrievals WHERE run_id = ?",
        [run],
    ) == [(6, True, 14, 14)]
    assert warehouse_rows(settings, "SELECT status, model FROM eval_runs WHERE run_id = ?", [run]) == [
        ("completed", settings.llm_model)
    ]
    tokens = warehouse_rows(
        settings,
        "SELECT min(prompt_tokens), bool_or(tokens_estimated) FROM predictions WHERE run_id = ?",
        [run],
    )
    assert tokens[0][0] > 0 and tokens[0][1] is False

    resumed = evaluate(examples, config.model_copy(update={"run_id": run}), settings)
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
    methods = ["lc", "rag", "rag_reorder", "rag_docorder", "self_route"]
    summary = evaluate([example], EvalConfig(dataset="decline", methods=methods, k=[1]), settings)
    # At k = 1 both orderings are rag: skipped, with why. The one chunk is the whole context: RAG = LC.
    assert summary.skipped == [
        "rag_reorder at k=1 skipped: it is rag by construction at k ≤ 2 (it differs from k = 3)",
        "rag_docorder at k=1 skipped: it is rag by construction at k ≤ 1 (it differs from k = 2)",
    ]
    assert summary.whole_context == [
        {"method": "rag", "k": 1, "examples": 1, "whole_context": 1},
        {"method": "self_route", "k": 1, "examples": 1, "whole_context": 1},
    ]
    assert "rag k=1: RAG = LC on 1 of 1 examples: k chunks hold the whole context" in notes(summary)
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
