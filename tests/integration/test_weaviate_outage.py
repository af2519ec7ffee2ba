"""Weaviate outage mid-ingest: the run fails clearly (status 'failed', a message that names Weaviate), marks
no document done whose objects did not land, and a rerun once Weaviate is back converges to a clean run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from schemas.collection import collection_name
from schemas.settings import Settings
from tasks.clients import services
from tasks.ingestion.index import WeaviateUnreachable
from tasks.ingestion.run import ingest
from tasks.testbed.corpus import body
from tests.support.convergence import (
    CHILD_ENV,
    child_settings,
    differences,
    forget_manifest,
    snapshot,
    write_folder,
)

FILES = {f"doc{i}.txt": body(f"topic{i}", 8 + i) for i in range(6)}  # three batches of two documents
STOP_AFTER_EXTRACTING = 3  # the first batch is recorded, the second is about to be written


def _runs_and_documents(settings: Settings, base: str) -> tuple[tuple, dict[str, str]]:
    """The collection's latest ingest run (status, notes) and its documents' statuses by file name."""
    name = collection_name(base, settings.embedding_model)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        run = con.execute(
            "SELECT status, notes FROM ingest_runs WHERE collection = ? ORDER BY started_at DESC LIMIT 1",
            [name],
        ).fetchone()
        rows = con.execute("SELECT path, status FROM documents WHERE collection = ?", [name]).fetchall()
    return run, {Path(path).name: status for path, status in rows}


def _ingest_through_outage(root: Path, settings: Settings, base: str) -> BaseException:
    """Ingest, stopping the Weaviate server from the progress callback; returns the error the run raised."""
    stopped = []

    def progress(message: str, done: int, total: int) -> None:
        if message != "scanned" and done == STOP_AFTER_EXTRACTING and not stopped:
            stopped.append(services.stop(settings, "weaviate"))

    with pytest.raises(Exception) as failure:
        ingest(root, settings, base, progress)
    assert stopped == [True], "Weaviate was not running when the test stopped it"
    return failure.value


def _cli_ingest(root: Path, base: str) -> subprocess.CompletedProcess:
    """`ragroute ingest` in a subprocess with the test environment (ports, data dir)."""
    return subprocess.run(
        [sys.executable, "-m", "ragroute.cli", "ingest", str(root), "--collection", base, "--json"],
        env={**os.environ, **CHILD_ENV},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_weaviate_outage_fails_clearly_and_rerun_converges(
    running_services: Settings, tmp_path: Path
) -> None:
    settings = child_settings(running_services)  # extraction in-process, batches of two documents
    root = tmp_path / "docs"
    write_folder(root, FILES)
    ingest(root, settings, "OutageClean")
    reference = snapshot(settings, "OutageClean")
    forget_manifest(settings, "OutageClean")  # documents are keyed by path: the next run starts afresh

    try:
        error = _ingest_through_outage(root, settings, "Outage")
        run, statuses = _runs_and_documents(settings, "Outage")
        cli = _cli_ingest(root, "OutageCli")  # Weaviate is still down
        cli_run, cli_statuses = _runs_and_documents(settings, "OutageCli")
    finally:
        services.start(settings, services.weaviate_service(settings))  # later tests use the session's server
    print(f"raised: {type(error).__name__}: {error}\ningest_runs: {run}; documents: {statuses}")
    print(f"CLI exit {cli.returncode}: {' '.join(cli.stderr[cli.stderr.rfind('error:') :].split())}")

    assert isinstance(error, WeaviateUnreachable) and "cannot reach Weaviate" in str(error), error
    assert "\n" not in str(error)  # one line, not the client's gRPC dump
    assert run[0] == "failed" and "cannot reach Weaviate" in run[1], run
    done = {name for name, status in statuses.items() if status == "indexed"}
    assert done == {"doc0.txt", "doc1.txt"}, statuses  # only the batch written before the outage
    assert cli.returncode == 1 and "error: cannot reach Weaviate" in " ".join(cli.stderr.split()), cli.stderr
    assert cli_run[0] == "failed" and not cli_statuses, (cli_run, cli_statuses)

    # What the manifest calls done is in Weaviate, also after the restart; the rerun completes the rest.
    partial = snapshot(settings, "Outage")
    assert {row[0] for row in partial.chunks} <= partial.objects.keys()
    rerun = ingest(root, settings, "Outage")
    assert rerun.status == "completed", rerun
    assert differences(snapshot(settings, "Outage"), reference) == []
