"""A "remote" endpoint with its own model, tokenizer and window: a second llama-cpp-python server serving
SmolLM2 under another name with a 16k window, reached through OPENAI_BASE_URL. ragroute sizes long-context
prompts with that server's own tokenizer (asked over HTTP) and fills its 16k window, not the local 8k."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.evaluation import EvalConfig
from schemas.settings import QWEN, SMOLLM2, Settings
from tasks.clients import services
from tasks.clients.llm import LLM
from tasks.clients.profile import endpoint_profile
from tasks.clients.tokens import tokenizer_from_spec
from tasks.evaluation.benchmark import BenchmarkRun, evaluate_benchmark
from tasks.evaluation.datasets import load_jsonl
from tests.conftest import PORT_OFFSET, TEST_DATA_DIR
from tests.support.vllm_protocol import VLLMProtocolServer
from warehouse.db import session

REMOTE_PORT = 18611 + PORT_OFFSET
REMOTE_MODEL = "smollm2-remote"
REMOTE_WINDOW = 16384
NEEDLE = "The lighthouse keeper's cat was named Admiral Pepperpot."
SENTENCE = "The harbour office logged {n} crates of salted fish and {m} barrels of lamp oil that week."


@pytest.fixture(scope="module")
def remote(running_services: Settings) -> Iterator[Settings]:
    """Settings whose endpoint is the second server: another model name, a 16k window (llama-cpp-python's
    server does not report its window, so it is given as a user would, RAGROUTE_LLM_CONTEXT_TOKENS)."""
    server = running_services.model_copy(
        update={"data_dir": TEST_DATA_DIR / "remote-llm", "llm_port": REMOTE_PORT, "llm_model_file": SMOLLM2.file,
                "llm_model": REMOTE_MODEL, "llm_context_tokens": REMOTE_WINDOW, "llm_logprobs": False}
    )  # fmt: skip
    services.start(server, services.llm_service(server))
    try:
        yield running_services.model_copy(
            update={"openai_base_url": f"http://127.0.0.1:{REMOTE_PORT}/v1", "llm_model": REMOTE_MODEL,
                    "llm_context_tokens": REMOTE_WINDOW}
        )  # fmt: skip
    finally:
        services.stop(server, "llm")


def _long_record(sentences: int) -> dict:
    """A LongBench-format record whose context is far longer than 16k tokens, the answer in its middle."""
    body = [SENTENCE.format(n=i, m=i * 7 % 113) for i in range(sentences)]
    body.insert(sentences // 2, NEEDLE)
    return {"_id": "long-1", "dataset": "hotpotqa", "input": "What was the lighthouse keeper's cat named?",
            "context": " ".join(body), "answers": ["Admiral Pepperpot"]}  # fmt: skip


def test_the_profile_of_a_remote_llama_cpp_server(remote: Settings) -> None:
    profile = endpoint_profile(remote)
    assert profile.window == REMOTE_WINDOW and "RAGROUTE_LLM_CONTEXT_TOKENS" in profile.window_source
    assert profile.tokenizer.name == "endpoint:llama-cpp-python" and profile.tokenizer.exact
    assert profile.template_source.startswith("measured") and 0 < profile.template_tokens < 64
    assert not profile.warnings
    # The server's tokenizer is SmolLM2's (its GGUF's vocabulary), not the default model's (Qwen).
    text = " ".join(SENTENCE.format(n=i, m=i) for i in range(50))
    smollm2, qwen = (tokenizer_from_spec(f"gguf:{m.file}", remote.models_dir) for m in (SMOLLM2, QWEN))
    assert profile.tokenizer.count(text) == smollm2.count(text) != qwen.count(text)


def test_long_context_fills_the_remote_window_and_counts_match_the_server(
    remote: Settings, tmp_path: Path
) -> None:
    data = tmp_path / "long.jsonl"
    data.write_text(json.dumps(_long_record(1500)) + "\n")
    examples = load_jsonl(data).examples
    settings = remote.model_copy(update={"data_dir": tmp_path / "data"})
    run = BenchmarkRun(examples, EvalConfig(dataset=str(data), methods=["lc"]), settings)
    prompt = run.lc_prompt(examples[0])
    budget = run.profile.prompt_budget(32)  # hotpotqa's answer length
    assert REMOTE_WINDOW - 32 - 64 < budget < REMOTE_WINDOW - 32
    assert budget - 4 <= run.tokenizer.count(prompt) <= budget  # cut to the window, far above 8k

    summary = evaluate_benchmark(examples, EvalConfig(dataset=str(data), methods=["lc"]), settings)
    assert summary.errors == 0, summary
    with session(settings.warehouse_target) as con:
        prompt_tokens, estimated, config = con.execute(
            "SELECT p.prompt_tokens, p.tokens_estimated, r.config FROM predictions p JOIN eval_runs r USING (run_id)"
            " WHERE run_id = ?",
            [summary.run_id],
        ).fetchone()
    # The server's own usage: the prompt ragroute sized, plus the chat template it measured.
    assert prompt_tokens == run.tokenizer.count(prompt) + run.profile.template_tokens
    assert 8192 < prompt_tokens <= REMOTE_WINDOW - 32 and not estimated
    recorded = json.loads(config)["endpoint_profile"]
    assert recorded["window"] == REMOTE_WINDOW and recorded["tokenizer"] == "endpoint:llama-cpp-python"


def test_one_server_spelled_two_ways_shares_cached_answers(
    running_services: Settings, tmp_path: Path
) -> None:
    port = running_services.llm_port
    spellings = [f"http://127.0.0.1:{port}/v1", f"http://localhost:{port}/v1/"]
    answers = []
    for url in spellings:
        llm = LLM(running_services.model_copy(update={"openai_base_url": url, "data_dir": tmp_path}))

        async def ask(llm: LLM = llm):
            try:
                return await llm.complete("Name one colour of the rainbow.", 8)
            finally:
                await llm.aclose()

        answers.append((asyncio.run(ask()), llm.counter.requests))
    (first, first_requests), (second, second_requests) = answers
    assert first.ok and not first.cached and first_requests == 1
    assert second.cached and second_requests == 0 and second.text == first.text


def test_a_128k_vllm_endpoint_gets_a_100k_context_whole(settings: Settings, tmp_path: Path) -> None:
    """vLLM's protocol (a stand-in server: vLLM needs a GPU) reports the window and tokenizes: an LC prompt of a
    ~100k-token LongBench context reaches the model whole, counted as the server counts it."""
    record = _long_record(4400)
    record["context"] = record["context"].replace(NEEDLE, f"\nANSWER: Admiral Pepperpot\n{NEEDLE}")
    data = tmp_path / "long.jsonl"
    data.write_text(json.dumps(record) + "\n")
    examples = load_jsonl(data).examples
    server = VLLMProtocolServer("Qwen/Qwen2.5-7B-Instruct", 131072, settings.models_dir / SMOLLM2.file)
    with server.running():
        vllm = settings.model_copy(
            update={
                "openai_base_url": server.base_url,
                "llm_model": server.model_name,
                "data_dir": tmp_path / "data",
            }
        )
        profile = endpoint_profile(vllm)
        assert (profile.window, profile.tokenizer.name) == (131072, "endpoint:vllm")
        assert "max_model_len" in profile.window_source and profile.template_source.startswith("measured")
        config = EvalConfig(dataset=str(data), methods=["lc"])
        context_tokens = profile.tokenizer.count(examples[0].context)
        assert context_tokens > 100_000
        summary = evaluate_benchmark(examples, config, vllm)
    assert summary.errors == 0 and summary.methods[0]["score"] == 100.0, summary
    served = server.requests[-1]
    assert served.status == 200 and served.prompt_tokens > context_tokens  # nothing cut
    with session(vllm.warehouse_target) as con:
        (prompt_tokens,) = con.execute(
            "SELECT prompt_tokens FROM predictions WHERE run_id = ?", [summary.run_id]
        ).fetchone()
    assert prompt_tokens == served.prompt_tokens


def test_the_local_template_is_counted_as_the_server_counts_it(
    running_services: Settings, tmp_path: Path
) -> None:
    """ragroute's own server: the overhead is counted from the GGUF's chat template, without a request, and
    equals what the server reports."""
    profile = endpoint_profile(running_services)
    assert profile.tokenizer.name.startswith("gguf:") and "counted" in profile.template_source
    prompt = "Name two colours of the rainbow, then stop."
    llm = LLM(running_services.model_copy(update={"data_dir": tmp_path}))

    async def ask():
        try:
            return await llm.complete(prompt, 4)
        finally:
            await llm.aclose()

    completion = asyncio.run(ask())
    assert completion.prompt_tokens == profile.tokenizer.count(prompt) + profile.template_tokens
