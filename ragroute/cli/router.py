"""`ragroute router train`: a learned router from the warehouse's stored RAG and LC outcomes."""

from __future__ import annotations

import json

import typer

from ragroute.cli.common import fail, quiet
from ragroute.terminal import console
from schemas.evaluation import QUESTION_SET
from schemas.settings import get_settings

router_app = typer.Typer(help="Learned routers trained on stored evaluation outcomes.", no_args_is_help=True)


@router_app.command("train")
def train_command(
    dataset: str | None = typer.Option(None, "--dataset", help="The evaluated data set (e.g. mini)."),
    collection: str | None = typer.Option(None, "--collection", help="A collection: its question set's outcomes."),
    model: str | None = typer.Option(None, "--model", help="The evaluated model (default: settings)."),
    as_json: bool = typer.Option(False, "--json", help="End with one JSON summary line."),
) -> None:
    """Train the model's router for a data set (or a collection's question set) on the latest RAG and LC outcome
    of each question; `eval --methods learned_route` and `ask --method auto` use the latest one."""
    if (dataset is None) == (collection is None):
        fail("give --dataset or --collection")
    quiet()
    from tasks.routing.learned import describe, train_and_store

    settings = get_settings()
    name, model = dataset or f"{QUESTION_SET}{collection}", model or settings.llm_model
    trained = train_and_store(settings, name, model)
    console.print(f"{name} with {model}: " + describe(trained), markup=False)
    if as_json:
        typer.echo(json.dumps({
            "router_id": trained.router_id, "dataset": name, "model": model, "examples": trained.examples,
            "questions": trained.questions, "needs_lc": trained.needs_lc, "cv_accuracy": trained.cv_accuracy,
            "majority_accuracy": trained.majority_accuracy, "training_runs": trained.training_runs,
        }))  # fmt: skip
