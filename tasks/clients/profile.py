"""The endpoint profile: for the configured endpoint and model, the context window, the tokenizer, the chat
template's overhead, and where each came from. Eval, ask and serve size and count their prompts with it.

Each part is looked up in this order, the first answer wins:
- window: `RAGROUTE_LLM_CONTEXT_TOKENS`; ragroute's own llama.cpp server (the `n_ctx` it was started with); the
  endpoint (vLLM's `/v1/models` `max_model_len`, llama.cpp's `/props` `n_ctx`); the model table
  (`schemas/model_table.yaml`); else a default of 8192 with a warning.
- tokenizer: `RAGROUTE_LLM_TOKENIZER`; the local model's GGUF for ragroute's own server; the endpoint's
  tokenizer (vLLM, llama.cpp, llama-cpp-python); the model table; else the local model's tokenizer as an
  estimate (`exact` False), with a warning.
- template overhead: the chat template's tokens around one message, counted where the tokenizer knows the
  template (a GGUF's own, vLLM's `/tokenize` of messages), else a 1-token chat completion's `usage.prompt_tokens`
  less the tokenizer's count of the text (unmeasurable: a margin of 64 tokens).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import openai

from schemas.model_table import known_model, load_model_table
from schemas.settings import Settings, logprobs_alias
from tasks.clients.tokens import EndpointCodec, Tokenizer, TokenizerUnavailable, tokenizer_from_spec

log = logging.getLogger("ragroute.profile")

DEFAULT_WINDOW = 8192
UNMEASURED_TEMPLATE_TOKENS = 64
PROBE_TEXT = "ragroute"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


@dataclass
class EndpointProfile:
    endpoint: str  # the endpoint's identity (see `endpoint_identity`)
    model: str
    window: int
    window_source: str
    tokenizer: Tokenizer
    tokenizer_source: str
    template_tokens: int  # what the chat template adds around one user message
    template_source: str
    warnings: list[str] = field(default_factory=list)

    def prompt_budget(self, max_new_tokens: int) -> int:
        """Tokens a prompt may have: the window less the answer's room and the chat template's overhead."""
        return self.window - max_new_tokens - self.template_tokens

    def record(self) -> dict:
        """What a run stores of the profile."""
        return {
            "endpoint": self.endpoint, "model": self.model, "window": self.window,
            "window_source": self.window_source, "tokenizer": self.tokenizer.name,
            "tokenizer_exact": self.tokenizer.exact, "tokenizer_source": self.tokenizer_source,
            "template_tokens": self.template_tokens, "template_source": self.template_source,
        }  # fmt: skip

    def lines(self) -> list[str]:
        """The profile for a person: model, window, tokenizer and the source of each."""
        exact = "" if self.tokenizer.exact else " (an estimate: token counts are flagged)"
        return [
            f"model {self.model} at {self.endpoint}",
            f"context window {self.window:,} tokens, from {self.window_source}",
            f"tokenizer {self.tokenizer.name}{exact}, from {self.tokenizer_source}",
            f"chat template {self.template_tokens} tokens, {self.template_source}",
            *(f"warning: {warning}" for warning in self.warnings),
        ]


def endpoint_identity(settings: Settings) -> str:
    """`RAGROUTE_LLM_ENDPOINT_ID`, else the endpoint URL normalised so that spellings of one server agree:
    lower case, a loopback host as `localhost`, no default port, no trailing `/` or `/v1`."""
    if settings.llm_endpoint_id:
        return settings.llm_endpoint_id
    url = urlsplit(settings.llm_base_url.strip())
    scheme = (url.scheme or "http").lower()
    host = (url.hostname or "").lower()
    if host in LOOPBACK_HOSTS or host.startswith("127."):
        host = "localhost"
    port = url.port or {"http": 80, "https": 443}.get(scheme)
    netloc = host if port == {"http": 80, "https": 443}.get(scheme) else f"{host}:{port}"
    path = url.path.rstrip("/")
    path = path[: -len("/v1")] if path.endswith("/v1") else path
    return f"{scheme}://{netloc}{path}"


def root_url(settings: Settings) -> str:
    """The server's root: the OpenAI base URL without its `/v1` (where vLLM and llama.cpp serve /tokenize)."""
    base = settings.llm_base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


_profiles: dict[tuple, EndpointProfile] = {}


def endpoint_profile(settings: Settings, model: str | None = None) -> EndpointProfile:
    """The profile of the configured endpoint for `model` (default: the settings' model); once per process."""
    model = model or settings.llm_model
    key = (
        settings.llm_base_url, model, settings.llm_endpoint_id, settings.llm_context_tokens,
        settings.llm_tokenizer, settings.llm_model_file, settings.model_table,
    )  # fmt: skip
    if key not in _profiles:
        _profiles[key] = _profile(settings, model)
    return _profiles[key]


def _profile(settings: Settings, model: str) -> EndpointProfile:
    warnings: list[str] = []
    headers = {"Authorization": f"Bearer {settings.llm_api_key}"}
    http = httpx.Client(headers=headers, timeout=min(settings.llm_timeout_s, 30.0))
    try:
        listed = {} if settings.llm_is_local else _listed_model(http, settings, model)
        own_model = settings.llm_is_local and model in (
            settings.local_llm_model,
            logprobs_alias(settings.local_llm_model),
        )
        window, window_source = _window(settings, model, own_model, listed, http, warnings)
        tokenizer, tokenizer_source = _tokenizer(settings, model, own_model, headers, warnings)
    finally:
        http.close()
    template_tokens, template_source = _template_tokens(settings, model, tokenizer)
    profile = EndpointProfile(
        endpoint_identity(settings), model, window, window_source, tokenizer, tokenizer_source,
        template_tokens, template_source, warnings,
    )  # fmt: skip
    for warning in warnings:
        log.warning(warning)
    return profile


