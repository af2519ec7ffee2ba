"""Ingestion against real Weaviate, real tesseract and real DuckDB, on generated documents."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from weaviate.classes.query import Filter

from schemas.collection import collection_name
from tasks.clients.vectorstore import connect
from tasks.ingestion.run import ingest
from tasks.ingestion.sources import SourceUnavailable
from tasks.ingestion.unchanged import record_if_unchanged
from tasks.testbed.corpus import bad_corpus, body, good_corpus
from tests.support.cli import run_cli
from tests.support.readers import collection_objects, warehouse_rows


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus")
    return path, good_corpus(path)


def test_mixed_folder_rerun_edit_delete(running_services, folder):
    settings = running_services
    root, topics = folder
    first = ingest(root, settings, collection="Mixed")
    assert first.status == "completed", first
    assert first.documents_seen == len(topics) and first.documents_changed == len(topics)
    assert first.quarantined == 0
    assert first.pages_ocr == 2  # the scanned PDF page and the PNG
    objects = collection_objects(settings, "Mixed")
    assert len(objects) == first.chunks_written
    by_file = {}
    for props in objects.values():
        by_file.setdefault(props["source_path"].rsplit("/", 1)[-1], []).append(props)
    assert set(by_file) == set(topics)
    for name, topic in topics.items():
        text = " ".join(p["text"] for p in by_file[name])
        assert f"{topic.upper()}-7" in text or f"{topic.upper()}—7" in text, (name, text[:200])
    scan = by_file["scan.pdf"]
    assert all(p["ocr"] for p in scan) and scan[0]["page"] == 1
    assert not any(p["ocr"] for p in by_file["manual.pdf"])
    assert {p["page"] for p in by_file["manual.pdf"]} == {1, 2}
    ocr_confidence = warehouse_rows(
        settings, "SELECT min(ocr_confidence) FROM chunks WHERE path LIKE '%scan.pdf'"
    )
    assert ocr_confidence[0][0] > 80

    # Rerun on the unchanged folder: nothing extracted, embedded or written.
    rerun = ingest(root, settings, collection="Mixed")
    assert (rerun.documents_changed, rerun.chunks_written, rerun.chunks_deleted, rerun.pages) == (0, 0, 0, 0)
    assert collection_objects(settings, "Mixed") == objects

    # Edit one file: only its chunks change.
    (root / "log.txt").write_text("The tiller was replaced. " * 400)
    edited = ingest(root, settings, collection="Mixed")
    assert edited.documents_changed == 1
    after_edit = collection_objects(settings, "Mixed")
    log_path = str((root / "log.txt").resolve())
    old_log = {u for u, p in objects.items() if p["source_path"] == log_path}
    new_log = {u for u, p in after_edit.items() if p["source_path"] == log_path}
    assert not old_log & new_log and len(new_log) == 6  # 1,600 words in 300-word windows
    assert {u: p for u, p in after_edit.items() if u not in new_log} == {
        u: p for u, p in objects.items() if u not in old_log
    }
    assert edited.chunks_deleted == len(old_log)

    # Delete one file: its chunks are gone from Weaviate and the manifest.
    (root / "notes.md").unlink()
    removed = ingest(root, settings, collection="Mixed")
    assert removed.documents_deleted == 1
    remaining = collection_objects(settings, "Mixed")
    assert not any(p["source_path"].endswith("notes.md") for p in remaining.values())
    notes = [str((root / "notes.md").resolve())]
    assert warehouse_rows(settings, "SELECT count(*) FROM chunks WHERE path = ?", notes) == [(0,)]
    assert warehouse_rows(settings, "SELECT count(*) FROM documents WHERE path = ?", notes) == [(0,)]


def test_one_folder_in_two_collections_keeps_both_manifests(running_services, tmp_path):
    settings = running_services
    root = tmp_path / "shared"
    root.mkdir()
    (root / "tide.txt").write_text("The tide table lists high water at noon. " * 60)
    (root / "gale.txt").write_text("A gale warning was issued for the outer banks. " * 60)
    first = ingest(root, settings, collection="FirstShelf")
    second = ingest(root, settings, collection="SecondShelf")
    assert first.documents_changed == second.documents_changed == 2

    def manifest_of(base: str) -> list[tuple]:
        name = collection_name(base, settings.embedding_model)
        return warehouse_rows(
            settings,
            "SELECT d.path, d.status, d.chunk_count, count(c.chunk_id) FROM documents d "
            "LEFT JOIN chunks c USING (path, collection) WHERE d.collection = ? GROUP BY ALL ORDER BY 1",
            [name],
        )

    shelves = manifest_of("FirstShelf"), manifest_of("SecondShelf")
    assert shelves[0] == shelves[1] and len(shelves[0]) == 2
    assert all(status == "indexed" and listed == stored > 0 for _, status, listed, stored in shelves[0])
    # Each collection sees its files as unchanged; deleting a file from one leaves the other intact.
    assert ingest(root, settings, collection="FirstShelf").documents_changed == 0
    (root / "gale.txt").unlink()
    assert ingest(root, settings, collection="FirstShelf").documents_deleted == 1
    assert len(manifest_of("FirstShelf")) == 1 and manifest_of("SecondShelf") == shelves[1]
    assert len(collection_objects(settings, "SecondShelf")) == sum(row[2] for row in shelves[1])


def test_bad_files_are_quarantined_and_good_ones_land(running_services, tmp_path):
    settings = running_services.model_copy(update={"max_file_bytes": 1_000_000})
    topics = good_corpus(tmp_path / "docs")
    expected = bad_corpus(tmp_path / "docs", settings.max_file_bytes)
    summary = ingest(tmp_path / "docs", settings, collection="Bad")
    assert summary.status == "completed_with_failures"
    assert summary.documents_failed == len(expected)
    reasons = dict(
        warehouse_rows(
            settings,
            "SELECT regexp_extract(path, '[^/]+$'), reason FROM quarantine "
            "WHERE run_id = ? AND chunk_id IS NULL",
            [summary.run_id],
        )
    )
    for name, fragment in expected.items():
        assert fragment in reasons[name], (name, reasons.get(name))
    indexed = {p["source_path"].rsplit("/", 1)[-1] for p in collection_objects(settings, "Bad").values()}
    assert indexed == set(topics)
    statuses = dict(
        warehouse_rows(
            settings,
            "SELECT regexp_extract(path, '[^/]+$'), status FROM documents WHERE collection = ?",
            [collection_name("Bad", settings.embedding_model)],
        )
    )
    # Links, pipes and other entries the scan refuses are not documents; every bad document is quarantined.
    assert {statuses[name] for name in expected.keys() & statuses.keys()} == {"quarantined"}
    # Unchanged bad files are not processed (or quarantined) again.
    again = ingest(tmp_path / "docs", settings, collection="Bad")
    assert (again.documents_changed, again.quarantined) == (0, 0)


def test_partial_scan_never_wipes_the_index(running_services, tmp_path):
    settings = running_services
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(6):
        (root / f"doc{i}.txt").write_text(f"Document number {i} talks about tides and harbours. " * 10)
    assert ingest(root, settings, collection="Guard").chunks_written == 6
    for i in range(1, 6):
        (root / f"doc{i}.txt").unlink()
    guarded = ingest(root, settings, collection="Guard")
    assert guarded.documents_deleted == 0 and "partial-scan guard" in guarded.notes[0]
    assert len(collection_objects(settings, "Guard")) == 6
    shutil.rmtree(root)
    with pytest.raises(SourceUnavailable):
        ingest(root, settings, collection="Guard")
    assert len(collection_objects(settings, "Guard")) == 6


def test_garbage_chunks_fail_validation(running_services, tmp_path):
    settings = running_services
    root = tmp_path / "docs"
    root.mkdir()
    (root / "fine.txt").write_text("Plain prose about ships and the sea, written for people to read. " * 5)
    (root / "noise.txt").write_text("#$%^ 1234 @@!! ~~~ 99 && ** ;; 0x1f " * 20)
    summary = ingest(root, settings, collection="Garbage")
    rows = warehouse_rows(
        settings,
        "SELECT path, stage, reason FROM quarantine WHERE run_id = ? ORDER BY stage",
        [summary.run_id],
    )
    assert any(
        path.endswith("noise.txt") and stage == "validate" and "non_alpha_ratio" in reason
        for path, stage, reason in rows
    )
    indexed = collection_objects(settings, "Garbage")
    assert [p["source_path"].rsplit("/", 1)[-1] for p in indexed.values()] == ["fine.txt"]
    results = warehouse_rows(
        settings, "SELECT expectation, success FROM validation_results WHERE run_id = ?", [summary.run_id]
    )
    assert ("expect_column_values_to_be_between", False) in results
    with connect(settings) as client:
        collection = client.collections.use(collection_name("Garbage", settings.embedding_model))
        hits = collection.query.bm25(query="ships", filters=Filter.by_property("ocr").equal(False), limit=3)
    assert hits.objects


def test_cli_prints_a_json_summary_last(running_services, tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.txt").write_text("Tides rise and fall twice a day along this coast. " * 20)
    result = subprocess.run(
        [sys.executable, "-m", "ragroute.cli", "ingest", str(root), "--collection", "Cli", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {
        "documents_seen",
        "documents_changed",
        "pages",
        "pages_ocr",
        "chunks_written",
        "chunks_deleted",
        "quarantined",
        "seconds",
    } <= set(summary)
    assert (summary["documents_seen"], summary["documents_changed"], summary["chunks_written"]) == (1, 1, 1)


def test_missing_source_is_a_clear_cli_error(running_services, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ragroute.cli", "ingest", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr


def test_an_unchanged_folder_is_answered_without_a_flow(running_services, tmp_path):
    """Nothing to do: the CLI records a completed run from the scan and the manifest, with no Prefect flow; any
    change (here an edit) goes through the flow again."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("tide.txt", "wind.txt"):
        (folder / name).write_text(body(name.removesuffix(".txt")))
    first = ingest(folder, running_services, "Unchanged")
    assert first.documents_changed == 2

    assert record_if_unchanged(folder, running_services, "Unchanged") is not None
    quiet = run_cli("ingest", str(folder), "--collection", "Unchanged", "--json")
    assert quiet.returncode == 0, quiet.stderr
    summary = json.loads(quiet.stdout.strip().splitlines()[-1])
    assert (summary["status"], summary["documents_seen"], summary["documents_changed"]) == ("completed", 2, 0)
    assert "Prefect server" not in quiet.stderr  # the flow's hint about a temporary server never came up
    assert warehouse_rows(
        running_services,
        "SELECT status, documents_seen FROM ingest_runs WHERE run_id = ?",
        [summary["run_id"]],
    ) == [("completed", 2)]

    (folder / "wind.txt").write_text(body("gale"))
    assert record_if_unchanged(folder, running_services, "Unchanged") is None
    changed = run_cli("ingest", str(folder), "--collection", "Unchanged", "--json")
    assert json.loads(changed.stdout.strip().splitlines()[-1])["documents_changed"] == 1
