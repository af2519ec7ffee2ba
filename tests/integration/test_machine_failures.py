"""Fault rows of docs/reliability.md, against real tesseract, real Weaviate and the real warehouse: a host
without tesseract's language data never deletes good chunks, and a rebuild of an empty or mostly missing folder never replaces
the collection. Each test counts documents and chunks before and after, and checks that no row was lost or
doubled."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from schemas.collection import collection_name
from schemas.settings import Settings
from tasks.clients.vectorstore import connect, live_collection
from tasks.evaluation.mini import page_image
from tasks.ingestion.plan import RebuildRefused
from tasks.ingestion.rebuild import rebuild
from tasks.ingestion.run import ingest
from tasks.testbed.corpus import body
from tests.support.cli import run_cli
from tests.support.convergence import State, differences, snapshot
from tests.support.readers import warehouse_rows


def _by_file(state: State) -> dict[str, list[str]]:
    """File name -> the texts of its objects."""
    found: dict[str, list[str]] = {}
    for props in state.objects.values():
        found.setdefault(Path(props["source_path"]).name, []).append(props["text"])
    return found


def _ids(state: State, name: str) -> set[str]:
    return {u for u, props in state.objects.items() if Path(props["source_path"]).name == name}


def _statuses(state: State) -> dict[str, str]:
    return {Path(row[0]).name: row[5] for row in state.documents}


def _counts(state: State) -> str:
    return f"{len(state.documents)} documents, {len(state.chunks)} chunks, {len(state.objects)} objects"


def _assert_whole(state: State) -> None:
    """Nothing lost, nothing doubled: every listed chunk is in Weaviate once and every object is listed."""
    assert differences(state, state) == []
    assert len({row[0] for row in state.chunks}) == len(state.chunks) == len(state.objects)
    assert len({row[0] for row in state.documents}) == len(state.documents)


def test_a_changed_scan_ingested_without_tesseract_keeps_its_chunks_until_the_rerun(
    running_services: Settings, tmp_path: Path
) -> None:
    """Tesseract's language data is gone (`tesseract-ocr-eng` removed; the engine ships with ragroute) while
    a changed scan is ingested."""
    settings = running_services.model_copy(update={"ingest_workers": 1})
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ledger.txt").write_text(body("ledger", 14))
    page_image(body("anchor", sentences=10)).save(folder / "scan.png")
    first = ingest(folder, settings, "NoTesseract")
    assert first.status == "completed" and first.pages_ocr == 1, first
    before = snapshot(settings, "NoTesseract")
    _assert_whole(before)
    assert len(before.documents) == 2 and "ANCHOR-7" in " ".join(_by_file(before)["scan.png"])

    page_image(body("mooring", sentences=10)).save(folder / "scan.png")  # the scan changes
    no_tessdata = settings.model_copy(update={"ocr_tessdata": tmp_path / "no-tessdata"})
    failed = ingest(folder, no_tessdata, "NoTesseract")
    during = snapshot(settings, "NoTesseract")
    # A rebuild on this host would drop the scan's chunks with the old collection: refused.
    with pytest.raises(RebuildRefused, match=r"1 document\(s\) ended in error"):
        rebuild([folder], no_tessdata, "NoTesseract")
    print(f"tesseract's language data gone: before {_counts(before)}; after {_counts(during)}; run {failed}")
    assert failed.status == "completed_with_failures", failed
    assert (failed.documents_changed, failed.documents_error, failed.documents_failed) == (1, 1, 1), failed
    assert (failed.quarantined, failed.chunks_written, failed.chunks_deleted) == (0, 0, 0), failed
    assert any(
        note.startswith("tesseract-ocr-eng not found (install tesseract-ocr-eng)") for note in failed.notes
    )
    assert any("1 document(s) left in error" in n and "scan.png" in n for n in failed.notes), failed.notes
    assert warehouse_rows(settings, "SELECT * FROM quarantine WHERE run_id = ?", [failed.run_id]) == []
    # The old version stays searchable, in Weaviate and in the manifest; only its status says `error`.
    assert during.objects == before.objects and during.chunks == before.chunks
    assert _statuses(during) == {"ledger.txt": "indexed", "scan.png": "error"}
    unchanged = [row[:5] + row[6:] for row in during.documents]  # all but the status: the old sha, its chunks
    assert unchanged == [row[:5] + row[6:] for row in before.documents]
    with connect(settings) as client:  # the refused rebuild left no collection behind
        alias = collection_name("NoTesseract", settings.embedding_model)
        versions = [n for n in client.collections.list_all(simple=True) if n.startswith(f"{alias}_")]
        assert versions == [live_collection(client, alias)]
    assert snapshot(settings, "NoTesseract") == during

    rerun = ingest(folder, settings, "NoTesseract")  # the language data is back
    after = snapshot(settings, "NoTesseract")
    print(f"rerun with tesseract: {_counts(after)}; run {rerun}")
    assert rerun.status == "completed" and (rerun.documents_changed, rerun.documents_error) == (1, 0), rerun
    old_scan, new_scan = (_ids(state, "scan.png") for state in (before, after))
    assert rerun.chunks_deleted == len(old_scan - new_scan) > 0, (
        rerun
    )  # a chunk whose text is unchanged stays
    _assert_whole(after)
    assert _statuses(after) == {"ledger.txt": "indexed", "scan.png": "indexed"}
    scan_text = " ".join(_by_file(after)["scan.png"])
    assert "MOORING-7" in scan_text and "ANCHOR-7" not in scan_text
    ledger = {u: o for u, o in before.objects.items() if o["source_path"].endswith("ledger.txt")}
    assert ledger.items() <= after.objects.items()  # the untouched file kept every chunk


def _ocr_processes() -> list[int]:
    """This process's children (the extraction pool) that are running now with tesseract loaded: OCR is
    nearly all of an extraction process's work on a scan."""
    busy = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if (
                fields[0] == "R"
                and int(fields[1]) == os.getpid()
                and "libtesseract" in (entry / "maps").read_text()
            ):
                busy.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return busy


