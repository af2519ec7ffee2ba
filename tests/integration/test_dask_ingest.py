"""Ingest on a real Dask cluster (a scheduler and two worker processes on loopback): the same Weaviate objects
and manifest as a local run, and a worker killed with SIGKILL in the middle of a file loses and doubles
nothing (Dask runs its task again on the other worker; when it gives up, the file is left in `error` with its
older version kept, and the next run redoes it)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from schemas.documents import IngestSummary
from schemas.settings import Settings
from tasks.evaluation.mini import page_image
from tasks.ingestion.run import ingest
from tasks.testbed.corpus import body
from tasks.testbed.dask_cluster import DaskCluster
from tests.support.convergence import differences, forget_manifest, snapshot, write_folder
from tests.support.readers import warehouse_rows

MIXED = {
    "alpha.txt": body("alpha", 14),
    "bravo.md": "# Bravo\n\n" + body("bravo", 8),
    "charlie.html": f"<html><body><h1>Charlie</h1><p>{body('charlie', 10)}</p></body></html>",
    "delta.txt": "",  # quarantined: empty file
}
SCANS = 6


def _scans(folder: Path, count: int) -> None:
    for i in range(count):
        page_image(body(f"scan{i}", sentences=10)).save(folder / f"scan{i}.png")


def _reference(settings: Settings, folder: Path, base: str):
    """The state a local run (in-process extraction) leaves; its manifest rows are then dropped, so the Dask
    run of the same folder starts from an empty manifest."""
    ingest(folder, settings.model_copy(update={"ingest_workers": 1}), base)
    state = snapshot(settings, base)
    forget_manifest(settings, base)
    return state


def test_dask_ingest_equals_local_ingest(
    running_services: Settings, dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    folder = tmp_path / "docs"
    write_folder(folder, MIXED)
    _scans(folder, 2)
    reference = _reference(running_services, folder, "DaskRef")
    settings = running_services.model_copy(update={"dask_address": dask_cluster.address})

    summary = ingest(folder, settings, "DaskRun")
    assert summary.status == "completed_with_failures" and summary.documents_failed == 1, summary
    assert summary.pages_ocr == 2 and summary.documents_changed == 6, summary
    assert differences(snapshot(settings, "DaskRun"), reference) == []
    rerun = ingest(folder, settings, "DaskRun")
    assert rerun.documents_changed == 0 and rerun.chunks_written == 0, rerun


class BusyWorkerKiller:
    """A thread that SIGKILLs the first worker seen in the middle of a file, then restarts it when done."""

    def __init__(self, cluster: DaskCluster) -> None:
        self.cluster = cluster
        self.killed: list[str] = []
        self.done = threading.Event()  # the ingest ended: stop looking
        self.thread = threading.Thread(target=self._kill_a_busy_worker)

    def __enter__(self) -> BusyWorkerKiller:
        self.thread.start()
        return self

    def _kill_a_busy_worker(self) -> None:
        with self.cluster.client() as client:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not self.killed and not self.done.is_set():
                busy = [address for address, keys in client.processing().items() if keys]
                if busy:
                    time.sleep(0.5)  # inside the file's work, not at its start
                    name = self.cluster.worker_name(busy[0])
                    self.cluster.kill_worker(name)
                    self.killed.append(name)
                time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()
        for name in self.killed:  # later tests get both workers back
            self.cluster.start_worker(name)
        self.cluster.wait_for_workers(2)


def _allowed_failures(cluster: DaskCluster, count: int) -> int:
    """Set the scheduler's `allowed-failures` (deaths of workers running one task before it gives up)."""

    def set_on(dask_scheduler, count=count):
        previous, dask_scheduler.allowed_failures = dask_scheduler.allowed_failures, count
        return previous

    with cluster.client() as client:
        return client.run_on_scheduler(set_on)


