"""The one entry of an evaluation, for the CLI, the `evaluate` flow and the nightly job: load the data set,
then a benchmark runs on its own contexts and a corpus QA set over its ingested collection."""

from __future__ import annotations

from schemas.evaluation import EvalConfig
from schemas.settings import Settings
from tasks.evaluation.benchmark import Progress, evaluate_benchmark
from tasks.evaluation.corpus import evaluate_corpus
from tasks.evaluation.datasets import LoadedDataset, load_and_quarantine
from tasks.evaluation.forecast import Forecast, check_budget, forecast_benchmark, forecast_corpus
from tasks.evaluation.summary import EvalSummary


def run_evaluation(config: EvalConfig, settings: Settings, progress: Progress | None = None) -> EvalSummary:
    loaded = load_and_quarantine(config.dataset, settings, config.limit)
    if config.max_cost_usd is not None:  # checked before any call
        check_budget(forecast_evaluation(config, settings, loaded), config.max_cost_usd)
    if loaded.examples:
        summary = evaluate_benchmark(loaded.examples, config, settings, progress)
    else:
        summary = evaluate_corpus(loaded.questions, config, settings, progress)
    summary.skipped_records = len(loaded.problems)
    return summary


def forecast_evaluation(config: EvalConfig, settings: Settings, loaded: LoadedDataset | None = None) -> Forecast:
    """What the evaluation would ask and spend (`tasks/evaluation/forecast.py`), without asking."""
    loaded = loaded or load_and_quarantine(config.dataset, settings, config.limit)
    if loaded.examples:
        return forecast_benchmark(loaded.examples, config, settings)
    return forecast_corpus(loaded.questions, config, settings)