class OcrProcessKiller:
    """A thread that SIGKILLs the first extraction process seen running OCR (as the kernel's out-of-memory
    killer would)."""

    def __init__(self) -> None:
        self.killed: list[int] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._kill)

    def _kill(self) -> None:
        deadline = time.monotonic() + 300
        while not self.killed and not self.done.is_set() and time.monotonic() < deadline:
            if busy := _ocr_processes():
                os.kill(busy[0], signal.SIGKILL)
                self.killed.append(busy[0])
            time.sleep(0.05)

    def __enter__(self) -> OcrProcessKiller:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()


# Three scans for two extraction processes: one waits while both are reading, so a process killed while it
# reads always leaves work unfinished in the pool.
TOPICS = ("north", "south", "east")


def test_an_extraction_process_killed_mid_ocr_leaves_its_files_in_error_until_the_rerun(
    running_services: Settings, tmp_path: Path
) -> None:
    settings = running_services.model_copy(update={"ingest_workers": 2})  # the local process pool
    folder = tmp_path / "docs"
    folder.mkdir()
    for topic in TOPICS:
        page_image(body(f"{topic} quay", sentences=10)).save(folder / f"{topic}.png")
    first = ingest(folder, settings, "PoolKill")
    assert first.status == "completed" and first.pages_ocr == len(TOPICS), first
    before = snapshot(settings, "PoolKill")
    _assert_whole(before)

    for topic in TOPICS:
        page_image(body(f"{topic} slipway", sentences=10)).save(folder / f"{topic}.png")
    with OcrProcessKiller() as killer:
        failed = ingest(folder, settings, "PoolKill")
    during = snapshot(settings, "PoolKill")
    print(
        f"extraction process {killer.killed} killed: before {_counts(before)}; after {_counts(during)}; {failed}"
    )
    assert killer.killed and failed.status == "completed_with_failures", failed
    assert 1 <= failed.documents_error == failed.documents_failed <= len(TOPICS) and failed.quarantined == 0, failed
    assert any("an extraction process died" in note for note in failed.notes), failed.notes
    _assert_whole(during)
    in_error = {name for name, status in _statuses(during).items() if status == "error"}
    assert len(in_error) == failed.documents_error
    for name in in_error:  # its old version stays searchable
        assert {u: before.objects[u] for u in _ids(before, name)} == {
            u: during.objects[u] for u in _ids(during, name)
        }

    rerun = ingest(folder, settings, "PoolKill")  # a new pool
    after = snapshot(settings, "PoolKill")
    print(f"rerun: {_counts(after)}; {rerun}")
    assert rerun.status == "completed" and rerun.documents_changed == len(in_error), rerun
    _assert_whole(after)
    assert set(_statuses(after).values()) == {"indexed"}
    assert all("SLIPWAY-7" in " ".join(texts) for texts in _by_file(after).values())


