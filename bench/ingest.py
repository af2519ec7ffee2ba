"""Ingestion benchmark: OCR throughput against raw tesseract, and the cost of incremental reruns.

Run with the services up (`ragroute services up`), under the machine's heavy-work lock when others share it:
  .venv/bin/python -m bench.ingest [--pages 24] [--dask-workers 1|2] [--profile DIR] [--out FILE]
With --dask-workers N a Dask scheduler and N worker processes (one thread each) are started on loopback and
files are extracted, OCR'd, chunked, validated and embedded there; raw tesseract then runs N at a time.

Measured in one run, on generated scanned pages (PNG, 1700x2200):
  1. raw tesseract: `tesseract PAGE stdout` on every page (the machine's tesseract program), as many at once
     as ragroute has workers (OMP_THREAD_LIMIT=1, as ragroute's workers) -> pages/s and its CPU seconds;
     and raw engine: the same pages through ragroute's OCR engine alone (tesserocr, one engine per process
     started once, text and word confidences, nothing else), as many processes at once -> the same;
  2. ragroute full ingest of the same pages (OCR + chunk + validate + embed + Weaviate + manifest) -> pages/s;
     target: >= 0.85x raw tesseract; the ratio to the raw engine is printed too (what ragroute adds to OCR);
  3. a rerun with nothing changed, as a share of the full run (target <= 2%);
  4. a rerun with one of N pages changed (target <= 1/N + 5%).
Runs 2-4 happen in one process, as in a long-lived worker, after a warm-up ingest of two other pages
that loads the embedding model and the GX suite once (that one-time start-up cost is printed separately).
For each run the CPU seconds of every stage are printed (wherever it ran), those of the ingest process
outside the stages (Weaviate and DuckDB writes, scanning, orchestration), and those of the Weaviate server
when ragroute started it on this machine (it shares the cores with OCR). The machine's load average is
printed before and after: wall-clock ratios are only meaningful on an otherwise idle machine.
--profile DIR writes a cProfile of the ingest process for each run: full.prof, unchanged.prof and
one_changed.prof (read one with `python -m pstats`).
Everything the benchmark made is removed at the end: its Weaviate collections, their manifest rows, its files.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

from schemas.collection import collection_name
from schemas.documents import IngestSummary
from schemas.settings import Settings, apply_library_environment, get_settings
from tasks.clients import services
from tasks.clients.vectorstore import connect, live_collection
from tasks.evaluation.mini import page_image
from tasks.ingestion.run import Ingestion
from tasks.ingestion.workers import close_dask_clients
from tasks.testbed.corpus import body
from tasks.testbed.dask_cluster import DaskCluster
from warehouse import manifest
from warehouse.db import session


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def raw_tesseract(pages: list[Path], workers: int, languages: str) -> tuple[float, float]:
    """Wall and CPU seconds of `tesseract PAGE stdout` over every page, `workers` at a time."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def run(page: Path) -> None:
        subprocess.run(
            ["tesseract", str(page), "stdout", "-l", languages], env=env, check=True, capture_output=True
        )

    cpu_before, started = children_cpu_seconds(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, pages))
    return time.perf_counter() - started, children_cpu_seconds() - cpu_before


_engine = None


def _start_engine(tessdata: str, languages: str) -> None:
    global _engine
    import tesserocr

    _engine = tesserocr.PyTessBaseAPI(path=f"{tessdata}/", lang=languages)


def _engine_page(page: Path) -> None:
    _engine.SetImageFile(str(page))
    _engine.GetUTF8Text(), _engine.AllWordConfidences()
    _engine.Clear()


