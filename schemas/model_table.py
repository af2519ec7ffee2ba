"""The model table (`schemas/model_table.yaml`, `RAGROUTE_MODEL_TABLE`): the context window and tokenizer of
models whose endpoint does not report them."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import yaml


class KnownModel(NamedTuple):
    name: str  # the table's entry that matched
    window: int | None
    tokenizer: str | None  # `tiktoken:<encoding>`, `gguf:<file>` or `hf:<repo or path>`


def load_model_table(path: Path) -> dict[str, KnownModel]:
    models = yaml.safe_load(path.read_text()).get("models", {})
    return {
        name: KnownModel(name, spec.get("window"), spec.get("tokenizer")) for name, spec in models.items()
    }


def known_model(table: dict[str, KnownModel], model: str) -> KnownModel | None:
    """The entry for `model`: its exact name, else the longest listed prefix, with or without a provider prefix
    (`openai/gpt-4o-2024-08-06` is `gpt-4o`)."""
    for name in (model, model.split("/", 1)[-1]):
        if name in table:
            return table[name]
        prefixes = [listed for listed in table if name.startswith(listed + "-")]
        if prefixes:
            return table[max(prefixes, key=len)]
    return None