def test_dask_worker_killed_mid_file_loses_and_doubles_nothing(
    running_services: Settings, dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    _scans(folder, SCANS)
    reference = _reference(running_services, folder, "DaskKillRef")
    settings = running_services.model_copy(update={"dask_address": dask_cluster.address})
    with BusyWorkerKiller(dask_cluster) as killer:
        summary = ingest(folder, settings, "DaskKill")
    print(f"killed worker {killer.killed}; run: {summary}")
    assert killer.killed, "no worker was busy"
    assert summary.status == "completed" and summary.documents_failed == 0, summary
    assert summary.pages_ocr == SCANS, summary  # each file extracted once into the run, none doubled
    assert differences(snapshot(settings, "DaskKill"), reference) == []


def _ingest_killing_a_worker_for_good(
    cluster: DaskCluster, folder: Path, settings: Settings, collection: str
) -> tuple[BusyWorkerKiller, IngestSummary]:
    """Ingest while the first worker seen running a file is SIGKILLed, with no retry left: its death is final."""
    previous = _allowed_failures(cluster, 0)
    try:
        with BusyWorkerKiller(cluster) as killer:
            return killer, ingest(folder, settings, collection)
    finally:
        _allowed_failures(cluster, previous)


def test_file_whose_worker_dies_with_no_retry_left_is_failed_then_redone(
    running_services: Settings, dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    _scans(folder, 4)
    reference = _reference(running_services, folder, "DaskGiveUpRef")
    settings = running_services.model_copy(update={"dask_address": dask_cluster.address})
    killer, summary = _ingest_killing_a_worker_for_good(dask_cluster, folder, settings, "DaskGiveUp")
    print(f"killed worker {killer.killed}; run: {summary}")
    assert killer.killed and summary.status == "completed_with_failures", summary
    assert 1 <= summary.documents_error == summary.documents_failed <= 2, summary  # the file(s) it held
    assert summary.quarantined == 0, summary  # the files are good: nothing quarantined
    assert any("left in error" in n and "extraction failed on the Dask cluster: KilledWorker" in n
               for n in summary.notes), summary.notes  # fmt: skip
    statuses = warehouse_rows(
        settings, "SELECT DISTINCT status FROM documents WHERE path LIKE ?", [f"{folder}%"]
    )
    assert ("error",) in statuses, statuses  # retried by the next run
    rerun = ingest(folder, settings, "DaskGiveUp")
    assert rerun.status == "completed" and rerun.documents_changed == summary.documents_failed, rerun
    assert differences(snapshot(settings, "DaskGiveUp"), reference) == []


def _counts(state) -> str:
    return f"{len(state.documents)} documents, {len(state.chunks)} chunks, {len(state.objects)} objects"


def test_worker_killed_mid_ocr_of_a_changed_scan_keeps_its_old_chunks_until_the_rerun(
    running_services: Settings, dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    _scans(folder, 2)
    changed = page_image(body("scan0 revised", sentences=10))
    original = (folder / "scan0.png").read_bytes()
    changed.save(folder / "scan0.png")
    reference = _reference(running_services, folder, "DaskChangedRef")  # the end state: scan0 revised
    (folder / "scan0.png").write_bytes(original)
    settings = running_services.model_copy(update={"dask_address": dask_cluster.address})
    first = ingest(folder, settings, "DaskChanged")
    assert first.status == "completed" and first.documents_changed == 2, first
    before = snapshot(settings, "DaskChanged")
    assert differences(before, before) == [] and len(before.documents) == 2

    changed.save(folder / "scan0.png")
    killer, failed = _ingest_killing_a_worker_for_good(dask_cluster, folder, settings, "DaskChanged")
    during = snapshot(settings, "DaskChanged")
    print(
        f"worker {killer.killed} killed mid-OCR: before {_counts(before)}; after {_counts(during)}; {failed}"
    )
    assert killer.killed and failed.status == "completed_with_failures", failed
    assert (failed.documents_changed, failed.documents_error, failed.quarantined) == (1, 1, 0), failed
    assert (failed.chunks_written, failed.chunks_deleted) == (0, 0), failed
    # The old version of the scan stays searchable: the same objects and chunk rows, the status says `error`.
    assert during.objects == before.objects and during.chunks == before.chunks
    assert {Path(row[0]).name: row[5] for row in during.documents} == {
        "scan0.png": "error",
        "scan1.png": "indexed",
    }

    rerun = ingest(folder, settings, "DaskChanged")
    after = snapshot(settings, "DaskChanged")
    print(f"rerun: {_counts(after)}; {rerun}")
    assert rerun.status == "completed" and (rerun.documents_changed, rerun.documents_error) == (1, 0), rerun
    assert (
        differences(after, reference) == []
    )  # = a clean local run of the revised folder: no loss, no double