def raw_engine(pages: list[Path], workers: int, settings: Settings) -> tuple[float, float]:
    """Wall and CPU seconds of ragroute's OCR engine alone over every page: `workers` processes, one engine
    each, started once."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from tasks.ingestion.ocr_tools import tessdata_folder

    cpu_before, started = children_cpu_seconds(), time.perf_counter()
    with ProcessPoolExecutor(workers, get_context("spawn"), initializer=_start_engine,
                             initargs=(str(tessdata_folder(settings)), settings.ocr_languages)) as pool:  # fmt: skip
        list(pool.map(_engine_page, pages))
    return time.perf_counter() - started, children_cpu_seconds() - cpu_before


def weaviate_cpu_seconds(settings: Settings) -> float | None:
    """CPU seconds of the local Weaviate server so far (None when ragroute did not start one here)."""
    pid = services.running_pid(settings, services.weaviate_service_name(0))
    if pid is None:
        return None
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class Run:
    """One ingest run and the CPU seconds it cost: by stage wherever the stage ran, and of this process."""

    def __init__(self, folder: Path, settings: Settings, collection: str, profile: Path | None = None):
        self.ingestion = Ingestion(folder, settings, collection)
        profiler = cProfile.Profile() if profile else None
        before, weaviate_before = time.process_time() + children_cpu_seconds(), weaviate_cpu_seconds(settings)
        with profiler or nullcontext():
            self.summary: IngestSummary = self.ingestion.run()
        self.process_cpu = time.process_time() + children_cpu_seconds() - before
        weaviate_after = weaviate_cpu_seconds(settings)
        self.weaviate_cpu = weaviate_after - weaviate_before if weaviate_before is not None else None
        if profiler:
            profiler.dump_stats(profile)
        self.stages = dict(self.ingestion.cpu_seconds)
        # Every stage runs in this process with one worker; else in the extraction processes or on Dask (the
        # benchmark's warm-up starts the local pool, which then takes even a single changed file).
        here = self.stages if settings.ingest_workers <= 1 and not settings.dask_address else {}
        self.outside_stages = self.process_cpu - sum(here.values())
        stages = "  ".join(f"{stage} {seconds:.2f}" for stage, seconds in self.stages.items())
        weaviate = f"; Weaviate server {self.weaviate_cpu:.2f}" if self.weaviate_cpu is not None else ""
        print(f"  {collection}: {self.summary.seconds:.2f}s wall; CPU s by stage: {stages or '-'}; ingest "
              f"process {self.process_cpu:.2f} (outside the stages: {self.outside_stages:.2f}){weaviate}")  # fmt: skip

    @property
    def seconds(self) -> float:
        return self.summary.seconds

    def cpu(self) -> dict:
        return {"stages": {k: round(v, 2) for k, v in self.stages.items()},
                "ingest_process": round(self.process_cpu, 2),
                "ingest_process_outside_stages": round(self.outside_stages, 2),
                "weaviate_server": self.weaviate_cpu and round(self.weaviate_cpu, 2)}  # fmt: skip


def _warm_up(settings: Settings) -> None:
    """Load the embedding model and the validation suite (returns nothing: GX objects do not pickle)."""
    from tasks.ingestion.embed import embed_texts
    from tasks.ingestion.validate import _chunk_batch_definition

    apply_library_environment()
    embed_texts(["warm up"], settings)
    _chunk_batch_definition()


def _warm_workers(cluster: DaskCluster, settings: Settings) -> None:
    """Load the embedding model and the validation suite in every Dask worker process."""
    with cluster.client() as client:
        client.run(_warm_up, settings)


def remove_collections(settings: Settings, names: list[str]) -> None:
    """Drop the benchmark's Weaviate collections (alias and collection) and their manifest rows."""
    with connect(settings) as client:
        for name in names:
            target = live_collection(client, name)
            if client.alias.get(alias_name=name) is not None:
                client.alias.delete(alias_name=name)
            if target is not None:
                client.collections.delete(target)
    with session(settings.warehouse_target) as con:
        for name in names:
            manifest.forget_collection(con, name)