def _alias_state(settings: Settings, base: str) -> tuple[str | None, list[str]]:
    """The collection the alias reads, and every versioned collection of it."""
    alias = collection_name(base, settings.embedding_model)
    with connect(settings) as client:
        versions = sorted(n for n in client.collections.list_all(simple=True) if n.startswith(f"{alias}_"))
        return live_collection(client, alias), versions


def test_a_rebuild_of_an_empty_or_mostly_missing_folder_is_refused_unless_forced(
    running_services: Settings, tmp_path: Path
) -> None:
    settings = running_services
    folder = tmp_path / "docs"
    folder.mkdir()
    for topic in ("tide", "reef", "buoy", "pier"):
        (folder / f"{topic}.txt").write_text(body(topic, 14))
    first = rebuild([folder], settings, "Guarded")  # a first rebuild: nothing indexed, nothing to lose
    before = snapshot(settings, "Guarded")
    live, versions = _alias_state(settings, "Guarded")
    _assert_whole(before)
    assert len(before.documents) == 4 and len(before.chunks) == first.chunks_written > 0
    assert versions == [live]

    for name in ("reef.txt", "buoy.txt", "pier.txt"):  # a half-synced share: 1 of 4 files left
        (folder / name).unlink()
    with pytest.raises(RebuildRefused, match="saw 1 of the 4 files"):
        rebuild([folder], settings, "Guarded")
    (folder / "tide.txt").unlink()  # an empty (unmounted) folder
    with pytest.raises(RebuildRefused, match="saw 0 of the 4 files") as refused:
        rebuild([folder], settings, "Guarded")
    print(f"refused: {refused.value}")
    assert "--force" in str(refused.value)
    during = snapshot(settings, "Guarded")
    print(f"empty folder, rebuild refused: before {_counts(before)}; after {_counts(during)}")
    assert during == before and _alias_state(settings, "Guarded") == (live, versions)
    failed_runs = warehouse_rows(
        settings, "SELECT status, notes FROM ingest_runs WHERE source_root = ? AND status = 'failed'",
        [str(folder.resolve())],
    )  # fmt: skip
    assert len(failed_runs) == 2 and all("RebuildRefused" in notes for _, notes in failed_runs), failed_runs

    cli = run_cli(
        "ingest", str(folder), "--collection", "Guarded", "--full"
    )  # the refusal, as a user sees it
    assert cli.returncode == 1 and "rebuild refused: the scan of" in cli.stderr, cli.stderr[-2000:]
    assert snapshot(settings, "Guarded") == before and _alias_state(settings, "Guarded") == (live, versions)

    forced = run_cli("ingest", str(folder), "--collection", "Guarded", "--full", "--force", "--json")
    assert forced.returncode == 0, forced.stderr[-2000:]
    result = json.loads(forced.stdout.strip().splitlines()[-1])
    after = snapshot(settings, "Guarded")
    print(f"forced: {_counts(after)}; {result}")
    assert "note: forced: the scan of" in forced.stderr, forced.stderr[-2000:]
    assert result["previous"] == live and result["chunks_written"] == 0
    assert _alias_state(settings, "Guarded") == (result["collection"], [result["collection"]])  # old dropped
    assert (len(after.documents), len(after.chunks), len(after.objects)) == (0, 0, 0)
