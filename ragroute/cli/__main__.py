"""`python -m ragroute.cli`: the same as the `ragroute` command."""

from ragroute.cli import app

app()
