"""The endpoint profile without a server: endpoint identity, the model table, an unknown model's warning, and
middle truncation that fits after re-encoding."""

from __future__ import annotations

import socket

import pytest

from schemas.model_table import known_model, load_model_table
from schemas.settings import SMOLLM2, Settings
from tasks.clients.profile import DEFAULT_WINDOW, endpoint_identity, endpoint_profile
from tasks.clients.tokens import tokenizer_from_spec


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8011/v1",
        "http://localhost:8011/v1/",
        "HTTP://LOCALHOST:8011",
        "http://[::1]:8011/v1",
    ],
)
def test_spellings_of_one_loopback_server_share_an_identity(url: str) -> None:
    assert endpoint_identity(Settings(openai_base_url=url)) == "http://localhost:8011"


def test_identity_keeps_what_tells_servers_apart() -> None:
    identities = {
        endpoint_identity(Settings(openai_base_url=url))
        for url in ("https://api.openai.com/v1", "https://api.openai.com:443/v1", "http://gpu-a:8000/v1",
                    "http://gpu-b:8000/v1", "http://gpu-a:8001/v1")
    }  # fmt: skip
    assert identities == {
        "https://api.openai.com",
        "http://gpu-a:8000",
        "http://gpu-b:8000",
        "http://gpu-a:8001",
    }
    assert (
        endpoint_identity(Settings(openai_base_url="http://x/v1", llm_endpoint_id="vllm-pool")) == "vllm-pool"
    )


@pytest.mark.parametrize(
    ("model", "entry", "window"),
    [("gpt-4o", "gpt-4o", 128000), ("gpt-4o-2024-08-06", "gpt-4o", 128000), ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", 128000),
     ("openai/gpt-4.1", "gpt-4.1", 1047576), ("gpt-3.5-turbo-0125", "gpt-3.5-turbo", 16385)],
)  # fmt: skip
def test_the_model_table_matches_names_and_dated_versions(model: str, entry: str, window: int) -> None:
    known = known_model(load_model_table(Settings().model_table), model)
    assert known is not None and (known.name, known.window) == (entry, window)


def test_an_unknown_model_gets_a_warning_and_an_estimate_never_a_silent_window() -> None:
    settings = Settings(openai_base_url=f"http://127.0.0.1:{_closed_port()}/v1", llm_model="mystery-13b")
    profile = endpoint_profile(settings)
    assert profile.window == DEFAULT_WINDOW and "unknown" in profile.window_source
    assert not profile.tokenizer.exact and profile.template_source.startswith("not measured")
    assert any("RAGROUTE_LLM_CONTEXT_TOKENS" in w for w in profile.warnings)
    assert any("RAGROUTE_LLM_TOKENIZER" in w for w in profile.warnings)
    assert any(line.startswith("warning:") for line in profile.lines())


def test_settings_override_what_the_table_says() -> None:
    settings = Settings(
        openai_base_url=f"http://127.0.0.1:{_closed_port()}/v1", llm_model="gpt-4o", llm_context_tokens=32000,
        llm_tokenizer=f"gguf:{SMOLLM2.file}",
    )  # fmt: skip
    profile = endpoint_profile(settings)
    assert profile.window == 32000 and "settings" in profile.window_source
    assert profile.tokenizer.name == f"gguf:{SMOLLM2.file}" and "settings" in profile.tokenizer_source


def test_middle_truncation_fits_the_budget_after_re_encoding() -> None:
    tokenizer = tokenizer_from_spec(f"gguf:{SMOLLM2.file}", Settings().models_dir)
    text = " ".join(f"Line {i}: the tide rose at {i % 12} o'clock; naïve façade — ok." for i in range(400))
    for budget in (17, 100, 1001):
        cut = tokenizer.truncate_middle(text, budget)
        assert budget - 4 <= tokenizer.count(cut) <= budget
        assert cut.startswith("Line 0") and cut.endswith("ok.")
    assert tokenizer.truncate_middle("short", 10) == "short"


def test_an_openai_model_is_sized_with_its_own_encoding_offline() -> None:
    """OpenAI reports neither window nor tokenizer: both come from the model table, the encoding from the files
    `make setup` installs (no download)."""
    settings = Settings(
        openai_base_url=f"http://127.0.0.1:{_closed_port()}/v1", llm_model="gpt-4o-2024-08-06"
    )
    profile = endpoint_profile(settings)
    assert (profile.window, profile.tokenizer.name) == (128000, "tiktoken:o200k_base")
    assert profile.tokenizer.exact and "model table (gpt-4o)" in profile.tokenizer_source
    assert profile.tokenizer.count("hello world") == 2 and not profile.warnings
