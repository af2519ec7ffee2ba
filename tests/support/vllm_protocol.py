"""A stand-in for vLLM's OpenAI-compatible server in tests: vLLM needs a GPU, which these machines do not have.

It speaks the parts of vLLM's documented protocol that ragroute reads, with a real tokenizer:
- `GET /v1/models`: the served model with `max_model_len`, `owned_by: "vllm"` and `root`;
- `POST /tokenize` with `{model, prompt}` or `{model, messages}` -> `{count, max_model_len, tokens, token_strs}`;
  messages are rendered with the chat template as a chat request renders them, so `count` equals that
  request's `usage.prompt_tokens`; `POST /detokenize` with `{model, tokens}` -> `{prompt}`;
- `POST /v1/chat/completions` and `/v1/completions`: OpenAI responses whose `usage` has
  `prompt_tokens_details.cached_tokens` (vLLM with `--enable-prompt-tokens-details`), modelled on vLLM's
  automatic prefix caching: the leading whole blocks of 16 tokens that an earlier prompt already filled (a
  chain hash per block, nothing evicted), never the prompt's last token;
- a prompt that does not fit `max_model_len` (with `max_tokens`, where given) gets vLLM's 400 and its message.

The tokenizer is SmolLM2's vocabulary from its GGUF file (llama.cpp, no weights), and messages are rendered with
the chat template in that file (ChatML), as vLLM renders a model's own template. Nothing is generated: the
answer is the rest of the first prompt line that starts with `ANSWER:`, else "unanswerable", so a test decides
what the model answers; `completion_tokens` counts the answer's tokens and the end-of-turn token. Every request
is recorded in `requests`.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.asgi_thread import serving

BLOCK_SIZE = 16  # vLLM's default KV-cache block size; prefix caching reuses whole blocks
ANSWER_PREFIX = "ANSWER:"
NO_ANSWER = "unanswerable"


@dataclass(frozen=True)
class Served:
    """One generation request as the server saw it."""

    endpoint: str  # "chat" or "completions"
    model: str
    prompt_tokens: int
    cached_tokens: int  # 0 for a rejected request
    max_tokens: int | None  # as requested (None: up to the window)
    status: int  # 200, or the error's status


class VLLMProtocolServer:
    def __init__(self, model_name: str, max_model_len: int, tokenizer_file: Path):
        self.model_name = model_name
        self.max_model_len = max_model_len
        self.tokenizer_file = tokenizer_file
        self.requests: list[Served] = []
        self.base_url = ""  # ends in /v1, for OpenAI clients
        self.root_url = ""  # where /tokenize and /detokenize are
        self._vocab: Any = None
        self._template: Any = None
        self._cached_blocks: set[int] = set()
        self._created = int(time.time())

    # -- tokenizer and chat template -----------------------------------------------------------------
    def _load(self) -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._vocab = llama_cpp.Llama(model_path=str(self.tokenizer_file), vocab_only=True, verbose=False)
        self._template = Jinja2ChatFormatter(
            template=self._vocab.metadata["tokenizer.chat_template"],
            eos_token=self._vocab.detokenize([self._vocab.token_eos()], special=True).decode("utf-8"),
            bos_token=self._vocab.detokenize([self._vocab.token_bos()], special=True).decode("utf-8"),
        )

    def encode(self, text: str, *, add_special: bool) -> list[int]:
        """Token ids as vLLM's tokenizer gives them: special markers in the text are single tokens, and
        `add_special` adds the tokens the model's tokenizer adds to a plain prompt (its BOS, if any)."""
        return self._vocab.tokenize(text.encode("utf-8"), add_bos=add_special, special=True)

    def render(self, messages: list[dict[str, Any]]) -> str:
        """The chat prompt of `messages` with the generation prompt, as vLLM's chat endpoint renders it."""
        return self._template(messages=messages).prompt

    def _prompt_tokens(self, body: dict[str, Any]) -> tuple[str, list[int]]:
        """The prompt text and its tokens: messages rendered (no tokens added), or a plain prompt (with them)."""
        if "messages" in body:
            text = self.render(body["messages"])
            return text, self.encode(text, add_special=body.get("add_special_tokens", False))
        return body["prompt"], self.encode(body["prompt"], add_special=body.get("add_special_tokens", True))

    # -- prefix caching and limits -------------------------------------------------------------------
    def _cache(self, tokens: list[int]) -> int:
        """The tokens served from the prefix cache; the prompt's whole blocks are cached for later ones."""
        hashes = _block_hashes(tokens)
        hits = 0
        for block_hash in hashes[: (len(tokens) - 1) // BLOCK_SIZE]:  # the last token is always computed
            if block_hash not in self._cached_blocks:
                break
            hits += 1
        self._cached_blocks.update(hashes)
        return hits * BLOCK_SIZE

    def _length_error(self, prompt_tokens: int, max_tokens: int | None) -> str | None:
        """vLLM's message for a request that does not fit the window, or None."""
        window = self.max_model_len
        if prompt_tokens >= window:
            return (f"This model's maximum context length is {window} tokens. However, your request has "
                    f"{prompt_tokens} input tokens. Please reduce the length of the input messages.")  # fmt: skip
        if max_tokens is not None and prompt_tokens + max_tokens > window:
            return (f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's maximum "
                    f"context length is {window} tokens and your request has {prompt_tokens} input tokens "
                    f"({max_tokens} > {window} - {prompt_tokens}).")  # fmt: skip
        return None

    # -- HTTP ----------------------------------------------------------------------------------------
    async def _models(self, request: Request) -> JSONResponse:
        model = {"id": self.model_name, "object": "model", "created": self._created, "owned_by": "vllm",
                 "root": self.model_name, "parent": None, "max_model_len": self.max_model_len}  # fmt: skip
        return JSONResponse({"object": "list", "data": [model]})

    async def _tokenize(self, request: Request) -> JSONResponse:
        body = await request.json()
        if (unknown := self._unknown_model(body)) is not None:
            return unknown
        _, tokens = self._prompt_tokens(body)
        return JSONResponse(
            {"count": len(tokens), "max_model_len": self.max_model_len, "tokens": tokens, "token_strs": None}
        )

    async def _detokenize(self, request: Request) -> JSONResponse:
        body = await request.json()
        if (unknown := self._unknown_model(body)) is not None:
            return unknown
        return JSONResponse(
            {"prompt": self._vocab.detokenize(body["tokens"]).decode("utf-8", errors="replace")}
        )

    async def _chat(self, request: Request) -> JSONResponse:
        return await self._generate(request, "chat")

    async def _completions(self, request: Request) -> JSONResponse:
        return await self._generate(request, "completions")

    async def _generate(self, request: Request, endpoint: str) -> JSONResponse:
        body = await request.json()
        if (unknown := self._unknown_model(body)) is not None:
            return unknown
        text, tokens = self._prompt_tokens(body)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        if (message := self._length_error(len(tokens), max_tokens)) is not None:
            self.requests.append(Served(endpoint, body["model"], len(tokens), 0, max_tokens, 400))
            return _error(400, message, "BadRequestError")
        cached = self._cache(tokens)
        self.requests.append(Served(endpoint, body["model"], len(tokens), cached, max_tokens, 200))
        answer, completion_tokens, finish = self._answer(text, max_tokens or self.max_model_len - len(tokens))
        usage = {"prompt_tokens": len(tokens), "completion_tokens": completion_tokens,
                 "total_tokens": len(tokens) + completion_tokens,
                 "prompt_tokens_details": {"cached_tokens": cached}}  # fmt: skip
        if endpoint == "chat":
            choice = {"index": 0, "message": {"role": "assistant", "content": answer}}
            kind, prefix = "chat.completion", "chatcmpl"
        else:
            choice = {"index": 0, "text": answer}
            kind, prefix = "text_completion", "cmpl"
        choice |= {"logprobs": None, "finish_reason": finish}
        return JSONResponse({"id": f"{prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()),
                             "model": body["model"], "choices": [choice], "usage": usage})  # fmt: skip

    def _answer(self, prompt: str, max_tokens: int) -> tuple[str, int, str]:
        """The answer, its completion tokens and finish reason, cut to `max_tokens` as generation would be."""
        tokens = self.encode(answer_in(prompt), add_special=False)
        if len(tokens) + 1 <= max_tokens:
            return answer_in(prompt), len(tokens) + 1, "stop"  # + the end-of-turn token
        kept = tokens[:max_tokens]
        return self._vocab.detokenize(kept).decode("utf-8", errors="ignore"), len(kept), "length"

    def _unknown_model(self, body: dict[str, Any]) -> JSONResponse | None:
        if body.get("model") in (None, self.model_name):
            return None
        return _error(404, f"The model `{body['model']}` does not exist.", "NotFoundError")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/tokenize", self._tokenize, methods=["POST"]),
                Route("/detokenize", self._detokenize, methods=["POST"]),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/completions", self._completions, methods=["POST"]),
            ]
        )

    @contextmanager
    def running(self) -> Iterator[VLLMProtocolServer]:
        """Serve on a free loopback port in a background thread; the URLs are set while the block runs."""
        self._load()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        try:
            with serving(self.app(), sock, "vLLM-protocol server") as port:
                self.root_url = f"http://127.0.0.1:{port}"
                self.base_url = f"{self.root_url}/v1"
                yield self
        finally:
            self._vocab.close()


def answer_in(prompt: str) -> str:
    """What the server answers: the rest of the first line that starts with `ANSWER:`, else "unanswerable"."""
    for line in prompt.splitlines():
        if line.strip().startswith(ANSWER_PREFIX):
            return line.strip().removeprefix(ANSWER_PREFIX).strip()
    return NO_ANSWER


def _error(status: int, message: str, kind: str) -> JSONResponse:
    """An error in the shape of vLLM's `ErrorResponse`."""
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": status}}, status)


def _block_hashes(tokens: list[int]) -> list[int]:
    """A hash per whole block of the prompt, chained to the blocks before it (as vLLM's prefix cache keys)."""
    hashes: list[int] = []
    parent = 0
    for start in range(0, len(tokens) - BLOCK_SIZE + 1, BLOCK_SIZE):
        parent = hash((parent, tuple(tokens[start : start + BLOCK_SIZE])))
        hashes.append(parent)
    return hashes
