"""A folder of bad inputs of every kind beside good documents, against real Weaviate, tesseract and DuckDB.

Every bad file must end in the `quarantine` table with a reason that names it and says why, every good file
of the same run must be indexed, the summary must count the failures, and a rerun must change nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.collection import collection_name
from tasks.ingestion.run import ingest
from tasks.testbed.corpus import bad_corpus, body, good_corpus, outside_target
from tests.support.readers import collection_objects, warehouse_rows

MAX_FILE_BYTES = 1_000_000
# Without these capabilities root is subject to file permissions like anyone else: a mode-000 file is then
# really unreadable to the process (plain root reads it regardless of its mode).
DROP_FILE_OVERRIDES = [
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
]


def _file_reasons(settings, run_id: str) -> dict[str, list[str]]:
    """File name -> the reasons of the run's file-level quarantine records (chunk records left out)."""
    reasons: dict[str, list[str]] = {}
    for path, reason in warehouse_rows(
        settings, "SELECT path, reason FROM quarantine WHERE run_id = ? AND chunk_id IS NULL", [run_id]
    ):
        reasons.setdefault(Path(path).name, []).append(reason)
    return reasons


@pytest.fixture(scope="module")
def corpus(running_services, tmp_path_factory):
    """Good documents of every kind, the bad corpus, a duplicate and a file deleted during the run."""
    root = tmp_path_factory.mktemp("bad-input") / "docs"
    topics = good_corpus(root)
    expected = bad_corpus(root, MAX_FILE_BYTES)
    shutil.copyfile(root / "log.txt", root / "log_copy.txt")
    expected["log_copy.txt"] = f"duplicate of another file: {(root / 'log.txt').resolve()}"
    (root / "vanishing.txt").write_text(body("ghost"))
    expected["vanishing.txt"] = "file disappeared before it could be read"
    secret = outside_target(root)
    os.utime(secret, (1, secret.stat().st_mtime))  # any read would move the access time past the mtime
    return root, topics, expected


@pytest.fixture(scope="module")
def first_run(running_services, corpus):
    root, _, _ = corpus
    settings = running_services.model_copy(update={"max_file_bytes": MAX_FILE_BYTES})

    def delete_after_scan(message: str, done: int, total: int) -> None:
        if message == "scanned":
            (root / "vanishing.txt").unlink()

    return settings, ingest(root, settings, collection="BadInput", progress=delete_after_scan)


def test_bad_input_kinds_are_many(corpus):
    _, _, expected = corpus
    assert len(expected) >= 25


def test_every_bad_file_is_quarantined_with_its_reason(first_run, corpus):
    settings, summary = first_run
    root, _, expected = corpus
    reasons = _file_reasons(settings, summary.run_id)
    assert set(reasons) == set(expected), "only the bad files, and all of them, are quarantined"
    for name, fragment in expected.items():
        assert len(reasons[name]) == 1 and fragment in reasons[name][0], (name, reasons[name])
    paths = {
        Path(p).name: p
        for (p,) in warehouse_rows(settings, "SELECT path FROM quarantine WHERE run_id = ?", [summary.run_id])
    }
    assert all(Path(paths[name]).parent == root.resolve() for name in expected)  # the record names the file


def test_summary_counts_the_failures(first_run, corpus):
    settings, summary = first_run
    _, topics, expected = corpus
    assert summary.status == "completed_with_failures"
    assert summary.documents_failed == len(expected)
    assert summary.documents_seen == len(topics) + len(expected)
    assert warehouse_rows(
        settings, "SELECT status, documents_failed FROM ingest_runs WHERE run_id = ?", [summary.run_id]
    ) == [("completed_with_failures", len(expected))]


