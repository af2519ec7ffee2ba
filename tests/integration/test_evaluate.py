"""The evaluation engine against real Weaviate, the real local model and DuckDB."""

from __future__ import annotations

from schemas.benchmarks import Example
from schemas.evaluation import EvalConfig
from tasks.evaluation.benchmark import evaluate_benchmark as evaluate
from tasks.evaluation.datasets import load_dataset
from tasks.routing.self_route import is_declined
from tests.support.readers import warehouse_rows


def test_end_to_end_mini_run_then_rerun_makes_no_llm_call(running_services, tmp_path):
    # A data dir of its own: an empty response cache and warehouse, whatever ran before in the session.
    settings = running_services.model_copy(update={"data_dir": tmp_path / "data"})
    examples = load_dataset("mini", settings, limit=2).examples
    config = EvalConfig(
        dataset="mini", methods=["lc", "rag", "rag_reorder", "self_route"], k=[3], retriever="hybrid"
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
    summary = evaluate(
        [example], EvalConfig(dataset="decline", methods=["lc", "rag", "self_route"], k=[1]), settings
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
