"""The vLLM-protocol server of the tests (`tests/support/vllm_protocol.py`), through the OpenAI client.

It stands in for a vLLM server (which needs a GPU these machines do not have) when ragroute's endpoint
profile and LC prompts are tested against a 128k-window endpoint: these tests hold it to the protocol that
ragroute reads (`max_model_len`, `/tokenize`, `/detokenize`, `usage` with cached tokens, the 400 of vLLM).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from schemas.settings import SMOLLM2, Settings
from tests.support.vllm_protocol import BLOCK_SIZE, NO_ANSWER, VLLMProtocolServer

MODEL = "meta-llama/Llama-3.1-8B-Instruct"  # any name: the server serves it with SmolLM2's tokenizer
WINDOW = 131_072


def _tokenizer_file(settings: Settings) -> Path:
    return settings.models_dir / SMOLLM2.file


@pytest.fixture
def vllm(settings: Settings) -> Iterator[VLLMProtocolServer]:
    with VLLMProtocolServer(MODEL, WINDOW, _tokenizer_file(settings)).running() as server:
        yield server


@pytest.fixture
def client(vllm: VLLMProtocolServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=vllm.base_url, api_key="unused", max_retries=0)


def _tokenize(vllm: VLLMProtocolServer, **body) -> dict:
    response = httpx.post(f"{vllm.root_url}/tokenize", json={"model": MODEL, **body}, timeout=60)
    response.raise_for_status()
    return response.json()


def _report(lines: int, answer_at: int | None = None) -> str:
    """A long report; with `answer_at`, the line there tells the server what to answer."""
    text = [f"Line {i}: station {i % 97} logged {i * 7 % 1000} units at gate {i % 13}." for i in range(lines)]
    if answer_at is not None:
        text[answer_at] = "ANSWER: Tarn Valley"
    return "\n".join(text)


def test_models_list_the_window(client: openai.OpenAI) -> None:
    (model,) = client.models.list().data
    assert (model.id, model.owned_by) == (MODEL, "vllm")
    assert model.model_extra["max_model_len"] == WINDOW
    assert model.model_extra["root"] == MODEL


def test_tokenize_counts_what_a_request_is_charged(vllm: VLLMProtocolServer, client: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "Which gate logged the most units?"}]  # fmt: skip
    counted = _tokenize(vllm, messages=messages)
    chat = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=16)
    assert counted["count"] == chat.usage.prompt_tokens == len(counted["tokens"]) > 10
    assert counted["max_model_len"] == WINDOW
    assert chat.choices[0].message.content == NO_ANSWER  # no ANSWER: line in the prompt

    prompt = "Which gate logged the most units?"
    plain = _tokenize(vllm, prompt=prompt)
    completion = client.completions.create(model=MODEL, prompt=prompt, max_tokens=16)
    assert plain["count"] == completion.usage.prompt_tokens < counted["count"]  # no chat template
    back = httpx.post(
        f"{vllm.root_url}/detokenize", json={"model": MODEL, "tokens": plain["tokens"]}, timeout=60
    )
    assert back.json()["prompt"] == prompt
    assert [(r.endpoint, r.prompt_tokens, r.max_tokens) for r in vllm.requests] == [
        ("chat", counted["count"], 16), ("completions", plain["count"], 16)
    ]  # fmt: skip


def test_a_100k_token_prompt_reaches_the_model_whole(vllm: VLLMProtocolServer, client: openai.OpenAI) -> None:
    lines = 4_400
    report = _report(lines, answer_at=lines // 2)  # the answer in the middle, where truncation cuts
    messages = [{"role": "user", "content": f"{report}\n\nWhere was the convoy stopped?"}]
    count = _tokenize(vllm, messages=messages)["count"]
    assert 100_000 <= count < WINDOW - 64
    chat = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=64)
    assert chat.usage.prompt_tokens == count
    assert chat.choices[0].message.content == "Tarn Valley"
    assert vllm.requests[-1].prompt_tokens == count and vllm.requests[-1].status == 200


def test_a_shared_prefix_is_reported_as_cached(vllm: VLLMProtocolServer, client: openai.OpenAI) -> None:
    report = _report(300)
    usages = []
    for question in ("Which gate logged the most units?", "Which station logged the fewest units?"):
        messages = [{"role": "user", "content": f"{report}\n\nQuestion: {question}"}]
        usages.append(client.chat.completions.create(model=MODEL, messages=messages, max_tokens=8).usage)
    first, second = (usage.prompt_tokens_details.cached_tokens for usage in usages)
    shared = usages[0].prompt_tokens - 20  # the report, less the question's few tokens
    assert first == 0
    assert second % BLOCK_SIZE == 0 and shared - BLOCK_SIZE <= second < usages[1].prompt_tokens
    assert [r.cached_tokens for r in vllm.requests] == [first, second]


def test_a_prompt_over_the_window_gets_vllms_400(settings: Settings) -> None:
    with VLLMProtocolServer(MODEL, 2_048, _tokenizer_file(settings)).running() as small:
        client = openai.OpenAI(base_url=small.base_url, api_key="unused", max_retries=0)
        too_long = [{"role": "user", "content": _report(200)}]
        count = _tokenize(small, messages=too_long)["count"]
        with pytest.raises(openai.BadRequestError) as over:
            client.chat.completions.create(model=MODEL, messages=too_long, max_tokens=8)
        assert over.value.status_code == 400
        assert (f"This model's maximum context length is 2048 tokens. However, your request has {count} input "
                "tokens.") in over.value.message  # fmt: skip

        fits = [{"role": "user", "content": _report(40)}]
        count = _tokenize(small, messages=fits)["count"]
        with pytest.raises(openai.BadRequestError) as over:
            client.chat.completions.create(model=MODEL, messages=fits, max_tokens=2_048)
        assert f"({2_048} > 2048 - {count})" in over.value.message
        assert client.chat.completions.create(model=MODEL, messages=fits, max_tokens=2_048 - count).choices
        assert [r.status for r in small.requests] == [400, 400, 200]

        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="another-model", messages=fits, max_tokens=8)