def test_every_good_file_is_indexed_once(first_run, corpus):
    settings, _ = first_run
    _, topics, _ = corpus
    objects = collection_objects(settings, "BadInput").values()
    assert {Path(o["source_path"]).name for o in objects} == set(topics)
    for name, topic in topics.items():
        planted = [
            o for o in objects if f"{topic.upper()}-7" in o["text"] or f"{topic.upper()}—7" in o["text"]
        ]
        assert [Path(o["source_path"]).name for o in planted] == [name]  # the duplicate was not indexed


def test_a_link_out_of_the_folder_is_never_followed(first_run, corpus):
    settings, _ = first_run
    root, _, _ = corpus
    assert not [o for o in collection_objects(settings, "BadInput").values() if "CONTRABAND" in o["text"]]
    assert outside_target(root).stat().st_atime == 1  # never opened


def test_manifest_statuses(first_run, corpus):
    settings, _ = first_run
    _, topics, expected = corpus
    statuses = dict(
        warehouse_rows(
            settings,
            "SELECT regexp_extract(path, '[^/]+$'), status FROM documents WHERE collection = ?",
            [collection_name("BadInput", settings.embedding_model)],
        )
    )
    assert {statuses[name] for name in topics} == {"indexed"}
    assert statuses["log_copy.txt"] == "duplicate"
    extracted = {name for name in expected if name in statuses and name != "log_copy.txt"}
    assert {statuses[name] for name in extracted} == {"quarantined"}


def test_a_rerun_quarantines_and_writes_nothing(first_run, corpus):
    settings, _ = first_run
    root, _, _ = corpus
    before = sorted(o["text"] for o in collection_objects(settings, "BadInput").values())
    again = ingest(root, settings, collection="BadInput")
    assert (again.status, again.quarantined, again.documents_failed) == ("completed", 0, 0)
    assert (again.documents_changed, again.chunks_written, again.chunks_deleted) == (0, 0, 0)
    assert again.documents_deleted == 1  # the file deleted during the first run leaves the manifest
    assert warehouse_rows(settings, "SELECT count(*) FROM quarantine WHERE run_id = ?", [again.run_id]) == [
        (0,)
    ]
    assert sorted(o["text"] for o in collection_objects(settings, "BadInput").values()) == before


def test_a_duplicate_is_indexed_once_its_original_is_gone(first_run, corpus):
    settings, _ = first_run
    root, _, _ = corpus
    (root / "log.txt").unlink()
    summary = ingest(root, settings, collection="BadInput")
    assert (summary.documents_changed, summary.documents_deleted, summary.quarantined) == (1, 1, 0)
    holders = {
        Path(o["source_path"]).name
        for o in collection_objects(settings, "BadInput").values()
        if "TILLER-7" in o["text"]
    }
    assert holders == {"log_copy.txt"}


def test_unreadable_file_and_cli_failure_count(running_services, tmp_path):
    """A mode-000 file read by a process without the root capabilities that bypass file permissions."""
    root = tmp_path / "docs"
    root.mkdir()
    (root / "tides.txt").write_text(body("tides"))
    (root / "unreadable.txt").write_text(body("hidden"))
    (root / "unreadable.txt").chmod(0)
    prefix = ["setpriv", *DROP_FILE_OVERRIDES] if os.geteuid() == 0 else []
    command = [
        *prefix,
        sys.executable,
        "-m",
        "ragroute.cli",
        "ingest",
        str(root),
        "--collection",
        "Unreadable",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "completed_with_failures: 1 of 2 documents changed, 1 failed" in " ".join(result.stderr.split())
    rows = warehouse_rows(
        running_services,
        "SELECT q.path, q.stage, q.reason FROM quarantine q JOIN ingest_runs r USING (run_id) "
        "WHERE r.collection = ?",
        [collection_name("Unreadable", running_services.embedding_model)],
    )
    assert rows == [(str(root / "unreadable.txt"), "scan", "file is not readable (permission denied)")]
    assert {
        Path(o["source_path"]).name for o in collection_objects(running_services, "Unreadable").values()
    } == {"tides.txt"}
