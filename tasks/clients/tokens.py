"""Tokenizers for counting and truncating prompts, loaded offline or asked of the endpoint.

A `Tokenizer` wraps one codec (encode/decode without special tokens):
- `gguf:<file>`: a GGUF model's vocabulary through llama.cpp (the local models `make setup` installs);
- `tiktoken:<encoding>`: OpenAI's encodings, whose files `make setup` installs (`TIKTOKEN_CACHE_DIR`);
- `hf:<tokenizer.json or repo id>`: a Hugging Face tokenizer from a file or the local cache (never downloaded);
- an endpoint's own tokenizer over HTTP (vLLM's `/tokenize` + `/detokenize`, llama.cpp's, llama-cpp-python's).
`exact` is False where the tokenizer only stands in for the model's own (an estimate).
"""

from __future__ import annotations

import atexit
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import httpx

from schemas.errors import RagrouteError

# Whose middle truncation: LongBench's pred.py (and ragroute's own prompts) or LongBench v2's.
MiddleRule = Literal["longbench", "longbench_v2"]


class TokenizerUnavailable(RagrouteError):
    """A tokenizer named in the settings or the model table cannot be loaded here."""


@lru_cache(maxsize=4)
def _gguf_vocab(path: Path):
    import llama_cpp

    if not path.is_file():
        raise TokenizerUnavailable(f"model file not found: {path}")
    vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    atexit.register(vocab.close)  # freed before interpreter shutdown tears down llama_cpp's globals
    return vocab


def gguf_codec(path: Path) -> tuple[Callable[[str], list[int]], Callable[[list[int]], str]]:
    vocab = _gguf_vocab(path)
    return (
        lambda text: vocab.tokenize(text.encode("utf-8"), add_bos=False, special=False),
        lambda tokens: vocab.detokenize(tokens).decode("utf-8", errors="ignore"),
    )


def gguf_chat_counter(path: Path) -> Callable[[str], int] | None:
    """Counts a one-message chat prompt as llama-cpp-python's server does: the GGUF's own chat template rendered
    with the generation prompt, tokenized with special tokens (None: the file has no template)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    vocab = _gguf_vocab(path)
    template = vocab.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    special = {name: vocab.detokenize([token], special=True).decode("utf-8") for name, token in
               (("eos_token", vocab.token_eos()), ("bos_token", vocab.token_bos()))}  # fmt: skip
    formatter = Jinja2ChatFormatter(template=template, **special)

    def count(text: str) -> int:
        rendered = formatter(messages=[{"role": "user", "content": text}])
        add_bos = not rendered.added_special
        return len(vocab.tokenize(rendered.prompt.encode("utf-8"), add_bos=add_bos, special=True))

    return count


def tiktoken_codec(encoding: str) -> tuple[Callable[[str], list[int]], Callable[[list[int]], str]]:
    import tiktoken

    try:
        codec = tiktoken.get_encoding(encoding)
    except Exception as error:  # the file is missing and could not be fetched (offline)
        raise TokenizerUnavailable(
            f"tiktoken encoding {encoding!r} is not installed ({type(error).__name__}): run `make setup`"
        ) from error
    return (lambda text: codec.encode(text, disallowed_special=())), codec.decode


def hf_codec(name: str) -> tuple[Callable[[str], list[int]], Callable[[list[int]], str]]:
    """A Hugging Face tokenizer from a `tokenizer.json` path, or a repo id already in the local cache."""
    from tokenizers import Tokenizer as HFTokenizer

    try:
        if Path(name).is_file():
            codec = HFTokenizer.from_file(name)
        else:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(name, "tokenizer.json")
            if not isinstance(cached, str):
                raise FileNotFoundError(f"{name}/tokenizer.json is not in the local Hugging Face cache")
            codec = HFTokenizer.from_file(cached)
    except Exception as error:
        raise TokenizerUnavailable(f"Hugging Face tokenizer {name!r} unavailable: {error}") from error
    return (
        lambda text: codec.encode(text, add_special_tokens=False).ids,
        lambda tokens: codec.decode(tokens, skip_special_tokens=True),
    )


class EndpointCodec:
    """The endpoint's own tokenizer over HTTP, in one of three dialects (see `probe`)."""

    DIALECTS = {
        # name: (tokenize path, detokenize path, request field of the text, reply field of the text)
        "vllm": ("/tokenize", "/detokenize", "prompt", "prompt"),
        "llama.cpp": ("/tokenize", "/detokenize", "content", "content"),
        "llama-cpp-python": ("/extras/tokenize", "/extras/detokenize", "input", "text"),
    }

    def __init__(self, root_url: str, model: str, dialect: str, headers: dict[str, str], timeout_s: float):
        self.root_url, self.model, self.dialect = root_url.rstrip("/"), model, dialect
        self.http = httpx.Client(headers=headers, timeout=timeout_s)
        self.prefix: list[int] = []
        try:
            self.prefix = self._tokenize("")  # a BOS token some servers always add
        except Exception:
            self.http.close()
            raise

    def _post(self, path: str, body: dict) -> dict:
        response = self.http.post(self.root_url + path, json=body | {"model": self.model})
        response.raise_for_status()
        return response.json()

    def _tokenize(self, text: str) -> list[int]:
        path, _, field, _ = self.DIALECTS[self.dialect]
        extra = {"add_special_tokens": False} if self.dialect == "vllm" else {}
        return list(self._post(path, {field: text} | extra)["tokens"])

    def encode(self, text: str) -> list[int]:
        tokens = self._tokenize(text)
        return tokens[len(self.prefix) :] if tokens[: len(self.prefix)] == self.prefix else tokens

    def decode(self, tokens: list[int]) -> str:
        _, path, _, field = self.DIALECTS[self.dialect]
        return self._post(path, {"tokens": tokens})[field]

    def count_chat(self, text: str) -> int:
        """vLLM renders messages with the model's chat template: the count a chat request's usage reports."""
        body = {"messages": [{"role": "user", "content": text}], "add_generation_prompt": True}
        return int(self._post("/tokenize", body)["count"])

    @classmethod
    def probe(
        cls, root_url: str, model: str, headers: dict[str, str], timeout_s: float
    ) -> EndpointCodec | None:
        """The first dialect the endpoint answers, or None (OpenAI and most hosted APIs have none)."""
        for dialect in cls.DIALECTS:
            try:
                codec = cls(root_url, model, dialect, headers, timeout_s)
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                continue
            try:
                tokens = codec.encode("ragroute")
                if tokens and codec.decode(tokens).strip() == "ragroute":
                    return codec
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                pass
            codec.http.close()  # not this dialect
        return None


