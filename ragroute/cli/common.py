"""What every command group shares: quieting other libraries, starting flows, failing, a progress bar."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

from ragroute.terminal import console, send_noise_to_log, state
from schemas.settings import get_settings


def quiet() -> None:
    """Send other libraries' output to the log file from here on (a command calls it once its arguments
    parsed, so usage errors still reach the terminal)."""
    send_noise_to_log(get_settings().cli_log_file)


def start_flows() -> None:
    """Quiet the terminal; say once when flows will start a temporary Prefect server, and how to avoid it."""
    quiet()
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        console.print(
            "[dim]no Prefect server running: this command starts a temporary one (slow); "
            "`ragroute services up` keeps one running[/dim]"
        )


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)
    raise typer.Exit(code=1)


@contextmanager
def progress(label: str) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar; yields the (message, done, total) callback the tasks report through."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))  # fmt: skip
    # Quiet, other output goes to the log file: the bar must not pull it back onto the terminal.
    redirect = state.log_file is None
    with Progress(*columns, console=console, redirect_stdout=redirect, redirect_stderr=redirect) as bar:
        task_id = bar.add_task("starting", total=None)
        yield lambda message, done, total: bar.update(
            task_id, description=message, completed=done, total=total
        )
