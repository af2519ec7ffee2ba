"""The nightly plan: which sources to keep indexed, which data sets to evaluate, when a run has regressed.

A YAML file (`RAGROUTE_PLAN_PATH`, default `ragroute-plan.yaml` in the project root); relative paths in it are
relative to the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.errors import RagrouteError
from schemas.evaluation import EvalConfig


class PlanError(RagrouteError):
    """The plan file is missing or invalid; the message names the file and the problem."""


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path
    collection: str | None = None  # default: the `collection` setting


class Regression(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_score_drop: float = 2.0  # points of 100
    max_cost_rise_pct: float = 20.0


class NightlyPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[Source] = Field(default_factory=list)
    evaluations: list[EvalConfig] = Field(default_factory=list)
    regression: Regression = Field(default_factory=Regression)
    # The night's spend cap in dollars over all evaluations: each is capped at what the earlier ones left
    # (and at its own max_cost_usd); one that would pass it stops before its first call, or once its spend does.
    budget_usd: float | None = Field(default=None, gt=0)


def load_plan(path: Path) -> NightlyPlan:
    """Read and check the plan; source paths and .jsonl data sets become absolute."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        plan = NightlyPlan.model_validate(raw)
    except FileNotFoundError as error:
        raise PlanError(f"no plan file at {path}: create it or set RAGROUTE_PLAN_PATH") from error
    except (yaml.YAMLError, ValidationError) as error:
        raise PlanError(f"invalid plan {path}: {error}") from error
    base = path.resolve().parent
    for source in plan.sources:
        source.path = (base / source.path).resolve()
    for evaluation in plan.evaluations:
        if evaluation.dataset.endswith(".jsonl"):
            evaluation.dataset = str((base / evaluation.dataset).resolve())
    return plan
