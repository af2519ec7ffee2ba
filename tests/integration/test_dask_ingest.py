"""Ingest on a real Dask cluster (a scheduler and two worker processes on loopback): the same Weaviate objects
and manifest as a local run, and a worker killed with SIGKILL in the middle of a file loses and doubles
nothing (Dask runs its task again on the other worker)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from schemas.settings import Settings
from tasks.evaluation.mini import page_image
from tasks.ingestion.run import ingest
from tests.support.convergence import differences, forget_manifest, snapshot, write_folder
from tests.support.corpus import body
from tests.support.dask_cluster import DaskCluster

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


def test_dask_worker_killed_mid_file_loses_and_doubles_nothing(
    running_services: Settings, dask_cluster: DaskCluster, tmp_path: Path
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    _scans(folder, SCANS)
    reference = _reference(running_services, folder, "DaskKillRef")
    settings = running_services.model_copy(update={"dask_address": dask_cluster.address})
    killed: list[str] = []

    def kill_a_busy_worker() -> None:
        """Once a worker is in the middle of a file, SIGKILL it."""
        with dask_cluster.client() as client:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not killed:
                busy = [address for address, keys in client.processing().items() if keys]
                if busy:
                    time.sleep(0.5)  # inside the OCR of the file, not at its start
                    name = dask_cluster.worker_name(busy[0])
                    dask_cluster.kill_worker(name)
                    killed.append(name)
                time.sleep(0.2)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    try:
        summary = ingest(folder, settings, "DaskKill")
    finally:
        killer.join()
        for name in killed:  # later tests get both workers back
            dask_cluster.start_worker(name)
        dask_cluster.wait_for_workers(2)
    print(f"killed worker {killed}; run: {summary}")
    assert killed, "no worker was busy"
    assert summary.status == "completed" and summary.documents_failed == 0, summary
    assert summary.pages_ocr == SCANS, summary  # each file extracted once into the run, none doubled
    assert differences(snapshot(settings, "DaskKill"), reference) == []
