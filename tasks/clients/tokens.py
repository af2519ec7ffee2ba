"""Tokenizers for counting and truncating prompts, loaded offline.

The local model's own tokenizer comes from its GGUF file (`llm_model_file`). For other models none is available offline, so
the same tokenizer serves as an estimate (`exact` is False): counts are flagged as estimated.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from schemas.settings import Settings


@lru_cache(maxsize=2)
def _gguf_vocab(path: Path):
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    atexit.register(vocab.close)  # freed before interpreter shutdown tears down llama_cpp's globals
    return vocab


@dataclass
class Tokenizer:
    model_file: Path
    exact: bool

    def encode(self, text: str) -> list[int]:
        return _gguf_vocab(self.model_file).tokenize(text.encode("utf-8"), add_bos=False, special=False)

    def decode(self, tokens: list[int]) -> str:
        return _gguf_vocab(self.model_file).detokenize(tokens).decode("utf-8", errors="ignore")

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def truncate_middle(self, text: str, max_tokens: int) -> str:
        """Keep the first and last max_tokens/2 tokens, as LongBench's pred.py does with over-long prompts."""
        tokens = self.encode(text)
        if len(tokens) <= max_tokens:
            return text
        half = max_tokens // 2
        return self.decode(tokens[:half]) + self.decode(tokens[-half:])


def tokenizer_for(settings: Settings, model: str) -> Tokenizer:
    return Tokenizer(model_file=settings.llm_model_path, exact=model == settings.local_llm_model)
