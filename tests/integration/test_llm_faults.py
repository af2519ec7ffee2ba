"""LLM faults through a fault-injecting endpoint in front of the real local model (`tests/fault_llm.py`):
every fault is retried, a faulted run is resumable to the totals of a clean run, and the response cache only
ever holds real answers."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from schemas.evaluation import EvalConfig
from schemas.prices import cost_usd, load_prices, spent_usd
from schemas.settings import PROJECT_ROOT, SMOLLM2, Settings
from tasks.clients.llm import LLM, Billed, Completion
from tasks.evaluation.benchmark import evaluate_benchmark as evaluate
from tasks.evaluation.mini import generate
from tasks.evaluation.summary import EvalSummary
from tasks.routing import self_route
from tests.support.fault_llm import FAKE_TOKENS, FAULT_KINDS, FaultLLM
from tests.support.readers import warehouse_rows
from tests.support.vllm_protocol import VLLMProtocolServer

SEED = 7  # the fault server's RNG
PROMPT = "What is the capital of France? Answer in one word."
# Retry-After (429) last: the longest backoff is replaced by the server's one second.
RETRY_ORDER = ("malformed_json", "empty_choices", "server_error", "unavailable", "timeout", "rate_limit")
METHODS = ["lc", "rag", "self_route"]
# The error each fault leaves on its unit when it is not retried.
RECORDED_ERRORS = {
    "rate_limit": "RateLimitError: Error code: 429",
    "server_error": "InternalServerError: Error code: 500",
    "unavailable": "InternalServerError: Error code: 503",
    "timeout": "APITimeoutError: Request timed out",
    "malformed_json": "MalformedResponse: the response body is not valid JSON",
    "empty_choices": "MalformedResponse: the response has no choices",
}


def _complete(settings: Settings, max_attempts: int) -> tuple[Completion, int]:
    """One completion of PROMPT; returns it and the number of HTTP requests sent."""

    async def ask() -> tuple[Completion, int]:
        llm = LLM(settings, max_attempts=max_attempts)
        try:
            return await llm.complete(PROMPT, 8), llm.counter.requests
        finally:
            await llm.aclose()

    return asyncio.run(ask())


def _cached_bodies(data_dir: Path) -> list[dict]:
    with closing(sqlite3.connect(f"file:{data_dir / 'llm_cache.sqlite'}?mode=ro", uri=True)) as db:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM responses")]


def _assert_only_real_answers(bodies: list[dict]) -> None:
    for body in bodies:
        assert "error" not in body and isinstance(body["text"], str), body
        assert 0 < body["prompt_tokens"] < FAKE_TOKENS and body["completion_tokens"] < FAKE_TOKENS, body


def _predictions(settings: Settings, run_id: str) -> dict[tuple[str, str, int], tuple]:
    rows = warehouse_rows(
        settings,
        "SELECT example_id, method, k, route, prediction, cost_usd, error, created_at, spent_cost_usd "
        "FROM predictions WHERE run_id = ?",
        [run_id],
    )
    by_unit = {(example, method, k): tuple(rest) for example, method, k, *rest in rows}
    assert len(by_unit) == len(rows)
    return by_unit


def _totals(settings: Settings, summary: EvalSummary) -> list[dict]:
    """Per method: the summary (less the cached count and the spent cost: a faulted run paid for its faults, a
    run from the cache for nothing) and the stored cost of its predictions; sums of floats are rounded (their
    order differs from run to run)."""
    costs = dict(
        warehouse_rows(
            settings,
            "SELECT method, round(sum(cost_usd), 12) FROM predictions WHERE run_id = ? GROUP BY method",
            [summary.run_id],
        )
    )
    return [
        {
            k: round(v, 12) if isinstance(v, float) else v
            for k, v in row.items()
            if k not in ("cached", "spent_cost_usd")
        }
        | {"stored_cost_usd": costs[row["method"]]}
        for row in summary.methods
    ]


def test_every_fault_is_retried_and_only_the_answer_is_cached(running_services, tmp_path):
    direct, _ = _complete(running_services.model_copy(update={"data_dir": tmp_path / "direct"}), 1)
    assert direct.ok and direct.text.strip()
    fault = FaultLLM(running_services.llm_base_url, rate=0.0, script=RETRY_ORDER, hang_s=20)
    with fault.running():
        settings = running_services.model_copy(
            update={"openai_base_url": fault.base_url, "llm_timeout_s": 5.0, "data_dir": tmp_path / "faulty"}
        )
        completion, requests = _complete(settings, max_attempts=len(RETRY_ORDER) + 1)
    counts = fault.counts()
    assert completion.ok, completion.error
    assert counts.injected == {kind: 1 for kind in FAULT_KINDS}
    assert (requests, counts.requests, counts.forwarded) == (7, 7, 1)
    # Retries add nothing: the answer and its tokens are those of one clean call.
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens) == (
        direct.text,
        direct.prompt_tokens,
        direct.completion_tokens,
    )
    bodies = _cached_bodies(tmp_path / "faulty")
    assert [body["text"] for body in bodies] == [completion.text]
    _assert_only_real_answers(bodies)


def test_exhausted_retries_are_an_error_and_never_cached(running_services, tmp_path):
    fault = FaultLLM(running_services.llm_base_url, rate=0.0, script=["malformed_json", "empty_choices"])
    with fault.running():
        settings = running_services.model_copy(
            update={"openai_base_url": fault.base_url, "data_dir": tmp_path}
        )
        failed, failed_requests = _complete(settings, max_attempts=2)
        assert failed.text is None and failed.error.startswith(
            "MalformedResponse: the response has no choices"
        )
        assert _cached_bodies(tmp_path) == []
        again, again_requests = _complete(settings, max_attempts=2)  # asks the endpoint again
    assert (failed_requests, again_requests, fault.counts().forwarded) == (2, 1, 1)
    assert again.ok and not again.cached
    assert [body["text"] for body in _cached_bodies(tmp_path)] == [again.text]


def test_faulted_run_resumes_to_the_totals_of_a_clean_run(priced):
    examples = generate(examples=4, words=60, seed=11)
    units = {(e.id, m, 0 if m == "lc" else 1) for e in examples for m in METHODS}
    config = EvalConfig(dataset="mini", methods=METHODS, k=[1], run_id=f"faults-{uuid.uuid4().hex[:8]}")
    # Each kind once on the first six requests, then 20% of requests faulted (seeded).
    fault = FaultLLM(priced.llm_base_url, rate=0.2, seed=SEED, script=FAULT_KINDS, hang_s=20)
    with fault.running():
        faulty = priced.model_copy(
            update={"openai_base_url": fault.base_url, "llm_timeout_s": 10.0, "llm_concurrency": 1}
        )
        # One attempt per call: every fault leaves its unit with a recorded error.
        first = evaluate(examples, config, faulty.model_copy(update={"llm_max_attempts": 1}))
        in_first = fault.counts()
        after_first = _predictions(priced, config.run_id)
        first_scores = warehouse_rows(
            priced, "SELECT example_id, method, k, score FROM scores WHERE run_id = ?", [config.run_id]
        )
        second = evaluate(examples, config, faulty)  # same run id, retries on: fills the gaps
        in_second = fault.counts() - in_first
    after_second = _predictions(priced, config.run_id)
    clean = evaluate(examples, EvalConfig(dataset="mini", methods=METHODS, k=[1]), priced)
    print(f"\nfirst run: {in_first}, errors {first.errors}\nresumed run: {in_second}, errors {second.errors}")

    # The first run completes; every unit has exactly one row, an answer or a recorded error.
    assert set(after_first) == units
    failed = {unit for unit, row in after_first.items() if row[3] is not None}
    assert all(kind in in_first.injected for kind in FAULT_KINDS)
    assert first.status == "completed_with_errors" and first.errors == len(failed) == in_first.faults
    assert all(after_first[unit][:3] == (None, None, None) for unit in failed)  # no route, answer or cost
    # One call at a time: the scripted faults hit the first six requests, one kind each, and each is recorded
    # with its own error (which unit a request served depends on when its cache lookup returned).
    errors = {unit: after_first[unit][3] for unit in failed}
    recorded = {kind: [u for u, e in errors.items() if e.startswith(RECORDED_ERRORS[kind])] for kind in FAULT_KINDS}
    assert all(recorded[kind] for kind in FAULT_KINDS), errors
    assert in_first.requests == first.llm_calls
    # Every method is scored on the same examples: a failed unit keeps its error and the empty answer's score.
    assert all(row["n"] == len(examples) for row in first.methods)
    assert sum(row["failed"] for row in first.methods) == first.errors
    assert {(e, m, k) for e, m, k, _ in first_scores} == units
    assert all(score == 0.0 for e, m, k, score in first_scores if (e, m, k) in failed)
    # The empty-choices fault was a 200 with usage: billed though unused, it is spent (and never list) cost.
    [billed] = recorded["empty_choices"]
    fake_usd = FAKE_TOKENS * (0.5 + 1.5) / 1e6  # the `priced` fixture's prices
    assert after_first[billed][2] is None and after_first[billed][5] == pytest.approx(fake_usd)
    # The rerun answers only what failed, retrying every fault it meets, and leaves no error.
    assert second.status == "completed" and second.errors == 0
    assert set(after_second) == units and all(row[3] is None for row in after_second.values())
    assert all(after_second[unit] == after_first[unit] for unit in units - failed)
    assert after_second[billed][5] >= fake_usd  # what the failed try paid for stays paid
    assert in_second.faults > 0 and in_second.requests == second.llm_calls  # seeded: faults were retried
    # Nothing is counted twice: the totals are those of a clean run on the same examples.
    assert clean.errors == 0
    assert _totals(priced, second) == _totals(priced, clean)
    assert all(row["list_cost_usd"] > 0 for row in second.methods)
    # The clean run paid each answer once; its rerun answers from the cache: the same list cost, nothing spent.
    assert all(round(row["spent_cost_usd"], 12) == round(row["list_cost_usd"], 12) for row in clean.methods)
    cached = evaluate(examples, EvalConfig(dataset="mini", methods=METHODS, k=[1]), priced)
    assert all(row["spent_cost_usd"] == 0 < row["list_cost_usd"] for row in cached.methods)
    assert [round(r["list_cost_usd"], 12) for r in cached.methods] == [
        round(r["list_cost_usd"], 12) for r in clean.methods
    ]
    _assert_only_real_answers(_cached_bodies(priced.data_dir))


def test_spent_cost_counts_cached_input_and_a_paid_step_before_a_failure(settings, tmp_path):
    """Through the vLLM-protocol stand-in (`tests/support/vllm_protocol.py`: vLLM needs a GPU), which reports
    `usage.prompt_tokens_details.cached_tokens` as vLLM's prefix caching does, behind the fault proxy: a second
    question over the same report reads its prefix from the provider's cache (billed at gpt-4o's cached-input
    price), Self-Route's RAG step is paid for though its LC step fails, and an answer from ragroute's own cache
    costs nothing."""
    report = "\n".join(f"Line {i}: gate {i % 13} logged {i * 7 % 1000} units." for i in range(300))
    prices, model = load_prices(PROJECT_ROOT / "schemas" / "prices.yaml"), "gpt-4o"
    with VLLMProtocolServer(model, 131_072, settings.models_dir / SMOLLM2.file).running() as vllm:
        fault = FaultLLM(vllm.base_url, rate=0.0, script=[None, None, "server_error"])  # the LC step fails
        with fault.running():
            remote = settings.model_copy(
                update={"openai_base_url": fault.base_url, "llm_model": model, "data_dir": tmp_path}
            )

            async def run() -> tuple[Completion, self_route.Routed, Completion]:
                llm = LLM(remote, max_attempts=1)
                try:
                    first = await llm.complete(f"{report}\nWhich gate logged 7 units?", 16)
                    routed = await self_route.answer(
                        "self_route",
                        lambda: llm.complete(f"{report}\nWhich gate logged 14 units?", 16),
                        lambda: llm.complete(f"{report}\n{report}\nWhich gate logged 14 units?", 16),
                    )
                    again = await llm.complete(f"{report}\nWhich gate logged 7 units?", 16)
                    return first, routed, again
                finally:
                    await llm.aclose()

            first, routed, again = asyncio.run(run())
    assert first.cached_prompt_tokens == 0 and first.billed == Billed(
        first.prompt_tokens, 0, first.completion_tokens
    )
    step = routed.first_step
    assert step is not None and step.text == "unanswerable" and routed.error  # routed to LC, which failed
    assert 0 < step.cached_prompt_tokens < step.prompt_tokens  # the shared report prefix, in whole blocks
    assert (
        routed.billed
        == step.billed
        == Billed(step.prompt_tokens, step.cached_prompt_tokens, step.completion_tokens)
    )
    billed = routed.billed
    spent = spent_usd(
        prices, model, billed.prompt_tokens, billed.cached_prompt_tokens, billed.completion_tokens
    )
    listed = cost_usd(prices, model, step.prompt_tokens, step.completion_tokens)
    assert 0 < spent < listed
    assert again.cached and again.billed == Billed() and again.text == first.text