def _listed_model(http: httpx.Client, settings: Settings, model: str) -> dict:
    """The endpoint's `/v1/models` entry for the model (vLLM adds `max_model_len`), or {}."""
    try:
        response = http.get(settings.llm_base_url.rstrip("/") + "/models")
        response.raise_for_status()
        return next((m for m in response.json().get("data", []) if m.get("id") == model), {})
    except (httpx.HTTPError, ValueError, AttributeError):
        return {}


def _window(
    settings: Settings, model: str, own_model: bool, listed: dict, http: httpx.Client, warnings: list[str]
) -> tuple[int, str]:
    if settings.llm_context_tokens:
        return settings.llm_context_tokens, "the settings (RAGROUTE_LLM_CONTEXT_TOKENS)"
    if settings.llm_is_local:
        return settings.local_llm_context_tokens, "ragroute's llama.cpp server (its n_ctx)"
    if isinstance(listed.get("max_model_len"), int):
        return listed["max_model_len"], "the endpoint (/v1/models max_model_len)"
    if (n_ctx := _props_n_ctx(http, settings)) is not None:
        return n_ctx, "the endpoint (/props n_ctx)"
    known = known_model(load_model_table(settings.model_table), model)
    if known and known.window:
        return known.window, f"the model table ({known.name})"
    warnings.append(
        f"the context window of {model!r} is unknown (the endpoint does not report it and the model table does "
        f"not list it): assuming {DEFAULT_WINDOW} tokens; set RAGROUTE_LLM_CONTEXT_TOKENS to its real window"
    )
    return DEFAULT_WINDOW, "a default (unknown model: set RAGROUTE_LLM_CONTEXT_TOKENS)"


def _props_n_ctx(http: httpx.Client, settings: Settings) -> int | None:
    """llama.cpp's `llama-server` reports its window at `/props`."""
    try:
        response = http.get(root_url(settings) + "/props")
        response.raise_for_status()
        props = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx", props.get("n_ctx"))
    return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None


def _tokenizer(
    settings: Settings, model: str, own_model: bool, headers: dict[str, str], warnings: list[str]
) -> tuple[Tokenizer, str]:
    if settings.llm_tokenizer:
        return tokenizer_from_spec(
            settings.llm_tokenizer, settings.models_dir
        ), "the settings (RAGROUTE_LLM_TOKENIZER)"
    if own_model:
        return _local_tokenizer(settings, exact=True), "the local model file"
    codec = EndpointCodec.probe(root_url(settings), model, headers, min(settings.llm_timeout_s, 30.0))
    if codec is not None:
        count_chat = codec.count_chat if codec.dialect == "vllm" else None
        return Tokenizer(
            f"endpoint:{codec.dialect}", codec.encode, codec.decode, True, count_chat
        ), "the endpoint"
    known = known_model(load_model_table(settings.model_table), model)
    if known and known.tokenizer:
        try:
            return tokenizer_from_spec(
                known.tokenizer, settings.models_dir
            ), f"the model table ({known.name})"
        except TokenizerUnavailable as error:
            warnings.append(f"{error}; token counts of {model!r} are estimates")
    else:
        warnings.append(
            f"no tokenizer known for {model!r} (the endpoint has no tokenize route and the model table does not "
            "list it): prompts are sized with the local model's tokenizer as an estimate; set "
            "RAGROUTE_LLM_TOKENIZER (tiktoken:<encoding>, hf:<tokenizer.json>, gguf:<file>)"
        )
    return _local_tokenizer(settings, exact=False), "an estimate (the local model's tokenizer)"


def _local_tokenizer(settings: Settings, exact: bool) -> Tokenizer:
    """The local model file's tokenizer: the model's own, or an estimate standing in for another model's."""
    return tokenizer_from_spec(f"gguf:{settings.llm_model_path}", settings.models_dir, exact=exact)


def _template_tokens(settings: Settings, model: str, tokenizer: Tokenizer) -> tuple[int, str]:
    """What the chat template adds around one user message, counted without generating where the tokenizer knows
    the template (a GGUF's own, vLLM's /tokenize of messages), else one 1-token completion's prompt tokens less
    the tokenizer's count of the text. Unmeasurable (endpoint down, no usage): a margin of 64 tokens."""
    text_tokens = tokenizer.count(PROBE_TEXT)
    if tokenizer.exact and tokenizer.count_chat is not None:
        try:
            return tokenizer.count_chat(PROBE_TEXT) - text_tokens, "measured (the chat template, counted)"
        except (httpx.HTTPError, KeyError, ValueError):
            pass  # ask the endpoint instead
    client = openai.OpenAI(
        base_url=settings.llm_base_url, api_key=settings.llm_api_key, max_retries=1, timeout=60.0
    )
    try:
        response = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": PROBE_TEXT}], max_tokens=1, temperature=0
        )
        measured = response.usage.prompt_tokens - text_tokens
    except Exception:  # noqa: BLE001 - any failure leaves the margin in place
        return UNMEASURED_TEMPLATE_TOKENS, "not measured (a margin)"
    finally:
        client.close()
    if measured < 0:
        return UNMEASURED_TEMPLATE_TOKENS, "not measured (a margin)"
    return measured, "measured (a 1-token completion)"
