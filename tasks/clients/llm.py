"""The OpenAI-compatible LLM endpoint: the local llama.cpp server, OpenAI, or vLLM, all through `openai`.

`LLM.complete` adds what an evaluation needs around one chat completion: bounded concurrency, retries with
backoff on 429/5xx/timeouts and malformed answers (honouring Retry-After), temperature 0, a persistent response
cache of real answers only (read and written off the event loop; a failed cache read or write is logged and the
answer kept), token usage (counted with the tokenizer and flagged when the endpoint reports none),
what the calls were billed (provider-cached input tokens apart; a malformed 200 with usage counts; an answer from
the cache is free) and the probability that the answer starts with "unanswerable" when the endpoint returns logprobs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import openai
from openai import AsyncOpenAI
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from schemas.settings import Settings, logprobs_alias
from tasks.clients.profile import endpoint_identity
from warehouse.llm_cache import ResponseCache, open_response_cache

log = logging.getLogger("ragroute.llm")


def async_client(settings: Settings, max_retries: int = 2, timeout_s: float = 120.0) -> AsyncOpenAI:
    """An `AsyncOpenAI` client for the configured endpoint."""
    return AsyncOpenAI(
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        max_retries=max_retries,
        timeout=timeout_s,
    )


class MalformedResponse(Exception):
    """The endpoint answered 200 with something that is not a usable chat completion."""


@dataclass(frozen=True)
class Billed:
    """Tokens an endpoint charged for: a fresh answer's usage, plus that of 200 responses rejected as malformed;
    nothing for an answer from ragroute's cache."""

    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    completion_tokens: int = 0

    def __add__(self, other: Billed) -> Billed:
        return Billed(
            self.prompt_tokens + other.prompt_tokens,
            self.cached_prompt_tokens + other.cached_prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass
class Completion:
    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = False
    cached: bool = False
    latency_ms: float = 0.0
    decline_prob: float | None = None
    error: str | None = None
    cached_prompt_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache
    billed: Billed = field(default_factory=Billed)  # what this answer's calls were charged (0 from the cache)

    @property
    def ok(self) -> bool:
        return self.error is None

    def joined(
        self, other: Completion, text: str | None, decline_prob: float | None = None, error: str | None = None
    ) -> Completion:
        """Two calls as one answer, given as `text`: both calls' tokens, time and charge (cached when both
        were)."""
        return Completion(
            text=text,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            tokens_estimated=self.tokens_estimated or other.tokens_estimated,
            cached=self.cached and other.cached,
            latency_ms=self.latency_ms + other.latency_ms,
            decline_prob=decline_prob,
            error=error,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
            billed=self.billed + other.billed,
        )

    def followed_by(self, step: Completion) -> Completion:
        """A chain-of-thought step, then the answer step: the second's text, either one's error."""
        return self.joined(step, step.text, error=self.error or step.error)


@dataclass
class CallCounter:
    requests: int = 0  # HTTP requests actually sent, retries included
    cached: int = 0


def _retryable(error: BaseException) -> bool:
    if isinstance(error, openai.APIStatusError):
        return error.status_code == 429 or error.status_code >= 500
    return isinstance(error, openai.APITimeoutError | openai.APIConnectionError | MalformedResponse)


def _answer_text(choice, chat: bool) -> str | None:
    """The text of a chat choice (`message.content`) or of a plain completion choice (`text`)."""
    if not chat:
        return getattr(choice, "text", None)
    message = getattr(choice, "message", None)
    return getattr(message, "content", None) if message is not None else None


def _check_completion(response, chat: bool) -> None:
    """Raise MalformedResponse unless `response` is a completion with an answer to read."""
    choices = getattr(response, "choices", None)  # a body that is not JSON comes back as a plain string
    if not choices:
        raise MalformedResponse("the response has no choices")
    if _answer_text(choices[0], chat) is None:
        raise MalformedResponse("the response has no answer text")


def _billed_usage(response) -> Billed:
    """The usage a response reports (its charge), or nothing where it has none (a body that is not JSON)."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return Billed()
    return Billed(usage.prompt_tokens or 0, _cached_prompt_tokens(usage), usage.completion_tokens or 0)


def _cached_prompt_tokens(usage) -> int:
    """`usage.prompt_tokens_details.cached_tokens` (OpenAI; vLLM with --enable-prompt-tokens-details), else 0."""
    details = getattr(usage, "prompt_tokens_details", None)
    return int(getattr(details, "cached_tokens", None) or 0)


def _retry_after_s(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def decline_probability(logprobs) -> float | None:
    """Probability mass of first tokens that begin the word "unanswerable" (from the top logprobs)."""
    if not logprobs or not logprobs.content:
        return None
    first = logprobs.content[0]
    candidates = first.top_logprobs or [first]
    mass = 0.0
    for candidate in candidates:
        token = candidate.token.strip().strip("\"'“”").lower()
        if token and "unanswerable".startswith(token) and len(token) >= 2:
            mass += math.exp(candidate.logprob)
    return min(mass, 1.0)


class LLM:
    """Completions for one endpoint and model, with concurrency, retries, cache and accounting. Prompts go
    through the model's chat template, or as plain text (`chat=False`, LongBench's rule for a few tasks)."""

    def __init__(
        self,
        settings: Settings,
        model: str | None = None,
        concurrency: int | None = None,
        max_attempts: int | None = None,
        count_tokens=None,
    ):
        self.settings = settings
        self.model = model or settings.llm_model
        self.endpoint = endpoint_identity(settings)  # the cache key: one server's spellings share answers
        self.client = async_client(settings, max_retries=0, timeout_s=settings.llm_timeout_s)
        self.cache = open_response_cache(settings.warehouse_target, settings.data_dir / "llm_cache.sqlite")
        # Cache writes run one at a time on a thread of their own: a write waiting for a lock or retrying a
        # conflict never holds up the event loop, nor a read (in the default pool).
        self._cache_writer = ThreadPoolExecutor(1, thread_name_prefix="llm-cache-write")
        self._cache_writes: set[asyncio.Future] = set()
        self.semaphore = asyncio.Semaphore(concurrency or settings.llm_concurrency)
        self.max_attempts = max_attempts or settings.llm_max_attempts
        self.count_tokens = count_tokens
        self.counter = CallCounter()
        self._logprobs_name: str | None = None

    async def _logprobs_model(self) -> str:
        """The model name for requests with logprobs: the `logits_all` copy when the endpoint lists one (a
        ragroute llama.cpp server, see `Settings.llm_logprobs_model`), else the model itself. Looked up once."""
        if self._logprobs_name is None:
            alias = logprobs_alias(self.model)
            try:
                listed = {model.id for model in (await self.client.models.list()).data}
            except Exception:  # an endpoint without a model list: ask the model itself
                listed = set()
            self._logprobs_name = alias if alias in listed else self.model
        return self._logprobs_name

    async def aclose(self) -> None:
        """Close the client, once the cache writes under way have ended (written or logged)."""
        await self.client.close()
        await asyncio.gather(*self._cache_writes)
        self._cache_writer.shutdown()
        self.cache.close()

    async def _cached(self, key: str) -> dict | None:
        """The cached answer, read in a thread; a cache that cannot be read is a miss (logged)."""
        try:
            return await asyncio.to_thread(self.cache.get, key)
        except Exception as error:
            log.warning("LLM cache read of %s failed, asking %s: %s: %s", key, self.model, type(error).__name__,
                        error)  # fmt: skip
            return None

    def _store(self, key: str, body: dict) -> None:
        """Write an answer to the cache in the background; a failed write is logged, never raised."""
        future = asyncio.get_running_loop().run_in_executor(self._cache_writer, self._put_logged, key, body)
        self._cache_writes.add(future)
        future.add_done_callback(self._cache_writes.discard)

    def _put_logged(self, key: str, body: dict) -> None:
        try:
            self.cache.put(key, body)
        except Exception as error:  # the answer is kept: a later run asks the endpoint again
            log.warning("LLM cache write of %s (%s) failed, answer kept: %s: %s", key, self.model,
                        type(error).__name__, error)  # fmt: skip

    def _request(self, prompt: str, max_tokens: int, want_logprobs: bool, chat: bool) -> tuple[dict, dict, str]:
        """The request body, its parameters and its cache key."""
        request = {"messages": [{"role": "user", "content": prompt}]} if chat else {"prompt": prompt}
        parameters = {"temperature": 0, "max_tokens": max_tokens}
        if want_logprobs and chat and self.settings.llm_logprobs:
            parameters |= {"logprobs": True, "top_logprobs": 5}
        key = ResponseCache.key(self.endpoint, self.model, request.get("messages", prompt), parameters)
        return request, parameters, key

    def holds(self, prompt: str, max_tokens: int, want_logprobs: bool = False, chat: bool = True) -> bool:
        """Whether the cache already holds this call's answer (a forecast; an unreadable cache holds nothing)."""
        try:
            return self.cache.get(self._request(prompt, max_tokens, want_logprobs, chat)[2]) is not None
        except Exception:  # noqa: BLE001 - a cache that cannot be read is a miss, as for `complete`
            return False

    async def complete(
        self, prompt: str, max_tokens: int, want_logprobs: bool = False, chat: bool = True
    ) -> Completion:
        """One answer. Logprobs (for the decline probability) are asked for on chat prompts only."""
        request, parameters, key = self._request(prompt, max_tokens, want_logprobs, chat)
        if (body := await self._cached(key)) is not None:
            self.counter.cached += 1
            return Completion(**body, cached=True)
        started = time.perf_counter()
        rejected: list[Billed] = []  # 200 responses with usage that were malformed: paid for, not used
        try:
            async with self.semaphore:  # the model lookup too: requests keep the order they queued in
                if "logprobs" in parameters:
                    request["model"] = await self._logprobs_model()
                started = time.perf_counter()  # latency excludes the wait for a free slot
                response = await self._create_with_retries(request, parameters, rejected)
        except Exception as error:  # recorded as a row, never raised: the run goes on
            return Completion(
                text=None,
                error=f"{type(error).__name__}: {error}"[:500],
                latency_ms=(time.perf_counter() - started) * 1000,
                billed=sum(rejected, Billed()),
            )
        completion = self._completion(prompt, response, (time.perf_counter() - started) * 1000, chat)
        body = {k: v for k, v in completion.__dict__.items() if k not in ("cached", "error", "billed")}
        self._store(key, body)
        return replace(completion, billed=sum(rejected, completion.billed))

    async def _create_with_retries(self, request: dict, parameters: dict, rejected: list[Billed]):
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.max_attempts),
            wait=self._wait,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                self.counter.requests += 1
                try:
                    create = (
                        self.client.chat.completions if "messages" in request else self.client.completions
                    )
                    response = await create.create(**({"model": self.model} | request), **parameters)
                except json.JSONDecodeError as error:  # a 200 with a broken body: the client does not wrap it
                    raise MalformedResponse(f"the response body is not valid JSON: {error}") from error
                try:
                    _check_completion(response, chat="messages" in request)
                except MalformedResponse:
                    rejected.append(_billed_usage(response))
                    raise
                return response
        raise AssertionError("unreachable")

    def _wait(self, retry_state) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = _retry_after_s(error) if error else None
        backoff = wait_exponential_jitter(multiplier=0.5, max=30)(retry_state)
        return min(retry_after, 60.0) if retry_after is not None else backoff

    def _completion(self, prompt: str, response, latency_ms: float, chat: bool) -> Completion:
        choice = response.choices[0]
        text = _answer_text(choice, chat) or ""
        usage = response.usage
        cached_prompt_tokens = 0
        if usage and usage.prompt_tokens:
            prompt_tokens, completion_tokens, estimated = usage.prompt_tokens, usage.completion_tokens, False
            cached_prompt_tokens = _cached_prompt_tokens(usage)
        else:
            prompt_tokens = self.count_tokens(prompt) if self.count_tokens else len(prompt.split())
            completion_tokens = self.count_tokens(text) if self.count_tokens else len(text.split())
            estimated = True
        return Completion(
            text=text,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            tokens_estimated=estimated,
            latency_ms=latency_ms,
            decline_prob=decline_probability(getattr(choice, "logprobs", None)) if chat else None,
            cached_prompt_tokens=cached_prompt_tokens,
            billed=Billed(prompt_tokens, cached_prompt_tokens, completion_tokens),
        )
