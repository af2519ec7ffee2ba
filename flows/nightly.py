"""The nightly flow: bring the plan's sources up to date, then the question sets of the collections it evaluates
(new questions for changed documents only), evaluate its data sets, write the dashboards and artifacts, and
fail when a method regressed against its baseline.

Ingest and evaluation steps are cached across runs on fingerprints of what they depend on (file contents,
data, settings, code version), in the result storage of the settings, so unchanged work is skipped. A step that
ended with something to retry (documents left in `error`, failed predictions) writes no cache record, so the
next nightly runs it again; an evaluation then resumes its run and answers only what failed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE
from prefect.filesystems import LocalFileSystem
from prefect.transactions import get_transaction

from flows.evaluate import publish_artifacts
from flows.questions import follow_task
from schemas.evaluation import QUESTION_SET, EvalConfig
from schemas.plan import NightlyPlan, load_plan
from schemas.settings import Settings, apply_library_environment, get_settings
from tasks.evaluation.benchmark import BudgetExceeded
from tasks.evaluation.forecast import NightBudget
from tasks.evaluation.nightly import dataset_fingerprint, run_id_for, source_fingerprint, to_retry
from tasks.evaluation.regression import Comparison, RegressionDetected, check_regression
from tasks.evaluation.run import run_evaluation
from tasks.evaluation.summary import EvalSummary, artifact_key
from tasks.ingestion.run import ingest
from warehouse.db import session
from warehouse.report import build_report

apply_library_environment()


def ingest_source(root: Path, collection: str | None, fingerprint: str, settings: Settings):
    """Ingest one source folder (cached on its fingerprint, unless documents were left in `error`)."""
    summary = ingest(root, settings, collection)
    _cache_unless(to_retry(summary), str(root))
    return summary


def evaluate_planned(evaluation: EvalConfig, fingerprint: str, settings: Settings) -> EvalSummary:
    """Evaluate one planned data set (cached on its fingerprint, unless predictions failed); the run id
    follows the fingerprint, so a rerun resumes the run."""
    if evaluation.run_id is None:
        evaluation = evaluation.model_copy(update={"run_id": run_id_for(fingerprint)})
    summary = run_evaluation(evaluation, settings)
    _cache_unless(to_retry(summary), evaluation.dataset)
    return summary


def _cache_unless(retry: str | None, step: str) -> None:
    """Keep the running task's result out of the cache when it left something to retry: its transaction
    writes no record on commit (Prefect's `write_on_commit`), so the next nightly runs the step again."""
    transaction = get_transaction()
    if retry and transaction is not None:
        transaction.write_on_commit = False
        print(f"{step}: {retry}; not cached, the next nightly retries it")


RESULT_STORAGE_BLOCK = "ragroute-results"


def _result_storage(settings: Settings) -> LocalFileSystem:
    """The settings' result storage path, saved as a block on the Prefect server (tasks need a saved one)."""
    storage = LocalFileSystem(basepath=str(settings.results_path))
    storage.save(RESULT_STORAGE_BLOCK, overwrite=True)
    return storage


def _cached(fn, name: str, storage: LocalFileSystem, settings: Settings, *covered: str):
    """A task cached across flow runs on its inputs and source; `settings` and the `covered` inputs are left
    out of the key, since the fingerprint input already covers what matters in them."""
    inputs = INPUTS - "settings"
    for name_ in covered:
        inputs = inputs - name_
    return task(
        fn,
        name=name,
        cache_policy=inputs + TASK_SOURCE,
        cache_expiration=timedelta(days=settings.nightly_cache_days),
        persist_result=True,
        result_storage=storage,
    )


fingerprint_source = task(source_fingerprint, name="fingerprint-source", cache_policy=NO_CACHE)
fingerprint_dataset = task(dataset_fingerprint, name="fingerprint-dataset", cache_policy=NO_CACHE)


@task(name="write-report", cache_policy=NO_CACHE)
def write_report(settings: Settings, summary: EvalSummary) -> Path:
    out = settings.data_dir / "reports" / f"{artifact_key('nightly', summary.dataset)}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    return build_report(settings.warehouse_target, out, summary.run_id)


@task(name="check-regression", cache_policy=NO_CACHE)
def regression_task(settings: Settings, plan: NightlyPlan, summary: EvalSummary, baseline: str) -> str | None:
    """Compare with the baseline and store the comparison; returns the failure message, if any."""
    pinned = None if baseline == "previous" else baseline
    comparisons: list[Comparison] = []
    failure = None
    with session(settings.warehouse_target) as con:
        try:
            comparisons = check_regression(
                con, summary.run_id, pinned, plan.regression.max_score_drop, plan.regression.max_cost_rise_pct
            )
        except RegressionDetected as error:
            failure = str(error)
    if failure:
        print(failure)
    elif comparisons:
        print(f"{summary.dataset}: no regression against the baseline ({len(comparisons)} comparisons)")
        for comparison in comparisons:
            if comparison.reason:  # a drop beyond the threshold, within chance
                print(f"- {comparison.method} k={comparison.k}: {comparison.reason}")
    else:
        print(f"{summary.dataset}: no baseline run of the same data to compare with (a first run, or its examples, "
              "questions or documents changed)")  # fmt: skip
    return failure


@flow(name="nightly", log_prints=True)
def nightly_flow(plan_path: str | None = None) -> dict:
    """scan + ingest → questions of the evaluated collections → evaluate → report → regression check, as the
    plan says."""
    settings = get_settings()
    plan = load_plan(Path(plan_path) if plan_path else settings.plan_path)
    storage = _result_storage(settings)
    ingest_cached = _cached(ingest_source, "ingest-source", storage, settings)
    evaluate_cached = _cached(evaluate_planned, "evaluate-dataset", storage, settings, "evaluation")

    for source in plan.sources:
        summary = ingest_cached(
            source.path,
            source.collection,
            fingerprint_source(source.path, settings, source.collection),
            settings,
        )
        print(f"{source.path}: {summary.status}, {summary.documents_changed} changed")

    failures, stops, runs = [], [], []
    budget = NightBudget(plan.budget_usd)
    for evaluation in plan.evaluations:
        generation: list[str] = []
        if evaluation.dataset.startswith(QUESTION_SET):  # its questions follow the collection's documents first
            generation = follow_task(settings, evaluation.collection).lines()
            for line in generation:
                print(line)
        fingerprint = fingerprint_dataset(evaluation, settings)
        capped = budget.cap(evaluation)
        if capped is None:
            stops.append(f"{evaluation.dataset}: not evaluated: the plan's budget_usd ${plan.budget_usd:.4f} is spent")
            print(stops[-1])
            continue
        state = evaluate_cached(capped, fingerprint, settings, return_state=True)
        outcome = state.result(raise_on_failure=False)
        if isinstance(outcome, BudgetExceeded):
            stops.append(f"{evaluation.dataset}: {outcome}" + budget.note())
            print(stops[-1])
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        summary, reused = outcome, state.name == "Cached"
        if not reused:
            budget.charge(summary.methods)
        report = write_report(settings, summary)
        publish_artifacts(summary, report)
        calls = (0, 0) if reused else (summary.llm_calls, summary.cached_calls)
        print(f"{summary.dataset}: run {summary.run_id} {summary.status}" + (", unchanged: not evaluated again"
              if reused else f", {calls[0]} LLM requests, {calls[1]} answers from the cache"))  # fmt: skip
        runs.append({"dataset": summary.dataset, "run_id": summary.run_id, "status": summary.status,
                     "llm_calls": calls[0], "cached_calls": calls[1], "reused": reused,
                     "questions": generation})  # fmt: skip
        failure = regression_task(settings, plan, summary, evaluation.baseline)
        if failure:
            failures.append(failure)

    create_markdown_artifact(
        key="nightly-regression",
        markdown="\n\n".join(failures) if failures else "No method regressed against its baseline.",
        description="Regression check of the nightly run",
    )
    if failures:
        raise RegressionDetected("\n".join(failures + stops))
    if stops:
        raise BudgetExceeded("\n".join(stops))
    return {"runs": runs, "spent_usd": budget.spent}
