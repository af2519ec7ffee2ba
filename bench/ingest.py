"""Ingestion benchmark: OCR throughput against raw tesseract, and the cost of incremental reruns.

Run with the services up (`ragroute services up`):
  .venv/bin/python -m bench.ingest [--pages 24] [--dask-workers 1|2]
With --dask-workers N a Dask scheduler and N worker processes (one thread each) are started on loopback and
files are extracted, OCR'd, chunked, validated and embedded there; raw tesseract then runs N at a time.

Measured in one run, on generated scanned pages (PNG, 1700x2200):
  1. raw tesseract: `tesseract PAGE stdout` on every page, as many at once as ragroute has workers
     (OMP_THREAD_LIMIT=1, as ragroute's workers) -> pages/s;
  2. ragroute full ingest of the same pages (OCR + chunk + validate + embed + Weaviate + manifest) -> pages/s;
     target: >= 0.85x raw;
  3. a rerun with nothing changed, as a share of the full run (target <= 2%);
  4. a rerun with one of N pages changed (target <= 1/N + 5%).
Runs 2-4 happen in one process, as in a long-lived worker, after a warm-up ingest of two other pages
that loads the embedding model and the GX suite once (that one-time start-up cost is printed separately).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from schemas.settings import apply_library_environment, get_settings
from tasks.evaluation.mini import page_image
from tasks.ingestion.extract import cpu_seconds
from tasks.ingestion.run import Ingestion
from tasks.testbed.corpus import body
from tasks.testbed.dask_cluster import DaskCluster


def raw_tesseract(pages: list[Path], workers: int, languages: str) -> float:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def run(page: Path) -> None:
        subprocess.run(
            ["tesseract", str(page), "stdout", "-l", languages], env=env, check=True, capture_output=True
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, pages))
    return time.perf_counter() - started


def ingest(folder: Path, settings, collection: str):
    """One ingest run; prints the CPU seconds of each stage (wherever it ran) and of this process."""
    run = Ingestion(folder, settings, collection)
    before = cpu_seconds()
    summary = run.run()
    stages = "  ".join(f"{stage} {seconds:.1f}" for stage, seconds in run.cpu_seconds.items())
    print(f"  {collection}: {summary.seconds:.2f}s wall; CPU s by stage: {stages}; "
          f"ingest process (incl. Weaviate, DuckDB) {cpu_seconds() - before:.1f}")  # fmt: skip
    return summary


def _warm_up(settings) -> None:
    """Load the embedding model and the validation suite (returns nothing: GX objects do not pickle)."""
    from tasks.ingestion.embed import embed_texts
    from tasks.ingestion.validate import _chunk_batch_definition

    apply_library_environment()
    embed_texts(["warm up"], settings)
    _chunk_batch_definition()


def _warm_workers(cluster: DaskCluster, settings) -> None:
    """Load the embedding model and the validation suite in every Dask worker process."""
    with cluster.client() as client:
        client.run(_warm_up, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--dask-workers", type=int, help="Dask worker processes (one thread each)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    apply_library_environment()
    settings = get_settings()
    work = Path(tempfile.mkdtemp(prefix="ragroute-bench-"))
    cluster = None
    if args.dask_workers:
        cluster = DaskCluster(18786 + os.getpid() % 1000, work / "logs", args.dask_workers)
        settings = settings.model_copy(
            update={"dask_address": cluster.address, "ingest_workers": args.dask_workers}
        )
    try:
        if cluster:
            _warm_workers(cluster, settings)
        measure(args, settings, work)
    finally:
        if cluster:
            cluster.close()
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, settings, work: Path) -> None:
    """Raw tesseract, then ragroute's full ingest and the two reruns; prints the results."""
    folder = work / "scans"
    folder.mkdir()
    pages = []
    for i in range(args.pages):
        path = folder / f"page{i:03d}.png"
        page_image(body(f"topic{i}", sentences=14)).save(path)
        pages.append(path)
    collection = f"Bench_{int(time.time())}"
    warmup = work / "warmup"
    warmup.mkdir()
    for i in range(2):
        page_image(body(f"warmup{i}")).save(warmup / f"w{i}.png")
    startup = ingest(warmup, settings, collection=f"{collection}_warmup")

    raw_s = raw_tesseract(pages, settings.ingest_workers, settings.ocr_languages)
    full = ingest(folder, settings, collection=collection)
    assert full.pages_ocr == args.pages and full.quarantined == 0, full
    unchanged = ingest(folder, settings, collection=collection)
    assert unchanged.documents_changed == 0
    page_image(body("changed-topic", sentences=14)).save(pages[0])
    one = ingest(folder, settings, collection=collection)
    assert one.documents_changed == 1

    raw_rate = args.pages / raw_s
    our_rate = args.pages / full.seconds
    results = {
        "pages": args.pages,
        "warmup_s": startup.seconds,
        "workers": settings.ingest_workers,
        "dask_workers": args.dask_workers,
        "raw_tesseract_s": round(raw_s, 2),
        "raw_pages_per_s": round(raw_rate, 3),
        "ingest_full_s": full.seconds,
        "ingest_pages_per_s": round(our_rate, 3),
        "throughput_vs_raw": round(our_rate / raw_rate, 3),
        "unchanged_rerun_s": unchanged.seconds,
        "unchanged_share_of_full": round(unchanged.seconds / full.seconds, 4),
        "one_changed_rerun_s": one.seconds,
        "one_changed_share_of_full": round(one.seconds / full.seconds, 4),
        "one_changed_target": round(1 / args.pages + 0.05, 4),
    }
    print(f"warm-up (2 pages, loads models) {startup.seconds:.2f}s")
    print(f"raw tesseract     {raw_s:7.2f}s  {raw_rate:.3f} pages/s")
    print(
        f"ragroute ingest   {full.seconds:7.2f}s  {our_rate:.3f} pages/s  -> {results['throughput_vs_raw']:.2f}x raw "
        "(target >= 0.85x)"
    )
    print(
        f"unchanged rerun   {unchanged.seconds:7.2f}s  -> {results['unchanged_share_of_full']:.2%} of full "
        "(target <= 2%)"
    )
    print(
        f"1 of {args.pages} changed  {one.seconds:7.2f}s  -> {results['one_changed_share_of_full']:.2%} of full "
        f"(target <= {results['one_changed_target']:.2%})"
    )
    print(json.dumps(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
