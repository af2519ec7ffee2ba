"""The price table (`schemas/prices.yaml`, `RAGROUTE_PRICE_TABLE`) and the one place a call's cost is computed."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import yaml


class Price(NamedTuple):
    input_usd_per_m: float
    output_usd_per_m: float

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_usd_per_m + completion_tokens * self.output_usd_per_m) / 1e6


def load_prices(path: Path) -> dict[str, Price]:
    """model -> its price per 1M input and output tokens."""
    models = yaml.safe_load(path.read_text()).get("models", {})
    return {name: Price(float(p["input"]), float(p["output"])) for name, p in models.items()}


def cost_usd(
    prices: dict[str, Price], model: str, prompt_tokens: int, completion_tokens: int
) -> float | None:
    """The dollars of a call, or None when the model has no price."""
    price = prices.get(model)
    return price.cost_usd(prompt_tokens, completion_tokens) if price else None
