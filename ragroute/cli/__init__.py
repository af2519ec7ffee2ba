"""The `ragroute` command line: the app, its global options and every command, one module per group."""

from __future__ import annotations

import sys

import typer

from ragroute.cli import ask, evaluate, ingest, orchestration, questions, router, warehouse
from ragroute.cli.evaluate import method_table
from ragroute.cli.services import services_app
from ragroute.terminal import console, state
from schemas.errors import RagrouteError
from schemas.settings import apply_library_environment

__all__ = ["app", "method_table"]


class _App(typer.Typer):
    """Every user-facing error (a `RagrouteError`) ends the command with its message and exit code 1; an
    unexpected one is named on the terminal, with its traceback in the log file (unless `--verbose`)."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except RagrouteError as error:
            console.print(f"[red]error:[/red] {error}", soft_wrap=True)  # one line, whatever the width
            sys.exit(1)
        except Exception as error:
            if state.log_file is not None:
                console.print(
                    f"[red]error:[/red] {type(error).__name__}: {error} (traceback in {state.log_file})"
                )
            raise


app = _App(
    help="ragroute: RAG vs long-context vs Self-Route, measured on your documents.", no_args_is_help=True
)
app.add_typer(services_app, name="services")
app.add_typer(warehouse.warehouse_app, name="warehouse")
app.add_typer(questions.questions_app, name="questions")
app.add_typer(router.router_app, name="router")


@app.callback()
def main(
    verbose: bool = typer.Option(
        False,
        "-v",
        "--verbose",
        help="Show other libraries' warnings, logs and progress bars here instead of in "
        "<data dir>/logs/ragroute.log.",
    ),
) -> None:
    """ragroute: RAG vs long-context vs Self-Route, measured on your documents."""
    state.verbose = verbose
    apply_library_environment()


# The order here is the order of `ragroute --help`.
COMMANDS = {
    "ingest": ingest.ingest_command,
    "eval": evaluate.eval_command,
    "score": evaluate.score_command,
    "samples": evaluate.samples_command,
    "sql": warehouse.sql_command,
    "report": warehouse.report_command,
    "ask": ask.ask_command,
    "serve": ask.serve_command,
    "nightly": orchestration.nightly_command,
    "deploy": orchestration.deploy_command,
    "worker": orchestration.worker_command,
    "watch": ingest.watch_command,
    "check": orchestration.check,
}
for name, command in COMMANDS.items():
    app.command(name)(command)
