"""The dry-run forecast against the real parts (Weaviate for retrieval, the suite's local model, DuckDB): it asks
nothing, counts the prompt tokens the run then spends within 5%, knows which answers the cache holds, and a budget
below it stops the run before any call; a running spend past the budget stops the run, which then resumes."""

from __future__ import annotations

import json

import pytest

from schemas.evaluation import EvalConfig
from tasks.evaluation.benchmark import BudgetExceeded, evaluate_benchmark
from tasks.evaluation.datasets import load_dataset
from tasks.evaluation.run import forecast_evaluation, run_evaluation
from tasks.ingestion.run import ingest
from tasks.questions.review import import_questions
from tests.integration.test_collection_evaluation import BEACON, QUAY, QUESTIONS
from tests.support.readers import warehouse_rows


def test_the_forecast_matches_the_run_and_a_budget_stops_it_first(priced, tmp_path):
    settings = priced.model_copy(update={"data_dir": tmp_path})  # an empty response cache and warehouse
    config = EvalConfig(dataset="mini", methods=["lc", "rag"], k=[3], limit=2)
    forecast = forecast_evaluation(config, settings)
    by_method = {row.method: row for row in forecast.methods}
    assert sorted(by_method) == ["lc", "rag"] and all(row.calls == 2 and row.cached == 0 for row in forecast.methods)
    assert forecast.spent_cost_usd == forecast.list_cost_usd > 0

    with pytest.raises(BudgetExceeded, match="nothing was asked"):
        run_evaluation(config.model_copy(update={"max_cost_usd": forecast.spent_cost_usd / 2}), settings)
    assert warehouse_rows(settings, "SELECT count(*) FROM eval_runs") == [(0,)]

    summary = run_evaluation(config.model_copy(update={"max_cost_usd": forecast.spent_cost_usd * 2}), settings)
    assert summary.status == "completed" and summary.llm_calls == 4
    for row in summary.methods:
        predicted = by_method[row["method"]].prompt_tokens
        assert abs(predicted - row["prompt_tokens"]) <= 0.05 * row["prompt_tokens"], (row, predicted)
    print(f"\nforecast prompt tokens {[(m.method, m.prompt_tokens) for m in forecast.methods]}, run "
          f"{[(row['method'], row['prompt_tokens']) for row in summary.methods]}")

    again = forecast_evaluation(config, settings)  # every answer is in the cache now: nothing to pay
    assert all(row.cached == row.calls for row in again.methods) and again.spent_cost_usd == 0


def test_a_run_stops_once_its_spend_passes_the_budget_and_resumes(priced, tmp_path):
    """Past the forecast check (evaluate_benchmark alone), the running spend stops the run after its first answer;
    the same run id then answers only what is missing."""
    settings = priced.model_copy(update={"data_dir": tmp_path})
    config = EvalConfig(dataset="mini", methods=["rag"], k=[3], limit=2, max_cost_usd=1e-9)
    examples = load_dataset("mini", settings, limit=2).examples
    with pytest.raises(BudgetExceeded, match=r"stopped after 1 of 2 answers.*resume it with --run-id") as caught:
        evaluate_benchmark(examples, config, settings)
    run_id = str(caught.value).split("--run-id ")[1]
    first = warehouse_rows(settings, "SELECT example_id, created_at FROM predictions WHERE run_id = ?", [run_id])
    assert len(first) == 1 and warehouse_rows(settings, "SELECT status FROM eval_runs") == [("failed",)]

    resumed = run_evaluation(config.model_copy(update={"run_id": run_id, "max_cost_usd": None}), settings)
    assert resumed.status == "completed"
    after = warehouse_rows(settings, "SELECT example_id, created_at FROM predictions WHERE run_id = ? "
                           "ORDER BY example_id", [run_id])  # fmt: skip
    assert len(after) == 2 and first[0] in after  # the first answer kept as it was


def test_a_collections_questions_are_forecast_as_ask_prompts_them(priced, tmp_path):
    """A question set over an ingested collection: the forecast builds `ask`'s prompts (retrieval from the
    collection, LC over the documents behind the chunks), within 5% of the tokens the run then spends; a budget
    below it stops the run before any call."""
    settings = priced.model_copy(update={"data_dir": tmp_path / "data"})  # an empty response cache and warehouse
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "quay.txt").write_text(QUAY)
    (folder / "beacon.txt").write_text(BEACON)
    assert ingest(folder, settings, collection="Forecast").status == "completed"
    reviewed = tmp_path / "reviewed.jsonl"
    reviewed.write_text("\n".join(json.dumps(question) for question in QUESTIONS))
    import_questions(settings, reviewed, "Forecast")
    config = EvalConfig(collection="Forecast", methods=["lc", "rag"], k=[2])
    forecast = forecast_evaluation(config, settings)
    by_method = {row.method: row for row in forecast.methods}
    assert sorted(by_method) == ["lc", "rag"] and all(row.calls == 3 and row.cached == 0 for row in forecast.methods)
    assert forecast.spent_cost_usd > 0

    with pytest.raises(BudgetExceeded, match="nothing was asked"):
        run_evaluation(config.model_copy(update={"max_cost_usd": forecast.spent_cost_usd / 2}), settings)
    summary = run_evaluation(config, settings)
    assert summary.status == "completed"
    retried = summary.llm_calls + summary.cached_calls - 6  # `ask`'s stricter second prompt, left out of a forecast
    for row in summary.methods:
        predicted = by_method[row["method"]].prompt_tokens
        print(f"\n{row['method']}: forecast {predicted} prompt tokens, run {row['prompt_tokens']} ({retried} retries)")
        assert predicted <= row["prompt_tokens"]
        if not retried:
            assert abs(predicted - row["prompt_tokens"]) <= 0.05 * row["prompt_tokens"], (row, predicted)
