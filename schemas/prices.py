"""The price table (`schemas/prices.yaml`, `RAGROUTE_PRICE_TABLE`) and the one place a call's cost is computed.

Two costs: the list cost of an answer (its tokens at the input and output prices, whether or not it was paid
for this time) and the spent cost (what the calls made cost: provider-cached input tokens at the cached-input
price; the caller counts only the calls it paid for)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import yaml


class Price(NamedTuple):
    input_usd_per_m: float
    output_usd_per_m: float
    cached_input_usd_per_m: float | None = None  # None: cached input tokens are billed as input

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The list cost: every prompt token at the input price."""
        return self.spent_usd(prompt_tokens, 0, completion_tokens)

    def spent_usd(self, prompt_tokens: int, cached_prompt_tokens: int, completion_tokens: int) -> float:
        """The bill of calls that read `cached_prompt_tokens` of their `prompt_tokens` from the prompt cache."""
        cached_rate = (
            self.input_usd_per_m if self.cached_input_usd_per_m is None else self.cached_input_usd_per_m
        )
        fresh = prompt_tokens - cached_prompt_tokens
        return (
            fresh * self.input_usd_per_m
            + cached_prompt_tokens * cached_rate
            + completion_tokens * self.output_usd_per_m
        ) / 1e6


def load_prices(path: Path) -> dict[str, Price]:
    """model -> its price per 1M input, output and cached input tokens."""
    models = yaml.safe_load(path.read_text()).get("models", {})
    return {
        name: Price(
            float(p["input"]),
            float(p["output"]),
            None if p.get("cached_input") is None else float(p["cached_input"]),
        )
        for name, p in models.items()
    }


def cost_usd(
    prices: dict[str, Price], model: str, prompt_tokens: int, completion_tokens: int
) -> float | None:
    """The list dollars of a call, or None when the model has no price."""
    price = prices.get(model)
    return price.cost_usd(prompt_tokens, completion_tokens) if price else None


def spent_usd(
    prices: dict[str, Price],
    model: str,
    prompt_tokens: int,
    cached_prompt_tokens: int,
    completion_tokens: int,
) -> float | None:
    """The dollars paid for calls (see `Price.spent_usd`), or None when the model has no price."""
    price = prices.get(model)
    return price.spent_usd(prompt_tokens, cached_prompt_tokens, completion_tokens) if price else None