def load_average() -> str:
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=24)
    parser.add_argument("--dask-workers", type=int, help="Dask worker processes (one thread each)")
    parser.add_argument("--profile", type=Path, help="write cProfiles of the ingest process's runs here")
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
    collections: list[str] = []
    try:
        if cluster:
            _warm_workers(cluster, settings)
        measure(args, settings, work, collections)
    finally:
        if collections:
            remove_collections(settings, collections)
        if cluster:
            close_dask_clients()  # before the scheduler goes: a connected client would retry, and log, until exit
            cluster.close()
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, settings: Settings, work: Path, collections: list[str]) -> None:
    """Raw tesseract, then ragroute's full ingest and the two reruns; prints the results."""
    load_before = load_average()
    folder = work / "scans"
    folder.mkdir()
    pages = []
    for i in range(args.pages):
        path = folder / f"page{i:03d}.png"
        page_image(body(f"topic{i}", sentences=14)).save(path)
        pages.append(path)
    base = f"Bench_{os.getpid()}_{int(time.time())}"
    warmup = work / "warmup"
    warmup.mkdir()
    for i in range(2):
        page_image(body(f"warmup{i}")).save(warmup / f"w{i}.png")

    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    def run(source: Path, collection: str, label: str | None = None) -> Run:
        name = collection_name(collection, settings.embedding_model)
        if name not in collections:
            collections.append(name)  # removed at the end, even when the run fails
        return Run(
            source, settings, collection, args.profile / f"{label}.prof" if args.profile and label else None
        )

    startup = run(warmup, f"{base}_warmup")
    raw_s, raw_cpu = raw_tesseract(pages, settings.ingest_workers, settings.ocr_languages)
    engine_s, engine_cpu = raw_engine(pages, settings.ingest_workers, settings)
    full = run(folder, base, "full")
    assert full.summary.pages_ocr == args.pages and full.summary.quarantined == 0, full.summary
    unchanged = run(folder, base, "unchanged")
    assert unchanged.summary.documents_changed == 0
    page_image(body("changed-topic", sentences=14)).save(pages[0])
    one = run(folder, base, "one_changed")
    assert one.summary.documents_changed == 1

    raw_rate, our_rate = args.pages / raw_s, args.pages / full.seconds
    results = {
        "pages": args.pages,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "warmup_s": startup.seconds,
        "workers": settings.ingest_workers,
        "dask_workers": args.dask_workers,
        "raw_tesseract_s": round(raw_s, 2),
        "raw_tesseract_cpu_s": round(raw_cpu, 2),
        "raw_pages_per_s": round(raw_rate, 3),
        "raw_engine_s": round(engine_s, 2),
        "raw_engine_cpu_s": round(engine_cpu, 2),
        "throughput_vs_raw_engine": round(our_rate / (args.pages / engine_s), 3),
        "ingest_full_s": full.seconds,
        "ingest_pages_per_s": round(our_rate, 3),
        "throughput_vs_raw": round(our_rate / raw_rate, 3),
        "unchanged_rerun_s": unchanged.seconds,
        "unchanged_share_of_full": round(unchanged.seconds / full.seconds, 4),
        "one_changed_rerun_s": one.seconds,
        "one_changed_share_of_full": round(one.seconds / full.seconds, 4),
        "one_changed_target": round(1 / args.pages + 0.05, 4),
        "cpu_s": {"full": full.cpu(), "unchanged": unchanged.cpu(), "one_changed": one.cpu()},
    }
    r = results
    print(f"load average before {r['load_average_before']}, after {r['load_average_after']} "
          "(wall-clock ratios are valid only on an otherwise idle machine)")  # fmt: skip
    print(f"warm-up (2 pages, loads models) {startup.seconds:.2f}s")
    print(f"raw tesseract     {raw_s:7.2f}s  {raw_rate:.3f} pages/s  ({raw_cpu:.1f} CPU s)")
    print(f"raw engine        {engine_s:7.2f}s  {args.pages / engine_s:.3f} pages/s  ({engine_cpu:.1f} CPU s; "
          "ragroute's OCR engine alone)")  # fmt: skip
    print(f"ragroute ingest   {full.seconds:7.2f}s  {our_rate:.3f} pages/s  -> {r['throughput_vs_raw']:.2f}x raw "
          f"(target >= 0.85x), {r['throughput_vs_raw_engine']:.2f}x the raw engine; CPU s: extract {full.stages.get('extract', 0):.1f}, "
          f"ingest process {full.process_cpu:.1f} (outside the stages {full.outside_stages:.1f})")  # fmt: skip
    print(f"unchanged rerun   {unchanged.seconds:7.2f}s  -> {r['unchanged_share_of_full']:.2%} of full "
          "(target <= 2%)")  # fmt: skip
    print(f"1 of {args.pages} changed  {one.seconds:7.2f}s  -> {r['one_changed_share_of_full']:.2%} of full "
          f"(target <= {r['one_changed_target']:.2%})")  # fmt: skip
    print(json.dumps(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
