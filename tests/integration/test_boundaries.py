"""Boundaries: ingestion reads only under the configured source roots (links included), and `ragroute sql`
never changes anything, on disk or in the warehouse."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from schemas.collection import collection_name
from tasks.clients.vectorstore import connect
from tasks.ingestion.run import ingest
from tasks.ingestion.sources import OutsideSourceRoots
from tasks.testbed.corpus import body
from tests.support.cli import run_cli


def _sources(tmp_path: Path) -> tuple[Path, Path]:
    """An allowed source root with one document, and a folder beside it that is not a source root."""
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    for folder, topic in ((allowed, "anchor"), (other, "contraband")):
        folder.mkdir()
        (folder / f"{topic}.txt").write_text(body(topic))
    return allowed, other


def _ingest_runs(settings, root: Path) -> int:
    if not settings.warehouse_path.exists():
        return 0
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute("SELECT count(*) FROM ingest_runs WHERE source_root = ?", [str(root)]).fetchone()[
            0
        ]


# -- source roots --------------------------------------------------------------------------------------------


def test_folders_outside_the_source_roots_are_refused(running_services, tmp_path):
    allowed, other = _sources(tmp_path)
    (allowed / "escape").symlink_to(other, target_is_directory=True)
    settings = running_services.model_copy(update={"source_roots": [allowed]})
    for outside in (other, allowed / ".." / "other", allowed / "escape", Path("/")):
        with pytest.raises(OutsideSourceRoots, match="outside the configured source roots"):
            ingest(outside, settings, collection="Roots")
    assert _ingest_runs(settings, other.resolve()) == 0  # refused before anything was read or recorded


def test_cli_ingest_outside_the_source_roots_is_a_clear_error(running_services, tmp_path):
    allowed, other = _sources(tmp_path)
    result = run_cli(
        "ingest", str(other), "--collection", "Roots", env={"RAGROUTE_SOURCE_ROOTS": str(allowed)}
    )
    assert result.returncode == 1
    assert f"error: {other} is outside the configured source roots ({allowed})" in " ".join(
        result.stderr.split()
    )
    assert "Traceback" not in result.stderr
    assert _ingest_runs(running_services, other) == 0


def test_links_out_of_the_folder_are_quarantined_and_never_read(running_services, tmp_path):
    allowed, other = _sources(tmp_path)
    secret = other / "contraband.txt"
    os.utime(secret, (1, secret.stat().st_mtime))  # any read would move the access time past the mtime
    (allowed / "to_secret.txt").symlink_to(secret)
    (allowed / "to_folder").symlink_to(other, target_is_directory=True)
    (allowed / "same_anchor.txt").symlink_to(allowed / "anchor.txt")  # inside the folder: the same document
    settings = running_services.model_copy(update={"source_roots": [allowed, other]})  # both are roots
    summary = ingest(allowed, settings, collection="Links")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "SELECT path, reason FROM quarantine WHERE run_id = ?", [summary.run_id]
        ).fetchall()
    assert rows == [
        (
            str(allowed / "to_secret.txt"),
            f"symbolic link to a file outside the source folder: {secret} (not read)",
        )
    ]
    assert (summary.documents_seen, summary.documents_failed, summary.status) == (
        2,
        1,
        "completed_with_failures",
    )
    with connect(settings) as client:
        collection = client.collections.use(collection_name("Links", settings.embedding_model))
        objects = [o.properties for o in collection.iterator()]
    assert {o["source_path"] for o in objects} == {str(allowed / "anchor.txt")}
    assert not [o for o in objects if "CONTRABAND" in o["text"]]
    assert secret.stat().st_atime == 1  # the target was never opened


# -- read-only SQL -------------------------------------------------------------------------------------------