@dataclass
class Tokenizer:
    name: str  # how it was chosen: `gguf:<file>`, `tiktoken:<encoding>`, `hf:<name>`, `endpoint:<dialect>`
    encode: Callable[[str], list[int]]
    decode: Callable[[list[int]], str]
    exact: bool  # the model's own tokenizer (False: an estimate standing in for it)
    # A one-user-message chat prompt's tokens as the server counts them (its chat template), where known here.
    count_chat: Callable[[str], int] | None = None

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def truncate_middle(self, text: str, max_tokens: int, rule: MiddleRule = "longbench") -> str:
        return truncate_middle(text, max_tokens, self.encode, self.decode, rule)


def truncate_middle(
    text: str,
    max_tokens: int,
    encode: Callable[[str], list[int]],
    decode: Callable[[list[int]], str],
    rule: MiddleRule = "longbench",
) -> str:
    """Keep the start and the end of an over-long text, by the rule of the benchmark's own `pred.py`; a text
    of at most `max_tokens` tokens is returned unchanged (not re-decoded).

    - `longbench` (LongBench, and ragroute's own prompts): `half = int(max_length/2)`, the first and the last
      `half` tokens decoded apart. Two decoded halves can re-encode into a few more tokens than they were (a
      merge across the cut): ragroute then moves the cut until the text fits `max_tokens` when encoded again.
    - `longbench_v2` (LongBench v2): `ids[:max_len//2] + ids[-max_len//2:]` decoded in one piece, as is (for
      an odd `max_len` the tail keeps the extra token: -7//2 is -4).
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    tokens = list(encode(text))
    if len(tokens) <= max_tokens:
        return text
    if rule == "longbench_v2":
        return decode(tokens[: max_tokens // 2] + tokens[-max_tokens // 2 :])
    keep = max_tokens
    while keep > 1:
        half = keep // 2
        cut = decode(tokens[:half]) + decode(tokens[-half:])
        overshoot = len(encode(cut)) - max_tokens
        if overshoot <= 0:
            return cut
        keep -= max(overshoot, 2)
    return ""


def tokenizer_from_spec(spec: str, models_dir: Path, exact: bool = True) -> Tokenizer:
    """A tokenizer from a `kind:name` spec of the settings or the model table."""
    kind, _, name = spec.partition(":")
    count_chat = None
    if kind == "gguf":
        path = Path(name) if Path(name).is_absolute() else models_dir / name
        encode, decode = gguf_codec(path)
        count_chat = gguf_chat_counter(path)
    elif kind == "tiktoken":
        encode, decode = tiktoken_codec(name)
    elif kind == "hf":
        encode, decode = hf_codec(name)
    else:
        raise TokenizerUnavailable(
            f"unknown tokenizer {spec!r}: use gguf:<file>, tiktoken:<encoding> or hf:<name>"
        )
    return Tokenizer(spec, encode, decode, exact, count_chat)
